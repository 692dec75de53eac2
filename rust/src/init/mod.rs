//! Seeded fills: uniform, normal and truncated normal values of a flat
//! range of a logical tensor, from one Philox stream. The transforms are in
//! `transforms`, the elementary functions they share in `math`.

mod half;
mod math;
mod region;
pub mod torch_fill;
mod transforms;

pub use half::Half;
pub use math::{ndtr64, ndtri64};
pub use region::Block;


use crate::conv::Real;
use crate::error::{KernelError, KernelResult};
use crate::rng::{fill_rows, Backend, Isa, Stream, Transform, WithBackend};
use half::Rounded;
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

/// Code to run with the transform of a distribution for one output type.
pub trait WithTransform<O> {
    fn with<X: Transform<Out = O>>(self, x: &X) -> KernelResult<()>;
}

/// The element types a fill can produce.
pub trait Sample: Real {
    /// Runs `w` with the transform giving `d`'s values of this type.
    fn with_transform<W: WithTransform<Self>>(d: &Distribution, w: W) -> KernelResult<()>;
}

impl Sample for f32 {
    fn with_transform<W: WithTransform<f32>>(d: &Distribution, w: W) -> KernelResult<()> {
        match *d {
            Distribution::Uniform { low, high } => {
                let low32 = f32_at_least(low);
                let below_high = if low < high { f32_at_most(high.next_down()) } else { low32 };
                w.with(&UniformF32 { low: low32, scale: (high - low) as f32, top: below_high.max(low32) })
            }
            Distribution::Normal { mean, std } => w.with(&NormalF32 { mean: mean as f32, std: std as f32 }),
            Distribution::TruncNormal { mean, std, low, high } => {
                let (lo, hi) = (f32_at_least(low), f32_at_most(high).max(f32_at_least(low)));
                if std == 0.0 || low == high {
                    return w.with(&Constant((mean as f32).max(lo).min(hi)));
                }
                let t = TruncParams::new(mean, std, low, high);
                t.check_representable()?;
                if !t.fits_f32() {
                    return w.with(&t.wide(mean, f64::from(lo), f64::from(hi), |v| v as f32));
                }
                w.with(&TruncNormalF32 {
                    tails: t.min_p() < math::CENTRAL_P,
                    p_low: t.p_low as f32,
                    q_low: t.q_low as f32,
                    p_width: t.p_width as f32,
                    scale: t.scale as f32,
                    mean: mean as f32,
                    lo,
                    hi,
                })
            }
        }
    }
}

impl Sample for f64 {
    fn with_transform<W: WithTransform<f64>>(d: &Distribution, w: W) -> KernelResult<()> {
        match *d {
            Distribution::Uniform { low, high } => {
                let top = if low < high { high.next_down().max(low) } else { low };
                w.with(&UniformF64 { low, scale: high - low, top })
            }
            Distribution::Normal { mean, std } => w.with(&NormalF64 { mean, std }),
            Distribution::TruncNormal { mean, std, low, high } => {
                if std == 0.0 || low == high {
                    return w.with(&Constant(mean.max(low).min(high)));
                }
                let t = TruncParams::new(mean, std, low, high);
                t.check_representable()?;
                w.with(&t.wide(mean, low, high, |v| v))
            }
        }
    }
}

/// Where a fill writes: the rows of `block` of stream `s`, into `out`.
struct ToBlock<'a, O> {
    s: Stream,
    block: &'a Block,
    out: &'a mut [O],
    isa: Isa,
    threads: usize,
}

impl<O> WithTransform<O> for ToBlock<'_, O> {
    fn with<X: Transform<Out = O>>(self, x: &X) -> KernelResult<()> {
        fill_rows(x, self.s, self.block, self.block.row_len(), self.out, self.isa, self.threads)
    }
}

/// A float32 fill rounded to a 16-bit format on its way into `to`.
struct ToHalf<'a> {
    format: Half,
    bounds: Option<(f32, f32)>,
    to: ToBlock<'a, u16>,
}

impl WithTransform<f32> for ToHalf<'_> {
    fn with<X: Transform<Out = f32>>(self, x: &X) -> KernelResult<()> {
        self.to.with(&Rounded { inner: x, format: self.format, bounds: self.bounds })
    }
}

fn check_block(d: &Distribution, block: &Block, len: usize) -> KernelResult<()> {
    d.validate()?;
    if len != block.len() {
        return Err(KernelError::invalid("tensor", format!("holds {len} elements, the region {}", block.len())));
    }
    Ok(())
}

/// Values `start .. start + out.len()` (C-order indices of the logical
/// tensor) of distribution `d` drawn from stream `stream` of seed `seed`.
pub fn fill<T: Sample>(d: &Distribution, seed: u64, stream: u64, start: u64, out: &mut [T], threads: usize) -> KernelResult<()> {
    fill_on(Isa::best(), d, seed, stream, start, out, threads)
}

/// `fill` on a chosen instruction set (every one gives the same bits).
pub fn fill_on<T: Sample>(isa: Isa, d: &Distribution, seed: u64, stream: u64, start: u64, out: &mut [T], threads: usize) -> KernelResult<()> {
    if start.checked_add(out.len() as u64).is_none() {
        d.validate()?;
        return Err(KernelError::invalid("flat_range", "the range ends past 2**64"));
    }
    fill_block_on(isa, d, seed, stream, &Block::flat(start, out.len()), out, threads)
}

/// The values of `block` (row-major) of the fill of the whole tensor: each
/// row is one range of the stream, written straight into `out`.
pub fn fill_block<T: Sample>(d: &Distribution, seed: u64, stream: u64, block: &Block, out: &mut [T], threads: usize) -> KernelResult<()> {
    fill_block_on(Isa::best(), d, seed, stream, block, out, threads)
}

pub fn fill_block_on<T: Sample>(
    isa: Isa,
    d: &Distribution,
    seed: u64,
    stream: u64,
    block: &Block,
    out: &mut [T],
    threads: usize,
) -> KernelResult<()> {
    check_block(d, block, out.len())?;
    T::with_transform(d, ToBlock { s: Stream::new(seed, stream), block, out, isa, threads })
}

/// `fill_block` in a 16-bit format: each value is the float32 fill's value
/// rounded to nearest even; a truncated normal is first clamped to the
/// format's values inside [a, b].
#[allow(clippy::too_many_arguments)]
pub fn fill_block_half(
    isa: Isa,
    d: &Distribution,
    seed: u64,
    stream: u64,
    block: &Block,
    format: Half,
    out: &mut [u16],
    threads: usize,
) -> KernelResult<()> {
    check_block(d, block, out.len())?;
    let bounds = match *d {
        Distribution::TruncNormal { low, high, .. } => Some(half::bounds(format, f32_at_least(low), f32_at_most(high))?),
        _ => None,
    };
    let to = ToBlock { s: Stream::new(seed, stream), block, out, isa, threads };
    f32::with_transform(d, ToHalf { format, bounds, to })
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
