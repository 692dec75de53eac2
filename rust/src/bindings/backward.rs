//! Bindings of the convolution gradients. Python (`convinit/backward.py`)
//! validates shapes first and composes the pieces it needs.

use super::conv::{contiguous, dispatch_float, into_array, readonly, same_dtype, Geometry};
use super::errors::{guarded, type_error};
use crate::conv::{self, Real};
use crate::error::{try_with_capacity, try_zeroed, KernelError};
use numpy::{Element, PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(conv_backward_input, m)?)?;
    m.add_function(wrap_pyfunction!(conv_backward_weight, m)?)?;
    Ok(())
}

fn check_grad_output(expected: &[usize], actual: &[usize]) -> Result<(), KernelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KernelError::invalid("grad_output", format!("expected shape {expected:?}, got {actual:?}")))
    }
}

fn backward_input_typed<'py, T: Real + Element>(
    py: Python<'py>,
    weight: &Bound<'py, PyAny>,
    input_shape: &[usize],
    geometry: &Geometry,
    threads: usize,
    grad_output: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let weight = same_dtype::<T>("weight", weight)?;
    let (w_shape, dy_shape) = (weight.shape().to_vec(), grad_output.shape().to_vec());
    let (w, dy) = (readonly("weight", weight)?, readonly("grad_output", grad_output)?);
    let (w, dy) = (contiguous("weight", &w)?, contiguous("grad_output", &dy)?);
    let data = py.detach(|| {
        guarded(|| {
            let shape = geometry.shape(input_shape, &w_shape)?;
            check_grad_output(&super::conv::output_shape(&shape, input_shape.len() - 2), &dy_shape)?;
            let len = shape.input_len();
            let mut dx = try_with_capacity::<T>(len, "grad_input")?;
            conv::conv_backward_input_uninit(&shape, w, dy, &mut dx.spare_capacity_mut()[..len], threads)?;
            // SAFETY: conv_backward_input_uninit returned Ok, so it
            // initialized all `len` elements of the spare capacity.
            unsafe { dx.set_len(len) };
            Ok(dx)
        })
    })?;
    into_array(py, data, input_shape)
}

/// Gradient of a convolution with respect to its input of shape `input_shape`.
#[pyfunction]
#[pyo3(signature = (weight, grad_output, input_shape, geometry, threads))]
fn conv_backward_input<'py>(
    py: Python<'py>,
    weight: &Bound<'py, PyAny>,
    grad_output: &Bound<'py, PyAny>,
    input_shape: Vec<usize>,
    geometry: Geometry,
    threads: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    dispatch_float!("grad_output", grad_output, backward_input_typed(py, weight, &input_shape, &geometry, threads))
}

fn backward_weight_typed<'py, T: Real + Element>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    weight_shape: &[usize],
    geometry: &Geometry,
    threads: usize,
    grad_output: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let input = same_dtype::<T>("input", input)?;
    let (in_shape, dy_shape) = (input.shape().to_vec(), grad_output.shape().to_vec());
    let (x, dy) = (readonly("input", input)?, readonly("grad_output", grad_output)?);
    let (x, dy) = (contiguous("input", &x)?, contiguous("grad_output", &dy)?);
    let data = py.detach(|| {
        guarded(|| {
            let shape = geometry.shape(&in_shape, weight_shape)?;
            check_grad_output(&super::conv::output_shape(&shape, in_shape.len() - 2), &dy_shape)?;
            let mut dw = try_zeroed::<T>(shape.weight_len(), "grad_weight")?;
            conv::conv_backward_weight(&shape, x, dy, &mut dw, threads)?;
            Ok(dw)
        })
    })?;
    into_array(py, data, weight_shape)
}

/// Gradient of a convolution with respect to its weight of shape `weight_shape`.
#[pyfunction]
#[pyo3(signature = (input, grad_output, weight_shape, geometry, threads))]
fn conv_backward_weight<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    grad_output: &Bound<'py, PyAny>,
    weight_shape: Vec<usize>,
    geometry: Geometry,
    threads: usize,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    dispatch_float!("grad_output", grad_output, backward_weight_typed(py, input, &weight_shape, &geometry, threads))
}
