//! convinit's Rust core.
//!
//! The kernels are plain functions on slices with no Python in them; the
//! `bindings` module (built only with the `python` feature) converts
//! arguments and errors for the `convinit._core` extension.
//!
//! Every `unsafe` block and `unsafe impl` carries a `// SAFETY:` comment and
//! every `unsafe fn` a `# Safety` section; the lints below keep it that way
//! (see docs/safety.md for the inventory).

#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::missing_safety_doc)]

pub mod conv;
pub mod error;
pub mod init;
mod hugepages;
pub mod parallel;
pub mod probe;
pub mod rng;

#[cfg(feature = "python")]
mod bindings;
