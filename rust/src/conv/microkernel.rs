//! The register-blocked product the implicit-GEMM convolution runs on.
//!
//! One call computes a block `C (rows x cols) (+)= A (rows x depth) · B (depth x cols)`
//! where row `k` of B is `cols` contiguous elements at `b + offsets[k]`.
//! With the offsets a convolution chooses, B is a padded input band read at
//! each kernel tap's shift (no im2col matrix at all) or rows of a packed
//! im2col panel; A is the weights, read row-major where they lie (`Matrix`).
//!
//! Every output element is one chain of fused multiply-adds over `k` in
//! ascending order, started from zero (or from C, which holds the chain's
//! earlier part when the caller splits the depth), then `+ bias` once. The
//! AVX-512 tiles (8 rows x 3 vectors) and the AVX2 + FMA tiles (6 x 2) run
//! that chain in each vector lane and the portable fallback runs the same
//! chain element by element, so an element's bits do not depend on the tile
//! it falls in, on how a caller cuts rows, columns or depth into blocks, or
//! on the instruction set: batch, thread and tiling invariance, and the same
//! bits on AVX-512 and AVX2 machines, come from here.

use super::matmul::Real;

/// Rows of A per AVX-512 register tile (`ROWS x VECTORS` accumulators:
/// 24 of the 32 vector registers). Callers cut blocks by this and
/// `tile_width`, whatever tiles the CPU runs: those cuts change no bits.
pub(crate) const ROWS: usize = 8;
/// Vectors of C per AVX-512 tile row.
pub(crate) const VECTORS: usize = 3;
/// Trailing columns (past the full tiles) that a transposed A computes
/// along its rows instead of in a masked tile.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
const TAIL_COLUMNS: usize = 4;
/// Steps of a transposed A this many bytes apart (or a multiple) fall in
/// at most 8 of L1's 64 sets: such an A is copied band by band first
/// (`transposed_by_bands`).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
const CROWDED_STRIDE_BYTES: usize = 512;
/// A chunk's A at most this large is kept in L1 whole (see `multiply`).
const SMALL_A_BYTES: usize = 16 << 10;
/// Reduction per chunk: one tile's B rows of a chunk (for a
/// phase-split slab, a few lines per row) stay in L1 across the
/// strips, and each tile reloads and stores its accumulators once
/// per chunk. The same step count for both element types: a
/// tile's B row is 192 bytes either way. Single-core forward
/// times with 128 against the earlier 64 (float32) and 32
/// (float64), on 14 layers: 1-11% faster in float32, 7-19% in
/// float64; 192 made 512-channel 7x7 layers 40% slower.
const DEPTH_CHUNK: usize = 128;

/// Rows of a transposed A whose reduction chunk `multiply` keeps in L1
/// whole (and then computes columns outermost): a caller that lays out `W^T`
/// once per call in bands this tall, each band step-major, spares the tiles
/// the band copies they make of a larger transposed A (`transposed_by_bands`).
pub(crate) const fn transposed_band_rows<T>() -> usize {
    SMALL_A_BYTES / (DEPTH_CHUNK * std::mem::size_of::<T>()) / ROWS * ROWS
}

/// A product whose C is larger than this goes rows outermost even with a
/// small A: columns outermost write every row of C a few vectors at a
/// time, so C goes out as `rows` streams at once (MobileNetV2's 24 -> 144
/// channel 1x1 on 56x56 at batch 8, 14.5 MB of output: 3.6x slower per
/// image than at batch 1, where the output stayed in cache).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
const STREAMED_C_BYTES: usize = 1 << 20;

/// The left-hand matrix of a product: row-major, `depth` elements per row,
/// read in place (a convolution's weights are already `O x (C * taps)`
/// rows in their own layout; `grad_input` reads the flipped, transposed
/// weights of its dual convolution from the weights too, through a table
/// of steps: `Matrix::gathered`). The
/// tiles broadcast `ROWS` values per step, one from each row of a strip:
/// `ROWS` sequential streams, which the L1 prefetchers follow, so packing
/// the rows into strips buys nothing and costs a copy of the weights per call.
pub(crate) struct Matrix<'a, T> {
    data: &'a [T],
    rows: usize,
    depth: usize,
    /// Stored as its transpose: element (i, k) at `data[k * rows + i]`.
    transposed: bool,
    /// Element (i, k) at `data[i * lda + steps[k]]` (see `gathered`).
    gather: Option<(usize, &'a [usize])>,
}

/// How a block's A is stored (`RowsRef::layout`), a const parameter of the tiles.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
const ROW_MAJOR: u8 = 0;
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
const TRANSPOSED: u8 = 1;
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
const GATHERED: u8 = 2;

impl<'a, T: Copy + Default + Send + Sync + 'static> Matrix<'a, T> {
    /// The row-major `rows x depth` matrix `data`, read in place.
    pub fn borrowed(data: &'a [T], rows: usize, depth: usize) -> Self {
        assert!(data.len() == rows * depth, "matrix of the wrong size");
        Matrix { data, rows, depth, transposed: false, gather: None }
    }

    /// The `rows x depth` matrix with element (i, k) at `data[i * lda +
    /// steps[k]]`: rows `lda` apart whose steps lie where a table says
    /// (`grad_input`'s dual weights, `steps[o * taps + t] = o * C * taps +
    /// taps - 1 - t` with `lda = taps`, read from the weights as they lie,
    /// rather than from a flipped copy that cost as much as the product on
    /// a 7x7 image).
    pub fn gathered(data: &'a [T], rows: usize, depth: usize, lda: usize, steps: &'a [usize]) -> Self {
        assert!(steps.len() == depth, "a step per reduction step");
        let last = steps.iter().max().map_or(0, |&s| s + (rows.max(1) - 1) * lda);
        assert!(rows == 0 || depth == 0 || last < data.len(), "matrix steps out of range");
        Matrix { data, rows, depth, transposed: false, gather: Some((lda, steps)) }
    }

    /// The `rows x depth` matrix whose transpose is the row-major `data`
    /// (a 1x1 layer's weights, read in place as `W^T` by `grad_input`):
    /// the tiles then broadcast a strip's 8 values from one contiguous run.
    pub fn transpose_of(data: &'a [T], rows: usize, depth: usize) -> Self {
        assert!(data.len() == rows * depth, "matrix of the wrong size");
        Matrix { data, rows, depth, transposed: true, gather: None }
    }

    /// Element (i, k).
    pub fn get(&self, i: usize, k: usize) -> T {
        assert!(i < self.rows && k < self.depth, "matrix element out of range");
        match self.gather {
            Some((lda, steps)) => self.data[i * lda + steps[k]],
            None if self.transposed => self.data[k * self.rows + i],
            None => self.data[i * self.depth + k],
        }
    }

    /// Rows `rows` side by side, element (i, k) to `dst[k * block + i - rows.start]`
    /// (a repack for tiles that load a step's channels as vectors), in the
    /// order that reads the matrix in runs: a row-major matrix row by row
    /// (step by step, ResNeXt's batch-8 7x7 layer spent a tenth of its time
    /// in cache misses), a gathered or transposed one step by step (row by
    /// row, a gathered block touched more lines than L1 holds).
    pub fn pack_columns(&self, rows: std::ops::Range<usize>, dst: &mut [T], block: usize) {
        let n = rows.len();
        assert!(rows.end <= self.rows && n <= block && (self.depth == 0 || dst.len() >= (self.depth - 1) * block + n), "matrix rows out of range");
        match self.gather {
            Some((lda, steps)) => {
                for (k, &step) in steps.iter().enumerate() {
                    let sources = self.data[rows.start * lda + step..].iter().step_by(lda);
                    dst[k * block..][..n].iter_mut().zip(sources).for_each(|(d, &v)| *d = v);
                }
            }
            None if self.transposed => {
                for k in 0..self.depth {
                    dst[k * block..][..n].copy_from_slice(&self.data[k * self.rows + rows.start..][..n]);
                }
            }
            None => {
                let (square_rows, square_steps) = self.pack_squares(rows.start, n, dst, block);
                for (j, i) in rows.enumerate() {
                    let from = if j < square_rows { square_steps } else { 0 };
                    if from < self.depth {
                        let row = &self.data[i * self.depth + from..(i + 1) * self.depth];
                        dst[j + from * block..].iter_mut().step_by(block).zip(row).for_each(|(d, &v)| *d = v);
                    }
                }
            }
        }
    }

    /// The row-major part of `pack_columns` in 16 x 16 register transposes
    /// where they run (float32 on AVX-512: ResNeXt's 32-group 7x7 layer at
    /// batch 8 spent 8% of its time repacking its weights element by
    /// element): rows `first..first + n` of the first `rows` (a multiple of
    /// 16) and their first `steps` steps; returns `(rows, steps)`, (0, 0)
    /// where nothing ran.
    fn pack_squares(&self, first: usize, n: usize, dst: &mut [T], block: usize) -> (usize, usize) {
        #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
        if tile_isa() == TileIsa::Avx512 && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
            let (rows, steps) = (n / 16 * 16, self.depth / 16 * 16);
            for j0 in (0..rows).step_by(16) {
                for k0 in (0..steps).step_by(16) {
                    // SAFETY: T is f32 (checked). The square reads rows
                    // first + j0 + i (< self.rows, asserted by the caller)
                    // at steps k0 + c < depth, and writes dst[(k0 + c) *
                    // block + j0 + i] with j0 + i < n <= block, below
                    // (depth - 1) * block + n <= dst.len() (asserted by the
                    // caller); AVX-512F was detected.
                    unsafe {
                        let src = self.data.as_ptr().add((first + j0) * self.depth + k0).cast::<f32>();
                        transpose16_f32(src, self.depth, None, dst.as_mut_ptr().add(k0 * block + j0).cast(), block);
                    }
                }
            }
            return (rows, steps);
        }
        let _ = (first, n, dst, block);
        (0, 0)
    }

    /// The rows from `row` on, for a `Block` whose reduction starts at step `k0`.
    pub fn rows_from(&self, row: usize, k0: usize) -> RowsRef<T> {
        assert!(row <= self.rows && k0 <= self.depth, "matrix rows out of range");
        if let Some((lda, steps)) = self.gather {
            // Rows past the last (row == rows) are never read; wrapping
            // keeps the pointer arithmetic defined for them.
            return RowsRef { ptr: self.data.as_ptr().wrapping_add(row * lda), lda, transposed: false, steps: steps[k0..].as_ptr() };
        }
        if self.transposed {
            // SAFETY: k0 * rows + row <= depth * rows = data.len().
            return RowsRef { ptr: unsafe { self.data.as_ptr().add(k0 * self.rows + row) }, lda: self.rows, transposed: true, steps: std::ptr::null() };
        }
        // SAFETY: row * depth + k0 <= rows * depth = data.len().
        RowsRef { ptr: unsafe { self.data.as_ptr().add(row * self.depth + k0) }, lda: self.depth, transposed: false, steps: std::ptr::null() }
    }
}

/// Where a block's A lives: A(i, k) at `ptr + i * lda + k`, with
/// `transposed` at `ptr + k * lda + i`, with `steps` (not null) at
/// `ptr + i * lda + steps[k]`.
#[derive(Clone, Copy)]
pub struct RowsRef<T> {
    ptr: *const T,
    lda: usize,
    transposed: bool,
    steps: *const usize,
}

impl<T> RowsRef<T> {
    /// `rows` rows of `depth` elements, `lda` apart, from the start of `data`
    /// (a channel's plane in a slab, read at a kernel tap's shift).
    pub fn strided(data: &[T], rows: usize, lda: usize, depth: usize) -> Self {
        assert!(rows == 0 || (rows - 1) * lda + depth <= data.len(), "rows out of range");
        RowsRef { ptr: data.as_ptr(), lda, transposed: false, steps: std::ptr::null() }
    }

    /// A(i, k).
    ///
    /// # Safety
    /// Row i and step k must lie inside the matrix the reference came from.
    #[inline(always)]
    unsafe fn at(&self, i: usize, k: usize) -> *const T {
        // SAFETY: the caller's contract (which covers `steps[k]` too).
        unsafe {
            if self.transposed {
                self.ptr.add(k * self.lda + i)
            } else if !self.steps.is_null() {
                self.ptr.add(i * self.lda + *self.steps.add(k))
            } else {
                self.ptr.add(i * self.lda + k)
            }
        }
    }

    /// How A is stored: `ROW_MAJOR`, `TRANSPOSED` or `GATHERED`.
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    fn layout(&self) -> u8 {
        if self.transposed {
            TRANSPOSED
        } else if self.steps.is_null() {
            ROW_MAJOR
        } else {
            GATHERED
        }
    }

    /// Where a strip of rows from `i0` starts at step `k0`, and its steps
    /// (null unless `GATHERED`): `at(i0, k0)`, or for a gathered A row
    /// `i0`'s start and the steps from `k0` on.
    ///
    /// # Safety
    /// As `at`.
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    #[inline(always)]
    unsafe fn strip_start(&self, i0: usize, k0: usize) -> (*const T, *const usize) {
        if self.steps.is_null() {
            // SAFETY: the caller's contract.
            (unsafe { self.at(i0, k0) }, std::ptr::null())
        } else {
            // SAFETY: the caller's contract: row i0 and step k0 lie inside
            // the matrix, so do this row's start and the table's entry k0.
            unsafe { (self.ptr.add(i0 * self.lda), self.steps.add(k0)) }
        }
    }
}

/// One block's operands.
#[derive(Clone, Copy)]
pub struct Block<T> {
    /// A(i, k).
    pub a: RowsRef<T>,
    /// B(k, j) at `b + offsets[k] + j`.
    pub b: *const T,
    pub offsets: *const usize,
    pub depth: usize,
    /// C(i, j) at `c + i * ldc + j`.
    pub c: *mut T,
    pub ldc: usize,
    pub rows: usize,
    pub cols: usize,
    /// Added to row i's sums after the last product, when given (`rows` values).
    pub bias: Option<*const T>,
    /// Whether C holds the earlier part of each chain (else the chain starts at 0).
    pub accumulate: bool,
}

/// Element types with a register-tiled block product (a supertrait of `Real`).
pub trait TiledProduct: Sized {
    /// Computes `block`.
    ///
    /// # Safety
    /// for i < rows, k < depth, j < cols: `a.at(i, k)` must be a readable
    /// element,
    /// `b + offsets[k] + j` must be readable elements, `offsets` must hold
    /// `depth` readable entries, and `c + i*ldc + j` must be elements valid
    /// for reads and writes that nothing else accesses during the call;
    /// `bias`, when given, must point at `rows` readable elements.
    unsafe fn multiply(block: &Block<Self>) {
        // SAFETY: the caller's contract; `tile_isa` is what this CPU runs.
        unsafe { Self::multiply_on(tile_isa(), block) }
    }

    /// `multiply` in the tiles of `isa` (the portable chain where this
    /// build has none): every instruction set gives the same bits.
    ///
    /// # Safety
    /// As `multiply`, and the CPU must support `isa`.
    unsafe fn multiply_on(isa: TileIsa, block: &Block<Self>);

    /// For each of `rows` rows (`src` rows `src_stride` apart, `dst` rows
    /// `dst_stride` apart): `dst[0][i] = src[2 * i]` for `i < widths[0]` and
    /// `dst[1][i] = src[2 * i + 1]` for `i < widths[1]`, the two phases of
    /// a stride-2 row in one pass (`widths[1] == 0`: the even phase only).
    ///
    /// # Safety
    /// Each source row readable up to the elements named, each destination
    /// row writable for its width, destinations disjoint from the source
    /// and from each other.
    unsafe fn deinterleave_rows(src: *const Self, src_stride: usize, dst: [*mut Self; 2], dst_stride: usize, widths: [usize; 2], rows: usize);

    /// `rows` rows of `width` elements from `src` (rows `src_stride` apart)
    /// to `dst` (`dst_stride` apart), in masked vectors: the short rows of
    /// small images cost less this way than a `memcpy` call per row.
    ///
    /// # Safety
    /// Source rows readable, destination rows writable, disjoint.
    unsafe fn copy_rows(src: *const Self, src_stride: usize, dst: *mut Self, dst_stride: usize, width: usize, rows: usize);

    /// `dst[j][t] = src[start + 2 * t + j]` for j < 4 and every
    /// `t < dst[j].len()` (all four the same length), 0 where that index
    /// falls outside `src`: the four columns of a row of 4-wide windows
    /// taken every second element (Winograd F(2x2, 3x3)'s input patches),
    /// with zero padding around the row.
    fn take_quads(src: &[Self], start: isize, dst: [&mut [Self]; 4]);
}

/// `TiledProduct::deinterleave_rows`, element by element.
///
/// # Safety
/// As `deinterleave_rows`.
#[inline(always)]
unsafe fn deinterleave_rows_scalar<T: Copy>(src: *const T, src_stride: usize, dst: [*mut T; 2], dst_stride: usize, widths: [usize; 2], rows: usize) {
    for r in 0..rows {
        for phase in 0..2 {
            for i in 0..widths[phase] {
                // SAFETY: the caller's contract names these elements.
                unsafe { *dst[phase].add(r * dst_stride + i) = *src.add(r * src_stride + 2 * i + phase) };
            }
        }
    }
}

/// `TiledProduct::take_quads`, element by element.
#[inline(always)]
fn take_quads_scalar<T: Copy + Default>(src: &[T], start: isize, dst: [&mut [T]; 4]) {
    for (j, dst) in dst.into_iter().enumerate() {
        for (t, v) in dst.iter_mut().enumerate() {
            let at = start + (2 * t + j) as isize;
            *v = if at >= 0 && (at as usize) < src.len() { src[at as usize] } else { T::default() };
        }
    }
}

/// `deinterleave_rows` and `copy_rows` with AVX-512 masked loads and
/// stores: each 16 (or 8) outputs of both phases from two loads and two
/// `vpermt2`.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
macro_rules! avx512_row_moves {
    ($deinterleave:ident, $copy:ident, $t:ty, $lanes:expr, $mask:ty, $even:expr, $odd:expr,
     $maskz_loadu:ident, $permute:ident, $mask_storeu:ident) => {
        /// # Safety
        /// Needs AVX-512F; as `TiledProduct::deinterleave_rows`.
        #[target_feature(enable = "avx512f")]
        unsafe fn $deinterleave(src: *const $t, src_stride: usize, dst: [*mut $t; 2], dst_stride: usize, widths: [usize; 2], rows: usize) {
            use std::arch::x86_64::*;
            let lanes = |n: usize| -> $mask { if n >= $lanes { !0 } else { ((1u32 << n) - 1) as $mask } };
            let [even, odd] = widths;
            // Source elements read: up to 2 * (even - 1) and 2 * (odd - 1) + 1.
            let needed = (2 * even).saturating_sub(1).max(2 * odd);
            let (even_at, odd_at) = ($even, $odd);
            for r in 0..rows {
                let (src, e_row, o_row) = (src.wrapping_add(r * src_stride), dst[0].wrapping_add(r * dst_stride), dst[1].wrapping_add(r * dst_stride));
                let mut i = 0;
                while i < even.max(odd) {
                    let available = needed - 2 * i;
                    // SAFETY: the masks keep every load among the row's
                    // `needed` elements and every store inside each phase's
                    // width (the caller's contract); masked-off lanes are
                    // not accessed, so the pointers may point past the ends.
                    unsafe {
                        let a = $maskz_loadu(lanes(available), src.wrapping_add(2 * i));
                        let b = $maskz_loadu(lanes(available.saturating_sub($lanes)), src.wrapping_add(2 * i + $lanes));
                        $mask_storeu(e_row.wrapping_add(i), lanes(even.saturating_sub(i)), $permute(a, even_at, b));
                        $mask_storeu(o_row.wrapping_add(i), lanes(odd.saturating_sub(i)), $permute(a, odd_at, b));
                    }
                    i += $lanes;
                }
            }
        }

        /// # Safety
        /// Needs AVX-512F; as `TiledProduct::copy_rows`.
        #[target_feature(enable = "avx512f")]
        unsafe fn $copy(src: *const $t, src_stride: usize, dst: *mut $t, dst_stride: usize, width: usize, rows: usize) {
            use std::arch::x86_64::*;
            let tail: $mask = if width % $lanes == 0 { !0 } else { ((1u32 << (width % $lanes)) - 1) as $mask };
            for r in 0..rows {
                let (src, dst) = (src.wrapping_add(r * src_stride), dst.wrapping_add(r * dst_stride));
                let mut i = 0;
                while i < width {
                    let m: $mask = if width - i >= $lanes { !0 } else { tail };
                    // SAFETY: lanes below width - i from i, inside both rows
                    // (the caller's contract); the rest are not accessed.
                    unsafe { $mask_storeu(dst.wrapping_add(i), m, $maskz_loadu(m, src.wrapping_add(i))) };
                    i += $lanes;
                }
            }
        }
    };
}

#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
avx512_row_moves!(deinterleave_rows_f32, copy_rows_f32, f32, 16, u16,
    std::arch::x86_64::_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
    std::arch::x86_64::_mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31),
    _mm512_maskz_loadu_ps, _mm512_permutex2var_ps, _mm512_mask_storeu_ps);
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
avx512_row_moves!(deinterleave_rows_f64, copy_rows_f64, f64, 8, u8,
    std::arch::x86_64::_mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14),
    std::arch::x86_64::_mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15),
    _mm512_maskz_loadu_pd, _mm512_permutex2var_pd, _mm512_mask_storeu_pd);

/// A 16 x 16 float32 block transposed (plus `bias[c]` on row `c` of the
/// result): `dst[c * plane + i] = src[i * stride + c] (+ bias[c])`. Four
/// rounds of shuffles: 4 x 4 transposes within each 128-bit lane, then a
/// 4 x 4 transpose of the lanes themselves.
///
/// # Safety
/// `src + i * stride + c`, `bias + c` readable and `dst + c * plane + i`
/// writable for i, c < 16; AVX-512F available.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn transpose16_f32(src: *const f32, stride: usize, bias: Option<*const f32>, dst: *mut f32, plane: usize) {
    use std::arch::x86_64::*;
    // SAFETY: (the whole body) the caller's contract.
    unsafe {
        let r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * stride)));
        // Pairs of rows interleaved, then in each lane of each group of
        // four rows g, vector 4g + m holds column 4 * lane + m of those rows.
        let t: [__m512; 16] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 { _mm512_unpacklo_ps(a, b) } else { _mm512_unpackhi_ps(a, b) }
        });
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let (g, m) = (i / 4, i % 4);
            let (a, b) = (t[4 * g + m / 2], t[4 * g + 2 + m / 2]);
            if m % 2 == 0 { _mm512_shuffle_ps::<0x44>(a, b) } else { _mm512_shuffle_ps::<0xEE>(a, b) }
        });
        for m in 0..4 {
            let [u0, u1, u2, u3] = [0, 1, 2, 3].map(|g| u[4 * g + m]);
            let (low01, high01) = (_mm512_shuffle_f32x4::<0x44>(u0, u1), _mm512_shuffle_f32x4::<0xEE>(u0, u1));
            let (low23, high23) = (_mm512_shuffle_f32x4::<0x44>(u2, u3), _mm512_shuffle_f32x4::<0xEE>(u2, u3));
            let columns = [
                _mm512_shuffle_f32x4::<0x88>(low01, low23),
                _mm512_shuffle_f32x4::<0xDD>(low01, low23),
                _mm512_shuffle_f32x4::<0x88>(high01, high23),
                _mm512_shuffle_f32x4::<0xDD>(high01, high23),
            ];
            for (lane, column) in columns.into_iter().enumerate() {
                let channel = 4 * lane + m;
                let row = match bias {
                    Some(b) => _mm512_add_ps(column, _mm512_set1_ps(*b.add(channel))),
                    None => column,
                };
                _mm512_storeu_ps(dst.add(channel * plane), row);
            }
        }
    }
}

/// The portable chain, element by element: the same operations in the same
/// order as each lane of the vector tiles.
///
/// # Safety
/// As `TiledProduct::multiply`.
unsafe fn multiply_scalar<T: Real>(m: &Block<T>) {
    for i in 0..m.rows {
        for j in 0..m.cols {
            // SAFETY: every pointer below addresses an element the caller's
            // contract makes valid (i < rows, j < cols, k < depth).
            unsafe {
                let c = m.c.add(i * m.ldc + j);
                let mut acc = if m.accumulate { *c } else { T::ZERO };
                for k in 0..m.depth {
                    let a = *m.a.at(i, k);
                    let b = *m.b.add(*m.offsets.add(k) + j);
                    acc = a.fused_mul_add(b, acc);
                }
                if let Some(bias) = m.bias {
                    acc += *bias.add(i);
                }
                *c = acc;
            }
        }
    }
}

/// Generates the block product for one instruction set and element type: a tile
/// function generic over its shape, and the driver that covers a block
/// with full tiles plus narrower ones at the edges.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
macro_rules! vector_product {
    ($module:ident, $feature:literal, $t:ty, $lanes:expr, rows $rows:literal, rests [$($rest:literal),*], vectors $vectors:literal, vrests [$($vrest:literal),*],
     $mask:ty, $first:path, $zero:ident, $loadu:ident, $maskz_loadu:path,
     $set1:ident, $fmadd:ident, $add:ident, $storeu:ident, $mask_storeu:path) => {
        mod $module {
            use super::{Block, RowsRef, CROWDED_STRIDE_BYTES, DEPTH_CHUNK, GATHERED, SMALL_A_BYTES, STREAMED_C_BYTES, TAIL_COLUMNS, TRANSPOSED};
            use std::arch::x86_64::*;

            pub(super) const LANES: usize = $lanes;
            /// Rows of A per register tile: `ROWS x VECTORS` accumulators,
            /// with room left for a tile row of B and a broadcast.
            const ROWS: usize = $rows;
            /// Vectors of C per tile row.
            const VECTORS: usize = $vectors;

            /// The chunk where consecutive B rows lie a page or more apart
            /// (a 1x1 layer's input planes, read in place): each row of a
            /// chunk is then another page, and 128 of them overflow the
            /// L1 TLB (MobileNetV2's 144 x 56x56 -> 24, one core: 15% slower
            /// in float64 with 128 steps than with these).
            const SPREAD_DEPTH_CHUNK: usize = 2048 / (super::ROWS * std::mem::size_of::<$t>());
            const PAGE_BYTES: usize = 4096;

            /// The reduction steps per chunk for `m` (see `DEPTH_CHUNK`).
            ///
            /// # Safety
            /// `m.offsets` must hold `m.depth` readable entries.
            unsafe fn depth_chunk(m: &Block<$t>) -> usize {
                // SAFETY: entries 0 and 1 exist when depth >= 2.
                let step = if m.depth >= 2 { unsafe { (*m.offsets.add(1)).abs_diff(*m.offsets) } } else { 0 };
                if step * std::mem::size_of::<$t>() >= PAGE_BYTES { SPREAD_DEPTH_CHUNK } else { DEPTH_CHUNK }
            }

            /// One chunk of one strip of rows.
            struct Strip {
                /// A(i0 + i, k0 + k) at `a[i * lda + k]` (`a[k * lda + i]` in
                /// the tiles of a transposed A, `a[i * lda + steps[k]]` in
                /// those of a gathered one).
                a: *const $t,
                steps: *const usize,
                lda: usize,
                i0: usize,
                k0: usize,
                depth: usize,
                accumulate: bool,
                bias: bool,
            }

            /// An `MR x NV`-vector tile at columns `j0..j0+cols` of a strip
            /// (`cols` in `(NV-1)*LANES+1 ..= NV*LANES`; the last vector is masked).
            ///
            /// # Safety
            /// As `TiledProduct::multiply` for the strip's rows and the
            /// tile's columns, on a CPU with the module's instruction set.
            #[target_feature(enable = $feature)]
            unsafe fn tile<const MR: usize, const NV: usize, const L: u8, const MASKED: bool>(m: &Block<$t>, s: &Strip, j0: usize, cols: usize) {
                debug_assert!(MASKED || cols == NV * LANES, "an unmasked tile of the wrong width");
                let last = cols - (NV - 1) * LANES;
                let masked = MASKED && last < LANES;
                let tail: $mask = $first(last.min(LANES));
                // SAFETY: (the whole body) every access is to an element of rows
                // s.i0..s.i0+MR (< rows), columns j0..j0+cols (<= cols) and
                // reduction steps s.k0..s.k0+depth (< depth), which the
                // caller's contract makes valid (A's among them);
                // masked lanes beyond `cols` are neither read nor written.
                unsafe {
                    let c = m.c.add(s.i0 * m.ldc + j0);
                    let mut acc = [[$zero(); NV]; MR];
                    if s.accumulate {
                        for i in 0..MR {
                            for v in 0..NV {
                                let at = c.add(i * m.ldc + v * LANES);
                                acc[i][v] = if masked && v + 1 == NV { $maskz_loadu(tail, at) } else { $loadu(at) };
                            }
                        }
                    }
                    let b = m.b.add(j0);
                    let offsets = m.offsets.add(s.k0);
                    let a: [*const $t; MR] = std::array::from_fn(|i| s.a.add(i * s.lda));
                    for k in 0..s.depth {
                        let row = b.add(*offsets.add(k));
                        let mut bv = [$zero(); NV];
                        for v in 0..NV {
                            bv[v] = if masked && v + 1 == NV { $maskz_loadu(tail, row.add(v * LANES)) } else { $loadu(row.add(v * LANES)) };
                        }
                        let step = if L == GATHERED { *s.steps.add(k) } else { k };
                        for i in 0..MR {
                            let av = if L == TRANSPOSED { $set1(*s.a.add(k * s.lda + i)) } else { $set1(*a[i].add(step)) };
                            for v in 0..NV {
                                acc[i][v] = $fmadd(av, bv[v], acc[i][v]);
                            }
                        }
                    }
                    if let (true, Some(bias)) = (s.bias, m.bias) {
                        for i in 0..MR {
                            let bv = $set1(*bias.add(s.i0 + i));
                            for v in 0..NV {
                                acc[i][v] = $add(acc[i][v], bv);
                            }
                        }
                    }
                    for i in 0..MR {
                        for v in 0..NV {
                            let at = c.add(i * m.ldc + v * LANES);
                            if masked && v + 1 == NV { $mask_storeu(at, tail, acc[i][v]) } else { $storeu(at, acc[i][v]) }
                        }
                    }
                }
            }

            /// Columns `j0..j0+cols` (at most `NV` vectors) of every row, for
            /// one chunk of the reduction: the chunk's B for these columns
            /// stays in L1 while the strips of A stream past it (BLIS's order).
            ///
            /// # Safety
            /// As `tile`.
            #[target_feature(enable = $feature)]
            unsafe fn column<const NV: usize, const L: u8, const MASKED: bool>(m: &Block<$t>, k0: usize, depth: usize, j0: usize, cols: usize) {
                let last = k0 + depth == m.depth;
                // SAFETY: row i0 < rows and step k0 < depth of the block,
                // whose A the caller vouches for.
                let strip = |i0: usize| { let (a, steps) = unsafe { m.a.strip_start(i0, k0) }; Strip {
                    a,
                    steps,
                    lda: m.a.lda,
                    i0,
                    k0,
                    depth,
                    accumulate: m.accumulate || k0 > 0,
                    bias: last,
                } };
                let mut i0 = 0;
                // SAFETY: each tile covers rows i0..i0+MR inside 0..rows and
                // columns j0..j0+cols inside 0..cols.
                unsafe {
                    while i0 + ROWS <= m.rows {
                        tile::<ROWS, NV, L, MASKED>(m, &strip(i0), j0, cols);
                        i0 += ROWS;
                    }
                    match m.rows - i0 {
                        $($rest => tile::<$rest, NV, L, MASKED>(m, &strip(i0), j0, cols),)*
                        rest => debug_assert_eq!(rest, 0, "remainder rows without a tile"),
                    }
                }
            }

            /// Rows `i0..i0+MR` across every column, for one chunk of the
            /// reduction: the strip's A stays in L1 while B streams past it.
            ///
            /// # Safety
            /// As `tile`.
            #[target_feature(enable = $feature)]
            unsafe fn row<const MR: usize, const L: u8>(m: &Block<$t>, k0: usize, depth: usize, i0: usize, cols: usize) {
                // SAFETY: row i0 < rows and step k0 < depth of the block.
                let (a, steps) = unsafe { m.a.strip_start(i0, k0) };
                let s = Strip {
                    a,
                    steps,
                    lda: m.a.lda,
                    i0,
                    k0,
                    depth,
                    accumulate: m.accumulate || k0 > 0,
                    bias: k0 + depth == m.depth,
                };
                let width = VECTORS * LANES;
                let mut j0 = 0;
                // SAFETY: tiles cover columns j0..j0+n within 0..cols of the
                // strip's rows.
                unsafe {
                    while j0 + width <= cols {
                        tile::<MR, VECTORS, L, false>(m, &s, j0, width);
                        j0 += width;
                    }
                    let rest = cols - j0;
                    match rest.div_ceil(LANES) {
                        $($vrest => tile::<MR, $vrest, L, true>(m, &s, j0, rest),)*
                        vectors => debug_assert_eq!(vectors, 0, "remainder columns without a tile"),
                    }
                }
            }

            /// Columns `j0..j0+NC` of every row for one chunk of the
            /// reduction, with A stored transposed: vectors along the rows,
            /// one multiply-add per `LANES` rows and step for each column,
            /// where a masked tile would spend one per row (a 7x7 image's
            /// 49th pixel cost a quarter of a 1x1 `grad_input`). Each lane
            /// runs the same chain as a tile's: `fma(A(i, k), B(k, j), acc)`
            /// over ascending k, then `+ bias`.
            ///
            /// # Safety
            /// As `tile` for these columns and every row; A transposed.
            #[target_feature(enable = $feature)]
            unsafe fn tail_by_rows<const NC: usize>(m: &Block<$t>, k0: usize, depth: usize, j0: usize) {
                let accumulate = m.accumulate || k0 > 0;
                let bias = if k0 + depth == m.depth { m.bias } else { None };
                let mut lanes = [<$t>::default(); LANES];
                let mut i0 = 0;
                // SAFETY: (the whole body) rows i0..i0+n < rows, columns
                // j0..j0+NC and steps k0..k0+depth of the caller's block; a
                // transposed A keeps rows i0..i0+n of step k contiguous
                // from `at(i0, k)`, and masked lanes past n are not touched.
                unsafe {
                    while i0 < m.rows {
                        let n = LANES.min(m.rows - i0);
                        let mask: $mask = $first(n);
                        let c = m.c.add(i0 * m.ldc + j0);
                        let mut acc = [$zero(); NC];
                        if accumulate {
                            for (col, acc) in acc.iter_mut().enumerate() {
                                for (i, lane) in lanes[..n].iter_mut().enumerate() {
                                    *lane = *c.add(i * m.ldc + col);
                                }
                                *acc = $maskz_loadu(mask, lanes.as_ptr());
                            }
                        }
                        let a = m.a.at(i0, k0);
                        for k in 0..depth {
                            let av = $maskz_loadu(mask, a.add(k * m.a.lda));
                            let row = m.b.add(*m.offsets.add(k0 + k) + j0);
                            for (col, acc) in acc.iter_mut().enumerate() {
                                *acc = $fmadd(av, $set1(*row.add(col)), *acc);
                            }
                        }
                        for (col, acc) in acc.iter().enumerate() {
                            let sums = match bias {
                                Some(bias) => $add(*acc, $maskz_loadu(mask, bias.add(i0))),
                                None => *acc,
                            };
                            $mask_storeu(lanes.as_mut_ptr(), mask, sums);
                            for (i, lane) in lanes[..n].iter().enumerate() {
                                *c.add(i * m.ldc + col) = *lane;
                            }
                        }
                        i0 += LANES;
                    }
                }
            }

            /// The whole block, a chunk of the reduction at a time. When the
            /// chunk's A fits in L1 beside a tile's B (short reductions,
            /// few rows: pointwise layers), the columns go outermost so B
            /// is read once; otherwise the strips do, so each strip's A is
            /// read once and B comes from L2. Either order runs the same
            /// chains.
            ///
            /// # Safety
            /// As `TiledProduct::multiply`, on a CPU with the module's instruction set.
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn multiply(m: &Block<$t>) {
                // SAFETY: the caller's contract, passed on.
                unsafe {
                    match m.a.layout() {
                        TRANSPOSED => multiply_with::<TRANSPOSED>(m),
                        GATHERED => multiply_with::<GATHERED>(m),
                        _ => multiply_with::<{ super::ROW_MAJOR }>(m),
                    }
                }
            }

            /// `multiply` for A stored as `L` says (see `RowsRef::layout`).
            ///
            /// # Safety
            /// As `multiply`.
            #[target_feature(enable = $feature)]
            unsafe fn multiply_with<const L: u8>(m: &Block<$t>) {
                // SAFETY: the caller's contract covers the offsets.
                let chunk = unsafe { depth_chunk(m) };
                let small_a = m.rows * chunk.min(m.depth) * std::mem::size_of::<$t>() <= SMALL_A_BYTES;
                let columns_outer = small_a && m.rows * m.cols * std::mem::size_of::<$t>() <= STREAMED_C_BYTES;
                if L == TRANSPOSED && !small_a && (m.a.lda * std::mem::size_of::<$t>()) % CROWDED_STRIDE_BYTES == 0 {
                    // SAFETY: the caller's contract, passed on.
                    return unsafe { transposed_by_bands(m, chunk) };
                }
                let width = VECTORS * LANES;
                // The last few columns of a transposed A go along the rows (`tail_by_rows`).
                let tail = if L == TRANSPOSED && (1..=TAIL_COLUMNS).contains(&(m.cols % width)) { m.cols % width } else { 0 };
                let cols = m.cols - tail;
                let mut k0 = 0;
                loop {
                    let depth = chunk.min(m.depth - k0);
                    // SAFETY: columns j0..j0+n inside 0..cols, rows i0..i0+MR
                    // inside 0..rows and steps k0..k0+depth inside 0..depth:
                    // parts of the caller's block.
                    unsafe {
                        if columns_outer {
                            let mut j0 = 0;
                            while j0 + width <= cols {
                                column::<VECTORS, L, false>(m, k0, depth, j0, width);
                                j0 += width;
                            }
                            let rest = cols - j0;
                            match rest.div_ceil(LANES) {
                                $($vrest => column::<$vrest, L, true>(m, k0, depth, j0, rest),)*
                                vectors => debug_assert_eq!(vectors, 0, "remainder columns without a tile"),
                            }
                        } else {
                            let mut i0 = 0;
                            while i0 + ROWS <= m.rows {
                                row::<ROWS, L>(m, k0, depth, i0, cols);
                                i0 += ROWS;
                            }
                            match m.rows - i0 {
                                $($rest => row::<$rest, L>(m, k0, depth, i0, cols),)*
                                rest => debug_assert_eq!(rest, 0, "remainder rows without a tile"),
                            }
                        }
                    }
                    // SAFETY: columns cols..cols+tail of every row, steps
                    // k0..k0+depth: part of the caller's block.
                    unsafe {
                        match tail {
                            0 => {}
                            1 => tail_by_rows::<1>(m, k0, depth, cols),
                            2 => tail_by_rows::<2>(m, k0, depth, cols),
                            3 => tail_by_rows::<3>(m, k0, depth, cols),
                            _ => tail_by_rows::<4>(m, k0, depth, cols),
                        }
                    }
                    k0 += depth;
                    if k0 >= m.depth {
                        break;
                    }
                }
            }

            /// A transposed A too large to stay in L1 for a chunk whose runs
            /// crowd into few L1 sets, by bands
            /// of rows: each band's chunk is copied into a contiguous
            /// transposed buffer (`BAND_ROWS` values per step) and computed
            /// columns outermost, so a tile's B is read once per band from
            /// L1 and the band's A from L1. Read in place, im2col's W^T
            /// (`lda = C * taps`, often a multiple of 1 KiB) put a chunk's
            /// runs in a few L1 sets, and each broadcast waited on L2 or L3
            /// (ResNet-18 `layer4.0.conv1` grad_input: 42% of the samples on
            /// the multiply-add after it). With runs spread over the sets
            /// (a 1x1 layer's `W^T` with 160 rows) the copy only costs: 10%
            /// slower there. The same chains as `multiply`.
            ///
            /// # Safety
            /// As `multiply`; A transposed; `chunk` from `depth_chunk(m)`.
            #[target_feature(enable = $feature)]
            unsafe fn transposed_by_bands(m: &Block<$t>, chunk: usize) {
                const BAND_ROWS: usize = super::transposed_band_rows::<$t>();
                debug_assert!(chunk <= DEPTH_CHUNK, "a chunk longer than the band buffer");
                let mut buffer = std::mem::MaybeUninit::<[$t; BAND_ROWS * DEPTH_CHUNK]>::uninit();
                let packed = buffer.as_mut_ptr().cast::<$t>();
                let mut k0 = 0;
                while k0 < m.depth {
                    let depth = chunk.min(m.depth - k0);
                    let last = k0 + depth == m.depth;
                    let mut i0 = 0;
                    while i0 < m.rows {
                        let rows = BAND_ROWS.min(m.rows - i0);
                        // SAFETY: (the whole body) rows i0..i0+rows of steps
                        // k0..k0+depth are contiguous runs of the caller's
                        // transposed A, copied into the buffer's first
                        // rows * depth elements, which the band then reads
                        // (rows * chunk * size <= SMALL_A_BYTES, so `multiply_with`
                        // takes its columns-outer order and does not come back
                        // here); the band's B, C and bias are the caller's at
                        // the same steps, rows i0.. and every column.
                        unsafe {
                            for k in 0..depth {
                                std::ptr::copy_nonoverlapping(m.a.at(i0, k0 + k), packed.add(k * rows), rows);
                            }
                            let band = Block {
                                a: RowsRef { ptr: packed, lda: rows, transposed: true, steps: std::ptr::null() },
                                b: m.b,
                                offsets: m.offsets.add(k0),
                                depth,
                                c: m.c.add(i0 * m.ldc),
                                ldc: m.ldc,
                                rows,
                                cols: m.cols,
                                bias: if last { m.bias.map(|bias| bias.add(i0)) } else { None },
                                accumulate: m.accumulate || k0 > 0,
                            };
                            multiply_with::<TRANSPOSED>(&band);
                        }
                        i0 += rows;
                    }
                    k0 += depth;
                }
            }
        }
    };
}

/// The first `n` of 16 lanes (all of them for `n >= 16`), as an AVX-512 mask.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[inline(always)]
fn first16(n: usize) -> u16 {
    if n >= 16 { !0 } else { (1u16 << n) - 1 }
}

/// The first `n` of 8 lanes, as an AVX-512 mask.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[inline(always)]
fn first8(n: usize) -> u8 {
    if n >= 8 { !0 } else { (1u8 << n) - 1 }
}

/// AVX2's masked moves in the shape of AVX-512's (a mask of the first `n`
/// lanes, zero in the lanes not loaded), for the same tile code. The masks
/// are vectors whose active lanes have the sign bit set (`vmaskmov`).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
mod avx2_masked {
    use std::arch::x86_64::*;

    /// Eight set lanes then eight clear ones: the mask of the first `n`
    /// 32-bit lanes starts `8 - n` lanes in (64-bit lanes: `4 - n`, in pairs).
    static SIGNS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

    /// The first `n` of 8 single-precision lanes (`n <= 8`).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn first_ps(n: usize) -> __m256i {
        let n = n.min(8);
        // SAFETY: elements 8 - n .. 16 - n of SIGNS, all inside it.
        unsafe { _mm256_loadu_si256(SIGNS.as_ptr().add(8 - n).cast()) }
    }

    /// The first `n` of 4 double-precision lanes (`n <= 4`).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn first_pd(n: usize) -> __m256i {
        let n = n.min(4);
        // SAFETY: elements 8 - 2n .. 16 - 2n of SIGNS, all inside it.
        unsafe { _mm256_loadu_si256(SIGNS.as_ptr().add(8 - 2 * n).cast()) }
    }

    /// # Safety
    /// The lanes of `mask` readable from `at`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) unsafe fn load_ps(mask: __m256i, at: *const f32) -> __m256 {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm256_maskload_ps(at, mask) }
    }

    /// # Safety
    /// The lanes of `mask` readable from `at`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) unsafe fn load_pd(mask: __m256i, at: *const f64) -> __m256d {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm256_maskload_pd(at, mask) }
    }

    /// # Safety
    /// The lanes of `mask` writable from `at`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) unsafe fn store_ps(at: *mut f32, mask: __m256i, v: __m256) {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm256_maskstore_ps(at, mask, v) }
    }

    /// # Safety
    /// The lanes of `mask` writable from `at`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) unsafe fn store_pd(at: *mut f64, mask: __m256i, v: __m256d) {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm256_maskstore_pd(at, mask, v) }
    }
}

/// The element-by-element moves compiled for AVX2, where the compiler
/// vectorizes their loops (AVX2 has no masked permutes to write them with).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
mod avx2_moves {
    /// # Safety
    /// Needs AVX2; as `TiledProduct::deinterleave_rows`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn deinterleave_rows<T: Copy>(src: *const T, src_stride: usize, dst: [*mut T; 2], dst_stride: usize, widths: [usize; 2], rows: usize) {
        // SAFETY: the caller's contract.
        unsafe { super::deinterleave_rows_scalar(src, src_stride, dst, dst_stride, widths, rows) }
    }
}

/// For a load of 8 32-bit lanes shifted by `s` lanes (`-8 < s < 8`): the
/// lane indices `l + s` from `SHIFT_INDICES[8 + s..]` and the lanes that
/// stay inside the vector (all ones) from `SHIFT_KEPT[8 + s..]`.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
static SHIFT_INDICES: [i32; 24] = [-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
static SHIFT_KEPT: [i32; 24] = [0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// `take_quads` with AVX2 shuffles: `LANES` windows at a time, from four
/// loads (the `2 * LANES` elements from the windows' first element and
/// from their third, each split into evens and odds by `evens_odds`). A
/// load that reaches outside `src` (the padding at either end of a row)
/// loads the nearest vector inside it and shifts its lanes in a register,
/// zeros coming in; rows shorter than a vector go element by element. The
/// last step's stores, which may reach past the columns' end, go through
/// a local vector (AVX2's masked moves are slow on AMD's cores).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
macro_rules! avx2_take_quads {
    ($name:ident, $t:ty, $lanes:expr, $loadu:ident, $storeu:ident, $to_ps:ident, $from_ps:ident, $evens_odds:expr) => {
        /// # Safety
        /// Needs AVX2.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $name(src: &[$t], start: isize, mut dst: [&mut [$t]; 4]) {
            use std::arch::x86_64::*;
            let count = dst[0].len();
            assert!(dst.iter().all(|d| d.len() == count), "columns of different lengths");
            if src.len() < $lanes {
                return take_quads_scalar(src, start, dst);
            }
            let evens_odds = $evens_odds;
            let len = src.len() as isize;
            // 32-bit lanes per element.
            let wide = std::mem::size_of::<$t>() as isize / 4;
            let load = |at: isize| {
                let base = at.clamp(0, len - $lanes);
                let offset = at - base;
                if offset.abs() >= $lanes {
                    return $from_ps(_mm256_setzero_ps());
                }
                // SAFETY: base..base + LANES lies inside `src` (len >= LANES);
                // the tables' reads stay inside them (|offset * wide| < 8).
                unsafe {
                    let v = $loadu(src.as_ptr().add(base as usize));
                    if offset == 0 {
                        return v;
                    }
                    let shift = 8 + offset * wide;
                    let indices = _mm256_loadu_si256(SHIFT_INDICES.as_ptr().offset(shift).cast());
                    let kept = _mm256_loadu_ps(SHIFT_KEPT.as_ptr().offset(shift).cast());
                    $from_ps(_mm256_and_ps(_mm256_permutevar8x32_ps($to_ps(v), indices), kept))
                }
            };
            for t in (0..count).step_by($lanes) {
                let at = start + 2 * t as isize;
                let (w0, w1) = evens_odds(load(at), load(at + $lanes));
                let (w2, w3) = evens_odds(load(at + 2), load(at + 2 + $lanes));
                let n = $lanes.min(count - t);
                for (column, w) in dst.iter_mut().zip([w0, w1, w2, w3]) {
                    if n == $lanes {
                        // SAFETY: lanes t..t + LANES of the column.
                        unsafe { $storeu(column.as_mut_ptr().add(t), w) };
                    } else {
                        let mut lanes = [<$t>::default(); $lanes];
                        // SAFETY: `lanes` holds LANES elements.
                        unsafe { $storeu(lanes.as_mut_ptr(), w) };
                        copy_short(&lanes[..n], &mut column[t..t + n]);
                    }
                }
            }
        }
    };
}

/// `dst = src` for fewer than 8 elements, in pieces of 4, 2 and 1 that
/// compile to moves: `copy_from_slice` of a run-time length called
/// `memcpy`, 8% of a batch-1 Winograd layer on 14x14 (7 tiles a row, so
/// every row ended in a partial vector).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[inline(always)]
fn copy_short<T: Copy>(src: &[T], dst: &mut [T]) {
    let n = dst.len();
    debug_assert!(n < 8 && src.len() == n, "a short copy of equal lengths");
    let mut i = 0;
    if n & 4 != 0 {
        dst[..4].copy_from_slice(&src[..4]);
        i = 4;
    }
    if n & 2 != 0 {
        dst[i..i + 2].copy_from_slice(&src[i..i + 2]);
        i += 2;
    }
    if n & 1 != 0 {
        dst[i] = src[i];
    }
}

/// A float32 vector as itself (`avx2_take_quads`' casts for float32).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
#[inline(always)]
fn same_ps(v: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    v
}

#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
avx2_take_quads!(take_quads_f32, f32, 8, _mm256_loadu_ps, _mm256_storeu_ps, same_ps, same_ps, |a: __m256, b: __m256| {
    // [a0 a2 b0 b2 | a4 a6 b4 b6] and the odds, then the 64-bit pairs reordered.
    let order = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(v)));
    (order(_mm256_shuffle_ps::<0x88>(a, b)), order(_mm256_shuffle_ps::<0xDD>(a, b)))
});
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
avx2_take_quads!(take_quads_f64, f64, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_castpd_ps, _mm256_castps_pd, |a: __m256d, b: __m256d| {
    // [a0 b0 a2 b2] and the odds, then the middle lanes swapped.
    (_mm256_permute4x64_pd::<0xD8>(_mm256_unpacklo_pd(a, b)), _mm256_permute4x64_pd::<0xD8>(_mm256_unpackhi_pd(a, b)))
});

// AVX-512: 8 x 3 tiles, 24 of the 32 vector registers.
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
vector_product!(f32_avx512, "avx512f", f32, 16, rows 8, rests [1, 2, 3, 4, 5, 6, 7], vectors 3, vrests [1, 2, 3], __mmask16, super::first16,
    _mm512_setzero_ps, _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
    _mm512_storeu_ps, _mm512_mask_storeu_ps);
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
vector_product!(f64_avx512, "avx512f", f64, 8, rows 8, rests [1, 2, 3, 4, 5, 6, 7], vectors 3, vrests [1, 2, 3], __mmask8, super::first8,
    _mm512_setzero_pd, _mm512_loadu_pd, _mm512_maskz_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
    _mm512_storeu_pd, _mm512_mask_storeu_pd);
// AVX2 + FMA: 6 x 2 tiles, 12 of the 16 vector registers (2 more hold a
// row of B, one the broadcast value of A). 4 x 3 would also fit, with no
// register to spare: the compiler then spilled an accumulator to the stack
// in the inner loop, and ran at 38 GFLOP/s per core against 70 for 6 x 2
// (Zen 3, hot in L1; 101 is the core's FMA peak).
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
vector_product!(f32_avx2, "avx2,fma", f32, 8, rows 6, rests [1, 2, 3, 4, 5], vectors 2, vrests [1, 2], __m256i, super::avx2_masked::first_ps,
    _mm256_setzero_ps, _mm256_loadu_ps, super::avx2_masked::load_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
    _mm256_storeu_ps, super::avx2_masked::store_ps);
#[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
vector_product!(f64_avx2, "avx2,fma", f64, 4, rows 6, rests [1, 2, 3, 4, 5], vectors 2, vrests [1, 2], __m256i, super::avx2_masked::first_pd,
    _mm256_setzero_pd, _mm256_loadu_pd, super::avx2_masked::load_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd,
    _mm256_storeu_pd, super::avx2_masked::store_pd);

/// An instruction set the tiles can run in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TileIsa {
    Avx512,
    Avx2,
    Portable,
}

/// The tiles convolutions run in: the best this CPU (and build) has
/// (AVX-512F, else AVX2 with FMA, else the portable chain), or a narrower
/// one named by the environment variable `CONVINIT_ISA` (`avx2`, or
/// `scalar` for the portable chain), as for the random-number paths. Chosen
/// once per process; the choice never changes a result's bits, only its
/// speed, and the variable lets tests show it.
pub fn tile_isa() -> TileIsa {
    static CHOSEN: std::sync::OnceLock<TileIsa> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let detected = detected_tile_isa();
        let wanted = std::env::var("CONVINIT_ISA").ok().and_then(|name| TileIsa::named(name.trim()));
        wanted.filter(|isa| isa.width() <= detected.width()).unwrap_or(detected)
    })
}

fn detected_tile_isa() -> TileIsa {
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return TileIsa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return TileIsa::Avx2;
        }
    }
    TileIsa::Portable
}

impl TileIsa {
    /// The instruction set's name, as `convinit bench` reports it.
    pub fn name(self) -> &'static str {
        match self {
            TileIsa::Avx512 => "avx512",
            TileIsa::Avx2 => "avx2",
            TileIsa::Portable => "portable",
        }
    }

    /// The instruction set `CONVINIT_ISA` names (`scalar` is the portable chain).
    fn named(name: &str) -> Option<TileIsa> {
        match name {
            "avx512" => Some(TileIsa::Avx512),
            "avx2" => Some(TileIsa::Avx2),
            "scalar" | "portable" => Some(TileIsa::Portable),
            _ => None,
        }
    }

    /// Vector bits (0 for the portable chain): an instruction set runs where a wider one does.
    fn width(self) -> u32 {
        match self {
            TileIsa::Avx512 => 512,
            TileIsa::Avx2 => 256,
            TileIsa::Portable => 0,
        }
    }
}

/// Whether vector tiles run here (else the portable chain does).
pub(crate) fn has_vector_tiles() -> bool {
    tile_isa() != TileIsa::Portable
}

/// Columns one full tile covers for elements of `T`.
pub(crate) fn tile_width<T>() -> usize {
    VECTORS * 64 / std::mem::size_of::<T>()
}

/// `TiledProduct` for one element type: the AVX-512 or AVX2 routines where the
/// CPU has them (and the build is not `portable`), the scalar ones elsewhere.
macro_rules! tiled_product {
    ($t:ty, $avx512:ident, $avx2:ident, $deinterleave:ident, $copy:ident, $take_quads:ident) => {
        impl TiledProduct for $t {
            unsafe fn multiply_on(isa: TileIsa, block: &Block<$t>) {
                #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
                match isa {
                    // SAFETY: the caller's contract (the CPU has AVX-512F).
                    TileIsa::Avx512 => return unsafe { $avx512::multiply(block) },
                    // SAFETY: the caller's contract (the CPU has AVX2 and FMA).
                    TileIsa::Avx2 => return unsafe { $avx2::multiply(block) },
                    TileIsa::Portable => {}
                }
                #[cfg(not(all(target_arch = "x86_64", not(feature = "portable"))))]
                let _ = isa;
                // SAFETY: the caller's contract.
                unsafe { multiply_scalar(block) }
            }

            #[inline]
            unsafe fn deinterleave_rows(src: *const $t, src_stride: usize, dst: [*mut $t; 2], dst_stride: usize, widths: [usize; 2], rows: usize) {
                #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
                match tile_isa() {
                    // SAFETY: AVX-512F was detected; the caller's contract.
                    TileIsa::Avx512 => return unsafe { $deinterleave(src, src_stride, dst, dst_stride, widths, rows) },
                    // SAFETY: AVX2 was detected; the caller's contract.
                    TileIsa::Avx2 => return unsafe { avx2_moves::deinterleave_rows(src, src_stride, dst, dst_stride, widths, rows) },
                    TileIsa::Portable => {}
                }
                // SAFETY: the caller's contract.
                unsafe { deinterleave_rows_scalar(src, src_stride, dst, dst_stride, widths, rows) }
            }

            #[inline]
            unsafe fn copy_rows(src: *const $t, src_stride: usize, dst: *mut $t, dst_stride: usize, width: usize, rows: usize) {
                #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
                if tile_isa() == TileIsa::Avx512 {
                    // SAFETY: AVX-512F was detected; the caller's contract.
                    return unsafe { $copy(src, src_stride, dst, dst_stride, width, rows) };
                }
                for r in 0..rows {
                    // SAFETY: row r of the caller's rows.
                    unsafe { std::ptr::copy_nonoverlapping(src.add(r * src_stride), dst.add(r * dst_stride), width) };
                }
            }

            #[inline]
            fn take_quads(src: &[$t], start: isize, dst: [&mut [$t]; 4]) {
                #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
                match tile_isa() {
                    // AVX-512 machines run the AVX2 shuffles too: a version
                    // with AVX-512 permutes and masked loads made Winograd
                    // layers 5-20% slower on a Zen 5 (see `avx2_take_quads`).
                    // SAFETY: AVX2 was detected (AVX-512F implies it).
                    TileIsa::Avx512 | TileIsa::Avx2 => return unsafe { $take_quads(src, start, dst) },
                    TileIsa::Portable => {}
                }
                take_quads_scalar(src, start, dst)
            }
        }
    };
}

tiled_product!(f32, f32_avx512, f32_avx2, deinterleave_rows_f32, copy_rows_f32, take_quads_f32);
tiled_product!(f64, f64_avx512, f64_avx2, deinterleave_rows_f64, copy_rows_f64, take_quads_f64);

#[cfg(test)]
mod tests {
    use super::*;

    fn values<T: Real>(len: usize, salt: usize) -> Vec<T> {
        (0..len).map(|i| T::from_f64((((i * 2654435761 + salt) % 1000) as f64 - 500.0) / 128.0)).collect()
    }

    /// The tiles this CPU runs: AVX-512, AVX2 or both, and the portable chain.
    fn isas_here() -> Vec<TileIsa> {
        #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
        let vector = [
            (std::arch::is_x86_feature_detected!("avx512f"), TileIsa::Avx512),
            (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"), TileIsa::Avx2),
        ];
        #[cfg(not(all(target_arch = "x86_64", not(feature = "portable"))))]
        let vector: [(bool, TileIsa); 0] = [];
        std::iter::once(TileIsa::Portable).chain(vector.into_iter().filter(|v| v.0).map(|v| v.1)).collect()
    }

    /// Every tile shape (rows and columns 1..=2 full tiles and a bit),
    /// shifted rows of B, accumulation and bias: the tiles of every
    /// instruction set the CPU has agree with the portable chain bit for bit.
    fn vector_tiles_match_the_chain<T: Real>() {
        let width = tile_width::<T>();
        // (rows, depth, B row spacing): short reductions with few rows run
        // columns-outer, (41, 300) and (70, 150) (A larger than
        // SMALL_A_BYTES per chunk) strips-outer over several chunks, and the
        // last case's B rows lie a page or more apart, which takes the
        // shorter chunk (`depth_chunk`).
        let cases = [(1, 37, 7), (3, 37, 7), (7, 37, 7), (8, 37, 7), (9, 37, 7), (17, 37, 7), (41, 300, 7), (70, 150, 7), (9, 150, 1100)];
        for (rows, depth, spacing) in cases {
            for cols in [1, 4, 5, width / 3, width - 1, width, width + 1, width + 2, width + 4, 2 * width + 7] {
                for accumulate in [false, true] {
                    let a_full: Vec<T> = values(rows * (depth + 2), 1);
                    let a = Matrix::borrowed(&a_full, rows, depth + 2);
                    // The same matrix stored as its transpose.
                    let a_t: Vec<T> = (0..rows * (depth + 2)).map(|q| a_full[(q % rows) * (depth + 2) + q / rows]).collect();
                    let a_t = Matrix::transpose_of(&a_t, rows, depth + 2);
                    // And gathered as grad_input's dual weights are: rows 3
                    // apart, steps in reversed triples a block of rows apart.
                    let steps: Vec<usize> = (0..depth + 2).map(|k| k / 3 * rows * 3 + 2 - k % 3).collect();
                    let mut a_g = vec![T::ZERO; (depth + 4) / 3 * rows * 3];
                    for (q, &v) in a_full.iter().enumerate() {
                        a_g[q / (depth + 2) * 3 + steps[q % (depth + 2)]] = v;
                    }
                    let a_g = Matrix::gathered(&a_g, rows, depth + 2, 3, &steps);
                    // Short spacings wrap around a B of 3 rows' worth per step.
                    let reach = depth * if spacing < 1000 { 3 } else { spacing };
                    let b: Vec<T> = values(reach + cols + 5, 2);
                    let offsets: Vec<usize> = (0..depth).map(|k| (k * spacing) % reach).collect();
                    let bias: Vec<T> = values(rows, 3);
                    let start: Vec<T> = values(rows * (cols + 1), 4);
                    let mut want = start.clone();
                    let block = |c: *mut T| Block {
                        a: a.rows_from(0, 2),
                        b: b.as_ptr(),
                        offsets: offsets.as_ptr(),
                        depth,
                        c,
                        ldc: cols + 1,
                        rows,
                        cols,
                        bias: accumulate.then_some(bias.as_ptr()),
                        accumulate,
                    };
                    // SAFETY: every A, B, offset and C element addressed for
                    // i < rows, j < cols, k < depth lies inside the vectors above.
                    // SAFETY: as above.
                    unsafe { multiply_scalar(&block(want.as_mut_ptr())) };
                    for isa in isas_here() {
                        let (mut got, mut got_t, mut got_g) = (start.clone(), start.clone(), start.clone());
                        // SAFETY: as above, and the CPU runs `isa`.
                        unsafe {
                            T::multiply_on(isa, &block(got.as_mut_ptr()));
                            T::multiply_on(isa, &Block { a: a_t.rows_from(0, 2), ..block(got_t.as_mut_ptr()) });
                            T::multiply_on(isa, &Block { a: a_g.rows_from(0, 2), ..block(got_g.as_mut_ptr()) });
                        }
                        let same = |got: &[T]| got.iter().zip(&want).all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits());
                        assert!(same(&got), "{isa:?}: rows {rows}, cols {cols}, accumulate {accumulate}");
                        assert!(same(&got_t), "{isa:?}, transposed A: rows {rows}, cols {cols}, accumulate {accumulate}");
                        assert!(same(&got_g), "{isa:?}, gathered A: rows {rows}, cols {cols}, accumulate {accumulate}");
                    }
                }
            }
        }
    }

    /// A transposed A whose steps lie a multiple of `CROWDED_STRIDE_BYTES`
    /// apart, too large for L1 (`transposed_by_bands`): whole and partial
    /// bands of rows, several chunks, every column remainder; bit for bit
    /// the portable chain.
    fn crowded_transposed_a_matches_the_chain<T: Real>() {
        let (lda, depth) = (128, 300);
        let a_t: Vec<T> = values(lda * depth, 5);
        let a = Matrix::transpose_of(&a_t, lda, depth);
        for rows in [lda, lda - 5, 37] {
            for cols in [1, 3, 17, 49, 100] {
                let b: Vec<T> = values(depth * cols, 6);
                let offsets: Vec<usize> = (0..depth).map(|k| k * cols).collect();
                let (bias, start) = (values::<T>(rows, 7), values::<T>(rows * cols, 8));
                let block = |c: *mut T| Block {
                    a: a.rows_from(lda - rows, 0),
                    b: b.as_ptr(),
                    offsets: offsets.as_ptr(),
                    depth,
                    c,
                    ldc: cols,
                    rows,
                    cols,
                    bias: Some(bias.as_ptr()),
                    accumulate: true,
                };
                let mut want = start.clone();
                // SAFETY: every A, B, offset, bias and C element addressed for
                // i < rows, j < cols, k < depth lies inside the vectors above.
                unsafe { multiply_scalar(&block(want.as_mut_ptr())) };
                for isa in isas_here() {
                    let mut got = start.clone();
                    // SAFETY: as above, and the CPU runs `isa`.
                    unsafe { T::multiply_on(isa, &block(got.as_mut_ptr())) };
                    let same = got.iter().zip(&want).all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits());
                    assert!(same, "{isa:?}: rows {rows}, cols {cols}");
                }
            }
        }
    }

    #[test]
    fn crowded_transposed_a_matches_the_chain_f32() {
        crowded_transposed_a_matches_the_chain::<f32>();
    }

    #[test]
    fn crowded_transposed_a_matches_the_chain_f64() {
        crowded_transposed_a_matches_the_chain::<f64>();
    }

    #[test]
    fn vector_tiles_match_the_chain_f32() {
        vector_tiles_match_the_chain::<f32>();
    }

    #[test]
    fn vector_tiles_match_the_chain_f64() {
        vector_tiles_match_the_chain::<f64>();
    }

    /// Every width of either phase up to three vectors, over two rows
    /// with the source exactly long enough: every second element from 0
    /// and from 1 of each row, on either path.
    fn deinterleave_rows_splits_rows_into_their_phases<T: Real>() {
        for even in 0..50usize {
            for odd in [even.saturating_sub(1), even, even + 1, 0] {
                let width = (2 * even).saturating_sub(1).max(2 * odd);
                let src: Vec<T> = (0..2 * width + 3).map(|i| T::from_f64(i as f64 + 0.5)).collect();
                let stride = width + 3;
                let expected = |phase: usize, r: usize, i: usize| T::from_f64((r * stride + 2 * i + phase) as f64 + 0.5);
                let d = even.max(odd) + 1;
                let mut results = Vec::new();
                for vector in [true, false] {
                    let (mut e, mut o) = (vec![T::from_f64(-1.0); 2 * d], vec![T::from_f64(-1.0); 2 * d]);
                    // SAFETY: two source rows of `width` (< stride) elements;
                    // destination rows of `even` / `odd` (< d) elements, `d` apart.
                    unsafe {
                        if vector {
                            T::deinterleave_rows(src.as_ptr(), stride, [e.as_mut_ptr(), o.as_mut_ptr()], d, [even, odd], 2);
                        } else {
                            deinterleave_rows_scalar(src.as_ptr(), stride, [e.as_mut_ptr(), o.as_mut_ptr()], d, [even, odd], 2);
                        }
                    }
                    for r in 0..2 {
                        assert!((0..even).all(|i| e[r * d + i] == expected(0, r, i)), "even {even} odd {odd} row {r}");
                        assert!((0..odd).all(|i| o[r * d + i] == expected(1, r, i)), "even {even} odd {odd} row {r}");
                        assert!(e[r * d + even..][..d - even].iter().chain(&o[r * d + odd..][..d - odd]).all(|&v| v == T::from_f64(-1.0)));
                    }
                    results.push((e, o));
                }
                assert!(results[0] == results[1]);
            }
        }
    }

    #[test]
    fn deinterleave_rows_splits_rows_into_their_phases_f32() {
        deinterleave_rows_splits_rows_into_their_phases::<f32>();
    }

    #[test]
    fn deinterleave_rows_splits_rows_into_their_phases_f64() {
        deinterleave_rows_splits_rows_into_their_phases::<f64>();
    }

    /// Every width up to three vectors, three rows: exactly the rows' elements.
    fn copy_rows_copies_exactly_the_rows<T: Real>() {
        for width in 0..50usize {
            let (src_stride, dst_stride) = (width + 5, width + 2);
            let src: Vec<T> = (0..3 * src_stride).map(|i| T::from_f64(i as f64 + 1.0)).collect();
            let mut dst = vec![T::from_f64(-1.0); 3 * dst_stride];
            // SAFETY: three rows of `width` elements inside each buffer.
            unsafe { T::copy_rows(src.as_ptr(), src_stride, dst.as_mut_ptr(), dst_stride, width, 3) };
            for r in 0..3 {
                assert!(dst[r * dst_stride..][..width] == src[r * src_stride..][..width], "width {width}");
                assert!(dst[r * dst_stride + width..][..2].iter().all(|&v| v == T::from_f64(-1.0)), "width {width}");
            }
        }
    }

    #[test]
    fn copy_rows_copies_exactly_the_rows_f32() {
        copy_rows_copies_exactly_the_rows::<f32>();
    }

    #[test]
    fn copy_rows_copies_exactly_the_rows_f64() {
        copy_rows_copies_exactly_the_rows::<f64>();
    }

    /// Windows starting before, inside and past the row, every count up
    /// to three vectors: each column is the row's element (start + 2t + j)
    /// or 0 outside the row, on either path.
    fn take_quads_reads_windows_with_zero_padding<T: Real>() {
        for len in [0usize, 1, 3, 4, 5, 8, 9, 16, 17, 18, 19, 40, 100] {
            let src: Vec<T> = (0..len).map(|i| T::from_f64(i as f64 + 1.0)).collect();
            for start in [-5isize, -1, 0, 1, 2, 3, 14, 39] {
                for n in [0usize, 1, 3, 4, 7, 8, 9, 16, 25, 41, 50] {
                    let mut got: Vec<Vec<T>> = (0..4).map(|_| vec![T::from_f64(-1.0); n]).collect();
                    let [a, b, c, d] = &mut got[..] else { unreachable!() };
                    T::take_quads(&src, start, [a, b, c, d]);
                    for (j, column) in got.iter().enumerate() {
                        for (t, &v) in column.iter().enumerate() {
                            let at = start + (2 * t + j) as isize;
                            let want = if at >= 0 && (at as usize) < len { at as f64 + 1.0 } else { 0.0 };
                            assert_eq!(v, T::from_f64(want), "len {len} start {start} n {n} column {j} t {t}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn take_quads_reads_windows_with_zero_padding_f32() {
        take_quads_reads_windows_with_zero_padding::<f32>();
    }

    #[test]
    fn take_quads_reads_windows_with_zero_padding_f64() {
        take_quads_reads_windows_with_zero_padding::<f64>();
    }

    #[test]
    fn the_chain_is_the_exact_sum_for_small_integers() {
        let (a, b) = ([1.0f64, 2.0, 3.0, 4.0], [5.0f64, 6.0, 7.0, 8.0, 9.0]);
        let a = Matrix::borrowed(&a, 2, 2);
        let offsets = [0usize, 1];
        let mut c = [0.0f64; 4];
        // SAFETY: A is 2x2 (lda 2), B rows at 0 and 1 with 2 columns, C 2x2.
        unsafe {
            f64::multiply(&Block {
                a: a.rows_from(0, 0), b: b.as_ptr(), offsets: offsets.as_ptr(), depth: 2,
                c: c.as_mut_ptr(), ldc: 2, rows: 2, cols: 2, bias: None, accumulate: false,
            })
        };
        // C = [[1,2],[3,4]] · [[5,6],[6,7]]
        assert_eq!(c, [17.0, 20.0, 39.0, 46.0]);
    }
}

