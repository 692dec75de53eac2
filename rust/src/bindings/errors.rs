//! KernelError -> Python exception, and a guard that turns a kernel panic
//! (a bug) into a RuntimeError instead of letting it unwind into Python.

use crate::error::KernelError;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(crate) fn to_pyerr(err: KernelError) -> PyErr {
    match &err {
        KernelError::InvalidArgument { .. } => PyValueError::new_err(err.to_string()),
        KernelError::OutOfMemory { .. } => PyMemoryError::new_err(err.to_string()),
    }
}

pub(crate) fn type_error(argument: &str, expected: &str) -> PyErr {
    PyTypeError::new_err(format!("{argument}: expected {expected}"))
}

/// Runs a kernel, converting its error and catching any panic.
pub(crate) fn guarded<R>(kernel: impl FnOnce() -> Result<R, KernelError>) -> Result<R, PyErr> {
    match catch_unwind(AssertUnwindSafe(kernel)) {
        Ok(result) => result.map_err(to_pyerr),
        Err(_) => Err(PyRuntimeError::new_err(
            "internal error in a convinit kernel (this is a bug; please report the call that caused it)",
        )),
    }
}
