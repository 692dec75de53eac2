//! The channel-vectorized source, for layers with few input channels per
//! group: network stems (3 channels, 7x7, stride 2) and one-channel inputs;
//! and for grouped layers with short reductions on small or strided
//! images (ResNeXt's 32 groups of 32 channels at 7x7), where the
//! shifted windows compute many discarded columns.
//!
//! There the other sources' right-hand side is a few channels split into
//! stride phases and read by every tap at a small shift, so most of the
//! tiles' vector loads straddle two cache lines, and the slab copy and the
//! phase rows' discarded columns add their share. Here the vectors run
//! across output channels instead (oneDNN's stems block the output the same
//! way): a tile is a few outputs by one or two vectors of channels, and each
//! reduction step broadcasts the tile's input values of tap k from a
//! zero-padded copy of the input rows (any stride or dilation: the tap's
//! offset plus each pixel's own position) and multiplies them with step
//! k's channels of the weights, repacked once per call. Every output
//! element is still one chain of fused multiply-adds over k ascending from
//! zero, then `+ bias`: the bits of the other sources.
//!
//! A 3-D kernel three taps deep with depth stride 1 and no depth dilation
//! (a video network's stem, 3x7x7) can also go through Winograd's F(2, 3)
//! along the depth alone (Lavin & Gray 2016, the 1-D case): output slices
//! `2p` and `2p + 1` come from the four input slices `d0..d3` they read as
//! `y0 = m0 + m1 + m2` and `y1 = m1 - m2 - m3`, where each `m_t` is a 2-D
//! convolution of the transformed slice `[d0 - d2, d1 + d2, d2 - d1, d1 - d3][t]`
//! with the transformed depth taps `[g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2][t]`.
//! Four 2-D reductions of `C * kh * kw` steps make two output slices, where
//! the direct chains take two of `3 * C * kh * kw`: 1.5x fewer products.
//! Each `m_t` is one chain as above, and the sums' order is fixed, so the
//! results are still thread- and batch-invariant (not the direct chains' bits).

use crate::conv::geometry::{ConvShape, PaddingMode, Window};
use crate::conv::matmul::Real;
use crate::conv::microkernel::{tile_isa, Matrix, TileIsa};
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
use crate::conv::microkernel::transpose16_f32;
use crate::parallel::{for_each_chunk_mut, for_each_task, SharedMut};

/// Outputs per tile with AVX2 (and portable code): one broadcast each per
/// reduction step, beside two vectors of weights and `2 * PIXELS`
/// accumulators (12 of AVX2's 16 registers).
const PIXELS: usize = 6;
/// Outputs per tile with AVX-512, whose FMAs broadcast from memory and
/// which has 32 registers: 14 accumulators, and 7 divides the 7x7 and
/// 14x14 planes of ResNeXt's grouped layers and a stem's 112x112 (with 6
/// pixels, a 7x7 plane's ninth tile computed one live output).
const AVX512_PIXELS: usize = 7;
/// Outputs per tile at most: one vector of float32 channels on AVX-512.
const MAX_PIXELS: usize = 2 * AVX512_PIXELS;
/// Input channels per group this source takes: the weights of one
/// channel block (reduction steps x two vectors) stay in L1.
const MAX_GROUP_INPUT: usize = 4;
/// Output channels per group this source needs: a tile's channel vectors
/// are then mostly full.
const MIN_GROUP_OUTPUT: usize = 16;
/// Reduction steps below which a tile's staging and stores outweigh its
/// products (wav2vec 2.0's first layer, 10 steps, float64 on a Zen 3: 3.4
/// ms here against 1.4 with the shifted windows).
const MIN_REDUCTION: usize = 16;
/// Padded input rows a task copies at a time (the band stays in L2).
const BAND_BYTES: usize = 128 << 10;
/// Tiles whose outputs are staged before they are copied out in rows (a
/// tile's sums lie across channels; the output's rows along pixels).
const STAGED_TILES: usize = 40;

/// Reduction steps up to which a grouped layer with more input channels
/// per group takes this source (see `suits_grouped`): one channel block's
/// weights, 288 steps of two vectors (18 KB of float32 with AVX2), stay
/// in L1 as for the stems.
const MAX_GROUPED_REDUCTION: usize = 288;
/// Lanes per output of the shifted windows (`slab::lanes_per_output`)
/// from which a stride-1 grouped layer comes here instead.
const MIN_SLAB_LANES: f64 = 1.25;

/// Whether this source computes `shape` well: zero padding, at most
/// `MAX_GROUP_INPUT` input channels per group or a grouped layer that
/// `suits_grouped`, at least `MIN_GROUP_OUTPUT` output channels per group,
/// a reduction of at least `MIN_REDUCTION` steps, and the padded input
/// rows of one output row within `BAND_BYTES` (so a band's copy stays
/// bounded for long 1-D signals).
pub(super) fn suits(shape: &ConvShape) -> bool {
    let [depth, rows, cols] = *shape.axes();
    let cg = shape.in_channels() / shape.groups();
    let row_band = cg * depth.kernel * ((rows.kernel - 1) * rows.dilation + 1) * (cols.input + cols.pad_before + cols.pad_after);
    shape.padding_mode() == PaddingMode::Zeros
        && (cg <= MAX_GROUP_INPUT || suits_grouped(shape))
        && shape.out_channels() / shape.groups() >= MIN_GROUP_OUTPUT
        && row_band * std::mem::size_of::<f32>() <= BAND_BYTES
        && shape.patch_len() >= MIN_REDUCTION
}

/// A grouped layer whose reduction is at most `MAX_GROUPED_REDUCTION`
/// steps, strided or with at least `MIN_SLAB_LANES` lanes of the shifted
/// windows per output, and a kernel of more than one tap (a strided 1x1
/// kernel reads a quarter of its input or less, which im2col gathers
/// more cheaply than a band copies). Its tiles then compute no discarded columns, and
/// strided layers copy no phase planes. Single-core forward times on a Zen
/// 2 (AVX2), ResNeXt-50's 32-group 3x3 layers at batch 8: 7x7 (1.31 lanes
/// per output) 12% faster than the shifted windows, 14x14 to 7x7 at
/// stride 2 9%, 28x28 to 14x14 at stride 2 5%; 14x14 at stride 1 (1.14
/// lanes) 5% slower, so it stays with them.
fn suits_grouped(shape: &ConvShape) -> bool {
    let strided = shape.axes().iter().any(|a| a.stride > 1);
    shape.groups() > 1
        && shape.kernel_taps() > 1
        && shape.patch_len() <= MAX_GROUPED_REDUCTION
        && (strided || super::slab::lanes_per_output(shape) >= MIN_SLAB_LANES)
}

/// Channels and outputs per tile for `T` and `og` output channels per
/// group on the tiles this CPU runs: two vectors of channels by `PIXELS`
/// (`AVX512_PIXELS`) outputs, or one vector when the group's channels fit
/// in it (ResNeXt's 16-channel groups on AVX-512: a second vector would
/// compute only discarded lanes); float32's one vector on AVX-512 then
/// takes twice the outputs (14 accumulators of 32 registers).
fn tile_shape<T: 'static>(og: usize) -> (usize, usize) {
    let avx512 = tile_isa() == TileIsa::Avx512;
    let (vector_bytes, pixels) = if avx512 { (64, AVX512_PIXELS) } else { (32, PIXELS) };
    let lanes = vector_bytes / std::mem::size_of::<T>();
    if og > lanes {
        (2 * lanes, pixels)
    } else if avx512 && is_f32::<T>() {
        (lanes, MAX_PIXELS)
    } else {
        (lanes, pixels)
    }
}

/// Whether `T` is f32 (a tile with intrinsics of its own).
fn is_f32<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// `output = conv(input, weight) + bias` for any zero-padded shape, every
/// element of the output written once, never read.
///
/// # Safety
/// `out` must point at `shape.output_len()` elements valid for writes
/// that nothing else accesses during the call; the other buffers are checked.
pub(super) unsafe fn forward<T: Real>(shape: &ConvShape, input: &[T], weights: &[Matrix<'_, T>], bias: Option<&[T]>, out: SharedMut<T>, threads: usize) {
    // SAFETY: the caller's contract, passed on.
    unsafe { launch(shape, input, weights, bias, out, threads, false) }
}

/// Whether `forward_depth_pairs` computes `shape`: a shape this source
/// takes whose kernel is three taps deep, with depth stride 1 and no depth dilation.
pub(crate) fn suits_depth_pairs(shape: &ConvShape) -> bool {
    let depth = shape.axes()[0];
    let few_channels = shape.in_channels() / shape.groups() <= MAX_GROUP_INPUT;
    suits(shape) && few_channels && depth.kernel == 3 && depth.stride == 1 && depth.dilation == 1
}

/// Whether F(2, 3) along the depth saves work on `shape`: at least 3
/// output slices (a pair's 4 products against two slices' 6 direct chains;
/// an odd last slice is computed as a pair) and products of at least
/// `MIN_REDUCTION` steps each.
pub(crate) fn prefers_depth_pairs(shape: &ConvShape) -> bool {
    suits_depth_pairs(shape) && shape.output_dims()[0] >= 3 && shape.patch_len() / 3 >= MIN_REDUCTION
}

/// `forward` by F(2, 3) along the depth (see the module's text), for a
/// shape `suits_depth_pairs` accepts.
///
/// # Safety
/// As `forward`.
pub(super) unsafe fn forward_depth_pairs<T: Real>(shape: &ConvShape, input: &[T], weights: &[Matrix<'_, T>], bias: Option<&[T]>, out: SharedMut<T>, threads: usize) {
    assert!(suits_depth_pairs(shape), "depth pairs need a kernel 3 deep with depth stride 1, undilated");
    // SAFETY: the caller's contract, passed on.
    unsafe { launch(shape, input, weights, bias, out, threads, true) }
}

/// `forward` or `forward_depth_pairs`, by `pairs`.
///
/// # Safety
/// As `forward`.
unsafe fn launch<T: Real>(shape: &ConvShape, input: &[T], weights: &[Matrix<'_, T>], bias: Option<&[T]>, out: SharedMut<T>, threads: usize, pairs: bool) {
    assert_eq!(shape.padding_mode(), PaddingMode::Zeros, "the direct source pads with zeros");
    let job = Job::new(shape, input, weights, bias, out, threads, pairs);
    let tasks = shape.batch() * shape.groups() * job.slice_tasks * job.bands;
    let staged = products_per_tile(job.pairs) * job.stage_len();
    for_each_task(threads, tasks, |t| {
        let (rest, band) = (t / job.bands, t % job.bands);
        let (rest, z) = (rest / job.slice_tasks, rest % job.slice_tasks);
        let (image, group) = (rest / shape.groups(), rest % shape.groups());
        let first = band * job.rows_per_band;
        let rows = job.rows_per_band.min(job.out_dims[1] - first);
        T::with_scratch(job.band_len(rows) + staged, |scratch| job.run(image, group, z, first, rows, scratch));
    });
}

/// What every task reads, and the output it writes into.
struct Job<'a, T> {
    shape: &'a ConvShape,
    input: &'a [T],
    /// Group g's channel block b at `packed[(((g * blocks + b) * products + t) * steps + step) * block + c]`
    /// (zero past the group's channels) for product t of a task's output
    /// slice(s): the weights as they are, or the 4 transformed depth taps.
    packed: Vec<T>,
    /// F(2, 3) along the depth: a task makes two output slices from four
    /// transformed input slices.
    pairs: bool,
    /// Reduction steps of one product: `patch_len`, or its one depth tap's share.
    steps: usize,
    /// Tasks along the output depth: the slices, or their pairs.
    slice_tasks: usize,
    block: usize,
    blocks: usize,
    /// Outputs per tile (see `tile_shape`).
    pixels: usize,
    bias: Option<&'a [T]>,
    out: SharedMut<T>,
    axes: [Window; 3],
    out_dims: [usize; 3],
    /// Columns of a padded input row.
    padded_w: usize,
    /// A zero input row (a padding slice's, for `pairs`).
    zeros: Vec<T>,
    rows_per_band: usize,
    bands: usize,
}

impl<'a, T: Real> Job<'a, T> {
    fn new(shape: &'a ConvShape, input: &'a [T], weights: &[Matrix<'_, T>], bias: Option<&'a [T]>, out: SharedMut<T>, threads: usize, pairs: bool) -> Self {
        let og = shape.out_channels() / shape.groups();
        let (block, pixels) = tile_shape::<T>(og);
        let blocks = og.div_ceil(block);
        let products = products_per_tile(pairs);
        let steps = if pairs { shape.patch_len() / 3 } else { shape.patch_len() };
        let mut packed = vec![T::ZERO; shape.groups() * blocks * products * steps * block];
        // One (group, channel block) per task: at batch 8, ResNeXt's 32
        // groups of 32 channels took a tenth of the call packed serially.
        for_each_chunk_mut(threads, &mut packed, products * steps * block, |at, dst| {
            let (matrix, o0) = (&weights[at / blocks], at % blocks * block);
            if pairs {
                for o in o0..og.min(o0 + block) {
                    pack_depth_pairs(shape, matrix, o, &mut dst[o - o0..], steps * block, block);
                }
                return;
            }
            // A block's channels side by side at each step.
            matrix.pack_columns(o0..og.min(o0 + block), dst, block);
        });
        let axes = *shape.axes();
        let out_dims = shape.output_dims();
        let padded_w = axes[2].input + axes[2].pad_before + axes[2].pad_after;
        let slice_tasks = if pairs { out_dims[0].div_ceil(2) } else { out_dims[0] };
        let zeros = vec![T::ZERO; if pairs { axes[2].input } else { 0 }];
        let mut job = Job { shape, input, packed, pairs, steps, slice_tasks, block, blocks, pixels, bias, out, axes, out_dims, padded_w, zeros, rows_per_band: 1, bands: 1 };
        // The most rows whose padded band fits BAND_BYTES, and enough bands
        // for every thread (bands change no bits: each output is one chain).
        let fit = (1..=out_dims[1]).rev().find(|&r| job.band_len(r) * std::mem::size_of::<T>() <= BAND_BYTES).unwrap_or(1);
        let bands = out_dims[1].div_ceil(fit).max(super::bands_wanted(shape, slice_tasks, threads)).clamp(1, out_dims[1].max(1));
        job.rows_per_band = out_dims[1].div_ceil(bands);
        job.bands = out_dims[1].div_ceil(job.rows_per_band);
        job
    }

    /// Elements of one product's staged sums: `STAGED_TILES` tiles and
    /// the one the last output row may start past them, of `block` channels.
    fn stage_len(&self) -> usize {
        (STAGED_TILES + 1) * self.pixels * self.block
    }

    /// Input volumes in a band per channel: the kernel's depth taps, or
    /// the 4 transformed slices (product t reads volume t).
    fn volumes(&self) -> usize {
        if self.pairs { products_per_tile(true) } else { self.axes[0].kernel }
    }

    /// Input rows a band of `rows` output rows reads, per input slice.
    fn band_rows(&self, rows: usize) -> usize {
        let a = &self.axes[1];
        (rows - 1) * a.stride + (a.kernel - 1) * a.dilation + 1
    }

    /// Elements of a padded band: every channel of a group, each of its
    /// `volumes` (the input slices an output slice reads, or the 4
    /// transformed ones), `band_rows` rows of `padded_w`.
    fn band_len(&self, rows: usize) -> usize {
        let cg = self.shape.in_channels() / self.shape.groups();
        cg * self.volumes() * self.band_rows(rows) * self.padded_w
    }

    /// Output rows `first..first + rows` of slice `z` (with `pairs`, of
    /// slices `2z` and `2z + 1`) of group `group` in `image`, compiled for
    /// the tiles' instruction set (the band's copy and the staged sums'
    /// moves are a fifth of a 7x7 grouped layer's time in baseline code).
    fn run(&self, image: usize, group: usize, z: usize, first: usize, rows: usize, scratch: &mut [T]) {
        #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
        match tile_isa() {
            // SAFETY: the CPU supports AVX-512F (detected), the only
            // requirement of a `target_feature` function.
            TileIsa::Avx512 => return unsafe { self.run_avx512(image, group, z, first, rows, scratch) },
            // SAFETY: the CPU supports AVX2 and FMA (detected).
            TileIsa::Avx2 => return unsafe { self.run_avx2(image, group, z, first, rows, scratch) },
            TileIsa::Portable => {}
        }
        self.run_portable(image, group, z, first, rows, scratch)
    }

    /// `run_portable` compiled for AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, image: usize, group: usize, z: usize, first: usize, rows: usize, scratch: &mut [T]) {
        self.run_portable(image, group, z, first, rows, scratch)
    }

    /// `run_portable` compiled for AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, image: usize, group: usize, z: usize, first: usize, rows: usize, scratch: &mut [T]) {
        self.run_portable(image, group, z, first, rows, scratch)
    }

    #[inline(always)]
    fn run_portable(&self, image: usize, group: usize, z: usize, first: usize, rows: usize, scratch: &mut [T]) {
        let s = self.shape;
        let (cg, og) = (s.in_channels() / s.groups(), s.out_channels() / s.groups());
        let band_rows = self.band_rows(rows);
        let (band, staging) = scratch.split_at_mut(self.band_len(rows));
        let [dz, dy, dx] = self.axes;
        // The depth taps one product's chain runs over.
        let (taps, volumes) = (if self.pairs { 1 } else { dz.kernel }, self.volumes());
        if self.pairs {
            self.fill_pair_band(image, group, z, first, band_rows, band);
        } else {
            self.fill_band(image, group, z, first, band_rows, band);
        }
        let mut offsets = Vec::with_capacity(self.steps);
        for c in 0..cg {
            for kd in 0..taps {
                for kh in 0..dy.kernel {
                    for kw in 0..dx.kernel {
                        offsets.push(((c * volumes + kd) * band_rows + kh * dy.dilation) * self.padded_w + kw * dx.dilation);
                    }
                }
            }
        }
        let volume = band_rows * self.padded_w;
        let ow = self.out_dims[2];
        let count = rows * ow;
        // Band position of each flat output f (row f / ow, column f % ow).
        let sources: Vec<usize> = (0..count).map(|f| (f / ow) * dy.stride * self.padded_w + (f % ow) * dx.stride).collect();
        let products = products_per_tile(self.pairs);
        let reach = offsets.iter().max().copied().unwrap_or(0) + (products - 1) * volume;
        assert!(sources[count - 1] + reach < band.len(), "band too short for its taps");
        let slices: &[usize] = if self.pairs { &[2 * z, 2 * z + 1][..self.out_dims[0].min(2 * z + 2) - 2 * z] } else { &[z] };
        let plane = self.out_dims.iter().product::<usize>();
        let (stage, pixels) = (self.stage_len(), self.pixels);
        let staged = STAGED_TILES * pixels;
        let per_product = self.steps * self.block;
        for b in 0..self.blocks {
            let weights = &self.packed[(group * self.blocks + b) * products * per_product..][..products * per_product];
            let channel = group * og + b * self.block;
            let live = self.block.min(og - b * self.block);
            for c0 in (0..count).step_by(staged) {
                let len = staged.min(count - c0);
                // Where the stage's sums for output slice `slice` go.
                let stage_out = |slice: usize| (image * s.out_channels() + channel) * plane + (slice * self.out_dims[1] + first) * ow + c0;
                let tiles = len.div_ceil(pixels);
                for f0 in (c0..c0 + len).step_by(pixels) {
                    let nth = (f0 - c0) / pixels;
                    for &slice in slices {
                        prefetch_rows(self.out.get().wrapping_add(stage_out(slice)), plane, nth * live / tiles..(nth + 1) * live / tiles, len);
                    }
                    let valid = pixels.min(c0 + len - f0);
                    for t in 0..products {
                        // Lanes past the band's last output repeat it (computed, not stored).
                        let tile_sources: [usize; MAX_PIXELS] = std::array::from_fn(|p| sources[f0 + p.min(valid - 1)] + t * volume);
                        let sums = &mut staging[t * stage + (f0 - c0) * self.block..][..pixels * self.block];
                        // SAFETY: sources[p] + t * volume + offsets[k] <=
                        // sources[count - 1] + reach, inside the band
                        // (asserted above); product t's weights hold
                        // `steps` steps of `block` channels.
                        unsafe { tile(band, &tile_sources[..pixels], &offsets, &weights[t * per_product..][..per_product], self.block, sums) };
                    }
                }
                if self.pairs {
                    combine_pairs(&mut staging[..4 * stage], stage, len * self.block);
                }
                let rows_out = Rows { block: self.block, live, len, plane, bias: self.bias.map(|b| &b[channel..channel + live]) };
                for (i, &slice) in slices.iter().enumerate() {
                    // SAFETY: output elements (image, channel + c, pixel
                    // first pixel of the stage + i) for c < live, i < len
                    // are inside the output (checked lengths) and belong to
                    // this task's (image, group, slice(s), band) alone.
                    unsafe { store_rows(&staging[i * stage..][..len * self.block], &rows_out, self.out.get().add(stage_out(slice))) };
                }
            }
        }
    }

    /// The band of `fill_band` for output slices `2 * pair` and
    /// `2 * pair + 1`: volume t of channel c holds F(2, 3)'s transformed
    /// input slice t, `[d0 - d2, d1 + d2, d2 - d1, d1 - d3][t]`, of the four
    /// input slices `d0..d3` the pair reads (zeros in the padding).
    fn fill_pair_band(&self, image: usize, group: usize, pair: usize, first: usize, band_rows: usize, band: &mut [T]) {
        let [dz, dy, dx] = self.axes;
        let (h, w) = (dy.input, dx.input);
        self.fill_rows(image, group, first, band_rows, band, |band, channel, c, r, yi| {
            let slice = |j: usize| (2 * pair + j).checked_sub(dz.pad_before).filter(|&zi| zi < dz.input).map(|zi| &channel[(zi * h + yi) * w..][..w]);
            let [d0, d1, d2, d3] = [0, 1, 2, 3].map(|j| slice(j).unwrap_or(&self.zeros));
            let at = |t: usize| ((c * 4 + t) * band_rows + r) * self.padded_w + dx.pad_before;
            element_wise(&mut band[at(0)..][..w], d0, d2, |a, b| a - b);
            element_wise(&mut band[at(1)..][..w], d1, d2, |a, b| a + b);
            element_wise(&mut band[at(2)..][..w], d2, d1, |a, b| a - b);
            element_wise(&mut band[at(3)..][..w], d1, d3, |a, b| a - b);
        });
    }

    /// Zero-padded input rows of `band_rows` rows from output row `first`'s
    /// first input row, for every channel of `group` and input slice of output slice `z`.
    ///
    /// Each (channel, depth tap)'s run of rows inside the image is one
    /// `copy_rows` (masked vectors, not a `memcpy` call per short row).
    fn fill_band(&self, image: usize, group: usize, z: usize, first: usize, band_rows: usize, band: &mut [T]) {
        let s = self.shape;
        let cg = s.in_channels() / s.groups();
        let [dz, dy, dx] = self.axes;
        let (h, w) = (dy.input, dx.input);
        let volume = dz.input * h * w;
        band.fill(T::ZERO);
        // Band row r is padded input row top + r; rows r0..r1 lie in the image.
        let top = first * dy.stride;
        let r0 = dy.pad_before.saturating_sub(top).min(band_rows);
        let r1 = (dy.pad_before + h).saturating_sub(top).clamp(r0, band_rows);
        if r0 == r1 {
            return;
        }
        let (y0, count) = (top + r0 - dy.pad_before, r1 - r0);
        for c in 0..cg {
            let channel = &self.input[(image * s.in_channels() + group * cg + c) * volume..][..volume];
            for kd in 0..dz.kernel {
                let Some(zi) = (z * dz.stride + kd * dz.dilation).checked_sub(dz.pad_before).filter(|&zi| zi < dz.input) else { continue };
                let at = ((c * dz.kernel + kd) * band_rows + r0) * self.padded_w + dx.pad_before;
                let src = &channel[(zi * h + y0) * w..][..count * w];
                let dst = &mut band[at..][..(count - 1) * self.padded_w + w];
                // SAFETY: `count` rows of `w` elements, `w` apart in `src`
                // and `padded_w >= w` apart in `dst`, both slices long enough; disjoint.
                unsafe { T::copy_rows(src.as_ptr(), w, dst.as_mut_ptr(), self.padded_w, w, count) };
            }
        }
    }

    /// Zeroes `band`, then calls `fill(band, channel, c, r, yi)` for each
    /// channel `c` of `group` in `image` (`channel`: its whole input) and
    /// each band row `r` from output row `first`'s first input row that
    /// falls on input row `yi` (rows in the padding stay zero).
    fn fill_rows(&self, image: usize, group: usize, first: usize, band_rows: usize, band: &mut [T], mut fill: impl FnMut(&mut [T], &[T], usize, usize, usize)) {
        let s = self.shape;
        let cg = s.in_channels() / s.groups();
        let [dz, dy, dx] = self.axes;
        let volume = dz.input * dy.input * dx.input;
        band.fill(T::ZERO);
        for c in 0..cg {
            let channel = &self.input[(image * s.in_channels() + group * cg + c) * volume..][..volume];
            for r in 0..band_rows {
                let Some(yi) = (first * dy.stride + r).checked_sub(dy.pad_before).filter(|&yi| yi < dy.input) else { continue };
                fill(band, channel, c, r, yi);
            }
        }
    }
}

/// Output channel `o`'s transformed depth taps, `G g` of F(2, 3) for each
/// (channel, row, column) of its kernel, to `dst[t * product_len + step * block]`
/// for product t and reduction step `(c * kh + y) * kw + x` of one tap.
fn pack_depth_pairs<T: Real>(shape: &ConvShape, matrix: &Matrix<'_, T>, o: usize, dst: &mut [T], product_len: usize, block: usize) {
    let [_, dy, dx] = shape.axes();
    let plane = dy.kernel * dx.kernel;
    for c in 0..shape.in_channels() / shape.groups() {
        for tap in 0..plane {
            let g = |j: usize| matrix.get(o, (c * 3 + j) * plane + tap).to_f64();
            for (t, value) in crate::conv::winograd::kernel_column(g(0), g(1), g(2)).into_iter().enumerate() {
                dst[t * product_len + (c * plane + tap) * block] = T::from_f64(value);
            }
        }
    }
}

/// `out[i] = f(a[i], b[i])`.
#[inline(always)]
fn element_wise<T: Real>(out: &mut [T], a: &[T], b: &[T], f: impl Fn(T, T) -> T) {
    out.iter_mut().zip(a.iter().zip(b)).for_each(|(out, (&a, &b))| *out = f(a, b));
}

/// Products per output tile: one, or with F(2, 3) along the depth
/// (`pairs`) one per transformed input slice.
fn products_per_tile(pairs: bool) -> usize {
    if pairs { 4 } else { 1 }
}

/// F(2, 3)'s output transform on staged products `m_t = staging[t * stage..][..len]`:
/// `y0 = m0 + m1 + m2` into `m0`'s place, `y1 = m1 - m2 - m3` into `m1`'s.
fn combine_pairs<T: Real>(staging: &mut [T], stage: usize, len: usize) {
    let (m01, m23) = staging.split_at_mut(2 * stage);
    let (m0, m1) = m01.split_at_mut(stage);
    let (m2, m3) = m23.split_at(stage);
    for (((y0, y1), &a), &b) in m0[..len].iter_mut().zip(&mut m1[..len]).zip(&m2[..len]).zip(&m3[..len]) {
        let (p0, p1) = (*y0, *y1);
        *y0 = p0 + p1 + a;
        *y1 = p1 - a - b;
    }
}

/// Staged sums `staging[i * block + c]` (pixel-major, as the tiles leave
/// them) and where their channel rows go.
struct Rows<'a, T> {
    block: usize,
    live: usize,
    len: usize,
    /// Output elements between one channel's row and the next's.
    plane: usize,
    bias: Option<&'a [T]>,
}

/// Asks the cache for the lines of channel rows `rows` (each `plane`
/// apart from `out`, `len` long) for writing, ahead of `store_rows`: a
/// stem's output outgrows L2, and the transposes' stores then wait on
/// each line's read. Spread over a stage's tiles, the reads overlap the
/// products.
///
/// Any address will do: a prefetch never faults and reads nothing.
fn prefetch_rows<T>(out: *const T, plane: usize, rows: std::ops::Range<usize>, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for c in rows {
        let row = out.wrapping_add(c * plane);
        for i in (0..len).step_by(64 / std::mem::size_of::<T>()) {
            // SAFETY: a prefetch reads nothing and never faults.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(row.wrapping_add(i).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (out, plane, rows, len);
}

/// Channel `c`'s row of `rows` (plus its bias) to `out + c * plane`,
/// `len` pixels long, for every live channel.
///
/// # Safety
/// `out + c * plane + i` must be valid for writes for c < live, i < len.
unsafe fn store_rows<T: Real>(staging: &[T], rows: &Rows<'_, T>, out: *mut T) {
    assert!(staging.len() >= rows.len * rows.block && rows.live <= rows.block, "staged sums out of range");
    // SAFETY: the caller's contract, passed on.
    let done = unsafe { store_rows_transposed(staging, rows, out) };
    for c in 0..rows.live {
        // SAFETY: the caller's contract.
        unsafe { store_row(staging, rows, c, done..rows.len, out) };
    }
}

/// The first pixels of every channel's row, transposed in registers a
/// square at a time (16 x 16 in float32 with AVX-512, then 8 x 8 with
/// AVX2; 4 x 4 in float64); returns how many (0 where that does not apply).
///
/// # Safety
/// As `store_rows`, whose assertion holds.
unsafe fn store_rows_transposed<T: Real>(staging: &[T], rows: &Rows<'_, T>, out: *mut T) -> usize {
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    if tile_isa() != TileIsa::Portable {
        let is = |t: std::any::TypeId| std::any::TypeId::of::<T>() == t;
        let (block, plane) = (rows.block, rows.plane);
        // SAFETY (all closures): T is the type the branch checked; the
        // caller of each (`store_squares`) keeps the square inside the
        // staged sums and the output rows; AVX2 comes with the vector
        // tiles, AVX-512F with `TileIsa::Avx512`.
        if is(std::any::TypeId::of::<f32>()) && block.is_multiple_of(8) {
            let mut done = 0;
            if tile_isa() == TileIsa::Avx512 && block.is_multiple_of(16) {
                let square = |src: *const T, bias: Option<*const T>, dst: *mut T| {
                    // SAFETY: see above.
                    unsafe { transpose16_f32(src.cast(), block, bias.map(|b| b.cast()), dst.cast(), plane) }
                };
                // SAFETY: the caller's contract.
                done = unsafe { store_squares(staging, rows, out, 0, 16, square) };
            }
            let square = |src: *const T, bias: Option<*const T>, dst: *mut T| {
                // SAFETY: see above.
                unsafe { transpose8_f32(src.cast(), block, bias.map(|b| b.cast()), dst.cast(), plane) }
            };
            // SAFETY: the caller's contract.
            return unsafe { store_squares(staging, rows, out, done, 8, square) };
        }
        if is(std::any::TypeId::of::<f64>()) && block.is_multiple_of(4) {
            let square = |src: *const T, bias: Option<*const T>, dst: *mut T| {
                // SAFETY: see above.
                unsafe { transpose4_f64(src.cast(), block, bias.map(|b| b.cast()), dst.cast(), plane) }
            };
            // SAFETY: the caller's contract.
            return unsafe { store_squares(staging, rows, out, 0, 4, square) };
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(feature = "portable"))))]
    let _ = (staging, rows, out);
    0
}

/// Pixels `from..` of every channel's row, a multiple of `n` of them, in
/// `n x n` squares moved by `square(staged square, its channels' bias,
/// output square)`; the channels past the last whole square element by
/// element. Returns the end of the pixels done.
///
/// # Safety
/// As `store_rows`, whose assertion holds; `square` must move exactly the
/// `n x n` square it is given.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
unsafe fn store_squares<T: Real>(staging: &[T], rows: &Rows<'_, T>, out: *mut T, from: usize, n: usize, square: impl Fn(*const T, Option<*const T>, *mut T)) -> usize {
    let done = from + (rows.len - from) / n * n;
    let whole = rows.live - rows.live % n;
    for c0 in (0..whole).step_by(n) {
        for i0 in (from..done).step_by(n) {
            // SAFETY: staged pixels i0..i0+n <= len and channels
            // c0..c0+n <= live <= block are inside `staging` (asserted by
            // `store_rows`); the output square is covered by the caller's contract.
            unsafe { square(staging.as_ptr().add(i0 * rows.block + c0), rows.bias.map(|b| b.as_ptr().add(c0)), out.add(c0 * rows.plane + i0)) };
        }
    }
    for c in whole..rows.live {
        // SAFETY: the caller's contract.
        unsafe { store_row(staging, rows, c, from..done, out) };
    }
    done
}

/// Pixels `pixels` of channel `c`'s row (see `store_rows`), element by element.
///
/// # Safety
/// As `store_rows`.
unsafe fn store_row<T: Real>(staging: &[T], rows: &Rows<'_, T>, c: usize, pixels: std::ops::Range<usize>, out: *mut T) {
    let add = rows.bias.map(|b| b[c]);
    for i in pixels {
        let v = staging[i * rows.block + c];
        // SAFETY: the caller's contract.
        unsafe { out.add(c * rows.plane + i).write(add.map_or(v, |b| v + b)) };
    }
}

/// An 8 x 8 block of staged sums (8 pixels of 8 channels, rows `stride`
/// apart) to 8 channel rows `plane` apart, 8 pixels each, plus the
/// channels' bias: the transpose in registers, so the output is written a
/// vector at a time.
///
/// # Safety
/// `src + i * stride + c`, `bias + c` readable and `dst + c * plane + i`
/// writable for i, c < 8; AVX2 available.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[target_feature(enable = "avx2")]
unsafe fn transpose8_f32(src: *const f32, stride: usize, bias: Option<*const f32>, dst: *mut f32, plane: usize) {
    use std::arch::x86_64::*;
    // SAFETY: (the whole body) the caller's contract.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * stride)));
        for (channel, row) in crate::conv::depthwise::lanes::avx2::transpose(r).into_iter().enumerate() {
            let row = match bias {
                Some(b) => _mm256_add_ps(row, _mm256_set1_ps(*b.add(channel))),
                None => row,
            };
            _mm256_storeu_ps(dst.add(channel * plane), row);
        }
    }
}

/// `transpose8_f32` for float64: a 4 x 4 block (4 pixels of 4 channels).
///
/// # Safety
/// `src + i * stride + c`, `bias + c` readable and `dst + c * plane + i`
/// writable for i, c < 4; AVX2 available.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[target_feature(enable = "avx2")]
unsafe fn transpose4_f64(src: *const f64, stride: usize, bias: Option<*const f64>, dst: *mut f64, plane: usize) {
    use std::arch::x86_64::*;
    // SAFETY: (the whole body) the caller's contract.
    unsafe {
        let r: [__m256d; 4] = std::array::from_fn(|i| _mm256_loadu_pd(src.add(i * stride)));
        let (even01, odd01) = (_mm256_unpacklo_pd(r[0], r[1]), _mm256_unpackhi_pd(r[0], r[1]));
        let (even23, odd23) = (_mm256_unpacklo_pd(r[2], r[3]), _mm256_unpackhi_pd(r[2], r[3]));
        let columns = [
            _mm256_permute2f128_pd::<0x20>(even01, even23),
            _mm256_permute2f128_pd::<0x20>(odd01, odd23),
            _mm256_permute2f128_pd::<0x31>(even01, even23),
            _mm256_permute2f128_pd::<0x31>(odd01, odd23),
        ];
        for (channel, row) in columns.into_iter().enumerate() {
            let row = match bias {
                Some(b) => _mm256_add_pd(row, _mm256_set1_pd(*b.add(channel))),
                None => row,
            };
            _mm256_storeu_pd(dst.add(channel * plane), row);
        }
    }
}

/// One tile's chains: `sums[p * block + c]` for pixel `p` (band position
/// `sources[p]`) and channel `c` of a block, over every reduction step.
///
/// # Safety
/// `sources[p] + offsets[k]` must lie inside `band` for every p and k.
unsafe fn tile<T: Real>(band: &[T], sources: &[usize], offsets: &[usize], weights: &[T], block: usize, sums: &mut [T]) {
    assert!(weights.len() == offsets.len() * block && sums.len() == sources.len() * block, "tile operands out of range");
    let (band, weights) = (band.as_ptr(), weights.as_ptr());
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    {
        let (isa, sums) = (tile_isa(), sums.as_mut_ptr());
        // SAFETY: band and weight reads as above; the casts change no
        // type (each branch checks T), and `sums` holds the tile.
        unsafe {
            if isa != TileIsa::Portable && is_f32::<T>() {
                return vector_tiles::f32_tile(isa, band.cast(), sources, offsets, weights.cast(), block, sums.cast());
            }
            if isa != TileIsa::Portable && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f64>() {
                return vector_tiles::f64_tile(isa, band.cast(), sources, offsets, weights.cast(), block, sums.cast());
            }
        }
    }
    // SAFETY: band reads as the caller vouches, weight reads below
    // offsets.len() * block (asserted); each arm is a shape `tile_shape` gives.
    unsafe {
        match (block, sources.len()) {
            (16, 6) => chains::<T, 16, 6>(band, sources, offsets, weights, sums),
            (8, 6) => chains::<T, 8, 6>(band, sources, offsets, weights, sums),
            (4, 6) => chains::<T, 4, 6>(band, sources, offsets, weights, sums),
            (block, pixels) => unreachable!("no {block} x {pixels} portable tile"),
        }
    }
}

/// The tiles in intrinsics, one or two vectors of channels by `P`
/// outputs, for AVX-512 and AVX2: written generically (`chains`), LLVM
/// at times vectorized them across the pixels with gathers, 10-20x
/// slower, depending on unrelated code. Same operations as `chains`:
/// `w * x + acc` fused, k ascending from zero.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
mod vector_tiles {
    use super::{TileIsa, AVX512_PIXELS, MAX_PIXELS, PIXELS};
    use std::arch::x86_64::*;

    macro_rules! vector_chains {
        ($name:ident, $t:ty, $feature:literal, $vec:ty, $lanes:expr, $zero:ident, $load:ident, $set1:ident, $fma:ident, $store:ident) => {
            /// `V` vectors of channels by `P` outputs (see the module).
            ///
            /// # Safety
            /// As `chains` (`sums` holding `P * V * lanes` elements), on a CPU with the feature.
            #[target_feature(enable = $feature)]
            unsafe fn $name<const V: usize, const P: usize>(band: *const $t, sources: &[usize], offsets: &[usize], weights: *const $t, sums: *mut $t) {
                assert!(sources.len() == P, "a tile of P outputs");
                let mut acc = [[$zero(); V]; P];
                let pixels: [*const $t; P] = std::array::from_fn(|p| band.wrapping_add(sources[p]));
                for (k, &offset) in offsets.iter().enumerate() {
                    // SAFETY: the caller's contract (V vectors of weights per step).
                    let w: [$vec; V] = std::array::from_fn(|v| unsafe { $load(weights.add((k * V + v) * $lanes)) });
                    for p in 0..P {
                        // SAFETY: the caller's contract (inputs at pixels[p] + offset).
                        let x = $set1(unsafe { *pixels[p].add(offset) });
                        for v in 0..V {
                            acc[p][v] = $fma(w[v], x, acc[p][v]);
                        }
                    }
                }
                for (p, vectors) in acc.iter().enumerate() {
                    for (v, &sum) in vectors.iter().enumerate() {
                        // SAFETY: below P * V * lanes, the caller's contract.
                        unsafe { $store(sums.add((p * V + v) * $lanes), sum) };
                    }
                }
            }
        };
    }

    vector_chains!(f32_avx512, f32, "avx512f", __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps);
    vector_chains!(f64_avx512, f64, "avx512f", __m512d, 8, _mm512_setzero_pd, _mm512_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_storeu_pd);
    vector_chains!(f32_avx2, f32, "avx2,fma", __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps);
    vector_chains!(f64_avx2, f64, "avx2,fma", __m256d, 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd);

    macro_rules! dispatch {
        ($name:ident, $t:ty, $avx512:ident, $avx512_lanes:expr, $avx2:ident, $avx2_lanes:expr) => {
            /// One tile of `block` channels by `sources.len()` outputs, a
            /// shape `tile_shape` gives on `isa`.
            ///
            /// # Safety
            /// As `chains`, `sums` holding the tile; `isa` detected and not portable.
            pub(super) unsafe fn $name(isa: TileIsa, band: *const $t, sources: &[usize], offsets: &[usize], weights: *const $t, block: usize, sums: *mut $t) {
                // SAFETY: (every arm) the caller's contract; the feature was detected.
                unsafe {
                    match (isa, block, sources.len()) {
                        (TileIsa::Avx512, b, AVX512_PIXELS) if b == 2 * $avx512_lanes => $avx512::<2, AVX512_PIXELS>(band, sources, offsets, weights, sums),
                        (TileIsa::Avx512, b, AVX512_PIXELS) if b == $avx512_lanes => $avx512::<1, AVX512_PIXELS>(band, sources, offsets, weights, sums),
                        (TileIsa::Avx512, b, MAX_PIXELS) if b == $avx512_lanes => $avx512::<1, MAX_PIXELS>(band, sources, offsets, weights, sums),
                        (TileIsa::Avx2, b, PIXELS) if b == 2 * $avx2_lanes => $avx2::<2, PIXELS>(band, sources, offsets, weights, sums),
                        (TileIsa::Avx2, b, PIXELS) if b == $avx2_lanes => $avx2::<1, PIXELS>(band, sources, offsets, weights, sums),
                        (isa, block, pixels) => unreachable!("no {block} x {pixels} tile for {isa:?}"),
                    }
                }
            }
        };
    }

    dispatch!(f32_tile, f32, f32_avx512, 16, f32_avx2, 8);
    dispatch!(f64_tile, f64, f64_avx512, 8, f64_avx2, 4);
}

/// The tile's `P x CH` chains in registers: for each step k, each
/// pixel's input value times the step's `CH` weights, fused into its sums.
///
/// # Safety
/// `band + sources[p] + offsets[k]` and `weights + k * CH + c` must be
/// readable for every p, k and c < CH.
#[inline(always)]
unsafe fn chains<T: Real, const CH: usize, const P: usize>(band: *const T, sources: &[usize], offsets: &[usize], weights: *const T, sums: &mut [T]) {
    assert!(sources.len() == P && sums.len() >= P * CH, "a tile of P outputs");
    let mut acc = [[T::ZERO; CH]; P];
    let pixels: [*const T; P] = std::array::from_fn(|p| band.wrapping_add(sources[p]));
    for (k, &offset) in offsets.iter().enumerate() {
        // SAFETY: the caller's contract.
        let w: [T; CH] = unsafe { std::ptr::read_unaligned(weights.add(k * CH).cast::<[T; CH]>()) };
        for p in 0..P {
            // SAFETY: the caller's contract.
            let x = unsafe { *pixels[p].add(offset) };
            for c in 0..CH {
                acc[p][c] = w[c].fused_mul_add(x, acc[p][c]);
            }
        }
    }
    for p in 0..P {
        sums[p * CH..][..CH].copy_from_slice(&acc[p]);
    }
}
