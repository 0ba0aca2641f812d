//! Fault injection for twinkv's own crash tests (feature `_test-hooks`,
//! outside SemVer). Every program, erase, flush and fsync of an
//! [`MmapRegion`](crate::MmapRegion) in this process, and every growth step's
//! extension of a region file, counts as one step; when
//! the step number set with [`die_at_step`] is reached the process kills
//! itself with SIGKILL, in the middle of the operation for a program or an
//! erase (half the bytes written), before it for a flush or fsync.
//!
//! More, per thread (so tests running in parallel do not see each
//! other's): [`last_op`] records the last counted step of this thread,
//! [`enospc_at_fill`] makes a file fill (creating a region file, growing one
//! in a resize) fail with "no space left on device" half-way, and
//! [`fail_nth`] makes a program, erase, flush or fsync return an I/O error
//! without touching the file.

use std::cell::Cell;
use std::io;
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
    /// One growth step's extension of an inactive region file with `0xFF`
    /// (dies half-way, like a program).
    Fill,
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
    LAST_OP.with(|l| l.set(Some(op)));
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

thread_local! {
    static LAST_OP: Cell<Option<Op>> = const { Cell::new(None) };
    static FILLS: Cell<u64> = const { Cell::new(0) };
    static FAIL_MAP: Cell<bool> = const { Cell::new(false) };
    static CORE_OPENS: Cell<u64> = const { Cell::new(0) };
    static ENOSPC_AT: Cell<u64> = const { Cell::new(0) };
    static FAIL_OP: Cell<Option<(Op, u64)>> = const { Cell::new(None) };
}

/// Make this thread's `n`-th step of kind `op` from now (1-based; a
/// program, erase, flush or fsync of a mapped region) fail with an I/O
/// error before it changes anything. `n` = 0 disables. Counted apart from
/// [`die_at_step`]'s steps; the failing step is not counted there.
pub fn fail_nth(op: Op, n: u64) {
    FAIL_OP.with(|f| f.set((n > 0).then_some((op, n))));
}

/// `Some(error)` when this step of kind `op` must fail ([`fail_nth`]).
pub(crate) fn injected_failure(op: Op) -> Option<io::Error> {
    FAIL_OP.with(|f| match f.get() {
        Some((o, n)) if o == op => {
            if n == 1 {
                f.set(None);
                Some(io::Error::other(format!("{op:?} failed (test hook)")))
            } else {
                f.set(Some((o, n - 1)));
                None
            }
        }
        _ => None,
    })
}

/// The last step this thread counted (a program, erase, flush or fsync of a
/// mapped region), if any since the last [`clear_last_op`].
pub fn last_op() -> Option<Op> {
    LAST_OP.with(Cell::get)
}

/// Forgets this thread's [`last_op`].
pub fn clear_last_op() {
    LAST_OP.with(|l| l.set(None));
}

/// Make this thread's `n`-th file fill from now (1-based; 0 disables) fail
/// with ENOSPC after writing half its bytes. A fill is the writing of one
/// region file's `0xFF` bytes: creating it, completing an empty one, or
/// growing one in a resize.
pub fn enospc_at_fill(n: u64) {
    FILLS.with(|f| f.set(0));
    ENOSPC_AT.with(|e| e.set(n));
}

/// Counts one fill; `Some(error)` when it must fail.
pub(crate) fn fill() -> Option<io::Error> {
    let n = FILLS.with(|f| {
        f.set(f.get() + 1);
        f.get()
    });
    if n == ENOSPC_AT.with(Cell::get) {
        #[cfg(unix)]
        return Some(io::Error::from_raw_os_error(
            rustix::io::Errno::NOSPC.raw_os_error(),
        ));
        #[cfg(not(unix))]
        return Some(io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left on device (injected)",
        ));
    }
    None
}

/// Operation `i` of the crash writer (`twinkv __crash-writer`): the key, and
/// the value to set (`None`: delete). The crash test (host/tests/crash.rs)
/// computes its model from this same definition.
pub fn crash_op(i: u64) -> (String, Option<String>) {
    let key = format!("k{:02}", i % 29);
    if i % 13 == 12 {
        (key, None)
    } else {
        (key, Some(format!("v{i}-{}", "x".repeat((i % 17) as usize))))
    }
}

/// Make this thread's next mapping of a store's files (opening core on them,
/// as an open or the remap after a resize step does) fail with an I/O error.
pub fn fail_next_map() {
    FAIL_MAP.with(|f| f.set(true));
}

/// Takes the failure [`fail_next_map`] armed, if any.
pub(crate) fn map_failure() -> Option<io::Error> {
    FAIL_MAP
        .with(|f| f.replace(false))
        .then(|| io::Error::other("mapping failed (test hook)"))
}

/// How many times this thread opened core on mapped region files (each a
/// replay of the active log) since the last call; resets the count.
pub fn take_core_opens() -> u64 {
    CORE_OPENS.with(|c| c.replace(0))
}

/// Counts one open of core ([`take_core_opens`]).
pub(crate) fn core_opened() {
    CORE_OPENS.with(|c| c.set(c.get() + 1));
}
