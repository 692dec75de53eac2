//! The AVX-512 backend: 16 f32 lanes, and Philox on 8 blocks per vector pair.
//!
//! Philox layout: a block's counter words (c0, c1, c2, c3) live in one
//! 64-bit lane of two vectors, `a = c0 | c1 << 32` and `b = c2 | c3 << 32`.
//! `vpmuludq` multiplies the low halves, giving `hi:lo` of c0*M0 and c2*M1
//! in place; a masked ternary XOR folds `c1 ^ k0` / `c3 ^ k1` into the high
//! halves, and a 32-bit rotate moves every word to its next-round slot.

use super::philox::{M0, M1, ROUNDS, W0, W1};
use super::simd::{Backend, BATCH_WORDS};
use std::arch::x86_64::*;

#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

impl Avx512 {
    /// The token, if this CPU has AVX-512 F/DQ/BW/VL, AVX2 and FMA.
    pub fn new() -> Option<Self> {
        let ok = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma");
        ok.then_some(Avx512(()))
    }
}

/// Block offsets of the 64-bit lanes, so that unpacking (a, b) emits the
/// blocks in counter order: lanes 0, 2, 4, 6 hold blocks 0-3, lanes 1, 3,
/// 5, 7 blocks 4-7 (`_mm512_set_epi64` lists lane 7 first).
///
/// # Safety
/// The CPU must support AVX-512F. (Called only from `philox_groups`, inlined
/// into functions compiled with it.)
#[inline(always)]
unsafe fn lane_offsets() -> __m512i {
    _mm512_set_epi64(7, 3, 6, 2, 5, 1, 4, 0)
}

/// Groups of 8 blocks per batch.
const GROUPS: usize = BATCH_WORDS / 32;
const VECTORS: usize = BATCH_WORDS / 16;

/// The words of blocks `first_block .. first_block + BATCH_BLOCKS` of `stream`.
///
/// # Safety
/// The CPU must support AVX-512F (the function is compiled with it enabled).
/// The body works on registers and local arrays indexed within bounds only.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn philox_batch(key: [u32; 2], stream: u64, first_block: u64) -> [__m512i; VECTORS] {
    let mut out = [_mm512_setzero_si512(); VECTORS];
    put(&mut out, 0, &philox_groups::<GROUPS>(key, stream, first_block, 0));
    out
}

/// `philox_batch` computed for the 8-block groups `groups` only (the others
/// left zero), for a row of a region that starts or ends mid-batch. The
/// groups run up to 4 at a time, each set in registers through all rounds:
/// a loop over a variable number of groups would keep the state in memory
/// and put a store and a load into every round.
///
/// # Safety
/// As `philox_batch`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn philox_batch_part(key: [u32; 2], stream: u64, first_block: u64, groups: std::ops::Range<usize>) -> [__m512i; VECTORS] {
    if groups == (0..GROUPS) {
        return philox_batch(key, stream, first_block);
    }
    let mut out = [_mm512_setzero_si512(); VECTORS];
    let mut g = groups.start;
    while g < groups.end {
        let n = (groups.end - g).min(4);
        match n {
            4 => put(&mut out, g, &philox_groups::<4>(key, stream, first_block, g)),
            3 => put(&mut out, g, &philox_groups::<3>(key, stream, first_block, g)),
            2 => put(&mut out, g, &philox_groups::<2>(key, stream, first_block, g)),
            _ => put(&mut out, g, &philox_groups::<1>(key, stream, first_block, g)),
        }
        g += n;
    }
    out
}

/// Stores the word vectors of groups `g0 ..` into a batch's words.
#[inline(always)]
fn put<const N: usize>(out: &mut [__m512i; VECTORS], g0: usize, groups: &[[__m512i; 2]; N]) {
    for (i, words) in groups.iter().enumerate() {
        out[2 * (g0 + i)] = words[0];
        out[2 * (g0 + i) + 1] = words[1];
    }
}

/// Philox4x32-10 on the `N` 8-block groups `g0 .. g0 + N` of a batch (block
/// `first_block + 8 g + j` in group `g`), all `N` side by side through the
/// rounds; each group's two word vectors in counter order.
///
/// # Safety
/// The CPU must support AVX-512F: called only from `philox_batch` and
/// `philox_batch_part`, which are compiled with it (this function is
/// inlined there). Registers only.
#[inline(always)]
unsafe fn philox_groups<const N: usize>(key: [u32; 2], stream: u64, first_block: u64, g0: usize) -> [[__m512i; 2]; N] {
    let (m0, m1) = (_mm512_set1_epi64(i64::from(M0)), _mm512_set1_epi64(i64::from(M1)));
    let first = _mm512_add_epi64(_mm512_set1_epi64(first_block as i64), lane_offsets());
    let mut a = [first; N];
    for (g, v) in a.iter_mut().enumerate() {
        *v = _mm512_add_epi64(first, _mm512_set1_epi64(8 * (g0 + g) as i64));
    }
    let mut b = [_mm512_set1_epi64(stream as i64); N];
    // Round keys by vector adds (a broadcast from a general register per round is slower).
    let (mut k0, mut k1) = (_mm512_set1_epi32(key[0] as i32), _mm512_set1_epi32(key[1] as i32));
    let (w0, w1) = (_mm512_set1_epi32(W0 as i32), _mm512_set1_epi32(W1 as i32));
    for r in 0..ROUNDS {
        if r > 0 {
            k0 = _mm512_add_epi32(k0, w0);
            k1 = _mm512_add_epi32(k1, w1);
        }
        for g in 0..N {
            let p0 = _mm512_mul_epu32(a[g], m0); // lo0 | hi0 << 32
            let p1 = _mm512_mul_epu32(b[g], m1); // lo1 | hi1 << 32
            // Odd (high) 32-bit lanes become hi ^ c ^ k; 0x96 is a three-way XOR.
            let t1 = _mm512_mask_ternarylogic_epi32::<0x96>(p1, 0xAAAA, a[g], k0);
            let t0 = _mm512_mask_ternarylogic_epi32::<0x96>(p0, 0xAAAA, b[g], k1);
            a[g] = _mm512_ror_epi64::<32>(t1); // (hi1 ^ c1 ^ k0) | lo1 << 32
            b[g] = _mm512_ror_epi64::<32>(t0); // (hi0 ^ c3 ^ k1) | lo0 << 32
        }
    }
    let mut out = [[_mm512_setzero_si512(); 2]; N];
    for (g, words) in out.iter_mut().enumerate() {
        *words = [_mm512_unpacklo_epi64(a[g], b[g]), _mm512_unpackhi_epi64(a[g], b[g])];
    }
    out
}

const fn index_table(start: u32, step: u32) -> [u32; 16] {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = start + step * i as u32;
        i += 1;
    }
    t
}

const EVEN: [u32; 16] = index_table(0, 2);
const ODD: [u32; 16] = index_table(1, 2);
/// (x0, y0, x1, y1, ...): x lane i at 2i, y lane i (index 16 + i) at 2i + 1.
const ZIP_LO: [u32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
const ZIP_HI: [u32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];

/// The 16 indices of `t` as a vector.
///
/// # Safety
/// The CPU must support AVX-512F. The load itself is in bounds: `t` is
/// exactly 16 u32 = 64 bytes, and `loadu` needs no alignment.
#[inline(always)]
unsafe fn table(t: &[u32; 16]) -> __m512i {
    _mm512_loadu_si512(t.as_ptr() as *const __m512i)
}

// Why the `unsafe` blocks below are sound: a `Avx512` value exists only if
// `Avx512::new` detected AVX-512F/DQ/BW/VL, AVX2 and FMA at run time (its field
// is private, so nothing else can make one), and no intrinsic used here
// needs more than that. Apart from `load_u` / `store_u` / `store_f` and `table`, they
// touch registers only; those three move exactly 16 elements through a
// subslice of length 16 obtained by (bounds-checked) indexing, with
// unaligned load/store instructions, so any element alignment is fine.
impl Backend for Avx512 {
    const WIDTH: usize = 16;
    type F = __m512;
    type U = __m512i;
    type M = __mmask16;

    type Words = [__m512i; VECTORS];

    #[inline(always)]
    fn blocks(self, key: [u32; 2], stream: u64, first_block: u64) -> [__m512i; VECTORS] {
        // SAFETY: `self` is an `Avx512` token, so the CPU has the AVX-512F that
        // `philox_batch` is compiled with.
        unsafe { philox_batch(key, stream, first_block) }
    }
    #[inline(always)]
    fn blocks_in(self, key: [u32; 2], stream: u64, first_block: u64, groups: std::ops::Range<usize>) -> [__m512i; VECTORS] {
        // SAFETY: as in `blocks`; `groups` only narrows which lanes are computed.
        unsafe { philox_batch_part(key, stream, first_block, groups.start.min(GROUPS)..groups.end.min(GROUPS)) }
    }
    #[inline(always)]
    fn word_vec(self, words: &[__m512i; VECTORS], i: usize) -> __m512i {
        words[i]
    }
    #[inline(always)]
    fn to_array(self, words: &[__m512i; VECTORS]) -> [u32; BATCH_WORDS] {
        let mut out = [0u32; BATCH_WORDS];
        for (i, w) in words.iter().enumerate() {
            self.store_u(&mut out, 16 * i, *w);
        }
        out
    }
    #[inline(always)]
    fn load_u(self, src: &[u32], at: usize) -> __m512i {
        let s = &src[at..at + 16];
        // SAFETY: `s` is a 16-word subslice, so the 64-byte unaligned load stays
        // inside `src`; AVX-512F is present per the `Avx512` token `self`.
        unsafe { _mm512_loadu_si512(s.as_ptr() as *const __m512i) }
    }
    #[inline(always)]
    fn store_u(self, dst: &mut [u32], at: usize, v: __m512i) {
        let d = &mut dst[at..at + 16];
        // SAFETY: `d` is a 16-word `&mut` subslice, so the 64-byte unaligned store
        // stays inside `dst`; AVX-512F is present per the `Avx512` token `self`.
        unsafe { _mm512_storeu_si512(d.as_mut_ptr() as *mut __m512i, v) }
    }
    #[inline(always)]
    fn store_f(self, dst: &mut [f32], at: usize, v: __m512) {
        let d = &mut dst[at..at + 16];
        // SAFETY: `d` is a 16-float `&mut` subslice, so the 64-byte unaligned store
        // stays inside `dst`; AVX-512F is present per the `Avx512` token `self`.
        unsafe { _mm512_storeu_ps(d.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn splat_u(self, x: u32) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_set1_epi32(x as i32) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_sqrt_ps(a) }
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn i32_to_f(self, a: __m512i) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_cvtepi32_ps(a) }
    }
    #[inline(always)]
    fn to_bits(self, a: __m512) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_castps_si512(a) }
    }
    #[inline(always)]
    fn float_of_bits(self, a: __m512i) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_castsi512_ps(a) }
    }
    #[inline(always)]
    fn and_u(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_and_si512(a, b) }
    }
    #[inline(always)]
    fn or_u(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_or_si512(a, b) }
    }
    #[inline(always)]
    fn xor_u(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_xor_si512(a, b) }
    }
    #[inline(always)]
    fn add_u(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub_u(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn shr_u(self, a: __m512i, n: u32) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_srl_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn shl_u(self, a: __m512i, n: u32) -> __m512i {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_sll_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn sign_set(self, a: __m512i) -> __mmask16 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_cmplt_epi32_mask(a, _mm512_setzero_si512()) }
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        // SAFETY: register-only intrinsics within AVX-512F, present per the `Avx512` token `self`.
        unsafe { _mm512_mask_blend_ps(m, b, a) }
    }
    #[inline(always)]
    fn all(self, m: __mmask16) -> bool {
        m == 0xFFFF
    }
    #[inline(always)]
    fn deinterleave(self, a: __m512i, b: __m512i) -> (__m512i, __m512i) {
        // SAFETY: AVX-512F is present per the `Avx512` token `self`; `table`
        // loads 64 bytes from a 16-entry array (see its Safety section).
        unsafe { (_mm512_permutex2var_epi32(a, table(&EVEN), b), _mm512_permutex2var_epi32(a, table(&ODD), b)) }
    }
    #[inline(always)]
    fn interleave(self, x: __m512, y: __m512) -> (__m512, __m512) {
        // SAFETY: AVX-512F is present per the `Avx512` token `self`; `table`
        // loads 64 bytes from a 16-entry array (see its Safety section).
        unsafe { (_mm512_permutex2var_ps(x, table(&ZIP_LO), y), _mm512_permutex2var_ps(x, table(&ZIP_HI), y)) }
    }
}
