//! Giving back the stack memory a connection's thread touched while it
//! handled INFO and CONNECT (JSON, formatting), before it settles into a
//! blocking read that may last for hours. The pages below the current stack
//! pointer are unused by definition; `madvise(MADV_DONTNEED)` returns them to
//! the kernel, and they are faulted in again (zeroed) only if the thread
//! ever needs that depth again. This is what keeps thousands of idle
//! connections, each with its own thread, cheap. Linux only; elsewhere it
//! does nothing.

/// Release the unused part of the calling thread's stack.
#[cfg(target_os = "linux")]
#[inline(never)]
pub fn release_unused() {
    const PAGE: usize = 4096;
    // Freed pages are not a guard: they come back (zeroed) on first touch,
    // so nothing below this frame needs to be kept; the read that follows
    // faults in the one page it uses.
    const MARGIN: usize = 256;
    // SAFETY: pthread_getattr_np/getstack fill structs we own; madvise is
    // given a page-aligned range that lies wholly inside this thread's
    // stack and below every live frame (the caller's and this one's).
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return;
        }
        let mut low: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut low, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if !ok {
            return;
        }
        let marker = 0u8;
        let sp = std::ptr::addr_of!(marker) as usize;
        let low = low as usize;
        let end = sp.saturating_sub(MARGIN) & !(PAGE - 1);
        if end > low && sp < low + size {
            libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED);
        }
    }
}

/// Release the unused part of the calling thread's stack (no-op here).
#[cfg(not(target_os = "linux"))]
pub fn release_unused() {}
