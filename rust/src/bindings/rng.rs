//! Bindings of the Philox generator: one block, and raw words of a stream.

use super::errors::guarded;
use crate::error::try_zeroed;
use crate::rng::{self, Isa, Stream};
use numpy::PyArray1;
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(philox4x32_10, m)?)?;
    m.add_function(wrap_pyfunction!(random_raw, m)?)?;
    m.add_function(wrap_pyfunction!(simd_backend, m)?)?;
    Ok(())
}

/// The four output words of one Philox4x32-10 block.
#[pyfunction]
fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> (u32, u32, u32, u32) {
    let [a, b, c, d] = rng::philox4x32_10(counter, key);
    (a, b, c, d)
}

/// Words `start .. start + count` of stream `stream` of seed `seed`.
#[pyfunction]
#[pyo3(signature = (seed, stream, start, count, threads))]
fn random_raw(py: Python<'_>, seed: u64, stream: u64, start: u64, count: usize, threads: usize) -> PyResult<Bound<'_, PyArray1<u32>>> {
    let words = py.detach(|| {
        guarded(|| {
            let mut out = try_zeroed::<u32>(count, "the words")?;
            rng::random_raw(Stream::new(seed, stream), start, &mut out, Isa::best(), threads)?;
            Ok(out)
        })
    })?;
    Ok(PyArray1::from_vec(py, words))
}

/// The instruction set the kernels run on: "avx512", "avx2" or "scalar".
#[pyfunction]
fn simd_backend() -> &'static str {
    Isa::best().name()
}
