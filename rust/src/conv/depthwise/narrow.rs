//! Narrow planes (at most 16 float32 columns: MobileNet's 7x7 and 14x14
//! layers) at stride 1 with zero padding, on AVX-512: one output row is one
//! vector (`avx512::plane`). Each kernel row loads its source rows once
//! straight from the unpadded plane, and each tap moves a row's columns
//! into place with one masked lane permute (lanes that would read padding
//! are masked off and read as zero) and adds it with one fused
//! multiply-add. No padded copy, no row copies, no buffer. On a 2-core
//! Zen 5 this was 10-35% faster than the interleaved small-plane kernel on
//! 14x14 and 16x16 planes (3x3, 5x5 and 7x7 kernels, batch 1 and 8) until
//! that kernel went row by row of the kernel; it now takes the forward
//! pass of the planes whose kernel rows it reads (stride 1 or 2, no
//! dilation, at most 8 taps a row), and this one the rest. Planes of at most
//! 64 values whose rows are as wide as the source's (7x7) are flattened
//! instead, every tap one masked load per vector at the tap's flat shift
//! (`avx512::plane_flat`; with AVX2's 8 lanes the same in 8 vectors).
//!
//! Each output element is the same sum in the same order as the flat path
//! computes it (taps in order, from zero, padding read as zeros and
//! multiplied too, then the bias), so the bits are the same with or
//! without AVX-512 or AVX2; the flat path remains the fallback.

use super::Real;
use std::mem::MaybeUninit;

/// One tap: `dst[r][c] += weight * src[r + row][c + column]`, zero outside `src`.
/// (Read only by the vector kernels: unused where they are compiled out.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(super) struct Shift {
    pub row: isize,
    pub column: isize,
}

/// Source and destination plane extents (rows, columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Planes {
    pub src: [usize; 2],
    pub dst: [usize; 2],
}

/// Whether `narrow_planes` computes `T` planes of these extents on this
/// CPU: float32 planes at most 16 columns wide with AVX-512, or planes of
/// at most 64 values flattened (`flat_fits`) with AVX2 and FMA.
pub(super) fn available<T: Real>(planes: Planes) -> bool {
    #[cfg(x86_simd)]
    {
        std::mem::size_of::<T>() == 4
            && match crate::conv::tile_isa() {
                crate::conv::TileIsa::Avx512 => planes.dst[1] <= 16,
                crate::conv::TileIsa::Avx2 => flat_fits(planes, avx2::FLAT_LANES),
                crate::conv::TileIsa::Portable => false,
            }
    }
    #[cfg(not(x86_simd))]
    {
        let _ = (planes, std::mem::size_of::<T>());
        false
    }
}

/// Whether output and source rows are equally wide and the output plane
/// holds at most `capacity` values, so that flattened, every tap is one
/// shift of the whole plane (`plane_flat`).
#[cfg_attr(not(x86_simd), allow(dead_code))]
fn flat_fits(planes: Planes, capacity: usize) -> bool {
    let ([rows, columns], [out_rows, out_columns]) = (planes.src, planes.dst);
    columns == out_columns && out_rows * out_columns <= capacity && out_rows <= rows
}

/// Whether flat output position `f` reads a source element inside the
/// plane at `shift` (else padding, read as zero).
#[cfg_attr(not(x86_simd), allow(dead_code))]
fn flat_lane_inside(f: usize, shift: &Shift, planes: Planes) -> bool {
    let ([rows, columns], [out_rows, out_columns]) = (planes.src, planes.dst);
    let (r, c) = ((f / out_columns) as isize + shift.row, (f % out_columns) as isize + shift.column);
    f < out_rows * out_columns && (0..rows as isize).contains(&r) && (0..columns as isize).contains(&c)
}

/// `dst[r][c] = sum over taps t (in order) of weights[t] * src[r + shifts[t].row][c + shifts[t].column]
/// (+ bias)`, for every plane of `src` and `dst` (consecutive planes of the
/// given extents, `weights` holding `shifts.len()` per plane).
/// Only when `available::<T>(planes)`, with `masks` from `Masks::new` for
/// the same shifts and planes.
pub(super) fn narrow_planes<T: Real>(src: &[T], shifts: &[Shift], masks: &Masks, weights: &[T], bias: Option<&[T]>, dst: &mut [MaybeUninit<T>], planes: Planes) {
    let (src_len, dst_len) = (planes.src[0] * planes.src[1], planes.dst[0] * planes.dst[1]);
    let count = dst.len() / dst_len.max(1);
    assert!(
        available::<T>(planes) && src.len() == count * src_len && dst.len() == count * dst_len && weights.len() == count * shifts.len(),
        "narrow_planes: unsupported or inconsistent arguments"
    );
    assert!(bias.is_none_or(|b| b.len() == count), "narrow_planes: one bias per plane");
    #[cfg(x86_simd)]
    {
        let f32s = |v: &[T]| -> &[f32] {
            // SAFETY: T is f32 (its size is 4, checked by `available`, and the
            // only 4-byte `Real` is f32): the same memory, type and length.
            unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) }
        };
        // SAFETY: as for `f32s`, for the one mutable view of dst.
        let out = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<MaybeUninit<f32>>(), dst.len()) };
        let (src, weights, bias) = (f32s(src), f32s(weights), bias.map(f32s));
        assert!(masks.shifts == shifts && masks.planes == planes, "narrow_planes: masks made for other taps or planes");
        for (p, dst) in out.chunks_exact_mut(dst_len).enumerate() {
            let plane = &src[p * src_len..][..src_len];
            let w = &weights[p * shifts.len()..][..shifts.len()];
            let bias = bias.map(|b| b[p]);
            // In every arm: `masks` was made by `Masks::new` on this CPU for
            // these shifts and planes (asserted above), so its kind is one the
            // CPU runs and its masks are those the kernel requires; the
            // plane slices have the extents of `planes`.
            match &masks.kind {
                // SAFETY: as above; AVX2 and FMA were detected.
                MaskKind::Avx2Flat(masks) => unsafe { avx2::plane_flat(plane, shifts, masks, w, bias, dst, planes) },
                // SAFETY: as above; AVX-512F was detected.
                MaskKind::Avx512Flat(masks) => unsafe { avx512::plane_flat(plane, shifts, masks, w, bias, dst, planes) },
                // SAFETY: as above; AVX-512F was detected.
                MaskKind::Avx512Rows(masks, zeros) => unsafe { avx512::plane(plane, shifts, masks, w, bias, dst, planes, zeros) },
            }
        }
    }
    #[cfg(not(x86_simd))]
    let _ = masks;
}

/// The lane masks of `narrow_planes`' kernel for one layer's taps and
/// plane extents, made once per call (not per block of planes: building
/// them cost a fifth of a batch-8 7x7 layer), with the taps and extents
/// they were made for (`narrow_planes` checks them: the masks decide which
/// addresses the kernels read).
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(super) struct Masks {
    shifts: Vec<Shift>,
    planes: Planes,
    kind: MaskKind,
}

enum MaskKind {
    #[cfg(x86_simd)]
    Avx2Flat(Vec<[[i32; 8]; avx2::FLAT_VECTORS]>),
    #[cfg(x86_simd)]
    Avx512Flat(Vec<[u16; avx512::FLAT_VECTORS]>),
    #[cfg(x86_simd)]
    /// The column masks, and a row of zeros as wide as a source row (the
    /// rows above and below the plane).
    Avx512Rows(Vec<u16>, Vec<f32>),
}

impl Masks {
    /// The masks for the kernel this CPU runs on `planes`; None where
    /// `narrow_planes` does not apply (see `available`).
    pub(super) fn new<T: Real>(shifts: &[Shift], planes: Planes) -> Option<Masks> {
        if !available::<T>(planes) {
            return None;
        }
        #[cfg(x86_simd)]
        {
            let kind = if crate::conv::tile_isa() != crate::conv::TileIsa::Avx512 {
                MaskKind::Avx2Flat(avx2::flat_masks(shifts, planes))
            } else if let Some(masks) = avx512::flat_masks(shifts, planes) {
                MaskKind::Avx512Flat(masks)
            } else {
                MaskKind::Avx512Rows(shifts.iter().map(|s| avx512::column_mask(s.column, planes)).collect(), vec![0.0; planes.src[1]])
            };
            Some(Masks { shifts: shifts.to_vec(), planes, kind })
        }
        #[cfg(not(x86_simd))]
        {
            let _ = shifts;
            None
        }
    }
}

/// `plane_flat` in AVX2: 8 lanes per vector, masks as vectors of lane
/// signs (`vmaskmovps` reads nothing under a clear lane).
#[cfg(x86_simd)]
mod avx2 {
    use super::{Planes, Shift};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Vectors of a flattened plane (a 7x7 plane: 7 of them for 49 values).
    pub(super) const FLAT_VECTORS: usize = 8;
    /// Values of a flattened plane `plane_flat` takes.
    pub(super) const FLAT_LANES: usize = 8 * FLAT_VECTORS;

    /// Per tap and vector, -1 in the lanes whose flat output position reads
    /// a source element inside the plane, 0 elsewhere (and past the plane).
    pub(super) fn flat_masks(shifts: &[Shift], planes: Planes) -> Vec<[[i32; 8]; FLAT_VECTORS]> {
        let lane = |f: usize, shift: &Shift| if super::flat_lane_inside(f, shift, planes) { -1 } else { 0 };
        shifts.iter().map(|shift| std::array::from_fn(|v| std::array::from_fn(|l| lane(v * 8 + l, shift)))).collect()
    }

    /// `avx512::plane_flat` with 8-lane vectors: the same sums in the same order.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `src` holds `planes.src` and `dst`
    /// `planes.dst` elements, which `flat_fits` (FLAT_LANES); `masks` is
    /// `flat_masks(shifts, planes)`; `weights` has one per shift.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn plane_flat(src: &[f32], shifts: &[Shift], masks: &[[[i32; 8]; FLAT_VECTORS]], weights: &[f32], bias: Option<f32>, dst: &mut [MaybeUninit<f32>], planes: Planes) {
        let columns = planes.src[1] as isize;
        let total = planes.dst[0] * planes.dst[1];
        let vectors = total.div_ceil(8);
        let mut acc = [_mm256_setzero_ps(); FLAT_VECTORS];
        for ((shift, masks), &w) in shifts.iter().zip(masks).zip(weights) {
            let w = _mm256_set1_ps(w);
            let offset = shift.row * columns + shift.column;
            for (v, acc) in acc.iter_mut().enumerate().take(vectors) {
                // SAFETY: the set lanes of the mask read src[f + offset] for
                // flat positions f whose shifted source lies inside the
                // plane, so inside `src`; clear lanes are not accessed (the
                // address may be outside for them, formed with wrapping).
                let x = unsafe {
                    let mask = _mm256_loadu_si256(masks[v].as_ptr().cast());
                    _mm256_maskload_ps(src.as_ptr().wrapping_offset((v * 8) as isize + offset), mask)
                };
                *acc = _mm256_fmadd_ps(x, w, *acc);
            }
        }
        let mut lanes = [0f32; 8];
        for (v, mut acc) in acc.into_iter().enumerate().take(vectors) {
            if let Some(b) = bias {
                acc = _mm256_add_ps(acc, _mm256_set1_ps(b));
            }
            let n = (total - v * 8).min(8);
            if n == 8 {
                // SAFETY: dst[v * 8 .. v * 8 + 8] lies inside dst (total elements).
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(v * 8).cast(), acc) };
            } else {
                // SAFETY: a store into the local array of 8.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
                dst[v * 8..total].iter_mut().zip(&lanes[..n]).for_each(|(d, &l)| {
                    d.write(l);
                });
            }
        }
    }
}

#[cfg(x86_simd)]
mod avx512 {
    use super::{Planes, Shift};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Lanes `c < planes.dst[1]` with `0 <= c + column < planes.src[1]`.
    pub(super) fn column_mask(column: isize, planes: Planes) -> u16 {
        (0..planes.dst[1].min(16)).filter(|&c| (0..planes.src[1] as isize).contains(&(c as isize + column))).fold(0, |m, c| m | 1 << c)
    }

    /// Vectors of a flattened plane `plane_flat` takes (7x7: 4 for 49 values).
    pub(super) const FLAT_VECTORS: usize = 4;

    /// For planes whose source and output rows are equally wide and that
    /// fit `FLAT_VECTORS` vectors flattened: per tap and vector, the lanes
    /// (flat output positions) whose source lies inside the plane. Lanes
    /// past the plane are off.
    pub(super) fn flat_masks(shifts: &[Shift], planes: Planes) -> Option<Vec<[u16; FLAT_VECTORS]>> {
        if !super::flat_fits(planes, 16 * FLAT_VECTORS) {
            return None;
        }
        let masks = shifts
            .iter()
            .map(|shift| std::array::from_fn(|v| (0..16).filter(|&l| super::flat_lane_inside(v * 16 + l, shift, planes)).fold(0u16, |m, l| m | 1 << l)))
            .collect();
        Some(masks)
    }

    /// One plane of `narrow_planes`, flattened: output position `f = r *
    /// columns + c` in lane `f % 16` of vector `f / 16`, so every tap is
    /// one masked load per vector at the flat shift `row * columns +
    /// column` (a 7x7 plane: 4 loads and multiply-adds per tap where one
    /// vector per row takes 7). The same sums in the same order as `plane`.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `src` holds `planes.src` and `dst` `planes.dst`
    /// elements; `masks` is `flat_masks(shifts, planes)`; `weights` has one
    /// per shift.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn plane_flat(src: &[f32], shifts: &[Shift], masks: &[[u16; FLAT_VECTORS]], weights: &[f32], bias: Option<f32>, dst: &mut [MaybeUninit<f32>], planes: Planes) {
        let columns = planes.src[1] as isize;
        let total = planes.dst[0] * planes.dst[1];
        let mut acc = [_mm512_setzero_ps(); FLAT_VECTORS];
        for ((shift, masks), &w) in shifts.iter().zip(masks).zip(weights) {
            let w = _mm512_set1_ps(w);
            let offset = shift.row * columns + shift.column;
            for (v, acc) in acc.iter_mut().enumerate() {
                // SAFETY: the lanes under the mask read src[f + offset] for
                // flat positions f whose shifted source (row, column) lies
                // inside the plane, so inside `src`; masked-off lanes are
                // not accessed (the address may be outside for them, formed
                // without `offset`'s in-bounds requirement).
                let x = unsafe { _mm512_maskz_loadu_ps(masks[v], src.as_ptr().wrapping_offset((v * 16) as isize + offset)) };
                *acc = _mm512_fmadd_ps(x, w, *acc);
            }
        }
        for (v, mut acc) in acc.into_iter().enumerate() {
            if v * 16 >= total {
                break;
            }
            if let Some(b) = bias {
                acc = _mm512_add_ps(acc, _mm512_set1_ps(b));
            }
            let lanes = (total - v * 16).min(16);
            let store = ((1u32 << lanes) - 1) as u16;
            // SAFETY: the lanes under `store` are dst[v * 16 .. v * 16 + lanes], inside dst (total elements).
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add(v * 16).cast(), store, acc) };
        }
    }

    /// One plane of `narrow_planes`: one vector per output row, blocks of
    /// up to eight rows (eight independent chains of multiply-adds; one
    /// chain would wait on each add's latency), the plane's rows cut into
    /// equal blocks. Each tap is one lane permute (or, for source rows
    /// wider than a vector, one masked load) and one fused multiply-add per
    /// row (see `plane_blocks`). Rows above and below the plane read
    /// `zeros` (a row of zeros as wide as a source row), so no load tests
    /// its row: the tap loop is straight-line code (a test per row and tap
    /// made it 1.8x slower).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `src` holds `planes.src` (rows x columns) and
    /// `dst` `planes.dst` elements with `planes.dst[1] <= 16`; `masks[t]` is
    /// `column_mask(shifts[t].column, planes)`; `weights` has one per shift;
    /// `zeros` holds `planes.src[1]` zeros.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn plane(src: &[f32], shifts: &[Shift], masks: &[u16], weights: &[f32], bias: Option<f32>, dst: &mut [MaybeUninit<f32>], planes: Planes, zeros: &[f32]) {
        let out_rows = planes.dst[0];
        let per_block = out_rows.div_ceil(out_rows.div_ceil(8).max(1));
        // SAFETY: the caller's contract, passed on (every arm).
        unsafe {
            match per_block {
                1 => plane_blocks::<1>(src, shifts, masks, weights, bias, dst, planes, zeros),
                2 => plane_blocks::<2>(src, shifts, masks, weights, bias, dst, planes, zeros),
                3 => plane_blocks::<3>(src, shifts, masks, weights, bias, dst, planes, zeros),
                4 => plane_blocks::<4>(src, shifts, masks, weights, bias, dst, planes, zeros),
                5 => plane_blocks::<5>(src, shifts, masks, weights, bias, dst, planes, zeros),
                6 => plane_blocks::<6>(src, shifts, masks, weights, bias, dst, planes, zeros),
                7 => plane_blocks::<7>(src, shifts, masks, weights, bias, dst, planes, zeros),
                _ => plane_blocks::<8>(src, shifts, masks, weights, bias, dst, planes, zeros),
            }
        }
    }

    /// `plane` in blocks of `R` output rows (the last block's rows past the
    /// plane are computed from in-bounds rows or `zeros`, and dropped).
    /// Source rows of at most 16 columns are loaded once per kernel row and
    /// each tap's columns moved into place by one lane permute (a masked
    /// load per tap and row was 1.1-1.5x slower on a 2-core Zen 5); wider
    /// rows are read at each tap's column by a masked load.
    ///
    /// # Safety
    /// As `plane`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn plane_blocks<const R: usize>(src: &[f32], shifts: &[Shift], masks: &[u16], weights: &[f32], bias: Option<f32>, dst: &mut [MaybeUninit<f32>], planes: Planes, zeros: &[f32]) {
        let ([rows, columns], [out_rows, out_columns]) = (planes.src, planes.dst);
        debug_assert!(zeros.len() >= columns && src.len() >= rows * columns);
        let store = ((1u32 << out_columns) - 1) as u16;
        let whole_rows = columns <= 16;
        let row_mask = ((1u32 << columns.min(16)) - 1) as u16;
        let row_at = |row: isize| if (0..rows as isize).contains(&row) { src[row as usize * columns..].as_ptr() } else { zeros.as_ptr() };
        for r0 in (0..out_rows).step_by(R) {
            let mut acc = [_mm512_setzero_ps(); R];
            let mut t = 0;
            while t < shifts.len() {
                // The taps of one kernel row read the same source rows.
                let shift_row = shifts[t].row;
                let at: [*const f32; R] = std::array::from_fn(|i| row_at((r0 + i) as isize + shift_row));
                // SAFETY: with whole rows, the lanes under `row_mask` read
                // at[0..columns], a source row or `zeros`.
                let whole: [__m512; R] = std::array::from_fn(|i| if whole_rows { unsafe { _mm512_maskz_loadu_ps(row_mask, at[i]) } } else { _mm512_setzero_ps() });
                while t < shifts.len() && shifts[t].row == shift_row {
                    let (w, mask, column) = (_mm512_set1_ps(weights[t]), masks[t], shifts[t].column);
                    // Lane c takes the row's element c + column (mod 16; the lanes where that wraps are outside `mask`).
                    let lanes = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(column as i32));
                    for i in 0..R {
                        let x = if whole_rows {
                            _mm512_maskz_permutexvar_ps(mask, lanes, whole[i])
                        } else {
                            // SAFETY: `at[i]` starts a source row or `zeros`, each
                            // `columns` long; the lanes under `mask` read
                            // at[c + column] with 0 <= c + column < columns,
                            // inside it. Masked-off lanes are not accessed (the
                            // address may be outside for them, formed with
                            // wrapping).
                            unsafe { _mm512_maskz_loadu_ps(mask, at[i].wrapping_offset(column)) }
                        };
                        acc[i] = _mm512_fmadd_ps(x, w, acc[i]);
                    }
                    t += 1;
                }
            }
            for (i, mut acc) in acc.into_iter().enumerate().take(out_rows - r0) {
                if let Some(b) = bias {
                    acc = _mm512_add_ps(acc, _mm512_set1_ps(b));
                }
                // SAFETY: the lanes under `store` are dst[r * out_columns ..
                // (r + 1) * out_columns] for r = r0 + i < out_rows, inside dst.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add((r0 + i) * out_columns).cast(), store, acc) };
            }
        }
    }
}
