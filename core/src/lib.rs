//! twinkv-core: a crash-resilient key-value journal over two byte regions.
//!
//! Writes are appended as checksummed records to the active of two regions
//! (A and B). When the active region passes its high-water mark, the live
//! state is compacted from memory into the other region, which is committed
//! and becomes active. A switch interrupted at any instant recovers, and the
//! format works on NOR flash, where bytes are programmed once between erases.
//! FORMAT.md (in this package and at the repository root) defines every byte.
//!
//! `#![no_std]`, no allocator, no `unsafe`. Storage is reached only through
//! the [`Region`] trait; [`RamRegion`] is a strict, fault-injecting RAM
//! implementation for tests and firmware.
//!
//! # Features
//!
//! All additive; only `batch` is on by default.
//!
//! - `batch` (default): atomic batches, `Store::apply` of two or more
//!   operations. A firmware that writes one key at a time can build without
//!   it (`default-features = false`) and links none of the batch planning
//!   and key tracking (1,492 B of flash in `footprint/`'s blocking
//!   firmware). Logs that hold batches open and read the same either way.
//! - `embedded-storage`: `FlashRegion`, `SharedFlashRegion`,
//!   `flash_geometry` and `flash_scratch_len`, regions over any
//!   `embedded_storage::nor_flash::NorFlash`, and the `FlashStore` alias.
//! - `critical-section`: `MutexFlashRegion` (and `MutexFlashStore`), both
//!   regions on one flash behind a `critical_section::Mutex`, so the store is
//!   `Send`; implies `embedded-storage`.
//! - `serde`: typed values through postcard, `Store::get_as` and
//!   `Store::set_as` (no alloc), the bytes the host store's methods of the
//!   same names write.
//! - `flash-sim`: `SimFlash`, a fault-injecting NOR flash simulator (no_std,
//!   no alloc); implies `embedded-storage`.
//! - `checkpoint`: index checkpoints (FORMAT.md §11), `Store::checkpoint_len`,
//!   `Store::write_checkpoint` and `Store::open_with_checkpoint`: an open
//!   given one loads the index from it and replays the log only from where it
//!   was taken, if the log before that point is unchanged. The host store
//!   keeps one in a file beside its regions.
//! - `defmt`: `defmt::Format` for the public types.
//! - `crc-tables`: one 256-entry lookup table per CRC (1.75 KiB in all);
//!   without it every CRC is computed bit by bit, with no table in the image.
//! - `fast-crc`: as `crc-tables`, with a 16-lane CRC-32C table (16 KiB),
//!   several times faster checks on a host.
//! - `hw-crc`: as `fast-crc`, and CRC-32C over pieces of 48 bytes or more
//!   through the `crc32c` crate, on the CPU's CRC instructions where it has
//!   them (SSE4.2, ARMv8 CRC, detected at run time); needs `std`. Built for
//!   x86-64 with SSE4.2 enabled at compile time (`-C target-cpu=x86-64-v2`
//!   or `native`), every CRC-32C piece under 1 KiB goes to the `crc32`
//!   instruction inline (through `safe_arch`), short ones included.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// The engine's files are compiled twice on purpose (`engine`, `engine_async`).
#![allow(clippy::duplicate_mod)]

mod aliases;
mod config;
mod damage;
mod error;
mod fingerprint;
pub mod format;
mod index;
mod medium;
mod op;
mod scratch;
mod stats;
/// The blocking engine: the journal and the store over [`Region`]. Its source
/// is written once, as `async fn`s over the region trait, and compiled twice:
/// here with `async` and `.await` removed (`must_be_sync`), and with feature
/// `async` as [`engine_async`] over [`AsyncRegion`], unchanged. FORMAT.md's
/// rules (scan, open table, switch) therefore exist in one copy.
#[path = "."]
mod engine {
    /// What the store's documentation says first.
    macro_rules! front {
        () => {
            "A crash-resilient key-value store over two regions, blocking (the\n\
             same store with async I/O is `AsyncStore`, feature `async`).\n\n"
        };
    }
    pub(crate) use crate::{MappedRegion, Region};
    pub(crate) use maybe_async::must_be_sync as io;
    pub(crate) mod journal;
    pub(crate) mod store;
}
/// The async engine: the same source as [`engine`], kept async, over
/// [`AsyncRegion`].
#[cfg(feature = "async")]
#[path = "."]
mod engine_async {
    /// What the store's documentation says first.
    macro_rules! front {
        () => {
            "The store with async I/O (feature `async`): [`Store`](crate::Store)'s\n\
             methods, each `async`, over an [`AsyncRegion`](crate::AsyncRegion)\n\
             (any blocking region through [`BlockingAsync`](crate::BlockingAsync), an\n\
             async NOR flash through [`AsyncFlashRegion`](crate::AsyncFlashRegion)).\n\
             Same format, open table, switch and guarantees: both are compiled\n\
             from one source. **Cancellation:** a call whose future is dropped\n\
             before it completes leaves the regions as a power cut at that point\n\
             would, and the store refuses every later call with\n\
             [`Error::Cancelled`](crate::Error::Cancelled): take the regions back\n\
             ([`into_parts`](Self::into_parts)) and open them again; recovery\n\
             proceeds as after a cut. A region passed by value to\n\
             `open` is dropped with a dropped `open` future: pass `&mut` regions\n\
             to keep them. The example below is the blocking store's; README,\n\
             \"Async\", has the async one.\n\n"
        };
    }
    pub(crate) use crate::{AsyncMappedRegion as MappedRegion, AsyncRegion as Region};
    pub(crate) use maybe_async::must_be_async as io;
    pub(crate) mod journal;
    pub(crate) mod store;
}
use engine::store;
#[cfg(feature = "_testkit")]
extern crate std;
#[cfg(feature = "_testkit")]
pub mod testkit;

#[cfg(feature = "critical-section")]
pub use aliases::MutexFlashStore;
pub use aliases::RamStore;
#[cfg(feature = "async")]
pub use aliases::{async_flash_geometry, async_flash_scratch_len, AsyncFlashStore};
#[cfg(feature = "embedded-storage")]
pub use aliases::{flash_scratch_len, FlashStore};
pub use config::{fill_limit, Config, ConfigError, BP_ONE};
pub use damage::{Damage, Scope, DAMAGE_ENTRIES};
pub use error::{Error, Result};
pub use format::RegionClass;
pub use index::{probe, FixedIndex, Index, IndexFull};
pub use medium::fault::{Fault, TearMode};
#[cfg(feature = "embedded-storage")]
pub use medium::flash::{
    flash_geometry, FlashConfigError, FlashError, FlashRegion, SharedFlashRegion, MAX_READ_SIZE,
};
pub use medium::ram::{RamError, RamRegion, RamStats};
pub use medium::region::{
    all_erased, Geometry, MappedRegion, Region, ERASED, MAX_ERASE_UNIT, MAX_REGION_SIZE,
    WRITE_UNITS,
};
#[cfg(feature = "embedded-storage")]
pub use medium::share::FlashCell;
#[cfg(feature = "critical-section")]
pub use medium::share::MutexFlashRegion;
#[cfg(feature = "flash-sim")]
pub use medium::sim::{Reprogram, SimError, SimFlash, SimStats, Wear, WEAK_UNITS};
pub use op::Op;
pub use scratch::Scratch;
pub use stats::{RegionId, Stats};
pub use store::Store;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use engine_async::store::Store as AsyncStore;
#[cfg(feature = "async")]
pub use medium::asynch::{AsyncFlashRegion, AsyncMappedRegion, AsyncRegion, BlockingAsync};

/// The Rust blocks of this crate's README (core/README.md, packaged with the
/// crate), compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
