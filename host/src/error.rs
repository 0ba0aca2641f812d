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
    /// can use (another store, other geometry, wrong length). Nothing was
    /// written.
    NotARegion {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An option conflicts with what the existing store records. Nothing was
    /// written.
    OptionsConflict {
        /// The option.
        option: &'static str,
        /// The value the store records.
        recorded: u64,
        /// The value asked for.
        requested: u64,
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
    /// A typed value could not be encoded or decoded (feature `serde`).
    Encoding(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the error means damaged storage (as opposed to a usage
    /// error, a full store or an I/O failure).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Core(twinkv_core::Error::Corrupted))
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
                option,
                recorded,
                requested,
            } => write!(
                f,
                "option {option}: the store records {recorded}, {requested} was asked for"
            ),
            Error::InvalidOptions(s) => write!(f, "invalid options: {s}"),
            Error::DoesNotFit { live, limit } => write!(
                f,
                "live data ({live} bytes) does not fit the new size (limit {limit} bytes)"
            ),
            Error::Unsupported(s) => write!(f, "not supported: {s}"),
            Error::Encoding(s) => write!(f, "value encoding: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Core(e) => Some(e),
            _ => None,
        }
    }
}
