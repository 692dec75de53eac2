//! 16-bit outputs: bfloat16 and IEEE binary16, each value the float32
//! value of the same index rounded to nearest, ties to even.

use crate::error::{KernelError, KernelResult};
use crate::rng::{Backend, Transform, BATCH_WORDS};

/// A 16-bit float format, stored as its bit pattern in a `u16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    BFloat16,
    Float16,
}

impl Half {
    pub fn from_name(name: &str) -> Option<Half> {
        match name {
            "bfloat16" => Some(Half::BFloat16),
            "float16" => Some(Half::Float16),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Half::BFloat16 => "bfloat16",
            Half::Float16 => "float16",
        }
    }

    /// `x` rounded to nearest even (NaN stays NaN, overflow gives infinity).
    #[inline(always)]
    pub fn round(self, x: f32) -> u16 {
        match self {
            Half::BFloat16 => bf16_of(x),
            Half::Float16 => f16_of(x),
        }
    }

    /// The exact float32 value of a bit pattern.
    pub fn value(self, h: u16) -> f32 {
        match self {
            Half::BFloat16 => f32::from_bits(u32::from(h) << 16),
            Half::Float16 => f32_of_f16(h),
        }
    }

    /// The next representable value above `h` (`h` finite).
    fn next_up(self, h: u16) -> u16 {
        match h {
            0x8000 | 0x0000 => 0x0001,
            _ if h & 0x8000 != 0 => h - 1,
            _ => h + 1,
        }
    }

    fn next_down(self, h: u16) -> u16 {
        match h {
            0x8000 | 0x0000 => 0x8001,
            _ if h & 0x8000 != 0 => h + 1,
            _ => h - 1,
        }
    }

    /// The smallest value of the format >= `x` (as f32), `x` finite.
    pub fn at_least(self, x: f32) -> f32 {
        let h = self.round(x);
        self.value(if self.value(h) < x { self.next_up(h) } else { h })
    }

    /// The largest value of the format <= `x` (as f32), `x` finite.
    pub fn at_most(self, x: f32) -> f32 {
        let h = self.round(x);
        self.value(if self.value(h) > x { self.next_down(h) } else { h })
    }
}

#[inline(always)]
fn bf16_of(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16; // quiet, sign kept
    }
    // Adding 0x7fff plus the lowest kept bit rounds half to even.
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

#[inline(always)]
fn f16_of(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let magnitude = bits & 0x7fff_ffff;
    if magnitude > 0x7f80_0000 {
        return sign | 0x7e00;
    }
    if magnitude >= 0x477f_f000 {
        return sign | 0x7c00; // 65520 and above round to infinity
    }
    if magnitude < 0x3880_0000 {
        // Below 2^-14, the subnormals: multiples of 2^-24 (scaling by 2^24 is exact).
        return sign | (f32::from_bits(magnitude) * 16_777_216.0).round_ties_even() as u16;
    }
    // Rebias the exponent (127 -> 15), then drop 13 mantissa bits, half to even;
    // a carry out of the mantissa correctly bumps the exponent.
    let rebiased = magnitude - (112 << 23);
    sign | ((rebiased + 0xfff + ((rebiased >> 13) & 1)) >> 13) as u16
}

fn f32_of_f16(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let (exponent, mantissa) = (u32::from(h >> 10) & 0x1f, u32::from(h) & 0x3ff);
    let magnitude = match exponent {
        0 => mantissa as f32 / 16_777_216.0,
        31 if mantissa == 0 => f32::INFINITY,
        31 => f32::NAN,
        _ => f32::from_bits(((exponent + 112) << 23) | (mantissa << 13)),
    };
    sign * magnitude
}

/// The values of a float32 transform rounded to `format`, first clamped to
/// `bounds` = [lo, hi] when given (values of the format, so that a truncated
/// normal stays inside its bounds after rounding).
pub struct Rounded<'a, X> {
    pub inner: &'a X,
    pub format: Half,
    pub bounds: Option<(f32, f32)>,
}

impl<X> Rounded<'_, X> {
    #[inline(always)]
    fn round_into(&self, values: &[f32], out: &mut [u16]) {
        match self.bounds {
            Some((lo, hi)) => out.iter_mut().zip(values).for_each(|(h, &v)| *h = self.format.round(v.max(lo).min(hi))),
            None => out.iter_mut().zip(values).for_each(|(h, &v)| *h = self.format.round(v)),
        }
    }
}

impl<X: Transform<Out = f32>> Transform for Rounded<'_, X> {
    type Out = u16;
    const VALUES_PER_BATCH: usize = X::VALUES_PER_BATCH;
    #[inline(always)]
    fn batch<B: Backend>(&self, b: B, words: &B::Words, out: &mut [u16]) {
        let mut values = [0f32; 2 * BATCH_WORDS];
        let values = &mut values[..X::VALUES_PER_BATCH];
        self.inner.batch(b, words, values);
        self.round_into(values, out);
    }

    #[inline(always)]
    fn batch_part<B: Backend>(&self, b: B, words: &B::Words, skip: usize, out: &mut [u16], _: &mut [u16]) {
        let (mut values, mut scratch) = ([0f32; 2 * BATCH_WORDS], [0f32; 2 * BATCH_WORDS]);
        let values = &mut values[..out.len()];
        self.inner.batch_part(b, words, skip, values, &mut scratch);
        self.round_into(values, out);
    }

    #[inline(always)]
    fn word_groups(skip: usize, len: usize) -> std::ops::Range<usize> {
        X::word_groups(skip, len)
    }
}

/// [lo, hi] for a truncated normal on [low, high]: the extreme values of
/// the format inside it, or an error if it holds none.
pub fn bounds(format: Half, low: f32, high: f32) -> KernelResult<(f32, f32)> {
    let (lo, hi) = (format.at_least(low), format.at_most(high));
    if lo > hi {
        return Err(KernelError::invalid(
            "a",
            format!("no {} value lies in [a, b] = [{low}, {high}]", format.name()),
        ));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round to nearest even by the definition, in f64: the two neighbours
    /// of `x` among all finite values of the format, searched exhaustively.
    fn nearest_even(format: Half, x: f32) -> u16 {
        let negative = x.is_sign_negative();
        let x = f64::from(x);
        let mut best: Option<(f64, u16)> = None;
        for h in 0..=u16::MAX {
            let v = f64::from(format.value(h));
            if !v.is_finite() || (v == 0.0 && (h == 0x8000) != negative) {
                continue;
            }
            let d = (v - x).abs();
            let better = match best {
                None => true,
                Some((bd, bh)) => d < bd || (d == bd && h & 1 == 0 && bh & 1 == 1),
            };
            if better {
                best = Some((d, h));
            }
        }
        best.unwrap().1
    }

    #[test]
    fn rounding_matches_the_definition() {
        let mut xs = vec![0.0f32, -0.0, 1.0, -1.0, 1.0 / 3.0, 65504.0, 65519.0, 6.0e-8, 2.9e-8, 3.0e-8, 1.0e-5, -7.5e-6];
        let mut state = 0x1234_5678_u32;
        for _ in 0..300 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let e = (state >> 24) as i32 % 40 - 26;
            xs.push((state as f32 / u32::MAX as f32 - 0.5) * 2f32.powi(e));
        }
        for format in [Half::BFloat16, Half::Float16] {
            for &x in &xs {
                if format == Half::Float16 && x.abs() >= 65520.0 {
                    continue;
                }
                assert_eq!(format.round(x), nearest_even(format, x), "{format:?} {x:e}");
            }
        }
        assert_eq!(Half::Float16.round(65520.0), 0x7c00);
        assert_eq!(Half::BFloat16.round(f32::MAX), 0x7f80);
    }

    #[test]
    fn bounds_are_the_inner_values_of_the_format() {
        let (lo, hi) = bounds(Half::BFloat16, -0.1, 0.1).unwrap();
        assert!(lo >= -0.1 && hi <= 0.1);
        assert_eq!(Half::BFloat16.value(Half::BFloat16.round(lo)), lo);
        assert!(Half::BFloat16.value(Half::BFloat16.next_down(Half::BFloat16.round(lo))) < -0.1);
        assert!(bounds(Half::BFloat16, 0.1001, 0.1002).is_err());
        assert_eq!(bounds(Half::Float16, -2.0, 2.0).unwrap(), (-2.0, 2.0));
    }
}
