//! twinkv on memory-mapped files: a crash-resilient persistent map for
//! desktop, server and phone apps, and the library behind the `twinkv` CLI.
//!
//! A store is a base path and two files, `<path>.a` and `<path>.b`, each one
//! region of FORMAT.md (write unit 4, erase unit 512, whatever the machine, so
//! file pairs move between machines unchanged).
//!
//! ```no_run
//! use twinkv_host::{Options, Store};
//! let mut store = Store::open("settings", Options::new())?;
//! store.set("volume", "7")?;
//! assert_eq!(store.get("volume")?, Some(&b"7"[..]));
//! # Ok::<(), twinkv_host::Error>(())
//! ```
//!
//! # Durability
//! | | a returned write survives kill -9 | survives power loss / OS crash |
//! |---|---|---|
//! | [`Durability::Default`] | yes | what a [`Store::sync`], [`Store::close`], drop of the store or switch covered; of later writes, a prefix in write order |
//! | [`Durability::SyncEveryWrite`] | yes | yes (the log ends synced after every write, also one that switched) |
//!
//! A writable [`Store`] syncs when dropped if anything was written since its
//! last sync (errors ignored; [`Store::close`] returns them;
//! [`Options::sync_on_close`] turns it off). What power loss takes is taken
//! whole: the store reopens at an older consistent state, never a torn one.
//!
//! Damage (a flipped bit, a zeroed or stale sector) is not a crash and no mode
//! prevents it: it is reported — the keys it touches answer `Corrupted`,
//! [`inspect::verify_store`] names it, an open whose newest region is damaged
//! fails with [`Error::Open`] — and never answered with an older value, except
//! for the kinds that RELIABILITY.md's fault model shows cannot be told from a
//! crash.
//!
//! # Files
//! Anything at `<path>.a` / `<path>.b` that is not a regular file (a device,
//! FIFO, socket or directory, also behind a symbolic link) is refused from its
//! metadata before it is opened ([`Error::NotARegion`]); an open that refuses
//! writes nothing; an open that fails after creating the files removes them.
//!
//! On copy-on-write filesystems (btrfs, APFS, ZFS) a full disk can still make
//! a write to the mapping fail with SIGBUS, although the files were created
//! with real bytes; ext4, XFS and NTFS report a full disk when the store is
//! created instead.
//!
//! # Locking
//! A writer locks both files exclusively, a read-only open shares the lock.
//! The lock is advisory: it keeps other twinkv processes out, not programs that
//! ignore it. A program that truncates a file under a running store kills it
//! with SIGBUS (see `region/mmap.rs`).
//!
//! # Features
//!
//! - `cli` (default): the `twinkv` command, and the dependencies only it needs
//!   (clap, serde, serde_json). A program that uses only the library sets
//!   `default-features = false` and compiles none of them.
//! - `serde`: typed values through postcard, `Store::get_as` /
//!   `Store::set_as`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(unsafe_code)]

// The rooms (each module's `//!` says what it holds):
// - `store/`: the `Store` facade, growth, resize, snapshots, typed values;
// - `files/`: the file pair: open/create policy, the syscalls, `peek`, locks;
// - `region/`: `MmapRegion` (the only `unsafe`) and `MemRegion`;
// - `inspect/`: the walk over a region's bytes and the verdict on a store;
// - `image`: device images; `options`, `error`, `index`: as named.
mod error;
mod files;
#[cfg(feature = "_test-hooks")]
#[doc(hidden)]
pub mod hooks;
pub mod image;
mod index;
pub mod inspect;
mod options;
mod region;
mod store;

pub use error::{CoreError, Error, GrowthStop, Result};
pub use files::{checkpoint_path, region_paths};
pub use index::VecIndex;
pub use options::{
    min_region_size, Durability, Options, COMPACT_ON_CLOSE_MIN_GARBAGE,
    COMPACT_ON_CLOSE_UNCOVERED_EIGHTHS, DEFAULT_COMPACT_ON_CLOSE_BP, DEFAULT_REGION_SIZE,
    MAX_REGION_SIZE,
};
pub use region::{MemRegion, MmapRegion, ERASE_UNIT, WRITE_UNIT};
pub use store::Store;
pub use twinkv_core as core;
pub use twinkv_core::{Op, RegionId, Stats};

/// The Rust blocks of this crate's README (host/README.md, packaged with the
/// crate), compiled and run as doc tests. The repository's README is compiled
/// by the `twinkv-benches` crate, which is not published.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
