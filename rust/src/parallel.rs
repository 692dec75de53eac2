//! Thread pools by size. Kernels split work into pieces whose boundaries
//! never depend on the number of threads, so any pool gives the same bits.

use crate::error::{KernelError, KernelResult};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

thread_local! {
    /// The calling thread's pools, by size. Per caller, so that several
    /// Python threads asking for `threads=1` each get a worker of their own
    /// rather than queueing on one shared single-worker pool.
    static POOLS: RefCell<HashMap<usize, Arc<ThreadPool>>> = RefCell::new(HashMap::new());
}

fn pool_of(threads: usize) -> KernelResult<Arc<ThreadPool>> {
    POOLS.with(|pools| {
        let mut map = pools.borrow_mut();
        if let Some(pool) = map.get(&threads) {
            return Ok(pool.clone());
        }
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("convinit-{i}"))
            .build()
            .map_err(|e| KernelError::ThreadPool(e.to_string()))?;
        let pool = Arc::new(pool);
        map.insert(threads, pool.clone());
        Ok(pool)
    })
}

/// Runs `work` on a pool of `threads` workers; 0 means rayon's global pool
/// (one worker per core).
pub fn run_with_threads<R, F>(threads: usize, work: F) -> KernelResult<R>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    if threads == 0 {
        return Ok(work());
    }
    Ok(pool_of(threads)?.install(work))
}

/// The number of workers `threads` stands for.
pub fn effective_threads(threads: usize) -> usize {
    if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    }
}

/// A raw pointer that worker threads may share because each writes a
/// disjoint part of the buffer behind it.
///
/// Holding or copying one is harmless; every dereference is an `unsafe`
/// block at the use site (conv forward and backward) whose SAFETY comment
/// shows that the task's elements lie inside the buffer and that no other
/// task touches them. The buffer is a `&mut [T]` borrowed for the whole
/// `run_with_threads` call that the tasks run in, so it outlives them and
/// nothing else reads or writes it meanwhile.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T>(pub *mut T);

impl<T> SharedMut<T> {
    /// The pointer. (A method, so closures capture the whole Send wrapper
    /// rather than its raw-pointer field.)
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: moving the pointer to another thread lets that thread write `T`
// values into the buffer, which is sound for `T: Send`. Sending the pointer
// creates no access by itself: each write happens in an `unsafe` block that
// proves its range is in bounds and owned by that task alone, inside the
// `run_with_threads` call during which the `&mut [T]` it came from is
// borrowed (so the allocation is live and otherwise unused).
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: `&SharedMut<T>` only yields a copy of the pointer (`get`), so
// sharing it is the same as sending copies, justified above; no two tasks
// write the same element and none reads another task's elements.
unsafe impl<T: Send> Sync for SharedMut<T> {}
