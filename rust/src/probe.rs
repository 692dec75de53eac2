//! Machine probes for `convinit bench`: the FMA throughput and the memory
//! write bandwidth this machine reaches, so benchmarks can report a share of
//! the peak rather than a bare number.

use crate::error::KernelResult;
use crate::parallel::for_each_chunk_mut;
use std::time::Instant;

/// Independent accumulator chains: more than FMA latency x FMA ports, so the
/// loop is throughput-bound.
const CHAINS: usize = 16;
/// The chains of the AVX2 loop: 16 of them and the two constants would need
/// 18 of the 16 vector registers, and the spills halved the measured peak
/// (50 against 101 GFLOP/s per core on Zen 3); 12 still exceed latency x
/// ports (4 x 2).
#[cfg(x86_simd)]
const AVX2_CHAINS: usize = 12;

/// `CHAINS` chains of 16-lane FMAs, `iterations` rounds.
///
/// # Safety
/// The CPU must support AVX-512F (the function is compiled with it enabled);
/// the body touches no memory but its own locals.
#[cfg(x86_simd)]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iterations: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); CHAINS];
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            *chain = _mm512_fmadd_ps(*chain, a, b);
        }
    }
    acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

/// `AVX2_CHAINS` chains of 8-lane FMAs, `iterations` rounds.
///
/// # Safety
/// The CPU must support AVX2 and FMA (the function is compiled with them
/// enabled); the only memory access is a store into the local `out`.
#[cfg(x86_simd)]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(iterations: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); AVX2_CHAINS];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            *chain = _mm256_fmadd_ps(*chain, a, b);
        }
    }
    let mut out = [0.0f32; 8];
    let mut total = 0.0;
    for v in acc {
        // (Unaligned store of 8 floats into the 8-float local `out`.)
        _mm256_storeu_ps(out.as_mut_ptr(), v);
        total += out.iter().sum::<f32>();
    }
    total
}

fn fma_loop_scalar(iterations: usize) -> f32 {
    let mut acc = [0.0f32; CHAINS];
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            *chain = chain.mul_add(0.999_999, 1e-7);
        }
    }
    acc.iter().sum()
}

/// (f32 multiply-adds per iteration, the loop) of the widest FMA available.
fn fma_kernel() -> (usize, fn(usize) -> f32) {
    #[cfg(x86_simd)]
    {
        match crate::conv::tile_isa() {
            // SAFETY: the closure is only returned when `tile_isa` found
            // AVX-512F, the one feature the callee enables.
            crate::conv::TileIsa::Avx512 => return (16 * CHAINS, |n| unsafe { fma_loop_avx512(n) }),
            // SAFETY: as above, for AVX2 and FMA.
            crate::conv::TileIsa::Avx2 => return (8 * AVX2_CHAINS, |n| unsafe { fma_loop_avx2(n) }),
            crate::conv::TileIsa::Portable => {}
        }
    }
    (CHAINS, fma_loop_scalar)
}

/// Float32 GFLOP/s of independent FMA chains on `threads` OS threads (0:
/// one per core), each running `iterations` rounds of `CHAINS` FMAs; the
/// best of three runs, since a peak is a maximum.
pub fn fma_gflops(threads: usize, iterations: usize) -> KernelResult<f64> {
    let (fmas, kernel) = fma_kernel();
    let workers = crate::parallel::effective_threads(threads).max(1);
    let flops = (workers * iterations * fmas * 2) as f64;
    let best = (0..3)
        .map(|_| {
            let barrier = std::sync::Barrier::new(workers);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        barrier.wait();
                        std::hint::black_box(kernel(iterations))
                    });
                }
            });
            flops / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max);
    Ok(best)
}

/// GB/s of writing a buffer of `bytes` on `threads` workers with the C
/// library's memset (which picks streaming stores for large buffers): the
/// best of `rounds` passes.
pub fn write_gbps(threads: usize, bytes: usize, rounds: usize) -> KernelResult<f64> {
    let mut buffer = crate::error::try_zeroed::<u8>(bytes, "the bandwidth probe's buffer")?;
    let workers = crate::parallel::effective_threads(threads);
    let chunk = buffer.len().div_ceil(workers).max(1);
    let best = (0..rounds.max(1))
        .map(|round| {
            let start = Instant::now();
            for_each_chunk_mut(threads, &mut buffer, chunk, |_, part| {
                // SAFETY: `part` is a `&mut [u8]` chunk of the buffer, so its
                // `part.len()` bytes are valid for writes and no other task
                // sees them; `u8` has alignment 1 and any byte is a valid u8.
                unsafe { std::ptr::write_bytes(part.as_mut_ptr(), round as u8, part.len()) }
            });
            std::hint::black_box(&buffer);
            buffer.len() as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max);
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_measure_something_positive() {
        // No speed floor: under valgrind (.ci/sanitize) the FMA loop runs
        // tens to hundreds of times slower than natively.
        for rate in [fma_gflops(1, 100_000).unwrap(), write_gbps(2, 1 << 22, 2).unwrap()] {
            assert!(rate > 0.0 && rate.is_finite(), "{rate}");
        }
    }
}
