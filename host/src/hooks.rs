//! Fault injection for twinkv's own crash tests (feature `_test-hooks`,
//! outside SemVer). Every program, erase, flush and fsync of an
//! [`MmapRegion`](crate::MmapRegion) in this process counts as one step; when
//! the step number set with [`die_at_step`] is reached the process kills
//! itself with SIGKILL, in the middle of the operation for a program or an
//! erase (half the bytes written), before it for a flush or fsync.

use std::sync::atomic::{AtomicU64, Ordering};

static STEPS: AtomicU64 = AtomicU64::new(0);
static DIE_AT: AtomicU64 = AtomicU64::new(0);

/// The kind of a counted step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Region::program`.
    Program,
    /// `Region::erase`.
    Erase,
    /// `MmapRegion::flush` (msync).
    Flush,
    /// `MmapRegion::sync_file` (fdatasync).
    Fsync,
}

/// Kill the process at step `n` (1-based, counted from now); 0 disables.
pub fn die_at_step(n: u64) {
    STEPS.store(0, Ordering::SeqCst);
    DIE_AT.store(n, Ordering::SeqCst);
}

/// Steps counted since the last [`die_at_step`].
pub fn steps() -> u64 {
    STEPS.load(Ordering::SeqCst)
}

/// Counts one step; true when the process must die now. Flush and fsync die
/// here, before the operation.
pub(crate) fn step(op: Op) -> bool {
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    let due = n == DIE_AT.load(Ordering::SeqCst);
    if due && matches!(op, Op::Flush | Op::Fsync) {
        die();
    }
    due
}

/// Ends the process at once, like `kill -9`.
pub fn die() -> ! {
    #[cfg(unix)]
    {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    std::process::abort()
}
