//! The store: two journals, one index, and the double-buffer switch.
//!
//! One room per part of FORMAT.md: [`open`](self::open) holds the open
//! decision table (§8) and the first format; `salvage` what a salvage open
//! presents; `read` the lookups; `write` single writes and the trigger rule
//! (§7.1); `batch` atomic batches (§5) and their linear-time key tracking
//! (feature `batch`), `staged` the index offsets that tracking borrows;
//! `switch` the switch (§7, one function per step of its crash table);
//! `copy` its step 4, at once or a slice per write (§7.4); `ahead` erase
//! ahead (§7.3), one erase unit at a time; `pair` the two
//! journals and which is active; `tally` the live counters; `replay` what a
//! scan of the active region feeds into the index; `renamed` the deprecated
//! names of methods that took `HashMap`'s; `scratch` the buffer type sized
//! by a configuration; `typed` postcard values (feature `serde`).

mod ahead;
#[cfg(feature = "batch")]
mod batch;
#[cfg(feature = "checkpoint")]
mod checkpoint;
mod copy;
mod open;
mod pair;
mod read;
mod renamed;
mod replay;
mod salvage;
mod staged;
mod switch;
mod tally;
#[cfg(feature = "serde")]
mod typed;
mod write;

use super::journal::lazy::Beyond;
use super::journal::scan::{self, Outcome, Sink};
use super::journal::{Journal, RegionClass, Window};
use super::{io, MappedRegion, Region};
use crate::config::{fill_limit, Config};
use crate::damage::{Damage, DamageList, Scope};
use crate::error::{Error, Fail, Res, Result};
use crate::format::marker::{Marker, MarkerState};
use crate::format::record::{self, Kind, RecordHeader, SealState, Slot};
use crate::format::Limits;
use crate::format::{key_hash, short_hash, RegionHeader, Seal};
use crate::index::Index;
use crate::op::Op;
use crate::stats::{RegionId, Stats};
use copy::CopyState;
use pair::Pair;
use tally::Tally;

#[doc = front!()]
/// `R` is the region type (both regions), `I` the index and `B` a scratch
/// buffer of at least [`Config::scratch_len`] bytes, used to assemble and copy
/// records (a [`Scratch`](crate::Scratch) of that length, or a borrowed `&mut [u8]`). For the
/// common cases one alias names all three: [`RamStore`](crate::RamStore),
/// `FlashStore` (one flash split in two) and `MutexFlashStore` (the same,
/// `Send`). Both journals are built and checked when the store is opened; a
/// switch copies the live records straight from the offsets the index holds.
///
/// ```
/// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};
///
/// let geo = Geometry { size: 4096, read_unit: 1, write_unit: 4, erase_unit: 512 };
/// let len = RamRegion::<&mut [u8]>::storage_len(4096, 4, 512);
/// let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
/// let config = Config::new(0x5EED).with_limits(32, 128);
/// let mut scratch = [0u8; 512];
/// {
///     let ra = RamRegion::new(&mut a[..], geo).unwrap();
///     let rb = RamRegion::new(&mut b[..], geo).unwrap();
///     let mut store = Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config).unwrap();
///     store.set(b"volume", b"7").unwrap();
/// }
/// // Reopen the same bytes: the value is there.
/// let ra = RamRegion::with_contents(&mut a[..], geo).unwrap();
/// let rb = RamRegion::with_contents(&mut b[..], geo).unwrap();
/// let mut store = Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config).unwrap();
/// let mut buf = [0u8; 128];
/// let n = store.get(b"volume", &mut buf).unwrap().unwrap();
/// assert_eq!(&buf[..n], b"7");
/// ```
pub struct Store<R: Region, I: Index, B: AsMut<[u8]>> {
    pair: Pair<R>,
    index: I,
    damage: DamageList,
    scratch: B,
    config: Config,
    store_id: u64,
    generation: u64,
    /// A seal and the state its record checks start from (`seal_state`):
    /// refreshed when the generation changes, and used only while it is
    /// the current seal.
    sealed: (Seal, SealState),
    tally: Tally,
    read_only: bool,
    poisoned: bool,
    /// A call that writes is under way; still set once it returns only if
    /// its future was dropped before it completed (see `enter`).
    in_call: bool,
    switches: u32,
    unfinished_switch: bool,
    damage_at_open: u32,
    /// Stray bytes found past the active log's end since open (FORMAT.md
    /// §6.2): at open, or by a read before an append.
    strays: u32,
    salvaged: bool,
    /// Opening formatted the regions as a new store (generation 1).
    formatted: bool,
    /// A switch under way (FORMAT.md §7.4).
    copy: CopyState,
    /// A lookup met an entry failing its check since the last switch (see
    /// [`Store::lookup`]): a write may then have indexed a record beside a
    /// damaged one of the same key hash, and the copy puts the damaged one
    /// first (`failing_twin`).
    suspects: bool,
    /// The inactive region holds a "superseded" marker programmed by the
    /// last commit and not synced since (regions that do not persist in
    /// order, FORMAT.md §7 step 8): [`Store::sync`] syncs it.
    inactive_unsynced: bool,
    /// A checkpoint this open was given, until the replay takes or drops it.
    #[cfg(feature = "checkpoint")]
    resume: Option<checkpoint::Resume>,
    /// The open took a checkpoint.
    #[cfg(feature = "checkpoint")]
    resumed: bool,
    /// The last prefix check computed (an index checkpoint's, FORMAT.md
    /// §11): generation, active region, position and CRC-32C, so that the
    /// next checkpoint of the same log feeds only the bytes after it.
    #[cfg(feature = "checkpoint")]
    prefix: Option<(u64, RegionId, u32, u32)>,
}

/// How [`Store`] is opened (FORMAT.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Read and write; formats empty storage.
    ReadWrite,
    /// Writes nothing; empty storage is [`Error::ReadOnly`].
    ReadOnly,
    /// Read-only, and presents what can be read of a damaged newest state.
    Salvage,
    /// Formats whatever the regions hold ([`Store::format`]).
    Format,
}

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Scratch bytes a configuration needs at write unit `w`: room for two of
    /// its largest records ([`Config::scratch_len`], which needs no type
    /// parameters).
    pub const fn scratch_len(config: &Config, w: u32) -> usize {
        config.scratch_len(w)
    }

    /// Opens the store on regions `a` and `b`, formatting them if both are
    /// empty. Nothing is erased; the only bytes written to existing regions
    /// are a missing "superseded" marker (FORMAT.md §8).
    ///
    /// Before anything is read: a configuration that does not fit the
    /// regions is [`Error::InvalidConfig`], a scratch buffer shorter than
    /// [`Config::scratch_len`] at the regions' write unit is
    /// [`Error::BufferTooSmall`] with that length (the same checks for every
    /// way of opening).
    pub async fn open(a: R, b: R, index: I, scratch: B, config: Config) -> Result<Self, R::Error> {
        Self::open_mode(a, b, index, scratch, config, OpenMode::ReadWrite).await
    }

    /// [`Store::open`] into a place the caller provides: the store is built
    /// in `slot` and opened there, and the store in it is returned. Whatever
    /// `slot` held is dropped first; on failure it is left `None` (the
    /// regions are dropped, as by a failed `open`).
    ///
    /// For small stacks: the compiler may keep the store `open` returns in
    /// two places in the caller's frame (the returned `Result` and the bound
    /// value; see README, "Footprint"), where `open_in` keeps it in one.
    ///
    /// ```
    /// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};
    ///
    /// let geo = Geometry { size: 4096, read_unit: 1, write_unit: 4, erase_unit: 512 };
    /// let len = RamRegion::<&mut [u8]>::storage_len(4096, 4, 512);
    /// let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
    /// let ra = RamRegion::new(&mut a[..], geo).unwrap();
    /// let rb = RamRegion::new(&mut b[..], geo).unwrap();
    /// let mut index = FixedIndex::<64>::new();
    /// let mut scratch = [0u8; 512];
    /// let config = Config::new(0x5EED).with_limits(32, 128);
    /// let mut slot = None;
    /// let store = Store::open_in(&mut slot, ra, rb, &mut index, &mut scratch[..], config).unwrap();
    /// store.set(b"volume", b"7").unwrap();
    /// assert_eq!(slot.map(|s| s.len()), Some(1));
    /// ```
    pub async fn open_in(
        slot: &mut Option<Self>,
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
    ) -> Result<&mut Self, R::Error> {
        Self::open_mode_in(slot, a, b, index, scratch, config, OpenMode::ReadWrite).await
    }

    /// Opens the store without writing anything. Writes return
    /// [`Error::ReadOnly`]. Empty storage is [`Error::ReadOnly`] too: there
    /// is nothing to read and formatting would write.
    pub async fn open_read_only(
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
    ) -> Result<Self, R::Error> {
        Self::open_mode(a, b, index, scratch, config, OpenMode::ReadOnly).await
    }

    /// Opens a store whose newest state is damaged, read-only, for salvage:
    /// where a normal open reports [`Error::Corrupted`] (the newest region's
    /// header is damaged, or the newest region is missing) or
    /// [`Error::Unrecognised`] (e.g. the older region's header is damaged), this
    /// presents the best state that can still be read — the newer region
    /// scanned with the store id and generation derived from its partner if
    /// its commit is valid, else the older committed region — and sets
    /// [`Stats::salvaged`]. It may be older than the last acknowledged state.
    /// Otherwise it behaves like [`Store::open_read_only`].
    pub async fn open_salvage(
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
    ) -> Result<Self, R::Error> {
        Self::open_mode(a, b, index, scratch, config, OpenMode::Salvage).await
    }

    /// Formats the regions for `config`, whatever they hold, and opens the
    /// store. If they hold a valid store of this store id (and these
    /// options), this is that store's [`Store::clear`]: the next generation,
    /// never a restart at generation 1. Anything else — empty, foreign,
    /// unrecognised or damaged storage — is erased in full and formatted as
    /// generation 1. The caller's explicit decision: [`Store::open`] never
    /// erases storage it does not recognise (read what can be read with
    /// [`Store::open_salvage`] first).
    pub async fn format(
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
    ) -> Result<Self, R::Error> {
        let mut store = Self::open_mode(a, b, index, scratch, config, OpenMode::Format).await?;
        if !store.formatted {
            store.clear().await?;
        }
        Ok(store)
    }

    fn limits(&self) -> Limits {
        Limits {
            max_key: u32::from(self.config.max_key_len),
            max_value: self.config.max_value_len,
        }
    }

    fn seal(&self) -> Seal {
        Seal {
            store_id: self.store_id,
            generation: self.generation,
        }
    }

    /// The state every record check of the active region starts from.
    fn seal_state(&self) -> SealState {
        let seal = self.seal();
        match self.sealed {
            (s, state) if s == seal => state,
            _ => SealState::new(seal),
        }
    }

    /// Caches the current seal's state (after the generation changed).
    fn cache_seal(&mut self) {
        let seal = self.seal();
        self.sealed = (seal, SealState::new(seal));
    }

    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    fn header_for(&self, j: &Journal<R>, generation: u64) -> RegionHeader {
        RegionHeader {
            store_id: self.store_id,
            generation,
            region_size: j.geo.size,
            erase_unit: j.geo.erase_unit,
            write_unit: j.geo.write_unit as u8,
            read_unit: u16::try_from(j.geo.read_unit).unwrap_or(u16::MAX),
            max_key_len: self.config.max_key_len,
            max_value_len: self.config.max_value_len,
            high_water_bp: self.config.high_water_bp,
            max_fill_bp: self.config.max_fill_bp,
        }
    }

    /// Number of keys with a value.
    pub fn len(&self) -> usize {
        self.tally.live_keys
    }

    /// True when no key has a value.
    pub fn is_empty(&self) -> bool {
        self.tally.live_keys == 0
    }

    /// The fill figures of [`stats`](Self::stats) without the rest of a
    /// snapshot, for a caller that checks them before every write (the host
    /// store's growth): the active region, the live bytes and the fill
    /// limit.
    pub fn fill(&self) -> (RegionId, u32, u32) {
        (self.pair.active, self.tally.live_bytes, self.fill_limit())
    }

    /// The index (e.g. to measure its memory).
    pub fn index(&self) -> &I {
        &self.index
    }

    /// A snapshot of the store's state.
    pub fn stats(&self) -> Stats {
        let j = self.pair.active();
        let d = j.data_start();
        Stats {
            active: self.pair.active,
            generation: self.generation,
            store_id: self.store_id,
            capacity: j.capacity(),
            used_bytes: j.append_at() - d,
            uncovered_bytes: j.uncovered(),
            live_bytes: self.tally.live_bytes,
            free_bytes: if j.sealed() {
                0
            } else {
                j.size() - j.append_at()
            },
            fill_limit: self.fill_limit(),
            switches: self.switches,
            live_keys: self.tally.live_keys,
            damaged_keys: self.tally.damaged_keyed + self.damage.entries().len(),
            damage_found_at_open: self.damage_at_open,
            stray_bytes_found: self.strays,
            dirty_tail: j.sealed() && !self.poisoned,
            unfinished_switch: self.unfinished_switch,
            erase_pending: self.pair.inactive().pending(),
            switch_pending: self.copy.left_bytes(),
            switching: self.copying(),
            commit_pending: self.copy.prepared(),
            read_only: self.read_only,
            salvaged: self.salvaged,
        }
    }

    /// Both regions (A, B), e.g. to read their counters.
    pub fn regions(&self) -> (&R, &R) {
        (&self.pair.a.region, &self.pair.b.region)
    }

    /// Gives back the regions, index and scratch buffer (to reopen them).
    pub fn into_parts(self) -> (R, R, I, B) {
        (
            self.pair.a.region,
            self.pair.b.region,
            self.index,
            self.scratch,
        )
    }

    fn check_key(&self, key: &[u8]) -> Res<(), R::Error> {
        if key.is_empty() {
            Err(Fail::EmptyKey)
        } else if key.len() > usize::from(self.config.max_key_len) {
            Err(Fail::KeyTooLarge)
        } else {
            Ok(())
        }
    }

    fn usable(&self) -> Res<(), R::Error> {
        if self.poisoned {
            Err(Fail::Poisoned)
        } else {
            Ok(())
        }
    }

    /// The start of a public call: [`usable`](Self::usable), and not after a
    /// call that never completed (see [`enter`](Self::enter)).
    fn callable(&self) -> Res<(), R::Error> {
        if self.in_call {
            Err(Fail::Cancelled)
        } else {
            self.usable()
        }
    }

    /// The start of a call that writes: refused after a call that never
    /// completed (its future dropped: the async store), since the memory
    /// state may be half way through an update. [`leave`](Self::leave) ends
    /// the call.
    fn enter(&mut self) -> Res<(), R::Error> {
        self.callable()?;
        self.in_call = true;
        Ok(())
    }

    /// The end of a call [`enter`](Self::enter) began, with its result.
    fn leave<T>(&mut self, r: Res<T, R::Error>) -> Result<T, R::Error> {
        self.in_call = false;
        r.map_err(Error::from)
    }

    fn writable(&self) -> Res<(), R::Error> {
        self.usable()?;
        if self.read_only {
            Err(Fail::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn fill_limit(&self) -> u32 {
        let cap = self.pair.a.capacity().min(self.pair.b.capacity());
        fill_limit(cap, self.config.max_fill_bp)
    }
}

/// The generation after `g`, if it is one a header can carry (FORMAT.md §2).
#[cfg_attr(not(feature = "fast-crc"), inline(never))]
pub(crate) fn next_generation(g: u64) -> Option<u64> {
    g.checked_add(1).filter(|&n| n < u64::MAX)
}

fn set_len<E>(key: &[u8], value: &[u8], w: u32) -> Res<u32, E> {
    let k = u32::try_from(key.len()).map_err(|_| Fail::KeyTooLarge)?;
    let v = u32::try_from(value.len()).map_err(|_| Fail::ValueTooLarge)?;
    record::stored_len(k, v, w).ok_or(Fail::ValueTooLarge)
}

fn damage_record_len(scope: Scope, w: u32) -> u32 {
    let v = if matches!(scope, Scope::Any) { 1 } else { 0 };
    record::stored_len(0, v, w).unwrap_or(0)
}
