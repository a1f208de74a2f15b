//! Giving memory back. glibc's allocator keeps freed memory for reuse, in one arena per
//! thread that allocated (up to eight per core). Vestibule allocates most while it starts (the
//! first sync of every room) and little after, so a couple of arenas and a trim after the first
//! sync keep its resident memory close to what it uses.

/// The allocator's arenas at most, shared by every thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Limits the allocator's arenas; called first thing, before other threads start.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a tunable of glibc's allocator, and no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Returns the allocator's free memory to the system, e.g. after the first sync.
pub fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases memory no allocation holds; it takes the allocator's
    // own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
