//! Times the benchmark suite's conv2d layers through the pure Rust kernel:
//! `cargo run --release --example conv_suite -- [threads] [f32|f64] [layer index]`.

use _core::conv::{conv_forward, ConvShape, PaddingMode, Window};
use std::time::Instant;

/// (batch, channels, height, width, out channels, kernel, stride, padding).
type Layer = (usize, usize, usize, usize, usize, usize, usize, usize);

const SUITE: [Layer; 6] = [
    (64, 1, 28, 28, 32, 3, 1, 1),
    (64, 32, 14, 14, 64, 3, 1, 1),
    (8, 64, 56, 56, 64, 3, 1, 1),
    (8, 256, 14, 14, 256, 3, 1, 1),
    (8, 128, 28, 28, 256, 1, 2, 0),
    (4, 3, 112, 112, 64, 7, 2, 3),
];

fn time<T: _core::conv::Real + From<f32>>(threads: usize, only: Option<usize>) {
    for (index, &(n, c, h, w, o, k, s, p)) in SUITE.iter().enumerate() {
        if only.is_some_and(|i| i != index) {
            continue;
        }
        let axis = |size| Window { input: size, kernel: k, stride: s, dilation: 1, pad_before: p, pad_after: p };
        let shape = ConvShape::new(n, c, o, 1, &[axis(h), axis(w)], PaddingMode::Zeros).unwrap();
        let x: Vec<T> = (0..shape.input_len()).map(|i| T::from((i % 7) as f32 * 0.1)).collect();
        let wt: Vec<T> = (0..shape.weight_len()).map(|i| T::from((i % 5) as f32 * 0.1)).collect();
        let mut out = vec![T::ZERO; shape.output_len()];
        let mut samples = Vec::new();
        for _ in 0..repeats() {
            let t0 = Instant::now();
            conv_forward(&shape, &x, &wt, None, &mut out, threads).unwrap();
            samples.push(t0.elapsed().as_secs_f64());
        }
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = samples[samples.len() / 2];
        let flops = 2.0 * (shape.output_len() * shape.patch_len()) as f64;
        println!("{n},{c},{h},{w} -> {o}, {k},{s},{p}: {:.3} ms  {:.0} GFLOP/s", med * 1e3, flops / med / 1e9);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = args.get(1).map_or(2, |t| t.parse().unwrap());
    let only = args.get(3).map(|i| i.parse().unwrap());
    if args.get(2).map(String::as_str) == Some("f64") {
        time::<f64>(threads, only)
    } else {
        time::<f32>(threads, only)
    }
}

/// Timed calls per layer: `CONV_SUITE_REPEATS`, default 15 (raise it for profiling).
fn repeats() -> usize {
    std::env::var("CONV_SUITE_REPEATS").ok().and_then(|r| r.parse().ok()).unwrap_or(15)
}
