use super::*;

const DISTRIBUTIONS: [Distribution; 8] = [
    Distribution::Uniform { low: -0.3, high: 1.7 },
    Distribution::Normal { mean: 0.5, std: 2.0 },
    Distribution::TruncNormal { mean: 0.0, std: 1.0, low: -2.0, high: 2.0 },
    Distribution::TruncNormal { mean: 0.1, std: 0.02, low: -2.0, high: 2.0 },
    Distribution::TruncNormal { mean: 0.0, std: 1.0, low: 3.0, high: 4.5 },
    Distribution::TruncNormal { mean: 0.0, std: 1.0, low: 29.0, high: 30.0 },
    Distribution::TruncNormal { mean: 1.0, std: 1.0, low: -100.0, high: -1.5 },
    Distribution::TruncNormal { mean: 0.0, std: 1.0, low: -1.0, high: -1.0 },
];

fn values<T: Sample>(isa: Isa, d: &Distribution, start: u64, len: usize, threads: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; len];
    fill_on(isa, d, 0xdead_beef_0123, 9, start, &mut out, threads).unwrap();
    out
}

fn same_bits_on_every_isa<T: Sample>(bits: fn(&T) -> u64) {
    for d in &DISTRIBUTIONS {
        let reference: Vec<u64> = values::<T>(Isa::Scalar(crate::rng::Scalar), d, 13, 5000, 1).iter().map(bits).collect();
        for isa in Isa::available() {
            let got: Vec<u64> = values::<T>(isa, d, 13, 5000, 1).iter().map(bits).collect();
            assert_eq!(got, reference, "{} {d:?}", isa.name());
        }
    }
}

#[test]
fn every_isa_gives_the_same_bits() {
    same_bits_on_every_isa::<f32>(|v| u64::from(v.to_bits()));
    same_bits_on_every_isa::<f64>(|v| v.to_bits());
}

fn shards_and_threads_agree<T: Sample>() {
    for d in &DISTRIBUTIONS {
        let whole = values::<T>(Isa::best(), d, 0, 200_003, 1);
        for (start, stop, threads) in [(0, 200_003, 3), (1, 77, 1), (99_999, 200_003, 2), (65_536, 131_075, 8)] {
            let part = values::<T>(Isa::best(), d, start as u64, stop - start, threads);
            assert!(part == whole[start..stop], "{d:?} [{start}, {stop}) with {threads} threads");
        }
    }
}

#[test]
fn shards_and_thread_counts_agree() {
    shards_and_threads_agree::<f32>();
    shards_and_threads_agree::<f64>();
}

#[test]
fn uniform_stays_in_the_half_open_interval() {
    for (low, high) in [(0.0, 1.0), (-1e-3, 1e-3), (1.0, 1.0 + 1e-9), (2.0, 2.0), (-3.0, 1e6)] {
        let d = Distribution::Uniform { low, high };
        let x32 = values::<f32>(Isa::best(), &d, 0, 100_000, 2);
        let x64 = values::<f64>(Isa::best(), &d, 0, 100_000, 2);
        let empty = (low as f32) == (high as f32);
        assert!(x32.iter().all(|&v| f64::from(v) >= low && (f64::from(v) < high || (empty && v == low as f32) || low == high)), "{low} {high}");
        assert!(x64.iter().all(|&v| v >= low && (v < high || low == high)), "{low} {high}");
    }
}

#[test]
fn truncated_normal_respects_its_bounds() {
    for d in &DISTRIBUTIONS[2..] {
        let Distribution::TruncNormal { low, high, .. } = *d else { unreachable!() };
        let x32 = values::<f32>(Isa::best(), d, 0, 100_000, 2);
        let x64 = values::<f64>(Isa::best(), d, 0, 100_000, 2);
        assert!(x32.iter().all(|&v| f64::from(v) >= low && f64::from(v) <= high), "{d:?}");
        assert!(x64.iter().all(|&v| v >= low && v <= high), "{d:?}");
        // Not piled up on a bound.
        let at_bound = x64.iter().filter(|&&v| v == low || v == high).count();
        assert!(low == high || at_bound < 3, "{d:?}: {at_bound} values on a bound");
    }
}

#[test]
fn normal_moments_are_right() {
    let d = Distribution::Normal { mean: 0.5, std: 2.0 };
    let n = 1_000_000;
    for x in [values::<f32>(Isa::best(), &d, 0, n, 2).iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), values::<f64>(Isa::best(), &d, 0, n, 2)] {
        let mean = x.iter().sum::<f64>() / n as f64;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        // 6 standard errors: mean se = 2e-3, variance se = 4 sqrt(2/n) = 5.7e-3.
        assert!((mean - 0.5).abs() < 0.012 && (var - 4.0).abs() < 0.035, "mean {mean}, var {var}");
    }
}

#[test]
fn invalid_parameters_are_errors() {
    let bad = [
        Distribution::Uniform { low: 1.0, high: 0.0 },
        Distribution::Uniform { low: f64::NAN, high: 0.0 },
        Distribution::Uniform { low: -f64::MAX, high: f64::MAX },
        Distribution::Normal { mean: 0.0, std: -1.0 },
        Distribution::TruncNormal { mean: 0.0, std: 1.0, low: 2.0, high: -2.0 },
        Distribution::TruncNormal { mean: 0.0, std: 1.0, low: -40.0, high: -39.0 },
    ];
    for d in bad {
        let mut out = [0f32; 4];
        assert!(matches!(fill(&d, 0, 0, 0, &mut out, 1), Err(KernelError::InvalidArgument { .. })), "{d:?}");
    }
}
