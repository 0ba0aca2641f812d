//! [`Store`]: a persistent byte map in a pair of memory-mapped files.
//!
//! This file holds the facade: the type, its opens, reads and writes. The
//! rest of the room: `checkpoint.rs` (when the index checkpoint file is
//! written, FORMAT.md §11), `grow.rs` (growth of the files before and during
//! writes), `resize.rs` ([`Store::resize`] and settling an interrupted one),
//! `snapshot.rs` ([`Store::open_snapshot`] and the lock-free read of a pair),
//! `typed.rs` (postcard values, feature `serde`).

mod checkpoint;
mod grow;
mod resize;
mod snapshot;
#[cfg(feature = "serde")]
mod typed;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use twinkv_core::{Config, Op, RegionId, Stats};

use crate::error::{Error, Result};
use crate::files::{self, region_paths, RegionFile};
use crate::index::VecIndex;
use crate::options::{Durability, Options, MAX_REGION_SIZE};
use crate::region::{AnyRegion, MemRegion, MmapRegion, WRITE_UNIT};
use checkpoint::Checkpoints;
use grow::{ops_len, Growth};
pub(crate) use snapshot::read_snapshot;

type Inner = twinkv_core::Store<AnyRegion, VecIndex, Vec<u8>>;

/// How the store was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Write,
    ReadOnly,
    Snapshot,
    /// [`Store::open_salvage`]'s copies; `dropped`: a file was read as
    /// missing because no region has its length.
    Salvage {
        dropped: bool,
    },
}

/// A crash-resilient persistent map from byte keys to byte values, kept in two
/// memory-mapped files `<path>.a` and `<path>.b` (see [`region_paths`]).
///
/// ```no_run
/// use twinkv_host::{Options, Store};
///
/// let mut store = Store::open("settings", Options::new())?; // settings.a + settings.b, 1 MiB each
/// store.set("volume", "7")?;
/// assert_eq!(store.get("volume")?, Some(&b"7"[..])); // zero-copy, checksum verified
/// store.sync()?; // power-loss barrier; kill -9 is survived without it
/// # Ok::<(), twinkv_host::Error>(())
/// ```
///
/// Methods follow `HashMap`'s names and return [`Result`]. Keys and values are
/// bytes; anything `AsRef<[u8]>` (`&str`, `String`, `Vec<u8>`, `&[u8]`) is
/// accepted. A value that fails its check reads as [`Error::Core`] with
/// `Corrupted`, never as an older value.
///
/// A writer holds an exclusive advisory lock on both files; a second writer or
/// a read-only open gets [`Error::Locked`]. After a failed write the store
/// refuses further writes until reopened (core's `Poisoned`).
///
/// Dropping a writable store syncs it if anything was written since the last
/// sync and compacts a log that is mostly garbage (errors are ignored there;
/// [`close`](Self::close) returns them; [`Options::sync_on_close`] turns it
/// off; see [Compaction on close](Options#compaction-on-close)).
pub struct Store {
    inner: Option<Inner>,
    base: PathBuf,
    a: Option<RegionFile>,
    b: Option<RegionFile>,
    config: Config,
    durability: Durability,
    grow: Growth,
    mode: Mode,
    /// A file with an invalid header that core was left to judge.
    suspect: Option<PathBuf>,
    /// Whether dropping the store syncs it ([`Options::sync_on_close`]).
    sync_on_close: bool,
    /// Something was written since the last sync.
    unsynced: bool,
    /// This open created both files ([`Store::created`]).
    created: bool,
    /// [`Options::compact_on_close`] in basis points (`None`: off).
    compact_on_close: Option<u32>,
    /// Index checkpoints ([`Options::index_checkpoint`]): when the next is
    /// due.
    checkpoints: Checkpoints,
}

fn closed() -> Error {
    Error::Closed
}

impl Store {
    /// Opens the store at `path` for reading and writing, creating its two
    /// files if they are absent (and [`Options::create`] allows it).
    ///
    /// - A new store gets a random store id; each file is created as a temp
    ///   file of real `0xFF` bytes (not sparse), fsynced, renamed into place,
    ///   and the directory fsynced.
    /// - An existing store is opened with the options its header records;
    ///   options set explicitly must match ([`Error::OptionsConflict`]),
    ///   except the region size, a minimum: a store that grew past it opens
    ///   at its recorded size (see [Growth](Options#growth)).
    /// - One file missing or empty: recreated when its partner is a complete
    ///   committed region, else [`Error::NewerRegionMissing`] and nothing is
    ///   written.
    /// - Files of another store, of another geometry, or not twinkv files are
    ///   refused and left unchanged.
    /// - Files of different sizes (an interrupted [`resize`](Self::resize)):
    ///   the inactive one takes the active region's size, the old size if the
    ///   resize's switch had not committed, the new one if it had.
    ///
    /// Reopening never erases data. If `<path>.ckpt` holds an index
    /// checkpoint of the active log ([`Options::index_checkpoint`],
    /// FORMAT.md §11), the open loads the index from it and replays only
    /// the log written after it ([`opened_from_checkpoint`](Self::opened_from_checkpoint)).
    ///
    /// Refusals happen before anything is written: anything at either path
    /// that is not a regular file (device, FIFO, socket, directory, also
    /// behind a symbolic link) is refused from its metadata without being
    /// opened for reading or writing, and an open that fails changes no byte
    /// of either file. If the open fails after creating the files (say the
    /// disk is full when the second one is written), the files it created are
    /// removed again. With [`Options::create`]`(false)` nothing is created or
    /// formatted: an absent, empty or never committed pair is
    /// [`Error::NotFound`] or [`Error::Open`].
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Store> {
        let base = path.as_ref().to_path_buf();
        let mut opened = files::open_pair(&base, &options, true)?;
        let created = opened.created.whole_store();
        let mut store = Store {
            inner: None,
            base,
            a: opened.a.take(),
            b: opened.b.take(),
            config: opened.config,
            durability: options.durability,
            grow: Growth {
                on: !options.no_auto_grow,
                max: options.max_region_size.unwrap_or(MAX_REGION_SIZE),
                target: 0,
                failed: None,
            },
            mode: Mode::Write,
            suspect: opened.suspect.take(),
            sync_on_close: !options.no_sync_on_close,
            unsynced: false,
            created,
            compact_on_close: options.compact_on_close_bp(),
            checkpoints: Checkpoints::new(!options.no_checkpoint),
        };
        let r = (|| {
            if !options.create && !opened.committed {
                // Core could only format this pair (or refuse it): ask a
                // read-only open, which writes nothing, which of the two.
                store.mode = Mode::ReadOnly;
                let probe = store.map();
                store.inner = None;
                store.mode = Mode::Write;
                probe?;
            }
            store.map_at_open(true)?;
            store.note_open_replay();
            store.converge()
        })();
        if let Err(e) = r {
            store.inner = None;
            store.a = None;
            store.b = None;
            opened.created.undo();
            return Err(e);
        }
        Ok(store)
    }

    /// Whether this open created the store: both files were absent.
    /// A command that fails right after creating a store can remove the files
    /// again (the `twinkv` CLI does).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Finishes a switch under way (its remaining copy and commit, see
    /// twinkv-core's `Stats::switching`), syncs (when anything was written
    /// since the last sync), compacts a log that is mostly garbage (see
    /// [Compaction on close](Options#compaction-on-close)), writes the index
    /// checkpoint (see [`Options::index_checkpoint`]) and closes the
    /// store, returning the error that dropping it would ignore (the
    /// checkpoint is best effort: failing to write it is no error).
    pub fn close(mut self) -> Result<()> {
        // Done here, with its errors returned: not again by the drop.
        self.sync_on_close = false;
        if self.mode == Mode::Write && self.inner.is_some() {
            // A switch under way (FORMAT.md §7.4) is finished: after a
            // reopen its copy would start over, behind an erase of what it
            // had copied.
            self.finish_switch()?;
        }
        self.compact_on_close()?;
        self.sync_if_written()?;
        self.save_checkpoint();
        Ok(())
    }

    /// Whether this open loaded the index from the checkpoint a close
    /// wrote ([`Options::index_checkpoint`], FORMAT.md §11), replaying only
    /// the log written after it; false when there was none or it did not
    /// match the files (then the whole log was replayed).
    pub fn opened_from_checkpoint(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(Inner::opened_from_checkpoint)
    }

    /// Whether a close would compact the log now (see [Compaction on
    /// close](Options#compaction-on-close)): a writable store with the
    /// option on, no switch under way, and a next open whose estimated work
    /// (used bytes + 3/8 of twinkv-core's `Stats::uncovered_bytes`) exceeds
    /// the ratio × the live bytes, and them by at least
    /// [`COMPACT_ON_CLOSE_MIN_GARBAGE`](crate::COMPACT_ON_CLOSE_MIN_GARBAGE).
    pub fn would_compact_on_close(&self) -> bool {
        let (Some(bp), Mode::Write, Some(inner)) = (self.compact_on_close, self.mode, &self.inner)
        else {
            return false;
        };
        let st = inner.stats();
        let (used, live) = (u64::from(st.used_bytes), u64::from(st.live_bytes));
        let uncovered = u64::from(st.uncovered_bytes);
        let work = used + uncovered * u64::from(crate::COMPACT_ON_CLOSE_UNCOVERED_EIGHTHS) / 8;
        !st.switching
            && !st.read_only
            && work.saturating_sub(live) >= u64::from(crate::COMPACT_ON_CLOSE_MIN_GARBAGE)
            && work * u64::from(twinkv_core::BP_ONE) > live * u64::from(bp)
    }

    /// The compaction of a clean close, when [`would_compact_on_close`](Self::would_compact_on_close):
    /// a sync first (so that a failing compaction loses nothing), then a
    /// switch; the caller's final sync follows.
    fn compact_on_close(&mut self) -> Result<()> {
        if !self.would_compact_on_close() {
            return Ok(());
        }
        self.sync_if_written()?;
        self.compact()
    }

    /// Finishes a switch under way, if any: its remaining copy and commit.
    pub(super) fn finish_switch(&mut self) -> Result<()> {
        let inner = self.inner_mut()?;
        if inner.stats().switching {
            inner.maintain(u32::MAX)?;
        }
        Ok(())
    }

    fn sync_if_written(&mut self) -> Result<()> {
        if self.mode != Mode::Write || !self.unsynced {
            return Ok(());
        }
        self.unsynced = false;
        match self.inner.as_mut() {
            Some(i) => Ok(i.sync()?),
            None => Ok(()),
        }
    }

    /// Opens an existing store for reading, under a shared lock (several
    /// readers at once; [`Error::Locked`] while a writer holds the store).
    /// Writes nothing; writes through it fail with core's `ReadOnly`.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let base = path.as_ref().to_path_buf();
        let opened = files::open_pair(&base, &Options::new().create(false), false)?;
        let mut store = Store {
            inner: None,
            base,
            a: opened.a,
            b: opened.b,
            config: opened.config,
            durability: Durability::Default,
            grow: Growth::off(),
            mode: Mode::ReadOnly,
            suspect: opened.suspect,
            sync_on_close: false,
            unsynced: false,
            created: false,
            compact_on_close: None,
            checkpoints: Checkpoints::new(false),
        };
        store.map()?;
        Ok(store)
    }

    /// Maps the files and opens core on them.
    fn map(&mut self) -> Result<()> {
        self.map_at_open(false)
    }

    /// [`map`](Self::map); `at_open`: the store's open, which reads the
    /// index checkpoint (not a growth or resize mapping new files).
    fn map_at_open(&mut self, at_open: bool) -> Result<()> {
        self.inner = None;
        #[cfg(feature = "_test-hooks")]
        if let Some(e) = crate::hooks::map_failure() {
            return Err(e.into());
        }
        let write = self.mode == Mode::Write;
        let region = |f: &Option<RegionFile>, partner: &Option<RegionFile>| -> Result<AnyRegion> {
            match (f, partner) {
                (Some(f), _) => {
                    let dup = f.file.try_clone().map_err(|e| Error::io(&f.path, e))?;
                    let mut r = MmapRegion::with_len(dup, write, f.map_len)
                        .map_err(|e| Error::io(&f.path, e))?;
                    // The replay's last read, on the other core meanwhile.
                    if f.likely_active {
                        r.scan_erased_tail();
                    }
                    Ok(AnyRegion::Mapped(r))
                }
                // Read-only open of a store whose partner file is missing or
                // empty: an erased stand-in of the same size.
                (None, Some(p)) => {
                    let size = u32::try_from(p.map_len).unwrap_or(0);
                    let geo = MmapRegion::geometry_for(size);
                    let r = MemRegion::new(vec![0xFF; size as usize], geo, false)
                        .map_err(|e| Error::io(&p.path, e))?;
                    Ok(AnyRegion::Mem(r))
                }
                (None, None) => Err(Error::NotFound(self.base.clone())),
            }
        };
        let ra = region(&self.a, &self.b)?;
        let rb = region(&self.b, &self.a)?;
        let how = if write {
            CoreOpen::Write
        } else {
            CoreOpen::ReadOnly
        };
        // At open only (not when growth maps new files).
        let checkpoint = match how {
            CoreOpen::Write if self.checkpoints.on && at_open => {
                files::read_checkpoint(&self.base).filter(|c| self.may_be_of_the_active(c))
            }
            _ => None,
        };
        let inner = open_core(ra, rb, self.config, how, checkpoint).map_err(|e| {
            match (e, &self.suspect) {
                (Error::Core(twinkv_core::Error::Unrecognised), Some(p)) => {
                    Error::not_region(p, "not a twinkv region file")
                }
                (e, _) => e.at_open(&self.base),
            }
        })?;
        let (a, b) = inner.regions();
        for r in [a, b] {
            if let AnyRegion::Mapped(m) = r {
                m.stop_erased_tail();
            }
        }
        self.inner = Some(inner);
        #[cfg(feature = "_test-hooks")]
        crate::hooks::core_opened();
        Ok(())
    }

    fn inner(&self) -> Result<&Inner> {
        self.inner.as_ref().ok_or_else(closed)
    }

    fn inner_mut(&mut self) -> Result<&mut Inner> {
        self.inner.as_mut().ok_or_else(closed)
    }

    /// The file of region `which` (none on a snapshot or a closed store).
    fn file(&self, which: RegionId) -> Result<&RegionFile> {
        match which {
            RegionId::A => self.a.as_ref(),
            RegionId::B => self.b.as_ref(),
        }
        .ok_or_else(closed)
    }

    /// The base path the store was opened with.
    pub fn path(&self) -> &Path {
        &self.base
    }

    /// The two region files, `<path>.a` and `<path>.b`.
    pub fn file_paths(&self) -> (PathBuf, PathBuf) {
        region_paths(&self.base)
    }

    /// The configuration in force (the store id and what the header records).
    pub fn config(&self) -> Config {
        self.config
    }

    /// Sizes of region A and region B in bytes (equal except while a resize
    /// or a growth is under way).
    pub fn region_sizes(&self) -> (u32, u32) {
        match &self.inner {
            Some(i) => {
                let (a, b) = i.regions();
                use twinkv_core::Region;
                (a.geometry().size, b.geometry().size)
            }
            None => (0, 0),
        }
    }

    // ----- reads -----------------------------------------------------------

    /// The value of `key`, borrowed from the mapping (no copy); its record
    /// is checked on every call (from the third `get` of a key since it was
    /// written, against the fingerprint the index keeps of it: see
    /// [`VecIndex`](crate::VecIndex)). `Ok(None)` when the key has no
    /// value.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<&[u8]>> {
        Ok(self.inner()?.get_ref(key.as_ref())?)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Number of keys with a value (0 on a store a failed resize left
    /// closed: see [`is_closed`](Self::is_closed)).
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.len())
    }

    /// Whether a failed resize left the store closed: every other call then
    /// answers [`Error::Closed`], and [`len`](Self::len) answers 0 (it has no
    /// error to return); reopen the store.
    pub fn is_closed(&self) -> bool {
        self.inner.is_none()
    }

    /// True when no key has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `(key, value)`, borrowed from the mapping, each record's check
    /// verified. Order: the index's (by key hash), arbitrary but stable while
    /// the store is not written; sort the collected pairs for key order.
    pub fn iter(&self) -> impl Iterator<Item = Result<(&[u8], &[u8])>> + '_ {
        self.inner
            .iter()
            .flat_map(|i| i.iter_ref())
            .map(|r| r.map_err(Error::from))
    }

    /// Every key, in [`iter`](Self::iter)'s order.
    pub fn keys(&self) -> impl Iterator<Item = Result<&[u8]>> + '_ {
        self.iter().map(|r| r.map(|(k, _)| k))
    }

    /// A copy of the whole map.
    pub fn to_hashmap(&self) -> Result<HashMap<Vec<u8>, Vec<u8>>> {
        self.iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect()
    }

    /// The store's state: active region, generation, used, live and free
    /// bytes, switches since open, keys, damaged keys, and what open found.
    ///
    /// On a store from [`Store::open_salvage`] that read a file as missing
    /// (no region has its length), `salvaged` is set: the other file may
    /// have held a newer state.
    pub fn stats(&self) -> Result<Stats> {
        let mut stats = self.inner()?.stats();
        if self.mode == (Mode::Salvage { dropped: true }) {
            stats.salvaged = true;
        }
        Ok(stats)
    }

    // ----- writes ----------------------------------------------------------

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (k, v) = (key.as_ref(), value.as_ref());
        self.write(ops_len(&[Op::Set(k, v)]), |i| i.set(k, v))
    }

    /// Deletes `key`; returns whether it had a value.
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> Result<bool> {
        let k = key.as_ref();
        let mut had = false;
        self.write(ops_len(&[Op::Delete(k)]), |i| {
            had = i.remove(k)?;
            Ok(())
        })?;
        Ok(had)
    }

    /// Sets every pair atomically: after a crash either all or none is
    /// visible. Later pairs win over earlier ones with the same key.
    pub fn set_many<K, V>(&mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let pairs: Vec<(K, V)> = pairs.into_iter().collect();
        let ops: Vec<Op<'_>> = pairs
            .iter()
            .map(|(k, v)| Op::Set(k.as_ref(), v.as_ref()))
            .collect();
        self.apply(&ops)
    }

    /// Applies sets and deletes atomically (core's [`Op`]).
    pub fn apply(&mut self, ops: &[Op<'_>]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.write(ops_len(ops), |i| i.apply(ops))
    }

    /// Deletes every key: a switch to an empty region. Old data never comes
    /// back.
    pub fn clear(&mut self) -> Result<()> {
        self.write(0, |i| i.clear())
    }

    /// Compacts the live data into the other region now (a switch).
    pub fn compact(&mut self) -> Result<()> {
        self.unsynced = true;
        self.inner_mut()?.compact()?;
        if self.durability == Durability::SyncEveryWrite {
            self.sync()?;
        }
        Ok(())
    }

    /// Power-loss barrier: everything written before returns survives power
    /// loss. Flushes the mapping (`msync`), then `fdatasync`, then appends a
    /// sync marker (FORMAT.md §6.3).
    pub fn sync(&mut self) -> Result<()> {
        self.inner_mut()?.sync()?;
        self.unsynced = false;
        Ok(())
    }

    /// Drops every damaged record and damage entry into a fresh committed
    /// region (core's `Store::repair`): a key whose newest record was damaged
    /// then reads as absent, and one a damage entry covered reads its newest
    /// intact value. Returns how many damaged keys or key groups were dropped.
    /// The loss becomes silent afterwards: list the damage first
    /// ([`inspect::verify_store`](crate::inspect::verify_store), `twinkv verify`).
    pub fn repair(&mut self) -> Result<usize> {
        self.unsynced = true;
        let n = self.inner_mut()?.repair()?;
        if self.durability == Durability::SyncEveryWrite {
            self.sync()?;
        }
        Ok(n)
    }

    /// Runs the write `f`, which appends at most `add` record bytes: one
    /// growth step first, and if the store is full, a whole growth and `f`
    /// again (see [Growth](Options#growth)).
    fn write(
        &mut self,
        add: u64,
        mut f: impl FnMut(&mut Inner) -> twinkv_core::Result<(), std::io::Error>,
    ) -> Result<()> {
        self.unsynced = true;
        if self.mode == Mode::Write {
            self.grow_step(add)?;
        }
        loop {
            let r = f(self.inner_mut()?);
            match r {
                Err(twinkv_core::Error::Full) => {
                    if !self.grow_now()? {
                        return Err(self.full_error(add));
                    }
                }
                Err(e) => return Err(e.into()),
                Ok(()) => break,
            }
        }
        if self.durability == Durability::SyncEveryWrite {
            self.sync()?;
        }
        self.checkpoint_if_due(add);
        Ok(())
    }
}

/// A writable store syncs when dropped if anything was written since the
/// last sync, and compacts a log that is mostly garbage (see [Compaction on
/// close](Options#compaction-on-close)), unless [`Options::sync_on_close`]
/// is off; errors are ignored here; [`Store::close`] returns them.
impl Drop for Store {
    fn drop(&mut self) {
        if self.sync_on_close {
            let _ = self.compact_on_close();
            if self.sync_if_written().is_ok() {
                self.save_checkpoint();
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.base)
            .field("mode", &self.mode)
            .field("len", &self.len())
            .finish()
    }
}

/// How [`open_core`] opens core.
#[derive(Clone, Copy)]
enum CoreOpen {
    Write,
    ReadOnly,
    /// Core's `open_salvage` (read-only).
    Salvage,
}

/// Opens core on two regions; a writable open given a `checkpoint`
/// (FORMAT.md §11) loads the index from it if it matches.
fn open_core(
    ra: AnyRegion,
    rb: AnyRegion,
    config: Config,
    how: CoreOpen,
    checkpoint: Option<Vec<u8>>,
) -> Result<Inner> {
    let scratch = vec![0u8; Inner::scratch_len(&config, WRITE_UNIT)];
    let index = VecIndex::new();
    let r = match (how, checkpoint) {
        (CoreOpen::Write, Some(c)) => {
            Inner::open_with_checkpoint(ra, rb, index, scratch, config, &c)
        }
        (CoreOpen::Write, None) => Inner::open(ra, rb, index, scratch, config),
        (CoreOpen::ReadOnly, _) => Inner::open_read_only(ra, rb, index, scratch, config),
        (CoreOpen::Salvage, _) => Inner::open_salvage(ra, rb, index, scratch, config),
    };
    Ok(r?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn store_is_send() {
        assert_send::<Store>();
    }
}
