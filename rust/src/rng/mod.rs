//! Counter-based random numbers: Philox4x32-10 (scalar reference in
//! `philox`, AVX2 / AVX-512 paths chosen at run time) and the parallel
//! driver that turns a range of one stream into values.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod philox;
mod scalar;
mod simd;
mod stream;

#[cfg(target_arch = "x86_64")]
pub use avx2::Avx2;
#[cfg(target_arch = "x86_64")]
pub use avx512::Avx512;
pub use philox::{key_of, philox4x32_10};
pub use scalar::Scalar;
pub use simd::{Backend, BATCH_BLOCKS, BATCH_WORDS};
pub use stream::{fill_stream, random_raw, Stream, Transform};

use std::sync::OnceLock;

/// An instruction set the kernels can run on, holding the token that proves
/// the CPU supports it.
#[derive(Clone, Copy, Debug)]
pub enum Isa {
    Scalar(Scalar),
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar(_) => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(_) => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(_) => "avx512",
        }
    }

    /// Every instruction set this CPU supports, widest first.
    pub fn available() -> Vec<Isa> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            isas.extend(Avx512::new().map(Isa::Avx512));
            isas.extend(Avx2::new().map(Isa::Avx2));
        }
        isas.push(Isa::Scalar(Scalar));
        isas
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
