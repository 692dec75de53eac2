//! Implicit GEMM: convolution as the register-tiled product of
//! `microkernel`, with no im2col matrix of the whole input ever formed.
//!
//! Row `k = c * taps + tap` of the product's right-hand side is read from
//! one of three sources, chosen by the shape:
//! - `direct`: layers with a few input channels per group (network stems)
//!   broadcast each tap's input values from a zero-padded copy of the
//!   input rows, the vectors running across output channels;
//! - `slab`: stride-1 layers with wide output rows read each tap's row
//!   straight from a padded copy of a band of input rows, at the tap's
//!   shift (or, for unpadded 1x1 kernels, from the input itself);
//! - `panel`: every other shape packs im2col rows for a bounded block of
//!   output columns (which may span several images) and a block of `k`.
//!
//! Both run every output element as one chain of fused multiply-adds over
//! `k` ascending (see `microkernel`), so the source, the blocking, the
//! batch and the thread count never change a bit: results are thread- and
//! batch-invariant, and the sources agree exactly.

mod direct;
mod panel;
mod slab;

use super::geometry::{check_backward_input, check_backward_weight, check_forward, ConvShape, PaddingMode, Window};
use crate::parallel::SharedMut;
use std::mem::MaybeUninit;
use super::matmul::Real;
use super::microkernel::{Matrix, ROWS};
use crate::error::KernelResult;
use crate::parallel::effective_threads;

/// The shifted-window source computes and discards the padding columns of
/// each row and the unused lanes of each band's last vector: this share of
/// extra lanes is always worth it (see `slab::suits`).
const MAX_WASTED_COLUMNS: f64 = 0.1;
/// Tasks per thread below which a group's output channels are split.
const TASKS_PER_THREAD: usize = 2;
/// The largest `ChannelParts::imbalance` left alone: 7 tasks on 2 threads
/// (8/7) are; 5 (6/5) and 3 (4/3) are split further.
const MAX_IMBALANCE: f64 = 1.15;

/// Reduction steps from which a strided layer with one output row goes to
/// im2col (see `prefers`).
const MIN_SIGNAL_REDUCTION: usize = 64;

/// Output pixels per image from which an ungrouped layer's weight gradient
/// takes the slab products (`prefers_backward_weight`). On a 2-core Zen 5,
/// against im2col + GEMM: r3d's 128 x 8 x 28x28 (6 272 pixels) 15.3 ms
/// against 26.6, 128 x 16 x 28x28 29.5 against 59.3, 64 x 16 x 56x56
/// 30-37 against 99-124, a 64-channel 224x224 2-D layer 14 against 35; level at
/// 3 136 (ResNet's 56x56, batch 1 and 16); from 784 down im2col is faster
/// (1.05x at 28x28, 1.4x for r3d's 256 x 4 x 14x14, 8x at 7x7).
const MIN_SLAB_GRADIENT_PIXELS: usize = 4096;
/// Input channels from which that holds: the products' rows are the input
/// channels, so stems and few-channel layers fill the tiles badly (ResNet's
/// 7x7 stem 1.2x slower than im2col, MobileNetV2's 3x3 stem 2-2.8x), and
/// 1x1 kernels (excluded too) have a single tap per product (MobileNetV2's
/// 16 -> 96 on 112x112 2.8-5x slower).
const MIN_SLAB_GRADIENT_CHANNELS: usize = 32;

/// Pixels per image from which a 1x1 layer's input gradient reads the
/// output gradient in place (see `backward_input`); below, packed panels
/// that span images fill the tiles better.
const MIN_IN_PLACE_PIXELS: usize = 48;

/// Every shape: strided, dilated, grouped, padded in any mode, 1-D to 3-D.
pub(crate) fn applies(_shape: &ConvShape) -> bool {
    true
}

/// Whether `Algorithm::Auto` picks this kernel: the direct or the
/// shifted-window source suits the shape and vector tiles run here (the
/// portable chain is exact but slow). A strided 1x1 kernel reads a quarter
/// of its input or less, which im2col gathers more cheaply than a slab
/// copies. A strided layer with one output row (a 1-D signal: wav2vec
/// 2.0's encoder) and a long reduction reads its reduction rows at
/// scattered offsets of a long slab, and the tiles wait on those loads:
/// im2col's packed panels ran wav2vec's 512-channel stride-2 layers
/// 1.2-1.6x faster on Zen 3 (its 1-channel first layer, 10 steps, stays).
pub(crate) fn prefers(shape: &ConvShape) -> bool {
    let strided = shape.axes().iter().any(|a| a.stride > 1);
    let strided_pointwise = strided && shape.kernel_taps() == 1;
    let one_row = shape.output_dims()[..2].iter().all(|&rows| rows == 1);
    let strided_signal = strided && one_row && shape.patch_len() >= MIN_SIGNAL_REDUCTION;
    (direct::suits(shape) || slab::suits(shape) && !strided_pointwise && !strided_signal) && super::microkernel::has_vector_tiles()
}

/// Whether the direct source's F(2, 3) along the depth computes `shape`
/// (see `direct`): zero-padded, at most 4 input channels per group, a
/// kernel three taps deep with depth stride 1 and no depth dilation.
pub(crate) fn depth_pairs_apply(shape: &ConvShape) -> bool {
    direct::suits_depth_pairs(shape)
}

/// Whether `Algorithm::Auto` takes F(2, 3) along the depth for `shape`:
/// it saves work there (see `direct`) and vector tiles run here.
pub(crate) fn prefers_depth_pairs(shape: &ConvShape) -> bool {
    direct::prefers_depth_pairs(shape) && super::microkernel::has_vector_tiles()
}

/// `forward` by the direct source's F(2, 3) along the depth, on checked
/// buffers of a shape `depth_pairs_apply` accepts.
///
/// # Safety
/// `out` must point at `shape.output_len()` elements valid for writes that
/// nothing else accesses during the call.
pub(crate) unsafe fn forward_depth_pairs<T: Real>(shape: &ConvShape, input: &[T], weight: &[T], bias: Option<&[T]>, out: SharedMut<T>, threads: usize) {
    let weights = group_matrices(shape, weight);
    // SAFETY: the caller's contract, passed on.
    unsafe { direct::forward_depth_pairs(shape, input, &weights, bias, out, threads) };
}

/// Each group's weights as an `O/groups x patch_len` matrix.
fn group_matrices<'a, T: Real>(shape: &ConvShape, weight: &'a [T]) -> Vec<Matrix<'a, T>> {
    let (og, k) = (shape.out_channels() / shape.groups(), shape.patch_len());
    (0..shape.groups()).map(|g| Matrix::borrowed(&weight[g * og * k..][..og * k], og, k)).collect()
}

/// Row bands per image that give every thread `TASKS_PER_THREAD` tasks
/// across the batch, groups and `slice_tasks` tasks along the output depth
/// (1 on one thread). Bands change no bits (each output is one chain), so
/// this may follow `threads`.
fn bands_wanted(shape: &ConvShape, slice_tasks: usize, threads: usize) -> usize {
    let workers = effective_threads(threads);
    let images = shape.batch() * shape.groups() * slice_tasks;
    if workers > 1 { (TASKS_PER_THREAD * workers).div_ceil(images.max(1)) } else { 1 }
}

/// `output = conv(input, weight) + bias`; shapes as `conv_forward`.
pub(crate) fn forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    if !check_forward(shape, input, weight, bias, output)? {
        return Ok(());
    }
    // SAFETY: the whole `output` (output_len elements, checked), borrowed
    // mutably for the call.
    unsafe { forward_to(shape, input, weight, bias, SharedMut(output.as_mut_ptr()), threads) };
    Ok(())
}

/// `forward` into memory that need not be initialized: every element is
/// written once and none is read, so the caller skips zeroing it.
pub(crate) fn forward_uninit<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    if !check_forward(shape, input, weight, bias, output)? {
        return Ok(());
    }
    // SAFETY: as in `forward`; writing a `T` into a `MaybeUninit<T>` is
    // always allowed, and nothing reads an output element before writing it.
    unsafe { forward_to(shape, input, weight, bias, SharedMut(output.as_mut_ptr().cast::<T>()), threads) };
    Ok(())
}

/// The forward product on checked buffers.
///
/// # Safety
/// `out` must point at `shape.output_len()` elements valid for writes that
/// nothing else accesses during the call.
unsafe fn forward_to<T: Real>(shape: &ConvShape, input: &[T], weight: &[T], bias: Option<&[T]>, out: SharedMut<T>, threads: usize) {
    let weights = group_matrices(shape, weight);
    // SAFETY: the caller's contract.
    unsafe { run(shape, input, &weights, bias, out, threads) };
}

/// The forward product with each group's weight matrix, by the source that suits.
///
/// # Safety
/// `out` must point at `shape.output_len()` elements valid for writes that
/// nothing else accesses during the call.
unsafe fn run<T: Real>(shape: &ConvShape, input: &[T], weights: &[Matrix<'_, T>], bias: Option<&[T]>, out: SharedMut<T>, threads: usize) {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        if direct::suits(shape) {
            direct::forward(shape, input, weights, bias, out, threads);
        } else if slab::suits(shape) {
            slab::forward(shape, input, weights, bias, out, threads);
        } else {
            panel::forward(shape, input, weights, bias, out, threads);
        }
    }
}

/// The gradient of a stride-1, zero-padded convolution with respect to its
/// input is itself such a convolution: of the output gradient, padded by
/// `(k - 1) * dilation - pad` on each side, with every kernel flipped and
/// the roles of input and output channels swapped (within each group). The
/// shape of that convolution, when it exists.
pub(crate) fn transposed(shape: &ConvShape) -> Option<ConvShape> {
    if shape.padding_mode() != PaddingMode::Zeros {
        return None;
    }
    let mut windows = [Window::UNIT; 3];
    for (d, axis) in shape.axes().iter().enumerate() {
        let span = (axis.kernel - 1) * axis.dilation;
        if axis.stride != 1 || axis.pad_before > span || axis.pad_after > span {
            return None;
        }
        windows[d] = Window { input: shape.output_dims()[d], pad_before: span - axis.pad_before, pad_after: span - axis.pad_after, ..*axis };
    }
    let dual = ConvShape::new(shape.batch(), shape.out_channels(), shape.in_channels(), shape.groups(), &windows, PaddingMode::Zeros);
    dual.ok()
}

/// `grad_input` of `conv_forward` for a shape whose `transposed` is `dual`:
/// the forward kernel on the output gradient with flipped, swapped weights.
pub(crate) fn backward_input<T: Real>(
    shape: &ConvShape,
    dual: &ConvShape,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    if !check_backward_input(shape, weight, grad_output, grad_input)? {
        grad_input.fill(MaybeUninit::new(T::ZERO));
        return Ok(());
    }
    let (cg, og, taps) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups(), shape.kernel_taps());
    // The dual's weights are the kernels flipped and W^T within each
    // group, read in place: a 1x1 kernel's as W^T, others through the
    // steps of `Matrix::gathered` (row c, step o * taps + t: weight
    // (o, c) at tap taps - 1 - t).
    let steps: Vec<usize> = if taps == 1 { Vec::new() } else { (0..og * taps).map(|k| k / taps * cg * taps + taps - 1 - k % taps).collect() };
    let weights: Vec<_> = weight
        .chunks_exact(cg * og * taps)
        .map(|group| if taps == 1 { Matrix::transpose_of(group, cg, og) } else { Matrix::gathered(group, cg, og * taps, taps, &steps) })
        .collect();
    let out = SharedMut(grad_input.as_mut_ptr().cast::<T>());
    // SAFETY: `grad_input` (checked: dual.output_len() elements) is
    // borrowed mutably for the call; both sources write every element and read none.
    unsafe {
        if taps == 1 && dual.output_pixels() >= MIN_IN_PLACE_PIXELS {
            // W^T read in place lets each image's last columns go along the
            // rows, so even 7x7 images beat packed panels read in place
            // (8 x 960 -> 160 at 7x7, 2 threads: 1.3 against 1.8 ms).
            slab::forward(dual, grad_output, &weights, None, out, threads);
        } else {
            run(dual, grad_output, &weights, None, out, threads);
        }
    }
    Ok(())
}

/// Whether `backward_weight` computes `shape`'s weight gradient well:
/// layers whose rows fit a slab whole, with the vector tiles, that are
/// grouped or have at least `MIN_SLAB_GRADIENT_PIXELS` output pixels per
/// image, `MIN_SLAB_GRADIENT_CHANNELS` input channels and more than one
/// tap. There im2col + GEMM spends more time packing short rows than
/// multiplying (ResNeXt's 32 groups: 2.5-4x slower than this), or packs
/// the columns of a long reduction for few output channels (r3d's
/// `layer1.0.conv1.0`, 64 channels on 16 x 56 x 56: see the constant).
pub(crate) fn prefers_backward_weight(shape: &ConvShape) -> bool {
    let cg = shape.in_channels() / shape.groups();
    let large = shape.output_pixels() >= MIN_SLAB_GRADIENT_PIXELS && cg >= MIN_SLAB_GRADIENT_CHANNELS && shape.kernel_taps() > 1;
    (shape.groups() > 1 || large) && slab::fits_whole_rows(shape) && super::microkernel::has_vector_tiles()
}

/// `grad_weight` of `conv_forward` by slab products (see `slab::backward_weight`),
/// for finite inputs: a non-finite input element would meet a zero of the
/// discarded columns, so those inputs go to im2col + GEMM.
pub(crate) fn backward_weight<T: Real>(shape: &ConvShape, input: &[T], grad_output: &[T], grad_weight: &mut [T], threads: usize) -> KernelResult<()> {
    if !check_backward_weight(shape, input, grad_output, grad_weight)? {
        grad_weight.fill(T::ZERO);
        return Ok(());
    }
    if !all_finite(input) {
        return super::backward::im2col_backward_weight(shape, input, grad_output, grad_weight, threads);
    }
    slab::backward_weight(shape, input, grad_output, grad_weight, threads);
    Ok(())
}

/// Whether every value is finite: `v * 0` is 0 for those and NaN for the
/// others, summed in 16 independent lanes (so the loop vectorizes).
fn all_finite<T: Real>(values: &[T]) -> bool {
    let mut lanes = [T::ZERO; 16];
    let chunks = values.chunks_exact(16);
    for &v in chunks.remainder() {
        lanes[0] += v * T::ZERO;
    }
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v * T::ZERO;
        }
    }
    lanes.iter().all(|&lane| lane == T::ZERO)
}

/// Output channels of a group cut into `parts` ranges of whole tiles, so
/// that `tasks * parts` gives every thread a couple of tasks and the tasks
/// share out evenly. Splits change no bits (see `microkernel`), so they may
/// follow the thread count.
#[derive(Clone, Copy, Debug)]
struct ChannelParts {
    per_part: usize,
    parts: usize,
}

impl ChannelParts {
    fn new(group_out: usize, tasks: usize, threads: usize) -> Self {
        Self::for_threads(group_out, tasks, effective_threads(threads))
    }

    /// `new` for `threads` threads that will run.
    fn for_threads(group_out: usize, tasks: usize, threads: usize) -> Self {
        let tiles = group_out.div_ceil(ROWS).max(1);
        let split = |wanted: usize| {
            let per_part = tiles.div_ceil(wanted.clamp(1, tiles)) * ROWS;
            ChannelParts { per_part, parts: group_out.div_ceil(per_part).max(1) }
        };
        if threads == 1 {
            return split(1);
        }
        let fewest = split((TASKS_PER_THREAD * threads).div_ceil(tasks.max(1)));
        // Few equal tasks on several threads leave some threads idle at the
        // end (5 on 2 threads: the last round runs on one, a sixth of the
        // call); more parts even the rounds out.
        (fewest.parts..=tiles)
            .map(split)
            .find(|p| Self::imbalance(tasks * p.parts, threads) <= MAX_IMBALANCE)
            .unwrap_or(fewest)
    }

    /// The busiest thread's tasks against the mean, for `tasks` equal tasks.
    fn imbalance(tasks: usize, threads: usize) -> f64 {
        (tasks.div_ceil(threads) * threads) as f64 / tasks.max(1) as f64
    }

    /// Channels `first..first + count` of part `p` (within a group of `group_out`).
    fn range(&self, p: usize, group_out: usize) -> (usize, usize) {
        let first = p * self.per_part;
        (first, self.per_part.min(group_out - first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::forward::conv_forward_im2col;
    use crate::conv::{PaddingMode, Window};

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 250.0).collect()
    }

    fn w(input: usize, kernel: usize, stride: usize, dilation: usize, pad: (usize, usize)) -> Window {
        Window { input, kernel, stride, dilation, pad_before: pad.0, pad_after: pad.1 }
    }

    #[test]
    fn channel_parts_cover_the_channels_and_share_out_evenly() {
        for threads in 1..=4 {
            for group_out in [1, 7, 8, 24, 64, 512] {
                for tasks in 1..=40 {
                    let p = ChannelParts::for_threads(group_out, tasks, threads);
                    let case = format!("{group_out} channels, {tasks} tasks, {threads} threads: {p:?}");
                    assert!(p.per_part.is_multiple_of(ROWS) && p.per_part * (p.parts - 1) < group_out && group_out <= p.per_part * p.parts, "{case}");
                    let covered: usize = (0..p.parts).map(|part| p.range(part, group_out).1).sum();
                    assert_eq!(covered, group_out, "{case}");
                    if threads == 1 {
                        assert_eq!(p.parts, 1, "{case}");
                    } else if p.parts < group_out.div_ceil(ROWS) {
                        // Channels left to split: the rounds are even enough.
                        assert!(ChannelParts::imbalance(tasks * p.parts, threads) <= MAX_IMBALANCE, "{case}");
                    }
                }
            }
        }
        // wav2vec 2.0's second layer at batch 1: five row segments of 512
        // channels; on two threads each segment's channels go in two parts.
        assert_eq!(ChannelParts::for_threads(512, 5, 2).parts, 2);
        assert_eq!(ChannelParts::for_threads(512, 7, 2).parts, 1);
    }

    /// The direct source in float32 (whose output rows go out through
    /// register transposes) against the slab source, bit for bit, with and
    /// without bias, for 1 and 2 threads: stems, and grouped layers with
    /// 32 or 16 input channels per group (7x7 images, stride 2; 16 output
    /// channels per group take the one-vector tiles on AVX-512).
    #[test]
    fn direct_source_matches_the_slab_in_float32() {
        let cases = [
            (2, 3, 64, 1, vec![w(30, 7, 2, 1, (3, 3)), w(27, 7, 2, 1, (3, 3))]),
            (3, 1, 37, 1, vec![w(13, 3, 1, 1, (1, 1)), w(17, 3, 1, 1, (1, 1))]),
            (1, 2, 24, 1, vec![w(4, 3, 1, 1, (1, 1)), w(9, 3, 2, 1, (1, 1)), w(10, 3, 2, 1, (1, 1))]),
            (3, 64, 72, 2, vec![w(7, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1))]),
            (2, 48, 48, 3, vec![w(14, 3, 2, 1, (1, 1)), w(13, 3, 2, 1, (1, 1))]),
        ];
        for (n, c, o, groups, axes) in cases {
            let shape = ConvShape::new(n, c, o, groups, &axes, PaddingMode::Zeros).unwrap();
            assert!(groups == 1 || direct::suits(&shape), "{shape:?}");
            let x: Vec<f32> = values(shape.input_len(), 1).into_iter().map(|v| v as f32).collect();
            let wt: Vec<f32> = values(shape.weight_len(), 2).into_iter().map(|v| v as f32).collect();
            let b: Vec<f32> = values(o, 3).into_iter().map(|v| v as f32).collect();
            let matrices = group_matrices(&shape, &wt);
            for (bias, threads) in [(Some(&b[..]), 1), (None, 2)] {
                let mut want = vec![f32::NAN; shape.output_len()];
                let mut got = vec![f32::NAN; shape.output_len()];
                // SAFETY: `want` and `got` are live vectors of output_len
                // elements, not otherwise used during the calls.
                unsafe {
                    slab::forward(&shape, &x, &matrices, bias, SharedMut(want.as_mut_ptr()), threads);
                    direct::forward(&shape, &x, &matrices, bias, SharedMut(got.as_mut_ptr()), threads);
                }
                assert!(want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "bits differ: {shape:?}");
            }
        }
    }

    /// Grouped layers take the direct source where the shifted windows
    /// would compute many discarded columns or copy phase planes, and
    /// keep the windows on wider images at stride 1 or with long reductions.
    #[test]
    fn grouped_layers_take_the_direct_source_on_small_or_strided_images() {
        let grouped = |c: usize, size: usize, stride: usize| {
            ConvShape::new(8, c, c, 32, &[w(size, 3, stride, 1, (1, 1)), w(size, 3, stride, 1, (1, 1))], PaddingMode::Zeros).unwrap()
        };
        assert!(direct::suits(&grouped(1024, 7, 1)));
        assert!(direct::suits(&grouped(1024, 14, 2)));
        assert!(direct::suits(&grouped(512, 28, 2)));
        assert!(!direct::suits(&grouped(512, 14, 1)));
        // 64 channels per group: 576 steps.
        assert!(!direct::suits(&grouped(2048, 7, 1)));
        // A strided 1x1 kernel stays with im2col.
        let pointwise = ConvShape::new(8, 512, 512, 32, &[w(14, 1, 2, 1, (0, 0)), w(14, 1, 2, 1, (0, 0))], PaddingMode::Zeros).unwrap();
        assert!(!direct::suits(&pointwise) && !prefers(&pointwise));
        // Only few-channel stems take F(2, 3) along the depth.
        let grouped_3d = ConvShape::new(1, 64, 64, 2, &[w(6, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1))], PaddingMode::Zeros).unwrap();
        assert!(!depth_pairs_apply(&grouped_3d));
    }

    /// F(2, 3) along the depth against im2col in float64, for odd and even
    /// output depths, depth padding past one tap, groups, strided and dilated
    /// planes; the same bits on 1, 2 and 3 threads.
    #[test]
    fn depth_pairs_match_im2col() {
        let cases = [
            (2, 3, 20, 1, vec![w(5, 3, 1, 1, (1, 1)), w(20, 7, 2, 1, (3, 3)), w(21, 7, 2, 1, (3, 2))]),
            (1, 4, 32, 2, vec![w(6, 3, 1, 1, (2, 2)), w(11, 3, 1, 2, (1, 1)), w(9, 5, 2, 1, (2, 2))]),
            (1, 1, 16, 1, vec![w(2, 3, 1, 1, (0, 1)), w(6, 3, 1, 1, (0, 0)), w(7, 3, 1, 1, (1, 1))]),
        ];
        for (n, c, o, groups, axes) in cases {
            let shape = ConvShape::new(n, c, o, groups, &axes, PaddingMode::Zeros).unwrap();
            assert!(depth_pairs_apply(&shape), "{shape:?}");
            let (x, wt, b) = (values(shape.input_len(), 1), values(shape.weight_len(), 2), values(o, 3));
            let mut want = vec![f64::NAN; shape.output_len()];
            conv_forward_im2col(&shape, &x, &wt, Some(&b), &mut want, 1).unwrap();
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let mut first: Option<Vec<f64>> = None;
            for threads in [1, 2, 3] {
                let mut got = vec![f64::NAN; shape.output_len()];
                // SAFETY: `got` is a live vector of output_len elements,
                // not otherwise used during the call.
                unsafe { forward_depth_pairs(&shape, &x, &wt, Some(&b), SharedMut(got.as_mut_ptr()), threads) };
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
                }
                let first = first.get_or_insert_with(|| got.clone());
                assert!(first.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "bits differ: {shape:?}");
            }
        }
    }

    /// grad_input through the transposed forward kernel against col2im.
    #[test]
    fn grad_input_by_the_transposed_convolution_matches_col2im() {
        let cases = [
            (2, 5, 7, 1, vec![w(9, 3, 1, 1, (1, 1)), w(11, 3, 1, 1, (1, 1))]),
            (1, 6, 4, 2, vec![w(10, 3, 1, 2, (2, 1)), w(8, 2, 1, 1, (0, 1))]),
            (3, 4, 9, 1, vec![w(30, 5, 1, 1, (2, 2))]),
            (1, 3, 2, 1, vec![w(5, 3, 1, 1, (1, 1)), w(6, 3, 1, 1, (0, 2)), w(7, 3, 1, 1, (1, 1))]),
            (2, 8, 12, 4, vec![w(7, 1, 1, 1, (0, 0)), w(7, 1, 1, 1, (0, 0))]),
            (2, 16, 16, 1, vec![w(20, 3, 1, 1, (1, 1)), w(20, 3, 1, 1, (1, 1))]),
        ];
        for (n, c, o, g, axes) in cases {
            let shape = ConvShape::new(n, c, o, g, &axes, PaddingMode::Zeros).unwrap();
            let dual = transposed(&shape).expect("stride 1, zero padding within the kernel span");
            let (wt, dy) = (values(shape.weight_len(), 2), values(shape.output_len(), 5));
            let mut want = vec![f64::NAN; shape.input_len()];
            crate::conv::backward::im2col_backward_input(&shape, &wt, &dy, &mut want, 1).unwrap();
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let mut first: Option<Vec<f64>> = None;
            for threads in [1, 3] {
                let mut got = vec![f64::NAN; shape.input_len()];
                backward_input(&shape, &dual, &wt, &dy, crate::conv::uninit::uninit_view(&mut got), threads).unwrap();
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
                }
                let first = first.get_or_insert_with(|| got.clone());
                assert!(first.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
        let strided = ConvShape::new(1, 2, 2, 1, &[w(8, 3, 2, 1, (1, 1))], PaddingMode::Zeros).unwrap();
        let reflect = ConvShape::new(1, 2, 2, 1, &[w(8, 3, 1, 1, (1, 1))], PaddingMode::Reflect).unwrap();
        let wide = ConvShape::new(1, 2, 2, 1, &[w(8, 3, 1, 1, (3, 3))], PaddingMode::Zeros).unwrap();
        assert!(transposed(&strided).is_none() && transposed(&reflect).is_none() && transposed(&wide).is_none());
    }

    /// The slab products' weight gradient against im2col + GEMM, and the
    /// same bits for 1, 2, 3 and 8 threads: ungrouped layers cut their
    /// input channels into one part per thread, grouped ones with fewer
    /// groups than threads too.
    #[test]
    fn weight_gradient_by_slabs_matches_im2col_for_every_thread_count() {
        let cases = [
            (2, 7, 5, 1, vec![w(9, 3, 1, 1, (1, 1)), w(11, 3, 1, 1, (1, 1))]),
            (1, 6, 4, 2, vec![w(10, 3, 2, 1, (1, 1)), w(8, 2, 1, 1, (0, 1))]),
            (1, 3, 4, 1, vec![w(5, 3, 1, 1, (1, 1)), w(6, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1))]),
            (3, 9, 6, 3, vec![w(30, 5, 1, 1, (2, 2))]),
        ];
        for (n, c, o, g, axes) in cases {
            let shape = ConvShape::new(n, c, o, g, &axes, PaddingMode::Zeros).unwrap();
            assert!(slab::fits_whole_rows(&shape));
            let (x, dy) = (values(shape.input_len(), 3), values(shape.output_len(), 7));
            let mut want = vec![f64::NAN; shape.weight_len()];
            crate::conv::backward::im2col_backward_weight(&shape, &x, &dy, &mut want, 1).unwrap();
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let mut first: Option<Vec<f64>> = None;
            for threads in [1, 2, 3, 8] {
                let mut got = vec![f64::NAN; shape.weight_len()];
                backward_weight(&shape, &x, &dy, &mut got, threads).unwrap();
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
                }
                let first = first.get_or_insert_with(|| got.clone());
                assert!(first.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "{threads} threads, {shape:?}");
            }
        }
    }

    /// Both sources on every padding mode, stride, dilation, group count
    /// and rank: within rounding of the im2col reference, and the two
    /// sources bit-identical to each other for 1, 2 and 3 threads.
    #[test]
    fn both_sources_match_im2col_and_each_other() {
        let modes = [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];
        let cases = [
            (2, 3, 5, 1, vec![w(7, 3, 1, 1, (1, 1)), w(9, 3, 1, 1, (1, 1))]),
            (1, 4, 6, 2, vec![w(6, 2, 1, 2, (1, 2)), w(5, 3, 1, 1, (0, 1))]),
            (3, 40, 17, 1, vec![w(5, 3, 1, 1, (1, 1)), w(6, 3, 1, 1, (1, 1))]),
            (2, 3, 2, 1, vec![w(30, 5, 1, 2, (4, 4))]),
            (1, 2, 2, 1, vec![w(40, 7, 1, 1, (3, 3)), w(3, 1, 1, 1, (0, 0))]),
            (2, 3, 4, 1, vec![w(5, 3, 1, 1, (1, 1)), w(6, 3, 1, 1, (1, 1)), w(7, 3, 1, 1, (1, 1))]),
            (1, 4, 2, 2, vec![w(6, 2, 1, 2, (1, 0)), w(4, 1, 1, 1, (0, 0)), w(5, 3, 1, 1, (2, 2))]),
            // Strides (phase planes), with and without dilation and odd sizes.
            (2, 3, 9, 1, vec![w(11, 3, 2, 1, (1, 1)), w(12, 3, 2, 1, (1, 1))]),
            (1, 3, 4, 1, vec![w(23, 7, 2, 1, (3, 3)), w(21, 7, 2, 1, (3, 3))]),
            (2, 6, 4, 3, vec![w(13, 3, 3, 2, (2, 1)), w(14, 2, 2, 3, (1, 2))]),
            (1, 5, 3, 1, vec![w(9, 1, 2, 1, (0, 0)), w(9, 1, 2, 1, (0, 0))]),
            (2, 2, 3, 1, vec![w(7, 3, 2, 1, (1, 1)), w(8, 3, 2, 1, (1, 1)), w(9, 3, 2, 1, (1, 1))]),
            (1, 4, 3, 1, vec![w(50, 4, 3, 1, (2, 1))]),
            // Rows too long for one slab: cut into segments (long 1-D signals).
            (1, 64, 5, 1, vec![w(3001, 3, 2, 1, (1, 1))]),
            (2, 48, 3, 1, vec![w(2900, 5, 1, 2, (3, 4))]),
            // Unpadded 1x1 (the input read in place), and more than 8 output rows.
            (3, 7, 19, 1, vec![w(6, 1, 1, 1, (0, 0)), w(5, 1, 1, 1, (0, 0))]),
            // Stems (few input channels, many outputs: the direct source's
            // regime), in 1-D, 2-D and 3-D, grouped, channels past a block.
            (2, 3, 20, 1, vec![w(23, 7, 2, 1, (3, 3)), w(21, 7, 2, 1, (3, 3))]),
            (1, 1, 33, 1, vec![w(30, 3, 1, 1, (1, 1)), w(29, 3, 1, 2, (2, 2))]),
            (1, 3, 16, 1, vec![w(5, 3, 1, 1, (1, 1)), w(11, 7, 2, 1, (3, 3)), w(10, 7, 2, 1, (3, 3))]),
            (2, 4, 36, 2, vec![w(9, 3, 1, 1, (1, 1)), w(12, 5, 2, 1, (2, 1))]),
            (1, 1, 40, 1, vec![w(400, 10, 5, 1, (0, 0))]),
        ];
        for mode in modes {
            for (n, c, o, g, axes) in &cases {
                let Ok(shape) = ConvShape::new(*n, *c, *o, *g, axes, mode) else { continue };
                let (x, wt, b) = (values(shape.input_len(), 1), values(shape.weight_len(), 2), values(*o, 3));
                let mut want = vec![f64::NAN; shape.output_len()];
                conv_forward_im2col(&shape, &x, &wt, Some(&b), &mut want, 1).unwrap();
                let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let (k, og) = (shape.patch_len(), shape.out_channels() / shape.groups());
                let matrices: Vec<_> = wt.chunks_exact(og * k).map(|group| Matrix::borrowed(group, og, k)).collect();
                let mut first: Option<Vec<f64>> = None;
                for threads in [1, 2, 3] {
                    // The direct source pads with zeros only.
                    let sources = if mode == PaddingMode::Zeros { 3 } else { 2 };
                    for source in 0..sources {
                        let mut got = vec![f64::NAN; shape.output_len()];
                        // SAFETY: `got` is a live vector of output_len elements.
                        let out = SharedMut(got.as_mut_ptr());
                        // SAFETY: `out` is `got`, a live vector of output_len
                        // elements not otherwise used during the call.
                        unsafe {
                            match source {
                                0 => slab::forward(&shape, &x, &matrices, Some(&b), out, threads),
                                1 => panel::forward(&shape, &x, &matrices, Some(&b), out, threads),
                                _ => direct::forward(&shape, &x, &matrices, Some(&b), out, threads),
                            }
                        }
                        for (a, b) in got.iter().zip(&want) {
                            assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}, source {source}");
                        }
                        let first = first.get_or_insert_with(|| got.clone());
                        assert!(first.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "bits differ: {shape:?}");
                    }
                }
            }
        }
    }
}
