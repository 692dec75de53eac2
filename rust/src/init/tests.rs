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

/// The block `ranges` of `full` (a C-order tensor of `shape`), by indexing.
fn slice_of<T: Copy>(full: &[T], shape: &[u64], ranges: &[(u64, u64)]) -> Vec<T> {
    let mut indices = vec![0u64];
    for (&dim, &(start, stop)) in shape.iter().zip(ranges) {
        indices = indices.iter().flat_map(|&base| (start..stop).map(move |i| base * dim + i)).collect();
    }
    indices.iter().map(|&i| full[i as usize]).collect()
}

fn region_fill_is_the_slice<T: Sample>() {
    let shape = [7u64, 300, 45];
    let regions: [&[(u64, u64)]; 4] = [
        &[(1, 6), (13, 290), (3, 44)],
        &[(0, 7), (0, 300), (0, 45)],
        &[(2, 3), (0, 300), (0, 45)],
        &[(6, 7), (299, 300), (44, 45)],
    ];
    for d in &DISTRIBUTIONS {
        let whole = values::<T>(Isa::best(), d, 0, 7 * 300 * 45, 1);
        for ranges in regions {
            let block = Block::new(&shape, ranges).unwrap();
            for (isa, threads) in [(Isa::best(), 3), (Isa::Scalar(crate::rng::Scalar), 1)] {
                let mut out = vec![T::ZERO; block.len()];
                fill_block_on(isa, d, 0xdead_beef_0123, 9, &block, &mut out, threads).unwrap();
                assert!(out == slice_of(&whole, &shape, ranges), "{d:?} {ranges:?} {}", isa.name());
            }
        }
    }
}

#[test]
fn a_region_fill_is_the_slice_of_the_full_fill() {
    region_fill_is_the_slice::<f32>();
    region_fill_is_the_slice::<f64>();
}

#[test]
fn a_region_of_the_wrong_size_is_an_error() {
    let block = Block::new(&[4, 5], &[(0, 2), (1, 3)]).unwrap();
    let mut out = [0f32; 5];
    let d = Distribution::Normal { mean: 0.0, std: 1.0 };
    assert!(matches!(fill_block(&d, 0, 0, &block, &mut out, 1), Err(KernelError::InvalidArgument { argument: "tensor", .. })));
}

#[test]
fn half_fills_are_the_float32_fill_rounded() {
    let block = Block::new(&[3, 500], &[(1, 3), (7, 450)]).unwrap();
    for d in &DISTRIBUTIONS {
        let mut wide = vec![0f32; block.len()];
        fill_block(d, 5, 2, &block, &mut wide, 2).unwrap();
        for format in [Half::BFloat16, Half::Float16] {
            let mut narrow = vec![0u16; block.len()];
            for isa in Isa::available() {
                fill_block_half(isa, d, 5, 2, &block, format, &mut narrow, 2).unwrap();
                let expected: Vec<u16> = wide.iter().map(|&v| format.round(v)).collect();
                // Truncated normals may differ only where rounding left [a, b].
                for (i, (&got, &want)) in narrow.iter().zip(&expected).enumerate() {
                    if let Distribution::TruncNormal { low, high, .. } = *d {
                        let v = f64::from(format.value(got));
                        assert!(v >= low && v <= high, "{d:?} {format:?} value {v} outside");
                        let rounded = f64::from(format.value(want));
                        assert!(got == want || rounded < low || rounded > high, "{d:?} {format:?} at {i}");
                    } else {
                        assert_eq!(got, want, "{d:?} {format:?} {} at {i}", isa.name());
                    }
                }
            }
        }
    }
}

#[test]
fn half_trunc_normal_never_leaves_non_representable_bounds() {
    // 0.1 is neither a bfloat16 nor a float16 value: plain rounding would step outside.
    let d = Distribution::TruncNormal { mean: 0.0, std: 1.0, low: -0.1, high: 0.1 };
    let block = Block::flat(0, 200_000);
    for format in [Half::BFloat16, Half::Float16] {
        let mut out = vec![0u16; block.len()];
        fill_block_half(Isa::best(), &d, 1, 0, &block, format, &mut out, 2).unwrap();
        let values: Vec<f32> = out.iter().map(|&h| format.value(h)).collect();
        assert!(values.iter().all(|&v| (-0.1..=0.1).contains(&f64::from(v))), "{format:?}");
    }
}

/// Every cut of a batch (start and length, across the 24-bit tail fields
/// and the batch boundary) on every instruction set: a range computes only
/// the Philox groups and pieces it needs, and must still give the slice of
/// the contiguous fill.
fn every_cut_of_a_batch_is_the_slice<T: Sample>() {
    for d in &DISTRIBUTIONS[..3] {
        for isa in Isa::available() {
            let whole = {
                let mut out = vec![T::ZERO; 1100];
                fill_on(isa, d, 77, 5, 0, &mut out, 1).unwrap();
                out
            };
            // Every start here; every 13th under the sanitizers (20-100x slower).
            let step = if std::env::var_os("CONVINIT_SANITIZER").is_some() { 13 } else { 1 };
            for start in (0..700).step_by(step) {
                for len in [1, 15, 16, 17, 31, 33, 80, 100, 129, 256, 300, 336, 400] {
                    let mut part = vec![T::ZERO; len];
                    fill_on(isa, d, 77, 5, start as u64, &mut part, 1).unwrap();
                    assert!(part == whole[start..start + len], "{} {d:?} start {start} len {len}", isa.name());
                }
            }
        }
    }
}

#[test]
fn every_cut_of_a_batch_gives_the_same_values() {
    every_cut_of_a_batch_is_the_slice::<f32>();
    every_cut_of_a_batch_is_the_slice::<f64>();
}
