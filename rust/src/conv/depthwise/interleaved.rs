//! The small-plane kernel's taps (`correlate_interleaved`) on AVX-512,
//! written with intrinsics: a position's 16 channels are one float32
//! vector (two float64 ones), eight vectors of accumulators stay in
//! registers (8 positions, or 4 in float64), and every tap is one load of
//! its weights and one load and fused multiply-add per accumulator.
//!
//! The generic loop computes the same thing, but on AVX-512 LLVM
//! vectorized it across positions instead of channels, with a gather and
//! a scatter per multiply-add in float32 (a MobileNetV2 3x3 layer, 8 x 192
//! x 28x28, took 4.3 ms on a 2-core Zen 5 where torch takes 0.25 ms) and
//! half-width vectors with spilled accumulators in float64. The sums and
//! their order are the generic loop's (taps in order from zero, each
//! product fused), so the bits are the same.

/// The widest kernel row `avx512::correlate_rows_f32` takes.
pub(super) const MAX_ROW_TAPS: usize = 8;

#[cfg(x86_simd)]
pub(super) mod avx512 {
    use super::super::LANES;
    use super::MAX_ROW_TAPS;
    use std::arch::x86_64::*;

    macro_rules! correlate {
        ($name:ident, $t:ty, $vector:ty, $per_vector:expr, $zero:ident, $loadu:ident, $fmadd:ident, $storeu:ident) => {
            /// `dst[j][c] = sum over taps t of weights[t][c] * src[offsets[t] + j][c]`
            /// (LANES channels per position), for the whole chunks of
            /// positions (eight vectors' worth) in `dst`.
            ///
            /// # Safety
            /// The CPU has AVX-512F.
            #[target_feature(enable = "avx512f")]
            pub(in super::super) unsafe fn $name(src: &[$t], offsets: &[usize], weights: &[$t], dst: &mut [$t]) {
                const VECTORS: usize = LANES / $per_vector;
                const POSITIONS: usize = 8 / VECTORS;
                let chunks = dst.len() / (POSITIONS * LANES);
                let furthest = offsets.iter().max().map_or(0, |&o| o);
                assert!(weights.len() >= offsets.len() * LANES, "correlate: a tap without weights");
                assert!((furthest + chunks * POSITIONS) * LANES <= src.len(), "correlate: a tap reads past the source");
                for i in 0..chunks {
                    let mut acc = [[$zero(); VECTORS]; POSITIONS];
                    for (t, &offset) in offsets.iter().enumerate() {
                        // SAFETY: t < offsets.len(), so the LANES weights lie inside `weights` (asserted).
                        let w: [$vector; VECTORS] = std::array::from_fn(|v| unsafe { $loadu(weights.as_ptr().add(t * LANES + v * $per_vector)) });
                        let first = (offset + i * POSITIONS) * LANES;
                        for (p, acc) in acc.iter_mut().enumerate() {
                            for (v, acc) in acc.iter_mut().enumerate() {
                                // SAFETY: first + (p + 1) * LANES <= (furthest + (i + 1) * POSITIONS) * LANES <= src.len() (asserted).
                                let x = unsafe { $loadu(src.as_ptr().add(first + p * LANES + v * $per_vector)) };
                                *acc = $fmadd(x, w[v], *acc);
                            }
                        }
                    }
                    for (p, acc) in acc.into_iter().enumerate() {
                        for (v, acc) in acc.into_iter().enumerate() {
                            // SAFETY: (i * POSITIONS + p + 1) * LANES <= chunks * POSITIONS * LANES <= dst.len().
                            unsafe { $storeu(dst.as_mut_ptr().add((i * POSITIONS + p) * LANES + v * $per_vector), acc) };
                        }
                    }
                }
            }
        };
    }

    /// `correlate_f32` for taps that come in rows of `K`, the rows of a
    /// kernel along the last axis at stride `S` (1 or 2) and dilation 1:
    /// `rows` holds each row's `(offset, tap)`, its taps `tap + k` at
    /// `offset + (k % S) * gap + k / S` for `k < K` (at stride 2 the even
    /// and the odd columns are sub-volumes `gap` apart). A chunk of eight
    /// positions reads `8 + ceil(K / S) - 1` source vectors per row and
    /// phase, loaded once and shared by the row's taps: at K = 7, stride 1,
    /// 2.4 loads per 8 multiply-adds in place of 9. The products are added
    /// in the order of `rows`, each row's taps in order.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(in super::super) unsafe fn correlate_rows_f32<const K: usize, const S: usize>(src: &[f32], rows: &[(usize, usize)], gap: usize, weights: &[f32], dst: &mut [f32]) {
        const POSITIONS: usize = 8;
        const WINDOW: usize = POSITIONS + MAX_ROW_TAPS - 1;
        assert!((1..=MAX_ROW_TAPS).contains(&K) && (1..=2).contains(&S) && S <= K, "correlate_rows: unsupported row");
        // Taps of each phase (k % S), and the source vectors their window spans.
        let phase_taps = |phase: usize| (K + S - 1 - phase) / S;
        let chunks = dst.len() / (POSITIONS * LANES);
        for &(offset, tap) in rows {
            assert!((tap + K) * LANES <= weights.len(), "correlate_rows: a tap without weights");
            for phase in 0..S {
                let end = offset + phase * gap + chunks * POSITIONS + phase_taps(phase) - 1;
                assert!(end * LANES <= src.len(), "correlate_rows: a tap reads past the source");
            }
        }
        for i in 0..chunks {
            let mut acc = [_mm512_setzero_ps(); POSITIONS];
            for &(offset, tap) in rows {
                let mut x = [[_mm512_setzero_ps(); WINDOW]; S];
                for (phase, x) in x.iter_mut().enumerate() {
                    let first = (offset + phase * gap + i * POSITIONS) * LANES;
                    for (m, x) in x.iter_mut().enumerate().take(POSITIONS + phase_taps(phase) - 1) {
                        // SAFETY: first + (m + 1) * LANES <= (offset + phase * gap + (i + 1) * POSITIONS + phase_taps(phase) - 1) * LANES <= src.len() (asserted).
                        *x = unsafe { _mm512_loadu_ps(src.as_ptr().add(first + m * LANES)) };
                    }
                }
                for k in 0..K {
                    // SAFETY: tap + k < tap + K, so the LANES weights lie inside `weights` (asserted).
                    let w = unsafe { _mm512_loadu_ps(weights.as_ptr().add((tap + k) * LANES)) };
                    for (p, acc) in acc.iter_mut().enumerate() {
                        *acc = _mm512_fmadd_ps(x[k % S][p + k / S], w, *acc);
                    }
                }
            }
            for (p, acc) in acc.into_iter().enumerate() {
                // SAFETY: (i * POSITIONS + p + 1) * LANES <= chunks * POSITIONS * LANES <= dst.len().
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add((i * POSITIONS + p) * LANES), acc) };
            }
        }
    }

    correlate!(correlate_f32, f32, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_storeu_ps);
    correlate!(correlate_f64, f64, __m512d, 8, _mm512_setzero_pd, _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_storeu_pd);
}
