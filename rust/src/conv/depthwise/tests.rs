//! The depthwise kernels against the convolution's definition written out
//! in f64 (forward and both gradients), against the im2col path in f32, and
//! for bit-identical results across thread counts and batch slices.

use super::*;
use crate::conv::backward::{im2col_backward_input, im2col_backward_weight};
use crate::conv::forward::conv_forward_im2col as im2col_forward;
use crate::conv::Window;

const MODES: [PaddingMode; 4] = [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];

/// xorshift64*: reproducible shapes and values without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn values(&mut self, len: usize) -> Vec<f64> {
        (0..len).map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0).collect()
    }
}

/// A random valid grouped shape with 1 to 3 spatial axes, 1-3 input and
/// 1-2 output channels per group, and a non-empty output.
/// How many random cases a test draws: fewer under the sanitizers
/// (`.ci/sanitize` sets CONVINIT_SANITIZER), which run 20-100x slower and
/// look for memory errors, not for more shapes.
fn cases(full: usize) -> usize {
    if std::env::var_os("CONVINIT_SANITIZER").is_some() {
        full.div_ceil(10)
    } else {
        full
    }
}

fn random_shape(rng: &mut Rng) -> ConvShape {
    loop {
        let mode = MODES[rng.below(4)];
        let dims = 1 + rng.below(3);
        let axes: Vec<Window> = (0..dims)
            .map(|_| {
                let input = 1 + rng.below(if dims == 3 { 6 } else { 13 });
                Window {
                    input,
                    kernel: 1 + rng.below(5),
                    stride: 1 + rng.below(3),
                    dilation: 1 + rng.below(3),
                    pad_before: rng.below(4),
                    pad_after: rng.below(4),
                }
            })
            .collect();
        let groups = 2 + rng.below(4);
        let (cg, og) = (1 + rng.below(3), 1 + rng.below(2));
        let batch = 1 + rng.below(3);
        if let Ok(shape) = ConvShape::new(batch, groups * cg, groups * og, groups, &axes, mode) {
            if shape.output_len() > 0 {
                return shape;
            }
        }
    }
}

/// Forward output and both gradients (for output gradient `dy`) by the
/// definition: every (image, output channel, pixel, input channel, tap)
/// term, reading padded coordinates through the padding mode.
fn definition(shape: &ConvShape, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (cg, og) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups());
    let (out, kernel, input) = (shape.output_dims(), shape.axes().map(|a| a.kernel), shape.axes().map(|a| a.input));
    let (taps, pixels, in_pixels) = (shape.kernel_taps(), shape.output_pixels(), shape.input_pixels());
    let mut y = vec![0.0; shape.output_len()];
    let mut dx = vec![0.0; shape.input_len()];
    let mut dw = vec![0.0; shape.weight_len()];
    for n in 0..shape.batch() {
        for oc in 0..shape.out_channels() {
            for p in 0..pixels {
                let o = [p / (out[1] * out[2]), p / out[2] % out[1], p % out[2]];
                let yi = (n * shape.out_channels() + oc) * pixels + p;
                for c in 0..cg {
                    let ic = oc / og * cg + c;
                    for t in 0..taps {
                        let k = [t / (kernel[1] * kernel[2]), t / kernel[2] % kernel[1], t % kernel[2]];
                        let src: Vec<Option<usize>> = (0..3)
                            .map(|a| {
                                let ax = &shape.axes()[a];
                                let pos = (o[a] * ax.stride + k[a] * ax.dilation) as isize - ax.pad_before as isize;
                                shape.padding_mode().source(pos, input[a])
                            })
                            .collect();
                        let (Some(i0), Some(i1), Some(i2)) = (src[0], src[1], src[2]) else { continue };
                        let xi = (n * shape.in_channels() + ic) * in_pixels + (i0 * input[1] + i1) * input[2] + i2;
                        let wi = (oc * cg + c) * taps + t;
                        y[yi] += w[wi] * x[xi];
                        dx[xi] += w[wi] * dy[yi];
                        dw[wi] += dy[yi] * x[xi];
                    }
                }
            }
        }
    }
    (y, dx, dw)
}

fn assert_close(actual: &[f64], expected: &[f64], what: &str, shape: &ConvShape) {
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!((a - e).abs() <= 1e-12 * (1.0 + e.abs()) * 64.0, "{what}[{i}]: {a} vs {e} for {shape:?}");
    }
}

fn bits<T: Real>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

/// The three depthwise results for `threads`.
fn run<T: Real>(shape: &ConvShape, x: &[T], w: &[T], dy: &[T], threads: usize) -> (Vec<T>, Vec<T>, Vec<T>) {
    let mut y = vec![T::from_f64(f64::NAN); shape.output_len()];
    let mut dx = vec![T::from_f64(f64::NAN); shape.input_len()];
    let mut dw = vec![T::from_f64(f64::NAN); shape.weight_len()];
    forward(shape, x, w, None, &mut y, threads).unwrap();
    backward_input(shape, w, dy, &mut dx, threads).unwrap();
    backward_weight(shape, x, dy, &mut dw, threads).unwrap();
    (y, dx, dw)
}

#[test]
fn random_shapes_match_the_definition_for_every_thread_count() {
    let mut rng = Rng(0x5EED_0001);
    for _ in 0..cases(300) {
        let shape = random_shape(&mut rng);
        assert!(applies(&shape), "{shape:?}");
        let (x, w, dy) = (rng.values(shape.input_len()), rng.values(shape.weight_len()), rng.values(shape.output_len()));
        let (y, dx, dw) = run(&shape, &x, &w, &dy, 1);
        let (ey, edx, edw) = definition(&shape, &x, &w, &dy);
        assert_close(&y, &ey, "output", &shape);
        assert_close(&dx, &edx, "grad_input", &shape);
        assert_close(&dw, &edw, "grad_weight", &shape);
        for threads in [2, 3] {
            let (y2, dx2, dw2) = run(&shape, &x, &w, &dy, threads);
            assert!(bits(&y) == bits(&y2) && bits(&dx) == bits(&dx2) && bits(&dw) == bits(&dw2), "{shape:?}");
        }
    }
}

/// The same shape with another batch size.
fn with_batch(shape: &ConvShape, batch: usize) -> ConvShape {
    shape.with_batch(batch).unwrap()
}

#[test]
fn each_image_gets_the_same_bits_in_any_batch() {
    let mut rng = Rng(0x5EED_0002);
    for _ in 0..cases(60) {
        let shape = with_batch(&random_shape(&mut rng), 3 + rng.below(3));
        let (x, w, dy) = (rng.values(shape.input_len()), rng.values(shape.weight_len()), rng.values(shape.output_len()));
        let (x, w, dy): (Vec<f32>, Vec<f32>, Vec<f32>) =
            (x.iter().map(|&v| v as f32).collect(), w.iter().map(|&v| v as f32).collect(), dy.iter().map(|&v| v as f32).collect());
        let (y, dx, _) = run(&shape, &x, &w, &dy, 2);
        let one = with_batch(&shape, 1);
        let (image_in, image_out) = (shape.input_len() / shape.batch(), shape.output_len() / shape.batch());
        for i in 0..shape.batch() {
            let xi = &x[i * image_in..][..image_in];
            let dyi = &dy[i * image_out..][..image_out];
            let (yi, dxi, _) = run(&one, xi, &w, dyi, 1);
            assert_eq!(bits(&yi), bits(&y[i * image_out..][..image_out]), "image {i} of {shape:?}");
            assert_eq!(bits(&dxi), bits(&dx[i * image_in..][..image_in]), "image {i} of {shape:?}");
        }
    }
}

#[test]
fn float32_agrees_with_the_im2col_path() {
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..cases(100) {
        let shape = random_shape(&mut rng);
        let to32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        let (x, w, dy) = (to32(rng.values(shape.input_len())), to32(rng.values(shape.weight_len())), to32(rng.values(shape.output_len())));
        let bias = to32(rng.values(shape.out_channels()));
        let (mut y, mut y_ref) = (vec![0f32; shape.output_len()], vec![0f32; shape.output_len()]);
        forward(&shape, &x, &w, Some(&bias), &mut y, 2).unwrap();
        im2col_forward(&shape, &x, &w, Some(&bias), &mut y_ref, 2).unwrap();
        let (mut dx, mut dx_ref) = (vec![0f32; shape.input_len()], vec![0f32; shape.input_len()]);
        backward_input(&shape, &w, &dy, &mut dx, 2).unwrap();
        im2col_backward_input(&shape, &w, &dy, &mut dx_ref, 2).unwrap();
        let (mut dw, mut dw_ref) = (vec![0f32; shape.weight_len()], vec![0f32; shape.weight_len()]);
        backward_weight(&shape, &x, &dy, &mut dw, 2).unwrap();
        im2col_backward_weight(&shape, &x, &dy, &mut dw_ref, 2).unwrap();
        for (got, want, what) in [(&y, &y_ref, "output"), (&dx, &dx_ref, "grad_input"), (&dw, &dw_ref, "grad_weight")] {
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (a, b) in got.iter().zip(want.iter()) {
                assert!((a - b).abs() <= 1e-5 * scale, "{what}: {a} vs {b} for {shape:?}");
            }
        }
    }
}

fn window(input: usize, kernel: usize, stride: usize, pad: usize) -> Window {
    Window { input, kernel, stride, dilation: 1, pad_before: pad, pad_after: pad }
}

#[test]
fn an_infinite_input_outside_a_window_leaves_its_weight_gradient_finite() {
    // 1x3 kernel, stride 1, no padding, width 5 -> 3 outputs per row. The
    // last column is read by tap 2 only; the flat layout multiplies it by a
    // zero for taps 0 and 1, which must not turn their gradients into NaN.
    let shape = ConvShape::new(1, 2, 2, 2, &[window(2, 1, 1, 0), window(5, 3, 1, 0)], PaddingMode::Zeros).unwrap();
    let mut x = vec![1.0f64; shape.input_len()];
    x[4] = f64::INFINITY;
    let dy = vec![1.0; shape.output_len()];
    let mut dw = vec![0.0; shape.weight_len()];
    backward_weight(&shape, &x, &dy, &mut dw, 1).unwrap();
    let (_, _, expected) = definition(&shape, &x, &[1.0; 6], &dy);
    assert_eq!(dw[..2], [6.0, 6.0]);
    assert_eq!(dw[2], f64::INFINITY);
    assert_eq!(dw, expected);
}

#[test]
fn mobilenet_like_shapes_match_the_im2col_path() {
    // Wider planes than the random shapes: every vector chunk size and the
    // deinterleaved stride-2 phases at their real sizes.
    let cases = [
        ConvShape::new(2, 4, 4, 4, &[window(28, 3, 1, 1), window(28, 3, 1, 1)], PaddingMode::Zeros),
        ConvShape::new(1, 3, 3, 3, &[window(57, 3, 2, 1), window(57, 3, 2, 1)], PaddingMode::Reflect),
        ConvShape::new(1, 2, 4, 2, &[window(23, 7, 1, 3), window(150, 7, 1, 3)], PaddingMode::Circular),
        ConvShape::new(2, 2, 2, 2, &[window(14, 5, 2, 2), window(14, 5, 2, 2)], PaddingMode::Replicate),
    ];
    let mut rng = Rng(0x5EED_0004);
    for shape in cases {
        let shape = shape.unwrap();
        let (x, w, dy) = (rng.values(shape.input_len()), rng.values(shape.weight_len()), rng.values(shape.output_len()));
        let (y, dx, dw) = run(&shape, &x, &w, &dy, 2);
        let (ey, edx, edw) = definition(&shape, &x, &w, &dy);
        assert_close(&y, &ey, "output", &shape);
        assert_close(&dx, &edx, "grad_input", &shape);
        assert_close(&dw, &edw, "grad_weight", &shape);
    }
}

#[test]
fn dense_and_wide_groups_are_left_to_gemm() {
    let axes = [window(8, 3, 1, 1)];
    assert!(!applies(&ConvShape::new(1, 8, 8, 1, &axes, PaddingMode::Zeros).unwrap()));
    assert!(!applies(&ConvShape::new(1, 32, 32, 2, &axes, PaddingMode::Zeros).unwrap()));
    assert!(applies(&ConvShape::new(1, 16, 32, 2, &axes, PaddingMode::Zeros).unwrap()));
    assert!(applies(&ConvShape::new(1, 32, 64, 32, &axes, PaddingMode::Zeros).unwrap()));
}

#[test]
fn wrong_buffer_lengths_are_errors() {
    let shape = ConvShape::new(1, 2, 2, 2, &[window(4, 2, 1, 0)], PaddingMode::Zeros).unwrap();
    let mut out = vec![0.0f32; 6];
    assert!(forward(&shape, &[0.0; 7], &[0.0; 4], None, &mut out, 1).is_err());
    assert!(backward_input(&shape, &[0.0; 4], &[0.0; 5], &mut [0.0; 8], 1).is_err());
    assert!(backward_weight(&shape, &[0.0; 8], &[0.0; 6], &mut [0.0; 3], 1).is_err());
}

#[test]
#[ignore]
fn timing() {
    for (c, size, k, s) in [(960usize, 7usize, 3usize, 1usize), (32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 3, 1)] {
        let shape = ConvShape::new(1, c, c, c, &[window(size, k, s, k / 2), window(size, k, s, k / 2)], PaddingMode::Zeros).unwrap();
        let x = vec![1.0f32; shape.input_len()];
        let w = vec![1.0f32; shape.weight_len()];
        let mut y = vec![0.0f32; shape.output_len()];
        let mut dx = vec![0.0f32; shape.input_len()];
        let mut dw = vec![0.0f32; shape.weight_len()];
        for threads in [1, 2] {
            let time = |f: &mut dyn FnMut()| {
                f();
                let t = std::time::Instant::now();
                for _ in 0..20 {
                    f();
                }
                t.elapsed().as_secs_f64() / 20.0 * 1e6
            };
            let f = time(&mut || forward(&shape, &x, &w, None, &mut y, threads).unwrap());
            let bi = time(&mut || backward_input(&shape, &w, &y, &mut dx, threads).unwrap());
            let bw = time(&mut || backward_weight(&shape, &x, &y, &mut dw, threads).unwrap());
            println!("{c}@{size} k{k} s{s} threads {threads}: forward {f:.0} us, grad_input {bi:.0} us, grad_weight {bw:.0} us");
        }
    }
}

#[test]
fn unfilled_runs_are_the_complement_of_the_positions() {
    assert_eq!(unfilled_runs(&[5, 1, 2], 8), vec![0..1, 3..5, 6..8]);
    assert_eq!(unfilled_runs(&[0, 1, 2], 3), Vec::<std::ops::Range<usize>>::new());
    assert_eq!(unfilled_runs(&[], 2), vec![0..2]);
}

#[test]
fn interleaved_channels_give_the_bits_of_one_plane_at_a_time() {
    interleaved_matches_one_plane_at_a_time::<f64>();
    // float32 takes the vector transposes (`lanes`) where the CPU has them.
    interleaved_matches_one_plane_at_a_time::<f32>();
}

fn interleaved_matches_one_plane_at_a_time<T: Real>() {
    let mut rng = Rng(0x5EED_0005);
    let mut checked = 0;
    while checked < 40 {
        let shape = random_shape(&mut rng);
        let channels = shape.groups() * 17 / 2 * 2;
        let Ok(shape) = ConvShape::new(shape.batch(), channels, channels, channels, &shape.axes()[3 - 2..], shape.padding_mode()) else { continue };
        let plan = Plan::new::<T>(&shape);
        if !plan.interleaved {
            continue;
        }
        checked += 1;
        let mut values = |len| rng.values(len).into_iter().map(T::from_f64).collect::<Vec<T>>();
        let (x, w, b) = (values(shape.input_len()), values(shape.weight_len()), values(shape.out_channels()));
        let mut one_by_one = Plan::new::<T>(&shape);
        one_by_one.interleaved = false;
        let (mut y, mut y_planes) = (vec![T::ZERO; shape.output_len()], vec![T::ZERO; shape.output_len()]);
        forward_planned(&plan, &shape, &x, &w, Some(&b), uninit_view(&mut y), 2).unwrap();
        forward_planned(&one_by_one, &shape, &x, &w, Some(&b), uninit_view(&mut y_planes), 2).unwrap();
        assert_eq!(bits(&y), bits(&y_planes), "{shape:?}");
        // The input gradient (interleaved for float32 with zero padding).
        let dy = values(shape.output_len());
        let (mut dx, mut dx_planes) = (vec![T::ZERO; shape.input_len()], vec![T::ZERO; shape.input_len()]);
        backward_input_planned(&plan, &shape, &w, &dy, &mut dx, 2);
        backward_input_planned(&one_by_one, &shape, &w, &dy, &mut dx_planes, 2);
        assert_eq!(bits(&dx), bits(&dx_planes), "input gradient {shape:?}");
    }
}

#[test]
fn rows_kernel_gives_the_bits_of_one_plane_at_a_time() {
    // Wide kernels on the planes the rows kernel takes (small ones, and a
    // large one with channels enough), other padding modes, 1-D and 3-D;
    // channel 5 has an infinite weight and channel 17 a NaN, so their
    // blocks must not skip the taps that read zero padding alone.
    let shape = |n: usize, channels: usize, sizes: &[usize], kernel: usize, mode: PaddingMode| {
        let axes: Vec<Window> = sizes.iter().map(|&input| Window { input, kernel, stride: 1, dilation: 1, pad_before: kernel / 2, pad_after: kernel / 2 }).collect();
        ConvShape::new(n, channels, channels, channels, &axes, mode).unwrap()
    };
    let shapes = [
        shape(2, 20, &[7, 7], 7, PaddingMode::Zeros),
        shape(1, 33, &[14, 14], 5, PaddingMode::Zeros),
        shape(1, 70, &[36, 36], 5, PaddingMode::Zeros),
        shape(2, 18, &[9, 11], 3, PaddingMode::Reflect),
        shape(1, 24, &[40], 7, PaddingMode::Zeros),
        shape(1, 19, &[4, 5, 6], 3, PaddingMode::Zeros),
        shape(1, 18, &[8, 8], 4, PaddingMode::Circular),
    ];
    let strided = |shape: ConvShape, stride: usize| {
        let axes = shape.axes().map(|a| Window { stride, ..a });
        ConvShape::new(shape.batch(), shape.in_channels(), shape.out_channels(), shape.groups(), &axes[3 - 2..], shape.padding_mode()).unwrap()
    };
    let shapes = shapes.into_iter().chain([strided(shape(1, 20, &[14, 15], 7, PaddingMode::Zeros), 2), strided(shape(2, 18, &[9, 9], 3, PaddingMode::Replicate), 2)]);
    let mut rng = Rng(0x5EED_000B);
    for shape in shapes {
        let plan = Plan::new::<f32>(&shape);
        assert_eq!(plan.tap_rows.is_some(), wide_registers(), "{shape:?}");
        let f32s = |v: Vec<f64>| -> Vec<f32> { v.into_iter().map(|v| v as f32).collect() };
        let (x, mut w, b) = (f32s(rng.values(shape.input_len())), f32s(rng.values(shape.weight_len())), f32s(rng.values(shape.out_channels())));
        let taps = shape.kernel_taps();
        (w[5 * taps + taps / 3], w[17 * taps]) = (f32::INFINITY, f32::NAN);
        let mut one_by_one = Plan::new::<f32>(&shape);
        (one_by_one.interleaved, one_by_one.tap_rows, one_by_one.narrow_forward) = (false, None, None);
        let (mut y, mut y_planes) = (vec![0f32; shape.output_len()], vec![0f32; shape.output_len()]);
        forward_planned(&plan, &shape, &x, &w, Some(&b), uninit_view(&mut y), 2).unwrap();
        forward_planned(&one_by_one, &shape, &x, &w, Some(&b), uninit_view(&mut y_planes), 2).unwrap();
        assert_eq!(bits(&y), bits(&y_planes), "{shape:?}");
    }
}

/// The rows kernel against its taps one at a time through the generic
/// loop: every row width at stride 1 and 2, rows left out, in any order.
#[test]
fn rows_taps_match_the_generic_loop() {
    let mut rng = Rng(0x5EED_000C);
    let src: Vec<f32> = rng.values(8192).into_iter().map(|v| v as f32).collect();
    let weights = &src[4096..][..64 * LANES];
    for (width, stride) in (1..=interleaved::MAX_ROW_TAPS).flat_map(|w| (1..=w.min(2)).map(move |s| (w, s))) {
        for _ in 0..5 {
            let layout = TapRows { width, stride, gap: 1 + rng.below(60), all: Vec::new(), inside: Vec::new() };
            let rows: Vec<(usize, usize)> = (0..1 + rng.below(7)).map(|_| (rng.below(100), rng.below(64 / width) * width)).collect();
            let positions = 8 * (1 + rng.below(6));
            let taps: Vec<(usize, usize)> = rows.iter().flat_map(|&(offset, tap)| (0..width).map(move |k| (offset + (k % stride) * layout.gap + k / stride, tap + k))).collect();
            let offsets: Vec<usize> = taps.iter().map(|&(offset, _)| offset).collect();
            let tap_weights: Vec<f32> = taps.iter().flat_map(|&(_, tap)| weights[tap * LANES..][..LANES].iter().copied()).collect();
            let (mut fast, mut baseline) = (vec![f32::NAN; positions * LANES], vec![f32::NAN; positions * LANES]);
            correlate_interleaved_rows(&src, &layout, &rows, weights, &mut fast);
            interleaved_chunks::<f32, 2>(&src, &offsets, &tap_weights, &mut baseline);
            assert_eq!(bits(&fast), bits(&baseline), "width {width}, stride {stride}, rows {rows:?}");
        }
    }
}

#[test]
fn narrow_planes_give_the_bits_of_the_flat_path() {
    if !narrow::available::<f32>(narrow::Planes { src: [7, 7], dst: [7, 7] }) {
        return; // neither AVX-512 nor AVX2 (or the portable build): only the flat path runs
    }
    let mut rng = Rng(0x5EED_0007);
    let (mut checked, mut attempts) = (0, 0);
    // MobileNet's 7x7 and planes of exactly and almost four vectors (the
    // flattened kernel), then random shapes.
    let square = |n: usize, size: usize, kernel: usize| {
        let axis = Window { input: size, kernel, stride: 1, dilation: 1, pad_before: kernel / 2, pad_after: kernel / 2 };
        ConvShape::new(n, 6, 6, 6, &[axis, axis], PaddingMode::Zeros).unwrap()
    };
    // Source rows wider than a vector (read by a masked load per tap), and
    // dilated taps with uneven padding.
    let wide = |size: usize, kernel: usize, dilation: usize, pad: (usize, usize)| {
        let axis = Window { input: size, kernel, stride: 1, dilation, pad_before: pad.0, pad_after: pad.1 };
        ConvShape::new(1, 6, 6, 6, &[axis, axis], PaddingMode::Zeros).unwrap()
    };
    let mut fixed = vec![wide(20, 7, 1, (0, 0)), wide(13, 3, 2, (2, 1)), square(2, 16, 3), square(1, 11, 7)];
    fixed.extend([square(2, 7, 3), square(1, 8, 3), square(1, 7, 5), square(3, 4, 3), square(1, 14, 3), square(2, 6, 5)]);
    // With AVX2 only planes of at most 64 values qualify: fewer random ones.
    while checked < cases(60) + 5 && attempts < 20_000 {
        attempts += 1;
        let shape = if let Some(shape) = fixed.pop() { shape } else { random_shape(&mut rng) };
        let channels = shape.groups() * 5;
        let axes = shape.axes().map(|a| Window { stride: 1, ..a });
        let Ok(shape) = ConvShape::new(shape.batch(), channels, channels, channels, &axes[3 - 2..], PaddingMode::Zeros) else { continue };
        // The narrow kernel itself, also where the interleaved rows take the forward pass.
        let mut plan = Plan::new::<f32>(&shape);
        (plan.narrow_forward, plan.narrow_backward) = plan.narrow_shifts(&shape);
        plan.interleaved = false;
        let Some((_, planes)) = plan.narrow_forward else { continue };
        if planes.dst[1] > 16 || !narrow::available::<f32>(planes) {
            continue;
        }
        checked += 1;
        let f32s = |v: Vec<f64>| -> Vec<f32> { v.into_iter().map(|v| v as f32).collect() };
        let (x, w, b) = (f32s(rng.values(shape.input_len())), f32s(rng.values(shape.weight_len())), f32s(rng.values(channels)));
        let dy = f32s(rng.values(shape.output_len()));
        let mut flat = Plan::new::<f32>(&shape);
        (flat.narrow_forward, flat.narrow_backward, flat.interleaved) = (None, None, false);
        let (mut y, mut y_flat) = (vec![0f32; shape.output_len()], vec![0f32; shape.output_len()]);
        forward_planned(&plan, &shape, &x, &w, Some(&b), uninit_view(&mut y), 2).unwrap();
        forward_planned(&flat, &shape, &x, &w, Some(&b), uninit_view(&mut y_flat), 2).unwrap();
        assert_eq!(bits(&y), bits(&y_flat), "forward {shape:?}");
        let (mut dx, mut dx_flat) = (vec![0f32; shape.input_len()], vec![0f32; shape.input_len()]);
        backward_input_planned(&plan, &shape, &w, &dy, &mut dx, 2);
        backward_input_planned(&flat, &shape, &w, &dy, &mut dx_flat, 2);
        assert_eq!(bits(&dx), bits(&dx_flat), "input gradient {shape:?}");
    }
    assert!(checked >= 4, "only {checked} narrow shapes checked");
}

#[test]
fn every_instruction_set_gives_the_same_bits() {
    let mut rng = Rng(0x5EED_0006);
    let src = rng.values(4096);
    let taps: Vec<(usize, f64)> = (0..9).map(|t| (t * 37, src[t])).collect();
    let (mut fast, mut baseline) = (vec![0.0; 1024], vec![0.0; 1024]);
    correlate(&src, &taps, &mut fast, false);
    correlate_lanes(&src, &taps, &mut baseline, false);
    assert_eq!(bits(&fast), bits(&baseline));
    assert_eq!(dot(&src[..1024], &src[1024..2048]).to_bits(), dot_lanes(&src[..1024], &src[1024..2048]).to_bits());
    let offsets: Vec<usize> = (0..9).map(|t| t * 3).collect();
    let (mut fast, mut baseline) = (vec![0.0; 1024], vec![0.0; 1024]);
    correlate_interleaved(&src, &offsets, &src[..9 * LANES], &mut fast);
    interleaved_lanes(&src, &offsets, &src[..9 * LANES], &mut baseline);
    assert_eq!(bits(&fast), bits(&baseline));
}

/// The AVX-512 taps against the generic loop compiled without target
/// features (one `mul_add` per product, the same single rounding).
#[test]
fn interleaved_avx512_taps_match_the_generic_loop() {
    interleaved_taps_match_the_generic_loop::<f32>();
    interleaved_taps_match_the_generic_loop::<f64>();
}

fn interleaved_taps_match_the_generic_loop<T: Real>() {
    if !wide_registers() {
        return;
    }
    let mut rng = Rng(0x5EED_000A);
    let src: Vec<T> = rng.values(8192).into_iter().map(T::from_f64).collect();
    for (taps, step, positions) in [(9, 3, 8), (9, 30, 64), (25, 5, 24), (1, 0, 8), (49, 7, 40)] {
        let offsets: Vec<usize> = (0..taps).map(|t| t * step + t % 2).collect();
        let weights = &src[4096..][..taps * LANES];
        let (mut fast, mut baseline) = (vec![T::from_f64(f64::NAN); positions * LANES], vec![T::from_f64(f64::NAN); positions * LANES]);
        correlate_interleaved(&src, &offsets, weights, &mut fast);
        interleaved_chunks::<T, 2>(&src, &offsets, weights, &mut baseline);
        assert_eq!(bits(&fast), bits(&baseline), "{taps} taps, {positions} positions");
    }
}

#[test]
fn lane_moves_match_their_element_loops() {
    if !lanes::available::<f32>() {
        return;
    }
    let mut rng = Rng(0x5EED_0007);
    for _ in 0..200 {
        // Planes of 1 to 80 elements (element loops under 8, whole and
        // overlapping chunks above), landing on distinct random positions.
        let len = 1 + rng.below(80);
        let src: Vec<f32> = rng.values(LANES * 176).into_iter().map(|v| v as f32).collect();
        let planes: [usize; LANES] = std::array::from_fn(|_| rng.below(LANES * 176 - len));
        let mut positions: Vec<usize> = (0..2 * len + 8).collect();
        for i in (1..positions.len()).rev() {
            positions.swap(i, rng.below(i + 1));
        }
        positions.truncate(len);
        let positions = lanes::Positions::new(positions);
        let mut dst = vec![f32::NAN; (2 * len + 8) * LANES];
        let mut expected = dst.clone();
        for (i, &j) in positions.iter().enumerate() {
            for c in 0..LANES {
                expected[j * LANES + c] = src[planes[c] + i];
            }
        }
        lanes::interleave(&src, &planes, &positions, &mut dst);
        assert_eq!(bits(&dst), bits(&expected), "interleave, {len} elements");

        let count = 1 + rng.below(LANES);
        let bias: [f32; LANES] = std::array::from_fn(|_| rng.values(1)[0] as f32);
        for bias in [None, Some(&bias)] {
            let mut out = vec![f32::NAN; count * len];
            let mut expected = out.clone();
            for c in 0..count {
                for (i, &j) in positions.iter().enumerate() {
                    let v = src[j * LANES + c];
                    expected[c * len + i] = bias.map_or(v, |b| v + b[c]);
                }
            }
            lanes::deinterleave(&src, &positions, bias, count, crate::conv::uninit::uninit_view(&mut out));
            assert_eq!(bits(&out), bits(&expected), "deinterleave, {len} elements, {count} planes");
        }
    }
}
