//! Bindings of the seeded fills. `convinit/init.py` validates shapes,
//! ranges and dtypes; the kernel re-checks the distribution parameters.

use super::conv::contiguous;
use super::errors::{guarded, type_error};
use crate::error::try_zeroed;
use crate::init::{self, Block, Distribution, Half, Sample};
use crate::rng::Isa;
use numpy::{Element, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fill, m)?)?;
    m.add_function(wrap_pyfunction!(fill_into, m)?)?;
    m.add_function(wrap_pyfunction!(ndtri, m)?)?;
    m.add_function(wrap_pyfunction!(fill_region, m)?)?;
    m.add_function(wrap_pyfunction!(fill_region_into, m)?)?;
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

/// The output type of a region fill: float32/float64, or a 16-bit format
/// stored as uint16 bit patterns.
enum Output {
    F32,
    F64,
    Half(Half),
}

fn output_of(dtype: &str) -> PyResult<Output> {
    match dtype {
        "float32" => Ok(Output::F32),
        "float64" => Ok(Output::F64),
        _ => Half::from_name(dtype).map(Output::Half).ok_or_else(|| type_error("dtype", "float32, float64, bfloat16 or float16")),
    }
}

/// The arguments every region fill shares.
struct RegionFill {
    d: Distribution,
    seed: u64,
    stream: u64,
    block: Block,
    threads: usize,
}

impl RegionFill {
    fn new(kind: &str, params: &[f64], (seed, stream): (u64, u64), shape: &[u64], region: &[(u64, u64)], threads: usize) -> PyResult<Self> {
        let d = Distribution::from_parts(kind, params).map_err(super::errors::to_pyerr)?;
        let block = Block::new(shape, region).map_err(super::errors::to_pyerr)?;
        Ok(RegionFill { d, seed, stream, block, threads })
    }

    fn write<T: Sample>(&self, out: &mut [T]) -> Result<(), crate::error::KernelError> {
        init::fill_block(&self.d, self.seed, self.stream, &self.block, out, self.threads)
    }

    fn write_half(&self, format: Half, out: &mut [u16]) -> Result<(), crate::error::KernelError> {
        init::fill_block_half(Isa::best(), &self.d, self.seed, self.stream, &self.block, format, out, self.threads)
    }

    fn new_array<'py, T: Element + Copy + Default + Send>(
        &self,
        py: Python<'py>,
        write: impl FnOnce(&Self, &mut [T]) -> Result<(), crate::error::KernelError> + Send,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        let values = py.detach(|| {
            guarded(|| {
                let mut out = try_zeroed::<T>(self.block.len(), "the fill")?;
                write(self, &mut out)?;
                Ok(out)
            })
        })?;
        Ok(PyArray1::from_vec(py, values).as_untyped().clone())
    }
}

/// A new 1-D array: the block `region` (one (start, stop) per axis) of the
/// fill of a tensor of `shape`, in C order; dtype "float32", "float64", or
/// "bfloat16"/"float16" returned as uint16 bit patterns.
#[pyfunction]
#[pyo3(signature = (kind, params, dtype, seed, stream, shape, region, threads))]
#[allow(clippy::too_many_arguments)]
fn fill_region<'py>(
    py: Python<'py>,
    kind: &str,
    params: Vec<f64>,
    dtype: &str,
    seed: u64,
    stream: u64,
    shape: Vec<u64>,
    region: Vec<(u64, u64)>,
    threads: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let output = output_of(dtype)?;
    let fill = RegionFill::new(kind, &params, (seed, stream), &shape, &region, threads)?;
    match output {
        Output::F32 => fill.new_array::<f32>(py, |f, out| f.write(out)),
        Output::F64 => fill.new_array::<f64>(py, |f, out| f.write(out)),
        Output::Half(format) => fill.new_array::<u16>(py, move |f, out| f.write_half(format, out)),
    }
}

fn writable_slice<'py, T: Element>(out: &'py Bound<'py, PyAny>, dtype: &str) -> PyResult<numpy::PyReadwriteArrayDyn<'py, T>> {
    let array = out.cast::<PyArrayDyn<T>>().map_err(|_| type_error("tensor", &format!("an array matching dtype {dtype}")))?;
    // Element i of a region is the i-th in C order: a Fortran-ordered target
    // (which as_slice_mut accepts) would receive a transposed block.
    if !array.is_c_contiguous() {
        return Err(type_error("tensor", "a C-contiguous array"));
    }
    array.try_readwrite().map_err(|_| type_error("tensor", "a writable array not borrowed elsewhere"))
}

/// Writes the block `region` of the fill of a tensor of `shape` into the
/// C-contiguous writable array `out` (float32, float64, or uint16 holding
/// "bfloat16"/"float16" bit patterns), whose size must be the block's.
#[pyfunction]
#[pyo3(signature = (out, kind, params, dtype, seed, stream, shape, region, threads))]
#[allow(clippy::too_many_arguments)]
fn fill_region_into(
    py: Python<'_>,
    out: &Bound<'_, PyAny>,
    kind: &str,
    params: Vec<f64>,
    dtype: &str,
    seed: u64,
    stream: u64,
    shape: Vec<u64>,
    region: Vec<(u64, u64)>,
    threads: usize,
) -> PyResult<()> {
    let output = output_of(dtype)?;
    let fill = RegionFill::new(kind, &params, (seed, stream), &shape, &region, threads)?;
    let contiguous = |_: ()| type_error("tensor", "a C-contiguous array");
    match output {
        Output::F32 => {
            let mut guard = writable_slice::<f32>(out, dtype)?;
            let values = guard.as_slice_mut().map_err(|_| contiguous(()))?;
            py.detach(|| guarded(|| fill.write(values)))
        }
        Output::F64 => {
            let mut guard = writable_slice::<f64>(out, dtype)?;
            let values = guard.as_slice_mut().map_err(|_| contiguous(()))?;
            py.detach(|| guarded(|| fill.write(values)))
        }
        Output::Half(format) => {
            let mut guard = writable_slice::<u16>(out, dtype)?;
            let values = guard.as_slice_mut().map_err(|_| contiguous(()))?;
            py.detach(|| guarded(|| fill.write_half(format, values)))
        }
    }
}
