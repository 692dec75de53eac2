//! convinit's Rust core.
//!
//! The kernels are plain functions on slices with no Python in them; the
//! `bindings` module (built only with the `python` feature) converts
//! arguments and errors for the `convinit._core` extension.

pub mod conv;
pub mod error;
pub mod init;
pub mod parallel;
pub mod probe;
pub mod rng;

#[cfg(feature = "python")]
mod bindings;
