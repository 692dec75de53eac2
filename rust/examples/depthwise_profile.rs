//! Times one depthwise layer (groups = channels, square input and kernel,
//! zero padding k/2) through the Rust API, for profilers: `cargo run
//! --release --example depthwise_profile -- N C H K S [f|i|w] [threads] [repeats]`
//! (forward, input gradient, weight gradient). Prints the fastest call:
//! the least disturbed by other processes on a shared machine.

use _core::conv::{conv_backward_input, conv_backward_weight, conv_forward_with, Algorithm, ConvShape, PaddingMode, Window};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize { args[i].parse().expect("N C H K S must be integers") };
    let (n, c, h, k, s) = (num(0), num(1), num(2), num(3), num(4));
    let mode = args.get(5).map_or("f", String::as_str);
    let threads = args.get(6).map_or(1, |t| t.parse().unwrap());
    let repeats = args.get(7).map_or(200, |r| r.parse().unwrap());
    let axis = Window { input: h, kernel: k, stride: s, dilation: 1, pad_before: k / 2, pad_after: k / 2 };
    let shape = ConvShape::new(n, c, c, c, &[axis, axis], PaddingMode::Zeros).unwrap();
    let x: Vec<f32> = (0..shape.input_len()).map(|i| (i % 7) as f32 * 0.1).collect();
    let wt: Vec<f32> = (0..shape.weight_len()).map(|i| (i % 5) as f32 * 0.1).collect();
    let dy: Vec<f32> = (0..shape.output_len()).map(|i| (i % 3) as f32 * 0.1).collect();
    let mut out = vec![0f32; shape.output_len()];
    let mut dx = vec![0f32; shape.input_len()];
    let mut dw = vec![0f32; shape.weight_len()];
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let start = Instant::now();
        match mode {
            "f" => conv_forward_with(Algorithm::Auto, &shape, &x, &wt, None, &mut out, threads).unwrap(),
            "i" => conv_backward_input(&shape, &wt, &dy, &mut dx, threads).unwrap(),
            "w" => conv_backward_weight(&shape, &x, &dy, &mut dw, threads).unwrap(),
            _ => panic!("mode: f, i or w"),
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{n},{c},{h}x{h} k{k} s{s} {mode}: {:.1} us", best * 1e6);
}
