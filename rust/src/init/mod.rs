//! Seeded fills: uniform, normal and truncated normal values of a flat
//! range of a logical tensor, from one Philox stream. The transforms are in
//! `transforms`, the elementary functions they share in `math`.

mod math;
pub mod torch_fill;
mod transforms;

pub use math::{ndtr64, ndtri64};


use crate::conv::Real;
use crate::error::{KernelError, KernelResult};
use crate::rng::{fill_stream, Backend, Isa, Stream, WithBackend};
use transforms::{Constant, NormalF32, NormalF64, TruncNormalF32, TruncNormalF64, UniformF32, UniformF64};

/// A distribution with its parameters, as `torch.nn.init` names them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Values in [low, high).
    Uniform { low: f64, high: f64 },
    Normal { mean: f64, std: f64 },
    /// N(mean, std^2) conditioned on [low, high] (absolute bounds).
    TruncNormal { mean: f64, std: f64, low: f64, high: f64 },
}

fn finite(argument: &'static str, value: f64) -> KernelResult<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(KernelError::invalid(argument, format!("must be finite, got {value}")))
    }
}

fn ordered(low: f64, high: f64) -> KernelResult<()> {
    if low > high {
        return Err(KernelError::invalid("a", format!("the lower bound {low} is greater than the upper bound b = {high}")));
    }
    Ok(())
}

fn non_negative_std(std: f64) -> KernelResult<()> {
    if std < 0.0 {
        return Err(KernelError::invalid("std", format!("must be non-negative, got {std}")));
    }
    Ok(())
}

impl Distribution {
    /// From a name and its parameters in `torch.nn.init` order:
    /// `uniform (a, b)`, `normal (mean, std)`, `trunc_normal (mean, std, a, b)`.
    pub fn from_parts(kind: &str, params: &[f64]) -> KernelResult<Self> {
        let d = match (kind, params) {
            ("uniform", &[low, high]) => Distribution::Uniform { low, high },
            ("normal", &[mean, std]) => Distribution::Normal { mean, std },
            ("trunc_normal", &[mean, std, low, high]) => Distribution::TruncNormal { mean, std, low, high },
            _ => {
                return Err(KernelError::invalid(
                    "distribution",
                    format!("expected uniform (a, b), normal (mean, std) or trunc_normal (mean, std, a, b), got {kind} {params:?}"),
                ))
            }
        };
        d.validate()?;
        Ok(d)
    }

    pub fn validate(&self) -> KernelResult<()> {
        match *self {
            Distribution::Uniform { low, high } => {
                finite("a", low)?;
                finite("b", high)?;
                ordered(low, high)?;
                finite("b - a", high - low)
            }
            Distribution::Normal { mean, std } => {
                finite("mean", mean)?;
                finite("std", std)?;
                non_negative_std(std)
            }
            Distribution::TruncNormal { mean, std, low, high } => {
                finite("mean", mean)?;
                finite("std", std)?;
                non_negative_std(std)?;
                finite("a", low)?;
                finite("b", high)?;
                ordered(low, high)
            }
        }
    }
}

/// The truncated normal in standard units, mirrored when the interval lies
/// mostly above the mean so that p = Phi(.) stays small and precise.
struct TruncParams {
    p_low: f64,
    /// 1 - p_low, computed as Phi(-alpha) so it keeps its precision.
    q_low: f64,
    p_width: f64,
    scale: f64,
}

impl TruncParams {
    fn new(mean: f64, std: f64, low: f64, high: f64) -> Self {
        let (alpha, beta) = ((low - mean) / std, (high - mean) / std);
        let mirrored = alpha + beta > 0.0;
        let (alpha, beta) = if mirrored { (-beta, -alpha) } else { (alpha, beta) };
        let (p_low, p_high) = (ndtr64(alpha), ndtr64(beta));
        let width = if p_high > 0.5 { ndtr64(-alpha) - ndtr64(-beta) } else { p_high - p_low };
        TruncParams { p_low, q_low: ndtr64(-alpha), p_width: width, scale: if mirrored { -std } else { std } }
    }

    /// The f32 quantile is accurate while min(p, q) >= 1e-8 (|z| <= 5.6),
    /// the range of Giles' single-precision fit; the uniform's cells stop
    /// p_width / 2^24 short of either end.
    fn fits_f32(&self) -> bool {
        self.min_p() >= 1e-8
    }

    /// The smallest p or 1 - p the f32 transform's uniform reaches.
    fn min_p(&self) -> f64 {
        let margin = self.p_width / 16_777_216.0;
        (self.p_low + margin).min((self.q_low - self.p_width) + margin)
    }

    /// Past ~37 standard deviations the interval's probability underflows
    /// f64 and inversion has nothing to work with.
    fn check_representable(&self) -> KernelResult<()> {
        if self.p_low + self.p_width < 1e-300 {
            return Err(KernelError::invalid(
                "a",
                "the interval [a, b] lies too far in the tail of N(mean, std^2) (beyond ~37 std) to sample",
            ));
        }
        Ok(())
    }

    fn wide<T>(&self, mean: f64, lo: f64, hi: f64, cast: fn(f64) -> T) -> TruncNormalF64<T> {
        TruncNormalF64 { p_low: self.p_low, q_low: self.q_low, p_width: self.p_width, scale: self.scale, mean, lo, hi, cast }
    }
}

/// The smallest f32 >= x and the largest f32 <= x.
fn f32_at_least(x: f64) -> f32 {
    let r = x as f32;
    if f64::from(r) < x { r.next_up() } else { r }
}

fn f32_at_most(x: f64) -> f32 {
    let r = x as f32;
    if f64::from(r) > x { r.next_down() } else { r }
}

/// The element types a fill can produce.
pub trait Sample: Real {
    fn fill_stream_of(d: &Distribution, s: Stream, start: u64, out: &mut [Self], isa: Isa, threads: usize) -> KernelResult<()>;
}

impl Sample for f32 {
    fn fill_stream_of(d: &Distribution, s: Stream, start: u64, out: &mut [f32], isa: Isa, threads: usize) -> KernelResult<()> {
        match *d {
            Distribution::Uniform { low, high } => {
                let low32 = f32_at_least(low);
                let below_high = if low < high { f32_at_most(high.next_down()) } else { low32 };
                let x = UniformF32 { low: low32, scale: (high - low) as f32, top: below_high.max(low32) };
                fill_stream(&x, s, start, out, isa, threads)
            }
            Distribution::Normal { mean, std } => {
                fill_stream(&NormalF32 { mean: mean as f32, std: std as f32 }, s, start, out, isa, threads)
            }
            Distribution::TruncNormal { mean, std, low, high } => {
                let (lo, hi) = (f32_at_least(low), f32_at_most(high).max(f32_at_least(low)));
                if std == 0.0 || low == high {
                    let c = (mean as f32).max(lo).min(hi);
                    return fill_stream(&Constant(c), s, start, out, isa, threads);
                }
                let t = TruncParams::new(mean, std, low, high);
                t.check_representable()?;
                if !t.fits_f32() {
                    let x = t.wide(mean, f64::from(lo), f64::from(hi), |v| v as f32);
                    return fill_stream(&x, s, start, out, isa, threads);
                }
                let x = TruncNormalF32 {
                    tails: t.min_p() < math::CENTRAL_P,
                    p_low: t.p_low as f32,
                    q_low: t.q_low as f32,
                    p_width: t.p_width as f32,
                    scale: t.scale as f32,
                    mean: mean as f32,
                    lo,
                    hi,
                };
                fill_stream(&x, s, start, out, isa, threads)
            }
        }
    }
}

impl Sample for f64 {
    fn fill_stream_of(d: &Distribution, s: Stream, start: u64, out: &mut [f64], isa: Isa, threads: usize) -> KernelResult<()> {
        match *d {
            Distribution::Uniform { low, high } => {
                let top = if low < high { high.next_down().max(low) } else { low };
                fill_stream(&UniformF64 { low, scale: high - low, top }, s, start, out, isa, threads)
            }
            Distribution::Normal { mean, std } => fill_stream(&NormalF64 { mean, std }, s, start, out, isa, threads),
            Distribution::TruncNormal { mean, std, low, high } => {
                if std == 0.0 || low == high {
                    return fill_stream(&Constant(mean.max(low).min(high)), s, start, out, isa, threads);
                }
                let t = TruncParams::new(mean, std, low, high);
                t.check_representable()?;
                let x = t.wide(mean, low, high, |v| v);
                fill_stream(&x, s, start, out, isa, threads)
            }
        }
    }
}

/// Values `start .. start + out.len()` (C-order indices of the logical
/// tensor) of distribution `d` drawn from stream `stream` of seed `seed`.
pub fn fill<T: Sample>(d: &Distribution, seed: u64, stream: u64, start: u64, out: &mut [T], threads: usize) -> KernelResult<()> {
    fill_on(Isa::best(), d, seed, stream, start, out, threads)
}

/// `fill` on a chosen instruction set (every one gives the same bits).
pub fn fill_on<T: Sample>(isa: Isa, d: &Distribution, seed: u64, stream: u64, start: u64, out: &mut [T], threads: usize) -> KernelResult<()> {
    d.validate()?;
    if start.checked_add(out.len() as u64).is_none() {
        return Err(KernelError::invalid("flat_range", "the range ends past 2**64"));
    }
    T::fill_stream_of(d, Stream::new(seed, stream), start, out, isa, threads)
}

struct NdtriMap<'a> {
    p: &'a [f32],
    out: &'a mut [f32],
}

impl WithBackend for NdtriMap<'_> {
    type Output = ();
    #[inline(always)]
    fn run<B: Backend>(self, b: B) {
        let bits: Vec<u32> = self.p.iter().map(|p| p.to_bits()).collect();
        let complements: Vec<u32> = self.p.iter().map(|&p| ((1.0 - f64::from(p)) as f32).to_bits()).collect();
        let whole = bits.len() / B::WIDTH * B::WIDTH;
        for i in (0..whole).step_by(B::WIDTH) {
            let p = b.float_of_bits(b.load_u(&bits, i));
            b.store_f(self.out, i, math::ndtri(b, p, b.float_of_bits(b.load_u(&complements, i)), true));
        }
        for ((out, &p), &q) in self.out[whole..].iter_mut().zip(&self.p[whole..]).zip(&complements[whole..]) {
            *out = math::ndtri(crate::rng::Scalar, p, f32::from_bits(q), true);
        }
    }
}

/// The f32 normal quantile the truncated-normal fills use, elementwise
/// (exposed so tests can measure its error against a reference).
pub fn apply_ndtri(isa: Isa, p: &[f32], out: &mut [f32]) {
    assert_eq!(p.len(), out.len(), "apply_ndtri: lengths differ");
    isa.dispatch(NdtriMap { p, out })
}

#[cfg(test)]
mod tests;
