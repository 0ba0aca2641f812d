//! The one error enum of `twinkv-host`.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Core's error with the host's region error type.
pub type CoreError = twinkv_core::Error<io::Error>;

/// Everything that can go wrong in `twinkv-host`.
///
/// Errors that leave files alone say so in their docs; corruption is reported,
/// never repaired behind the caller's back.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed (the path, when known, and the cause).
    Io {
        /// The file concerned.
        path: Option<PathBuf>,
        /// The cause.
        source: io::Error,
    },
    /// Core reported an error (corruption, full store, key too long, …).
    Core(CoreError),
    /// The files were found and checked, but core refused to open what they
    /// hold (`cause`): the newest region damaged (`Corrupted`), data that is
    /// not provably a twinkv store (`Unrecognised`), regions of two stores
    /// (`ForeignStore`), a format version this build does not read, options
    /// that do not fit, or (read-only, or not allowed to create) a pair whose
    /// creation never reached its first commit (`ReadOnly`). Nothing was
    /// written.
    Open {
        /// The store's base path.
        path: PathBuf,
        /// What core reported.
        cause: CoreError,
    },
    /// Another process holds the store's lock (an exclusive one, or a shared
    /// one when this process asked for exclusive).
    Locked(PathBuf),
    /// The store does not exist (and creating it was not asked for).
    NotFound(PathBuf),
    /// One region file is missing or empty and its partner is not a complete
    /// store on its own (superseded by the missing file, or uncommitted).
    /// Nothing was written.
    NewerRegionMissing {
        /// The file that is missing or empty.
        missing: PathBuf,
        /// The partner that is present.
        present: PathBuf,
    },
    /// A file is not a twinkv region file, or not one a memory-mapped store
    /// can use (another store, other geometry, wrong length), or not a
    /// regular file at all (a device, FIFO, socket or directory, also behind
    /// a symbolic link: refused from its metadata, before it is opened).
    /// Nothing was written.
    NotARegion {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An option conflicts with what the existing store records. Nothing was
    /// written. Limits and ratios are fixed when a store is created: leave
    /// the option out to use the recorded value. The region size is a
    /// minimum: a store that is larger than asked (grown, or resized) opens
    /// at its recorded size; one that is smaller is refused with this error
    /// (make it larger with [`Store::resize`](crate::Store::resize), or leave
    /// the option out).
    OptionsConflict {
        /// The option.
        option: &'static str,
        /// The value the store records (for the region size: the larger
        /// region's size).
        recorded: u64,
        /// The value asked for.
        requested: u64,
    },
    /// A write was refused because the live data would exceed the fill
    /// limit (capacity × max-fill of the smaller region, FORMAT.md §7.1) and
    /// the store could not grow. Nothing was written; the store stays usable
    /// (deletes and overwrites that do not grow the live data proceed).
    ///
    /// The message states the figures and the remedy. [`Error::core_cause`]
    /// answers core's `Full` for it.
    Full {
        /// Live bytes before the write (FORMAT.md §4.6).
        live: u64,
        /// Record bytes the write adds at most.
        write: u64,
        /// The fill limit: capacity × max-fill of the smaller region.
        limit: u64,
        /// The smaller region's size in bytes (capacity = size − 84).
        region_size: u32,
        /// The max-fill ratio in basis points.
        max_fill_bp: u16,
        /// Why the store did not grow.
        growth: GrowthStop,
    },
    /// The options are invalid on their own (ratios, limits, region size).
    InvalidOptions(String),
    /// A resize to a smaller region was refused: the live data does not fit.
    DoesNotFit {
        /// Live bytes now.
        live: u64,
        /// What the new size allows.
        limit: u64,
    },
    /// The operation needs something this build or core does not offer yet.
    Unsupported(&'static str),
    /// The store was left closed by a failed resize (its regions could not
    /// be mapped again): reopen it. Nothing was written.
    Closed,
    /// A typed value could not be encoded or decoded (feature `serde`).
    Encoding(String),
}

/// Why a full store did not grow ([`Error::Full`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrowthStop {
    /// Growth is off ([`Options::auto_grow`](crate::Options::auto_grow)`(false)`).
    Off,
    /// The regions are at the largest size growth may reach
    /// ([`Options::max_region_size`](crate::Options::max_region_size)).
    AtMax(u32),
    /// Growing failed (e.g. the disk is full); the store does not try again
    /// until it is reopened.
    Failed(String),
}

/// The smallest region size (a multiple of 512) whose fill limit holds
/// `live` bytes at `max_fill_bp`.
pub(crate) fn size_for(live: u64, max_fill_bp: u16) -> u64 {
    let d = u64::from(twinkv_core::format::Layout::new(crate::WRITE_UNIT).data_start());
    let bp = u64::from(max_fill_bp.max(1));
    let unit = u64::from(crate::ERASE_UNIT);
    // fill_limit(c) = c * bp / 10000 (rounded down) >= live
    let cap = (live * 10_000).div_ceil(bp);
    (cap + d).div_ceil(unit) * unit
}

/// `bp` basis points as a percentage ("90 %", "87.5 %").
fn percent(bp: u16) -> String {
    if bp.is_multiple_of(100) {
        format!("{} %", bp / 100)
    } else {
        format!("{} %", f64::from(bp) / 100.0)
    }
}

/// Core's `Full`, for [`Error::core_cause`] of [`Error::Full`].
static CORE_FULL: CoreError = twinkv_core::Error::Full;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when a write was refused because the store is full
    /// ([`Error::Full`], or core's `Full`).
    pub fn is_full(&self) -> bool {
        matches!(
            self,
            Error::Full { .. } | Error::Core(twinkv_core::Error::Full)
        )
    }

    /// True when the error means damaged storage (as opposed to a usage
    /// error, a full store or an I/O failure).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Core(twinkv_core::Error::Corrupted)
                | Error::Open {
                    cause: twinkv_core::Error::Corrupted,
                    ..
                }
        )
    }

    /// The core error behind this one, if any (as reported by a write, or by
    /// the open).
    pub fn core_cause(&self) -> Option<&CoreError> {
        match self {
            Error::Core(e) | Error::Open { cause: e, .. } => Some(e),
            Error::Full { .. } => Some(&CORE_FULL),
            _ => None,
        }
    }

    /// Wraps an error of core's open with the store's path.
    pub(crate) fn at_open(self, path: &std::path::Path) -> Self {
        match self {
            Error::Core(cause) => Error::Open {
                path: path.to_path_buf(),
                cause,
            },
            Error::Io { path: None, source } => Error::Io {
                path: Some(path.to_path_buf()),
                source,
            },
            e => e,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: Some(path.into()),
            source,
        }
    }

    pub(crate) fn not_region(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::NotARegion {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        match e {
            twinkv_core::Error::Region(source) => Error::Io { path: None, source },
            e => Error::Core(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(source: io::Error) -> Self {
        Error::Io { path: None, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io {
                path: Some(p),
                source,
            } => write!(f, "{}: {source}", p.display()),
            Error::Io { path: None, source } => write!(f, "I/O error: {source}"),
            Error::Core(e) => write!(f, "{e}"),
            Error::Open { path, cause } => {
                write!(f, "{}: ", path.display())?;
                match cause {
                    twinkv_core::Error::Corrupted => f.write_str(
                        "newest region damaged: its header, commit or log cannot be trusted, \
                         so the store cannot be opened without risking an older state",
                    )?,
                    twinkv_core::Error::Unrecognised => f.write_str(
                        "the files hold data that is neither empty nor provably a twinkv store",
                    )?,
                    twinkv_core::Error::ForeignStore => {
                        f.write_str("the two files belong to different stores")?
                    }
                    twinkv_core::Error::UnsupportedFormat => {
                        f.write_str("written by a twinkv format version this build does not read")?
                    }
                    twinkv_core::Error::ConfigMismatch => f.write_str(
                        "the options differ from the geometry or limits the store records",
                    )?,
                    twinkv_core::Error::ReadOnly => f.write_str(
                        "holds no committed store: its creation stopped before the first commit, \
                         or its only commit marker is damaged",
                    )?,
                    e => write!(f, "cannot be opened: {e}")?,
                }
                f.write_str("; nothing was written")
            }
            Error::Locked(p) => write!(
                f,
                "{}: store is locked by another twinkv process",
                p.display()
            ),
            Error::NotFound(p) => write!(f, "{}: no such store", p.display()),
            Error::NewerRegionMissing { missing, present } => write!(
                f,
                "{} is missing or empty and {} is not complete without it \
                 (the newer region is missing); nothing was written",
                missing.display(),
                present.display()
            ),
            Error::NotARegion { path, reason } => {
                write!(f, "{}: {reason}; left unchanged", path.display())
            }
            Error::OptionsConflict {
                option: option @ "region size",
                recorded,
                requested,
            } => write!(
                f,
                "option {option}: the store's regions are {recorded} bytes, {requested} was asked \
                 for; a store is never made smaller on open: make it larger with `twinkv resize` \
                 / `Store::resize`, or leave the option out to use the recorded size"
            ),
            Error::OptionsConflict {
                option,
                recorded,
                requested,
            } => write!(
                f,
                "option {option}: the store records {recorded}, {requested} was asked for; \
                 it is fixed when a store is created: leave the option out to use the recorded value"
            ),
            Error::Full {
                live,
                write,
                limit,
                region_size,
                max_fill_bp,
                growth,
            } => {
                let capacity = u64::from(*region_size)
                    - u64::from(twinkv_core::format::Layout::new(crate::WRITE_UNIT).data_start());
                write!(
                    f,
                    "store is full: {live} live bytes + up to {write} for this write exceed the \
                     limit of {limit} bytes ({} of the {capacity}-byte capacity of {region_size}-byte \
                     regions); ",
                    percent(*max_fill_bp)
                )?;
                let need = size_for(live + write, *max_fill_bp);
                let roomy = need.max(2 * u64::from(*region_size));
                match growth {
                    GrowthStop::Off => write!(
                        f,
                        "growth is off: make the regions larger with `twinkv resize` / \
                         `Store::resize` (at least {need} bytes; {roomy} leaves room), or open the \
                         store with `Options::auto_grow(true)`"
                    ),
                    GrowthStop::AtMax(max) => write!(
                        f,
                        "growth stopped at the maximum region size of {max} bytes \
                         (`Options::max_region_size`): raise it, or `twinkv resize` / \
                         `Store::resize` to at least {need} bytes"
                    ),
                    GrowthStop::Failed(e) => write!(
                        f,
                        "growing the store failed ({e}): free disk space and reopen it, or \
                         `twinkv resize` / `Store::resize` to at least {need} bytes"
                    ),
                }
            }
            Error::InvalidOptions(s) => write!(f, "invalid options: {s}"),
            Error::DoesNotFit { live, limit } => write!(
                f,
                "live data ({live} bytes) does not fit the new size (limit {limit} bytes): \
                 delete keys first or choose a larger size"
            ),
            Error::Unsupported(s) => write!(f, "not supported: {s}"),
            Error::Closed => f.write_str(
                "the store was left closed by a failed resize: reopen it (nothing was written)",
            ),
            Error::Encoding(s) => write!(f, "value encoding: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Core(e) | Error::Open { cause: e, .. } => Some(e),
            _ => None,
        }
    }
}
