//! Output memory the kernels write without reading first: views between
//! initialized slices and `MaybeUninit` ones, and a zeroing pass for the
//! kernels that add into their output.

use super::matmul::Real;
use std::mem::MaybeUninit;

/// `v` as memory only written to: every value written is a `T`, so `v`
/// stays initialized.
#[inline(always)]
pub(crate) fn uninit_view<T>(v: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has the layout of `T`; the view covers
    // exactly v's elements and borrows v, and only `T` values are written
    // through it (`MaybeUninit::write`, copies of `T`).
    unsafe { &mut *(v as *mut [T] as *mut [MaybeUninit<T>]) }
}

/// Writes zeros into every element (on up to `threads` threads) and
/// returns the initialized slice.
pub(crate) fn zeroed<T: Real>(output: &mut [MaybeUninit<T>], threads: usize) -> &mut [T] {
    const CHUNK: usize = 1 << 16;
    crate::parallel::for_each_chunk_mut(threads, output, CHUNK, |_, chunk| {
        chunk.iter_mut().for_each(|v| {
            v.write(T::ZERO);
        });
    });
    // SAFETY: every element was just initialized, and `MaybeUninit<T>` has
    // the layout of `T`; the returned slice reborrows `output` mutably.
    unsafe { &mut *(output as *mut [MaybeUninit<T>] as *mut [T]) }
}
