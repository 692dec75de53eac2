//! Moves between 16 channel planes and the interleaved layout of the
//! small-plane depthwise kernel (position-major, 16 channels per position),
//! 8 elements of a plane at a time, with 8x8 AVX2 transposes: 8 elements
//! of 16 planes are 16 vector loads, two transposes and 16 vector stores
//! (plain ones: no masks, which are slow on AMD), where an element-by-element
//! gather or scatter is 128 scalar loads and 128 stores. Float32 only
//! (float64 keeps the element loops).
//!
//! Only copies (and the bias, one addition as in the element loop), so the
//! bits are the same either way.

use super::{Real, LANES};
use std::mem::MaybeUninit;

/// Whether `interleave` and `deinterleave` run vectorized for `T` on this CPU.
pub(super) fn available<T: Real>() -> bool {
    #[cfg(x86_simd)]
    {
        // Either tile instruction set includes AVX2.
        std::mem::size_of::<T>() == 4 && crate::conv::tile_isa() != crate::conv::TileIsa::Portable
    }
    #[cfg(not(x86_simd))]
    {
        let _ = std::mem::size_of::<T>();
        false
    }
}

/// Where each element of a plane goes in (or comes from in) an interleaved
/// buffer, with one past the largest position, found once (the moves check
/// their buffers against it, not against every position per call).
#[derive(Clone, Debug, Default)]
pub(super) struct Positions {
    list: Vec<usize>,
    end: usize,
}

impl Positions {
    pub(super) fn new(list: Vec<usize>) -> Self {
        let end = list.iter().max().map_or(0, |&j| j + 1);
        Positions { list, end }
    }
}

impl std::ops::Deref for Positions {
    type Target = [usize];

    fn deref(&self) -> &[usize] {
        &self.list
    }
}

/// `dst[positions[i] * LANES + c] = src[planes[c] + i]` for every element
/// `i < positions.len()` of a plane and channel `c < LANES`.
/// Only when `available::<T>()`.
pub(super) fn interleave<T: Real>(src: &[T], planes: &[usize; LANES], positions: &Positions, dst: &mut [T]) {
    assert!(available::<T>(), "interleave: not available");
    assert!(planes.iter().all(|&p| p + positions.len() <= src.len()), "interleave: a plane ends past the source");
    assert!(positions.end * LANES <= dst.len(), "interleave: a position lies past the buffer");
    #[cfg(x86_simd)]
    {
        // SAFETY: AVX2 was detected and T is f32 (`available`); every plane
        // read lies inside `src` and every position written inside `dst` (asserted).
        unsafe { avx2::interleave(src.as_ptr().cast(), planes, positions, dst.as_mut_ptr().cast()) }
    }
}

/// `out[c * positions.len() + i] = flat[positions[i] * LANES + c] (+ bias[c])`
/// for every element `i` of a plane and channel `c < count`: `count`
/// consecutive output planes from interleaved results.
/// Only when `available::<T>()`.
pub(super) fn deinterleave<T: Real>(flat: &[T], positions: &Positions, bias: Option<&[T; LANES]>, count: usize, out: &mut [MaybeUninit<T>]) {
    assert!(available::<T>() && count <= LANES, "deinterleave: unsupported arguments");
    assert!(positions.end * LANES <= flat.len(), "deinterleave: a position lies past the results");
    assert!(out.len() == count * positions.len(), "deinterleave: the output holds other than `count` planes");
    #[cfg(x86_simd)]
    {
        // SAFETY: AVX2 was detected and T is f32 (`available`); every position
        // read lies inside `flat`, and `out` holds the `count` planes written (asserted).
        unsafe { avx2::deinterleave(flat.as_ptr().cast(), positions, bias.map(|b| b.as_ptr().cast()), count, out.as_mut_ptr().cast()) }
    }
    #[cfg(not(x86_simd))]
    let _ = bias;
}

#[cfg(x86_simd)]
pub(crate) mod avx2 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// Rows become columns: `out[j][i] = rows[i][j]` (also the direct
    /// convolution source's channel rows).
    #[inline(always)]
    pub(crate) unsafe fn transpose(r: [__m256; 8]) -> [__m256; 8] {
        // SAFETY: register-only AVX (no memory), enabled by the callers.
        unsafe {
            let t = [
                _mm256_unpacklo_ps(r[0], r[1]),
                _mm256_unpackhi_ps(r[0], r[1]),
                _mm256_unpacklo_ps(r[2], r[3]),
                _mm256_unpackhi_ps(r[2], r[3]),
                _mm256_unpacklo_ps(r[4], r[5]),
                _mm256_unpackhi_ps(r[4], r[5]),
                _mm256_unpacklo_ps(r[6], r[7]),
                _mm256_unpackhi_ps(r[6], r[7]),
            ];
            let u = [
                _mm256_shuffle_ps::<0x44>(t[0], t[2]),
                _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
                _mm256_shuffle_ps::<0x44>(t[1], t[3]),
                _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
                _mm256_shuffle_ps::<0x44>(t[4], t[6]),
                _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
                _mm256_shuffle_ps::<0x44>(t[5], t[7]),
                _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
            ];
            [
                _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
                _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
                _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
                _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
                _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
                _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
                _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
                _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
            ]
        }
    }

    /// The chunks of 8 elements of a plane of `len`: whole chunks, the last
    /// one overlapping its predecessor (the elements they share are written
    /// twice, with the same values). Planes under 8 elements go element by element.
    fn chunks(len: usize) -> impl Iterator<Item = usize> {
        (0..len / 8).map(|k| 8 * k).chain((!len.is_multiple_of(8)).then(|| len - 8))
    }

    /// See `super::interleave`; the caller checks every address.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn interleave(src: *const f32, planes: &[usize; LANES], positions: &[usize], dst: *mut f32) {
        let len = positions.len();
        if len < 8 {
            for (i, &j) in positions.iter().enumerate() {
                for (c, &plane) in planes.iter().enumerate() {
                    // SAFETY: caller's contract.
                    unsafe { *dst.add(j * LANES + c) = *src.add(plane + i) };
                }
            }
            return;
        }
        for i0 in chunks(len) {
            for half in 0..2 {
                // SAFETY: elements i0..i0 + 8 lie in every plane (i0 + 8 <= len).
                let rows: [__m256; 8] = std::array::from_fn(|c| unsafe { _mm256_loadu_ps(src.add(planes[8 * half + c] + i0)) });
                // SAFETY: register-only.
                let columns = unsafe { transpose(rows) };
                for (k, column) in columns.iter().enumerate() {
                    // SAFETY: the position lies inside dst (caller's contract).
                    unsafe { _mm256_storeu_ps(dst.add(positions[i0 + k] * LANES + 8 * half), *column) };
                }
            }
        }
    }

    /// See `super::deinterleave`; the caller checks every address.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn deinterleave(flat: *const f32, positions: &[usize], bias: Option<*const f32>, count: usize, out: *mut f32) {
        let len = positions.len();
        // SAFETY: positions lie inside `flat`, `count` planes of
        // `len` inside `out`, and `bias` holds LANES values (caller's contract).
        unsafe {
            let with_bias = |v: f32, c: usize| bias.map_or(v, |b| v + *b.add(c));
            if len < 8 {
                for (i, &j) in positions.iter().enumerate() {
                    for c in 0..count {
                        *out.add(c * len + i) = with_bias(*flat.add(j * LANES + c), c);
                    }
                }
                return;
            }
            for i0 in chunks(len) {
                for half in 0..count.div_ceil(8) {
                    let values: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(flat.add(positions[i0 + k] * LANES + 8 * half)));
                    let channels = transpose(values);
                    for (j, &values) in channels.iter().enumerate().take(count - 8 * half) {
                        let c = 8 * half + j;
                        let values = match bias {
                            Some(b) => _mm256_add_ps(values, _mm256_set1_ps(*b.add(c))),
                            None => values,
                        };
                        _mm256_storeu_ps(out.add(c * len + i0), values);
                    }
                }
            }
        }
    }
}
