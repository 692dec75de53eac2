//! Winograd's minimal filtering F(2x2, 3x3) for 3x3, stride-1, undilated
//! 2-D convolutions (Lavin & Gray, "Fast Algorithms for Convolutional
//! Neural Networks", 2016).
//!
//! Each 2x2 block of outputs ("tile") is `A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A`
//! for the 4x4 input patch `d_c` of channel `c` and the 3x3 kernel `g_c`:
//! 16 products per tile and channel instead of 36, so 2.25x fewer
//! multiplications. The sum over channels at each of the 16 positions `xi`
//! is a matrix product `M_xi (O x tiles) = U_xi (O x C) . V_xi (C x tiles)`,
//! run on the register tiles of `microkernel`.
//!
//! A task takes a run of consecutive tiles of the whole batch (they may
//! span tile rows and images) and a range of output channels. Each product
//! element is one chain of fused multiply-adds over the channels in
//! ascending order in a vector lane, and the transforms are element-wise,
//! so which task, which column of a product and which thread a tile falls
//! in changes no operation: results are thread- and batch-invariant.
//!
//! A 3-D kernel (`kd x 3 x 3`, any stride, dilation and padding along the
//! depth) is `kd` such 2-D kernels, one per depth tap: output slice `z` is
//! the 2-D F(2x2, 3x3) convolution of the `C * kd` planes that it reads
//! (channel `c` at the input slice of depth tap `td`, or zeros where the
//! tap falls in zero padding) with the weights read as `O x (C * kd) x 3 x 3`,
//! which is their own layout. So the output slices are simply more images,
//! and the channels' chain runs over `(c, td)` in order.
//!
//! Rounding: the transforms only add, subtract and halve, so the error stays
//! within a small multiple of the direct method's (measured by the tests
//! and by `convinit verify`).

use super::geometry::{check_backward_input, check_forward, ConvShape, PaddingMode, Window};
use super::implicit;
use super::matmul::Real;
use super::microkernel::{Block, Matrix, RowsRef};
#[cfg(target_arch = "x86_64")]
use super::microkernel::{tile_isa, TileIsa};
use crate::error::KernelResult;
use std::mem::MaybeUninit;
use crate::parallel::{effective_threads, for_each_chunk_mut, for_each_task, SharedMut};

/// Transformed positions per tile (a 4x4 patch).
const XI: usize = 16;
/// Budget for one task's transformed inputs (`XI x C x tiles`), which the
/// products re-read once per block of output channels: half the L2.
const INPUT_BYTES: usize = 1 << 20;
/// Output channels per block of products; the block's `XI` products
/// (`XI x OUT_BLOCK x tiles`) stay in L2 until the output transform reads them.
const OUT_BLOCK: usize = 64;

/// Whether Winograd computes `shape`: F(2x2, 3x3) for a 3x3 kernel in
/// height and width with stride 1 and no dilation there (any depth window
/// in 3-D, any groups, padding and padding mode), or F(2, 3) along the
/// depth for the few-channel 3-D kernels three taps deep that
/// `implicit::depth_pairs_apply` takes (a video network's stem).
pub(crate) fn applies(shape: &ConvShape) -> bool {
    has_3x3_planes(shape) || implicit::depth_pairs_apply(shape)
}

/// A 3x3 kernel in height and width, stride 1 and undilated there.
fn has_3x3_planes(shape: &ConvShape) -> bool {
    let [_, rows, cols] = shape.axes();
    let is_3x3 = |a: &Window| a.kernel == 3 && a.stride == 1 && a.dilation == 1;
    is_3x3(rows) && is_3x3(cols)
}

/// The 2-D planes a group's products reduce over: `C / groups` channels
/// times the depth taps (1 in 2-D).
fn planes_per_group(shape: &ConvShape) -> usize {
    shape.in_channels() / shape.groups() * shape.axes()[0].kernel
}

/// Whether the automatic choice takes F(2x2, 3x3) for `shape`, with the
/// AVX-512 tiles: outputs (per output slice, in 3-D) of at least 28x28
/// with at least 64 input and output channels (fewer leave the transforms as much work as the
/// products), or of at least 14x14 with at least 256. Below that, a
/// batch-1 call is dominated by transforming the weights and streaming
/// them through the products once, which deeper layers amortize better.
/// Grouped layers compute correctly but stay with implicit GEMM: with
/// 16-32 channels per group the per-channel transforms of small images
/// outweigh the products (ResNeXt's 7x7 and 14x14 groups: 2x slower).
pub(crate) fn prefers(shape: &ConvShape) -> bool {
    let [_, out_h, out_w] = shape.output_dims();
    let channels = shape.in_channels().min(shape.out_channels());
    let size = out_h.min(out_w);
    let ungrouped = shape.groups() == 1;
    if !has_3x3_planes(shape) {
        return implicit::prefers_depth_pairs(shape);
    }
    ungrouped && super::microkernel::has_vector_tiles() && ((size >= 28 && channels >= 64) || (size >= 14 && channels >= 256))
}

/// The batch's tiles and how they are cut into tasks.
#[derive(Clone, Copy, Debug)]
struct Tiles {
    out_h: usize,
    out_w: usize,
    /// Tiles per row, per image and in the batch.
    per_row: usize,
    per_image: usize,
    total: usize,
    /// Tiles per task (the columns of its products), and tasks.
    per_task: usize,
    runs: usize,
    /// Output channels of a group per task: all of them, or, when the batch
    /// has no more than one task's worth of tiles, an equal share per
    /// thread (in whole strips of 8), so each thread streams only its share
    /// of the transformed weights.
    out_per_task: usize,
    parts: usize,
}

impl Tiles {
    /// Tasks of about 96 or 48 tiles (whole register tiles for f32 and
    /// f64, with the task's transformed inputs within `INPUT_BYTES`), in a
    /// multiple of `threads`, sized so that the threads' loads, counted in
    /// register-tile passes, come out least. Any split gives the same
    /// results: it only decides which columns of which product a tile is in.
    fn new<T>(shape: &ConvShape, threads: usize) -> Self {
        let [out_d, out_h, out_w] = shape.output_dims();
        let (per_row, tile_rows) = (out_w.div_ceil(2), out_h.div_ceil(2));
        let per_image = per_row * tile_rows;
        let total = shape.batch() * out_d * per_image;
        let width = super::microkernel::tile_width::<T>();
        let group_c = planes_per_group(shape);
        let wide = XI * group_c * 2 * width * std::mem::size_of::<T>() <= INPUT_BYTES;
        let most = if wide { 2 * width } else { width };
        let threads = effective_threads(threads);
        // Output channels of a group; the groups already give every
        // thread a task when there are as many as threads.
        let out_channels = shape.out_channels() / shape.groups();
        if total <= most + width / 3 {
            let shares = threads.div_ceil(shape.groups());
            let out_per_task = out_channels.div_ceil(shares).next_multiple_of(8).max(1).min(out_channels.max(1));
            let parts = out_channels.div_ceil(out_per_task).max(1);
            return Tiles { out_h, out_w, per_row, per_image, total, per_task: total.max(1), runs: 1, out_per_task, parts };
        }
        let fewest = total.div_ceil(most + width / 3).next_multiple_of(threads);
        let load = |runs: usize| {
            let per_task = total.div_ceil(runs);
            runs.div_ceil(threads) as f64 * tile_passes(per_task, width)
        };
        let candidates = (0..4).map(|k| fewest + k * threads).filter(|&runs| runs <= total.max(1));
        let runs = candidates.min_by(|&a, &b| load(a).total_cmp(&load(b))).unwrap_or(1);
        let per_task = total.div_ceil(runs).max(1);
        let runs = total.div_ceil(per_task);
        Tiles { out_h, out_w, per_row, per_image, total, per_task, runs, out_per_task: out_channels, parts: 1 }
    }

    /// Calls `f(slice, tile_row, first_tile_in_row, count, column)` for each
    /// piece of tile run `run` that lies in one tile row (`slice`: image
    /// times output depth plus output slice; the image in 2-D).
    fn for_each_segment(&self, run: usize, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        let first = run * self.per_task;
        let end = (first + self.per_task).min(self.total);
        let mut g = first;
        while g < end {
            let (image, r) = (g / self.per_image, g % self.per_image);
            let (ty, tx) = (r / self.per_row, r % self.per_row);
            let count = (self.per_row - tx).min(end - g);
            f(image, ty, tx, count, g - first);
            g += count;
        }
    }
}

/// Register-tile passes over `columns` columns, relative to a full tile
/// (`width` columns): a partial tile of one or two vectors of the three
/// costs less, as it loads fewer B vectors but still every A value.
fn tile_passes(columns: usize, width: usize) -> f64 {
    let lanes = width / 3;
    let partial = match (columns % width).div_ceil(lanes) {
        0 => 0.0,
        1 => 0.4,
        2 => 0.7,
        _ => 1.0,
    };
    (columns / width) as f64 + partial
}

/// Where kernel `(o, c)` lies in the weights a call reads: `o` an output
/// channel of the layer computed, `c` an input plane of its group.
#[derive(Clone, Copy, Debug)]
enum KernelLayout {
    /// A forward convolution's own weights, `O x C_n x 3 x 3`.
    Forward { c_n: usize },
    /// The weights of a convolution (`cg` input and `og` output channels
    /// per group, `kd` deep) read as those of its `grad_input` dual: every
    /// kernel axis flipped and the channels swapped, so no flipped copy is
    /// made (it took 29% of a batch-1 `grad_input` at 256 channels).
    Dual { cg: usize, og: usize, kd: usize },
}

impl KernelLayout {
    /// Where kernel `(o, c)` starts; read backwards when `flipped`.
    #[inline(always)]
    fn at(self, o: usize, c: usize) -> usize {
        match self {
            KernelLayout::Forward { c_n } => (o * c_n + c) * 9,
            KernelLayout::Dual { cg, og, kd } => {
                let (g, d) = (o / cg, o % cg);
                let (i, td) = (c / kd, c % kd);
                (((g * og + i) * cg + d) * kd + kd - 1 - td) * 9
            }
        }
    }

    fn flipped(self) -> bool {
        matches!(self, KernelLayout::Dual { .. })
    }
}

/// `U = G g G^T` for every (output, input-of-its-group) channel pair,
/// computed in f64 and rounded once, into `u` laid out `u[o][xi][c]`: for
/// each output channel the `XI` rows of C elements that the products of
/// position `xi` read (whole rows suit the tiles best when no product
/// ends in a few columns).
fn transform_weights<T: Real>(shape: &ConvShape, weight: &[T], layout: KernelLayout, u: &mut [T], threads: usize) {
    let c_n = planes_per_group(shape);
    for_each_chunk_mut(threads, u, XI * c_n, |o, rows| transform_run(weight, |c| layout.at(o, c), c_n, layout.flipped(), rows, c_n));
}

/// `U` of output channels `o0..o0 + rows` (one group's) into `u` laid
/// out `u[xi * position_stride + c * rows + o - o0]`: for each position
/// the transpose of its `rows x C` matrix, which the tiles read with the
/// last few columns along the rows (`Matrix::transpose_of`; a 14x14
/// image's 49 tiles are one past a 48-column tile: 11% of a batch-1
/// call at 256 channels). Eight output channels at a time, all their
/// input planes in turn: eight streams through the weights (64 at once,
/// 9 KiB apart at 256 channels, fell in four of L1's sets).
fn transform_block<T: Real>(weight: &[T], layout: KernelLayout, o0: usize, rows: usize, c_n: usize, u: &mut [T]) {
    let ld = position_stride(rows, c_n);
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    // SAFETY: the CPU supports AVX-512F (detected); the slices are checked.
    let done = if tile_isa() == TileIsa::Avx512 { unsafe { vector_transform::block(weight, layout, o0, rows, c_n, u, ld) } } else { 0 };
    #[cfg(not(all(target_arch = "x86_64", not(feature = "portable"))))]
    let done = 0;
    for l0 in (done..rows).step_by(KERNEL_LANES) {
        for c in 0..c_n {
            let count = KERNEL_LANES.min(rows - l0);
            transform_run(weight, |l| layout.at(o0 + l0 + l, c), count, layout.flipped(), &mut u[c * rows + l0..], ld);
        }
    }
}

/// Elements from one position's transposed `U` block to the next's: its
/// `rows x C` values and 16 more, so the 16 positions' runs, written
/// together, do not fall in one L1 set (unpadded, 64 KiB apart at 256
/// channels: a quarter of the transform's time on one store).
fn position_stride(rows: usize, c_n: usize) -> usize {
    c_n * rows + 16
}

/// Elements of the largest block's `U` (`transform_block`) for `shape`.
fn block_len(shape: &ConvShape) -> usize {
    let o_n = shape.out_channels() / shape.groups();
    XI * position_stride(OUT_BLOCK.min(o_n), planes_per_group(shape))
}

/// `U` of `count` kernels, kernel `l` at `weight[at(l)..][..9]` (taps in
/// reverse order when `flipped`), value `xi` of kernel `l` to
/// `rows[xi * ld + l]`.
fn transform_run<T: Real>(weight: &[T], at: impl Fn(usize) -> usize, count: usize, flipped: bool, rows: &mut [T], ld: usize) {
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    match tile_isa() {
        TileIsa::Avx512 => {
            // SAFETY: the CPU supports AVX-512F (detected), the only
            // requirement of both functions; the slices are checked.
            unsafe {
                let done = vector_transform::run(weight, &at, count, flipped, rows, ld);
                return transform_kernels_avx512(weight, |l| at(done + l), count - done, flipped, &mut rows[done..], ld);
            }
        }
        // SAFETY: the CPU supports AVX2 and FMA (detected).
        TileIsa::Avx2 => return unsafe { transform_kernels_avx2(weight, at, count, flipped, rows, ld) },
        TileIsa::Portable => {}
    }
    transform_kernels(weight, at, count, flipped, rows, ld)
}

/// `transform_kernels` compiled for AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[target_feature(enable = "avx512f")]
unsafe fn transform_kernels_avx512<T: Real>(weight: &[T], at: impl Fn(usize) -> usize, count: usize, flipped: bool, rows: &mut [T], ld: usize) {
    transform_kernels(weight, at, count, flipped, rows, ld)
}

/// `transform_kernels` compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[target_feature(enable = "avx2,fma")]
unsafe fn transform_kernels_avx2<T: Real>(weight: &[T], at: impl Fn(usize) -> usize, count: usize, flipped: bool, rows: &mut [T], ld: usize) {
    transform_kernels(weight, at, count, flipped, rows, ld)
}

/// Kernels per step of `transform_kernels`' vectorized loop.
const KERNEL_LANES: usize = 8;

/// `transform_run` in plain Rust. Whole groups of `KERNEL_LANES` kernels
/// are computed lane by lane (fixed-size arrays, so the arithmetic
/// vectorizes), the rest one at a time, by the same formulas.
#[inline(always)]
fn transform_kernels<T: Real>(weight: &[T], at: impl Fn(usize) -> usize, count: usize, flipped: bool, rows: &mut [T], ld: usize) {
    let tap = |l: usize, i: usize| weight[at(l) + if flipped { 8 - i } else { i }].to_f64();
    let whole = count - count % KERNEL_LANES;
    for l0 in (0..whole).step_by(KERNEL_LANES) {
        let mut g = [[0f64; KERNEL_LANES]; 9];
        for (i, lanes) in g.iter_mut().enumerate() {
            for (l, value) in lanes.iter_mut().enumerate() {
                *value = tap(l0 + l, i);
            }
        }
        let u = transform_kernel(&g);
        for (q, values) in u.iter().enumerate() {
            let row = &mut rows[q * ld + l0..][..KERNEL_LANES];
            for l in 0..KERNEL_LANES {
                row[l] = T::from_f64(values[l]);
            }
        }
    }
    for l in whole..count {
        let mut g = [[0f64; 1]; 9];
        for (i, [value]) in g.iter_mut().enumerate() {
            *value = tap(l, i);
        }
        for (q, [value]) in transform_kernel(&g).into_iter().enumerate() {
            rows[q * ld + l] = T::from_f64(value);
        }
    }
}

/// The weight transform for whole groups of 8 kernels in AVX-512
/// intrinsics, f64 lanes (LLVM compiled the generic loop with the 16 row
/// pointers spilled: a quarter of a batch-1 call at 256 channels). The
/// same operations in the same order, so the same bits.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
mod vector_transform {
    use super::{KernelLayout, Real, XI};
    use std::arch::x86_64::*;

    /// `[g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2]`, as `kernel_column`.
    macro_rules! column {
        ($g0:expr, $g1:expr, $g2:expr, $half:expr) => {{
            let (g0, g1, g2) = ($g0, $g1, $g2);
            [g0, _mm512_mul_pd($half, _mm512_add_pd(_mm512_add_pd(g0, g1), g2)), _mm512_mul_pd($half, _mm512_add_pd(_mm512_sub_pd(g0, g1), g2)), g2]
        }};
    }

    /// Whether T is f32 (true) or f64 (false); None for another type.
    fn single<T: 'static>() -> Option<bool> {
        use std::any::TypeId;
        let t = TypeId::of::<T>();
        (t == TypeId::of::<f32>() || t == TypeId::of::<f64>()).then_some(t == TypeId::of::<f32>())
    }

    /// Where kernels `at(l0) .. at(l0 + 8)` lie from the first, as gather
    /// indices, with the first; None unless all eight (nine taps each)
    /// lie inside `len` elements within reach of 32-bit indices.
    fn lanes(at: impl Fn(usize) -> usize, l0: usize, len: usize) -> Option<(usize, __m256i)> {
        let base = at(l0);
        let mut index = [0i32; 8];
        for (l, index) in index.iter_mut().enumerate() {
            let start = at(l0 + l);
            if start + 9 > len {
                return None;
            }
            *index = i32::try_from(start as isize - base as isize).ok()?;
        }
        // SAFETY: eight i32s make one 256-bit vector, read unaligned.
        Some((base, unsafe { _mm256_loadu_si256(index.as_ptr().cast()) }))
    }

    /// `super::transform_run` for its first `count - count % 8` kernels
    /// (f32 or f64); returns how many it did.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run<T: Real>(weight: &[T], at: &impl Fn(usize) -> usize, count: usize, flipped: bool, rows: &mut [T], ld: usize) -> usize {
        let Some(is_f32) = single::<T>() else { return 0 };
        let whole = count - count % 8;
        if whole > 0 {
            assert!((XI - 1) * ld + whole <= rows.len(), "transform out of range");
        }
        for l0 in (0..whole).step_by(8) {
            let Some((base, index)) = lanes(at, l0, weight.len()) else { return l0 };
            // SAFETY: the eight kernels lie inside `weight` (checked by
            // `lanes`) and runs (4i + j) * ld + l0 .. + 8 inside `rows`
            // (asserted above); T is f32 or f64 as checked.
            unsafe { eight(weight.as_ptr().add(base), index, flipped, rows.as_mut_ptr().add(l0), ld, is_f32) };
        }
        whole
    }

    /// `super::transform_block` for its first `rows - rows % 8` output
    /// channels (f32 or f64); returns how many it did.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block<T: Real>(weight: &[T], layout: KernelLayout, o0: usize, rows: usize, c_n: usize, u: &mut [T], ld: usize) -> usize {
        let Some(is_f32) = single::<T>() else { return 0 };
        let whole = rows - rows % 8;
        if whole > 0 {
            assert!((XI - 1) * ld + c_n * rows <= u.len(), "transform out of range");
        }
        for l0 in (0..whole).step_by(8) {
            for c in 0..c_n {
                let Some((base, index)) = lanes(|l| layout.at(o0 + l, c), l0, weight.len()) else { return l0 };
                // SAFETY: kernel c of output channels o0 + l0 .. + 8 lies
                // inside `weight` (checked by `lanes`), and runs (4i + j) *
                // ld + c * rows + l0 .. + 8 inside `u` (asserted above); T
                // is f32 or f64 as checked.
                unsafe { eight(weight.as_ptr().add(base), index, layout.flipped(), u.as_mut_ptr().add(c * rows + l0), ld, is_f32) };
            }
        }
        whole
    }

    /// `U` of the 8 kernels at `src + index[l]` (f32 or f64, as `is_f32`
    /// says; taps read backwards when `flipped`), value `xi` of kernel `l`
    /// to `dst[xi * ld + l]`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; the kernels readable, the 16 runs of
    /// 8 writable; T is f32 when `is_f32` and f64 otherwise.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn eight<T>(src: *const T, index: __m256i, flipped: bool, dst: *mut T, ld: usize, is_f32: bool) {
        let half = _mm512_set1_pd(0.5);
        let mut g = [_mm512_setzero_pd(); 9];
        for (i, tap) in g.iter_mut().enumerate() {
            // SAFETY: tap i of each kernel, readable by the caller's contract.
            *tap = unsafe {
                let at = src.add(if flipped { 8 - i } else { i });
                if is_f32 { _mm512_cvtps_pd(_mm256_i32gather_ps::<4>(at.cast(), index)) } else { _mm512_i32gather_pd::<8>(index, at.cast()) }
            };
        }
        let mut gg = [[_mm512_setzero_pd(); 3]; 4];
        for j in 0..3 {
            for (i, value) in column!(g[j], g[3 + j], g[6 + j], half).into_iter().enumerate() {
                gg[i][j] = value;
            }
        }
        for (i, row) in gg.iter().enumerate() {
            for (j, value) in column!(row[0], row[1], row[2], half).into_iter().enumerate() {
                // SAFETY: run 4i + j, writable by the caller's contract.
                unsafe {
                    let at = dst.add((4 * i + j) * ld);
                    if is_f32 { _mm256_storeu_ps(at.cast(), _mm512_cvtpd_ps(value)) } else { _mm512_storeu_pd(at.cast(), value) }
                }
            }
        }
    }
}

/// `G g` for three taps of F(2, 3): `[g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2]`.
#[inline(always)]
pub(crate) fn kernel_column(g0: f64, g1: f64, g2: f64) -> [f64; 4] {
    [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]
}

/// `G g G^T` for `L` kernels at once, in f64: `g[i][l]` is tap i (row-major)
/// of kernel l; returns the 16 transformed values of each kernel.
#[inline(always)]
fn transform_kernel<const L: usize>(g: &[[f64; L]; 9]) -> [[f64; L]; XI] {
    // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 of the kernel's
    // rows (`gg[i][j]` is row i, column j) ...
    let mut gg = [[[0f64; L]; 3]; 4];
    for j in 0..3 {
        for l in 0..L {
            let column = kernel_column(g[j][l], g[3 + j][l], g[6 + j][l]);
            for (i, value) in column.into_iter().enumerate() {
                gg[i][j][l] = value;
            }
        }
    }
    // ... times G^T: the same combination of each row's three columns.
    let mut u = [[0f64; L]; XI];
    for i in 0..4 {
        for l in 0..L {
            let row = kernel_column(gg[i][0][l], gg[i][1][l], gg[i][2][l]);
            for (j, value) in row.into_iter().enumerate() {
                u[4 * i + j][l] = value;
            }
        }
    }
    u
}

/// `output = conv(input, weight) + bias` by F(2x2, 3x3); shapes as `conv_forward`.
pub(crate) fn forward<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    debug_assert!(applies(shape));
    if !check_forward(shape, input, weight, bias, output)? {
        return Ok(());
    }
    // SAFETY: the whole `output` (output_len elements, checked), borrowed
    // mutably for the call.
    unsafe { forward_to(shape, input, weight, forward_layout(shape), bias, SharedMut(output.as_mut_ptr()), threads) };
    Ok(())
}

/// `forward` into memory that need not be initialized: every element is
/// written once (each tile's outputs inside the image) and none is read.
pub(crate) fn forward_uninit<T: Real>(
    shape: &ConvShape,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    output: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    debug_assert!(applies(shape));
    if !check_forward(shape, input, weight, bias, output)? {
        return Ok(());
    }
    // SAFETY: as in `forward`; writing a `T` into a `MaybeUninit<T>` is
    // always allowed, and nothing reads an output element.
    unsafe { forward_to(shape, input, weight, forward_layout(shape), bias, SharedMut(output.as_mut_ptr().cast::<T>()), threads) };
    Ok(())
}

/// The layout of a forward convolution's own weights.
fn forward_layout(shape: &ConvShape) -> KernelLayout {
    KernelLayout::Forward { c_n: planes_per_group(shape) }
}

/// `grad_input` of `conv_forward` for a shape whose `transposed` dual
/// Winograd computes (3x3, stride 1, zero padding of at most 2): the dual's
/// forward on the output gradient with flipped, channel-swapped weights,
/// read in place (`KernelLayout::Dual`) where the dual runs F(2x2, 3x3).
pub(crate) fn backward_input<T: Real>(
    shape: &ConvShape,
    dual: &ConvShape,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [MaybeUninit<T>],
    threads: usize,
) -> KernelResult<()> {
    debug_assert!(applies(dual));
    if !check_backward_input(shape, weight, grad_output, grad_input)? {
        grad_input.fill(MaybeUninit::new(T::ZERO));
        return Ok(());
    }
    let (cg, og, taps) = (shape.in_channels() / shape.groups(), shape.out_channels() / shape.groups(), shape.kernel_taps());
    if has_3x3_planes(dual) {
        let layout = KernelLayout::Dual { cg, og, kd: shape.axes()[0].kernel };
        // SAFETY: the whole `grad_input` (the dual's output, checked),
        // borrowed mutably for the call; writing a `T` into a
        // `MaybeUninit<T>` is always allowed, and nothing reads an element.
        unsafe { forward_to(dual, grad_output, weight, layout, None, SharedMut(grad_input.as_mut_ptr().cast::<T>()), threads) };
        return Ok(());
    }
    // The dual's weight (g * cg + c, o, t) is weight (g * og + o, c, taps - 1 - t):
    // every axis of the kernel flipped.
    let mut flipped = vec![T::ZERO; weight.len()];
    for_each_chunk_mut(threads, &mut flipped, og * taps, |gc, kernels| {
        let (g, c) = (gc / cg, gc % cg);
        for (o, kernel) in kernels.chunks_exact_mut(taps).enumerate() {
            let source = &weight[((g * og + o) * cg + c) * taps..][..taps];
            kernel.iter_mut().zip(source.iter().rev()).for_each(|(k, &w)| *k = w);
        }
    });
    forward_uninit(dual, grad_output, &flipped, None, grad_input, threads)
}

/// The transform, products and output transform on checked buffers.
///
/// # Safety
/// `out` must point at `shape.output_len()` elements valid for writes that
/// nothing else accesses during the call.
unsafe fn forward_to<T: Real>(shape: &ConvShape, input: &[T], weight: &[T], layout: KernelLayout, bias: Option<&[T]>, out: SharedMut<T>, threads: usize) {
    if !has_3x3_planes(shape) {
        debug_assert!(matches!(layout, KernelLayout::Forward { .. }), "depth pairs read a forward layout");
        // SAFETY: the caller's contract, passed on.
        return unsafe { implicit::forward_depth_pairs(shape, input, weight, bias, out, threads) };
    }
    let c_n = planes_per_group(shape);
    let tiles = Tiles::new::<T>(shape, threads);
    let offsets: Vec<usize> = (0..c_n).map(|c| c * tiles.per_task).collect();
    // Transformed inputs, products, two 16-row buffers and one padded row per task.
    let workspace = XI * (c_n + OUT_BLOCK + 2) * tiles.per_task + 2 * (tiles.per_row + 1);
    let (groups, parts) = (shape.groups(), tiles.parts);
    let launch = |u: Option<&[T]>, workspace: usize| {
        let task = Task { shape, input, weight, layout, u, offsets: &offsets, bias, tiles, out };
        for_each_task(threads, tiles.runs * groups * parts, |t| {
            let place = Place { run: t / (groups * parts), group: t / parts % groups, part: t % parts };
            T::with_scratch(workspace, |scratch| task.run(place, scratch));
        });
    };
    if tiles.runs == 1 {
        // One run of tiles (a small batch): each output channel's weights are
        // used by one task, which transforms them block by block just before
        // its products, into its own scratch, where they stay in L2 (a
        // whole transformed layer, 16/9 of the weights, went through L3).
        return launch(None, workspace + block_len(shape));
    }
    // The transformed weights (16/9 of the weights' size) in a buffer kept
    // between calls: a fresh one per call cost more in page faults than
    // the products of a small layer.
    T::with_call_scratch(shape.out_channels() * XI * c_n, |u| {
        transform_weights(shape, weight, layout, u, threads);
        launch(Some(u), workspace);
    });
}

/// Which tiles and output channels a task computes.
#[derive(Clone, Copy)]
struct Place {
    run: usize,
    group: usize,
    /// Which share of the group's output channels.
    part: usize,
}

/// What every task reads, and the output it writes into.
struct Task<'a, T: Clone> {
    shape: &'a ConvShape,
    input: &'a [T],
    weight: &'a [T],
    layout: KernelLayout,
    /// `U` of every output channel (`transform_weights`), or None: each
    /// task transforms its own blocks (`transform_block`).
    u: Option<&'a [T]>,
    /// `c * per_task`: where row `c` of a transformed input starts.
    offsets: &'a [usize],
    bias: Option<&'a [T]>,
    tiles: Tiles,
    out: SharedMut<T>,
}

impl<T: Real> Task<'_, T> {
    /// Tile run `at.run`, output channels of part `at.part` of group
    /// `at.group`: transforms the run's inputs of the group's channels, then
    /// per block of output channels the `XI` products and the output transform. The transforms are compiled for AVX-512 or AVX2 when the
    /// CPU has it (the crate targets baseline x86-64): the same operations
    /// in the same order either way.
    fn run(&self, at: Place, scratch: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        match tile_isa() {
            // SAFETY: the CPU supports AVX-512F (detected), the only
            // requirement of a `target_feature` function.
            TileIsa::Avx512 => return unsafe { self.run_avx512(at, scratch) },
            // SAFETY: the CPU supports AVX2 and FMA (detected).
            TileIsa::Avx2 => return unsafe { self.run_avx2(at, scratch) },
            TileIsa::Portable => {}
        }
        self.run_portable(at, scratch)
    }

    /// `run_portable` compiled for AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, at: Place, scratch: &mut [T]) {
        self.run_portable(at, scratch)
    }

    /// `run_portable` compiled for AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, at: Place, scratch: &mut [T]) {
        self.run_portable(at, scratch)
    }

    #[inline(always)]
    fn run_portable(&self, at: Place, scratch: &mut [T]) {
        let s = self.shape;
        let (c_n, o_n) = (planes_per_group(s), s.out_channels() / s.groups());
        let run = at.run;
        let per_task = self.tiles.per_task;
        let columns = per_task.min(self.tiles.total - run * per_task);
        let (v, rest) = scratch.split_at_mut(XI * c_n * per_task);
        let (m, rest) = rest.split_at_mut(XI * OUT_BLOCK * per_task);
        let (buf, rest) = rest.split_at_mut(2 * XI * per_task);
        let (line, own_u) = rest.split_at_mut(2 * (self.tiles.per_row + 1));
        for c in 0..c_n {
            let (patches, rows) = buf.split_at_mut(XI * per_task);
            self.tiles.for_each_segment(run, |slice, ty, tx, count, column| {
                let plane = self.plane(slice, at.group, c);
                for i in 0..4 {
                    let quad = &mut patches[4 * i * per_task..][..4 * per_task];
                    let (d0, rest) = quad.split_at_mut(per_task);
                    let (d1, rest) = rest.split_at_mut(per_task);
                    let (d2, d3) = rest.split_at_mut(per_task);
                    let span = column..column + count;
                    let dst = [&mut d0[span.clone()], &mut d1[span.clone()], &mut d2[span.clone()], &mut d3[span]];
                    self.patch_row(plane, 2 * ty + i, 2 * tx, dst, line);
                }
            });
            let d = |q: usize| &patches[q * per_task..][..columns];
            for i in 0..4 {
                transform_row(&mut rows[4 * i * per_task..], per_task, columns, [d(4 * i), d(4 * i + 1), d(4 * i + 2), d(4 * i + 3)]);
            }
            transform_columns(rows, per_task, columns, &mut v[c * per_task..], c_n * per_task);
        }
        let per_part = self.tiles.out_per_task;
        let (first, end) = (at.group * o_n + at.part * per_part, at.group * o_n + ((at.part + 1) * per_part).min(o_n));
        for o0 in (first..end).step_by(OUT_BLOCK) {
            let rows = OUT_BLOCK.min(end - o0);
            let own_len = XI * position_stride(rows, c_n);
            if self.u.is_none() {
                transform_block(self.weight, self.layout, o0, rows, c_n, &mut own_u[..own_len]);
            }
            for xi in 0..XI {
                let a = match self.u {
                    Some(u) => RowsRef::strided(&u[(o0 * XI + xi) * c_n..], rows, XI * c_n, c_n),
                    None => Matrix::transpose_of(&own_u[xi * position_stride(rows, c_n)..][..c_n * rows], rows, c_n).rows_from(0, 0),
                };
                let block = Block {
                    a,
                    b: v[xi * c_n * per_task..].as_ptr(),
                    offsets: self.offsets.as_ptr(),
                    depth: c_n,
                    c: m[xi * OUT_BLOCK * per_task..].as_mut_ptr(),
                    ldc: per_task,
                    rows,
                    cols: columns,
                    bias: None,
                    accumulate: false,
                };
                // SAFETY: A is rows o0.. of position xi in the shared U
                // (row-major) or the transposed rows x C matrix of
                // position xi in this task's own block; B element (c, j) at
                // v[xi*C*per_task + c*per_task + j], j < columns <= per_task,
                // inside `v`; C element (i, j) at
                // m[xi*OUT_BLOCK*per_task + i*per_task + j], i < rows <=
                // OUT_BLOCK, inside `m`, this worker's private scratch.
                unsafe { T::multiply(&block) };
            }
            for o in 0..rows {
                let bias = self.bias.map_or(T::ZERO, |b| b[o0 + o]);
                let products = &m[o * per_task..];
                let (sums, corners) = buf.split_at_mut(4 * per_task);
                transform_products(products, OUT_BLOCK * per_task, per_task, columns, sums, corners);
                self.tiles.for_each_segment(run, |slice, ty, tx, count, column| {
                    self.store_tiles(corners, per_task, column, slice, o0 + o, ty, tx, count, bias);
                });
            }
        }
    }

    /// The 2-D input plane that plane `c` of group `group` is for output
    /// slice `slice` (see `Tiles::for_each_segment`): channel `c / kd` at the
    /// input slice of depth tap `c % kd`, or None where that tap reads zero
    /// padding.
    #[inline(always)]
    fn plane(&self, slice: usize, group: usize, c: usize) -> Option<&[T]> {
        let s = self.shape;
        let [depth, rows, cols] = s.axes();
        let len = rows.input * cols.input;
        let group_c = s.in_channels() / s.groups();
        if *depth == Window::UNIT {
            return Some(&self.input[(slice * s.in_channels() + group * group_c + c) * len..][..len]);
        }
        let (image, z) = (slice / depth.output(), slice % depth.output());
        let (channel, tap) = (group * group_c + c / depth.kernel, c % depth.kernel);
        let padded = (z * depth.stride + tap * depth.dilation) as isize - depth.pad_before as isize;
        let at = s.padding_mode().source(padded, depth.input)?;
        Some(&self.input[((image * s.in_channels() + channel) * depth.input + at) * len..][..len])
    }

    /// Row `py` of the 4x4 input patches of tiles whose windows start at
    /// padded columns `px0, px0 + 2, ...`: `dst[j][t]` is padded input
    /// (py, px0 + 2t + j), zero for a `plane` of zero padding. Zero padding
    /// comes from `take_quads`, which reads zeros past either end of the
    /// row; other modes build the padded row in `line` first.
    #[inline(always)]
    fn patch_row(&self, plane: Option<&[T]>, py: usize, px0: usize, dst: [&mut [T]; 4], line: &mut [T]) {
        let [_, rows, cols] = self.shape.axes();
        let Some(plane) = plane else {
            return T::take_quads(&[], 0, dst);
        };
        if self.shape.padding_mode() == PaddingMode::Zeros {
            let y = py as isize - rows.pad_before as isize;
            let row = if (0..rows.input as isize).contains(&y) { &plane[y as usize * cols.input..][..cols.input] } else { &[] };
            T::take_quads(row, px0 as isize - cols.pad_before as isize, dst);
        } else {
            let line = &mut line[..2 * dst[0].len() + 2];
            self.padded_row(plane, py, px0, line);
            T::take_quads(line, 0, dst);
        }
    }

    /// Padded input row `py`, columns `px0..px0 + line.len()` (padded
    /// coordinates) of a plane into `line`; coordinates past the padded
    /// input, read only by the discarded outputs of odd-sized tiles, are 0.
    #[inline(always)]
    fn padded_row(&self, plane: &[T], py: usize, px0: usize, line: &mut [T]) {
        let [_, rows, cols] = self.shape.axes();
        let mode = self.shape.padding_mode();
        let source = |pos: usize, axis: &Window| -> Option<usize> {
            if pos >= axis.input + axis.pad_before + axis.pad_after {
                return None;
            }
            mode.source(pos as isize - axis.pad_before as isize, axis.input)
        };
        let Some(y) = source(py, rows) else {
            line.fill(T::ZERO);
            return;
        };
        let src = &plane[y * cols.input..][..cols.input];
        // line[i] for lo <= i < hi lies inside the row: one copy.
        let lo = cols.pad_before.saturating_sub(px0).min(line.len());
        let hi = (cols.pad_before + cols.input).saturating_sub(px0).clamp(lo, line.len());
        line[lo..hi].copy_from_slice(&src[px0 + lo - cols.pad_before..][..hi - lo]);
        for i in (0..lo).chain(hi..line.len()) {
            line[i] = source(px0 + i, cols).map_or(T::ZERO, |x| src[x]);
        }
    }

    /// Stores tiles `tx..tx + count` of tile row `ty`, output channel `o`,
    /// plus the bias: output (dy, dx) of tile t is `corners[(2 * dy + dx) * ld + column + t]`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn store_tiles(&self, corners: &[T], ld: usize, column: usize, slice: usize, o: usize, ty: usize, tx: usize, count: usize, bias: T) {
        let (out_h, out_w) = (self.tiles.out_h, self.tiles.out_w);
        let out_d = self.shape.output_dims()[0];
        let (image, z) = (slice / out_d, slice % out_d);
        let plane = ((image * self.shape.out_channels() + o) * out_d + z) * out_h * out_w;
        let (x0, width) = (2 * tx, (2 * count).min(out_w - 2 * tx));
        for dy in 0..2.min(out_h - 2 * ty) {
            let left = &corners[2 * dy * ld + column..][..count];
            let right = &corners[(2 * dy + 1) * ld + column..][..count];
            // SAFETY: columns x0 .. x0 + width <= out_w of row 2*ty + dy < out_h
            // of output slice z of plane (image, o) lie inside the output
            // (image < N, o < O, z < out_d), which `forward_to`'s caller vouches for. Each (tile,
            // channel) is in exactly one task, so no other task touches
            // these elements. Written through the pointer, never read: the
            // memory may be uninitialized.
            unsafe {
                let row = self.out.get().add(plane + (2 * ty + dy) * out_w + x0);
                for t in 0..width / 2 {
                    row.add(2 * t).write(left[t] + bias);
                    row.add(2 * t + 1).write(right[t] + bias);
                }
                if width % 2 == 1 {
                    row.add(width - 1).write(left[count - 1] + bias);
                }
            }
        }
    }
}

/// Row transform `d B` of one patch row for `count` tiles: from the row's
/// four columns `d`, writes (d0 - d2, d1 + d2, d2 - d1, d1 - d3) to
/// `rows[k * ld + t]` for k = 0..4.
#[inline(always)]
fn transform_row<T: Real>(rows: &mut [T], ld: usize, count: usize, d: [&[T]; 4]) {
    let [d0, d1, d2, d3] = d;
    combine(&mut rows[..count], d0, d2, |a, b| a - b);
    combine(&mut rows[ld..][..count], d1, d2, |a, b| a + b);
    combine(&mut rows[2 * ld..][..count], d2, d1, |a, b| a - b);
    combine(&mut rows[3 * ld..][..count], d1, d3, |a, b| a - b);
}

/// Column transform `B^T (d B)` for `columns` tiles: `rows[(4 * i + k) * ld + t]`
/// is element (i, k) of tile t's `d B`; writes `V` to `v[xi * xi_stride + t]`:
/// (r0 - r2, r1 + r2, r2 - r1, r1 - r3) down each column k.
#[inline(always)]
fn transform_columns<T: Real>(rows: &[T], ld: usize, columns: usize, v: &mut [T], xi_stride: usize) {
    let row = |i: usize, k: usize| &rows[(4 * i + k) * ld..][..columns];
    for k in 0..4 {
        let (r0, r1, r2, r3) = (row(0, k), row(1, k), row(2, k), row(3, k));
        combine(&mut v[k * xi_stride..][..columns], r0, r2, |a, b| a - b);
        combine(&mut v[(4 + k) * xi_stride..][..columns], r1, r2, |a, b| a + b);
        combine(&mut v[(8 + k) * xi_stride..][..columns], r2, r1, |a, b| a - b);
        combine(&mut v[(12 + k) * xi_stride..][..columns], r1, r3, |a, b| a - b);
    }
}

/// `Y = A^T M A` for `columns` tiles of one output channel: `m[xi * xi_stride + t]`
/// holds tile t's products; output (dy, dx) goes to `corners[(2 * dy + dx) * ld + t]`,
/// with `sums` (`4 * ld` elements) for the row pass.
#[inline(always)]
fn transform_products<T: Real>(m: &[T], xi_stride: usize, ld: usize, columns: usize, sums: &mut [T], corners: &mut [T]) {
    let mm = |xi: usize| &m[xi * xi_stride..][..columns];
    for dy in 0..2 {
        // A^T over rows: m0 + m1 + m2 (output row 0), m1 - m2 - m3 (row 1),
        // for each column k of the 4x4 products.
        for k in 0..4 {
            let s = &mut sums[k * ld..][..columns];
            if dy == 0 {
                combine(s, mm(k), mm(4 + k), |a, b| a + b);
                accumulate(s, mm(8 + k), |a, b| a + b);
            } else {
                combine(s, mm(4 + k), mm(8 + k), |a, b| a - b);
                accumulate(s, mm(12 + k), |a, b| a - b);
            }
        }
        // ... then over columns, the same way.
        let s = |k: usize| &sums[k * ld..][..columns];
        let (left, right) = corners[2 * dy * ld..].split_at_mut(ld);
        let (left, right) = (&mut left[..columns], &mut right[..columns]);
        combine(left, s(0), s(1), |a, b| a + b);
        accumulate(left, s(2), |a, b| a + b);
        combine(right, s(1), s(2), |a, b| a - b);
        accumulate(right, s(3), |a, b| a - b);
    }
}

/// `out[i] = f(a[i], b[i])`.
#[inline(always)]
fn combine<T: Copy>(out: &mut [T], a: &[T], b: &[T], f: impl Fn(T, T) -> T) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `out[i] = f(out[i], a[i])`.
#[inline(always)]
fn accumulate<T: Copy>(out: &mut [T], a: &[T], f: impl Fn(T, T) -> T) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = f(*o, x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::forward::conv_forward_im2col;
    use crate::conv::PaddingMode;

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 250.0).collect()
    }

    fn axis(input: usize, pad: (usize, usize)) -> Window {
        Window { input, kernel: 3, stride: 1, dilation: 1, pad_before: pad.0, pad_after: pad.1 }
    }

    fn both(shape: &ConvShape, threads: usize) -> (Vec<f64>, Vec<f64>) {
        let x = values(shape.input_len(), 1);
        let w = values(shape.weight_len(), 2);
        let b = values(shape.out_channels(), 3);
        let mut fast = vec![f64::NAN; shape.output_len()];
        let mut reference = vec![f64::NAN; shape.output_len()];
        forward(shape, &x, &w, Some(&b), &mut fast, threads).unwrap();
        conv_forward_im2col(shape, &x, &w, Some(&b), &mut reference, threads).unwrap();
        (fast, reference)
    }

    #[test]
    fn matches_im2col_for_every_padding_mode_and_odd_sizes() {
        let modes = [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];
        for mode in modes {
            for (n, c, o, h, w, pad) in [(2, 3, 5, 7, 9, (1, 1)), (1, 4, 2, 6, 5, (0, 0)), (3, 300, 7, 5, 6, (1, 2)), (1, 1, 1, 3, 3, (2, 0))] {
                if mode != PaddingMode::Zeros && (pad.0.max(pad.1) >= h.min(w)) {
                    continue;
                }
                let shape = ConvShape::new(n, c, o, 1, &[axis(h, pad), axis(w, pad)], mode).unwrap();
                let (fast, reference) = both(&shape, 2);
                let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                for (a, b) in fast.iter().zip(&reference) {
                    assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
                }
            }
        }
    }

    /// 3-D kernels: every depth window (taps, stride, dilation, padding in
    /// each mode), groups, and one or several output slices per image.
    #[test]
    fn depth_kernels_match_im2col_for_every_depth_window() {
        let modes = [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];
        let depths = [(3, 3, 1, 1, (1, 1)), (5, 3, 2, 1, (1, 1)), (6, 2, 1, 2, (0, 1)), (4, 1, 1, 1, (0, 0)), (3, 3, 1, 1, (2, 0))];
        for mode in modes {
            for (i, &(input, kernel, stride, dilation, pad)) in depths.iter().enumerate() {
                if mode != PaddingMode::Zeros && pad.0.max(pad.1) >= input {
                    continue;
                }
                let depth = Window { input, kernel, stride, dilation, pad_before: pad.0, pad_after: pad.1 };
                let (n, c, o, groups) = [(2, 3, 5, 1), (1, 4, 6, 2), (3, 9, 4, 1), (1, 2, 2, 2), (2, 5, 3, 1)][i];
                let shape = ConvShape::new(n, c, o, groups, &[depth, axis(7, (1, 1)), axis(6, (1, 2))], mode).unwrap();
                assert!(applies(&shape));
                let (fast, reference) = both(&shape, 2);
                let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                for (a, b) in fast.iter().zip(&reference) {
                    assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
                }
                assert!(both(&shape, 1).0.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()), "{shape:?}");
            }
        }
    }

    #[test]
    fn grouped_layers_match_im2col_for_every_thread_count() {
        for (n, c, o, groups, h, w) in [(3, 12, 8, 4, 7, 7), (1, 66, 44, 2, 9, 6), (2, 32, 96, 8, 5, 11)] {
            let shape = ConvShape::new(n, c, o, groups, &[axis(h, (1, 1)), axis(w, (1, 1))], PaddingMode::Zeros).unwrap();
            let (fast, reference) = both(&shape, 2);
            let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in fast.iter().zip(&reference) {
                assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
            }
            for threads in [1, 3, 8] {
                assert!(both(&shape, threads).0.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()), "{shape:?}");
            }
        }
    }

    #[test]
    fn input_gradient_matches_im2col() {
        let depth = Window { input: 4, kernel: 3, stride: 1, dilation: 1, pad_before: 1, pad_after: 0 };
        let shapes = [((1, 1), 1), ((2, 0), 1), ((0, 2), 1), ((1, 1), 2)]
            .map(|(pad, groups)| ConvShape::new(2, 6, 4, groups, &[axis(9, pad), axis(7, (1, 1))], PaddingMode::Zeros).unwrap());
        let deep = ConvShape::new(2, 6, 4, 2, &[depth, axis(9, (1, 1)), axis(7, (2, 0))], PaddingMode::Zeros).unwrap();
        // Enough channels per group for whole groups of 8 kernels in the
        // weight transform, read in place through the dual's layout, with
        // a single run of tiles (each task transforms its own blocks) at
        // batch 1 and shared transformed weights at batch 9.
        let wide = [(1, 1, 1), (9, 1, 1), (1, 2, 3), (9, 2, 3)].map(|(batch, groups, kd)| {
            let depth = Window { input: 3, kernel: kd, pad_before: kd / 2, pad_after: kd / 2, ..depth };
            ConvShape::new(batch, 16 * groups, 24 * groups, groups, &[depth, axis(6, (1, 1)), axis(5, (1, 1))], PaddingMode::Zeros).unwrap()
        });
        for shape in shapes.into_iter().chain([deep]).chain(wide) {
            let dual = crate::conv::implicit::transposed(&shape).unwrap();
            assert!(applies(&dual));
            let w = values(shape.weight_len(), 2);
            let dy = values(shape.output_len(), 4);
            let (mut fast, mut reference) = (vec![f64::NAN; shape.input_len()], vec![f64::NAN; shape.input_len()]);
            backward_input(&shape, &dual, &w, &dy, crate::conv::uninit::uninit_view(&mut fast), 2).unwrap();
            crate::conv::backward::im2col_backward_input(&shape, &w, &dy, &mut reference, 2).unwrap();
            let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in fast.iter().zip(&reference) {
                assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b} for {shape:?}");
            }
        }
    }

    #[test]
    fn thread_and_batch_invariant() {
        // The second shape's images have 25 tiles each: one alone is a single
        // run whose tasks transform their own weights, the batch of 6 is not.
        for (batch, rows, cols) in [(5, 23, 30), (6, 10, 10)] {
            let shape = ConvShape::new(batch, 20, 6, 1, &[axis(rows, (1, 1)), axis(cols, (1, 1))], PaddingMode::Zeros).unwrap();
            let x: Vec<f32> = values(shape.input_len(), 1).iter().map(|&v| v as f32).collect();
            let w: Vec<f32> = values(shape.weight_len(), 2).iter().map(|&v| v as f32).collect();
            let run = |shape: &ConvShape, x: &[f32], threads| {
                let mut out = vec![0f32; shape.output_len()];
                forward(shape, x, &w, None, &mut out, threads).unwrap();
                out
            };
            let all = run(&shape, &x, 1);
            for threads in [2, 3, 8] {
                assert_eq!(run(&shape, &x, threads), all);
            }
            let per_image = shape.output_len() / shape.batch();
            let one = shape.with_batch(1).unwrap();
            assert_eq!(Tiles::new::<f32>(&one, 2).runs == 1, rows == 10);
            for i in 0..shape.batch() {
                let xi = &x[i * one.input_len()..][..one.input_len()];
                assert_eq!(run(&one, xi, 2), all[i * per_image..][..per_image]);
            }
        }
    }
}
