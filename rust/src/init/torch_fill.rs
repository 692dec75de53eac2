//! PyTorch's CPU `uniform_` and `normal_`, bit for bit, drawn from a
//! [`TorchCpu`] generator. The values are those of the x86-64 builds of
//! torch with AVX2/AVX-512 kernels: there `uniform_real`'s
//! `x * (to - from) + from` and `val * std + mean` are compiled to fused
//! multiply-adds, and the contiguous float32 `normal_` runs the AVX2 kernel
//! built on Cephes' log and sincos polynomials (`avx_mathfun.h`, whose mul/add pairs are
//! fused the same way). Every operation below mirrors one of those.
//!
//! `out` is the target in torch's iteration order; callers arrange
//! non-contiguous targets (the iteration order is TensorIterator's).

use crate::error::{KernelError, KernelResult};
use crate::parallel::effective_threads;
use crate::rng::mt19937::{regenerate, Mt19937, N};
use crate::rng::mt_jump::jump_blocks;
use crate::rng::{Backend, Isa, TorchCpu, WithBackend};
use std::f64::consts::PI;

/// Elements are drawn in runs of this many raw words.
const RUN: usize = 2048;

/// float32 or float64 as torch's CPU distributions treat them.
pub trait TorchFloat: Copy + Default + Send + Sync + 'static {
    /// Raw 32-bit words one uniform value takes (1 for float32, 2 for float64).
    const WORDS: usize;
    /// `uniform_real(val, 0, 1)`: the low 24 (53) bits of `random()`
    /// (`random64()`) times 2^-24 (2^-53).
    fn unit(words: &[u32]) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn fused(self, scale: Self, offset: Self) -> Self;
    /// torch's `normal_fill_16`: 16 uniforms in, 16 normals out.
    fn normal16(block: &mut [Self], mean: Self, std: Self);
    /// `normal16` on each block of 16 of `blocks` (a multiple of 16 long).
    #[inline(always)]
    fn normal_blocks(blocks: &mut [Self], mean: Self, std: Self) {
        for block in blocks.chunks_exact_mut(16) {
            Self::normal16(block, mean, std);
        }
    }
}

impl TorchFloat for f32 {
    const WORDS: usize = 1;
    #[inline(always)]
    fn unit(words: &[u32]) -> f32 {
        (words[0] & 0x00ff_ffff) as f32 * (1.0 / (1u32 << 24) as f32)
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn fused(self, scale: f32, offset: f32) -> f32 {
        self.mul_add(scale, offset)
    }
    #[inline(always)]
    fn normal16(block: &mut [f32], mean: f32, std: f32) {
        cephes::normal16(block, mean, std)
    }
    /// Two blocks at a time: their 8 + 8 lanes side by side fill one
    /// 16-lane vector (each lane's operations are the same either way).
    #[inline(always)]
    fn normal_blocks(blocks: &mut [f32], mean: f32, std: f32) {
        let mut pairs = blocks.chunks_exact_mut(32);
        for pair in &mut pairs {
            let (mut c, mut s) = ([0f32; 16], [0f32; 16]);
            for half in 0..2 {
                c[8 * half..8 * half + 8].copy_from_slice(&pair[16 * half..16 * half + 8]);
                s[8 * half..8 * half + 8].copy_from_slice(&pair[16 * half + 8..16 * half + 16]);
            }
            cephes::box_muller(&mut c, &mut s, mean, std);
            for half in 0..2 {
                pair[16 * half..16 * half + 8].copy_from_slice(&c[8 * half..8 * half + 8]);
                pair[16 * half + 8..16 * half + 16].copy_from_slice(&s[8 * half..8 * half + 8]);
            }
        }
        for block in pairs.into_remainder().chunks_exact_mut(16) {
            cephes::normal16(block, mean, std);
        }
    }
}

impl TorchFloat for f64 {
    const WORDS: usize = 2;
    #[inline(always)]
    fn unit(words: &[u32]) -> f64 {
        let bits = ((words[0] as u64) << 32) | words[1] as u64;
        (bits & ((1u64 << 53) - 1)) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn fused(self, scale: f64, offset: f64) -> f64 {
        self.mul_add(scale, offset)
    }
    /// The generic `normal_fill_16` with the C library's log, cos and sin.
    fn normal16(block: &mut [f64], mean: f64, std: f64) {
        for j in 0..8 {
            let u1 = 1.0 - block[j];
            let u2 = block[j + 8];
            let radius = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * PI * u2;
            block[j] = (radius * theta.cos()).fused(std, mean);
            block[j + 8] = (radius * theta.sin()).fused(std, mean);
        }
    }
}

/// Cephes' single-precision log and sincos as torch's `avx_mathfun.h`
/// evaluates them, one lane at a time, with GCC's contraction of each
/// multiply feeding an add into one fused multiply-add.
// The constants are the C source's literals, digits as written, rounded to
// double and then to float as the C compiler rounds them.
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod cephes {
    const SQRTHF: f32 = 0.707106781186547524f64 as f32;
    const LOG_P: [f32; 9] = [
        7.0376836292E-2f64 as f32,
        -1.1514610310E-1f64 as f32,
        1.1676998740E-1f64 as f32,
        -1.2420140846E-1f64 as f32,
        1.4249322787E-1f64 as f32,
        -1.6668057665E-1f64 as f32,
        2.0000714765E-1f64 as f32,
        -2.4999993993E-1f64 as f32,
        3.3333331174E-1f64 as f32,
    ];
    const LOG_Q1: f32 = -2.12194440e-4f64 as f32;
    const LOG_Q2: f32 = 0.693359375;
    const MINUS_DP: [f32; 3] =
        [-0.78515625, -2.4187564849853515625e-4f64 as f32, -3.77489497744594108e-8f64 as f32];
    const SIN_P: [f32; 3] = [-1.9515295891E-4f64 as f32, 8.3321608736E-3f64 as f32, -1.6666654611E-1f64 as f32];
    const COS_P: [f32; 3] =
        [2.443315711809948E-005f64 as f32, -1.388731625493765E-003f64 as f32, 4.166664568298827E-002f64 as f32];
    const FOUR_OVER_PI: f32 = 1.27323954473516f64 as f32;
    const TWO_PI: f32 = (2.0 * std::f64::consts::PI) as f32;

    /// `log256_ps` for one lane (NaN for x <= 0).
    #[inline(always)]
    pub fn log(x: f32) -> f32 {
        let invalid = x <= 0.0;
        let bits = x.max(f32::MIN_POSITIVE).to_bits();
        let mut e = ((bits >> 23) as i32 - 0x7f) as f32 + 1.0;
        let mut m = f32::from_bits((bits & !0x7f80_0000) | 0.5f32.to_bits());
        // m in [0.5, 1): below sqrt(1/2) use 2m - 1 and one less in e.
        let below = m < SQRTHF;
        let extra = if below { m } else { 0.0 };
        m -= 1.0;
        e -= if below { 1.0 } else { 0.0 };
        m += extra;
        let z = m * m;
        let mut y = LOG_P[0];
        for &p in &LOG_P[1..] {
            y = y.mul_add(m, p);
        }
        y *= m;
        y = y.mul_add(z, e * LOG_Q1);
        y = (-z).mul_add(0.5, y);
        let result = e.mul_add(LOG_Q2, m + y);
        if invalid {
            f32::NAN
        } else {
            result
        }
    }

    /// `sincos256_ps` for one lane: (sin x, cos x).
    #[inline(always)]
    pub fn sincos(x: f32) -> (f32, f32) {
        let a = x.abs();
        // The octant j, rounded up to even; the sign flips of sin and cos.
        let j = (((a * FOUR_OVER_PI) as i32) + 1) & !1;
        let jf = j as f32;
        let sin_negative = x.is_sign_negative() ^ (j & 4 != 0);
        let cos_negative = !(j - 2) & 4 != 0;
        let use_sin_poly = j & 2 == 0;
        // Extended-precision reduction: a - j * pi/4 in three parts.
        let r = jf.mul_add(MINUS_DP[2], jf.mul_add(MINUS_DP[1], jf.mul_add(MINUS_DP[0], a)));
        let z = r * r;
        let mut c = COS_P[0].mul_add(z, COS_P[1]).mul_add(z, COS_P[2]) * z;
        c = c.mul_add(z, -(z * 0.5)) + 1.0;
        let s = (SIN_P[0].mul_add(z, SIN_P[1]).mul_add(z, SIN_P[2]) * z).mul_add(r, r);
        let (sin_part_s, sin_part_c) = if use_sin_poly { (s, 0.0) } else { (0.0, c) };
        let sin = sin_part_c + sin_part_s;
        let cos = (c - sin_part_c) + (s - sin_part_s);
        (flip(sin, sin_negative), flip(cos, cos_negative))
    }

    #[inline(always)]
    fn flip(v: f32, negative: bool) -> f32 {
        f32::from_bits(v.to_bits() ^ ((negative as u32) << 31))
    }

    /// `normal_fill_16_AVX2`.
    #[inline(always)]
    pub fn normal16(block: &mut [f32], mean: f32, std: f32) {
        let (cos_half, sin_half) = block.split_at_mut(8);
        box_muller(cos_half, sin_half, mean, std);
    }

    /// Lane k: (u1, u2) = (c[k], s[k]) -> the cosine and sine normals.
    #[inline(always)]
    pub fn box_muller(cos_lanes: &mut [f32], sin_lanes: &mut [f32], mean: f32, std: f32) {
        for (c, s) in cos_lanes.iter_mut().zip(sin_lanes.iter_mut()) {
            let radius = (-2.0 * log(1.0 - *c)).sqrt();
            let (sin, cos) = sincos(TWO_PI * *s);
            *c = (radius * cos).mul_add(std, mean);
            *s = (radius * sin).mul_add(std, mean);
        }
    }
}

/// Writes `out.len()` uniform values in [0, 1) drawn as torch's loops draw them.
#[inline(always)]
fn units<T: TorchFloat>(engine: &mut Mt19937, out: &mut [T]) {
    let mut words = [0u32; RUN];
    for chunk in out.chunks_mut(RUN / T::WORDS) {
        let raw = &mut words[..chunk.len() * T::WORDS];
        engine.fill_u32(raw);
        for (o, w) in chunk.iter_mut().zip(raw.chunks_exact(T::WORDS)) {
            *o = T::unit(w);
        }
    }
}

/// `Tensor.uniform_(from, to)`: `from`/`to` rounded to T, then
/// fma(unit, to - from, from) per element. `threads` as everywhere (0: all).
pub fn uniform<T: TorchFloat>(g: &mut TorchCpu, out: &mut [T], from: f64, to: f64, threads: usize) -> KernelResult<()> {
    uniform_in_pieces(g, out, from, to, effective_threads(threads))
}

fn uniform_in_pieces<T: TorchFloat>(g: &mut TorchCpu, out: &mut [T], from: f64, to: f64, pieces: usize) -> KernelResult<()> {
    if from.is_nan() || to.is_nan() || from > to {
        return Err(KernelError::invalid("a", format!("uniform_ expects to return a [from, to) range, but found from={from} > to={to}")));
    }
    let (low, high) = (T::from_f64(from), T::from_f64(to));
    let width = T::from_f64(high.to_f64() - low.to_f64());
    if !width.to_f64().is_finite() {
        return Err(KernelError::invalid("b", format!("uniform_ expects to - from to be finite in the tensor's dtype, got from={from}, to={to}")));
    }
    fill_in_pieces(g, out, Fill::Uniform { width, low }, pieces);
    Ok(())
}

/// `Tensor.normal_(mean, std)`. `vectorized` selects torch's path for a
/// contiguous tensor of at least 16 elements (all uniforms first, then
/// Box–Muller on blocks of 16, the last block re-drawn when 16 does not
/// divide the size); otherwise the scalar path, one Box–Muller pair per two
/// elements with the second value cached in the generator.
pub fn normal<T: TorchFloat>(
    g: &mut TorchCpu,
    out: &mut [T],
    mean: f64,
    std: f64,
    vectorized: bool,
    threads: usize,
) -> KernelResult<()> {
    normal_in_pieces(g, out, mean, std, vectorized, effective_threads(threads))
}

fn normal_in_pieces<T: TorchFloat>(
    g: &mut TorchCpu,
    out: &mut [T],
    mean: f64,
    std: f64,
    vectorized: bool,
    pieces: usize,
) -> KernelResult<()> {
    if std.is_nan() || std < 0.0 {
        return Err(KernelError::invalid("std", format!("normal expects std >= 0.0, but found std {std}")));
    }
    if !(vectorized && out.len() >= 16) {
        for v in out.iter_mut() {
            *v = T::from_f64(scalar_normal(g, mean, std));
        }
        return Ok(());
    }
    let (mean, std) = (T::from_f64(mean), T::from_f64(std));
    let starts = fill_in_pieces(g, out, Fill::NormalBlocks { mean, std }, pieces);
    // Blocks of 16 cut by a piece boundary, then torch's re-drawn last block.
    for start in starts {
        let block = start / 16 * 16;
        if start % 16 != 0 && block + 16 <= out.len() {
            T::normal16(&mut out[block..block + 16], mean, std);
        }
    }
    if !out.len().is_multiple_of(16) {
        let last = out.len() - 16;
        units(&mut g.engine, &mut out[last..]);
        T::normal16(&mut out[last..], mean, std);
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Fill<T> {
    Uniform { width: T, low: T },
    /// Uniforms, each whole block of 16 (counted from element 0) that lies
    /// inside one piece then turned into normals.
    NormalBlocks { mean: T, std: T },
}

/// Below this many words a fill runs on the calling thread.
const PARALLEL_WORDS: usize = 1 << 18;

/// Elements `start..end` of a fill and the engine positioned at their first word.
struct Piece {
    start: usize,
    end: usize,
    engine: Mt19937,
}

/// `x` rounded down to its three leading binary digits: a block count
/// whose jump takes at most three polynomial applications.
fn three_digits(x: u64) -> u64 {
    if x < 8 {
        return x;
    }
    let shift = 63 - x.leading_zeros() - 2;
    x >> shift << shift
}

/// Splits `count` elements of `words` words each into up to `threads`
/// pieces. Piece 0 continues `engine`; every other piece starts at a state
/// block boundary reached by jumping, so each piece draws exactly the words
/// the serial loop would give its elements.
fn plan(engine: &Mt19937, count: usize, words: usize, threads: usize) -> Vec<Piece> {
    let total = count * words;
    let unread = engine.left as usize - 1;
    let mut pieces = vec![Piece { start: 0, end: count, engine: engine.clone() }];
    if threads <= 1 || total < PARALLEL_WORDS || total <= unread + N {
        return pieces;
    }
    let blocks = ((total - unread) / N) as u64;
    let mut next_block = engine.state;
    regenerate(&mut next_block);
    for t in 1..threads as u64 {
        let jump = three_digits(blocks * t / threads as u64);
        let first_word = unread + N * jump as usize;
        let start = first_word.div_ceil(words);
        let previous = pieces.last_mut().expect("piece 0 exists");
        if jump == 0 || start <= previous.start || start >= count {
            continue;
        }
        previous.end = start;
        let mut engine = Mt19937 { seed: engine.seed, left: N as u32 + 1, next: 0, state: jump_blocks(&next_block, jump) };
        engine.discard((start * words - first_word) as u64);
        pieces.push(Piece { start, end: count, engine });
    }
    pieces
}

/// Runs `fill` over `out` in up to `count` pieces, one per thread, leaves
/// `g` where the serial loop leaves it, and returns where the pieces start.
fn fill_in_pieces<T: TorchFloat>(g: &mut TorchCpu, out: &mut [T], fill: Fill<T>, count: usize) -> Vec<usize> {
    let mut pieces = plan(&g.engine, out.len(), T::WORDS, count);
    let starts = pieces.iter().map(|p| p.start).collect();
    if pieces.len() == 1 {
        let piece = &mut pieces[0];
        Isa::best().dispatch(PieceWork { engine: &mut piece.engine, out, start: 0, fill });
    } else {
        let mut slices = Vec::with_capacity(pieces.len());
        let mut rest = &mut *out;
        for piece in pieces.iter().rev() {
            let (head, tail) = rest.split_at_mut(piece.start);
            slices.push(tail);
            rest = head;
        }
        slices.reverse();
        // The caller draws piece 0 and pool workers the others, as
        // crate::parallel runs every kernel (at most `threads` threads).
        rayon::in_place_scope(|scope| {
            let mut work = pieces.iter_mut().zip(slices);
            let (first, first_slice) = work.next().expect("at least two pieces");
            for (piece, slice) in work {
                scope.spawn(move |_| {
                    Isa::best().dispatch(PieceWork { engine: &mut piece.engine, out: slice, start: piece.start, fill })
                });
            }
            Isa::best().dispatch(PieceWork { engine: &mut first.engine, out: first_slice, start: 0, fill });
        });
    }
    g.engine = pieces.pop().expect("at least one piece").engine;
    starts
}

struct PieceWork<'a, T> {
    engine: &'a mut Mt19937,
    out: &'a mut [T],
    start: usize,
    fill: Fill<T>,
}

impl<T: TorchFloat> WithBackend for PieceWork<'_, T> {
    type Output = ();
    // Inlined into the dispatcher so the fused multiply-adds and the
    // Cephes lanes compile with its target features (else fmaf calls).
    #[inline(always)]
    fn run<B: Backend>(self, _: B) {
        let PieceWork { engine, out, start, fill } = self;
        let per_run = RUN / T::WORDS;
        let (len, mut done) = (out.len(), 0);
        while done < len {
            // Runs end at multiples of `per_run` counted from element 0, so
            // blocks of 16 never straddle two runs of one piece.
            let global = start + done;
            let end = (global / per_run + 1) * per_run - start;
            let run = &mut out[done..end.min(len)];
            units(engine, run);
            match fill {
                Fill::Uniform { width, low } => {
                    for v in run.iter_mut() {
                        *v = v.fused(width, low);
                    }
                }
                Fill::NormalBlocks { mean, std } => {
                    let skip = (16 - global % 16) % 16;
                    if skip < run.len() {
                        let whole = (run.len() - skip) / 16 * 16;
                        T::normal_blocks(&mut run[skip..skip + whole], mean, std);
                    }
                }
            }
            done += run.len();
        }
    }
}

/// `at::normal_distribution<double>` (Box–Muller; the sine value is cached
/// for the next call), then `val * std + mean` fused.
pub fn scalar_normal(g: &mut TorchCpu, mean: f64, std: f64) -> f64 {
    if let Some(cached) = g.next_double_normal.take() {
        return cached.mul_add(std, mean);
    }
    let mut words = [0u32; 4];
    g.engine.fill_u32(&mut words);
    let u1 = f64::unit(&words[..2]);
    let u2 = f64::unit(&words[2..]);
    let r = (-2.0 * (-u2).ln_1p()).sqrt();
    let theta = 2.0 * PI * u1;
    g.next_double_normal = Some(r * theta.sin());
    (r * theta.cos()).mul_add(std, mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cephes_log_and_sincos_are_close_to_libm() {
        for k in 1..2000 {
            let x = k as f32 / 2000.0;
            assert!((cephes::log(x) as f64 - (x as f64).ln()).abs() < 1e-6);
            let t = x * 6.2831855;
            let (s, c) = cephes::sincos(t);
            assert!((s as f64 - (t as f64).sin()).abs() < 1e-6, "sin {t}");
            assert!((c as f64 - (t as f64).cos()).abs() < 1e-6, "cos {t}");
        }
        assert!(cephes::log(0.0).is_nan());
    }

    #[test]
    fn uniform_bounds_and_units() {
        let mut g = TorchCpu::new(0);
        let mut out = vec![0f32; 1000];
        uniform(&mut g, &mut out, -1.0, 2.0, 1).unwrap();
        assert!(out.iter().all(|&v| (-1.0..2.0).contains(&v)));
        assert!(uniform(&mut g, &mut out, 2.0, 1.0, 1).is_err());
    }

    /// `torch.empty(6, dtype=...).uniform_(-1, 2, generator=torch.Generator().manual_seed(0))`,
    /// recorded from torch 2.15.0 (x86-64) as bit patterns. Bounds alone
    /// cannot tell a fill squeezed onto `from` (a zero width) from a right one.
    #[test]
    fn uniform_known_answers_from_torch() {
        let mut out32 = [0f32; 6];
        uniform(&mut TorchCpu::new(0), &mut out32, -1.0, 2.0, 1).unwrap();
        let want32: [u32; 6] = [0x3efa4008, 0x3fa6ff46, 0xbf3c0ca1, 0xbf1a99c0, 0xbd9f31b8, 0x3f66f8f1];
        assert_eq!(out32.map(f32::to_bits), want32);
        let mut out64 = [0f64; 6];
        uniform(&mut TorchCpu::new(0), &mut out64, -1.0, 2.0, 1).unwrap();
        let want64: [u64; 6] = [
            0x3ffe9002e3a6ff46,
            0x3ff1f9b0c432b320,
            0x3fd8339725cdf1e2,
            0x3ffc3225c5583c1a,
            0x3fedec1cdee59c79,
            0x3ff5f9a0139a426b,
        ];
        assert_eq!(out64.map(f64::to_bits), want64);
    }

    /// `torch.empty(5, dtype=torch.float64).normal_(0.25, 1.5, generator=...manual_seed(0))`:
    /// fewer than 16 values take torch's scalar Box–Muller path (torch 2.15.0, bit patterns).
    #[test]
    fn scalar_normal_known_answers_from_torch() {
        let mut out = [0f64; 5];
        normal(&mut TorchCpu::new(0), &mut out, 0.25, 1.5, false, 1).unwrap();
        let want: [u64; 5] = [0x40047df0a6c20eac, 0xbfc8569e19754fbe, 0xc008253db0fa9658, 0x3ff1a47117aea7ca, 0xbff6074e264bd1d1];
        assert_eq!(out.map(f64::to_bits), want);
    }

    /// Every thread count gives the serial loop's values and end state.
    fn pieces_match_serial<T: TorchFloat + PartialEq + std::fmt::Debug>(count: usize) {
        for seed in [0u64, 5] {
            let mut g = TorchCpu::new(seed);
            g.random(); // start mid-block
            let mut serial = vec![T::default(); count];
            let mut g_serial = g.clone();
            normal(&mut g_serial, &mut serial, 0.5, 2.0, true, 1).unwrap();
            assert!(plan(&g.engine, count, T::WORDS, 7).len() >= 3, "the test splits the fill");
            for threads in [2, 3, 7] {
                let mut h = g.clone();
                let mut out = vec![T::default(); count];
                normal_in_pieces(&mut h, &mut out, 0.5, 2.0, true, threads).unwrap();
                assert_eq!(out, serial, "normal, {threads} threads");
                assert_eq!(h, g_serial);
                let (mut a, mut b) = (g.clone(), g.clone());
                let (mut x, mut y) = (vec![T::default(); count], vec![T::default(); count]);
                uniform(&mut a, &mut x, -1.0, 3.0, 1).unwrap();
                uniform_in_pieces(&mut b, &mut y, -1.0, 3.0, threads).unwrap();
                assert_eq!(x, y, "uniform, {threads} threads");
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn parallel_pieces_draw_the_serial_stream() {
        pieces_match_serial::<f32>(PARALLEL_WORDS + 12_345);
        pieces_match_serial::<f64>(PARALLEL_WORDS / 2 + 777);
        pieces_match_serial::<f32>(3 * PARALLEL_WORDS + 16);
    }

    #[test]
    fn three_digits_keeps_three_leading_bits() {
        assert_eq!(three_digits(0b1011_0111), 0b1010_0000);
        assert_eq!(three_digits(5), 5);
    }

    #[test]
    fn scalar_normal_caches_the_second_value() {
        let mut g = TorchCpu::new(3);
        let first = scalar_normal(&mut g, 0.0, 1.0);
        let cached = g.next_double_normal.expect("the sine value is cached");
        assert!(first.is_finite());
        assert_eq!(scalar_normal(&mut g, 1.0, 2.0), cached.mul_add(2.0, 1.0));
        assert!(g.next_double_normal.is_none());
    }
}
