//! Counter-based random numbers: Philox4x32-10 (scalar reference in
//! `philox`, AVX2 / AVX-512 paths chosen at run time) and the parallel
//! driver that turns a range of one stream into values.

#[cfg(x86_simd)]
mod avx2;
#[cfg(x86_simd)]
mod avx512;
pub mod mt19937;
pub mod mt_jump;
pub mod philox;
mod scalar;
mod simd;
mod stream;
mod torch_cpu;

#[cfg(x86_simd)]
pub use avx2::Avx2;
#[cfg(x86_simd)]
pub use avx512::Avx512;
pub use philox::{key_of, philox4x32_10};
pub use scalar::Scalar;
pub use simd::{Backend, BATCH_BLOCKS, BATCH_WORDS};
pub use stream::{batch_part_by_pieces, groups_of_words, Pieces, fill_rows, fill_stream, random_raw, RowStarts, Stream, Transform};
pub use torch_cpu::{TorchCpu, STATE_BYTES};

/// Code generic over the backend; `Isa::dispatch` runs it with the
/// backend's target features enabled, so the backend's methods inline.
pub trait WithBackend {
    type Output;
    fn run<B: Backend>(self, backend: B) -> Self::Output;
}

/// Runs `work` on the AVX-512 backend, compiled with its features enabled.
///
/// # Safety
/// The CPU must support AVX-512F/DQ/BW/VL, AVX2 and FMA. Holding an
/// `Avx512` token proves it: `Avx512::new` is its only constructor and
/// checks exactly these six features at run time.
#[cfg(x86_simd)]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
unsafe fn run_avx512<W: WithBackend>(work: W, backend: Avx512) -> W::Output {
    work.run(backend)
}

/// Runs `work` on the AVX2 backend, compiled with its features enabled.
///
/// # Safety
/// The CPU must support AVX2 and FMA. Holding an `Avx2` token proves it:
/// `Avx2::new` is its only constructor and checks both at run time.
#[cfg(x86_simd)]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<W: WithBackend>(work: W, backend: Avx2) -> W::Output {
    work.run(backend)
}

use std::sync::OnceLock;

/// An instruction set the kernels can run on, holding the token that proves
/// the CPU supports it.
#[derive(Clone, Copy, Debug)]
pub enum Isa {
    Scalar(Scalar),
    #[cfg(x86_simd)]
    Avx2(Avx2),
    #[cfg(x86_simd)]
    Avx512(Avx512),
}

impl Isa {
    pub fn dispatch<W: WithBackend>(self, work: W) -> W::Output {
        match self {
            Isa::Scalar(b) => work.run(b),
            // SAFETY: `b` is an `Avx512` token, which only `Avx512::new` can
            // make (private field) and only after detecting AVX-512F/DQ/BW/VL,
            // AVX2 and FMA: the features `run_avx512` is compiled with.
            #[cfg(x86_simd)]
            Isa::Avx512(b) => unsafe { run_avx512(work, b) },
            // SAFETY: `b` is an `Avx2` token, which only `Avx2::new` can make
            // and only after detecting AVX2 and FMA, the features of `run_avx2`.
            #[cfg(x86_simd)]
            Isa::Avx2(b) => unsafe { run_avx2(work, b) },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar(_) => "scalar",
            #[cfg(x86_simd)]
            Isa::Avx2(_) => "avx2",
            #[cfg(x86_simd)]
            Isa::Avx512(_) => "avx512",
        }
    }

    /// Every instruction set this CPU supports, widest first.
    pub fn available() -> Vec<Isa> {
        #[cfg(x86_simd)]
        let simd = [Avx512::new().map(Isa::Avx512), Avx2::new().map(Isa::Avx2)];
        #[cfg(not(x86_simd))]
        let simd: [Option<Isa>; 0] = [];
        simd.into_iter().flatten().chain([Isa::Scalar(Scalar)]).collect()
    }

    /// The widest supported instruction set, or the one named by the
    /// environment variable `CONVINIT_ISA` (`scalar`, `avx2`, `avx512`) when
    /// it is supported: results are the same on all of them, and the
    /// variable lets tests show it.
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            let available = Isa::available();
            let wanted = std::env::var("CONVINIT_ISA").ok();
            wanted
                .and_then(|name| available.iter().copied().find(|isa| isa.name() == name.trim()))
                .unwrap_or(available[0])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Isa;

    fn names() -> Vec<&'static str> {
        Isa::available().into_iter().map(Isa::name).collect()
    }

    #[test]
    fn the_scalar_path_is_always_available_and_last() {
        assert_eq!(names().last(), Some(&"scalar"));
    }

    #[cfg(not(x86_simd))]
    #[test]
    fn without_x86_simd_only_the_scalar_path_is_compiled() {
        assert_eq!(names(), ["scalar"]);
    }
}
