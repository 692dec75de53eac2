//! Bindings of the seeded fills. `convinit/init.py` validates shapes,
//! ranges and dtypes; the kernel re-checks the distribution parameters.

use super::conv::contiguous;
use super::errors::{guarded, type_error};
use crate::error::try_zeroed;
use crate::init::{self, Distribution, Sample};
use crate::rng::Isa;
use numpy::{Element, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fill, m)?)?;
    m.add_function(wrap_pyfunction!(fill_into, m)?)?;
    m.add_function(wrap_pyfunction!(ndtri, m)?)?;
    Ok(())
}

fn fill_new<'py, T: Sample + Element>(
    py: Python<'py>,
    d: Distribution,
    (seed, stream, start): (u64, u64, u64),
    count: usize,
    threads: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let values = py.detach(|| {
        guarded(|| {
            let mut out = try_zeroed::<T>(count, "the fill")?;
            init::fill(&d, seed, stream, start, &mut out, threads)?;
            Ok(out)
        })
    })?;
    Ok(PyArray1::from_vec(py, values).as_untyped().clone())
}

/// A new 1-D array: values `start .. start + count` of `kind(params)` drawn
/// from (seed, stream), dtype "float32" or "float64".
#[pyfunction]
#[pyo3(signature = (kind, params, dtype, seed, stream, start, count, threads))]
#[allow(clippy::too_many_arguments)]
fn fill<'py>(
    py: Python<'py>,
    kind: &str,
    params: Vec<f64>,
    dtype: &str,
    seed: u64,
    stream: u64,
    start: u64,
    count: usize,
    threads: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let d = Distribution::from_parts(kind, &params).map_err(super::errors::to_pyerr)?;
    match dtype {
        "float32" => fill_new::<f32>(py, d, (seed, stream, start), count, threads),
        "float64" => fill_new::<f64>(py, d, (seed, stream, start), count, threads),
        _ => Err(type_error("dtype", "float32 or float64")),
    }
}

fn fill_existing<T: Sample + Element>(
    py: Python<'_>,
    out: &Bound<'_, PyArrayDyn<T>>,
    d: Distribution,
    (seed, stream, start): (u64, u64, u64),
    threads: usize,
) -> PyResult<()> {
    // Element i of a fill is the i-th in C order: a Fortran-ordered target
    // (which as_slice_mut accepts) would receive a transposed fill.
    if !out.is_c_contiguous() {
        return Err(type_error("tensor", "a C-contiguous array"));
    }
    let mut guard = out.try_readwrite().map_err(|_| type_error("tensor", "a writable array not borrowed elsewhere"))?;
    let values = guard.as_slice_mut().map_err(|_| type_error("tensor", "an aligned, C-contiguous array"))?;
    py.detach(|| guarded(|| init::fill(&d, seed, stream, start, values, threads)))
}

/// Writes values `start .. start + out.size` of `kind(params)` into the
/// C-contiguous writable float32/float64 array `out`.
#[pyfunction]
#[pyo3(signature = (out, kind, params, seed, stream, start, threads))]
#[allow(clippy::too_many_arguments)]
fn fill_into(
    py: Python<'_>,
    out: &Bound<'_, PyAny>,
    kind: &str,
    params: Vec<f64>,
    seed: u64,
    stream: u64,
    start: u64,
    threads: usize,
) -> PyResult<()> {
    let d = Distribution::from_parts(kind, &params).map_err(super::errors::to_pyerr)?;
    if let Ok(x) = out.cast::<PyArrayDyn<f32>>() {
        fill_existing(py, x, d, (seed, stream, start), threads)
    } else if let Ok(x) = out.cast::<PyArrayDyn<f64>>() {
        fill_existing(py, x, d, (seed, stream, start), threads)
    } else {
        Err(type_error("tensor", "a float32 or float64 array"))
    }
}

/// The standard normal quantile the truncated-normal fills use,
/// elementwise (float32: the SIMD polynomial; float64: Giles + Newton).
#[pyfunction]
fn ndtri<'py>(py: Python<'py>, p: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(x) = p.extract::<PyReadonlyArrayDyn<'py, f32>>() {
        let p = contiguous("p", &x)?;
        let out = py.detach(|| {
            let mut out = vec![0f32; p.len()];
            init::apply_ndtri(Isa::best(), p, &mut out);
            out
        });
        Ok(PyArray1::from_vec(py, out).as_untyped().clone())
    } else if let Ok(x) = p.extract::<PyReadonlyArrayDyn<'py, f64>>() {
        let p = contiguous("p", &x)?;
        let out: Vec<f64> = py.detach(|| p.iter().map(|&v| init::ndtri64(v, 1.0 - v)).collect());
        Ok(PyArray1::from_vec(py, out).as_untyped().clone())
    } else {
        Err(type_error("p", "a float32 or float64 array"))
    }
}
