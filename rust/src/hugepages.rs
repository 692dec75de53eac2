//! Transparent huge pages for large fresh buffers (Linux).
//!
//! A kernel's output is a fresh allocation, and one of more than 32 MB
//! (glibc's largest mmap threshold) is a fresh mapping on every call, so
//! each of its 4 KiB pages faults on first write: MobileNetV2's
//! `features.2` depthwise input gradient at batch 8 (37 MB) spent 10 of its
//! 12.5 ms in page faults. Marked for huge pages, the kernel maps 2 MiB at
//! a fault. NumPy does the same for its own arrays of 4 MiB and more.

/// Buffers at least this large are marked (NumPy's threshold).
const MIN_BYTES: usize = 4 << 20;

/// Asks the kernel to back the whole pages inside `ptr .. ptr + bytes`
/// with huge pages where it can. Advice only: the memory's contents and
/// validity do not change, and a refusal is ignored.
pub(crate) fn advise<T>(ptr: *const T, bytes: usize) {
    if bytes < MIN_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = (ptr as usize).next_multiple_of(PAGE);
        let end = (ptr as usize + bytes) / PAGE * PAGE;
        if end > start {
            // SAFETY: madvise reads no memory; [start, end) is whole pages
            // inside the caller's allocation, and MADV_HUGEPAGE only changes
            // how the kernel backs them, never what they hold.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = ptr;
}
