//! PyTorch's CPU `uniform_` and `normal_`, bit for bit, drawn from a
//! [`TorchCpu`] generator. The values are those of the x86-64 builds of
//! torch with AVX2/AVX-512 kernels: there `uniform_real`'s `x * (to - from)
//! + from` and `val * std + mean` are compiled to fused multiply-adds, and
//! the contiguous float32 `normal_` runs the AVX2 kernel built on Cephes'
//! log and sincos polynomials (`avx_mathfun.h`, whose mul/add pairs are
//! fused the same way). Every operation below mirrors one of those.
//!
//! `out` is the target in torch's iteration order; callers arrange
//! non-contiguous targets (the iteration order is TensorIterator's).

use crate::error::{KernelError, KernelResult};
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
mod cephes {
    // The C source writes these as double literals stored into floats.
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
        for (c, s) in cos_half.iter_mut().zip(sin_half.iter_mut()) {
            let radius = (-2.0 * log(1.0 - *c)).sqrt();
            let (sin, cos) = sincos(TWO_PI * *s);
            *c = (radius * cos).mul_add(std, mean);
            *s = (radius * sin).mul_add(std, mean);
        }
    }
}

/// Writes `out.len()` uniform values in [0, 1) drawn as torch's loops draw them.
fn units<T: TorchFloat>(g: &mut TorchCpu, out: &mut [T]) {
    let mut words = [0u32; RUN];
    for chunk in out.chunks_mut(RUN / T::WORDS) {
        let raw = &mut words[..chunk.len() * T::WORDS];
        g.engine.fill_u32(raw);
        for (o, w) in chunk.iter_mut().zip(raw.chunks_exact(T::WORDS)) {
            *o = T::unit(w);
        }
    }
}

/// `Tensor.uniform_(from, to)`: `from`/`to` rounded to T, then
/// fma(unit, to - from, from) per element.
pub fn uniform<T: TorchFloat>(g: &mut TorchCpu, out: &mut [T], from: f64, to: f64) -> KernelResult<()> {
    if from.is_nan() || to.is_nan() || from > to {
        return Err(KernelError::invalid("a", format!("uniform_ expects to return a [from, to) range, but found from={from} > to={to}")));
    }
    let (low, high) = (T::from_f64(from), T::from_f64(to));
    let width = T::from_f64(high.to_f64() - low.to_f64());
    if !width.to_f64().is_finite() {
        return Err(KernelError::invalid("b", format!("uniform_ expects to - from to be finite in the tensor's dtype, got from={from}, to={to}")));
    }
    Isa::best().dispatch(UniformWork { g, out, width, low });
    Ok(())
}

struct UniformWork<'a, T> {
    g: &'a mut TorchCpu,
    out: &'a mut [T],
    width: T,
    low: T,
}

impl<T: TorchFloat> WithBackend for UniformWork<'_, T> {
    type Output = ();
    fn run<B: Backend>(self, _: B) {
        units(self.g, self.out);
        for v in self.out.iter_mut() {
            *v = v.fused(self.width, self.low);
        }
    }
}

/// `Tensor.normal_(mean, std)`. `vectorized` selects torch's path for a
/// contiguous tensor of at least 16 elements (all uniforms first, then
/// Box–Muller on blocks of 16, the last block re-drawn when 16 does not
/// divide the size); otherwise the scalar path, one Box–Muller pair per two
/// elements with the second value cached in the generator.
pub fn normal<T: TorchFloat>(g: &mut TorchCpu, out: &mut [T], mean: f64, std: f64, vectorized: bool) -> KernelResult<()> {
    if std.is_nan() || std < 0.0 {
        return Err(KernelError::invalid("std", format!("normal expects std >= 0.0, but found std {std}")));
    }
    if vectorized && out.len() >= 16 {
        Isa::best().dispatch(NormalFillWork { g, out, mean: T::from_f64(mean), std: T::from_f64(std) });
    } else {
        for v in out.iter_mut() {
            *v = T::from_f64(scalar_normal(g, mean, std));
        }
    }
    Ok(())
}

struct NormalFillWork<'a, T> {
    g: &'a mut TorchCpu,
    out: &'a mut [T],
    mean: T,
    std: T,
}

impl<T: TorchFloat> WithBackend for NormalFillWork<'_, T> {
    type Output = ();
    fn run<B: Backend>(self, _: B) {
        let NormalFillWork { g, out, mean, std } = self;
        // All uniforms are drawn before any is transformed, and the
        // transform draws nothing: so each run can be transformed while it
        // is in cache (runs are whole blocks of 16).
        for run in out.chunks_mut(RUN / T::WORDS) {
            units(g, run);
            for block in run.chunks_exact_mut(16) {
                T::normal16(block, mean, std);
            }
        }
        if out.len() % 16 != 0 {
            let last = out.len() - 16;
            units(g, &mut out[last..]);
            T::normal16(&mut out[last..], mean, std);
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
        uniform(&mut g, &mut out, -1.0, 2.0).unwrap();
        assert!(out.iter().all(|&v| (-1.0..2.0).contains(&v)));
        assert!(uniform(&mut g, &mut out, 2.0, 1.0).is_err());
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
