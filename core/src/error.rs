//! The one error enum of `twinkv-core`.

use core::fmt;

/// Everything that can go wrong in `twinkv-core`, in four families: the
/// region failed ([`Error::Region`]); the storage is corrupt or not ours
/// ([`Error::Corrupted`], [`Error::Unrecognised`], [`Error::ForeignStore`],
/// [`Error::UnsupportedFormat`]); the caller asked for something impossible
/// (too long, full, bad configuration, …); or a bug in twinkv
/// ([`Error::LogicBug`]).
///
/// `E` is the region's own error type, kept reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The region reported an error. After a failed program or erase the store
    /// writes nothing more until it is reopened.
    Region(E),
    /// Storage is damaged: a value, a region's newest state, or a key's newest
    /// record cannot be trusted. Erasing (or `repair`) recovers.
    Corrupted,
    /// A region holds bytes that are neither empty nor a twinkv region, and
    /// nothing proves they are ours to erase. Nothing was written.
    Unrecognised,
    /// A region belongs to another store (store id differs). Nothing was written.
    ForeignStore,
    /// A region was written by a format version this crate does not read.
    UnsupportedFormat,
    /// The region's recorded geometry or limits differ from the configuration.
    ConfigMismatch,
    /// The configuration or geometry is invalid (see the docs of `Config`).
    InvalidConfig,
    /// The key is empty.
    EmptyKey,
    /// The key is longer than the store's max key length.
    KeyTooLarge,
    /// The value is longer than the store's max value length.
    ValueTooLarge,
    /// The write would push live data above capacity × max-fill. Nothing was
    /// written; deletes and non-growing overwrites still succeed.
    Full,
    /// The in-memory index has no free entry. Nothing was written.
    IndexFull,
    /// The caller's buffer is too small; the value needs this many bytes (or,
    /// from opening a store, its scratch buffer: `Config::scratch_len`).
    BufferTooSmall(usize),
    /// A typed value (feature `serde`): the stored bytes do not decode as
    /// the type asked for, or postcard cannot encode the value.
    Encoding,
    /// The store was opened read-only, or its log cannot be appended to.
    ReadOnly,
    /// A previous write failed part-way; reopen the store.
    Poisoned,
    /// Refused while a switch is under way (FORMAT.md §7.4): finish it
    /// first (`Store::maintain` until `Stats::switching` is false, or
    /// `Store::compact`).
    SwitchUnderWay,
    /// An earlier call of the async store was cancelled (its future dropped
    /// before it completed): the regions are as a power cut at that point
    /// would leave them, and the store refuses every call. Open the regions
    /// again; recovery proceeds as after a cut.
    Cancelled,
    /// A twinkv bug that would otherwise have been a panic.
    LogicBug,
}

/// The engine's error: [`Error`] without [`Error::BufferTooSmall`], whose
/// `usize` made every `Result` of the engine two words (on a 32-bit target,
/// a `Result<(), Error<E>>` of 8 B and a `Result<u32, _>` of 12 B returned
/// through memory). Without it a `Fail<E>` is as small as `E` allows (one
/// byte beside a small `E`), and the engine's results travel in registers.
/// The public methods turn it into an [`Error`] ([`From`]) and make
/// `BufferTooSmall` themselves, where its length is known; so do they
/// `InvalidConfig` and `Encoding`. Every other variant is the [`Error`]
/// variant of the same name and meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail<E> {
    Region(E),
    Corrupted,
    Unrecognised,
    ForeignStore,
    UnsupportedFormat,
    ConfigMismatch,
    EmptyKey,
    KeyTooLarge,
    ValueTooLarge,
    Full,
    IndexFull,
    ReadOnly,
    Poisoned,
    SwitchUnderWay,
    Cancelled,
    // With `_located-bugs`, `bug!` panics instead.
    #[cfg_attr(feature = "_located-bugs", allow(dead_code))]
    LogicBug,
}

/// The engine's results (see [`Fail`]).
pub(crate) type Res<T, E> = core::result::Result<T, Fail<E>>;

impl<E> From<E> for Fail<E> {
    fn from(e: E) -> Self {
        Fail::Region(e)
    }
}

impl<E> From<Fail<E>> for Error<E> {
    /// Not inlined in a firmware: one copy of the mapping for every public
    /// method that returns an engine error.
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    fn from(f: Fail<E>) -> Self {
        match f {
            Fail::Region(e) => Error::Region(e),
            Fail::Corrupted => Error::Corrupted,
            Fail::Unrecognised => Error::Unrecognised,
            Fail::ForeignStore => Error::ForeignStore,
            Fail::UnsupportedFormat => Error::UnsupportedFormat,
            Fail::ConfigMismatch => Error::ConfigMismatch,
            Fail::EmptyKey => Error::EmptyKey,
            Fail::KeyTooLarge => Error::KeyTooLarge,
            Fail::ValueTooLarge => Error::ValueTooLarge,
            Fail::Full => Error::Full,
            Fail::IndexFull => Error::IndexFull,
            Fail::ReadOnly => Error::ReadOnly,
            Fail::Poisoned => Error::Poisoned,
            Fail::SwitchUnderWay => Error::SwitchUnderWay,
            Fail::Cancelled => Error::Cancelled,
            Fail::LogicBug => Error::LogicBug,
        }
    }
}

/// [`Error::LogicBug`], built where a twinkv bug is detected. With the
/// `_located-bugs` feature (twinkv's own tests and fuzzers; outside SemVer)
/// it panics instead, naming the file and line, so a failing run says which
/// check fired; without it, it is the plain variant and costs nothing.
/// Use it lazily (`ok_or_else(|| bug!())`), never as an eager argument.
macro_rules! bug {
    () => {
        $crate::error::located_bug()
    };
}
pub(crate) use bug;

/// What [`bug!`] expands to; `track_caller` makes the reported location the
/// place that detected the bug.
#[track_caller]
#[inline(always)]
pub(crate) fn located_bug<E>() -> Fail<E> {
    #[cfg(feature = "_located-bugs")]
    panic!(
        "twinkv-core logic bug at {}",
        core::panic::Location::caller()
    );
    #[cfg(not(feature = "_located-bugs"))]
    Fail::LogicBug
}

impl<E> From<E> for Error<E> {
    fn from(e: E) -> Self {
        Error::Region(e)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Region(e) => write!(f, "region error: {e:?}"),
            Error::Corrupted => f.write_str("storage is corrupted"),
            Error::Unrecognised => {
                f.write_str("region holds data that is not a twinkv region; left unchanged")
            }
            Error::ForeignStore => f.write_str("region belongs to another store; left unchanged"),
            Error::UnsupportedFormat => f.write_str("region uses an unsupported format version"),
            Error::ConfigMismatch => {
                f.write_str("options differ from the geometry or limits recorded in the region")
            }
            Error::InvalidConfig => f.write_str("invalid configuration or geometry"),
            Error::EmptyKey => f.write_str("key is empty"),
            Error::KeyTooLarge => f.write_str("key is longer than the store's limit"),
            Error::ValueTooLarge => f.write_str("value is longer than the store's limit"),
            Error::Full => f.write_str("store is full"),
            Error::IndexFull => f.write_str("index is full"),
            Error::BufferTooSmall(n) => write!(f, "buffer too small: {n} bytes needed"),
            Error::Encoding => f.write_str("typed value does not encode or decode (postcard)"),
            Error::ReadOnly => f.write_str("store is read-only"),
            Error::Poisoned => f.write_str("a previous write failed; reopen the store"),
            Error::Cancelled => {
                f.write_str("a previous call was cancelled before it completed; reopen the store")
            }
            Error::SwitchUnderWay => f.write_str("a switch is under way; finish it first"),
            Error::LogicBug => f.write_str("internal error (a twinkv bug)"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// Shorthand for core's results.
pub type Result<T, E> = core::result::Result<T, Error<E>>;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{Error, Fail};
    use std::format;

    /// Every engine error becomes the public variant of the same name, with
    /// the region's error carried through.
    #[test]
    fn each_fail_maps_to_the_error_of_the_same_name() {
        let all: [Fail<u8>; 17] = [
            Fail::Region(7),
            Fail::Corrupted,
            Fail::Unrecognised,
            Fail::ForeignStore,
            Fail::UnsupportedFormat,
            Fail::ConfigMismatch,
            Fail::EmptyKey,
            Fail::KeyTooLarge,
            Fail::ValueTooLarge,
            Fail::Full,
            Fail::IndexFull,
            Fail::ReadOnly,
            Fail::Poisoned,
            Fail::SwitchUnderWay,
            Fail::Cancelled,
            Fail::LogicBug,
            Fail::Region(0),
        ];
        for f in all {
            let e: Error<u8> = f.into();
            assert_eq!(format!("{f:?}"), format!("{e:?}"));
        }
    }
}
