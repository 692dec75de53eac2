//! Per-thread scratch buffers for the im2col tiles, kept between calls.
//!
//! Allocating and zeroing a fresh megabyte per task cost up to a tenth of a
//! small convolution. Every kernel writes the part of its scratch it reads
//! (im2col packs whole rows, the first GEMM of a reduction overwrites), so
//! what an earlier call left behind is never seen.

use std::cell::RefCell;
use std::thread::LocalKey;

thread_local! {
    static F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    static F32_CALL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static F64_CALL: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Element types with a per-thread scratch buffer.
pub trait Scratch: Copy + Default + 'static {
    /// Runs `work` on this thread's scratch buffer of at least `len` elements.
    fn with_scratch<R>(len: usize, work: impl FnOnce(&mut [Self]) -> R) -> R;

    /// As `with_scratch`, for a buffer the calling thread fills once per
    /// call and its tasks then share (Winograd's transformed weights): a
    /// second buffer, so the tasks the caller also runs can borrow the first.
    fn with_call_scratch<R>(len: usize, work: impl FnOnce(&mut [Self]) -> R) -> R;
}

impl Scratch for f32 {
    fn with_scratch<R>(len: usize, work: impl FnOnce(&mut [Self]) -> R) -> R {
        borrow(&F32, len, work)
    }

    fn with_call_scratch<R>(len: usize, work: impl FnOnce(&mut [Self]) -> R) -> R {
        borrow(&F32_CALL, len, work)
    }
}

impl Scratch for f64 {
    fn with_scratch<R>(len: usize, work: impl FnOnce(&mut [Self]) -> R) -> R {
        borrow(&F64, len, work)
    }

    fn with_call_scratch<R>(len: usize, work: impl FnOnce(&mut [Self]) -> R) -> R {
        borrow(&F64_CALL, len, work)
    }
}

/// Scratch buffers start on a cache line: the kernels' 64-byte vector
/// loads from them then never straddle two lines.
const ALIGN_BYTES: usize = 64;

fn borrow<T: Copy + Default, R>(
    key: &'static LocalKey<RefCell<Vec<T>>>,
    len: usize,
    work: impl FnOnce(&mut [T]) -> R,
) -> R {
    let slack = ALIGN_BYTES / std::mem::size_of::<T>();
    let aligned = |buffer: &mut [T]| {
        let skip = buffer.as_ptr().align_offset(ALIGN_BYTES).min(slack);
        work(&mut buffer[skip..][..len])
    };
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < len + slack {
                buffer.resize(len + slack, T::default());
            }
            aligned(&mut buffer)
        }
        // Already in use further up this thread's stack (a task that waits on
        // another): that one gets a buffer of its own.
        Err(_) => aligned(&mut vec![T::default(); len + slack]),
    })
}
