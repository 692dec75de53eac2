//! Direct kernels for depthwise and small-group convolution (at most
//! `MAX_GROUP_CHANNELS` input channels per group): no im2col, no GEMM.
//!
//! Each (image, channel) plane is copied once into a per-thread padded
//! buffer (any padding mode, through `PaddingMode::source`) in *polyphase*
//! order: for strides `s`, the padded volume is split into `s0*s1*s2`
//! sub-volumes of `q0 x q1 x q2` elements, sub-volume `(p0, p1, p2)` holding
//! the padded elements at `(i0*s0 + p0, i1*s1 + p1, i2*s2 + p2)`. Output
//! pixel `(o0, o1, o2)` then reads tap `(k0, k1, k2)` at sub-volume
//! `(k*d) % s`, element `o + (k*d) / s`: with outputs numbered
//! `j = (o0*q1 + o1)*q2 + o2` ("flat", the sub-volume's own strides) every
//! tap is one fixed offset from `j`, so a whole output plane is one
//! contiguous run of fused multiply-adds per tap, vectorized along `j` with
//! no bounds or padding tests. The few flat positions with `o2 >= out2`
//! (`o1 >= out1`) are computed and thrown away.
//!
//! With zero padding the buffers' padding is zeroed once per task and only
//! the input rows are copied in (`rows`: exact-length vector copies, stride
//! 2 split into even and odd columns); narrow float32 planes at stride 1
//! skip the buffer altogether (`narrow`). Output planes of at most
//! `INTERLEAVE_MAX_PIXELS` (float32, moved into and out of that layout by
//! vector transposes, `lanes`) or `INTERLEAVE_MAX_PIXELS_BY_ELEMENT`
//! (element by element) run `LANES` channels interleaved (position-major)
//! per vector; on AVX-512 in float32, kernel row by kernel row where the
//! rows allow (`TapRows`), which also takes small planes from `narrow` and
//! large ones with wide kernels. All compute the same sums in the same
//! order as the general path.
//!
//! The input gradient of plain depthwise layers at stride 1 with zero
//! padding is the forward pass on the output gradient with the kernels
//! flipped (`backward_input_by_dual`). Otherwise it is the adjoint: each
//! polyphase sub-volume of the padded gradient is a correlation of the
//! (flat, zero-margined) output gradient with that phase's taps, then
//! folded back onto the input (the padding's copies added to the elements
//! they copied), small planes `LANES` channels interleaved. The weight gradient
//! is a dot product per tap between the flat output gradient and the padded
//! input, per image, added over the batch in image order.
//!
//! Every output element's reduction order depends on the per-image shape
//! only (taps in order; weight-gradient dots in fixed lanes), so results are
//! bit-identical for every thread count and for every batch an image is in.
//! Products are fused (one rounding) on every machine, so the bits do not
//! depend on which instruction set runs either.

use super::geometry::{check_backward_input, check_backward_weight, check_forward, ConvShape, PaddingMode, MAX_SPATIAL_DIMS};
use super::matmul::Real;
use crate::error::KernelResult;
use crate::parallel::for_each_chunk_mut;
use super::uninit::uninit_view;
use std::mem::MaybeUninit;

/// Input channels per group handled here; more is a job for GEMM.
const MAX_GROUP_CHANNELS: usize = 8;
/// Channels interleaved in one vector-wide block by the small-plane kernel.
const LANES: usize = 16;
/// Output planes up to this many pixels go through the interleaved kernel
/// where vector transposes move the planes in and out (`lanes`: float32
/// with AVX2): per-plane overheads would dominate their short runs. 32x32
/// covers MobileNet's 14x14 and 28x28 planes: on Zen 3, 2 threads, batch 8,
/// 20-30% faster interleaved than one plane at a time at 14x14 and
/// 28x28, stride 1 and 2, and as fast at batch 1; 56x56 was slower.
const INTERLEAVE_MAX_PIXELS: usize = 1024;
/// The same where the planes move element by element (float64): a batch of
/// 144 planes 56x56 -> 28x28 at stride 2 took 1.5x as long interleaved.
const INTERLEAVE_MAX_PIXELS_BY_ELEMENT: usize = 64;
/// Channels from which planes above `INTERLEAVE_MAX_PIXELS` run
/// interleaved with the rows kernel (wide kernels only; see `Plan::new`).
const ROWS_MIN_CHANNELS: usize = 4 * LANES;
/// Output channels of one group computed together by `correlate_outputs`.
const OUT_BLOCK: usize = 4;
/// Per-thread scratch (elements) above which the shape goes to im2col.
const MAX_SCRATCH: usize = 1 << 24;
/// Elements read past a run's end by the widest vector chunk; every buffer
/// the kernels read has this much zeroed slack.
const SLACK: usize = 128;
/// Sub-volumes start this many elements apart (a multiple of every vector
/// chunk), so runs over a whole sub-volume need no partial chunk.
const VOLUME_ALIGN: usize = 16;
/// Weight-gradient dot products run over a multiple of this many elements
/// (zeros past the end), in `dot_lanes` independent lanes.
const DOT_MULTIPLE: usize = 64;
/// A task covers about this many output elements (fewer, larger tasks for
/// small planes) ...
const TASK_ELEMENTS: usize = 1 << 14;
/// ... but the groups are cut into at least this many blocks when they can be.
const MIN_BLOCKS: usize = 16;

/// Whether these kernels take the shape: grouped with at most
/// `MAX_GROUP_CHANNELS` input channels per group (any channel multiplier),
/// and a padded plane that fits the per-thread scratch.
pub(crate) fn applies(shape: &ConvShape) -> bool {
    shape.groups() > 1
        && shape.in_channels() / shape.groups() <= MAX_GROUP_CHANNELS
        && scratch_elements(shape).is_some_and(|n| n <= MAX_SCRATCH)
}

/// The largest scratch any of the three kernels needs, if it is countable.
fn scratch_elements(shape: &ConvShape) -> Option<usize> {
    let mut volume = 1usize;
    let mut phases = 1usize;
    for a in shape.axes() {
        let p = a.input.checked_add(a.pad_before)?.checked_add(a.pad_after)?;
        volume = volume.checked_mul(p.div_ceil(a.stride))?;
        phases = phases.checked_mul(a.stride)?;
    }
    let volume = volume.checked_next_multiple_of(VOLUME_ALIGN)?;
    let channel = volume.checked_mul(phases)?.checked_add(SLACK)?;
    // Input gradient: its margin is below one sub-volume.
    let extra = volume.checked_mul(2)?.checked_add(SLACK)?;
    let planes = channel.checked_mul((shape.in_channels() / shape.groups()).max(2 * LANES))?;
    planes.checked_add(extra.checked_mul(LANES.max(OUT_BLOCK))?)
}

/// Depthwise forward; arguments and result as `conv_forward`.
pub(crate) fn forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    forward_uninit(shape, input, weight, bias, uninit_view(output), threads)
}

/// `forward` into memory that need not be initialized (a fresh
/// allocation): every output element is written once and none is read, so
/// the caller skips a zeroing pass (up to a fifth of the time of a batch
/// of large planes).
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
    forward_planned(&Plan::new::<T>(shape), shape, input, weight, bias, output, threads)
}

fn forward_planned<T: Real>(
    plan: &Plan,
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    let block = plan.group_block * plan.og * plan.out_pixels;
    if let Some((shifts, planes, masks)) = plan.narrow_forward.as_ref().and_then(|(s, p)| Some((s, p, narrow::Masks::new::<T>(s, *p)?))) {
        for_each_block(threads, output, shape.out_channels() * plan.out_pixels, block, |n, b, out| {
            let (g0, count) = (b * plan.group_block, out.len() / plan.out_pixels);
            let x = &input[(n * plan.in_channels + g0) * plan.in_pixels..][..count * plan.in_pixels];
            let w = &weight[g0 * plan.taps..][..count * plan.taps];
            narrow::narrow_planes(x, shifts, &masks, w, bias.map(|b| &b[g0..g0 + count]), out, *planes)
        });
        return Ok(());
    }
    let scratch = if plan.interleaved { LANES * (plan.channel + plan.volume + VOLUME_ALIGN) } else { plan.cg * plan.channel + OUT_BLOCK * plan.volume };
    let in_order: Vec<usize> = (0..plan.taps).collect();
    let lane_weights = if plan.interleaved { plan.lane_weights(weight, &in_order, threads) } else { Vec::new() };
    for_each_block(threads, output, shape.out_channels() * plan.out_pixels, block, |n, b, out| {
        T::with_scratch(scratch, |scratch| {
            let g0 = b * plan.group_block;
            if plan.interleaved {
                plan.forward_interleaved(n, g0, input, &lane_weights, bias, out, scratch)
            } else {
                forward_block(plan, (n, g0), input, weight, bias, out, scratch)
            }
        })
    });
    Ok(())
}

/// Whether `backward_input_by_dual` computes `shape`'s input gradient:
/// plain depthwise layers (one channel in and out per group) whose
/// gradient is the stride-1 convolution `dual` (`implicit::transposed`)
/// these kernels also take. On every instruction set, so that the bits do
/// not depend on it.
pub(crate) fn takes_dual(shape: &ConvShape, dual: &ConvShape) -> bool {
    shape.groups() == shape.in_channels() && shape.groups() == shape.out_channels() && applies(shape) && applies(dual)
}

/// The input gradient of a `takes_dual` shape: the depthwise forward pass
/// on the output gradient with every kernel flipped, so it runs on the
/// forward's kernels (interleaved kernel rows on AVX-512; on 2 threads of
/// a Zen 5, 8 x 240 x 28x28 with a 7x7 kernel took 0.57 ms against the
/// adjoint's 1.30, 8 x 576 x 14x14 at 3x3 0.143 against 0.170). Each
/// element sums its products in the forward's order, taps of the flipped
/// kernel in order.
pub(crate) fn backward_input_by_dual<T: Real>(
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
    let flipped: Vec<T> = weight.chunks_exact(shape.kernel_taps()).flat_map(|taps| taps.iter().rev().copied()).collect();
    forward_uninit(dual, grad_output, &flipped, None, grad_input, threads)
}

/// Depthwise input gradient; arguments and result as `conv_backward_input`.
pub(crate) fn backward_input<T: Real>(
    shape: &ConvShape,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    if !check_backward_input(shape, weight, grad_output, grad_input)? {
        grad_input.fill(T::ZERO);
        return Ok(());
    }
    backward_input_planned(&Plan::new::<T>(shape), shape, weight, grad_output, grad_input, threads);
    Ok(())
}

fn backward_input_planned<T: Real>(plan: &Plan, shape: &ConvShape, weight: &[T], grad_output: &[T], grad_input: &mut [T], threads: usize) {
    let block = plan.group_block * plan.cg * plan.in_pixels;
    if let Some((shifts, planes, masks)) = plan.narrow_backward.as_ref().and_then(|(s, p)| Some((s, p, narrow::Masks::new::<T>(s, *p)?))) {
        for_each_block(threads, grad_input, shape.in_channels() * plan.in_pixels, block, |n, b, dx| {
            let (g0, count) = (b * plan.group_block, dx.len() / plan.in_pixels);
            let dy = &grad_output[(n * plan.out_channels + g0) * plan.out_pixels..][..count * plan.out_pixels];
            let w = &weight[g0 * plan.taps..][..count * plan.taps];
            narrow::narrow_planes(dy, shifts, &masks, w, None, uninit_view(dx), *planes)
        });
        return;
    }
    // Interleaved where the input planes are small too (8 x 576 x 14x14 at
    // stride 2: 0.44 -> 0.12 ms, 2 threads of a Zen 5); from 56x56 inputs
    // one plane at a time was faster.
    if plan.interleaved && plan.in_pixels <= INTERLEAVE_MAX_PIXELS && !plan.gradient_positions.is_empty() && lanes::available::<T>() {
        // Each phase's taps together, phases in order.
        let lane_weights = plan.lane_weights(weight, &plan.phase_taps.concat(), threads);
        for_each_block(threads, grad_input, shape.in_channels() * plan.in_pixels, block, |n, b, dx| {
            T::with_scratch(LANES * (plan.channel + plan.margin + plan.volume + SLACK), |scratch| {
                plan.backward_input_interleaved(n, b * plan.group_block, grad_output, &lane_weights, uninit_view(dx), scratch)
            })
        });
        return;
    }
    for_each_block(threads, grad_input, shape.in_channels() * plan.in_pixels, block, |n, b, dx| {
        T::with_scratch(plan.cg * plan.channel + plan.margin + plan.volume + SLACK, |scratch| {
            backward_input_block(plan, (n, b * plan.group_block), weight, grad_output, dx, scratch)
        })
    });
}

/// Depthwise weight gradient; arguments and result as `conv_backward_weight`.
pub(crate) fn backward_weight<T: Real>(
    shape: &ConvShape,
    input: &[T],
    grad_output: &[T],
    grad_weight: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    let work = check_backward_weight(shape, input, grad_output, grad_weight)?;
    grad_weight.fill(T::ZERO);
    if !work {
        return Ok(());
    }
    let plan = Plan::new::<T>(shape);
    let block = plan.group_block * plan.og * plan.cg * plan.taps;
    let scratch = if plan.interleaved { LANES * (plan.channel + plan.volume) } else { plan.cg * plan.channel + plan.volume + SLACK };
    for_each_chunk_mut(threads, grad_weight, block, |b, dw| {
        T::with_scratch(scratch, |scratch| {
            if plan.interleaved {
                plan.backward_weight_interleaved(b * plan.group_block, input, grad_output, dw, scratch)
            } else {
                backward_weight_block(&plan, b * plan.group_block, input, grad_output, dw, scratch)
            }
        })
    });
    Ok(())
}

/// Runs `work(n, b, block)` for block `b` (of `block_len` elements, the last
/// of an image shorter) of image `n` (of `image_len` elements) of `data`,
/// the blocks in parallel: the tasks depend on the shape only.
fn for_each_block<T: Send>(threads: usize, data: &mut [T], image_len: usize, block_len: usize, work: impl Fn(usize, usize, &mut [T]) + Sync) {
    let blocks = image_len.div_ceil(block_len);
    let mut pieces: Vec<&mut [T]> = data.chunks_mut(image_len).flat_map(|image| image.chunks_mut(block_len)).collect();
    for_each_chunk_mut(threads, &mut pieces, 1, |i, piece| work(i / blocks, i % blocks, &mut *piece[0]));
}

/// Where one phase of one axis reads the input: `source[q]` for element
/// `q` of the phase (None: a zero), and the run of `q` that lies inside the
/// input, starting at input index `first`, one input element per `stride`.
struct PhaseMap {
    source: Vec<Option<usize>>,
    interior: std::ops::Range<usize>,
    first: usize,
}

impl PhaseMap {
    fn new(axis: &super::geometry::Window, mode: PaddingMode, phase: usize, q: usize) -> Self {
        let (s, pb, n) = (axis.stride, axis.pad_before, axis.input);
        let padded = n + pb + axis.pad_after;
        let source = (0..q)
            .map(|i| {
                let pos = i * s + phase;
                if pos < padded {
                    mode.source(pos as isize - pb as isize, n)
                } else {
                    None
                }
            })
            .collect();
        let lo = pb.saturating_sub(phase).div_ceil(s).min(q);
        let hi = (pb + n).saturating_sub(phase).div_ceil(s).clamp(lo, q);
        PhaseMap { source, interior: lo..hi, first: (lo * s + phase).saturating_sub(pb).min(n) }
    }

    /// Fills `dst[..len]` (one row of a sub-volume) from the input row at
    /// the start of `row` (`width` elements; the rest of the plane follows).
    /// May write anything past `len` in `dst`: rows are filled in order.
    fn gather<T: Real>(&self, row: &[T], width: usize, stride: usize, dst: &mut [T], len: usize) {
        let inner = self.interior.clone();
        if stride == 1 {
            copy_blocks(&mut dst[inner.start..], &row[self.first..], inner.len());
        } else if !inner.is_empty() {
            for (d, &x) in dst[inner].iter_mut().zip(row[self.first..width].iter().step_by(stride)) {
                *d = x;
            }
        }
        let border = |q: usize| self.source[q].map_or(T::ZERO, |i| row[i]);
        for q in (0..self.interior.start).chain(self.interior.end..len) {
            dst[q] = border(q);
        }
    }
}

/// The geometry every task shares: sub-volume extents, per-tap offsets and
/// the padding maps.
struct Plan {
    cg: usize,
    og: usize,
    in_channels: usize,
    out_channels: usize,
    batch: usize,
    taps: usize,
    mode: PaddingMode,
    input: [usize; MAX_SPATIAL_DIMS],
    out: [usize; MAX_SPATIAL_DIMS],
    stride: [usize; MAX_SPATIAL_DIMS],
    pad: [usize; MAX_SPATIAL_DIMS],
    padded: [usize; MAX_SPATIAL_DIMS],
    q: [usize; MAX_SPATIAL_DIMS],
    in_pixels: usize,
    out_pixels: usize,
    /// Elements of one sub-volume, and of one channel's buffer (all phases + slack).
    volume: usize,
    channel: usize,
    /// One past the last flat index of a real output pixel.
    flat_len: usize,
    /// Per tap: its phase and its offset inside that phase's sub-volume.
    tap_phase: Vec<usize>,
    tap_shift: Vec<usize>,
    /// Per phase: its taps, in order.
    phase_taps: Vec<Vec<usize>>,
    /// The largest tap shift: the zero margin in front of a flat gradient.
    margin: usize,
    /// Per axis, per phase of that axis.
    maps: [Vec<PhaseMap>; MAX_SPATIAL_DIMS],
    group_block: usize,
    /// Whether the forward pass runs `LANES` channels at a time, interleaved.
    interleaved: bool,
    /// For the interleaved pass: the input index each padded position
    /// reads, `ZERO_PAD` for a zero.
    sources: Vec<usize>,
    /// For the interleaved pass: each output pixel's flat index.
    flat_index: lanes::Positions,
    /// For the interleaved pass with `interior_only`: each input pixel's
    /// position in a channel buffer (every pixel lands in exactly one).
    input_positions: lanes::Positions,
    /// For the interleaved input gradient (where `input_positions` is
    /// set): each output pixel's position in the flat output gradient,
    /// after its zero margin.
    gradient_positions: lanes::Positions,
    /// The runs of channel-buffer positions no input pixel lands in: what
    /// the interleaved buffer's clearing zeroes (a third of a 28x28
    /// plane's buffer, half of a 14x14's; the rest is overwritten anyway).
    padding_runs: Vec<std::ops::Range<usize>>,
    /// Stride 1 or 2 along the last axis: per input row, the offsets in a
    /// channel buffer of its columns (stride 2: of its even and of its odd
    /// columns; `row_targets`).
    targets: Option<Vec<[usize; 2]>>,
    /// Whether `fill` may copy the input rows alone into a buffer whose
    /// padding `clear` zeroed once (zero padding with `targets`).
    interior_only: bool,
    /// For `narrow` planes: the taps' shifts and the plane extents of the
    /// forward pass and of the input gradient (None where it does not apply).
    narrow_forward: Option<(Vec<narrow::Shift>, narrow::Planes)>,
    narrow_backward: Option<(Vec<narrow::Shift>, narrow::Planes)>,
    /// For the interleaved pass on AVX-512 float32: its taps as the
    /// kernel's rows (`TapRows`), where the last axis allows.
    tap_rows: Option<TapRows>,
}

/// The interleaved pass's taps as the kernel's rows along the last axis
/// (stride 1 or 2, dilation 1), for `interleaved::avx512::correlate_rows_f32`:
/// tap `k` of a row at `offset + (k % stride) * gap + k / stride`.
struct TapRows {
    width: usize,
    stride: usize,
    gap: usize,
    /// Every row's (offset, first tap), in tap order.
    all: Vec<(usize, usize)>,
    /// With zero padding, per output row (`o0 * out1 + o1`): the rows with a
    /// tap inside the input. The others read zeros alone; with finite
    /// weights their products are zeros, and adding a zero leaves every
    /// partial sum as it was (a sum that starts at +0 never becomes -0 in
    /// round-to-nearest), so skipping them keeps the bits.
    inside: Vec<Vec<(usize, usize)>>,
}

/// Whether every value is finite (no early exit: the loop vectorizes).
fn all_finite<T: Real>(values: &[T]) -> bool {
    values.iter().fold(true, |finite, v| finite & v.is_finite())
}

/// A padded position that reads no input element.
const ZERO_PAD: usize = usize::MAX;

/// The runs of `0..len` that `positions` leave out.
fn unfilled_runs(positions: &[usize], len: usize) -> Vec<std::ops::Range<usize>> {
    let mut filled = vec![false; len];
    positions.iter().for_each(|&p| filled[p] = true);
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for p in (0..len).filter(|&p| !filled[p]) {
        match runs.last_mut() {
            Some(run) if run.end == p => run.end += 1,
            _ => runs.push(p..p + 1),
        }
    }
    runs
}

impl Plan {
    fn new<T: Real>(shape: &ConvShape) -> Self {
        let axes = shape.axes();
        let stride = axes.map(|a| a.stride);
        let padded = axes.map(|a| a.input + a.pad_before + a.pad_after);
        let q = [0, 1, 2].map(|i| padded[i].div_ceil(stride[i]));
        let out = shape.output_dims();
        let volume = q.iter().product::<usize>().next_multiple_of(VOLUME_ALIGN);
        let phases = stride.iter().product::<usize>();
        let kernel = axes.map(|a| a.kernel);
        let taps = shape.kernel_taps();
        let (mut tap_phase, mut tap_shift) = (Vec::with_capacity(taps), Vec::with_capacity(taps));
        for t in 0..taps {
            let k = [t / (kernel[1] * kernel[2]), t / kernel[2] % kernel[1], t % kernel[2]];
            let e = [0, 1, 2].map(|i| k[i] * axes[i].dilation);
            tap_phase.push(((e[0] % stride[0]) * stride[1] + e[1] % stride[1]) * stride[2] + e[2] % stride[2]);
            tap_shift.push(((e[0] / stride[0]) * q[1] + e[1] / stride[1]) * q[2] + e[2] / stride[2]);
        }
        let mut phase_taps = vec![Vec::new(); phases];
        for (t, &p) in tap_phase.iter().enumerate() {
            phase_taps[p].push(t);
        }
        let (cg, og) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups());
        let out_pixels = shape.output_pixels();
        let per_group = og * out_pixels + cg * shape.input_pixels();
        let most_pixels = if lanes::available::<T>() { INTERLEAVE_MAX_PIXELS } else { INTERLEAVE_MAX_PIXELS_BY_ELEMENT };
        let interleaved = cg == 1 && og == 1 && out_pixels <= most_pixels;
        let maps = [0, 1, 2].map(|i| (0..stride[i]).map(|p| PhaseMap::new(&axes[i], shape.padding_mode(), p, q[i])).collect());
        let group_block = (TASK_ELEMENTS / per_group.max(1)).clamp(1, shape.groups().div_ceil(MIN_BLOCKS).max(1));
        let mut plan = Plan {
            cg,
            og,
            in_channels: shape.in_channels(),
            out_channels: shape.out_channels(),
            batch: shape.batch(),
            taps,
            mode: shape.padding_mode(),
            input: axes.map(|a| a.input),
            out,
            stride,
            pad: axes.map(|a| a.pad_before),
            padded,
            q,
            in_pixels: shape.input_pixels(),
            out_pixels,
            volume,
            channel: phases * volume + SLACK,
            flat_len: ((out[0] - 1) * q[1] + out[1] - 1) * q[2] + out[2],
            margin: tap_shift.iter().copied().max().unwrap_or(0),
            tap_phase,
            tap_shift,
            phase_taps,
            maps,
            group_block,
            interleaved,
            sources: Vec::new(),
            flat_index: lanes::Positions::default(),
            input_positions: lanes::Positions::default(),
            gradient_positions: lanes::Positions::default(),
            padding_runs: Vec::new(),
            targets: None,
            interior_only: false,
            narrow_forward: None,
            narrow_backward: None,
            tap_rows: None,
        };
        plan.targets = plan.row_targets();
        plan.interior_only = plan.targets.is_some() && plan.mode == PaddingMode::Zeros;
        (plan.narrow_forward, plan.narrow_backward) = plan.narrow_shifts(shape);
        // Interleaved with the rows kernel, small planes beat `narrow` (a
        // 2-core Zen 5, batch 1 and 8, 3x3 to 7x7 kernels: 8 x 960 x 7x7,
        // 7x7 kernel, 0.41 -> 0.18 ms; 8 x 576 x 14x14, 3x3: 0.167 -> 0.148
        // ms). Larger planes gain with wide kernels and channels enough for
        // both threads (8 x 144 x 56x56, 7x7 kernel: 2.9 -> 1.4 ms); with
        // 3x3 kernels or a few blocks of channels, batch 1 lost (1 x 32 x
        // 112x112, 3x3: 0.09 -> 0.21 ms; 1 x 48 x 56x56, 5x5: 0.069 -> 0.093 ms).
        let rows_pay = out_pixels <= most_pixels || (kernel[2] >= 5 && shape.out_channels() >= ROWS_MIN_CHANNELS);
        if cg == 1 && og == 1 && rows_pay && wide_registers() && std::mem::size_of::<T>() == 4 {
            plan.tap_rows = plan.tap_rows(shape);
        }
        if plan.tap_rows.is_some() {
            plan.interleaved = true;
            plan.narrow_forward = None;
        }
        if plan.interleaved {
            plan.group_block = plan.group_block.next_multiple_of(LANES);
            plan.sources = plan.padded_sources();
            let (q, o) = (plan.q, plan.out);
            plan.flat_index = lanes::Positions::new((0..out_pixels).map(|p| (p / o[2] / o[1] * q[1] + p / o[2] % o[1]) * q[2] + p % o[2]).collect());
            if let (Some(targets), true) = (&plan.targets, plan.interior_only) {
                let column = |[even, odd]: [usize; 2], i: usize| match (plan.stride[2], i % 2) {
                    (1, _) => even + i,
                    (_, 0) => even + i / 2,
                    _ => odd + i / 2,
                };
                plan.input_positions = lanes::Positions::new(targets.iter().flat_map(|&t| (0..plan.input[2]).map(move |i| column(t, i))).collect());
                plan.padding_runs = unfilled_runs(&plan.input_positions, plan.channel);
                plan.gradient_positions = lanes::Positions::new(plan.flat_index.iter().map(|&j| plan.margin + j).collect());
            }
        }
        plan
    }

    /// The taps as `TapRows`, where the last axis has dilation 1, stride 1
    /// or 2 and at most `MAX_ROW_TAPS` taps.
    fn tap_rows(&self, shape: &ConvShape) -> Option<TapRows> {
        let axes = shape.axes();
        let (width, stride, gap) = (axes[2].kernel, self.stride[2], self.volume);
        if axes[2].dilation != 1 || stride > 2 || width < stride || width > interleaved::MAX_ROW_TAPS {
            return None;
        }
        let all: Vec<(usize, usize)> = (0..self.taps).step_by(width).map(|t| (self.tap_offset(t), t)).collect();
        let laid_out = |&(offset, tap): &(usize, usize)| (0..width).all(|k| self.tap_offset(tap + k) == offset + (k % stride) * gap + k / stride);
        if !all.iter().all(laid_out) {
            return None;
        }
        // Whether output index `o` along `axis` reads an input element at kernel index `k`.
        let reads_input = |axis: usize, o: usize, k: usize| {
            let padded = o * self.stride[axis] + k * axes[axis].dilation;
            (self.pad[axis]..self.pad[axis] + self.input[axis]).contains(&padded)
        };
        let (k1, k2) = (axes[1].kernel, axes[2].kernel);
        let row_inside = |o0: usize, o1: usize, tap: usize| (tap..tap + width).any(|t| reads_input(0, o0, t / (k1 * k2)) && reads_input(1, o1, t / k2 % k1));
        let inside = match self.mode {
            PaddingMode::Zeros => (0..self.out[0] * self.out[1])
                .map(|r| all.iter().copied().filter(|&(_, tap)| row_inside(r / self.out[1], r % self.out[1], tap)).collect())
                .collect(),
            _ => Vec::new(),
        };
        Some(TapRows { width, stride, gap, all, inside })
    }

    /// Per position of a channel buffer (all phases), the input index it
    /// holds, or `ZERO_PAD`.
    fn padded_sources(&self) -> Vec<usize> {
        let (s, q) = (self.stride, self.q);
        let mut sources = vec![ZERO_PAD; s.iter().product::<usize>() * self.volume];
        for p0 in 0..s[0] {
            for p1 in 0..s[1] {
                for p2 in 0..s[2] {
                    let base = ((p0 * s[1] + p1) * s[2] + p2) * self.volume;
                    for (i, source) in sources[base..][..q.iter().product::<usize>()].iter_mut().enumerate() {
                        let (q0, q1, q2) = (i / (q[1] * q[2]), i / q[2] % q[1], i % q[2]);
                        let (r0, r1, r2) = (self.maps[0][p0].source[q0], self.maps[1][p1].source[q1], self.maps[2][p2].source[q2]);
                        if let (Some(r0), Some(r1), Some(r2)) = (r0, r1, r2) {
                            *source = (r0 * self.input[1] + r1) * self.input[2] + r2;
                        }
                    }
                }
            }
        }
        sources
    }

    /// The `narrow` kernel's taps for 2-D, stride-1, zero-padded depthwise
    /// shapes (one channel in and out per group): forward
    /// `y[r][c] += w * x[r + k1*d1 - pad1][c + k2*d2 - pad2]`, and its adjoint
    /// `dx[r][c] += w * dy[r - k1*d1 + pad1][c - k2*d2 + pad2]`.
    #[allow(clippy::type_complexity)]
    fn narrow_shifts(&self, shape: &ConvShape) -> (Option<(Vec<narrow::Shift>, narrow::Planes)>, Option<(Vec<narrow::Shift>, narrow::Planes)>) {
        let axes = shape.axes();
        let plain = self.mode == PaddingMode::Zeros
            && self.cg == 1
            && self.og == 1
            && self.stride == [1, 1, 1]
            && self.input[0] == 1
            && axes[0].kernel == 1
            && self.out[0] == 1;
        if !plain {
            return (None, None);
        }
        let taps = |sign: isize| -> Vec<narrow::Shift> {
            let (k1, k2) = (axes[1].kernel, axes[2].kernel);
            (0..k1 * k2)
                .map(|t| {
                    let (e1, e2) = (((t / k2) * axes[1].dilation) as isize, ((t % k2) * axes[2].dilation) as isize);
                    narrow::Shift { row: sign * (e1 - self.pad[1] as isize), column: sign * (e2 - self.pad[2] as isize) }
                })
                .collect()
        };
        let (input, out) = ([self.input[1], self.input[2]], [self.out[1], self.out[2]]);
        (Some((taps(1), narrow::Planes { src: input, dst: out })), Some((taps(-1), narrow::Planes { src: out, dst: input })))
    }

    /// `targets` (see there), None for strides above 2 on the last axis.
    fn row_targets(&self) -> Option<Vec<[usize; 2]>> {
        let (s2, pad2) = (self.stride[2], self.pad[2]);
        if s2 > 2 {
            return None;
        }
        // Column i sits at padded position pad2 + i: phase (pad2 + i) % s2,
        // element (pad2 + i) / s2 of that phase's row.
        let column = |i: usize| ((pad2 + i) % s2) * self.volume + (pad2 + i) / s2;
        let rows = (0..self.input[0] * self.input[1]).map(|r| {
            let base = self.row_offset(r / self.input[1] + self.pad[0], r % self.input[1] + self.pad[1]);
            [base + column(0), base + column(1)]
        });
        Some(rows.collect())
    }

    /// Zeroes channel buffers before `fill`s with `interior_only`.
    fn clear<T: Real>(&self, buffers: &mut [T]) {
        if self.interior_only {
            buffers.fill(T::ZERO);
        }
    }

    /// Copies input `plane` into channel buffer `dst` in polyphase order
    /// (see `fill_all`); with `interior_only` only the input's own elements,
    /// onto the zeros `clear` left (their positions are the same for every
    /// plane).
    #[inline(always)]
    fn fill<T: Real>(&self, plane: &[T], dst: &mut [T], zero_rest: bool) {
        match &self.targets {
            Some(targets) if self.interior_only => {
                let width = self.input[2];
                for (row, &[a, b]) in plane.chunks_exact(width).zip(targets) {
                    if self.stride[2] == 1 {
                        rows::copy_row(row, uninit_view(&mut dst[a..][..width]));
                    } else {
                        let (even, odd) = disjoint(dst, a, width.div_ceil(2), b, width / 2);
                        rows::split_row(row, even, odd);
                    }
                }
            }
            _ => self.fill_all(plane, dst, zero_rest),
        }
    }

    /// Offset of tap `t` in a channel buffer.
    fn tap_offset(&self, t: usize) -> usize {
        self.tap_phase[t] * self.volume + self.tap_shift[t]
    }

    /// Offset, in a channel buffer, of padded row `(r0, r1)`'s first element
    /// of phase 0 along the last axis.
    fn row_offset(&self, r0: usize, r1: usize) -> usize {
        let (s, q) = (self.stride, self.q);
        let phase = ((r0 % s[0]) * s[1] + r1 % s[1]) * s[2];
        phase * self.volume + ((r0 / s[0]) * q[1] + r1 / s[1]) * q[2]
    }

    /// Copies input `plane` into `dst` (one channel buffer) in polyphase
    /// order. With `zero_rest` the gaps after the sub-volumes and the slack
    /// are zeroed too; otherwise they hold anything, which only lanes that
    /// are thrown away read.
    #[inline(always)]
    fn fill_all<T: Real>(&self, plane: &[T], dst: &mut [T], zero_rest: bool) {
        let (s, q, width) = (self.stride, self.q, self.input[2]);
        let real = q.iter().product::<usize>();
        for p0 in 0..s[0] {
            for p1 in 0..s[1] {
                for (p2, columns) in self.maps[2].iter().enumerate() {
                    let base = ((p0 * s[1] + p1) * s[2] + p2) * self.volume;
                    for q0 in 0..q[0] {
                        for q1 in 0..q[1] {
                            let start = base + (q0 * q[1] + q1) * q[2];
                            match (self.maps[0][p0].source[q0], self.maps[1][p1].source[q1]) {
                                (Some(r0), Some(r1)) => {
                                    let row = &plane[(r0 * self.input[1] + r1) * width..];
                                    columns.gather(row, width, s[2], &mut dst[start..], q[2])
                                }
                                _ => dst[start..][..q[2]].fill(T::ZERO),
                            }
                        }
                    }
                    if zero_rest {
                        dst[base + real..base + self.volume].fill(T::ZERO);
                    }
                }
            }
        }
        if zero_rest {
            let phases = s.iter().product::<usize>();
            dst[phases * self.volume..self.channel].fill(T::ZERO);
        }
    }

    /// Writes output plane (o, o, o) of `dst` from the flat results, plus `bias`.
    #[inline(always)]
    fn scatter<T: Real>(&self, flat: &[T], dst: &mut [MaybeUninit<T>], bias: Option<T>) {
        let (q, out) = (self.q, self.out);
        for r in 0..out[0] * out[1] {
            let (o0, o1) = (r / out[1], r % out[1]);
            let src = &flat[(o0 * q[1] + o1) * q[2]..];
            let row = &mut dst[r * out[2]..];
            match bias {
                Some(b) => row[..out[2]].iter_mut().zip(src).for_each(|(d, &v)| {
                    d.write(v + b);
                }),
                None => rows::copy_row(&src[..out[2]], &mut row[..out[2]]),
            }
        }
    }

    /// Lays output-gradient `plane` out flat at `margin` in `dst`, onto a
    /// `dst` that is zero elsewhere (zeroed once: every plane writes the
    /// same positions).
    #[inline(always)]
    fn flatten<T: Real>(&self, plane: &[T], margin: usize, dst: &mut [T]) {
        let (q, out) = (self.q, self.out);
        for (r, row) in plane.chunks_exact(out[2]).enumerate() {
            let (o0, o1) = (r / out[1], r % out[1]);
            rows::copy_row(row, uninit_view(&mut dst[margin + (o0 * q[1] + o1) * q[2]..][..out[2]]));
        }
    }

    fn input_plane<'a, T>(&self, input: &'a [T], n: usize, channel: usize) -> &'a [T] {
        &input[(n * self.in_channels + channel) * self.in_pixels..][..self.in_pixels]
    }

    fn output_plane<'a, T>(&self, output: &'a [T], n: usize, channel: usize) -> &'a [T] {
        &output[(n * self.out_channels + channel) * self.out_pixels..][..self.out_pixels]
    }

    /// Weights of output channel `oc`: (input channel of the group, tap).
    fn weights_of<'a, T>(&self, weight: &'a [T], oc: usize) -> &'a [T] {
        &weight[oc * self.cg * self.taps..][..self.cg * self.taps]
    }

    /// Output planes of image `n`, groups `g0..`, into `out` (those groups' channels).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn forward_block<T: Real>(&self, n: usize, g0: usize, input: &[T], weight: &[T], bias: Option<&[T]>, out: &mut [MaybeUninit<T>], scratch: &mut [T]) {
        let (planes, flat) = scratch.split_at_mut(self.cg * self.channel);
        self.clear(planes);
        let len = self.flat_len.next_multiple_of(VOLUME_ALIGN);
        let offsets: Vec<usize> = (0..self.cg).flat_map(|c| (0..self.taps).map(move |t| c * self.channel + self.tap_offset(t))).collect();
        let mut taps = Vec::with_capacity(offsets.len());
        let mut weights = vec![T::ZERO; OUT_BLOCK * offsets.len()];
        for (gi, out_g) in out.chunks_mut(self.og * self.out_pixels).enumerate() {
            let g = g0 + gi;
            for (c, buffer) in planes.chunks_exact_mut(self.channel).enumerate() {
                self.fill(self.input_plane(input, n, g * self.cg + c), buffer, false);
            }
            if self.og == 1 {
                let w = self.weights_of(weight, g);
                taps.clear();
                taps.extend(offsets.iter().copied().zip(w.iter().copied()));
                correlate_lanes(planes, &taps, &mut flat[..len], false);
                self.scatter(flat, out_g, bias.map(|b| b[g]));
                continue;
            }
            // Several output channels per group: each input vector loaded
            // once for `OUT_BLOCK` of them (the same sums, in the same order).
            for (ob, dst) in out_g.chunks_mut(OUT_BLOCK * self.out_pixels).enumerate() {
                let first = g * self.og + ob * OUT_BLOCK;
                let count = dst.len() / self.out_pixels;
                for (k, w) in weights.chunks_exact_mut(OUT_BLOCK).enumerate() {
                    // Outputs past `count` repeat the last; they are dropped.
                    w.iter_mut().enumerate().for_each(|(o, w)| *w = self.weights_of(weight, first + o.min(count - 1))[k]);
                }
                correlate_outputs(planes, &offsets, &weights, flat, self.volume, len);
                for (o, dst) in dst.chunks_exact_mut(self.out_pixels).enumerate() {
                    self.scatter(&flat[o * self.volume..], dst, bias.map(|b| b[first + o]));
                }
            }
        }
    }

    /// `forward_block` for one input and one output channel per group,
    /// `LANES` channels at a time: their padded planes interleaved
    /// (position-major), every tap one multiply-add of `LANES` channels.
    /// Each output is the same sum in the same order as in `forward_block`,
    /// so the bits are the same; only the per-plane overheads are shared.
    /// Blocks of channels with finite weights skip the tap rows that read
    /// padding alone (see `TapRows::inside`).
    #[allow(clippy::too_many_arguments)]
    fn forward_interleaved<T: Real>(&self, n: usize, g0: usize, input: &[T], lane_weights: &[T], bias: Option<&[T]>, out: &mut [MaybeUninit<T>], scratch: &mut [T]) {
        let (mixed, flat) = scratch.split_at_mut(LANES * self.channel);
        let offsets: Vec<usize> = (0..self.taps).map(|t| self.tap_offset(t)).collect();
        // The taps of output row `r`, or all of them (None).
        let correlate = |r: Option<usize>, src: &[T], weights: &[T], dst: &mut [T]| match (&self.tap_rows, r) {
            (Some(rows), Some(r)) if !rows.inside.is_empty() => correlate_interleaved_rows(src, rows, &rows.inside[r], weights, dst),
            (Some(rows), _) => correlate_interleaved_rows(src, rows, &rows.all, weights, dst),
            (None, _) => correlate_interleaved(src, &offsets, weights, dst),
        };
        let vector = lanes::available::<T>();
        for (b, out_b) in out.chunks_mut(LANES * self.out_pixels).enumerate() {
            let first = g0 + b * LANES;
            let count = out_b.len() / self.out_pixels;
            // Lanes past `count` read the last channel again; their outputs are dropped.
            let planes: [usize; LANES] = std::array::from_fn(|c| (n * self.in_channels + first + c.min(count - 1)) * self.in_pixels);
            self.interleave_input(input, &planes, mixed, b == 0);
            let weights = &lane_weights[first * self.taps..][..LANES * self.taps];
            let (q, o) = (self.q, self.out);
            let row_len = o[2].next_multiple_of(VOLUME_ALIGN / 2);
            if row_len * o[0] * o[1] < self.flat_len {
                // Only the output rows, not the columns between them: their
                // values are the same, the thrown-away work less.
                let finite = all_finite(weights);
                for r in 0..o[0] * o[1] {
                    let j = (r / o[1] * q[1] + r % o[1]) * q[2];
                    correlate(finite.then_some(r), &mixed[j * LANES..], weights, &mut flat[j * LANES..][..row_len * LANES]);
                }
            } else {
                let len = self.flat_len.next_multiple_of(VOLUME_ALIGN) * LANES;
                correlate(None, mixed, weights, &mut flat[..len]);
            }
            if vector {
                let bias: Option<[T; LANES]> = bias.map(|b| std::array::from_fn(|c| b[first + c.min(count - 1)]));
                lanes::deinterleave(flat, &self.flat_index, bias.as_ref(), count, out_b);
            } else {
                for (c, dst) in out_b.chunks_exact_mut(self.out_pixels).enumerate() {
                    scatter_lane(&flat[c..], &self.flat_index, bias.map(|b| b[first + c]), dst);
                }
            }
        }
    }

    /// The weights of the interleaved pass, per block of `LANES` channels
    /// (from channel 0; lanes past the last channel repeat it): tap-major,
    /// `weights[(block * taps + t) * LANES + c]`, laid out once per call, a
    /// block per task (serial, this was a tenth of a batch-8 7x7 layer).
    /// The taps come in the order of `order` (tap indices).
    fn lane_weights<T: Real>(&self, weight: &[T], order: &[usize], threads: usize) -> Vec<T> {
        let blocks = self.out_channels.div_ceil(LANES);
        let mut lanes = vec![T::ZERO; blocks * self.taps * LANES];
        for_each_chunk_mut(threads, &mut lanes, self.taps * LANES, |b, block| {
            for c in 0..LANES {
                let channel = &weight[(b * LANES + c).min(self.out_channels - 1) * self.taps..][..self.taps];
                for (i, &t) in order.iter().enumerate() {
                    block[i * LANES + c] = channel[t];
                }
            }
        });
        lanes
    }

    /// `LANES` input planes (at `planes` in `input`) into `mixed`,
    /// interleaved: with vector transposes where `lanes` runs and the
    /// padding is zeros (`mixed` is zeroed first when `clear`, and its
    /// padding stays zero: every plane fills the same positions), else
    /// element by element.
    fn interleave_input<T: Real>(&self, input: &[T], planes: &[usize; LANES], mixed: &mut [T], clear: bool) {
        if self.input_positions.is_empty() || !lanes::available::<T>() {
            return gather_lanes(input, planes, &self.sources, mixed);
        }
        if clear {
            for run in &self.padding_runs {
                mixed[run.start * LANES..run.end * LANES].fill(T::ZERO);
            }
        }
        lanes::interleave(input, planes, &self.input_positions, mixed);
    }

    /// `backward_input_block` for one input and one output channel per
    /// group, `LANES` channels at a time: the output gradients interleaved
    /// (flat, after a zero margin), every phase of the padded input
    /// gradient one interleaved correlation with that phase's taps, and
    /// the input's own positions moved out (zero padding: nothing to fold
    /// back). The same sums in the same order as one plane at a time.
    /// `lane_weights` has each phase's taps together, phases in order.
    fn backward_input_interleaved<T: Real>(&self, n: usize, g0: usize, grad_output: &[T], lane_weights: &[T], dx: &mut [MaybeUninit<T>], scratch: &mut [T]) {
        let (padded, dy) = scratch.split_at_mut(LANES * self.channel);
        // Every block fills the same positions: the margin and gaps stay zero.
        dy.fill(T::ZERO);
        let phase_offsets: Vec<Vec<usize>> = self.phase_taps.iter().map(|taps| taps.iter().map(|&t| self.margin - self.tap_shift[t]).collect()).collect();
        for (b, dx_b) in dx.chunks_mut(LANES * self.in_pixels).enumerate() {
            let first = g0 + b * LANES;
            let count = dx_b.len() / self.in_pixels;
            // Lanes past `count` read the last channel again; their results are dropped.
            let planes: [usize; LANES] = std::array::from_fn(|c| (n * self.out_channels + first + c.min(count - 1)) * self.out_pixels);
            lanes::interleave(grad_output, &planes, &self.gradient_positions, dy);
            let mut weights = &lane_weights[first * self.taps..][..LANES * self.taps];
            for (phase, offsets) in phase_offsets.iter().enumerate() {
                let (phase_weights, rest) = weights.split_at(offsets.len() * LANES);
                correlate_interleaved(dy, offsets, phase_weights, &mut padded[phase * self.volume * LANES..][..self.volume * LANES]);
                weights = rest;
            }
            lanes::deinterleave(padded, &self.input_positions, None, count, dx_b);
        }
    }

    /// Input-gradient planes of image `n`, groups `g0..`, into `dx`.
    #[inline(always)]
    fn backward_input_block<T: Real>(&self, n: usize, g0: usize, weight: &[T], grad_output: &[T], dx: &mut [T], scratch: &mut [T]) {
        let (padded, dy) = scratch.split_at_mut(self.cg * self.channel);
        dy.fill(T::ZERO);
        let mut taps = Vec::with_capacity(self.taps);
        for (gi, dx_g) in dx.chunks_mut(self.cg * self.in_pixels).enumerate() {
            let g = g0 + gi;
            for o in 0..self.og {
                let oc = g * self.og + o;
                self.flatten(self.output_plane(grad_output, n, oc), self.margin, dy);
                let w = self.weights_of(weight, oc);
                for (c, buffer) in padded.chunks_exact_mut(self.channel).enumerate() {
                    for (phase, phase_taps) in self.phase_taps.iter().enumerate() {
                        taps.clear();
                        taps.extend(phase_taps.iter().map(|&t| (self.margin - self.tap_shift[t], w[c * self.taps + t])));
                        correlate_lanes(dy, &taps, &mut buffer[phase * self.volume..][..self.volume], o > 0);
                    }
                }
            }
            for (buffer, plane) in padded.chunks_exact(self.channel).zip(dx_g.chunks_exact_mut(self.in_pixels)) {
                self.fold(buffer, plane);
            }
        }
    }

    /// The input gradient of one channel from its padded gradient `padded`:
    /// the interior, plus (other than zero padding) every padded element
    /// added to the input element it copied, in padded order.
    #[inline(always)]
    fn fold<T: Real>(&self, padded: &[T], plane: &mut [T]) {
        let (input, pad, s) = (self.input, self.pad, self.stride);
        let width = input[2];
        if let Some(targets) = &self.targets {
            for (row, &[a, b]) in plane.chunks_exact_mut(width).zip(targets) {
                if s[2] == 1 {
                    rows::copy_row(&padded[a..][..width], uninit_view(row));
                } else {
                    rows::merge_row(&padded[a..][..width.div_ceil(2)], &padded[b..][..width / 2], row);
                }
            }
        } else {
            // Where input column i sits in a padded row: phase, then element.
            let columns: Vec<usize> = (pad[2]..pad[2] + width).map(|pos| (pos % s[2]) * self.volume + pos / s[2]).collect();
            for (r, row) in plane.chunks_exact_mut(width).enumerate() {
                let base = self.row_offset(r / input[1] + pad[0], r % input[1] + pad[1]);
                for (d, &column) in row.iter_mut().zip(&columns) {
                    *d = padded[base + column];
                }
            }
        }
        if self.mode == PaddingMode::Zeros {
            return;
        }
        let source = |axis: usize, r: usize| self.mode.source(r as isize - pad[axis] as isize, input[axis]);
        let inside = |axis: usize, r: usize| (pad[axis]..pad[axis] + input[axis]).contains(&r);
        for r0 in 0..self.padded[0] {
            for r1 in 0..self.padded[1] {
                let (Some(i0), Some(i1)) = (source(0, r0), source(1, r1)) else { continue };
                let base = self.row_offset(r0, r1);
                let interior_row = inside(0, r0) && inside(1, r1);
                for r2 in (0..self.padded[2]).filter(|&r2| !(interior_row && inside(2, r2))) {
                    if let Some(i2) = source(2, r2) {
                        plane[(i0 * input[1] + i1) * input[2] + i2] += padded[base + (r2 % s[2]) * self.volume + r2 / s[2]];
                    }
                }
            }
        }
    }

    /// Weight gradients of groups `g0..` into `dw`, images added in order.
    #[inline(always)]
    fn backward_weight_block<T: Real>(&self, g0: usize, input: &[T], grad_output: &[T], dw: &mut [T], scratch: &mut [T]) {
        let (planes, dy) = scratch.split_at_mut(self.cg * self.channel);
        self.clear(planes);
        dy.fill(T::ZERO);
        let len = self.flat_len.next_multiple_of(DOT_MULTIPLE);
        for (gi, dw_g) in dw.chunks_mut(self.og * self.cg * self.taps).enumerate() {
            let g = g0 + gi;
            for n in 0..self.batch {
                for (c, buffer) in planes.chunks_exact_mut(self.channel).enumerate() {
                    self.fill(self.input_plane(input, n, g * self.cg + c), buffer, true);
                }
                for (o, dw_o) in dw_g.chunks_exact_mut(self.cg * self.taps).enumerate() {
                    self.flatten(self.output_plane(grad_output, n, g * self.og + o), 0, dy);
                    for (c, dw_c) in dw_o.chunks_exact_mut(self.taps).enumerate() {
                        for (t, d) in dw_c.iter_mut().enumerate() {
                            let x = &planes[c * self.channel + self.tap_offset(t)..];
                            let mut sum = dot_lanes(&dy[..len], &x[..len]);
                            if sum.is_nan() {
                                // The flat layout also multiplies the zeros
                                // between rows by input elements outside this
                                // tap's window: an infinity there makes a NaN
                                // the definition does not have. Redo it exactly.
                                sum = self.dot_real_pixels(dy, x);
                            }
                            *d += sum;
                        }
                    }
                }
            }
        }
    }

    /// `backward_weight_block` for one input and one output channel per
    /// group, `LANES` channels at a time (interleaved as in
    /// `forward_interleaved`): per channel and tap one multiply-add chain
    /// over the flat pixels in order, so no lanes to add up at the end.
    fn backward_weight_interleaved<T: Real>(&self, g0: usize, input: &[T], grad_output: &[T], dw: &mut [T], scratch: &mut [T]) {
        let (mixed, rest) = scratch.split_at_mut(LANES * self.channel);
        let dy = &mut rest[..LANES * self.flat_len];
        let offsets: Vec<usize> = (0..self.taps).map(|t| self.tap_offset(t)).collect();
        let mut sums = vec![T::ZERO; self.taps * LANES];
        for (b, dw_b) in dw.chunks_mut(LANES * self.taps).enumerate() {
            let first = g0 + b * LANES;
            let count = dw_b.len() / self.taps;
            for n in 0..self.batch {
                let planes: [usize; LANES] = std::array::from_fn(|c| (n * self.in_channels + first + c.min(count - 1)) * self.in_pixels);
                self.interleave_input(input, &planes, mixed, b == 0 && n == 0);
                if lanes::available::<T>() {
                    // Every block fills the same positions: zero the rest once.
                    if b == 0 && n == 0 {
                        dy.fill(T::ZERO);
                    }
                    let planes = std::array::from_fn(|c| (n * self.out_channels + first + c.min(count - 1)) * self.out_pixels);
                    lanes::interleave(grad_output, &planes, &self.flat_index, dy);
                } else {
                    dy.fill(T::ZERO);
                    for c in 0..count {
                        let plane = self.output_plane(grad_output, n, first + c);
                        for (&v, &j) in plane.iter().zip(self.flat_index.iter()) {
                            dy[j * LANES + c] = v;
                        }
                    }
                }
                weight_sums(mixed, &offsets, dy, &mut sums);
                for (c, dw_c) in dw_b.chunks_exact_mut(self.taps).enumerate() {
                    for (t, d) in dw_c.iter_mut().enumerate() {
                        let mut sum = sums[t * LANES + c];
                        if sum.is_nan() {
                            // As in `backward_weight_block`: redo over real pixels.
                            sum = self.flat_index.iter().fold(T::ZERO, |acc, &j| {
                                dy[j * LANES + c].fused_mul_add(mixed[(offsets[t] + j) * LANES + c], acc)
                            });
                        }
                        *d += sum;
                    }
                }
            }
        }
    }

    /// The weight-gradient dot product over real output pixels only.
    fn dot_real_pixels<T: Real>(&self, dy: &[T], x: &[T]) -> T {
        let (q, out) = (self.q, self.out);
        let mut sum = T::ZERO;
        for r in 0..out[0] * out[1] {
            let j = (r / out[1] * q[1] + r % out[1]) * q[2];
            for (&a, &b) in dy[j..][..out[2]].iter().zip(&x[j..][..out[2]]) {
                sum = a.fused_mul_add(b, sum);
            }
        }
        sum
    }
}

/// A function compiled three times (AVX-512, AVX2 + FMA, baseline) from
/// one `#[inline(always)]` body, the best the CPU runs chosen per call.
/// Fused multiply-adds round once in every version, so all give the same bits.
macro_rules! multiversioned {
    ($(#[$doc:meta])* fn $name:ident<T: Real>($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $body:ident) => {
        $(#[$doc])*
        fn $name<T: Real>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(x86_simd)]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512<T: Real>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2<T: Real>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                match super::tile_isa() {
                    // SAFETY: the CPU has AVX-512F (`tile_isa`), which
                    // implies AVX2 and FMA on every CPU that has it.
                    super::TileIsa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: the CPU has AVX2 and FMA (`tile_isa`).
                    super::TileIsa::Avx2 => return unsafe { avx2($($arg),*) },
                    super::TileIsa::Portable => {}
                }
            }
            $body($($arg),*)
        }
    };
}

multiversioned! {
    /// `Plan::forward_block`, everything in it compiled for the CPU's best
    /// instruction set (the row copies and sums inline).
    fn forward_block<T: Real>(plan: &Plan, at: (usize, usize), input: &[T], weight: &[T], bias: Option<&[T]>, out: &mut [MaybeUninit<T>], scratch: &mut [T]) = forward_block_inline
}

#[inline(always)]
fn forward_block_inline<T: Real>(plan: &Plan, (n, g0): (usize, usize), input: &[T], weight: &[T], bias: Option<&[T]>, out: &mut [MaybeUninit<T>], scratch: &mut [T]) {
    plan.forward_block(n, g0, input, weight, bias, out, scratch)
}

multiversioned! {
    /// `Plan::backward_input_block`, compiled as `forward_block`.
    fn backward_input_block<T: Real>(plan: &Plan, at: (usize, usize), weight: &[T], grad_output: &[T], dx: &mut [T], scratch: &mut [T]) = backward_input_inline
}

#[inline(always)]
fn backward_input_inline<T: Real>(plan: &Plan, (n, g0): (usize, usize), weight: &[T], grad_output: &[T], dx: &mut [T], scratch: &mut [T]) {
    plan.backward_input_block(n, g0, weight, grad_output, dx, scratch)
}

multiversioned! {
    /// `Plan::backward_weight_block`, compiled as `forward_block`.
    fn backward_weight_block<T: Real>(plan: &Plan, g0: usize, input: &[T], grad_output: &[T], dw: &mut [T], scratch: &mut [T]) = backward_weight_inline
}

#[inline(always)]
fn backward_weight_inline<T: Real>(plan: &Plan, g0: usize, input: &[T], grad_output: &[T], dw: &mut [T], scratch: &mut [T]) {
    plan.backward_weight_block(g0, input, grad_output, dw, scratch)
}

multiversioned! {
    #[cfg(test)]
    /// `dst[j] (+)= sum over taps of weight * src[offset + j]`, taps added in
    /// order (after the value `dst` held when `accumulate`), for a `dst` whose
    /// length is a multiple of `VOLUME_ALIGN`.
    fn correlate<T: Real>(src: &[T], taps: &[(usize, T)], dst: &mut [T], accumulate: bool) = correlate_lanes
}

multiversioned! {
    /// `dst[pos][c] = input[planes[c] + sources[pos]]` (zero for `ZERO_PAD`):
    /// `LANES` padded planes, interleaved.
    fn gather_lanes<T: Real>(input: &[T], planes: &[usize; LANES], sources: &[usize], dst: &mut [T]) = gather_lanes_body
}

#[inline(always)]
fn gather_lanes_body<T: Real>(input: &[T], planes: &[usize; LANES], sources: &[usize], dst: &mut [T]) {
    for (lanes, &source) in dst.chunks_exact_mut(LANES).zip(sources) {
        let lanes: &mut [T; LANES] = lanes.try_into().expect("LANES values");
        if source == ZERO_PAD {
            *lanes = [T::ZERO; LANES];
        } else {
            for (v, &plane) in lanes.iter_mut().zip(planes) {
                *v = input[plane + source];
            }
        }
    }
}

multiversioned! {
    /// One channel's output plane from interleaved flat results (its lane
    /// first in `flat`): `dst[p] = flat[index[p] * LANES] (+ bias)`.
    fn scatter_lane<T: Real>(flat: &[T], index: &[usize], bias: Option<T>, dst: &mut [MaybeUninit<T>]) = scatter_lane_body
}

#[inline(always)]
fn scatter_lane_body<T: Real>(flat: &[T], index: &[usize], bias: Option<T>, dst: &mut [MaybeUninit<T>]) {
    match bias {
        Some(b) => dst.iter_mut().zip(index).for_each(|(d, &j)| {
            d.write(flat[j * LANES] + b);
        }),
        None => dst.iter_mut().zip(index).for_each(|(d, &j)| {
            d.write(flat[j * LANES]);
        }),
    }
}

multiversioned! {
    /// `sums[t][c] = sum over j of dy[j][c] * x[offsets[t] + j][c]`, `j` in
    /// order, for interleaved `x` and `dy`.
    fn weight_sums<T: Real>(x: &[T], offsets: &[usize], dy: &[T], sums: &mut [T]) = weight_sums_body
}

#[inline(always)]
fn weight_sums_body<T: Real>(x: &[T], offsets: &[usize], dy: &[T], sums: &mut [T]) {
    // A tap's LANES channels per row of independent chains: `lane_rows`
    // rows fill eight registers, and up to a quarter more still fit beside
    // the output gradient. The taps are spread evenly over the fewest
    // passes: 3x3 on AVX2 as 5 + 4, not 4 + 4 + 1, whose single tap
    // leaves two chains waiting on the multiply-add's latency.
    let rows = lane_rows::<T>();
    let passes = offsets.len().div_ceil(rows + rows / 4);
    match offsets.len().div_ceil(passes.max(1)) {
        0..=2 => weight_sums_taps::<T, 2>(x, offsets, dy, sums),
        3..=4 => weight_sums_taps::<T, 4>(x, offsets, dy, sums),
        5 => weight_sums_taps::<T, 5>(x, offsets, dy, sums),
        6..=8 => weight_sums_taps::<T, 8>(x, offsets, dy, sums),
        _ => weight_sums_taps::<T, 10>(x, offsets, dy, sums),
    }
}

/// `weight_sums`, `TAPS` taps at a time.
#[inline(always)]
fn weight_sums_taps<T: Real, const TAPS: usize>(x: &[T], offsets: &[usize], dy: &[T], sums: &mut [T]) {
    for (offsets, sums) in offsets.chunks(TAPS).zip(sums.chunks_mut(TAPS * LANES)) {
        // Exactly TAPS taps (a short last chunk repeats its last tap, whose
        // extra sums are dropped), so the loop over them unrolls and the
        // accumulators stay in registers (with the chunk's own length they
        // went to the stack: twice the time of torch's on 8 x 960 x 7x7).
        let taps: [usize; TAPS] = std::array::from_fn(|t| offsets[t.min(offsets.len() - 1)]);
        let mut acc = [[T::ZERO; LANES]; TAPS];
        for (j, d) in dy.chunks_exact(LANES).enumerate() {
            let d: &[T; LANES] = d.try_into().expect("LANES values");
            for (a, &offset) in acc.iter_mut().zip(&taps) {
                interleaved_step(a, &x[(offset + j) * LANES..][..LANES], d);
            }
        }
        for (s, a) in sums.chunks_exact_mut(LANES).zip(&acc) {
            s.copy_from_slice(a);
        }
    }
}

multiversioned! {
    /// `correlate` of `LANES` interleaved channels: `dst[j][c] = sum over
    /// taps t of weights[t][c] * src[offsets[t] + j][c]`, taps in order.
    fn correlate_interleaved<T: Real>(src: &[T], offsets: &[usize], weights: &[T], dst: &mut [T]) = interleaved_lanes
}

#[inline(always)]
fn interleaved_lanes<T: Real>(src: &[T], offsets: &[usize], weights: &[T], dst: &mut [T]) {
    #[cfg(x86_simd)]
    if wide_registers() {
        // SAFETY: the CPU has AVX-512F (`wide_registers`); T is f32 when
        // its size is 4 and f64 otherwise (the only `Real`s), so the views
        // keep lengths and layouts.
        unsafe {
            match std::mem::size_of::<T>() {
                4 => interleaved::avx512::correlate_f32(same(src), offsets, same(weights), same_mut(dst)),
                _ => interleaved::avx512::correlate_f64(same(src), offsets, same(weights), same_mut(dst)),
            }
        }
        return;
    }
    // A position's LANES channels per row of accumulators.
    match lane_rows::<T>() {
        4 => interleaved_chunks::<T, 4>(src, offsets, weights, dst),
        _ => interleaved_chunks::<T, 2>(src, offsets, weights, dst),
    }
}

/// # Safety
/// `U` has `T`'s size and layout.
#[cfg(x86_simd)]
unsafe fn same<T, U>(v: &[T]) -> &[U] {
    // SAFETY: the caller's contract; the same memory and length.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) }
}

/// # Safety
/// `U` has `T`'s size and layout.
#[cfg(x86_simd)]
unsafe fn same_mut<T, U>(v: &mut [T]) -> &mut [U] {
    // SAFETY: the caller's contract; the same memory and length, borrowed for as long.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len()) }
}

/// `correlate_interleaved` for taps in the kernel rows of `layout`
/// (`TapRows`), those of `rows` (`(offset, first tap)` each; `weights` has
/// every tap's). On AVX-512 float32 each row's source vectors are loaded
/// once for all its taps (`interleaved::avx512::correlate_rows_f32`); the
/// same bits either way.
fn correlate_interleaved_rows<T: Real>(src: &[T], layout: &TapRows, rows: &[(usize, usize)], weights: &[T], dst: &mut [T]) {
    let (width, stride, gap) = (layout.width, layout.stride, layout.gap);
    #[cfg(x86_simd)]
    if wide_registers() && std::mem::size_of::<T>() == 4 {
        use interleaved::avx512::correlate_rows_f32 as kernel;
        // SAFETY: T is f32 (the only 4-byte `Real`), so the views keep
        // lengths and layouts; the CPU has AVX-512F (`wide_registers`).
        let (src, weights, dst) = unsafe { (same(src), same(weights), same_mut(dst)) };
        type Kernel = unsafe fn(&[f32], &[(usize, usize)], usize, &[f32], &mut [f32]);
        let run: Option<Kernel> = match (width, stride) {
            (1, 1) => Some(kernel::<1, 1>),
            (2, 1) => Some(kernel::<2, 1>),
            (3, 1) => Some(kernel::<3, 1>),
            (4, 1) => Some(kernel::<4, 1>),
            (5, 1) => Some(kernel::<5, 1>),
            (6, 1) => Some(kernel::<6, 1>),
            (7, 1) => Some(kernel::<7, 1>),
            (8, 1) => Some(kernel::<8, 1>),
            (2, 2) => Some(kernel::<2, 2>),
            (3, 2) => Some(kernel::<3, 2>),
            (4, 2) => Some(kernel::<4, 2>),
            (5, 2) => Some(kernel::<5, 2>),
            (6, 2) => Some(kernel::<6, 2>),
            (7, 2) => Some(kernel::<7, 2>),
            (8, 2) => Some(kernel::<8, 2>),
            _ => None,
        };
        if let Some(run) = run {
            // SAFETY: the CPU has AVX-512F, all the kernel requires.
            return unsafe { run(src, rows, gap, weights, dst) };
        }
    }
    // Elsewhere (`Plan` asks for rows only where the above runs): the rows' taps one by one.
    let taps = || rows.iter().flat_map(|&(offset, tap)| (0..width).map(move |k| (offset + (k % stride) * gap + k / stride, tap + k)));
    let offsets: Vec<usize> = taps().map(|(offset, _)| offset).collect();
    let tap_weights: Vec<T> = taps().flat_map(|(_, tap)| weights[tap * LANES..][..LANES].iter().copied()).collect();
    correlate_interleaved(src, &offsets, &tap_weights, dst)
}

/// How many rows of `LANES` values fill eight vector registers: 8 float32
/// rows with AVX-512, 4 with AVX2 (or float64 with AVX-512), 2 for float64
/// with AVX2 (see `wide_registers`).
#[inline(always)]
fn lane_rows<T>() -> usize {
    let register_bytes = if wide_registers() { 64 } else { 32 };
    8 * register_bytes / (LANES * std::mem::size_of::<T>())
}

/// `P` positions of `LANES` channels at a time.
#[inline(always)]
fn interleaved_chunks<T: Real, const P: usize>(src: &[T], offsets: &[usize], weights: &[T], dst: &mut [T]) {
    let weights = &weights[..offsets.len() * LANES];
    for (i, d) in dst.chunks_exact_mut(P * LANES).enumerate() {
        let mut acc = [[T::ZERO; LANES]; P];
        for (&offset, w) in offsets.iter().zip(weights.chunks_exact(LANES)) {
            let w: &[T; LANES] = w.try_into().expect("LANES weights");
            // One bounds check per tap, not one per position.
            let x = &src[(offset + i * P) * LANES..][..P * LANES];
            for (a, x) in acc.iter_mut().zip(x.chunks_exact(LANES)) {
                interleaved_step(a, x, w);
            }
        }
        for (d, a) in d.chunks_exact_mut(LANES).zip(&acc) {
            d.copy_from_slice(a);
        }
    }
}

#[inline(always)]
fn interleaved_step<T: Real>(acc: &mut [T; LANES], x: &[T], w: &[T; LANES]) {
    let x: &[T; LANES] = x.try_into().expect("LANES values");
    for l in 0..LANES {
        acc[l] = x[l].fused_mul_add(w[l], acc[l]);
    }
}

#[inline(always)]
fn correlate_lanes<T: Real>(src: &[T], taps: &[(usize, T)], dst: &mut [T], accumulate: bool) {
    // The largest chunk: eight registers of accumulators.
    match (std::mem::size_of::<T>(), wide_registers()) {
        (4, true) => correlate_chunks::<T, 128, 32, 16>(src, taps, dst, accumulate),
        (4, false) => correlate_chunks::<T, 64, 32, 16>(src, taps, dst, accumulate),
        (_, true) => correlate_chunks::<T, 64, 16, 8>(src, taps, dst, accumulate),
        _ => correlate_chunks::<T, 32, 16, 8>(src, taps, dst, accumulate),
    }
}

/// Whether the kernels run on AVX-512's 512-bit registers: the chunk sizes
/// are set to keep eight registers of accumulators, and the same sizes on
/// AVX2's 256-bit registers would take all 16 and spill (`perf annotate`
/// on Zen 3 showed accumulators stored to the stack in every tap). The
/// chunks only group outputs: every output's sum is the same either way.
#[inline(always)]
fn wide_registers() -> bool {
    super::tile_isa() == super::TileIsa::Avx512
}

#[inline(always)]
fn correlate_chunks<T: Real, const BIG: usize, const MID: usize, const SMALL: usize>(
    src: &[T],
    taps: &[(usize, T)],
    dst: &mut [T],
    accumulate: bool,
) {
    debug_assert!(dst.len().is_multiple_of(SMALL));
    let mut i = 0;
    while dst.len() - i >= BIG {
        correlate_chunk::<T, BIG>(src, taps, i, &mut dst[i..], accumulate);
        i += BIG;
    }
    while dst.len() - i >= MID {
        correlate_chunk::<T, MID>(src, taps, i, &mut dst[i..], accumulate);
        i += MID;
    }
    while dst.len() - i >= SMALL {
        correlate_chunk::<T, SMALL>(src, taps, i, &mut dst[i..], accumulate);
        i += SMALL;
    }
}

/// `dst[o * stride + j] = sum over k of weights[k * OUT_BLOCK + o] * src[offsets[k] + j]`
/// for `j < len` (a multiple of `VOLUME_ALIGN`) and the `OUT_BLOCK`
/// outputs `o`, taps `k` in order: `correlate` of several weight sets at once.
#[inline(always)]
fn correlate_outputs<T: Real>(src: &[T], offsets: &[usize], weights: &[T], dst: &mut [T], stride: usize, len: usize) {
    // `OUT_BLOCK` rows of accumulators, eight registers in all at most.
    match (std::mem::size_of::<T>(), wide_registers()) {
        (4, true) => outputs_chunks::<T, 32, 16>(src, offsets, weights, dst, stride, len),
        (4, false) | (8, true) => outputs_chunks::<T, 16, 8>(src, offsets, weights, dst, stride, len),
        _ => outputs_chunks::<T, 8, 8>(src, offsets, weights, dst, stride, len),
    }
}

#[inline(always)]
fn outputs_chunks<T: Real, const BIG: usize, const SMALL: usize>(src: &[T], offsets: &[usize], weights: &[T], dst: &mut [T], stride: usize, len: usize) {
    let mut at = 0;
    while len - at >= BIG {
        outputs_chunk::<T, BIG>(src, offsets, weights, dst, stride, at);
        at += BIG;
    }
    while len - at >= SMALL {
        outputs_chunk::<T, SMALL>(src, offsets, weights, dst, stride, at);
        at += SMALL;
    }
}

#[inline(always)]
fn outputs_chunk<T: Real, const L: usize>(src: &[T], offsets: &[usize], weights: &[T], dst: &mut [T], stride: usize, at: usize) {
    let mut acc = [[T::ZERO; L]; OUT_BLOCK];
    for (&offset, w) in offsets.iter().zip(weights.chunks_exact(OUT_BLOCK)) {
        let x: &[T; L] = src[offset + at..][..L].try_into().expect("a slice of L elements");
        for (acc, &w) in acc.iter_mut().zip(w) {
            for l in 0..L {
                acc[l] = x[l].fused_mul_add(w, acc[l]);
            }
        }
    }
    for (o, acc) in acc.iter().enumerate() {
        dst[o * stride + at..][..L].copy_from_slice(acc);
    }
}

/// Outputs `at..at + L` into `dst[..L]`.
#[inline(always)]
fn correlate_chunk<T: Real, const L: usize>(src: &[T], taps: &[(usize, T)], at: usize, dst: &mut [T], accumulate: bool) {
    let dst: &mut [T; L] = (&mut dst[..L]).try_into().expect("a slice of L elements");
    let mut acc = if accumulate { *dst } else { [T::ZERO; L] };
    for &(offset, w) in taps {
        let x: &[T; L] = src[offset + at..][..L].try_into().expect("a slice of L elements");
        for l in 0..L {
            acc[l] = x[l].fused_mul_add(w, acc[l]);
        }
    }
    *dst = acc;
}

/// `dst[..len] = src[..len]`, in whole blocks of 16 when both slices have
/// room for the rounded-up length (small copies without a `memcpy` call);
/// past `len`, `dst` then receives whatever follows in `src`.
#[inline(always)]
fn copy_blocks<T: Copy>(dst: &mut [T], src: &[T], len: usize) {
    const BLOCK: usize = 16;
    let rounded = len.next_multiple_of(BLOCK);
    if dst.len() >= rounded && src.len() >= rounded {
        for (d, s) in dst[..rounded].chunks_exact_mut(BLOCK).zip(src[..rounded].chunks_exact(BLOCK)) {
            let d: &mut [T; BLOCK] = d.try_into().expect("a block");
            *d = s.try_into().expect("a block");
        }
    } else {
        dst[..len].copy_from_slice(&src[..len]);
    }
}

multiversioned! {
    #[cfg(test)]
    /// `sum a[i] * b[i]` for lengths that are a multiple of `DOT_MULTIPLE`, in
    /// fixed lanes added pairwise at the end.
    fn dot<T: Real>(a: &[T], b: &[T]) -> T = dot_lanes
}

#[inline(always)]
fn dot_lanes<T: Real>(a: &[T], b: &[T]) -> T {
    if std::mem::size_of::<T>() == 4 {
        dot_fixed::<T, 64>(a, b)
    } else {
        dot_fixed::<T, 32>(a, b)
    }
}

#[inline(always)]
fn dot_fixed<T: Real, const L: usize>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; L];
    for (x, y) in a.chunks_exact(L).zip(b.chunks_exact(L)) {
        for l in 0..L {
            acc[l] = x[l].fused_mul_add(y[l], acc[l]);
        }
    }
    let mut width = L;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0]
}

/// `dst[a..a + a_len]` and `dst[b..b + b_len]`, which must not overlap.
#[inline(always)]
fn disjoint<T>(dst: &mut [T], a: usize, a_len: usize, b: usize, b_len: usize) -> (&mut [T], &mut [T]) {
    if a < b {
        let (lo, hi) = dst.split_at_mut(b);
        (&mut lo[a..][..a_len], &mut hi[..b_len])
    } else {
        let (lo, hi) = dst.split_at_mut(a);
        (&mut hi[..a_len], &mut lo[b..][..b_len])
    }
}

pub(crate) mod lanes;
mod interleaved;
mod narrow;
mod rows;
#[cfg(test)]
mod tests;
