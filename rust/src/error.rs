//! The typed error every kernel returns; the bindings map each variant to a
//! Python exception class.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// An argument has a value the kernel cannot accept (Python ValueError).
    InvalidArgument { argument: &'static str, message: String },
    /// A buffer or shape would not fit in memory (Python MemoryError).
    OutOfMemory { what: &'static str, bytes: u128 },
}

impl KernelError {
    pub fn invalid(argument: &'static str, message: impl Into<String>) -> Self {
        KernelError::InvalidArgument { argument, message: message.into() }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::InvalidArgument { argument, message } => write!(f, "{argument}: {message}"),
            KernelError::OutOfMemory { what, bytes } => {
                write!(f, "{what} needs {bytes} bytes, more than can be allocated")
            }
        }
    }
}

impl std::error::Error for KernelError {}

pub type KernelResult<T> = Result<T, KernelError>;

/// An empty vector with room for `len` elements, or `OutOfMemory` naming
/// `what` (for outputs a kernel writes whole, see `conv_forward_uninit`).
pub fn try_with_capacity<T>(len: usize, what: &'static str) -> KernelResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| KernelError::OutOfMemory { what, bytes: len as u128 * std::mem::size_of::<T>() as u128 })?;
    crate::hugepages::advise(v.as_ptr(), len * std::mem::size_of::<T>());
    Ok(v)
}

/// A zero-filled vector of `len` elements, or `OutOfMemory` instead of an abort.
pub fn try_zeroed<T: Copy + Default>(len: usize, what: &'static str) -> KernelResult<Vec<T>> {
    let oom = || KernelError::OutOfMemory {
        what,
        bytes: len as u128 * std::mem::size_of::<T>() as u128,
    };
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| oom())?;
    crate::hugepages::advise(v.as_ptr(), len * std::mem::size_of::<T>());
    v.resize(len, T::default());
    Ok(v)
}
