//! Bindings of the convolution kernels. Arguments arrive validated and
//! normalized by `convinit/conv.py`: C-contiguous arrays of one float dtype,
//! one integer per spatial axis.

use super::errors::{guarded, type_error};
use crate::conv::{self, Algorithm, ConvParams, ConvShape, PaddingMode, Real};
use crate::error::{try_with_capacity, try_zeroed, KernelError};
use numpy::{Element, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// Calls `$typed::<f32>` or `$typed::<f64>` with `$array` cast to the
/// matching array type, or raises TypeError for any other dtype.
macro_rules! dispatch_float_impl {
    ($name:literal, $array:expr, $typed:ident($($arg:expr),*)) => {
        if let Ok(x) = $array.cast::<PyArrayDyn<f32>>() {
            $typed($($arg,)* x)
        } else if let Ok(x) = $array.cast::<PyArrayDyn<f64>>() {
            $typed($($arg,)* x)
        } else {
            Err(type_error($name, "a float32 or float64 array"))
        }
    };
}

pub(super) use dispatch_float_impl as dispatch_float;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(conv_forward, m)?)?;
    m.add_function(wrap_pyfunction!(conv_algorithm, m)?)?;
    m.add_function(wrap_pyfunction!(conv_tiles, m)?)?;
    m.add_function(wrap_pyfunction!(unfold, m)?)?;
    m.add_function(wrap_pyfunction!(fold, m)?)?;
    Ok(())
}

/// Per-axis window parameters of unfold/fold: `(stride, dilation, padding)`,
/// zero padding on both sides.
pub(super) struct Axes(Vec<usize>, Vec<usize>, Vec<usize>);

impl Axes {
    fn params(&self) -> ConvParams<'_> {
        let Axes(stride, dilation, padding) = self;
        ConvParams { stride, dilation, pad_before: padding, pad_after: padding, groups: 1, padding_mode: PaddingMode::Zeros }
    }
}

/// Everything but the arrays that defines a convolution, as Python's
/// `ConvCall.geometry()` passes it: `(stride, dilation, pad_before,
/// pad_after, groups, padding_mode)`.
#[derive(FromPyObject)]
pub(super) struct Geometry(Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>, usize, String);

impl Geometry {
    /// The shape of input `(N, C, *spatial)` convolved with weight `(O, C/groups, *kernel)`.
    pub(super) fn shape(&self, in_shape: &[usize], w_shape: &[usize]) -> Result<ConvShape, KernelError> {
        let Geometry(stride, dilation, pad_before, pad_after, groups, padding_mode) = self;
        let padding_mode = PaddingMode::parse(padding_mode)?;
        let params = ConvParams { stride, dilation, pad_before, pad_after, groups: *groups, padding_mode };
        ConvShape::of_tensors(in_shape, w_shape, &params)
    }
}

/// `array` cast to the element type `T` of the array it must match.
pub(super) fn same_dtype<'a, 'py, T: Element>(name: &str, array: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyArrayDyn<T>>> {
    array.cast::<PyArrayDyn<T>>().map_err(|_| type_error(name, "the dtype of the other arrays"))
}

/// A shared borrow of `array` registered with numpy's borrow tracking, so
/// that while a kernel reads it with the GIL released no Rust code in this
/// process can write it (`fill_into` on the same array from another thread
/// gets a borrow error instead of racing with the read).
pub(super) fn readonly<'py, T: Element>(name: &str, array: &Bound<'py, PyArrayDyn<T>>) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    array.try_readonly().map_err(|_| type_error(name, "an array that is not being written elsewhere"))
}

/// The elements of a borrowed array, in C order.
pub(super) fn contiguous<'a, T: Element>(name: &str, array: &'a PyReadonlyArrayDyn<'_, T>) -> PyResult<&'a [T]> {
    // as_slice also accepts Fortran order, which the kernels would misread.
    if !array.is_c_contiguous() {
        return Err(type_error(name, "a C-contiguous array"));
    }
    // Also fails for a misaligned array (e.g. np.frombuffer at an odd offset).
    array.as_slice().map_err(|_| type_error(name, "an aligned, C-contiguous array"))
}

pub(super) fn into_array<'py, T: Element>(py: Python<'py>, data: Vec<T>, shape: &[usize]) -> PyResult<Bound<'py, PyUntypedArray>> {
    Ok(PyArray1::from_vec(py, data).reshape(shape)?.as_untyped().clone())
}

fn conv_forward_typed<'py, T: Real + Element>(
    py: Python<'py>,
    weight: &Bound<'py, PyAny>,
    bias: Option<&Bound<'py, PyAny>>,
    geometry: &Geometry,
    (threads, algorithm): (usize, Algorithm),
    input: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let weight = same_dtype::<T>("weight", weight)?;
    let bias = bias.map(|b| same_dtype::<T>("bias", b)).transpose()?;
    let (in_shape, w_shape) = (input.shape().to_vec(), weight.shape().to_vec());
    let (x, w) = (readonly("input", input)?, readonly("weight", weight)?);
    let (x, w) = (contiguous("input", &x)?, contiguous("weight", &w)?);
    let b = bias.map(|b| readonly("bias", b)).transpose()?;
    let b = b.as_ref().map(|b| contiguous("bias", b)).transpose()?;
    let (shape, data) = py.detach(|| {
        guarded(|| {
            let shape = geometry.shape(&in_shape, &w_shape)?;
            algorithm.resolve(&shape)?;
            let len = shape.output_len();
            let mut out = try_with_capacity::<T>(len, "the output")?;
            conv::conv_forward_uninit(algorithm, &shape, x, w, b, &mut out.spare_capacity_mut()[..len], threads)?;
            // SAFETY: conv_forward_uninit returned Ok, so it initialized all
            // `len` elements of the spare capacity.
            unsafe { out.set_len(len) };
            Ok((shape, out))
        })
    })?;
    into_array(py, data, &output_shape(&shape, in_shape.len() - 2))
}

/// (N, O, *output spatial) with as many spatial axes as the caller's arrays.
pub(super) fn output_shape(shape: &ConvShape, spatial: usize) -> Vec<usize> {
    let mut dims = vec![shape.batch(), shape.out_channels()];
    dims.extend_from_slice(&shape.output_dims()[3 - spatial..]);
    dims
}

/// Convolution forward. `input` (N, C, *spatial) and `weight` (O, C/groups,
/// *kernel) are C-contiguous arrays of one float dtype; returns (N, O, *out).
#[pyfunction]
#[pyo3(signature = (input, weight, bias, geometry, threads, algorithm = "auto"))]
fn conv_forward<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    weight: &Bound<'py, PyAny>,
    bias: Option<&Bound<'py, PyAny>>,
    geometry: Geometry,
    threads: usize,
    algorithm: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let algorithm = Algorithm::parse(algorithm).map_err(super::errors::to_pyerr)?;
    dispatch_float!("input", input, conv_forward_typed(py, weight, bias, &geometry, (threads, algorithm)))
}

/// The kernel `algorithm` resolves to for a convolution of these shapes
/// (`"auto"` gives the one the rule picks), or ValueError if it cannot
/// compute them.
#[pyfunction]
#[pyo3(signature = (input_shape, weight_shape, geometry, algorithm = "auto"))]
fn conv_algorithm(input_shape: Vec<usize>, weight_shape: Vec<usize>, geometry: Geometry, algorithm: &str) -> PyResult<&'static str> {
    let resolve = || Algorithm::parse(algorithm)?.resolve(&geometry.shape(&input_shape, &weight_shape)?);
    resolve().map(Algorithm::name).map_err(super::errors::to_pyerr)
}

/// The instruction set of the register tiles implicit GEMM and Winograd
/// run on this CPU: "avx512", "avx2" or "portable" (the same bits in each).
#[pyfunction]
fn conv_tiles() -> &'static str {
    conv::tile_isa().name()
}

/// A 2-axis-or-more sliding window over `spatial` with zero padding.
fn unfold_shape(batch: usize, channels: usize, spatial: &[usize], kernel: &[usize], axes: &Axes) -> Result<ConvShape, KernelError> {
    let windows = axes.params().windows(spatial, kernel)?;
    ConvShape::new(batch, channels, 1, 1, &windows, PaddingMode::Zeros)
}

fn unfold_typed<'py, T: Real + Element>(
    py: Python<'py>,
    kernel: &[usize],
    axes: Axes,
    threads: usize,
    input: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let in_shape = input.shape().to_vec();
    if in_shape.len() < 3 {
        return Err(type_error("input", "an array (N, C, *spatial)"));
    }
    let x = readonly("input", input)?;
    let x = contiguous("input", &x)?;
    let (shape, data) = py.detach(|| {
        guarded(|| {
            let shape = unfold_shape(in_shape[0], in_shape[1], &in_shape[2..], kernel, &axes)?;
            let rows = shape.in_channels() * shape.kernel_taps();
            let mut out = try_zeroed::<T>(shape.batch() * rows * shape.output_pixels(), "the output")?;
            conv::unfold(&shape, x, &mut out, threads)?;
            Ok((shape, out))
        })
    })?;
    let rows = shape.in_channels() * shape.kernel_taps();
    into_array(py, data, &[shape.batch(), rows, shape.output_pixels()])
}

/// im2col: (N, C, *spatial) -> (N, C * prod(kernel), L), zero padding.
#[pyfunction]
#[pyo3(signature = (input, kernel_size, dilation, padding, stride, threads))]
fn unfold<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    kernel_size: Vec<usize>,
    dilation: Vec<usize>,
    padding: Vec<usize>,
    stride: Vec<usize>,
    threads: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let axes = Axes(stride, dilation, padding);
    dispatch_float!("input", input, unfold_typed(py, &kernel_size, axes, threads))
}

fn fold_typed<'py, T: Real + Element>(
    py: Python<'py>,
    output_size: &[usize],
    kernel: &[usize],
    axes: Axes,
    threads: usize,
    cols: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let c_shape = cols.shape().to_vec();
    if c_shape.len() != 3 {
        return Err(type_error("input", "an array (N, C * prod(kernel_size), L)"));
    }
    let taps: usize = kernel.iter().product();
    if taps == 0 || c_shape[1] % taps != 0 {
        return Err(to_value_error("input", format!("dimension 1 ({}) is not divisible by prod(kernel_size) = {taps}", c_shape[1])));
    }
    let y = readonly("input", cols)?;
    let y = contiguous("input", &y)?;
    let (shape, data) = py.detach(|| {
        guarded(|| {
            let shape = unfold_shape(c_shape[0], c_shape[1] / taps, output_size, kernel, &axes)?;
            if shape.output_pixels() != c_shape[2] {
                return Err(KernelError::invalid(
                    "input",
                    format!("expected {} blocks (L) for output_size {output_size:?}, got {}", shape.output_pixels(), c_shape[2]),
                ));
            }
            let mut out = try_zeroed::<T>(shape.input_len(), "the output")?;
            conv::fold(&shape, y, &mut out, threads)?;
            Ok((shape, out))
        })
    })?;
    let mut out_shape = vec![shape.batch(), shape.in_channels()];
    out_shape.extend_from_slice(output_size);
    into_array(py, data, &out_shape)
}

fn to_value_error(argument: &'static str, message: String) -> PyErr {
    super::errors::to_pyerr(KernelError::invalid(argument, message))
}

/// col2im: (N, C * prod(kernel), L) -> (N, C, *output_size), summing overlaps.
#[pyfunction]
#[pyo3(signature = (input, output_size, kernel_size, dilation, padding, stride, threads))]
#[allow(clippy::too_many_arguments)]
fn fold<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    output_size: Vec<usize>,
    kernel_size: Vec<usize>,
    dilation: Vec<usize>,
    padding: Vec<usize>,
    stride: Vec<usize>,
    threads: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let axes = Axes(stride, dilation, padding);
    dispatch_float!("input", input, fold_typed(py, &output_size, &kernel_size, axes, threads))
}
