//! Advisory locks on the region files.
//!
//! Each region file is locked itself (no separate lock file): exclusive for a
//! writer, shared for a read-only open, always A before B. The lock is
//! advisory: it keeps other twinkv processes out, not programs that ignore it.
//! `std::fs::File::try_lock` does the work; where std reports it unsupported
//! (e.g. some Android versions), `flock` through rustix takes over.

use std::fs::{File, TryLockError};
use std::io;

/// Why a lock was not taken.
pub(crate) enum LockError {
    /// Another process holds a conflicting lock.
    Busy,
    /// The lock call failed.
    Io(io::Error),
}

/// Takes the lock without waiting.
pub(crate) fn try_lock(file: &File, exclusive: bool) -> Result<(), LockError> {
    let r = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match r {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(LockError::Busy),
        Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
            fallback(file, exclusive)
        }
        Err(TryLockError::Error(e)) => Err(LockError::Io(e)),
    }
}

#[cfg(unix)]
fn fallback(file: &File, exclusive: bool) -> Result<(), LockError> {
    use rustix::fs::{flock, FlockOperation};
    let op = if exclusive {
        FlockOperation::NonBlockingLockExclusive
    } else {
        FlockOperation::NonBlockingLockShared
    };
    match flock(file, op) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(LockError::Busy),
        Err(e) => Err(LockError::Io(e.into())),
    }
}

#[cfg(not(unix))]
fn fallback(_file: &File, _exclusive: bool) -> Result<(), LockError> {
    Err(LockError::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "file locking is not supported on this platform",
    )))
}
