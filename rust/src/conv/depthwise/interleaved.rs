//! The small-plane kernel's taps (`correlate_interleaved`) for float32 on
//! AVX-512, written with intrinsics: one vector holds a position's 16
//! channels, eight positions' accumulators stay in registers, every tap is
//! one weight load and eight loads and fused multiply-adds.
//!
//! The generic loop computes the same thing, but on AVX-512 LLVM
//! vectorized it across positions instead of channels, with a gather and
//! a scatter per multiply-add: a MobileNetV2 3x3 layer (8 x 192 x 28x28)
//! took 4.3 ms on a 2-core Zen 5 where torch takes 0.25 ms. The sums and
//! their order are the generic loop's (taps in order from zero, each
//! product fused), so the bits are the same.

#[cfg(x86_simd)]
pub(super) mod avx512 {
    use super::super::LANES;
    use std::arch::x86_64::*;

    /// Positions computed together: eight of the 32 vector registers.
    const POSITIONS: usize = 8;
    const _: () = assert!(LANES == 16, "one AVX-512 vector of float32 per position");

    /// `dst[j][c] = sum over taps t of weights[t][c] * src[offsets[t] + j][c]`
    /// (LANES channels per position), for the whole chunks of `POSITIONS`
    /// positions in `dst`.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(in super::super) unsafe fn correlate(src: &[f32], offsets: &[usize], weights: &[f32], dst: &mut [f32]) {
        let chunks = dst.len() / (POSITIONS * LANES);
        let furthest = offsets.iter().max().map_or(0, |&o| o);
        assert!(weights.len() >= offsets.len() * LANES, "correlate: a tap without weights");
        assert!((furthest + chunks * POSITIONS) * LANES <= src.len(), "correlate: a tap reads past the source");
        for i in 0..chunks {
            let mut acc = [_mm512_setzero_ps(); POSITIONS];
            for (t, &offset) in offsets.iter().enumerate() {
                // SAFETY: t < offsets.len(), so the 16 weights lie inside `weights` (asserted).
                let w = unsafe { _mm512_loadu_ps(weights.as_ptr().add(t * LANES)) };
                let first = (offset + i * POSITIONS) * LANES;
                for (p, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: first + (p + 1) * LANES <= (furthest + (i + 1) * POSITIONS) * LANES <= src.len() (asserted).
                    let x = unsafe { _mm512_loadu_ps(src.as_ptr().add(first + p * LANES)) };
                    *acc = _mm512_fmadd_ps(x, w, *acc);
                }
            }
            for (p, acc) in acc.into_iter().enumerate() {
                // SAFETY: (i * POSITIONS + p + 1) * LANES <= chunks * POSITIONS * LANES <= dst.len().
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add((i * POSITIONS + p) * LANES), acc) };
            }
        }
    }
}
