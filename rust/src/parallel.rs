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
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T>(pub *mut T);

impl<T> SharedMut<T> {
    /// The pointer. (A method, so closures capture the whole Send wrapper
    /// rather than its raw-pointer field.)
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: SharedMut is only handed to tasks that write disjoint index ranges
// of one live allocation, which outlives the parallel section that uses it.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above; no two tasks touch the same element.
unsafe impl<T: Send> Sync for SharedMut<T> {}
