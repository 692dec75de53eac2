//! Narrow planes (at most 16 float32 columns: MobileNet's 7x7 and 14x14
//! layers) at stride 1 with zero padding, on AVX-512: one output row is one
//! vector, and each tap one masked load straight from the unpadded source
//! plane (lanes that would read padding are masked off and read as zero)
//! and one fused multiply-add. No padded copy, no row copies, no buffer.
//!
//! Each output element is the same sum in the same order as the flat path
//! computes it (taps in order, from zero, padding read as zeros and
//! multiplied too, then the bias), so the bits are the same with or
//! without AVX-512; the flat path remains the fallback.

use super::Real;

/// One tap: `dst[r][c] += weight * src[r + row][c + column]`, zero outside `src`.
/// (Read only by the AVX-512 kernel: unused where it is compiled out.)
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(x86_simd), allow(dead_code))]
pub(super) struct Shift {
    pub row: isize,
    pub column: isize,
}

/// Source and destination plane extents (rows, columns).
#[derive(Clone, Copy, Debug)]
pub(super) struct Planes {
    pub src: [usize; 2],
    pub dst: [usize; 2],
}

/// Whether `narrow_plane` computes `T` planes of `columns` output columns
/// on this CPU.
pub(super) fn available<T: Real>(columns: usize) -> bool {
    #[cfg(x86_simd)]
    {
        std::mem::size_of::<T>() == 4 && columns <= 16 && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(x86_simd))]
    {
        let _ = (columns, std::mem::size_of::<T>());
        false
    }
}

/// `dst[r][c] = sum over taps t (in order) of weights[t] * src[r + shifts[t].row][c + shifts[t].column]
/// (+ bias)`, for every plane of `src` and `dst` (consecutive planes of the
/// given extents, `weights` holding `shifts.len()` per plane).
/// Only when `available::<T>(planes.dst[1])`.
pub(super) fn narrow_planes<T: Real>(src: &[T], shifts: &[Shift], weights: &[T], bias: Option<&[T]>, dst: &mut [T], planes: Planes) {
    let (src_len, dst_len) = (planes.src[0] * planes.src[1], planes.dst[0] * planes.dst[1]);
    let count = dst.len() / dst_len.max(1);
    assert!(
        available::<T>(planes.dst[1]) && src.len() == count * src_len && dst.len() == count * dst_len && weights.len() == count * shifts.len(),
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
        let out = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<f32>(), dst.len()) };
        let (src, weights, bias) = (f32s(src), f32s(weights), bias.map(f32s));
        if let Some(masks) = avx512::flat_masks(shifts, planes) {
            for (p, dst) in out.chunks_exact_mut(dst_len).enumerate() {
                let plane = &src[p * src_len..][..src_len];
                let w = &weights[p * shifts.len()..][..shifts.len()];
                // SAFETY: AVX-512F is present (`available`, asserted); the
                // plane slices have the extents of `planes` and the masks
                // come from `flat_masks` for them, as `plane_flat` requires.
                unsafe { avx512::plane_flat(plane, shifts, &masks, w, bias.map(|b| b[p]), dst, planes) };
            }
            return;
        }
        let masks: Vec<u16> = shifts.iter().map(|s| avx512::column_mask(s.column, planes)).collect();
        for (p, dst) in out.chunks_exact_mut(dst_len).enumerate() {
            let plane = &src[p * src_len..][..src_len];
            let w = &weights[p * shifts.len()..][..shifts.len()];
            // SAFETY: AVX-512F is present (`available`, asserted); the plane
            // slices have the extents of `planes` and the masks come from
            // `column_mask` for those extents, as `plane` requires.
            unsafe { avx512::plane(plane, shifts, &masks, w, bias.map(|b| b[p]), dst, planes) };
        }
    }
}

#[cfg(x86_simd)]
mod avx512 {
    use super::{Planes, Shift};
    use std::arch::x86_64::*;

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
        let ([rows, columns], [out_rows, out_columns]) = (planes.src, planes.dst);
        if columns != out_columns || out_rows * out_columns > 16 * FLAT_VECTORS || out_rows > rows {
            return None;
        }
        let inside = |f: usize, shift: &Shift| {
            let (r, c) = ((f / out_columns) as isize + shift.row, (f % out_columns) as isize + shift.column);
            f < out_rows * out_columns && (0..rows as isize).contains(&r) && (0..columns as isize).contains(&c)
        };
        let masks = shifts
            .iter()
            .map(|shift| std::array::from_fn(|v| (0..16).filter(|&l| inside(v * 16 + l, shift)).fold(0u16, |m, l| m | 1 << l)))
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
    pub(super) unsafe fn plane_flat(src: &[f32], shifts: &[Shift], masks: &[[u16; FLAT_VECTORS]], weights: &[f32], bias: Option<f32>, dst: &mut [f32], planes: Planes) {
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
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add(v * 16), store, acc) };
        }
    }

    /// One plane of `narrow_planes`.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `src` holds `planes.src` (rows x columns) and
    /// `dst` `planes.dst` elements with `planes.dst[1] <= 16`; `masks[t]` is
    /// `column_mask(shifts[t].column, planes)`; `weights` has one per shift.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn plane(src: &[f32], shifts: &[Shift], masks: &[u16], weights: &[f32], bias: Option<f32>, dst: &mut [f32], planes: Planes) {
        // Eight rows at a time: eight independent chains of multiply-adds
        // (one chain would wait on each add's latency).
        const ROWS: usize = 8;
        let ([rows, columns], [out_rows, out_columns]) = (planes.src, planes.dst);
        let store = ((1u32 << out_columns) - 1) as u16;
        for r0 in (0..out_rows).step_by(ROWS) {
            let mut acc = [_mm512_setzero_ps(); ROWS];
            for ((shift, &mask), &w) in shifts.iter().zip(masks).zip(weights) {
                let w = _mm512_set1_ps(w);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let row = (r0 + i) as isize + shift.row;
                    let x = if (0..rows as isize).contains(&row) {
                        let at = row * columns as isize + shift.column;
                        // SAFETY: the lanes under `mask` read src[at + c] for
                        // c < out_columns with 0 <= c + column < columns,
                        // inside row `row` (< rows) of src; masked-off lanes
                        // are not accessed (the address may point outside
                        // src for them, formed without `offset`'s in-bounds
                        // requirement).
                        unsafe { _mm512_maskz_loadu_ps(mask, src.as_ptr().wrapping_offset(at)) }
                    } else {
                        _mm512_setzero_ps()
                    };
                    *acc = _mm512_fmadd_ps(x, w, *acc);
                }
            }
            for (i, mut acc) in acc.into_iter().enumerate().take(out_rows - r0) {
                if let Some(b) = bias {
                    acc = _mm512_add_ps(acc, _mm512_set1_ps(b));
                }
                // SAFETY: the lanes under `store` are dst[r * out_columns ..
                // (r + 1) * out_columns] for r = r0 + i < out_rows, inside dst.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add((r0 + i) * out_columns), store, acc) };
            }
        }
    }
}
