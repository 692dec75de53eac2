//! The `convinit._core` extension module: registration only. Each submodule
//! converts Python arguments, releases the GIL around one kernel call and
//! maps `KernelError` to Python exceptions.

mod backward;
mod conv;
mod errors;
mod init;
mod probe;
mod rng;
mod torch_rng;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    conv::register(m)?;
    backward::register(m)?;
    rng::register(m)?;
    init::register(m)?;
    probe::register(m)?;
    torch_rng::register(m)?;
    Ok(())
}
