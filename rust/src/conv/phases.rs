//! The input gradient of a strided, zero-padded convolution as one
//! stride-1 convolution per phase of the input (the polyphase, or
//! "sub-pixel", form of the transposed convolution).
//!
//! Along an axis with stride `s`, dilation `d` and padding `p`, input
//! element `i = s * m + phase` receives `dy[y] * w[t]` from every tap `t`
//! with `y * s + t * d - p = i`, that is `y = m + e_t` with
//! `e_t = (phase + p - t * d) / s` for the taps where that division is
//! exact. Those taps, largest first, are a kernel with dilation
//! `d / gcd(s, d)` read over `dy` from offset `e` of the largest, so each
//! phase of the input gradient is a stride-1 convolution of the output
//! gradient with that sub-kernel (channels swapped within each group),
//! which the forward kernels compute (the automatic choice for that
//! stride-1 shape; no col2im). Each
//! phase's result is then written to its strided positions. A phase that no
//! tap reaches (a kernel shorter than the stride) gets zeros.

use super::geometry::{check_backward_input, ConvShape, PaddingMode, Window, MAX_SPATIAL_DIMS};
use super::matmul::Real;
use super::select::{conv_forward_uninit, Algorithm};
use super::uninit::{uninit_view, zeroed};
use crate::error::KernelResult;
use crate::parallel::{effective_threads, for_each_chunk_mut, for_each_task, SharedMut};
use std::mem::MaybeUninit;

/// One phase of one axis: its positions in the input and the stride-1
/// window over the output gradient that computes them (`None`: no tap).
#[derive(Clone, Debug)]
struct AxisPhase {
    phase: usize,
    /// Input positions `phase, phase + s, ...`.
    count: usize,
    /// Positions the window computes: `count`, or more when the forward
    /// windows never reach the input's end (the rest are discarded).
    computed: usize,
    /// Kernel taps of the sub-kernel, in its order.
    taps: Vec<usize>,
    window: Option<Window>,
}

/// The phases of `axis` (output length `out`), or `None` when one would
/// need to skip output-gradient elements at the start.
fn axis_phases(axis: &Window, out: usize) -> Option<Vec<AxisPhase>> {
    let (s, d, p) = (axis.stride as isize, axis.dilation as isize, axis.pad_before as isize);
    let mut phases = Vec::with_capacity(axis.stride);
    for phase in 0..axis.stride {
        let count = axis.input.saturating_sub(phase).div_ceil(axis.stride);
        let offset = |t: usize| phase as isize + p - t as isize * d;
        let taps: Vec<usize> = (0..axis.kernel).rev().filter(|&t| offset(t).rem_euclid(s) == 0).collect();
        let window = match taps.as_slice() {
            [] => None,
            [last, rest @ ..] => {
                let first_offset = offset(*last) / s;
                let step = rest.first().map_or(1, |&t| offset(t) / s - first_offset);
                let reach = (taps.len() as isize - 1) * step;
                let pad_before = -first_offset;
                // Padding after so the window computes `count` positions; a
                // negative one means the last output-gradient elements reach
                // no input of this phase: compute that many more, discarded.
                let pad_after = count as isize - 1 + first_offset + reach - (out as isize - 1);
                if pad_before < 0 || step < 1 {
                    return None;
                }
                let window = Window {
                    input: out,
                    kernel: taps.len(),
                    stride: 1,
                    dilation: step as usize,
                    pad_before: pad_before as usize,
                    pad_after: pad_after.max(0) as usize,
                };
                Some((window, count + (-pad_after).max(0) as usize))
            }
        };
        let (window, computed) = window.map_or((None, count), |(w, computed)| (Some(w), computed));
        phases.push(AxisPhase { phase, count, computed, taps, window });
    }
    Some(phases)
}

/// Each axis's phases, when the shape suits: zero padding, a stride above
/// 1, no negative sub-padding.
fn all_phases(shape: &ConvShape) -> Option<[Vec<AxisPhase>; MAX_SPATIAL_DIMS]> {
    if shape.padding_mode() != PaddingMode::Zeros || shape.axes().iter().all(|a| a.stride == 1) {
        return None;
    }
    let out = shape.output_dims();
    let [a, b, c] = shape.axes();
    Some([axis_phases(a, out[0])?, axis_phases(b, out[1])?, axis_phases(c, out[2])?])
}

/// Whether `backward_input` computes `shape`'s input gradient: strided,
/// zero-padded, on a CPU with the AVX-512 tiles (elsewhere im2col + GEMM
/// and col2im do), with weights at most twice one image's input: each call
/// lays the weights out again per phase, which for ResNet-18's 14x14 ->
/// 7x7 layer at batch 1 (weights 23x the image) costs 2.7x col2im's time,
/// while ResNeXt's grouped stride-2 layers (0.2-1.5x) take 0.55x of it.
/// Each phase's convolution has one output row per input channel of a
/// group and about `taps / strides` taps, so it does that many multiply-adds
/// per element of the output gradient it lays out; with fewer than a
/// tile's rows' worth the layout costs more than col2im (wav2vec 2.0's
/// one-channel, 10-tap, stride-5 front end: 3.7 ms against 0.47, while
/// the 3-channel 7x7 stride-2 stem takes 0.77x of col2im's time).
/// A function of the per-image shape, so grad_input stays batch-invariant.
pub(crate) fn applies(shape: &ConvShape) -> bool {
    let image = shape.in_channels() * shape.input_pixels();
    let strides: usize = shape.axes().iter().map(|a| a.stride).product();
    let work_per_element = shape.in_channels() / shape.groups() * shape.kernel_taps();
    super::microkernel::has_vector_tiles()
        && work_per_element >= super::microkernel::ROWS * strides
        && shape.weight_len() <= 2 * image
        && all_phases(shape).is_some()
}

/// One phase combination of the three axes, and the stride-1 convolution
/// of the output gradient that computes it (`None`: no tap reaches it).
type PhaseWork<'a> = ([&'a AxisPhase; 3], Option<ConvShape>);

/// Every phase combination with input positions, with its convolution;
/// `None` when one of those cannot be formed (then col2im computes the
/// gradient).
fn phase_work<'a>(shape: &ConvShape, phases: &'a [Vec<AxisPhase>; 3]) -> Option<Vec<PhaseWork<'a>>> {
    let [pd, ph, pw] = phases;
    let mut work = Vec::new();
    for a in pd.iter().filter(|p| p.count > 0) {
        for b in ph.iter().filter(|p| p.count > 0) {
            for c in pw.iter().filter(|p| p.count > 0) {
                let dual = match (a.window, b.window, c.window) {
                    (Some(wa), Some(wb), Some(wc)) => {
                        let dual = ConvShape::new(shape.batch(), shape.out_channels(), shape.in_channels(), shape.groups(), &[wa, wb, wc], PaddingMode::Zeros);
                        Some(dual.ok()?)
                    }
                    _ => None,
                };
                work.push(([a, b, c], dual));
            }
        }
    }
    Some(work)
}

/// `grad_input` of `conv_forward` by phases (see the module notes).
pub(crate) fn backward_input<T: Real>(
    shape: &ConvShape,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    let phases = all_phases(shape);
    let Some(work) = phases.as_ref().and_then(|phases| phase_work(shape, phases)) else {
        return super::backward::im2col_backward_input(shape, weight, grad_output, zeroed(grad_input, threads), threads);
    };
    if !check_backward_input(shape, weight, grad_output, grad_input)? {
        zeroed(grad_input, threads);
        return Ok(());
    }
    // The phases partition the input positions, so zeros are needed only
    // where no tap reaches (a kernel shorter than the stride); otherwise
    // each element is written once, by its phase's scatter.
    if work.iter().any(|(_, dual)| dual.is_none()) {
        zeroed(grad_input, threads);
    }
    let reached: Vec<_> = work.iter().filter_map(|(phase, dual)| dual.as_ref().map(|dual| (phase, dual))).collect();
    let taps: Vec<[&[usize]; 3]> = reached.iter().map(|([a, b, c], _)| [&a.taps[..], &b.taps[..], &c.taps[..]]).collect();
    let sub_weights = sub_kernels(shape, weight, &taps, threads);
    // Every phase's result for a run of images is kept (together the size
    // of their input gradient) and then written out plane by plane, so each
    // plane is filled while it sits in L1: a pass per phase moved each line
    // of the gradient through the caches once per phase (ResNeXt's 28x28
    // stride-2 groups: 40% of grad_input). The staging is this thread's
    // call scratch, a run of images at a time: a fresh buffer for the whole
    // batch (12.8 MB for ResNeXt's `layer3.0.conv2` at batch 8) was given
    // back to the system after each call (glibc trimmed its heap) and
    // faulted in again by the next: 11.5 ms against 2.7 once warm. Every
    // forward is batch-invariant, so the runs give the bits one pass would.
    let batch = shape.batch();
    let sizes: Vec<usize> = reached.iter().map(|(_, dual)| dual.output_len() / batch).collect();
    let (in_image, out_image) = (shape.input_len() / batch, shape.output_len() / batch);
    let phases = Phases { shape, reached: &reached, sub_weights: &sub_weights, sizes: &sizes };
    // With at least two images per thread, each image is a task of its own
    // on one thread: the runs below start a parallel pass per phase and per
    // scatter, short ones (ResNeXt's `layer3.0.conv2` at batch 8: 20), and
    // on this 2-core machine their waits made 2 threads slower than 1 in
    // some minutes (4.0 ms against 2.8). Thread-invariant kernels give the
    // same bits either way.
    if batch >= IMAGES_PER_THREAD * effective_threads(threads) {
        let dx = SharedMut(grad_input.as_mut_ptr());
        let failure = std::sync::Mutex::new(None);
        for_each_task(threads, batch, |n| {
            // SAFETY: image n's part of `grad_input` (n < batch, so inside
            // it); each task takes a different image, and `grad_input` is
            // not otherwise used while the tasks run.
            let dst = unsafe { std::slice::from_raw_parts_mut(dx.get().add(n * in_image), in_image) };
            if let Err(error) = phases.run(&grad_output[n * out_image..][..out_image], dst, 1, 1) {
                failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get_or_insert(error);
            }
        });
        return failure.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()).map_or(Ok(()), Err);
    }
    let run = (STAGED_BYTES / (phases.per_image() * std::mem::size_of::<T>()).max(1)).clamp(1, batch);
    for n0 in (0..batch).step_by(run) {
        let images = run.min(batch - n0);
        phases.run(&grad_output[n0 * out_image..][..images * out_image], &mut grad_input[n0 * in_image..][..images * in_image], images, threads)?;
    }
    Ok(())
}

/// Images per thread from which `backward_input` gives each image a task.
const IMAGES_PER_THREAD: usize = 2;

/// What every run of images of `backward_input` shares: the phases that
/// taps reach, with their dual convolutions, sub-kernels and results'
/// lengths per image.
struct Phases<'a, T> {
    shape: &'a ConvShape,
    reached: &'a [(&'a [&'a AxisPhase; 3], &'a ConvShape)],
    sub_weights: &'a [Vec<T>],
    sizes: &'a [usize],
}

impl<T: Real> Phases<'_, T> {
    /// Elements of every phase's results for one image.
    fn per_image(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// The input gradient of `images` images from their output gradient:
    /// each phase's convolution into this thread's call scratch, then the
    /// scatter.
    fn run(&self, grad_output: &[T], grad_input: &mut [MaybeUninit<T>], images: usize, threads: usize) -> KernelResult<()> {
        let per_image = self.per_image();
        T::with_call_scratch(per_image * images, |scratch| {
            let mut rest = &mut scratch[..per_image * images];
            let mut staged = Vec::with_capacity(self.reached.len());
            for (((phase, dual), sub_weight), size) in self.reached.iter().zip(self.sub_weights).zip(self.sizes) {
                let (out, tail) = std::mem::take(&mut rest).split_at_mut(size * images);
                rest = tail;
                conv_forward_uninit(Algorithm::Auto, &dual.with_batch(images)?, grad_output, sub_weight, None, uninit_view(out), threads)?;
                staged.push((**phase, &*out));
            }
            scatter(self.shape, &staged, grad_input, threads);
            Ok(())
        })
    }
}

/// Bytes of phase results staged at once (see `backward_input`): a run of
/// images whose results fit, at least one.
const STAGED_BYTES: usize = 4 << 20;

/// Dual rows a task of `sub_kernels` writes, and output channels per
/// block: a task copies its rows' kernels for a block of output channels
/// row by row, so each row gets runs of kernels and the block's weights
/// stay in L1 for the next row (rows a power of two apart share a few L1
/// sets: one kernel to each row in turn missed on nearly every store).
/// The tiles could read these sub-kernels in place (`Matrix::gathered`),
/// but a phase uses a few of each kernel's taps, so every step would
/// touch new cache lines: ResNet-18's `layer2.0.conv1` grad_input at
/// batch 16 was 18% slower that way.
const SUB_KERNEL_ROWS: usize = 64;
const SUB_KERNEL_BLOCK: usize = 8;

/// Every phase's dual weights, in one pass over the weights (with a pass
/// per phase, the weights of r3d-18's stride-2 3x3x3 layers were read 8
/// times): for phase `p`, `(g * cg + c, o, u)` is weight
/// `(g * og + o, c, taps[p][u])` (taps per axis, in the sub-kernel's
/// order). A task writes a strip of dual rows (neighbouring kernels of
/// each weight row) of every phase.
fn sub_kernels<T: Real>(shape: &ConvShape, weight: &[T], taps: &[[&[usize]; 3]], threads: usize) -> Vec<Vec<T>> {
    let (cg, og, rows) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups(), shape.in_channels());
    let [_, kh, kw] = shape.axes().map(|a| a.kernel);
    let k = shape.kernel_taps();
    // Kernel offsets of each sub-kernel's taps, in its order.
    let picks: Vec<Vec<usize>> = taps
        .iter()
        .map(|[td, th, tw]| td.iter().flat_map(|&d| th.iter().flat_map(move |&h| tw.iter().map(move |&w| (d * kh + h) * kw + w))).collect())
        .collect();
    let mut subs: Vec<Vec<T>> = picks.iter().map(|p| vec![T::ZERO; rows * og * p.len()]).collect();
    let outs: Vec<SharedMut<T>> = subs.iter_mut().map(|sub| SharedMut(sub.as_mut_ptr())).collect();
    for_each_task(threads, rows.div_ceil(SUB_KERNEL_ROWS), |task| {
        let (r0, n) = (task * SUB_KERNEL_ROWS, SUB_KERNEL_ROWS.min(rows - task * SUB_KERNEL_ROWS));
        // SAFETY: rows r0..r0+n of phase p's (rows x og * len) dual
        // weights: inside `subs[p]`, which lives through the call and is
        // not otherwise used meanwhile; tasks take distinct row ranges.
        let mut dsts: Vec<&mut [T]> = picks.iter().zip(&outs).map(|(p, out)| unsafe { std::slice::from_raw_parts_mut(out.get().add(r0 * og * p.len()), n * og * p.len()) }).collect();
        // Row g * cg + c reads the kernels from weight row (g * og) * cg + c on.
        let firsts: Vec<usize> = (r0..r0 + n).map(|r| ((r / cg) * og * cg + r % cg) * k).collect();
        for o0 in (0..og).step_by(SUB_KERNEL_BLOCK) {
            for (i, &first) in firsts.iter().enumerate() {
                for (dst, pick) in dsts.iter_mut().zip(&picks) {
                    for o in o0..og.min(o0 + SUB_KERNEL_BLOCK) {
                        let kernel = &weight[first + o * cg * k..][..k];
                        let dst = &mut dst[(i * og + o) * pick.len()..][..pick.len()];
                        dst.iter_mut().zip(pick).for_each(|(d, &at)| *d = kernel[at]);
                    }
                }
            }
        }
    });
    subs
}

/// Writes each phase's result (planes of `count` positions per axis) to
/// its strided positions of the input gradient, every phase of one
/// (image, channel) plane before the next plane; a task per run of planes.
/// Along a last axis of stride 2, the two phases of a row are interleaved
/// in one pass (`interleave_pair`): written one phase at a time, element
/// by element, the scatter took half of ResNeXt's stride-2 grad_input.
fn scatter<T: Real>(shape: &ConvShape, staged: &[([&AxisPhase; 3], &[T])], grad_input: &mut [MaybeUninit<T>], threads: usize) {
    let [sd, sh, sw] = shape.axes().map(|a| a.stride);
    let [_, ih, iw] = shape.axes().map(|a| a.input);
    let plane = shape.input_pixels();
    // Each entry's partner: the phase after it along the last axis of the
    // same (depth, height) phases, when the last stride is 2.
    let partner = |i: usize| -> Option<usize> {
        let [a, b, c] = staged[i].0;
        (sw == 2 && c.phase == 0).then(|| staged.iter().position(|([pa, pb, pc], _)| pa.phase == a.phase && pb.phase == b.phase && pc.phase == 1)).flatten()
    };
    let pairs: Vec<Option<usize>> = (0..staged.len()).map(partner).collect();
    let paired: Vec<bool> = (0..staged.len()).map(|i| pairs.contains(&Some(i))).collect();
    for_each_chunk_mut(threads, grad_input, plane, |at, dst| {
        for (i, &([a, b, c], values)) in staged.iter().enumerate() {
            if paired[i] {
                continue;
            }
            let plane_start = |[a, b, c]: [&AxisPhase; 3]| at * a.computed * b.computed * c.computed;
            let partner = pairs[i].map(|j| {
                let (phases, odd) = staged[j];
                (phases[2], &odd[plane_start(phases)..])
            });
            let src = &values[plane_start([a, b, c])..];
            for md in 0..a.count {
                for mh in 0..b.count {
                    let row = &mut dst[((md * sd + a.phase) * ih + mh * sh + b.phase) * iw..][..iw];
                    let even = &src[(md * b.computed + mh) * c.computed..][..c.count];
                    match partner {
                        Some((oc, odd)) => interleave_pair(row, even, &odd[(md * b.computed + mh) * oc.computed..][..oc.count]),
                        None => row[c.phase..].iter_mut().step_by(sw).zip(even).for_each(|(slot, &v)| {
                            slot.write(v);
                        }),
                    }
                }
            }
        }
    });
}

/// `row[2j] = even[j]`, `row[2j + 1] = odd[j]` for every position of `row`
/// (`even` has `row.len().div_ceil(2)` values, `odd` the rest).
fn interleave_pair<T: Copy>(row: &mut [MaybeUninit<T>], even: &[T], odd: &[T]) {
    let mut pairs = row.chunks_exact_mut(2);
    for ((pair, &e), &o) in (&mut pairs).zip(even).zip(odd) {
        pair[0].write(e);
        pair[1].write(o);
    }
    if let [last] = pairs.into_remainder() {
        last.write(even[even.len() - 1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::backward::im2col_backward_input;

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 250.0).collect()
    }

    /// Strides 2 and 3, dilation, kernels shorter than the stride, odd and
    /// even lengths, groups, 1-D to 3-D: the same input gradient as col2im.
    #[test]
    fn matches_col2im() {
        let w = |input, kernel, stride, dilation, pad: (usize, usize)| Window { input, kernel, stride, dilation, pad_before: pad.0, pad_after: pad.1 };
        let cases = [
            (2, 4, 6, 1, vec![w(14, 3, 2, 1, (1, 1)), w(15, 3, 2, 1, (1, 1))]),
            (1, 6, 4, 2, vec![w(13, 5, 3, 2, (4, 2)), w(9, 2, 2, 1, (0, 1))]),
            (3, 3, 5, 1, vec![w(12, 1, 2, 1, (0, 0)), w(12, 1, 2, 1, (0, 0))]),
            (2, 2, 3, 1, vec![w(31, 10, 5, 1, (0, 0))]),
            (1, 4, 4, 2, vec![w(6, 3, 2, 1, (1, 1)), w(7, 3, 1, 1, (1, 1)), w(8, 3, 2, 1, (1, 0))]),
        ];
        for (n, c, o, g, axes) in cases {
            let shape = ConvShape::new(n, c, o, g, &axes, PaddingMode::Zeros).unwrap();
            let Some(_) = all_phases(&shape) else { panic!("{shape:?} not by phases") };
            let (wt, dy) = (values(shape.weight_len(), 2), values(shape.output_len(), 3));
            let mut want = vec![f64::NAN; shape.input_len()];
            im2col_backward_input(&shape, &wt, &dy, &mut want, 1).unwrap();
            let mut first = None;
            for threads in [1, 2, 3] {
                let mut got = vec![f64::NAN; shape.input_len()];
                // NaN-filled: an element no phase writes would fail the comparison.
                backward_input(&shape, &wt, &dy, crate::conv::uninit::uninit_view(&mut got), threads).unwrap();
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b} for {shape:?}");
                }
                let first = first.get_or_insert_with(|| got.clone());
                assert!(got.iter().zip(first.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }

    /// Batches below two images per thread whose phase results outgrow
    /// `STAGED_BYTES` are staged a run at a time (here runs of one image,
    /// and a run of two and one of one); larger ones an image per task (the
    /// batch of 6 on 2 threads). The gradient still matches col2im, and each
    /// image's bits are those it gets alone.
    #[test]
    fn runs_of_images_give_each_image_its_own_bits() {
        let w = |input| Window { input, kernel: 3, stride: 2, dilation: 1, pad_before: 1, pad_after: 1 };
        for (n, size, per_run) in [(3, 182, 1), (3, 78, 2), (6, 78, 2)] {
            let shape = ConvShape::new(n, 32, 32, 2, &[Window::UNIT, w(size), w(size)], PaddingMode::Zeros).unwrap();
            let image = shape.input_len() / n;
            assert_eq!((STAGED_BYTES / (image * std::mem::size_of::<f64>())).clamp(1, n), per_run);
            let (wt, dy) = (values(shape.weight_len(), 5), values(shape.output_len(), 7));
            let mut want = vec![f64::NAN; shape.input_len()];
            im2col_backward_input(&shape, &wt, &dy, &mut want, 2).unwrap();
            let mut got = vec![f64::NAN; shape.input_len()];
            backward_input(&shape, &wt, &dy, crate::conv::uninit::uninit_view(&mut got), 2).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b} for {shape:?}");
            }
            let one = shape.with_batch(1).unwrap();
            let out_image = shape.output_len() / n;
            for i in 0..n {
                let mut alone = vec![f64::NAN; image];
                backward_input(&one, &wt, &dy[i * out_image..][..out_image], crate::conv::uninit::uninit_view(&mut alone), 1).unwrap();
                assert!(alone.iter().zip(&got[i * image..]).all(|(a, b)| a.to_bits() == b.to_bits()), "image {i} of {shape:?}");
            }
        }
    }
}
