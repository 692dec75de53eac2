//! Bindings of the PyTorch-compatible CPU generator: the generator state
//! travels as the bytes of `torch.Generator.get_state()`; each call takes a
//! state and returns the advanced one.

use super::errors::{guarded, to_pyerr, type_error};
use crate::error::try_zeroed;
use crate::init::torch_fill::{self as fills, TorchFloat};
use crate::rng::TorchCpu;
use numpy::{Element, PyArray1, PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(torch_seed_state, m)?)?;
    m.add_function(wrap_pyfunction!(torch_check_state, m)?)?;
    m.add_function(wrap_pyfunction!(torch_random, m)?)?;
    m.add_function(wrap_pyfunction!(torch_fill, m)?)?;
    Ok(())
}

fn generator(state: &[u8]) -> PyResult<TorchCpu> {
    TorchCpu::from_bytes(state).map_err(to_pyerr)
}

fn state_bytes<'py>(py: Python<'py>, g: &TorchCpu) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &g.to_bytes())
}

/// The state of `torch.Generator().manual_seed(seed)`.
#[pyfunction]
fn torch_seed_state(py: Python<'_>, seed: u64) -> Bound<'_, PyBytes> {
    state_bytes(py, &TorchCpu::new(seed))
}

/// `state` re-encoded after torch's checks (ValueError if torch would refuse it).
#[pyfunction]
fn torch_check_state<'py>(py: Python<'py>, state: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    Ok(state_bytes(py, &generator(state)?))
}

/// `count` draws of `random()` (bits=32) or `random64()` (bits=64), and the new state.
#[pyfunction]
fn torch_random<'py>(
    py: Python<'py>,
    state: &[u8],
    count: usize,
    bits: u32,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyBytes>)> {
    let mut g = generator(state)?;
    let values = match bits {
        32 => PyArray1::from_vec(py, draws(py, count, || g.random())?).into_any(),
        64 => PyArray1::from_vec(py, draws(py, count, || g.random64())?).into_any(),
        _ => return Err(pyo3::exceptions::PyValueError::new_err(format!("bits: expected 32 or 64, got {bits}"))),
    };
    Ok((values, state_bytes(py, &g)))
}

/// `count` values of `draw()`, computed without the GIL.
fn draws<T: Copy + Default + Send>(py: Python<'_>, count: usize, mut draw: impl FnMut() -> T + Send) -> PyResult<Vec<T>> {
    py.detach(|| {
        guarded(|| {
            let mut out = try_zeroed::<T>(count, "the draws")?;
            out.iter_mut().for_each(|v| *v = draw());
            Ok(out)
        })
    })
}

fn fill_typed<T: TorchFloat + Element>(
    py: Python<'_>,
    out: &Bound<'_, PyArrayDyn<T>>,
    kind: &str,
    params: (f64, f64),
    g: &mut TorchCpu,
    vectorized: bool,
    threads: usize,
) -> PyResult<()> {
    let mut guard = out.try_readwrite().map_err(|_| type_error("tensor", "a writable array not borrowed elsewhere"))?;
    let values = guard.as_slice_mut().map_err(|_| type_error("tensor", "a C-contiguous array"))?;
    let (a, b) = params;
    py.detach(|| {
        guarded(|| match kind {
            "uniform" => fills::uniform(g, values, a, b, threads),
            "normal" => fills::normal(g, values, a, b, vectorized, threads),
            _ => Err(crate::error::KernelError::invalid("distribution", format!("expected uniform or normal, got {kind}"))),
        })
    })
}

/// Fills the C-contiguous float32/float64 array `out` (in torch's iteration
/// order) as `uniform_(a, b)` or `normal_(mean, std)` does from the generator
/// with `state`; `vectorized` picks normal_'s contiguous path. `threads`
/// workers (0: all) draw their parts of the one stream after jumping ahead,
/// so the values do not depend on it. Returns the advanced state.
#[pyfunction]
#[pyo3(signature = (out, kind, params, state, vectorized, threads=0))]
fn torch_fill<'py>(
    py: Python<'py>,
    out: &Bound<'py, PyAny>,
    kind: &str,
    params: (f64, f64),
    state: &[u8],
    vectorized: bool,
    threads: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut g = generator(state)?;
    if let Ok(x) = out.cast::<PyArrayDyn<f32>>() {
        fill_typed(py, x, kind, params, &mut g, vectorized, threads)?;
    } else if let Ok(x) = out.cast::<PyArrayDyn<f64>>() {
        fill_typed(py, x, kind, params, &mut g, vectorized, threads)?;
    } else {
        return Err(type_error("tensor", "a float32 or float64 array"));
    }
    Ok(state_bytes(py, &g))
}
