//! [`Store`]: a persistent byte map in a pair of memory-mapped files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use twinkv_core::format::Layout;
use twinkv_core::{fill_limit, Config, Op, RegionId, Stats};

use crate::error::{Error, GrowthStop, Result};
use crate::files::{self, region_paths, RegionFile};
use crate::index::VecIndex;
use crate::memregion::{AnyRegion, MemRegion};
use crate::mmap::{MmapRegion, ERASE_UNIT, WRITE_UNIT};
use crate::options::{check_config, Durability, Options, MAX_REGION_SIZE};

type Inner = twinkv_core::Store<AnyRegion, VecIndex, Vec<u8>>;

/// The fewest bytes of `0xFF` a growth step writes into the inactive file
/// (see [Growth](Options#growth)).
pub(crate) const GROW_CHUNK: u64 = 256 * 1024;

/// Growth of the region files (see [Growth](Options#growth)). Kept in
/// memory only: the files are the record.
#[derive(Debug)]
struct Growth {
    on: bool,
    /// The largest size growth may reach.
    max: u32,
    /// The size both regions are growing to; at most the smaller region's
    /// size when no growth is under way.
    target: u32,
    /// Why growing failed (it is not tried again until a reopen).
    failed: Option<String>,
}

impl Growth {
    fn off() -> Self {
        Growth {
            on: false,
            max: MAX_REGION_SIZE,
            target: 0,
            failed: None,
        }
    }
}

/// The next size of a growth: double, at most `max`, a multiple of 512.
fn next_size(size: u32, max: u32) -> u32 {
    size.saturating_mul(2).min(max) / ERASE_UNIT * ERASE_UNIT
}

/// Record bytes `ops` append at most (the records, and a batch's framing).
fn ops_len(ops: &[Op<'_>]) -> u64 {
    let len = |k: usize, v: usize| {
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let v = u32::try_from(v).unwrap_or(u32::MAX);
        twinkv_core::format::record::stored_len(k, v, WRITE_UNIT).map_or(u64::MAX / 4, u64::from)
    };
    let records: u64 = ops
        .iter()
        .map(|op| match op {
            Op::Set(k, v) => len(k.len(), v.len()),
            Op::Delete(k) => len(k.len(), 0),
        })
        .sum();
    if ops.len() > 1 {
        records + len(0, 8) + len(0, 16)
    } else {
        records
    }
}

/// How the store was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Write,
    ReadOnly,
    Snapshot,
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
/// sync (errors are ignored there; [`close`](Self::close) returns them;
/// [`Options::sync_on_close`] turns it off).
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
    /// Reopening never erases data.
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
            store.map()?;
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

    /// Syncs (when anything was written since the last sync) and closes the
    /// store, returning the error that dropping it would ignore.
    pub fn close(mut self) -> Result<()> {
        self.sync_if_written()
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
        };
        store.map()?;
        Ok(store)
    }

    /// Opens a consistent in-memory copy of the store without taking any
    /// lock, for looking at a store another process is writing. Both files
    /// are read with plain reads, again and again until the header area of
    /// both reads the same before and after. Read-only.
    pub fn open_snapshot(path: impl AsRef<Path>) -> Result<Store> {
        let base = path.as_ref().to_path_buf();
        let (a, b) = read_snapshot(&base)?;
        let (ra, rb) = snapshot_regions(&base, a, b)?;
        let config = snapshot_config(&base, &ra, &rb)?;
        let inner = open_core(ra, rb, config, false).map_err(|e| e.at_open(&base))?;
        Ok(Store {
            inner: Some(inner),
            base,
            a: None,
            b: None,
            config,
            durability: Durability::Default,
            grow: Growth::off(),
            mode: Mode::Snapshot,
            suspect: None,
            sync_on_close: false,
            unsynced: false,
            created: false,
        })
    }

    /// Maps the files and opens core on them.
    fn map(&mut self) -> Result<()> {
        self.inner = None;
        let write = self.mode == Mode::Write;
        let region = |f: &Option<RegionFile>, partner: &Option<RegionFile>| -> Result<AnyRegion> {
            match (f, partner) {
                (Some(f), _) => {
                    let dup = f.file.try_clone().map_err(|e| Error::io(&f.path, e))?;
                    let r = MmapRegion::with_len(dup, write, f.map_len)
                        .map_err(|e| Error::io(&f.path, e))?;
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
        let inner =
            open_core(ra, rb, self.config, write).map_err(|e| match (e, &self.suspect) {
                (Error::Core(twinkv_core::Error::Unrecognised), Some(p)) => {
                    Error::not_region(p, "not a twinkv region file")
                }
                (e, _) => e.at_open(&self.base),
            })?;
        self.inner = Some(inner);
        Ok(())
    }

    fn inner(&self) -> Result<&Inner> {
        self.inner.as_ref().ok_or_else(closed)
    }

    fn inner_mut(&mut self) -> Result<&mut Inner> {
        self.inner.as_mut().ok_or_else(closed)
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

    /// The value of `key`, borrowed from the mapping (no copy); its check is
    /// verified on every call. `Ok(None)` when the key has no value.
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
    pub fn stats(&self) -> Result<Stats> {
        Ok(self.inner()?.stats())
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
            had = i.delete(k)?;
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
        Ok(())
    }

    // ----- growth ----------------------------------------------------------

    /// [`Error::Full`] with the figures, for a write of `add` bytes.
    fn full_error(&self, add: u64) -> Error {
        let Ok(st) = self.stats() else {
            return Error::Core(twinkv_core::Error::Full);
        };
        let (sa, sb) = self.region_sizes();
        let growth = if let Some(e) = &self.grow.failed {
            GrowthStop::Failed(e.clone())
        } else if self.grow.on {
            GrowthStop::AtMax(self.grow.max)
        } else {
            GrowthStop::Off
        };
        Error::Full {
            live: u64::from(st.live_bytes),
            write: add,
            limit: u64::from(st.fill_limit),
            region_size: sa.min(sb),
            max_fill_bp: self.config.max_fill_bp,
            growth,
        }
    }

    /// Sizes of the active and the inactive region.
    fn active_sizes(&self, active: RegionId) -> (u32, u32) {
        let (sa, sb) = self.region_sizes();
        match active {
            RegionId::A => (sa, sb),
            RegionId::B => (sb, sa),
        }
    }

    /// One step of growth before a write of at most `add` bytes (see
    /// [Growth](Options#growth)): starts a growth once the live data would
    /// pass half the fill limit, writes one chunk of `0xFF` into the inactive
    /// file, puts the grown file in place when it is complete, and forces the
    /// switch into it once the live data passes three quarters of the limit.
    /// A failing fill stops growth (it is reported by [`Error::Full`]); a
    /// failing switch is returned.
    fn grow_step(&mut self, add: u64) -> Result<()> {
        if !self.grow.on || self.grow.failed.is_some() {
            return Ok(());
        }
        let st = self.stats()?;
        let (act, inact) = self.active_sizes(st.active);
        let small = act.min(inact);
        let (live, limit) = (u64::from(st.live_bytes), u64::from(st.fill_limit));
        if self.grow.target <= small {
            if 2 * (live + add) <= limit {
                return Ok(());
            }
            let next = next_size(small, self.grow.max);
            if next <= small {
                return Ok(());
            }
            self.grow.target = next;
        }
        let target = self.grow.target;
        if inact < target {
            // Filled before the live data reaches the switch point (3/4 of
            // the limit) while the active region is the small one, before
            // the limit itself afterwards: each write fills at least its
            // share of what is left.
            let until = if act < target { limit / 4 * 3 } else { limit };
            let room = until.saturating_sub(live).max(1);
            let inactive = st.active.other();
            let len = self.file(inactive)?.len()?;
            let remaining = u64::from(target).saturating_sub(len);
            let share = remaining.saturating_mul(add.max(1)).div_ceil(room);
            let chunk = GROW_CHUNK.max(share);
            if let Err(e) = self.fill_inactive(inactive, chunk) {
                self.grow.failed = Some(e.to_string());
            }
        } else if act < target && live + add > limit / 4 * 3 {
            // The larger region waits inactive; no switch came: force one.
            self.compact()?;
        }
        Ok(())
    }

    /// Grows the store now, all of it (a write found it full): fills the
    /// inactive file to the next size, switches into it if needed, fills the
    /// other. `false` when it cannot grow (off, at the maximum, a fill
    /// failed).
    fn grow_now(&mut self) -> Result<bool> {
        if !self.grow.on || self.grow.failed.is_some() || self.mode != Mode::Write {
            return Ok(false);
        }
        let st = self.stats()?;
        let (act, inact) = self.active_sizes(st.active);
        let small = act.min(inact);
        if self.grow.target <= small {
            let next = next_size(small, self.grow.max);
            if next <= small {
                return Ok(false);
            }
            self.grow.target = next;
        }
        let target = self.grow.target;
        for _ in 0..2 {
            let active = self.stats()?.active;
            let (act, inact) = self.active_sizes(active);
            if inact < target {
                if let Err(e) = self.fill_inactive(active.other(), u64::MAX) {
                    self.grow.failed = Some(e.to_string());
                    return Ok(false);
                }
            }
            if act >= target {
                break;
            }
            self.compact()?;
        }
        Ok(true)
    }

    /// Writes up to `chunk` bytes of `0xFF` past the end of the inactive
    /// file, towards the growth's target; when the file reaches it, maps it
    /// and puts it in place of the inactive region in core (no reopen). The
    /// bytes are made durable by the next switch's syncs; the file's length
    /// past its mapping is outside every region, whatever a crash leaves
    /// there ([`open`](Self::open) settles it).
    fn fill_inactive(&mut self, inactive: RegionId, chunk: u64) -> Result<()> {
        let target = u64::from(self.grow.target);
        let f = self.file(inactive)?;
        let len = f.len()?;
        if len < target {
            let unit = u64::from(ERASE_UNIT);
            let to = len
                .saturating_add(chunk.div_ceil(unit).saturating_mul(unit))
                .min(target);
            files::extend_erased(&f.path, &f.file, len, to)?;
            if to < target {
                return Ok(());
            }
        }
        let f = self.file(inactive)?;
        let dup = f.file.try_clone().map_err(|e| Error::io(&f.path, e))?;
        let region = MmapRegion::with_len(dup, true, target).map_err(|e| Error::io(&f.path, e))?;
        self.inner_mut()?
            .replace_inactive(AnyRegion::Mapped(region), true)?;
        match inactive {
            RegionId::A => self.a.as_mut(),
            RegionId::B => self.b.as_mut(),
        }
        .ok_or_else(closed)?
        .map_len = target;
        Ok(())
    }

    // ----- resize ----------------------------------------------------------

    /// Changes both region files to `new_size` bytes (a multiple of 512).
    ///
    /// The inactive file is resized first (growing writes real `0xFF` bytes),
    /// the live data is compacted into it by a switch, then the other file is
    /// resized. Shrinking is refused ([`Error::DoesNotFit`]) unless the live
    /// data fits the new size's max-fill limit.
    ///
    /// A resize that fails (a full disk while growing) or is interrupted by a
    /// crash leaves the store at its old size or at the new one, never at a
    /// third: a failed grow is truncated back before the error is returned,
    /// and [`open`](Self::open) settles the inactive file on the active
    /// region's size (before the switch: the old size; after it: the new).
    pub fn resize(&mut self, new_size: u32) -> Result<()> {
        check_config(&self.config, new_size)?;
        let stats = self.stats()?;
        let (sa, sb) = self.region_sizes();
        if sa == new_size && sb == new_size {
            return Ok(());
        }
        let d = Layout::new(WRITE_UNIT).data_start();
        let limit = fill_limit(new_size - d, self.config.max_fill_bp);
        if stats.live_bytes > limit {
            return Err(Error::DoesNotFit {
                live: u64::from(stats.live_bytes),
                limit: u64::from(limit),
            });
        }
        let inactive = match stats.active {
            RegionId::A => RegionId::B,
            RegionId::B => RegionId::A,
        };
        self.set_file_len(inactive, new_size)?;
        self.compact()?;
        self.set_file_len(stats.active, new_size)?;
        self.grow.target = 0;
        Ok(())
    }

    fn file(&self, which: RegionId) -> Result<&RegionFile> {
        match which {
            RegionId::A => self.a.as_ref(),
            RegionId::B => self.b.as_ref(),
        }
        .ok_or_else(closed)
    }

    /// Unmaps, sets one file's length (only ever the inactive one), remaps.
    /// A grow that fails is truncated back to the old length and the store
    /// remapped before the error is returned.
    fn set_file_len(&mut self, which: RegionId, len: u32) -> Result<()> {
        self.inner = None;
        let f = self.file(which)?;
        let cur = f.len()?;
        let len = u64::from(len);
        let r = if len > cur {
            files::fill_erased(&f.path, &f.file, cur, len).inspect_err(|_| {
                let _ = files::truncate(&f.path, &f.file, cur);
            })
        } else if len < cur {
            files::truncate(&f.path, &f.file, len)
        } else {
            Ok(())
        };
        let now = f.len()?;
        match which {
            RegionId::A => self.a.as_mut(),
            RegionId::B => self.b.as_mut(),
        }
        .ok_or_else(closed)?
        .map_len = now;
        let remapped = self.map();
        r.and(remapped)
    }

    /// Settles an interrupted resize: the inactive file takes the active
    /// region's size, which is the old size if the resize's switch did not
    /// commit and the new one if it did (FORMAT.md keeps no resize record;
    /// the committed region is the record). Only erased bytes of the
    /// inactive, superseded region are added or dropped.
    fn converge(&mut self) -> Result<()> {
        let active = self.stats()?.active;
        let (sa, sb) = self.region_sizes();
        let (target, inactive) = match active {
            RegionId::A => (sa, RegionId::B),
            RegionId::B => (sb, RegionId::A),
        };
        let f = self.file(active)?;
        let len = f.len()?;
        if len > f.map_len {
            // A growth step extended this file while it was inactive and a
            // switch then committed into it: the bytes past the region read
            // erased (checked before core opened) and belong to no region.
            files::truncate(&f.path, &f.file, f.map_len)?;
        } else if len != f.map_len {
            return Ok(());
        }
        if self.file(inactive)?.len()? == u64::from(target) {
            return Ok(());
        }
        self.set_file_len(inactive, target)
    }

    // ----- typed values ----------------------------------------------------

    /// The value of `key` decoded from postcard (feature `serde`).
    ///
    /// postcard is compact (varints, no field names) and `no_std`, so a
    /// device running `twinkv-core` can decode the same bytes.
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<T>> {
        match self.get(key)? {
            Some(v) => postcard::from_bytes(v)
                .map(Some)
                .map_err(|e| Error::Encoding(e.to_string())),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value` encoded with postcard (feature `serde`).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn set_as<T: serde::Serialize + ?Sized>(
        &mut self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<()> {
        let bytes = postcard::to_allocvec(value).map_err(|e| Error::Encoding(e.to_string()))?;
        self.set(key, bytes)
    }
}

/// A writable store syncs when dropped if anything was written since the
/// last sync (unless [`Options::sync_on_close`] is off); errors are ignored
/// here; [`Store::close`] returns them.
impl Drop for Store {
    fn drop(&mut self) {
        if self.sync_on_close {
            let _ = self.sync_if_written();
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

fn open_core(ra: AnyRegion, rb: AnyRegion, config: Config, write: bool) -> Result<Inner> {
    let scratch = vec![0u8; Inner::scratch_len(&config, WRITE_UNIT)];
    let r = if write {
        Inner::open(ra, rb, VecIndex::new(), scratch, config)
    } else {
        Inner::open_read_only(ra, rb, VecIndex::new(), scratch, config)
    };
    Ok(r?)
}

/// Header area bytes compared before and after a snapshot read.
const HEAD: usize = 128;

/// The bytes of files A and B (`None`: missing or empty).
pub(crate) type FilePair = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Reads both files while another process may write them: retried until the
/// header areas of both read the same before and after.
pub(crate) fn read_snapshot(base: &Path) -> Result<FilePair> {
    let (pa, pb) = region_paths(base);
    // Both through the file checks: a FIFO or device is refused, never read.
    let read = |p: &Path| files::read_region_file(p);
    let head = |p: &Path| files::read_region_head(p, HEAD as u64);
    let prefix = |v: &Option<Vec<u8>>| -> Vec<u8> {
        v.as_deref()
            .map_or(Vec::new(), |v| v[..v.len().min(HEAD)].to_vec())
    };
    for attempt in 0..200u32 {
        let (ha, hb) = (head(&pa)?, head(&pb)?);
        let (a, b) = (read(&pa)?, read(&pb)?);
        let (ha2, hb2) = (head(&pa)?, head(&pb)?);
        if ha == ha2 && hb == hb2 && prefix(&a) == ha && prefix(&b) == hb {
            if a.is_none() && b.is_none() {
                return Err(Error::NotFound(base.to_path_buf()));
            }
            return Ok((a, b));
        }
        std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20))));
    }
    Err(Error::Io {
        path: Some(base.to_path_buf()),
        source: std::io::Error::other("the store kept changing while it was read; try again"),
    })
}

fn snapshot_regions(
    base: &Path,
    a: Option<Vec<u8>>,
    b: Option<Vec<u8>>,
) -> Result<(AnyRegion, AnyRegion)> {
    let (pa, pb) = region_paths(base);
    let size_of = |v: &Option<Vec<u8>>| v.as_ref().map(|v| v.len());
    let partner = size_of(&a).or(size_of(&b)).unwrap_or(0);
    let mk = |v: Option<Vec<u8>>, p: &Path| -> Result<AnyRegion> {
        let v = v.unwrap_or_else(|| vec![0xFF; partner]);
        let size = u32::try_from(v.len())
            .ok()
            .filter(|s| s % ERASE_UNIT == 0)
            .ok_or_else(|| {
                Error::not_region(p, format!("length {} is not a multiple of 512", v.len()))
            })?;
        let r = MemRegion::new(v, MmapRegion::geometry_for(size), false)
            .map_err(|e| Error::not_region(p, e.to_string()))?;
        Ok(AnyRegion::Mem(r))
    };
    Ok((mk(a, &pa)?, mk(b, &pb)?))
}

fn snapshot_config(base: &Path, a: &AnyRegion, b: &AnyRegion) -> Result<Config> {
    use twinkv_core::format::{RegionHeader, HEADER_LEN};
    use twinkv_core::MappedRegion;
    let mut best: Option<RegionHeader> = None;
    for r in [a, b] {
        let mut hb = [0u8; HEADER_LEN];
        hb.copy_from_slice(&r.as_bytes()[..HEADER_LEN]);
        if let Ok(h) = RegionHeader::decode(&hb) {
            if best.is_none_or(|b| h.generation > b.generation) {
                best = Some(h);
            }
        }
    }
    let h =
        best.ok_or_else(|| Error::not_region(base, "no twinkv region header in either file"))?;
    Ok(Config::new(h.store_id)
        .with_limits(h.max_key_len, h.max_value_len)
        .with_ratios(h.high_water_bp, h.max_fill_bp)
        .adopting_store_id())
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
