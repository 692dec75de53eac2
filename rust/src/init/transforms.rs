//! Philox words -> values, one transform per (distribution, dtype). Each
//! value uses fixed bits of fixed words of its own batch (64 blocks), so
//! value `i` depends only on (seed, stream, i, dtype, distribution):
//!
//! | transform           | values/block | words per value                         |
//! |---------------------|--------------|-----------------------------------------|
//! | uniform f32         | 5.25         | a 24-bit field (see `FIELDS24`)         |
//! | uniform f64         | 2            | words 2(i%2), 2(i%2)+1 (top 53 of 64)   |
//! | normal f32          | 4            | Box–Muller pair (words j, 16+j of its 32-word group) -> values j (cos), 16+j (sin) |
//! | normal f64          | 2            | Box–Muller pair from the whole block    |
//! | trunc. normal f32   | 5.25         | a 24-bit field (its top 23 bits), inverse CDF |
//! | trunc. normal f64   | 2            | words 2(i%2), 2(i%2)+1 (top 52 bits), inverse CDF |

use super::math::{ln, ndtri, ndtri64, sincos_turn};
use crate::rng::{batch_part_by_pieces, groups_of_words, Backend, Pieces, Transform, BATCH_WORDS};

const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;

/// 24-bit fields per batch: the top 24 bits of every word, then 16 * 5
/// fields assembled from the low bytes of words (48g + l, 48g + 16 + l,
/// 48g + 32 + l) for g < 5, l < 16 (the last 16 words' low bytes unused).
pub const FIELDS24: usize = BATCH_WORDS + 16 * (BATCH_WORDS / 48);

/// Fields `WIDTH * j .. WIDTH * (j + 1)` of a batch (see `FIELDS24`).
/// Every field is a lane-wise function of its words, so all backends agree;
/// widths must divide 16.
#[inline(always)]
fn field24<B: Backend>(b: B, words: &B::Words, j: usize) -> B::U {
    let w = B::WIDTH;
    if j < BATCH_WORDS / w {
        return b.shr_u(b.word_vec(words, j), 8);
    }
    let (g, h) = ((j - BATCH_WORDS / w) / (16 / w), (j - BATCH_WORDS / w) % (16 / w));
    let byte = |k: usize| b.and_u(b.word_vec(words, (48 * g + 16 * k) / w + h), b.splat_u(0xff));
    b.or_u(b.or_u(byte(0), b.shl_u(byte(1), 8)), b.shl_u(byte(2), 16))
}

/// The word groups values `skip .. skip + len` of a `FIELDS24` batch need:
/// a field below `BATCH_WORDS` is its own word's top bits; field
/// `BATCH_WORDS + 16 g + l` gathers the low bytes of words `48 g + l`,
/// `48 g + 16 + l` and `48 g + 32 + l`. (One range covering both kinds.)
#[inline(always)]
fn field24_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
    let end = skip + len;
    let top = groups_of_words(skip.min(BATCH_WORDS), end.min(BATCH_WORDS));
    if end <= BATCH_WORDS {
        return top;
    }
    let (first, last) = (skip.max(BATCH_WORDS) - BATCH_WORDS, end - BATCH_WORDS);
    let low = groups_of_words(48 * (first / 16), 48 * last.div_ceil(16));
    if top.is_empty() {
        low
    } else {
        low.start.min(top.start)..low.end.max(top.end)
    }
}

/// `x` if `x < hi` else `hi`, then `x` if `x > lo` else `lo`: x86
/// `minps`/`maxps` order, so NaN lands on `lo` as on the SIMD paths.
#[inline(always)]
fn clamp64(x: f64, lo: f64, hi: f64) -> f64 {
    let x = if x < hi { x } else { hi };
    if x > lo { x } else { lo }
}

/// The 64-bit word pair `k` of a batch (words 2k, 2k+1, little end first).
#[inline(always)]
fn pair(words: &[u32; BATCH_WORDS], k: usize) -> u64 {
    u64::from(words[2 * k]) | u64::from(words[2 * k + 1]) << 32
}

/// `low + u (high - low)`, u = top 24 bits / 2^24, kept in [low, top].
pub struct UniformF32 {
    pub low: f32,
    pub scale: f32,
    pub top: f32,
}

impl Pieces for UniformF32 {
    type Out = f32;
    #[inline(always)]
    fn piece_len<B: Backend>() -> usize {
        B::WIDTH
    }
    #[inline(always)]
    fn piece<B: Backend>(&self, b: B, words: &B::Words, j: usize, out: &mut [f32], at: usize) {
        let u = b.mul(b.i32_to_f(field24(b, words, j)), b.splat(TWO_POW_M24));
        b.store_f(out, at, b.min(b.fma(u, b.splat(self.scale), b.splat(self.low)), b.splat(self.top)));
    }
}

impl Transform for UniformF32 {
    type Out = f32;
    const VALUES_PER_BATCH: usize = FIELDS24;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [f32]) {
        for j in 0..FIELDS24 / B::WIDTH {
            self.piece(b, words, j, out, j * B::WIDTH);
        }
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, b: B, words: &B::Words, skip: usize, out: &mut [f32], scratch: &mut [f32]) {
        batch_part_by_pieces(self, b, words, skip, out, scratch);
    }

    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        field24_groups(skip, len)
    }
}

/// As `UniformF32` with u = top 53 bits of a word pair / 2^53.
pub struct UniformF64 {
    pub low: f64,
    pub scale: f64,
    pub top: f64,
}

impl UniformF64 {
    #[inline(always)]
    fn value(&self, words: &[u32; BATCH_WORDS], k: usize) -> f64 {
        let u = (pair(words, k) >> 11) as f64 * TWO_POW_M53;
        let x = u.mul_add(self.scale, self.low);
        if x < self.top { x } else { self.top }
    }
}

impl Transform for UniformF64 {
    type Out = f64;
    const VALUES_PER_BATCH: usize = BATCH_WORDS / 2;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [f64]) {
        self.batch_part(b, words, 0, out, &mut []);
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, b: B, words: &B::Words, skip: usize, out: &mut [f64], _: &mut [f64]) {
        let words = &b.to_array(words);
        for (k, v) in out.iter_mut().enumerate() {
            *v = self.value(words, skip + k);
        }
    }

    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        groups_of_words(2 * skip, 2 * (skip + len))
    }
}

/// Box–Muller (Box & Muller 1958): r = sqrt(-2 ln u1), theta = 2 pi u2;
/// values r cos(theta), r sin(theta), times std plus mean. In each group of
/// 32 values (32 words), pair j < 16 takes u1 from word j (31 bits, so u1 is
/// in (0, 1] and |z| reaches 6.66) and theta from word 16 + j, and gives
/// values j (cos) and 16 + j (sin): lane-wise, no shuffles.
pub struct NormalF32 {
    pub mean: f32,
    pub std: f32,
}

impl Pieces for NormalF32 {
    type Out = f32;
    #[inline(always)]
    fn piece_len<B: Backend>() -> usize {
        32
    }
    /// Values `32 g .. 32 (g + 1)` of a batch (words of the same indices).
    #[inline(always)]
    fn piece<B: Backend>(&self, b: B, words: &B::Words, g: usize, out: &mut [f32], at: usize) {
        let (mean, std, w, group) = (b.splat(self.mean), b.splat(self.std), B::WIDTH, 32 * g);
        for h in 0..16 / w {
            let radius_words = b.word_vec(words, group / w + h);
            let angle_words = b.word_vec(words, (group + 16) / w + h);
            let u1 = b.fma(b.i32_to_f(b.shr_u(radius_words, 1)), b.splat(1.0 / 2_147_483_648.0), b.splat(1.0 / 4_294_967_296.0));
            let r = b.sqrt(b.mul(ln(b, u1), b.splat(-2.0))); // ln(u1) <= 0: u1 <= 1 and ln(1) = 0 exactly
            let (sin, cos) = sincos_turn(b, angle_words);
            b.store_f(out, at + h * w, b.fma(b.mul(r, cos), std, mean));
            b.store_f(out, at + 16 + h * w, b.fma(b.mul(r, sin), std, mean));
        }
    }
}

impl Transform for NormalF32 {
    type Out = f32;
    const VALUES_PER_BATCH: usize = BATCH_WORDS;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [f32]) {
        for g in 0..BATCH_WORDS / 32 {
            self.piece(b, words, g, out, 32 * g);
        }
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, b: B, words: &B::Words, skip: usize, out: &mut [f32], scratch: &mut [f32]) {
        batch_part_by_pieces(self, b, words, skip, out, scratch);
    }

    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        groups_of_words(skip, skip + len) // value i comes from word i and its partner in the same group
    }
}

/// Box–Muller in f64: u1 = 1 - (top 53 bits of words 0-1)/2^53 in (0, 1],
/// theta from the top 53 bits of words 2-3; block j gives values 2j, 2j+1.
pub struct NormalF64 {
    pub mean: f64,
    pub std: f64,
}

impl NormalF64 {
    /// Values 2j, 2j + 1 of a batch, from block j.
    #[inline(always)]
    fn pair_of(&self, words: &[u32; BATCH_WORDS], j: usize, out: &mut [f64], at: usize) {
        let u1 = 1.0 - (pair(words, 2 * j) >> 11) as f64 * TWO_POW_M53;
        let theta = (pair(words, 2 * j + 1) >> 11) as f64 * TWO_POW_M53 * std::f64::consts::TAU;
        let r = (-2.0 * libm::log(u1)).max(0.0).sqrt();
        let (sin, cos) = libm::sincos(theta);
        out[at] = (r * cos).mul_add(self.std, self.mean);
        out[at + 1] = (r * sin).mul_add(self.std, self.mean);
    }
}

impl Transform for NormalF64 {
    type Out = f64;
    const VALUES_PER_BATCH: usize = BATCH_WORDS / 2;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [f64]) {
        let words = &b.to_array(words);
        for j in 0..BATCH_WORDS / 4 {
            self.pair_of(words, j, out, 2 * j);
        }
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, b: B, words: &B::Words, skip: usize, out: &mut [f64], _: &mut [f64]) {
        let words = &b.to_array(words);
        let mut pair = [0.0; 2];
        for (k, v) in out.iter_mut().enumerate() {
            let i = skip + k;
            if k == 0 || i.is_multiple_of(2) {
                self.pair_of(words, i / 2, &mut pair, 0);
            }
            *v = pair[i % 2];
        }
    }

    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        groups_of_words(4 * (skip / 2), 4 * (skip + len).div_ceil(2))
    }
}

/// Truncated normal by inverse CDF, one uniform per value:
/// p = p_low + u p_width and q = 1 - p = q_low - u p_width (each formed
/// directly, so neither tail loses precision), value = mean + scale
/// Phi^-1(p), clamped to [lo, hi]. `scale` is -std when the interval was
/// mirrored into the lower tail, else std.
pub struct TruncNormalF32 {
    /// Whether some p may fall below `math::CENTRAL_P` (else the quantile's
    /// tail branch is never taken and its test is skipped).
    pub tails: bool,
    pub p_low: f32,
    pub q_low: f32,
    pub p_width: f32,
    pub scale: f32,
    pub mean: f32,
    pub lo: f32,
    pub hi: f32,
}

impl Pieces for TruncNormalF32 {
    type Out = f32;
    #[inline(always)]
    fn piece_len<B: Backend>() -> usize {
        B::WIDTH
    }
    #[inline(always)]
    fn piece<B: Backend>(&self, b: B, words: &B::Words, j: usize, out: &mut [f32], at: usize) {
        let (p_low, q_low, p_width) = (b.splat(self.p_low), b.splat(self.q_low), b.splat(self.p_width));
        let neg_width = b.splat(-self.p_width);
        let (scale, mean, lo, hi) = (b.splat(self.scale), b.splat(self.mean), b.splat(self.lo), b.splat(self.hi));
        // u in (0, 1), exactly: the midpoint of one of 2^23 equal cells.
        let k = b.i32_to_f(b.shr_u(field24(b, words, j), 1));
        let u = b.mul(b.add(k, b.splat(0.5)), b.splat(2.0 * TWO_POW_M24));
        let z = ndtri(b, b.fma(u, p_width, p_low), b.fma(u, neg_width, q_low), self.tails);
        b.store_f(out, at, b.max(b.min(b.fma(z, scale, mean), hi), lo));
    }
}

impl Transform for TruncNormalF32 {
    type Out = f32;
    const VALUES_PER_BATCH: usize = FIELDS24;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [f32]) {
        for j in 0..FIELDS24 / B::WIDTH {
            self.piece(b, words, j, out, j * B::WIDTH);
        }
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, b: B, words: &B::Words, skip: usize, out: &mut [f32], scratch: &mut [f32]) {
        batch_part_by_pieces(self, b, words, skip, out, scratch);
    }

    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        field24_groups(skip, len)
    }
}

/// The f64 truncated normal, also used for f32 output when the interval
/// lies so deep in a tail that its probabilities underflow f32.
pub struct TruncNormalF64<T> {
    pub p_low: f64,
    pub q_low: f64,
    pub p_width: f64,
    pub scale: f64,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub cast: fn(f64) -> T,
}

impl<T> TruncNormalF64<T> {
    #[inline(always)]
    fn value(&self, words: &[u32; BATCH_WORDS], k: usize) -> T {
        // u in (0, 1), exactly: the midpoint of one of 2^52 equal cells.
        let u = ((pair(words, k) >> 12) as f64 + 0.5) * (2.0 * TWO_POW_M53);
        let p = u.mul_add(self.p_width, self.p_low);
        let q = (-u).mul_add(self.p_width, self.q_low);
        let z = ndtri64(p, q);
        (self.cast)(clamp64(z.mul_add(self.scale, self.mean), self.lo, self.hi))
    }
}

impl<T: Copy + Default + Send + Sync> Transform for TruncNormalF64<T> {
    type Out = T;
    const VALUES_PER_BATCH: usize = BATCH_WORDS / 2;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [T]) {
        self.batch_part(b, words, 0, out, &mut []);
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, b: B, words: &B::Words, skip: usize, out: &mut [T], _: &mut [T]) {
        let words = &b.to_array(words);
        for (k, v) in out.iter_mut().enumerate() {
            *v = self.value(words, skip + k);
        }
    }

    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        groups_of_words(2 * skip, 2 * (skip + len))
    }
}

/// Every value equal (a zero-width truncated normal).
pub struct Constant<T>(pub T);

impl<T: Copy + Default + Send + Sync> Transform for Constant<T> {
    type Out = T;
    const VALUES_PER_BATCH: usize = BATCH_WORDS;
    #[inline(always)]
    fn batch<B: Backend>(&self, _: B, _: &B::Words, out: &mut [T]) {
        out.fill(self.0);
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, _: B, _: &B::Words, _: usize, out: &mut [T], _: &mut [T]) {
        out.fill(self.0);
    }

    #[inline(always)]
    fn word_groups(_: usize, _: usize) -> std::ops::Range<usize> {
        0..0
    }
}
