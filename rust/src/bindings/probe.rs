//! Bindings of the machine probes.

use super::errors::guarded;
use crate::probe;
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fma_gflops, m)?)?;
    m.add_function(wrap_pyfunction!(write_gbps, m)?)?;
    Ok(())
}

/// Float32 FMA throughput (GFLOP/s) on `threads` workers (0: all cores).
#[pyfunction]
#[pyo3(signature = (threads, iterations))]
fn fma_gflops(py: Python<'_>, threads: usize, iterations: usize) -> PyResult<f64> {
    py.detach(|| guarded(|| probe::fma_gflops(threads, iterations)))
}

/// Memory write bandwidth (GB/s) filling `bytes` `rounds` times on `threads` workers.
#[pyfunction]
#[pyo3(signature = (threads, bytes, rounds))]
fn write_gbps(py: Python<'_>, threads: usize, bytes: usize, rounds: usize) -> PyResult<f64> {
    py.detach(|| guarded(|| probe::write_gbps(threads, bytes, rounds)))
}
