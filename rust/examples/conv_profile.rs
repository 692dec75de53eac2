//! Runs one convolution layer repeatedly through the Rust API, for
//! profilers: `cargo run --release --example conv_profile -- N C H W O K S P [algorithm] [threads] [repeats] [groups]`.

use _core::conv::{conv_forward_with, Algorithm, ConvShape, PaddingMode, Window};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize { args[i].parse().expect("N C H W O K S P must be integers") };
    let (n, c, h, w, o, k, s, p) = (num(0), num(1), num(2), num(3), num(4), num(5), num(6), num(7));
    let algorithm = Algorithm::parse(args.get(8).map_or("auto", String::as_str)).unwrap();
    let threads = args.get(9).map_or(1, |t| t.parse().unwrap());
    let repeats = args.get(10).map_or(50, |r| r.parse().unwrap());
    let groups = args.get(11).map_or(1, |g| g.parse().unwrap());
    let axis = |size| Window { input: size, kernel: k, stride: s, dilation: 1, pad_before: p, pad_after: p };
    let shape = ConvShape::new(n, c, o, groups, &[axis(h), axis(w)], PaddingMode::Zeros).unwrap();
    let x: Vec<f32> = (0..shape.input_len()).map(|i| (i % 7) as f32 * 0.1).collect();
    let wt: Vec<f32> = (0..shape.weight_len()).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut out = vec![0f32; shape.output_len()];
    let start = Instant::now();
    for _ in 0..repeats {
        conv_forward_with(algorithm, &shape, &x, &wt, None, &mut out, threads).unwrap();
    }
    let per_call = start.elapsed().as_secs_f64() / repeats as f64;
    let flops = 2.0 * (shape.output_len() * shape.patch_len()) as f64;
    println!("{:?}: {:.3} ms per call, {:.0} GFLOP/s (direct-method FLOPs)", algorithm, per_call * 1e3, flops / per_call / 1e9);
}
