//! Real-time scheduling for the capture threads, when the system grants it.
//!
//! On a busy machine a normal thread can wait tens of milliseconds for a core; the device's
//! callback and the runner that turns periods into frames are what makes capture latency, so
//! both ask for `SCHED_FIFO` (below PulseAudio's and JACK's own threads' priority range is
//! not a concern: these threads sleep between periods). Root or `CAP_SYS_NICE` or an
//! `rtprio` limit is needed; without it the threads stay normal and capture still works,
//! only with more jitter (logged once).

/// Priority for the device's callback thread and the runner (1..=99; PulseAudio uses 5).
pub const CALLBACK_PRIORITY: i32 = 20;
pub const RUNNER_PRIORITY: i32 = 18;

/// Moves the calling thread to `SCHED_FIFO` at `priority` (children fall back to normal).
/// A syscall, no allocation, no lock: safe to call once from the real-time callback.
pub fn promote_current_thread(priority: i32) -> Result<(), i32> {
    // the Linux flag that keeps forked children from inheriting real-time scheduling
    const SCHED_RESET_ON_FORK: libc::c_int = 0x4000_0000;
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: pthread_self() is always the calling thread's valid handle, and `param` lives
    // for the duration of the call
    let r = unsafe {
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO | SCHED_RESET_ON_FORK, &param)
    };
    if r == 0 { Ok(()) } else { Err(r) }
}
