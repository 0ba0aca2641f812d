//! What a prober reports of a faulted image, and the probe's shape.

use std::string::String;
use std::string::ToString;
use std::vec::Vec;

// ----- what a prober reports -------------------------------------------------

/// One `get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    Value(Vec<u8>),
    Absent,
    Corrupted,
    /// Any other error, by name.
    Error(String),
}

/// An open and what it saw.
#[derive(Clone, Debug)]
pub enum Opened {
    /// Refused naming damage (`Corrupted`, `Unrecognised`,
    /// `UnsupportedFormat`, or the host's equivalents).
    Refused(String),
    /// Refused with anything else.
    Failed(String),
    /// Opened; `reads` in the order of the keys asked for.
    Ok {
        generation: u64,
        /// Stats show damage (found at open, or damaged keys).
        damage: bool,
        reads: Vec<Read>,
    },
}

/// Everything one probe saw.
#[derive(Clone, Debug)]
pub struct Probe {
    /// (1) the read-only open and every key.
    pub ro: Opened,
    /// (2) the read-write open (its `reads` are empty).
    pub rw: Opened,
    /// The write of [`NEW_KEY`](super::NEW_KEY) after the read-write open.
    pub wrote: Option<Result<(), Read>>,
    /// The reopen after that write, every key then [`NEW_KEY`](super::NEW_KEY).
    pub re: Option<Opened>,
    /// A panic anywhere in the probe.
    pub panic: Option<String>,
    /// A refused open changed bytes of the image.
    pub refused_but_wrote: bool,
}

/// The probe every medium runs on a damaged image, as one shape: (1) a
/// read-only open (`open_ro`) and every key; (2) a read-write open
/// (`open_rw`) and one write (`write`); (3) the same open again and every
/// key and [`NEW_KEY`](super::NEW_KEY). `read` turns an opened store into [`Opened`],
/// `refusal(&error, read_only, keys, empty)` a refused open; `changed` says
/// whether the image's bytes changed (a refused open must not write).
///
/// A macro rather than a function: each medium's store borrows its regions
/// with lifetimes of its own (a rig, two flashes, files by path), which a
/// closure returning the opened store cannot express.
#[macro_export]
macro_rules! __testkit_probe {
    (
        keys: $keys:expr,
        empty: $empty:expr,
        changed: $changed:expr,
        open_ro: $ro:expr,
        open_rw: $rw:expr,
        read: $read:expr,
        write: $write:expr,
        refusal: $refusal:expr $(,)?
    ) => {{
        let keys: &[Vec<u8>] = $keys;
        let ro = match $ro {
            Ok(mut s) => ($read)(&mut s, keys),
            Err(e) => ($refusal)(&e, true, keys.len(), $empty),
        };
        let mut refused_but_wrote = $changed;
        // `changed` is looked at once the open's result is gone: a store
        // behind `dyn` (either front) borrows the medium until it is dropped.
        let (rw, wrote, refused) = match $rw {
            Ok(mut s) => {
                let (o, w) = ($write)(&mut s);
                (o, w, false)
            }
            Err(e) => (($refusal)(&e, false, 0, false), None, true),
        };
        if refused {
            refused_but_wrote |= $changed;
        }
        let re = wrote.as_ref().map(|_| match $rw {
            Ok(mut s) => ($read)(&mut s, &$crate::testkit::damage::with_new(keys)),
            Err(e) => ($refusal)(&e, false, 0, false),
        });
        $crate::testkit::damage::Probe {
            ro,
            rw,
            wrote,
            re,
            panic: None,
            refused_but_wrote,
        }
    }};
}
pub use __testkit_probe as probe;

/// Runs `f`, turning a panic into `Probe::panic`.
pub fn guarded(f: impl FnOnce() -> Probe) -> Probe {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(p) => p,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Probe {
                ro: Opened::Failed("panic".into()),
                rw: Opened::Failed("panic".into()),
                wrote: None,
                re: None,
                panic: Some(msg),
                refused_but_wrote: false,
            }
        }
    }
}
