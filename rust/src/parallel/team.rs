//! The worker team `for_each_task` shares its tasks with.
//!
//! A sub-millisecond layer cannot afford to wake a sleeping thread per
//! call: rayon's scoped spawns took 30-70 µs to bring a parked worker in,
//! so a layer of 4 tasks of 50 µs on 2 threads took 140-170 µs instead of
//! 100. The team's workers therefore spin for `SPIN` after each job, waiting
//! for the next one (as OpenMP runtimes do), and only then sleep on a
//! condition variable.
//!
//! Progress never depends on a worker: after its own share the caller takes
//! tasks from the workers' shares until none is left, so with no worker
//! awake (or none at all, in a forked child) it simply runs them all itself.
//! A worker that joins a job it already helped with (a later wake-up reads
//! the job again) finds no task left, or takes ones nobody has: every task
//! index is handed out once. A call made while the
//! team serves another call (another Python thread, or a task that itself
//! calls `for_each_task`) runs inline on its caller instead of waiting.

use super::placement;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle worker watches for a new job before it sleeps.
const SPIN: Duration = Duration::from_micros(300);

/// The process-wide team: `effective_threads(0) - 1` workers, started on
/// the first parallel call.
struct Team {
    /// Whether a call is using the team (one at a time).
    busy: AtomicBool,
    /// Bumped for every job; workers compare it with the last one they saw.
    generation: AtomicUsize,
    /// The current job, and how many workers sleep waiting for the next.
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    job: Option<Arc<Job>>,
    sleeping: usize,
}

/// One call's tasks. `task` is the caller's closure with its lifetime
/// erased; it is only called for a task index taken from a `Share` below
/// its end, and the caller does not return before every such task is
/// `done`, so the closure outlives every call of it.
///
/// The tasks are cut into one consecutive share per seat (the caller's is
/// seat 0, worker `i` takes seat `i`), and each thread runs its own share
/// before it helps with the others'. So a thread mostly writes the same
/// part of the output in every call of a layer and finds those lines in
/// its own core's cache: a depthwise layer (8 x 192 x 28x28, 4.8 MB out)
/// on 2 threads of a Zen 5 VM took 0.19-0.20 ms (median of blocks) against
/// 0.21-0.22 with tasks handed out first come, first served. Which thread
/// runs a task never changes its result.
struct Job {
    task: *const (dyn Fn(usize) + Sync),
    /// The CPU the caller ran on when it posted the job.
    caller_cpu: Option<usize>,
    /// One per seat: the caller and the workers of the call's thread budget.
    shares: Box<[Share]>,
    tasks: usize,
    done: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// The tasks `next..end` of one seat, on a cache line of its own.
#[repr(align(128))]
struct Share {
    next: AtomicUsize,
    end: usize,
}

// SAFETY: the raw closure pointer is to a `Sync` closure, so calling it from
// several threads is allowed; when it may be called is argued at `Job`.
unsafe impl Send for Job {}
// SAFETY: as for Send: shared access only calls the `Sync` closure or
// touches atomics and a mutex.
unsafe impl Sync for Job {}

impl Job {
    fn new(task: *const (dyn Fn(usize) + Sync), helpers: usize, tasks: usize) -> Self {
        let seats = helpers + 1;
        let shares = (0..seats).map(|s| Share { next: AtomicUsize::new(s * tasks / seats), end: (s + 1) * tasks / seats }).collect();
        Job { task, caller_cpu: placement::current_cpu(), shares, tasks, done: AtomicUsize::new(0), panic: Mutex::new(None) }
    }

    /// Runs the tasks of seat `seat`'s share, then of the following
    /// seats' shares, until none is left. A panicking task still counts as
    /// done (so nobody waits for it forever); its payload is kept for the
    /// caller to re-raise.
    fn work(&self, seat: usize) {
        let seats = self.shares.len();
        for share in (0..seats).map(|k| &self.shares[(seat + k) % seats]) {
            loop {
                let i = share.next.fetch_add(1, Ordering::Relaxed);
                if i >= share.end {
                    break;
                }
                // SAFETY: i < end was taken from a share, so the caller is
                // still waiting for this task (see `Job`): the closure is alive.
                let task = unsafe { &*self.task };
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task(i))) {
                    self.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(payload);
                }
                self.done.fetch_add(1, Ordering::Release);
            }
        }
    }

    fn finished(&self) -> bool {
        self.done.load(Ordering::Acquire) >= self.tasks
    }
}

fn team() -> &'static Team {
    static TEAM: OnceLock<&'static Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let team: &'static Team = Box::leak(Box::new(Team {
            busy: AtomicBool::new(false),
            generation: AtomicUsize::new(0),
            state: Mutex::new(State { job: None, sleeping: 0 }),
            wake: Condvar::new(),
        }));
        for i in 1..super::effective_threads(0) {
            // A worker that cannot be started only means fewer helpers.
            let _ = std::thread::Builder::new().name(format!("convinit-{i}")).spawn(move || team.serve(i));
        }
        team
    })
}

impl Team {
    /// A worker's life: wait for a job, help with it (when the job has a
    /// seat `seat`), repeat.
    fn serve(&self, seat: usize) {
        let mut seen = 0;
        loop {
            seen = self.next_generation(seen);
            let job = self.state.lock().unwrap_or_else(|e| e.into_inner()).job.clone();
            if let Some(job) = job.filter(|job| seat < job.shares.len()) {
                if let Some(cpu) = job.caller_cpu {
                    placement::leave(cpu);
                }
                job.work(seat);
            }
        }
    }

    /// Spins until the generation differs from `seen`, sleeping after `SPIN`.
    fn next_generation(&self, seen: usize) -> usize {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let current = self.generation.load(Ordering::Acquire);
            if current != seen {
                return current;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.sleeping += 1;
                while self.generation.load(Ordering::Acquire) == seen {
                    state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                state.sleeping -= 1;
                return self.generation.load(Ordering::Acquire);
            }
            std::hint::spin_loop();
        }
    }
}

/// Runs tasks `0..tasks` on the caller and up to `helpers` workers.
pub(super) fn run(helpers: usize, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    let team = team();
    if team.busy.swap(true, Ordering::Acquire) {
        (0..tasks).for_each(task);
        return;
    }
    let task: *const (dyn Fn(usize) + Sync + '_) = task;
    // SAFETY: only the lifetime changes (same fat-pointer layout). The
    // pointer is called only for tasks taken from the job, and this
    // function waits below until every such task is done (see `Job`).
    let task: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(task) };
    let job = Arc::new(Job::new(task, helpers, tasks));
    {
        let mut state = team.state.lock().unwrap_or_else(|e| e.into_inner());
        state.job = Some(job.clone());
        team.generation.fetch_add(1, Ordering::Release);
        if state.sleeping > 0 {
            team.wake.notify_all();
        }
    }
    job.work(0);
    let mut spins = 0u32;
    while !job.finished() {
        spins = spins.wrapping_add(1);
        if spins > 1 << 16 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    team.state.lock().unwrap_or_else(|e| e.into_inner()).job = None;
    team.busy.store(false, Ordering::Release);
    let panic = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_cut_the_tasks_in_order_without_gaps() {
        let noop: &(dyn Fn(usize) + Sync) = &|_| {};
        for helpers in [0, 1, 2, 7] {
            for tasks in [0, 1, 2, 5, 96, 1001] {
                let job = Job::new(noop, helpers, tasks);
                assert_eq!(job.shares.len(), helpers + 1);
                let mut start = 0;
                for share in job.shares.iter() {
                    assert_eq!(share.next.load(Ordering::Relaxed), start);
                    assert!(share.end >= start && share.end - start <= tasks.div_ceil(helpers + 1));
                    start = share.end;
                }
                assert_eq!(start, tasks, "helpers = {helpers}");
            }
        }
    }
}
