//! Elementary functions for the fill transforms. The f32 versions are
//! written once against `Backend`, so the scalar, AVX2 and AVX-512 paths
//! execute the same IEEE operations and agree bit for bit; the f64 versions
//! are scalar (libm, the pure-Rust port of musl, gives the same bits on
//! every machine).

#![allow(clippy::excessive_precision)] // coefficients as published (Cephes, Giles)

use crate::rng::Backend;

const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Horner's rule with fused multiply-adds, highest coefficient first.
#[inline(always)]
fn horner<B: Backend>(b: B, x: B::F, coefficients: &[f32]) -> B::F {
    let mut p = b.splat(coefficients[0]);
    for &c in &coefficients[1..] {
        p = b.fma(p, x, b.splat(c));
    }
    p
}

/// Natural logarithm of a positive normal float (Cephes `logf`: x = m 2^e
/// with m in [sqrt(1/2), sqrt(2)), ln(1 + f) by a degree-9 polynomial).
#[inline(always)]
pub fn ln<B: Backend>(b: B, x: B::F) -> B::F {
    let bits = b.to_bits(x);
    // x = m * 2^e with m in [0.5, 1).
    let e = b.sub_u(b.shr_u(bits, 23), b.splat_u(126));
    let m = b.float_of_bits(b.or_u(b.and_u(bits, b.splat_u(0x007f_ffff)), b.splat_u(0x3f00_0000)));
    let (one, zero) = (b.splat(1.0), b.splat(0.0));
    let small = b.lt(m, b.splat(SQRT_HALF));
    let f = b.select(small, b.sub(b.add(m, m), one), b.sub(m, one));
    let e = b.sub(b.i32_to_f(e), b.select(small, one, zero));
    let z = b.mul(f, f);
    let poly = horner(
        b,
        f,
        &[
            7.037_683_6e-2,
            -1.151_461_03e-1,
            1.167_699_87e-1,
            -1.242_014_08e-1,
            1.424_932_28e-1,
            -1.666_805_77e-1,
            2.000_071_48e-1,
            -2.499_999_4e-1,
            3.333_333_1e-1,
        ],
    );
    let mut y = b.mul(b.mul(poly, f), z);
    y = b.fma(e, b.splat(-2.121_944_4e-4), y);
    y = b.fma(z, b.splat(-0.5), y);
    b.fma(e, b.splat(0.693_359_375), b.add(f, y))
}

/// (sin, cos) of the angle 2*pi*w/2^32 of a 32-bit word. The nearest
/// quarter turn comes from the top bits exactly, the remainder (within
/// pi/4) goes through Cephes' `sinf`/`cosf` polynomials; the quarter turn
/// then swaps and negates.
#[inline(always)]
pub fn sincos_turn<B: Backend>(b: B, w: B::U) -> (B::F, B::F) {
    let quarter = b.shr_u(b.add_u(w, b.splat_u(1 << 29)), 30);
    let rest = b.sub_u(w, b.shl_u(quarter, 30)); // an i32 in [-2^29, 2^29)
    let x = b.mul(b.i32_to_f(rest), b.splat(std::f32::consts::TAU / 4_294_967_296.0));
    let z = b.mul(x, x);
    let ps = horner(b, z, &[-1.951_529_6e-4, 8.332_161e-3, -1.666_665_5e-1]);
    let sin = b.fma(b.mul(ps, z), x, x);
    let pc = horner(b, z, &[2.443_315_7e-5, -1.388_731_6e-3, 4.166_664_6e-2]);
    let cos = b.fma(b.mul(z, z), pc, b.fma(z, b.splat(-0.5), b.splat(1.0)));
    // Odd quarter turns swap sin and cos; sin flips sign in quarters 2, 3, cos in 1, 2.
    let swap = b.sign_set(b.shl_u(quarter, 31));
    let (s, c) = (b.select(swap, cos, sin), b.select(swap, sin, cos));
    let two = b.splat_u(2);
    let s_sign = b.shl_u(b.and_u(quarter, two), 30);
    let c_sign = b.shl_u(b.and_u(b.add_u(quarter, b.splat_u(1)), two), 30);
    (b.float_of_bits(b.xor_u(b.to_bits(s), s_sign)), b.float_of_bits(b.xor_u(b.to_bits(c), c_sign)))
}

/// erfinv(x) given w = -ln(1 - x^2) (computed by the caller without
/// cancellation), by M. Giles, "Approximating the erfinv function" (GPU
/// Computing Gems, 2011), single-precision coefficients. `tails: false`
/// promises w < 5 in every lane (the central branch), which skips the test.
#[inline(always)]
pub fn erfinv<B: Backend>(b: B, x: B::F, w: B::F, tails: bool) -> B::F {
    const CENTRAL: [f32; 9] = [
        2.810_226_4e-8,
        3.432_739_4e-7,
        -3.523_387_7e-6,
        -4.391_506_5e-6,
        2.185_808_7e-4,
        -1.253_725e-3,
        -4.177_681_6e-3,
        2.466_407_3e-1,
        1.501_409_4,
    ];
    const TAIL: [f32; 9] = [
        -2.002_142_6e-4,
        1.009_505_6e-4,
        1.349_343_2e-3,
        -3.673_428_4e-3,
        5.739_507_7e-3,
        -7.622_461_3e-3,
        9.438_870_5e-3,
        1.001_674_1,
        2.832_976_8,
    ];
    let central = b.lt(w, b.splat(5.0));
    let pc = horner(b, b.sub(w, b.splat(2.5)), &CENTRAL);
    let p = if !tails || b.all(central) {
        pc
    } else {
        let pt = horner(b, b.sub(b.sqrt(w), b.splat(3.0)), &TAIL);
        b.select(central, pc, pt)
    };
    b.mul(p, x)
}

/// The standard normal quantile of p in f32 arithmetic, given q = 1 - p
/// separately (so both tails keep their precision): sqrt(2) erfinv(x) with
/// x = 2p - 1 = p - q and 1 - x^2 = 4pq.
#[inline(always)]
pub fn ndtri<B: Backend>(b: B, p: B::F, q: B::F, tails: bool) -> B::F {
    let w = b.mul(ln(b, b.mul(b.mul(p, q), b.splat(4.0))), b.splat(-1.0));
    b.mul(erfinv(b, b.sub(p, q), w, tails), b.splat(std::f32::consts::SQRT_2))
}

/// min(p, 1 - p) above which w = -ln(4p(1 - p)) < 4.94 < 5: no tail branch.
pub const CENTRAL_P: f64 = 0.0018;

// Inlined so that, inside the SIMD kernels, `mul_add` compiles to an FMA
// instruction instead of a libm call (the bits are the same either way).
#[inline(always)]
fn horner64(x: f64, coefficients: &[f64]) -> f64 {
    coefficients[1..].iter().fold(coefficients[0], |p, &c| p.mul_add(x, c))
}

/// erfinv(x) given w = -ln(1 - x^2): Giles' double-precision version
/// (three regions, same paper as `erfinv`).
#[inline(always)]
pub fn erfinv64(x: f64, w: f64) -> f64 {
    const CENTRAL: [f64; 23] = [
        -3.644_412_064_017_819_7e-21,
        -1.685_059_138_182_016_6e-19,
        1.285_848_071_525_640_1e-18,
        1.115_787_767_802_518_1e-17,
        -1.333_171_662_854_620_9e-16,
        2.097_276_787_596_856_2e-17,
        6.637_638_134_358_323_8e-15,
        -4.054_566_272_975_206_9e-14,
        -8.151_934_197_605_472_2e-14,
        2.633_509_315_308_232_3e-12,
        -1.297_513_325_345_353_2e-11,
        -5.415_412_054_294_628e-11,
        1.051_212_273_321_532_3e-9,
        -4.112_633_980_346_983_7e-9,
        -2.907_036_995_788_200_5e-8,
        4.234_787_782_793_240_4e-7,
        -1.365_469_200_083_467_9e-6,
        -1.388_252_336_278_646_9e-5,
        1.867_342_080_340_571_4e-4,
        -7.407_025_341_662_669_8e-4,
        -6.033_670_871_430_149e-3,
        2.401_581_824_255_896_2e-1,
        1.653_654_562_683_102_7,
    ];
    const MIDDLE: [f64; 19] = [
        2.213_737_692_177_578_7e-9,
        9.075_656_193_888_539e-8,
        -2.751_740_629_706_454_5e-7,
        1.823_962_921_438_922_8e-8,
        1.502_740_396_890_982_8e-6,
        -4.013_867_526_981_546e-6,
        2.923_444_908_995_544_6e-6,
        1.247_530_448_167_177_9e-5,
        -4.731_822_900_905_573_4e-5,
        6.828_485_145_957_317_5e-5,
        2.403_111_038_709_789_4e-5,
        -3.550_375_203_628_474_8e-4,
        9.532_893_797_373_805e-4,
        -1.688_275_556_023_504_7e-3,
        2.491_442_096_107_850_8e-3,
        -3.751_208_507_569_241_2e-3,
        5.370_914_553_590_063_6e-3,
        1.005_258_967_694_159_2,
        3.083_885_610_492_220_8,
    ];
    const TAIL: [f64; 17] = [
        -2.710_992_061_643_857_3e-11,
        -2.555_641_816_996_525_2e-10,
        1.507_657_269_350_054_8e-9,
        -3.789_465_440_126_737e-9,
        7.615_701_208_078_339e-9,
        -1.496_002_662_714_924e-8,
        2.914_795_345_090_108e-8,
        -6.771_199_775_845_234e-8,
        2.290_048_222_802_665_5e-7,
        -9.929_827_294_231_7e-7,
        4.526_062_597_223_154e-6,
        -1.968_177_810_553_167e-5,
        7.599_527_703_001_776e-5,
        -2.150_301_193_004_447_7e-4,
        -1.387_193_183_362_312_2e-4,
        1.010_300_464_864_534_4,
        4.849_906_401_408_584,
    ];
    let p = if w < 6.25 {
        horner64(w - 3.125, &CENTRAL)
    } else if w < 16.0 {
        horner64(w.sqrt() - 3.25, &MIDDLE)
    } else {
        horner64(w.sqrt() - 5.0, &TAIL)
    };
    p * x
}

/// The standard normal quantile of p in f64, given q = 1 - p separately.
/// Giles' fit covers 4pq >= 2^-53; deeper lower tails (p < 1e-15) start
/// from Abramowitz & Stegun 26.2.23 and take Newton steps on ln Phi(z).
#[inline(always)]
pub fn ndtri64(p: f64, q: f64) -> f64 {
    if p < 1e-15 {
        return lower_tail_ndtri64(p);
    }
    let w = -libm::log(4.0 * p * q);
    erfinv64(p - q, w) * std::f64::consts::SQRT_2
}

fn lower_tail_ndtri64(p: f64) -> f64 {
    let ln_p = libm::log(p);
    let t = (-2.0 * ln_p).sqrt();
    let mut z = -(t - (2.515_517 + t * (0.802_853 + t * 0.010_328)) / (1.0 + t * (1.432_788 + t * (0.189_269 + t * 0.001_308))));
    for _ in 0..4 {
        let cdf = ndtr64(z);
        let pdf = libm::exp(-0.5 * z * z) / (2.0 * std::f64::consts::PI).sqrt();
        z -= (libm::log(cdf) - ln_p) * cdf / pdf;
    }
    z
}

/// The standard normal CDF, 0.5 erfc(-x / sqrt 2).
pub fn ndtr64(x: f64) -> f64 {
    0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Isa, Scalar};

    fn grid(n: usize, lo: f64, hi: f64) -> impl Iterator<Item = f64> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f64 / n as f64)
    }

    #[test]
    fn ln_is_within_two_ulps() {
        for t in grid(100_000, -32.0, 0.0) {
            let x = (2f64.powf(t)) as f32;
            let (got, exact) = (ln(Scalar, x) as f64, (x as f64).ln());
            assert!((got - exact).abs() <= 2.5e-7 * exact.abs().max(1e-7), "ln({x}) = {got}, not {exact}");
        }
    }

    #[test]
    fn sincos_is_within_3e_7() {
        for i in 0..200_000u64 {
            let w = (i * 21_474_836 + i / 7) as u32;
            let angle = std::f64::consts::TAU * w as f64 / 4_294_967_296.0;
            let (s, c) = sincos_turn(Scalar, w);
            assert!((s as f64 - angle.sin()).abs() < 3e-7 && (c as f64 - angle.cos()).abs() < 3e-7, "w = {w}");
        }
    }

    /// Phi(ndtri(p)) = p to ~1e-13 relative, in both tails; Phi is libm's erfc.
    #[test]
    #[allow(clippy::approx_constant)] // -0.6931: a grid end just past ln(1/2), not ln 2
    fn ndtri64_inverts_the_cdf() {
        for ln_p in grid(40_000, -690.0, -0.6931) {
            let p = ln_p.exp();
            let z = ndtri64(p, 1.0 - p);
            assert!((ndtr64(z) - p).abs() <= 1e-12 * p, "ndtri64({p}) = {z}");
            if p > 1e-16 {
                let upper = ndtri64(1.0 - p, p);
                assert!((ndtr64(-upper) - p).abs() <= 1e-12 * p, "ndtri64(1 - {p}) = {upper}");
            }
        }
    }

    /// The f32 quantile against the f64 one over the range the f32
    /// transform uses (min(p, q) >= 1e-8, see `TruncParams::fits_f32`).
    #[test]
    #[allow(clippy::approx_constant)] // -0.6931: a grid end just past ln(1/2), not ln 2
    fn ndtri_f32_is_within_its_tolerance() {
        let (mut worst, mut at) = (0f64, 0f32);
        for ln_p in grid(40_000, -18.42, -0.6931) {
            let p = ln_p.exp() as f32;
            let q = (1.0 - f64::from(p)) as f32;
            let exact = ndtri64(f64::from(p), 1.0 - f64::from(p));
            let err = (f64::from(ndtri(Scalar, p, q, true)) - exact).abs() / exact.abs().max(1.0);
            let err_upper = (f64::from(ndtri(Scalar, q, p, true)) - ndtri64(f64::from(q), f64::from(p))).abs() / exact.abs().max(1.0);
            if err.max(err_upper) > worst {
                worst = err.max(err_upper);
                at = p;
            }
        }
        // Giles quotes ~1e-7 for erfinv itself; forming w in f32 adds a few ulps.
        assert!(worst < 4e-6, "worst relative error {worst} at p = {at}");
    }

    /// Every backend runs the same operations: compare bits on many inputs,
    /// including both erfinv branches in one vector.
    #[test]
    fn backends_agree_bit_for_bit() {
        for isa in Isa::available() {
            let inputs: Vec<f32> = (0..4096).map(|i| ((i * 2_654_435_761u64) % 1_000_000 + 1) as f32 / 1_000_002.0).collect();
            let mut got = vec![0f32; inputs.len()];
            crate::init::apply_ndtri(isa, &inputs, &mut got);
            for (p, g) in inputs.iter().zip(&got) {
                let q = (1.0 - f64::from(*p)) as f32;
                assert_eq!(g.to_bits(), ndtri(Scalar, *p, q, true).to_bits(), "{} at p = {p}", isa.name());
            }
        }
    }
}
