//! Exact-length row copies between an input plane and the depthwise
//! kernels' polyphase buffers: a plain copy (stride 1), a split of a row
//! into its even and odd columns (stride 2) and the merge back. Splits and
//! merges go in runs of 16 words with AVX2 (on AVX-512 machines too), the
//! last overlapping its predecessor, and element loops for what the runs
//! leave; plain copies stay `memcpy` (faster than AVX2 runs). No masked
//! moves: AVX2's are slow on AMD, and AVX-512's masked loads and stores of
//! exact row length (which AVX-512 machines used before) made a 2-core
//! Zen 5 take 1.3-1.9x as long on MobileNetV2's
//! large-plane depthwise layers (`8 x 96 x 112x112` at stride 2: 5.5 ms
//! against 2.8; `8 x 144 x 56x56`: 2.4 against 1.7). Only copies: the bits
//! are the same either way.
//!
//! The vector code moves 32-bit words, so one body serves f32 (one word per
//! element) and f64 (two).

use super::Real;
#[cfg(x86_simd)]
use crate::conv::{tile_isa, TileIsa};
use std::mem::MaybeUninit;

/// `dst.copy_from_slice(src)`, into memory that need not be initialized
/// (an initialized `dst` goes through `uninit_view`).
#[inline(always)]
pub(super) fn copy_row<T: Real>(src: &[T], dst: &mut [MaybeUninit<T>]) {
    assert_eq!(src.len(), dst.len(), "copy_row: lengths differ");
    // SAFETY: `src.len()` elements of both, which are distinct borrows.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<T>(), src.len()) }
}

/// `even[i] = src[2i]`, `odd[i] = src[2i + 1]`.
#[inline(always)]
pub(super) fn split_row<T: Real>(src: &[T], even: &mut [T], odd: &mut [T]) {
    assert!(even.len() == src.len().div_ceil(2) && odd.len() == src.len() / 2, "split_row: lengths do not match");
    #[cfg(x86_simd)]
    let done = match tile_isa() {
        // SAFETY: the CPU has AVX2 (`tile_isa`: AVX-512F implies it); the lengths match (checked).
        TileIsa::Avx512 | TileIsa::Avx2 => unsafe { avx2::split(words(src), words_mut(even), words_mut(odd), word_count::<T>()) },
        TileIsa::Portable => 0,
    };
    #[cfg(not(x86_simd))]
    let done = 0;
    split_pairs(&src[done..], &mut even[done / 2..], &mut odd[done / 2..]);
}

/// `split_row` element by element: whole pairs, then the last even element.
#[inline(always)]
fn split_pairs<T: Real>(src: &[T], even: &mut [T], odd: &mut [T]) {
    let pairs = src.chunks_exact(2);
    if let [last] = pairs.remainder() {
        even[src.len() / 2] = *last;
    }
    for ((pair, e), o) in pairs.zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
}

/// `dst[2i] = even[i]`, `dst[2i + 1] = odd[i]`: the inverse of `split_row`.
#[inline(always)]
pub(super) fn merge_row<T: Real>(even: &[T], odd: &[T], dst: &mut [T]) {
    assert!(even.len() == dst.len().div_ceil(2) && odd.len() == dst.len() / 2, "merge_row: lengths do not match");
    #[cfg(x86_simd)]
    let done = match tile_isa() {
        // SAFETY: the CPU has AVX2 (`tile_isa`: AVX-512F implies it); the lengths match (checked).
        TileIsa::Avx512 | TileIsa::Avx2 => unsafe { avx2::merge(words(even), words(odd), words_mut(dst), word_count::<T>()) },
        TileIsa::Portable => 0,
    };
    #[cfg(not(x86_simd))]
    let done = 0;
    merge_pairs(&even[done / 2..], &odd[done / 2..], &mut dst[done..]);
}

/// `merge_row` element by element.
#[inline(always)]
fn merge_pairs<T: Real>(even: &[T], odd: &[T], dst: &mut [T]) {
    let n = dst.len();
    let mut pairs = dst.chunks_exact_mut(2);
    for ((pair, &e), &o) in pairs.by_ref().zip(even).zip(odd) {
        pair[0] = e;
        pair[1] = o;
    }
    if let [last] = pairs.into_remainder() {
        *last = even[n / 2];
    }
}

/// 32-bit words per element: 1 for f32, 2 for f64.
#[cfg(x86_simd)]
fn word_count<T>() -> usize {
    std::mem::size_of::<T>() / 4
}

#[cfg(x86_simd)]
#[inline(always)]
fn words<T: Real>(v: &[T]) -> &[u32] {
    // SAFETY: T is f32 or f64 (the only `Real` types): a whole number of
    // u32 words with at least u32's alignment, and every bit pattern is a
    // valid u32; the view covers exactly v's bytes and borrows v.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v) / 4) }
}

#[cfg(x86_simd)]
#[inline(always)]
fn words_mut<T: Real>(v: &mut [T]) -> &mut [u32] {
    // SAFETY: as `words`; and every bit pattern of the words is a valid
    // f32/f64, so whatever is written through the view leaves v valid.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), std::mem::size_of_val(v) / 4) }
}

/// Without masked moves (slow on AMD's AVX2): runs of 16 words, the last
/// one overlapping its predecessor (words they share are written twice,
/// with the same values); an odd row's last element is left to the
/// element loops, as are rows under 16 words.
#[cfg(x86_simd)]
mod avx2 {
    use std::arch::x86_64::*;

    const WORDS: usize = 16;

    /// The first word of every run over a row of `len` words, each run
    /// starting at an even element; and the number of elements they cover.
    fn runs(len: usize, w: usize) -> (impl Iterator<Item = usize>, usize) {
        let (n, per_run) = (len / w, WORDS / w);
        let whole = n / per_run;
        let tail = (whole > 0 && n % per_run >= 2).then(|| (n - per_run) & !1);
        let covered = tail.map_or(whole * per_run, |t| t + per_run);
        ((0..whole).map(move |r| r * WORDS).chain(tail.map(|t| t * w)), covered)
    }

    /// The split of `src` (`n` elements of `w` words) but for what the
    /// runs leave; returns the number of elements split.
    ///
    /// # Safety
    /// The CPU has AVX2; `src` holds `n` elements of `w` words (1 or 2),
    /// `even` `ceil(n / 2)` and `odd` `floor(n / 2)` of them.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn split(src: &[u32], even: &mut [u32], odd: &mut [u32], w: usize) -> usize {
        let (starts, covered) = runs(src.len(), w);
        for i in starts {
            let at = i / 2;
            // SAFETY: words i..i + 16 lie in src (i + 16 <= len); words
            // at..at + 8 in even and in odd (a run starts at an even element
            // and ends at or before the row's end, so its odd elements
            // exist).
            unsafe {
                let (lo, hi) = (_mm256_loadu_ps(src.as_ptr().add(i).cast()), _mm256_loadu_ps(src.as_ptr().add(i + 8).cast()));
                let (e, o) = if w == 1 {
                    // [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then the middle 64-bit halves swapped.
                    let e = _mm256_castps_pd(_mm256_shuffle_ps::<0x88>(lo, hi));
                    let o = _mm256_castps_pd(_mm256_shuffle_ps::<0xDD>(lo, hi));
                    (_mm256_permute4x64_pd::<0xD8>(e), _mm256_permute4x64_pd::<0xD8>(o))
                } else {
                    let (lo, hi) = (_mm256_castps_pd(lo), _mm256_castps_pd(hi));
                    (_mm256_permute4x64_pd::<0xD8>(_mm256_unpacklo_pd(lo, hi)), _mm256_permute4x64_pd::<0xD8>(_mm256_unpackhi_pd(lo, hi)))
                };
                _mm256_storeu_pd(even.as_mut_ptr().add(at).cast(), e);
                _mm256_storeu_pd(odd.as_mut_ptr().add(at).cast(), o);
            }
        }
        covered
    }

    /// The merge into `dst` but for what the runs leave; returns the number
    /// of elements merged.
    ///
    /// # Safety
    /// As `split`, with `dst` in the place of `src`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn merge(even: &[u32], odd: &[u32], dst: &mut [u32], w: usize) -> usize {
        let (starts, covered) = runs(dst.len(), w);
        for i in starts {
            let at = i / 2;
            // SAFETY: as in `split`, with loads and stores swapped.
            unsafe {
                let (e, o) = (_mm256_loadu_ps(even.as_ptr().add(at).cast()), _mm256_loadu_ps(odd.as_ptr().add(at).cast()));
                let (a, b) = if w == 1 {
                    (_mm256_unpacklo_ps(e, o), _mm256_unpackhi_ps(e, o))
                } else {
                    let (e, o) = (_mm256_castps_pd(e), _mm256_castps_pd(o));
                    (_mm256_castpd_ps(_mm256_unpacklo_pd(e, o)), _mm256_castpd_ps(_mm256_unpackhi_pd(e, o)))
                };
                _mm256_storeu_ps(dst.as_mut_ptr().add(i).cast(), _mm256_permute2f128_ps::<0x20>(a, b));
                _mm256_storeu_ps(dst.as_mut_ptr().add(i + 8).cast(), _mm256_permute2f128_ps::<0x31>(a, b));
            }
        }
        covered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::uninit::uninit_view;

    #[test]
    fn rows_of_every_length_copy_split_and_merge_exactly() {
        for n in 0..80 {
            let src: Vec<f32> = (0..n).map(|i| i as f32 + 0.5).collect();
            let src64: Vec<f64> = src.iter().map(|&v| v as f64 * 3.0).collect();
            check(&src);
            check(&src64);
        }
    }

    fn check<T: Real>(src: &[T]) {
        let n = src.len();
        // Guard elements around every destination must stay untouched.
        let guard = T::from_f64(-7.0);
        let mut dst = vec![guard; n + 2];
        copy_row(src, uninit_view(&mut dst[1..n + 1]));
        assert_eq!(&dst[1..n + 1], src);
        assert!(dst[0] == guard && dst[n + 1] == guard);
        let (mut even, mut odd) = (vec![guard; n.div_ceil(2) + 2], vec![guard; n / 2 + 2]);
        let (e_len, o_len) = (n.div_ceil(2), n / 2);
        split_row(src, &mut even[1..e_len + 1], &mut odd[1..o_len + 1]);
        let expected_even: Vec<T> = src.iter().copied().step_by(2).collect();
        let expected_odd: Vec<T> = src.iter().copied().skip(1).step_by(2).collect();
        assert_eq!(&even[1..e_len + 1], &expected_even[..]);
        assert_eq!(&odd[1..o_len + 1], &expected_odd[..]);
        assert!(even[0] == guard && even[e_len + 1] == guard && odd[0] == guard && odd[o_len + 1] == guard);
        let mut merged = vec![guard; n + 2];
        merge_row(&even[1..e_len + 1], &odd[1..o_len + 1], &mut merged[1..n + 1]);
        assert_eq!(&merged[1..n + 1], src);
        assert!(merged[0] == guard && merged[n + 1] == guard);
    }
}
