//! The AVX2 + FMA backend: 8 f32 lanes, and Philox on 4 blocks per vector
//! pair in the layout described in `avx512.rs` (a blend replaces the masked
//! ternary XOR, a dword shuffle the rotate).

use super::philox::{M0, M1, ROUNDS, W0, W1};
use super::simd::{Backend, BATCH_WORDS};
use std::arch::x86_64::*;

#[derive(Clone, Copy, Debug)]
pub struct Avx2(());

impl Avx2 {
    /// The token, if this CPU has AVX2 and FMA.
    pub fn new() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Avx2(()))
    }
}

/// Groups of 4 blocks per batch.
const GROUPS: usize = BATCH_WORDS / 16;
const VECTORS: usize = BATCH_WORDS / 8;

/// The words of blocks `first_block .. first_block + BATCH_BLOCKS` of `stream`.
///
/// # Safety
/// The CPU must support AVX2 (the function is compiled with it enabled).
/// The body works on registers and local arrays indexed within bounds only.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn philox_batch(key: [u32; 2], stream: u64, first_block: u64) -> [__m256i; VECTORS] {
    let (m0, m1) = (_mm256_set1_epi64x(i64::from(M0)), _mm256_set1_epi64x(i64::from(M1)));
    // Lanes 0, 2 hold blocks 0, 1 and lanes 1, 3 blocks 2, 3 (set lists lane 3 first).
    let first = _mm256_add_epi64(_mm256_set1_epi64x(first_block as i64), _mm256_set_epi64x(3, 1, 2, 0));
    let mut a = [first; GROUPS];
    for (g, v) in a.iter_mut().enumerate() {
        *v = _mm256_add_epi64(first, _mm256_set1_epi64x(4 * g as i64));
    }
    let mut b = [_mm256_set1_epi64x(stream as i64); GROUPS];
    let (mut k0, mut k1) = (_mm256_set1_epi32(key[0] as i32), _mm256_set1_epi32(key[1] as i32));
    let (w0, w1) = (_mm256_set1_epi32(W0 as i32), _mm256_set1_epi32(W1 as i32));
    for r in 0..ROUNDS {
        if r > 0 {
            k0 = _mm256_add_epi32(k0, w0);
            k1 = _mm256_add_epi32(k1, w1);
        }
        for g in 0..GROUPS {
            let p0 = _mm256_mul_epu32(a[g], m0);
            let p1 = _mm256_mul_epu32(b[g], m1);
            let t1 = _mm256_blend_epi32::<0xAA>(p1, _mm256_xor_si256(_mm256_xor_si256(p1, a[g]), k0));
            let t0 = _mm256_blend_epi32::<0xAA>(p0, _mm256_xor_si256(_mm256_xor_si256(p0, b[g]), k1));
            a[g] = _mm256_shuffle_epi32::<0xB1>(t1);
            b[g] = _mm256_shuffle_epi32::<0xB1>(t0);
        }
    }
    let mut out = [a[0]; VECTORS];
    for g in 0..GROUPS {
        out[2 * g] = _mm256_unpacklo_epi64(a[g], b[g]);
        out[2 * g + 1] = _mm256_unpackhi_epi64(a[g], b[g]);
    }
    out
}

// Why the `unsafe` blocks below are sound: a `Avx2` value exists only if
// `Avx2::new` detected AVX2 and FMA (AVX2 implies AVX) at run time (its field
// is private, so nothing else can make one), and no intrinsic used here
// needs more than that. Apart from `load_u` / `store_u` / `store_f`, they
// touch registers only; those three move exactly 8 elements through a
// subslice of length 8 obtained by (bounds-checked) indexing, with
// unaligned load/store instructions, so any element alignment is fine.
impl Backend for Avx2 {
    const WIDTH: usize = 8;
    type F = __m256;
    type U = __m256i;
    /// All-ones lanes where true (the sign bit is what `blendv` reads).
    type M = __m256;

    type Words = [__m256i; VECTORS];

    #[inline(always)]
    fn blocks(self, key: [u32; 2], stream: u64, first_block: u64) -> [__m256i; VECTORS] {
        // SAFETY: `self` is a `Avx2` token, so the CPU has the AVX2 that
        // `philox_batch` is compiled with.
        unsafe { philox_batch(key, stream, first_block) }
    }
    #[inline(always)]
    fn word_vec(self, words: &[__m256i; VECTORS], i: usize) -> __m256i {
        words[i]
    }
    #[inline(always)]
    fn to_array(self, words: &[__m256i; VECTORS]) -> [u32; BATCH_WORDS] {
        let mut out = [0u32; BATCH_WORDS];
        for (i, w) in words.iter().enumerate() {
            self.store_u(&mut out, 8 * i, *w);
        }
        out
    }
    #[inline(always)]
    fn load_u(self, src: &[u32], at: usize) -> __m256i {
        let s = &src[at..at + 8];
        // SAFETY: `s` is a 8-word subslice, so the 32-byte unaligned load stays
        // inside `src`; AVX2 + FMA is present per the `Avx2` token `self`.
        unsafe { _mm256_loadu_si256(s.as_ptr() as *const __m256i) }
    }
    #[inline(always)]
    fn store_u(self, dst: &mut [u32], at: usize, v: __m256i) {
        let d = &mut dst[at..at + 8];
        // SAFETY: `d` is a 8-word `&mut` subslice, so the 32-byte unaligned store
        // stays inside `dst`; AVX2 + FMA is present per the `Avx2` token `self`.
        unsafe { _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, v) }
    }
    #[inline(always)]
    fn store_f(self, dst: &mut [f32], at: usize, v: __m256) {
        let d = &mut dst[at..at + 8];
        // SAFETY: `d` is a 8-float `&mut` subslice, so the 32-byte unaligned store
        // stays inside `dst`; AVX2 + FMA is present per the `Avx2` token `self`.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn splat_u(self, x: u32) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_set1_epi32(x as i32) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_sqrt_ps(a) }
    }
    #[inline(always)]
    fn min(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    fn i32_to_f(self, a: __m256i) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_cvtepi32_ps(a) }
    }
    #[inline(always)]
    fn to_bits(self, a: __m256) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_castps_si256(a) }
    }
    #[inline(always)]
    fn float_of_bits(self, a: __m256i) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_castsi256_ps(a) }
    }
    #[inline(always)]
    fn and_u(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_and_si256(a, b) }
    }
    #[inline(always)]
    fn or_u(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_or_si256(a, b) }
    }
    #[inline(always)]
    fn xor_u(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_xor_si256(a, b) }
    }
    #[inline(always)]
    fn add_u(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub_u(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn shr_u(self, a: __m256i, n: u32) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_srl_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn shl_u(self, a: __m256i, n: u32) -> __m256i {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_sll_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn lt(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn sign_set(self, a: __m256i) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_castsi256_ps(_mm256_srai_epi32::<31>(a)) }
    }
    #[inline(always)]
    fn select(self, m: __m256, a: __m256, b: __m256) -> __m256 {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_blendv_ps(b, a, m) }
    }
    #[inline(always)]
    fn all(self, m: __m256) -> bool {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe { _mm256_movemask_ps(m) == 0xFF }
    }
    #[inline(always)]
    fn deinterleave(self, a: __m256i, b: __m256i) -> (__m256i, __m256i) {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe {
            let (fa, fb) = (_mm256_castsi256_ps(a), _mm256_castsi256_ps(b));
            // Per 128-bit half: (a0 a2 b0 b2), then fix the order of the 64-bit quarters.
            let even = _mm256_castps_si256(_mm256_shuffle_ps::<0b10_00_10_00>(fa, fb));
            let odd = _mm256_castps_si256(_mm256_shuffle_ps::<0b11_01_11_01>(fa, fb));
            (_mm256_permute4x64_epi64::<0b11_01_10_00>(even), _mm256_permute4x64_epi64::<0b11_01_10_00>(odd))
        }
    }
    #[inline(always)]
    fn interleave(self, x: __m256, y: __m256) -> (__m256, __m256) {
        // SAFETY: register-only intrinsics within AVX2 + FMA, present per the `Avx2` token `self`.
        unsafe {
            let (lo, hi) = (_mm256_unpacklo_ps(x, y), _mm256_unpackhi_ps(x, y));
            (_mm256_permute2f128_ps::<0x20>(lo, hi), _mm256_permute2f128_ps::<0x31>(lo, hi))
        }
    }
}
