//! The shifted-window source, for stride-1 convolutions.
//!
//! With stride 1, the im2col row of kernel tap `(th, tw)` and channel `c`
//! is the padded input plane of `c` shifted by `th * dilation` rows and
//! `tw * dilation` columns. So once a band of output rows has its input rows
//! copied with their padding ("slab", `Wp = W + pad` columns wide), row `k`
//! of the product's right-hand side is the slab itself, read at the tap's
//! offset: output `(r, x)` of the band is column `r * Wp + x`, and the
//! columns `x >= OW` of each row are computed and discarded. Compared with
//! im2col this skips writing and re-reading `kh * kw` copies of the input
//! (Chellapilla et al.'s matrix is never formed), at the price of `Wp - OW`
//! wasted columns per row — hence `suits`.
//!
//! A stride `s` along an axis is brought back to stride 1 by splitting the
//! padded rows (or columns) into `s` phases, `r = q * s + phase`: tap `t`
//! of output `y` reads padded row `y * s + t * dilation`, which is phase
//! `(t * dilation) % s` at phase row `y + (t * dilation) / s`. So the slab
//! holds every phase plane of each input row band, `Wq = ceil(Wp / s)`
//! columns wide, and a tap is again one offset (phase plane plus shift).
//!
//! In 3-D the slab of one output depth slice holds the `(kd - 1) * dilation + 1`
//! input slices it reads, each a band of padded rows, so a tap's shift is
//! `td * dilation * slice + ...`, still one offset into the slab. An unpadded 1x1 kernel needs no copy at all: the
//! input planes are the slab, and the output rows are the product's columns.

use super::{ChannelParts, MAX_WASTED_COLUMNS};
use crate::conv::geometry::{ConvShape, PaddingMode, Window};
use crate::conv::matmul::Real;
use crate::conv::microkernel::{tile_width, Block, Matrix, RowsRef};
use crate::parallel::{effective_threads, for_each_chunk_mut, for_each_task, SharedMut};

/// Per-task workspace (slab + output staging) the bands are sized to.
const WORKSPACE_BYTES: usize = 1 << 20;
/// Output rows below which an image's bands are not cut further for the
/// threads (see `Bands::at_least`): the halo rows each band copies again.
const MIN_BAND_ROWS: usize = 4;
/// Right-hand side bytes per task when the input is read in place.
const IN_PLACE_BYTES: usize = 512 << 10;

/// Whether this source computes `shape` well: the vector lanes it computes
/// (output rows padded to the phase width, bands rounded up to whole
/// vectors) exceed the outputs by little, against what packing im2col
/// columns would cost instead: a copy of `C/groups * taps` values per
/// output, worth about `16 / (O/groups)` of its multiply-adds (a copy per
/// value against `O/groups` FMAs, 32 lanes per cycle). So a 7x7 image
/// (1.31 lanes per output at 3x3) suits 32 output channels per group but
/// not 512, and 56x56 (1.04) suits all.
pub(super) fn suits(shape: &ConvShape) -> bool {
    let group_out = (shape.out_channels() / shape.groups()).max(1);
    lanes_per_output(shape) <= 1.0 + MAX_WASTED_COLUMNS + 16.0 / group_out as f64
}

/// Vector lanes this source computes per output of one image slice: the
/// output rows padded to the phase width, each band rounded up to whole
/// vectors (1.31 for a 7x7 image at 3x3, 1.04 for 56x56).
pub(super) fn lanes_per_output(shape: &ConvShape) -> f64 {
    let bands = Bands::new::<f32>(shape);
    let lane = tile_width::<f32>() / super::super::microkernel::VECTORS;
    let lanes: usize = (0..bands.bands)
        .map(|b| ((bands.rows(b).1 - 1) * bands.phase_w + bands.out_w).next_multiple_of(lane))
        .sum();
    lanes as f64 / (bands.out_h * bands.out_w).max(1) as f64
}

/// Whether a whole output row's slab fits the workspace (rows are not cut
/// into segments).
pub(super) fn fits_whole_rows(shape: &ConvShape) -> bool {
    Bands::new::<f64>(shape).segments == 1
}

/// A slab row holds positions `q0..q0 + len` of a phase row (column phase
/// `phase`); of those, `first..end` (counted from `q0`) hold input
/// columns, the first of them being input column `at`: the same for every
/// row, so worked out once per phase plane.
#[derive(Clone, Copy)]
struct PhaseColumns {
    phase: usize,
    q0: usize,
    first: usize,
    end: usize,
    at: usize,
}

impl PhaseColumns {
    fn new(cols: &Window, phase: usize, q0: usize, len: usize) -> Self {
        let (stride, before, width) = (cols.stride, cols.pad_before, cols.input);
        // Positions q whose column q * stride + phase - before lies in the row.
        let end = (before + width).saturating_sub(phase).div_ceil(stride).clamp(q0, q0 + len);
        let first = before.saturating_sub(phase).div_ceil(stride).clamp(q0, end);
        let at = (first * stride + phase).saturating_sub(before);
        PhaseColumns { phase, q0, first: first - q0, end: end - q0, at }
    }
}

/// Positions `span.first..span.end` of `rows` slab rows (`line_stride`
/// apart in `lines`): every `stride`-th element of input rows `src` (rows
/// `src_stride` apart) from `span.at` on. With `odd` (column stride 2, the
/// other phase starting at the next input element), that phase's rows too,
/// in the same pass.
#[allow(clippy::too_many_arguments)]
fn copy_columns<T: Real>(src: &[T], src_stride: usize, stride: usize, span: PhaseColumns, lines: &mut [T], line_stride: usize, rows: usize, odd: Option<(PhaseColumns, &mut [T])>) {
    let PhaseColumns { first, end, at, .. } = span;
    let width = end.saturating_sub(first);
    let odd_width = odd.as_ref().map_or(0, |(o, _)| o.end - o.first);
    if rows == 0 || (width == 0 && odd_width == 0) {
        return;
    }
    // Elements of a source row read from `at`, and slab positions written.
    let needed = (stride * width).saturating_sub(stride - 1).max(2 * odd_width);
    assert!((rows - 1) * src_stride + at + needed <= src.len(), "source rows too short");
    assert!((rows - 1) * line_stride + end <= lines.len(), "slab rows too short");
    let src = src[at..].as_ptr();
    let dst = lines[first..].as_mut_ptr();
    // SAFETY: the asserts above keep `rows` source rows of `needed`
    // elements from `at` inside `src` and `rows` lines of positions
    // first..end inside `lines` (and the odd phase's inside its own
    // buffer, checked below); the source and the slab are distinct buffers.
    unsafe {
        match (stride, odd) {
            (1, _) => T::copy_rows(src, src_stride, dst, line_stride, width, rows),
            (2, None) => T::deinterleave_rows(src, src_stride, [dst, std::ptr::null_mut()], line_stride, [width, 0], rows),
            (2, Some((o, odd_lines))) => {
                assert!((rows - 1) * line_stride + o.end <= odd_lines.len(), "slab rows too short");
                T::deinterleave_rows(src, src_stride, [dst, odd_lines[o.first..].as_mut_ptr()], line_stride, [width, odd_width], rows);
            }
            _ => {
                for r in 0..rows {
                    for i in 0..width {
                        *dst.add(r * line_stride + i) = *src.add(r * src_stride + i * stride);
                    }
                }
            }
        }
    }
}

/// Whether some kernel tap reads phase `phase` of `axis` (a 1x1 kernel with
/// stride 2 reads one phase of four; the others are never filled or read).
fn read_phase(axis: &Window, phase: usize) -> bool {
    (0..axis.kernel).any(|t| t * axis.dilation % axis.stride == phase)
}

/// Columns of a phase row: `ceil(padded width / stride)`.
fn phase_width(cols: &Window) -> usize {
    (cols.input + cols.pad_before + cols.pad_after).div_ceil(cols.stride)
}

/// `output = conv(input, weight) + bias` (any shape; best where it
/// `suits`), every element of the output written once, never read.
///
/// # Safety
/// `out` must point at `shape.output_len()` elements valid for writes
/// that nothing else accesses during the call; the other buffers are checked.
pub(super) unsafe fn forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weights: &[Matrix<'_, T>],
    bias: Option<&[T]>,
    out: SharedMut<T>,
    threads: usize,
) {
    if shape.is_pointwise() {
        // Stride 1, no padding: the input is its own slab.
        // SAFETY: the caller's contract, passed on.
        return unsafe { in_place(shape, input, weights, bias, out, threads) };
    }
    let (cg, og) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups());
    let out_d = shape.output_dims()[0];
    let bands = Bands::new::<T>(shape).at_least(super::bands_wanted(shape, shape.output_dims()[0], threads));
    let pieces = bands.bands * bands.segments;
    let per_image = shape.groups() * out_d * pieces;
    let parts = ChannelParts::new(og, shape.batch() * per_image, threads);
    let workspace = bands.slab_len(cg, bands.rows_per_band) + parts.per_part * bands.rows_per_band * bands.row_w;
    let mut task = Band { shape, input, weights, bias, bands, parts, out, full_band_offsets: Vec::new() };
    task.full_band_offsets = task.tap_offsets(bands.rows_per_band);
    let place = |t: usize, part: usize| {
        let (image, rest) = (t / per_image, t % per_image);
        let (group, rest) = (rest / (out_d * pieces), rest % (out_d * pieces));
        let (depth, piece) = (rest / pieces, rest % pieces);
        let (band, segment) = (piece / bands.segments, piece % bands.segments);
        Place { image, group, depth, band, segment, part }
    };
    if parts.parts > 1 {
        // Fewer pieces than the threads want tasks: each piece's slab is
        // filled once (its channels in parallel) and shared by the tasks of
        // its channel parts, rather than filled again by each (at batch 1
        // that was every task copying the whole image).
        let (slab_len, staging) = (bands.slab_len(cg, bands.rows_per_band), parts.per_part * bands.rows_per_band * bands.row_w);
        T::with_call_scratch(slab_len, |slab| {
            for t in 0..shape.batch() * per_image {
                let at = place(t, 0);
                let slab = task.fill_slab_parallel(at, slab, threads);
                for_each_task(threads, parts.parts, |part| T::with_scratch(staging, |staging| task.multiply(Place { part, ..at }, slab, staging)));
            }
        });
        return;
    }
    for_each_task(threads, shape.batch() * per_image, |t| T::with_scratch(workspace, |scratch| task.run(place(t, 0), scratch)));
}

/// `grad_weight` of `conv_forward`, one task per group: each band of
/// each image is copied into a slab as the forward pass does, its output
/// gradient transposed onto the slab's grid (zeros in the discarded
/// columns), and every tap's `(C/groups) x (O/groups)` gradient block is
/// then one product on the tiles — A the slab's channel rows at the tap's
/// shift, B the transposed gradient — added over bands and images in order.
/// So each element is one chain over (image, band, grid column), fixed by
/// the shape: thread-invariant. The discarded columns add `0 * x`, exact
/// for finite inputs (the caller sends the others elsewhere).
///
/// With fewer groups than threads (an ungrouped layer), each group's input
/// channels are cut into parts, one task each: a part fills the slab rows
/// of its channels only, and the products' rows are its channels, so no
/// chain changes and the cut may follow the thread count.
pub(super) fn backward_weight<T: Real>(shape: &ConvShape, input: &[T], grad_output: &[T], grad_weight: &mut [T], threads: usize) {
    let bands = Bands::new::<T>(shape);
    assert!(bands.segments == 1, "rows cut into segments");
    let (cg, og, taps) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups(), shape.kernel_taps());
    assert_eq!(grad_weight.len(), shape.groups() * og * cg * taps, "grad_weight of the wrong size");
    let grid = bands.rows_per_band * bands.row_w;
    let per_part = cg.div_ceil(effective_threads(threads).div_ceil(shape.groups()).clamp(1, cg.max(1)));
    let parts = cg.div_ceil(per_part.max(1)).max(1);
    let workspace = bands.slab_len(per_part, bands.rows_per_band) + grid * og + taps * per_part * og;
    let channel_parts = ChannelParts { per_part: og, parts: 1 };
    let mut task = Band { shape, input, weights: &[], bias: None, bands, parts: channel_parts, out: SharedMut(std::ptr::null_mut()), full_band_offsets: Vec::new() };
    task.full_band_offsets = task.tap_offsets(bands.rows_per_band);
    let grid_rows: Vec<usize> = (0..grid).map(|j| j * og).collect();
    let dw = SharedMut(grad_weight.as_mut_ptr());
    for_each_task(threads, shape.groups() * parts, |t| {
        let (group, c0) = (t / parts, t % parts * per_part);
        let channels = c0..cg.min(c0 + per_part);
        // SAFETY: the task writes grad_weight[group * og * cg * taps ..][(o * cg + c) * taps + tap]
        // for c in its `channels` only (see `weight_gradient`), inside
        // grad_weight (asserted) and disjoint from every other task's.
        T::with_scratch(workspace, |scratch| unsafe { task.weight_gradient(group, channels, grad_output, &grid_rows, dw, scratch) });
    });
}

/// An unpadded 1x1 kernel with stride 1: each output plane is the group's
/// weights times its input planes, read and written in place, in column
/// chunks whose right-hand side fits in L2.
///
/// # Safety
/// As `forward`.
unsafe fn in_place<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weights: &[Matrix<'_, T>],
    bias: Option<&[T]>,
    out: SharedMut<T>,
    threads: usize,
) {
    let (cg, og, pixels) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups(), shape.output_pixels());
    let width = tile_width::<T>();
    let chunk = (IN_PLACE_BYTES / (cg * std::mem::size_of::<T>()) / width).max(1) * width;
    let chunks = pixels.div_ceil(chunk);
    let per_image = shape.groups() * chunks;
    let parts = ChannelParts::new(og, shape.batch() * per_image, threads);
    let offsets: Vec<usize> = (0..cg).map(|c| c * pixels).collect();
    for_each_task(threads, shape.batch() * per_image * parts.parts, |t| {
        let (t, part) = (t / parts.parts, t % parts.parts);
        let (image, group, chunk_index) = (t / per_image, t / chunks % shape.groups(), t % chunks);
        let (first, count) = (chunk_index * chunk, chunk.min(pixels - chunk_index * chunk));
        let (o0, rows) = parts.range(part, og);
        let channel = group * og + o0;
        let b = &input[(image * shape.in_channels() + group * cg) * pixels + first..];
        let block = Block {
            a: weights[group].rows_from(o0, 0),
            b: b.as_ptr(),
            offsets: offsets.as_ptr(),
            depth: cg,
            // SAFETY: (image, channel, first) is inside the output (checked lengths).
            c: unsafe { out.get().add((image * shape.out_channels() + channel) * pixels + first) },
            ldc: pixels,
            rows,
            cols: count,
            bias: bias.map(|b| b[channel..].as_ptr()),
            accumulate: false,
        };
        // SAFETY: A is the group's weight rows o0..o0+rows; B
        // element (c, j) at b + c*pixels + j, j < count, lies in the group's
        // input planes of this image; C element (i, j) is output plane
        // (image, channel + i) at pixel first + j, inside the output; tasks
        // are distinct (image, group, chunk, part), so their C elements are
        // disjoint, and the caller keeps everything else off the output.
        unsafe { T::multiply(&block) };
    });
}

/// How one image's output rows are cut into bands, and the slab's layout.
#[derive(Clone, Copy, Debug)]
struct Bands {
    out_h: usize,
    out_w: usize,
    /// Columns of a phase row (the padded width when the stride is 1).
    phase_w: usize,
    /// Columns of a slab row: `phase_w`, or for a row cut into segments,
    /// a segment's outputs plus the columns its taps reach past them.
    row_w: usize,
    /// Output columns per segment, and segments per row (1 unless a single
    /// output row's slab is larger than the workspace: long 1-D signals).
    seg_w: usize,
    segments: usize,
    /// Phases along rows and columns: the strides.
    phases: [usize; 2],
    /// Extra phase rows a band of `rows` output rows reads: (kh - 1) * dilation / stride.
    halo: usize,
    /// Input depth slices one output slice reads: (kd - 1) * dilation + 1.
    depth_span: usize,
    rows_per_band: usize,
    bands: usize,
}

impl Bands {
    fn new<T>(shape: &ConvShape) -> Self {
        let [depth, rows, cols] = *shape.axes();
        let [_, out_h, out_w] = shape.output_dims();
        let phase_w = phase_width(&cols);
        let phases = [rows.stride, cols.stride];
        let halo = (rows.kernel - 1) * rows.dilation / rows.stride;
        let depth_span = (depth.kernel - 1) * depth.dilation + 1;
        let group_c = shape.in_channels() / shape.groups();
        let group_o = shape.out_channels() / shape.groups();
        let per_column = (group_c * depth_span * phases[0] * phases[1] + group_o) * std::mem::size_of::<T>();
        let per_row = per_column * phase_w;
        let most = (WORKSPACE_BYTES / per_row.max(1)).clamp(1, out_h.max(1));
        // Equal bands rather than full ones and a short remainder.
        let bands = out_h.div_ceil(most).max(1);
        let rows_per_band = out_h.div_ceil(bands).max(1);
        let (mut row_w, mut seg_w, mut segments) = (phase_w, out_w, 1);
        if per_row > WORKSPACE_BYTES {
            // One row is too large: cut it into equal segments of whole vectors.
            let lane = tile_width::<f32>() / super::super::microkernel::VECTORS;
            let reach = (cols.kernel - 1) * cols.dilation / cols.stride;
            let fit = (WORKSPACE_BYTES / per_column.max(1)).saturating_sub(reach).max(lane);
            segments = out_w.div_ceil(fit).max(1);
            seg_w = out_w.div_ceil(segments).next_multiple_of(lane).min(out_w.max(1));
            segments = out_w.div_ceil(seg_w).max(1);
            row_w = (seg_w + reach).min(phase_w);
        }
        let bands = out_h.div_ceil(rows_per_band);
        Bands { out_h, out_w, phase_w, row_w, seg_w, segments, phases, halo, depth_span, rows_per_band, bands }
    }

    /// The same slab layout cut into `wanted` bands or more, none shorter
    /// than `MIN_BAND_ROWS` rows unless it already was (rows cut into
    /// segments are left alone). An image with too few bands for the
    /// threads (batch 1) is then shared out band by band, each task filling
    /// its own slab, rather than by output channels, every part of a band
    /// waiting on one slab filled by all the threads and multiplying half
    /// the channels against it (ResNet-18's 128 x 28x28 -> 256 x 14x14 at
    /// batch 1, 2 threads, Zen 3: 1.49 -> 1.27 ms). Bands change no bits.
    fn at_least(mut self, wanted: usize) -> Self {
        let most = (self.out_h / MIN_BAND_ROWS).max(1);
        let bands = wanted.min(most);
        if self.segments == 1 && bands > self.bands {
            self.rows_per_band = self.out_h.div_ceil(bands);
            self.bands = self.out_h.div_ceil(self.rows_per_band);
        }
        self
    }

    /// Output columns `first..first + count` of segment `s`.
    fn columns(&self, s: usize) -> (usize, usize) {
        let first = s * self.seg_w;
        (first, self.seg_w.min(self.out_w - first))
    }

    /// Output rows `first..first + count` of band `b`.
    fn rows(&self, b: usize) -> (usize, usize) {
        let first = b * self.rows_per_band;
        (first, self.rows_per_band.min(self.out_h - first))
    }

    /// Elements of one phase plane of a slab for `rows` output rows.
    fn phase_len(&self, rows: usize) -> usize {
        (rows + self.halo) * self.row_w
    }

    /// Elements of one input slice (all its phase planes).
    fn slice_len(&self, rows: usize) -> usize {
        self.phases[0] * self.phases[1] * self.phase_len(rows)
    }

    /// Elements of a slab for `rows` output rows of `channels` channels.
    fn slab_len(&self, channels: usize, rows: usize) -> usize {
        channels * self.depth_span * self.slice_len(rows)
    }
}

/// Which band a task computes.
#[derive(Clone, Copy)]
struct Place {
    image: usize,
    group: usize,
    /// Output depth slice (0 in 1-D and 2-D).
    depth: usize,
    band: usize,
    /// Which segment of the band's rows (see `Bands::columns`).
    segment: usize,
    /// Which range of the group's output channels.
    part: usize,
}

/// What every band task reads, and the output it writes into.
struct Band<'a, T: Clone> {
    shape: &'a ConvShape,
    input: &'a [T],
    weights: &'a [Matrix<'a, T>],
    bias: Option<&'a [T]>,
    bands: Bands,
    parts: ChannelParts,
    out: SharedMut<T>,
    /// `tap_offsets` of a full band (every band but perhaps the last).
    full_band_offsets: Vec<usize>,
}

impl<T: Real> Band<'_, T> {
    fn run(&self, at: Place, scratch: &mut [T]) {
        let cg = self.shape.in_channels() / self.shape.groups();
        let (first, count) = self.bands.rows(at.band);
        let (slab, staging) = scratch.split_at_mut(self.bands.slab_len(cg, count));
        self.fill_slab(at, first, count, self.bands.columns(at.segment).0, 0, slab);
        self.multiply(at, slab, staging);
    }

    /// `fill_slab` of piece `at` into the front of `slab`, its channels
    /// split among the threads; returns the filled part.
    fn fill_slab_parallel<'s>(&self, at: Place, slab: &'s mut [T], threads: usize) -> &'s [T] {
        let cg = self.shape.in_channels() / self.shape.groups();
        let (first, count) = self.bands.rows(at.band);
        let x0 = self.bands.columns(at.segment).0;
        let per_channel = self.bands.slab_len(1, count);
        let slab = &mut slab[..cg * per_channel];
        let chunk = cg.div_ceil(effective_threads(threads)) * per_channel;
        for_each_chunk_mut(threads, slab, chunk, |i, part| self.fill_slab(at, first, count, x0, i * chunk / per_channel, part));
        slab
    }

    /// Piece `at`'s product (its channel part) from its filled `slab`, into
    /// the output (through `staging` where rows have discarded columns).
    fn multiply(&self, at: Place, slab: &[T], staging: &mut [T]) {
        let s = self.shape;
        let og = s.out_channels() / s.groups();
        let (first, count) = self.bands.rows(at.band);
        let (x0, width) = self.bands.columns(at.segment);
        let (o0, rows) = self.parts.range(at.part, og);
        let short_band_offsets;
        let offsets = if count == self.bands.rows_per_band {
            &self.full_band_offsets
        } else {
            short_band_offsets = self.tap_offsets(count);
            &short_band_offsets
        };
        // Output on the slab grid: position r * Wq + x for output (first + r,
        // x0 + x); the last row stops at the segment's width, so no tap reads
        // past its phase plane.
        let columns = (count - 1) * self.bands.row_w + width;
        let channel = at.group * og + o0;
        // A single row, or rows without discarded columns, are the output's
        // own layout: the tiles write there directly.
        let in_place = count == 1 || self.bands.row_w == self.bands.out_w;
        let (c, ldc) = if in_place {
            let (out_h, out_w, pixels) = (self.bands.out_h, self.bands.out_w, s.output_pixels());
            let offset = (at.image * s.out_channels() + channel) * pixels + (at.depth * out_h + first) * out_w + x0;
            // SAFETY: (image, channel, depth, first row) is inside the output.
            (unsafe { self.out.get().add(offset) }, pixels)
        } else {
            (staging.as_mut_ptr(), columns)
        };
        let block = Block {
            a: self.weights[at.group].rows_from(o0, 0),
            b: slab.as_ptr(),
            offsets: offsets.as_ptr(),
            depth: offsets.len(),
            c,
            ldc,
            rows,
            cols: columns,
            bias: self.bias.map(|b| b[channel..].as_ptr()),
            accumulate: false,
        };
        // SAFETY: A is the group's weight rows o0..o0+rows, cg * taps
        // steps. B element (k, j) is slab[offsets[k] + j] with offsets[k] +
        // columns - 1 < slab length (a tap's shift plus the piece's last
        // output position stays inside the tap's phase plane: x * stride +
        // tap * dilation < padded width for every output x, and a segment's
        // row holds its outputs plus the taps' reach). C is either
        // `staging`, this worker's scratch of parts.per_part *
        // rows_per_band * Wq >= rows * columns elements, or (one row, or Wq
        // == out_w) output columns x0..x0+width of rows first..first+count
        // of planes (image, channel..channel+rows), `columns` elements each
        // (ldc = the plane), which only this task (its image, group, depth,
        // band, segment and channel part) writes.
        unsafe { T::multiply(&block) };
        if !in_place {
            self.write_rows(staging, columns, at, channel, rows, first, count);
        }
    }

    /// Group `group`'s weight gradient into `dw` (see `backward_weight`);
    /// `grid_rows[j] = j * O/groups`.
    ///
    /// # Safety
    /// `dw` points at the whole weight gradient; this call writes the
    /// elements of `group`'s input `channels`, which nothing else accesses
    /// during the call.
    unsafe fn weight_gradient(&self, group: usize, channels: std::ops::Range<usize>, grad_output: &[T], grid_rows: &[usize], dw: SharedMut<T>, scratch: &mut [T]) {
        let s = self.shape;
        let b = &self.bands;
        let (cg, og, taps) = (s.in_channels() / s.groups(), s.out_channels() / s.groups(), s.kernel_taps());
        let (c0, cn) = (channels.start, channels.len());
        let (slabs, rest) = scratch.split_at_mut(b.slab_len(cn, b.rows_per_band));
        let (gradient, sums) = rest.split_at_mut(b.rows_per_band * b.row_w * og);
        let sums = &mut sums[..taps * cn * og];
        let pixels = s.output_pixels();
        let mut started = false;
        for image in 0..s.batch() {
            for depth in 0..s.output_dims()[0] {
                for band in 0..b.bands {
                    let (first, count) = b.rows(band);
                    let slab = &mut slabs[..b.slab_len(cn, count)];
                    self.fill_slab(Place { image, group, depth, band, segment: 0, part: 0 }, first, count, 0, c0, slab);
                    let short_band_offsets;
                    let offsets = if count == b.rows_per_band {
                        &self.full_band_offsets
                    } else {
                        short_band_offsets = self.tap_offsets(count);
                        &short_band_offsets
                    };
                    // The output gradient on the slab grid, grid column j = r * Wq + x in row j.
                    let columns = (count - 1) * b.row_w + b.out_w;
                    let gradient = &mut gradient[..columns * og];
                    gradient.fill(T::ZERO);
                    for o in 0..og {
                        let plane = &grad_output[(image * s.out_channels() + group * og + o) * pixels..][..pixels];
                        let rows = &plane[(depth * b.out_h + first) * b.out_w..][..count * b.out_w];
                        for (r, row) in rows.chunks_exact(b.out_w).enumerate() {
                            for (x, &v) in row.iter().enumerate() {
                                gradient[(r * b.row_w + x) * og + o] = v;
                            }
                        }
                    }
                    let plane_stride = if cg > 1 { offsets[taps] - offsets[0] } else { slab.len() };
                    for (t, block_sums) in sums.chunks_exact_mut(cn * og).enumerate() {
                        let block = Block {
                            a: RowsRef::strided(&slab[offsets[t]..], cn, plane_stride, columns),
                            b: gradient.as_ptr(),
                            offsets: grid_rows.as_ptr(),
                            depth: columns,
                            c: block_sums.as_mut_ptr(),
                            ldc: og,
                            rows: cn,
                            cols: og,
                            bias: None,
                            accumulate: started,
                        };
                        // SAFETY: A(c, j) = slab[offsets[t] + c * plane + j]
                        // for j < columns, inside the slab (checked by
                        // `strided`: the tap's shifted window stays in its
                        // phase plane, as in the forward pass); B(j, o) =
                        // gradient[j * og + o] with j < columns <= grid_rows.len(),
                        // o < og; C is this task's `block_sums` (cg * og, ldc og).
                        unsafe { T::multiply(&block) };
                    }
                    started = true;
                }
            }
        }
        if !started {
            sums.fill(T::ZERO);
        }
        // dw[(o * cg + c0 + c) * taps + t] = sums[(t * cn + c) * og + o]
        // in the order sums lie (with a division per element and reads
        // 4 KB apart this took as long as the products of ResNeXt's 7x7
        // groups at batch 8)
        let dw = dw.get().wrapping_add(group * og * cg * taps);
        for (tc, row) in sums.chunks_exact(og).enumerate() {
            let (t, c) = (tc / cn, c0 + tc % cn);
            for (o, &v) in row.iter().enumerate() {
                // SAFETY: o < og, c < cg, t < taps: inside the group's
                // gradient, in a channel of this call's (the caller's contract).
                unsafe { *dw.add((o * cg + c) * taps + t) = v };
            }
        }
    }

    /// Where row `k = c * taps + tap` of the product starts in the slab.
    fn tap_offsets(&self, count: usize) -> Vec<usize> {
        let [depth, rows, cols] = *self.shape.axes();
        let b = &self.bands;
        let (wq, phase_len, slice) = (b.row_w, b.phase_len(count), b.slice_len(count));
        let plane = b.depth_span * slice;
        let cg = self.shape.in_channels() / self.shape.groups();
        let mut offsets = Vec::with_capacity(cg * self.shape.kernel_taps());
        for c in 0..cg {
            for td in 0..depth.kernel {
                for th in 0..rows.kernel {
                    let (ph, qh) = ((th * rows.dilation) % rows.stride, (th * rows.dilation) / rows.stride);
                    for tw in 0..cols.kernel {
                        let (pw, qw) = ((tw * cols.dilation) % cols.stride, (tw * cols.dilation) / cols.stride);
                        let phase = (ph * cols.stride + pw) * phase_len;
                        offsets.push(c * plane + td * depth.dilation * slice + phase + qh * wq + qw);
                    }
                }
            }
        }
        offsets
    }

    /// Copies, with their padding and split into phases, the input rows
    /// the band reads, of the group's channels `c0..` (as many as `slab` holds).
    #[allow(clippy::too_many_arguments)]
    fn fill_slab(&self, at: Place, first: usize, count: usize, x0: usize, c0: usize, slab: &mut [T]) {
        let s = self.shape;
        let [depth, rows, cols] = *s.axes();
        let cg = s.in_channels() / s.groups();
        let b = &self.bands;
        let (slice, phase_len) = (b.slice_len(count), b.phase_len(count));
        let in_plane = rows.input * cols.input;
        // Per phase (row phase, column phase): the columns its rows take
        // from the input, or None for a phase no tap reads.
        let spans: Vec<Option<PhaseColumns>> = (0..rows.stride * cols.stride)
            .map(|phase| {
                let (ph, pw) = (phase / cols.stride, phase % cols.stride);
                let read = read_phase(&rows, ph) && read_phase(&cols, pw);
                read.then(|| PhaseColumns::new(&cols, pw, x0, b.row_w))
            })
            .collect();
        for (c, channel_slab) in slab.chunks_exact_mut(b.depth_span * slice).enumerate() {
            let volume = &self.input[(at.image * s.in_channels() + at.group * cg + c0 + c) * s.input_pixels()..][..s.input_pixels()];
            for (dz, slab_slice) in channel_slab.chunks_exact_mut(slice).enumerate() {
                let z = at.depth * depth.stride + dz;
                let z = s.padding_mode().source(z as isize - depth.pad_before as isize, depth.input);
                let Some(z) = z else {
                    slab_slice.fill(T::ZERO);
                    continue;
                };
                let plane = &volume[z * in_plane..][..in_plane];
                if s.padding_mode() == PaddingMode::Zeros {
                    self.zero_padded_slice(plane, first, &spans, slab_slice);
                    continue;
                }
                for ((phase, phase_plane), span) in slab_slice.chunks_exact_mut(phase_len).enumerate().zip(&spans) {
                    let (Some(span), ph) = (*span, phase / cols.stride) else { continue };
                    for (r, out) in phase_plane.chunks_exact_mut(b.row_w).enumerate() {
                        self.padded_row(plane, (first + r) * rows.stride + ph, span, out);
                    }
                }
            }
        }
    }

    /// One input slice's phase planes with zero padding: zeros, then the
    /// input's part of each row, a phase plane's rows in one call. At
    /// column stride 2 one pass over the input rows fills both column
    /// phases (their columns interleave in the row).
    fn zero_padded_slice(&self, plane: &[T], first: usize, spans: &[Option<PhaseColumns>], slice: &mut [T]) {
        let [_, rows, cols] = *self.shape.axes();
        let (row_w, phase_len) = (self.bands.row_w, slice.len() / spans.len());
        if spans.iter().all(Option::is_some) {
            slice.fill(T::ZERO);
        } else {
            for (phase_plane, _) in slice.chunks_exact_mut(phase_len).zip(spans).filter(|(_, span)| span.is_some()) {
                phase_plane.fill(T::ZERO);
            }
        }
        for (ph, row_phase) in slice.chunks_exact_mut(cols.stride * phase_len).enumerate() {
            // Phase rows r read input row (first + r) * stride + ph - pad: those inside the input.
            let y = |r: usize| ((first + r) * rows.stride + ph).wrapping_sub(rows.pad_before);
            let Some(r0) = (0..phase_len / row_w).find(|&r| y(r) < rows.input) else { continue };
            let count = (r0..phase_len / row_w).take_while(|&r| y(r) < rows.input).count();
            let src = &plane[y(r0) * cols.input..];
            let src_stride = rows.stride * cols.input;
            let spans = &spans[ph * cols.stride..][..cols.stride];
            if let [Some(a), Some(b)] = *spans {
                let (p0, p1) = row_phase.split_at_mut(phase_len);
                let (l0, l1) = (&mut p0[r0 * row_w..], &mut p1[r0 * row_w..]);
                // The phase whose columns start first in the row takes its even elements.
                let ((even, even_lines), (odd, odd_lines)) = if a.at < b.at { ((a, l0), (b, l1)) } else { ((b, l1), (a, l0)) };
                if odd.at == even.at + 1 {
                    copy_columns(src, src_stride, 2, even, even_lines, row_w, count, Some((odd, odd_lines)));
                    continue;
                }
            }
            for (pw, span) in spans.iter().enumerate() {
                if let Some(span) = *span {
                    copy_columns(src, src_stride, cols.stride, span, &mut row_phase[pw * phase_len + r0 * row_w..], row_w, count, None);
                }
            }
        }
    }

    /// Copies the valid columns of the staged band into the output.
    #[allow(clippy::too_many_arguments)]
    fn write_rows(&self, staging: &[T], columns: usize, at: Place, channel: usize, channels: usize, first: usize, count: usize) {
        let s = self.shape;
        let (out_h, out_w, wq, pixels) = (self.bands.out_h, self.bands.out_w, self.bands.row_w, s.output_pixels());
        for o in 0..channels {
            let offset = (at.image * s.out_channels() + channel + o) * pixels + (at.depth * out_h + first) * out_w;
            // SAFETY: output rows first .. first + count of depth slice
            // at.depth of plane (image, channel + o): count * out_w elements
            // from `offset`, inside the output (image < N, channel + o < O,
            // depth < OD, first + count <= out_h). Tasks are distinct (image,
            // group, depth, band, channel part), so no other task touches
            // them; the caller keeps everything else off the output. Each
            // row is written whole (the output may be uninitialized memory).
            let staged = &staging[o * columns..][..(count - 1) * wq + out_w];
            // SAFETY: the rows above, from `staged` (rows wq apart, checked).
            unsafe { T::copy_rows(staged.as_ptr(), wq, self.out.get().add(offset), out_w, out_w, count) };
        }
    }

    /// Row `py` of the padded input at the column phase `span` describes
    /// (padded coordinates: `line[q]` is padded column `(q0 + q) * stride + phase`;
    /// positions past the padding, read only for discarded outputs, are zeros).
    fn padded_row(&self, plane: &[T], py: usize, span: PhaseColumns, line: &mut [T]) {
        let [_, rows, cols] = self.shape.axes();
        let mode = self.shape.padding_mode();
        let inside = py < rows.input + rows.pad_before + rows.pad_after;
        let source = inside.then(|| mode.source(py as isize - rows.pad_before as isize, rows.input)).flatten();
        let Some(y) = source else {
            line.fill(T::ZERO);
            return;
        };
        let src = &plane[y * cols.input..][..cols.input];
        let (stride, before, width, phase) = (cols.stride, cols.pad_before, cols.input, span.phase);
        let PhaseColumns { q0, first, end, .. } = span;
        copy_columns(src, width, stride, span, line, line.len(), 1, None);
        if mode == PaddingMode::Zeros {
            line[..first].fill(T::ZERO);
            line[end..].fill(T::ZERO);
            return;
        }
        let padded_w = before + width + cols.pad_after;
        for q in (0..first).chain(end..line.len()) {
            let x = (q0 + q) * stride + phase;
            let value = (x < padded_w).then(|| mode.source(x as isize - before as isize, width)).flatten();
            line[q] = value.map_or(T::ZERO, |i| src[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row whose slab would pass the workspace is cut into segments
    /// that fit it and cover the row once (`implicit::tests` checks their values).
    #[test]
    fn long_rows_are_cut_into_segments_that_fit_the_workspace() {
        for (channels, out, input, kernel, stride) in [(64, 5, 3001, 3, 2), (512, 512, 3199, 3, 2), (48, 3, 2900, 5, 1)] {
            let axis = Window { input, kernel, stride, dilation: 1, pad_before: 1, pad_after: 1 };
            let shape = ConvShape::new(1, channels, out, 1, &[axis], PaddingMode::Zeros).unwrap();
            let bands = Bands::new::<f64>(&shape);
            let out_w = shape.output_dims()[2];
            assert!(bands.segments > 1, "{shape:?}");
            // Segments are rounded up to whole vectors (16 columns) past the fit.
            let per_column = (channels * stride + out) * 8;
            assert!((bands.slab_len(channels, 1) + out * bands.row_w) * 8 <= WORKSPACE_BYTES + 16 * per_column, "{bands:?}");
            assert!(bands.segments * bands.seg_w >= out_w && (bands.segments - 1) * bands.seg_w < out_w, "{bands:?}");
        }
        let short = ConvShape::new(1, 64, 64, 1, &[Window { input: 56, kernel: 3, stride: 1, dilation: 1, pad_before: 1, pad_after: 1 }; 2], PaddingMode::Zeros).unwrap();
        assert_eq!(Bands::new::<f32>(&short).segments, 1);
    }

    /// Bands cut for the threads cover the rows once, reach the wanted
    /// count where the rows allow, and keep `MIN_BAND_ROWS` rows.
    #[test]
    fn bands_for_the_threads_cover_the_rows_in_long_enough_bands() {
        for (input, stride) in [(56, 2), (28, 2), (14, 1), (9, 1), (3, 1)] {
            let axis = Window { input, kernel: 3, stride, dilation: 1, pad_before: 1, pad_after: 1 };
            let shape = ConvShape::new(1, 64, 128, 1, &[axis; 2], PaddingMode::Zeros).unwrap();
            let plain = Bands::new::<f32>(&shape);
            for wanted in 1..=9 {
                let b = plain.at_least(wanted);
                let case = format!("{input} / {stride}, {wanted} wanted: {b:?}");
                assert!(b.rows_per_band * b.bands >= b.out_h && b.rows_per_band * (b.bands - 1) < b.out_h, "{case}");
                assert!(b.bands >= plain.bands && b.rows_per_band <= plain.rows_per_band, "{case}");
                assert!(b.bands == plain.bands || b.rows_per_band >= MIN_BAND_ROWS, "{case}");
                assert!(b.bands >= wanted.min(b.out_h / MIN_BAND_ROWS), "{case}");
            }
        }
    }
}
