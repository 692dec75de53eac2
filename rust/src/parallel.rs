//! Work sharing on one process-wide pool of workers.
//!
//! Every parallel kernel cuts its work into tasks such that no output
//! element's sum depends on where the cuts fall (a cut may follow the
//! thread count only where it changes no operation), and runs them here. A call
//! with `threads = k` runs its tasks on at most `k` threads: the calling
//! thread plus `k - 1` workers of one process-wide team (`team`: one thread
//! per core but the caller's, or per `RAYON_NUM_THREADS`, the size of
//! rayon's global pool, which the fills use), which is created once. So a
//! sweep over `threads = 1..1000` or a hundred short-lived Python threads
//! add no OS threads, and `threads = 1` runs entirely on the caller:
//! several Python threads making single-threaded calls each compute on
//! their own thread.

mod placement;
mod team;

/// The number of threads a call with `threads` uses at most: 0 means one
/// per worker of the pool; more than the pool has are not started.
pub fn effective_threads(threads: usize) -> usize {
    let pool = rayon::current_num_threads().max(1);
    if threads == 0 {
        pool
    } else {
        threads.min(pool)
    }
}

/// Runs `task(i)` for every `i` in `0..tasks`, each exactly once, on at most
/// `effective_threads(threads)` threads. Each thread starts on a consecutive
/// share of the tasks of its own and then helps with the others', so which
/// thread runs a task depends on timing: a task must compute the same thing
/// wherever it runs.
pub fn for_each_task<F>(threads: usize, tasks: usize, task: F)
where
    F: Fn(usize) + Sync,
{
    let threads = effective_threads(threads).min(tasks);
    if threads <= 1 {
        (0..tasks).for_each(task);
        return;
    }
    team::run(threads - 1, tasks, &task);
}

/// Runs `work(i, chunk)` for the consecutive chunks of `chunk_len` elements
/// of `data` (the last may be shorter), as `for_each_task` does.
pub fn for_each_chunk_mut<T, F>(threads: usize, data: &mut [T], chunk_len: usize, work: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    let (len, chunk_len) = (data.len(), chunk_len.max(1));
    let base = SharedMut(data.as_mut_ptr());
    for_each_task(threads, len.div_ceil(chunk_len), |i| {
        let start = i * chunk_len;
        // SAFETY: chunk i is elements start .. start + n of `data`, with
        // start < len (i < ceil(len / chunk_len)) and n <= len - start, so it
        // is in bounds; chunks of distinct i are disjoint and each i runs
        // once, so no two threads touch one element; `data` is mutably
        // borrowed for this whole call, which outlives every task.
        let chunk = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), chunk_len.min(len - start)) };
        work(i, chunk)
    })
}

/// A raw pointer that worker threads may share because each writes a
/// disjoint part of the buffer behind it.
///
/// Holding or copying one is harmless; every dereference is an `unsafe`
/// block at the use site whose SAFETY comment shows that the task's
/// elements lie inside the buffer and that no other task touches them. The
/// buffer is a `&mut [T]` borrowed for the whole `for_each_task` call that
/// the tasks run in, so it outlives them and nothing else reads or writes
/// it meanwhile.
pub(crate) struct SharedMut<T>(pub *mut T);

// Manual impls: a derive would demand `T: Copy`, but copying the pointer
// copies no `T`.
impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedMut<T> {}

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
// `for_each_task` call during which the `&mut [T]` it came from is
// borrowed (so the allocation is live and otherwise unused).
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: `&SharedMut<T>` only yields a copy of the pointer (`get`), so
// sharing it is the same as sending copies, justified above; no two tasks
// write the same element and none reads another task's elements.
unsafe impl<T: Send> Sync for SharedMut<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_task_runs_once_for_any_thread_count() {
        for threads in [0, 1, 2, 3, 64, 1000] {
            for tasks in [1, 2, 3, 37, 1000] {
                let seen = Mutex::new(vec![0u32; tasks]);
                for_each_task(threads, tasks, |i| seen.lock().unwrap()[i] += 1);
                assert!(seen.into_inner().unwrap().iter().all(|&n| n == 1), "threads = {threads}, tasks = {tasks}");
            }
        }
    }

    #[test]
    fn chunks_cover_the_slice() {
        let mut data = vec![0usize; 103];
        for_each_chunk_mut(3, &mut data, 10, |i, chunk| chunk.iter_mut().for_each(|v| *v += i + 1));
        assert!(data.iter().enumerate().all(|(j, &v)| v == j / 10 + 1));
        for_each_chunk_mut(2, &mut [0u8; 0], 4, |_, _| panic!("no chunks in an empty slice"));
    }

    #[test]
    fn a_panicking_task_reaches_the_caller_and_the_team_carries_on() {
        let caught = std::panic::catch_unwind(|| {
            for_each_task(2, 16, |i| {
                if i == 11 {
                    panic!("task 11 fails");
                }
            })
        });
        let message = caught.expect_err("the panic must reach the caller");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"task 11 fails"));
        let seen = Mutex::new(vec![0u32; 40]);
        for_each_task(2, 40, |i| seen.lock().unwrap()[i] += 1);
        assert!(seen.into_inner().unwrap().iter().all(|&n| n == 1));
    }

    #[test]
    fn nested_and_concurrent_calls_run_every_task_once() {
        let seen = Mutex::new(vec![0u32; 8 * 6 * 5]);
        std::thread::scope(|scope| {
            for caller in 0..8 {
                let seen = &seen;
                scope.spawn(move || {
                    for_each_task(2, 6, |outer| {
                        for_each_task(2, 5, |inner| seen.lock().unwrap()[(caller * 6 + outer) * 5 + inner] += 1)
                    })
                });
            }
        });
        assert!(seen.into_inner().unwrap().iter().all(|&n| n == 1));
    }

    #[test]
    fn threads_never_exceed_the_pool() {
        assert_eq!(effective_threads(0), rayon::current_num_threads());
        assert_eq!(effective_threads(10_000), rayon::current_num_threads());
        assert_eq!(effective_threads(1), 1);
    }
}
