//! Keeps a worker off its caller's CPU (Linux).
//!
//! A worker that sleeps between calls is woken by the caller, and the
//! kernel may wake it on the caller's own CPU: on a 2-vCPU VM it did so
//! for most layers timed after a pause, and the load balancer, which does
//! not move a task that ran within the last half millisecond (a spinning
//! worker always has), left both threads sharing one CPU for whole blocks
//! of calls while the other CPU idled (scheduler statistics: each ran half
//! the time and waited half). A depthwise layer then took as long on 2
//! threads as on 1 (0.34 ms against 0.21). So a worker that finds itself on
//! its caller's CPU when a job starts asks to leave it: it narrows its CPU
//! mask to exclude that CPU, which migrates it at once, and restores its
//! mask, leaving the kernel free to place it later. Masks the user set are
//! respected (a worker never runs where its mask did not allow).

/// The CPU the calling thread runs on, if the platform says.
pub(crate) fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu takes no arguments and touches no memory of ours.
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Moves the calling thread off `cpu` if it runs there and its mask allows
/// another CPU; its mask is as before afterwards. Best effort: a failed
/// call leaves the thread where it is.
pub(crate) fn leave(cpu: usize) {
    #[cfg(target_os = "linux")]
    if current_cpu() == Some(cpu) {
        migrate_from(cpu);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// The calling thread's CPU mask, if the kernel gives it.
#[cfg(target_os = "linux")]
fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is a plain bit array, valid when zeroed.
    let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the kernel writes at most the size
    // given into `mask`, which is that large.
    let status = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask) };
    (status == 0).then_some(mask)
}

#[cfg(target_os = "linux")]
fn migrate_from(cpu: usize) {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if cpu >= 8 * size {
        return;
    }
    let Some(mask) = affinity() else {
        return;
    };
    let mut elsewhere = mask;
    // SAFETY: `cpu` is below the set's capacity (checked above).
    unsafe { libc::CPU_CLR(cpu, &mut elsewhere) };
    // SAFETY: CPU_COUNT only reads the set.
    if unsafe { libc::CPU_COUNT(&elsewhere) } == 0 {
        return;
    }
    // SAFETY: pid 0 is this thread; the kernel reads `size` bytes from
    // each mask, both that large. The first call migrates the thread, the
    // second gives back the mask it had.
    unsafe {
        if libc::sched_setaffinity(0, size, &elsewhere) == 0 {
            libc::sched_setaffinity(0, size, &mask);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn mask() -> Vec<usize> {
        let set = affinity().expect("Linux gives the mask");
        // SAFETY: CPU_ISSET only reads the set; every index is below its capacity.
        (0..8 * std::mem::size_of::<libc::cpu_set_t>()).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
    }

    #[test]
    fn leaving_a_cpu_keeps_the_threads_mask() {
        std::thread::spawn(|| {
            let before = mask();
            let cpu = current_cpu().expect("Linux reports the CPU");
            assert!(before.contains(&cpu));
            leave(cpu);
            leave(cpu + 1);
            assert_eq!(mask(), before);
        })
        .join()
        .unwrap();
    }
}
