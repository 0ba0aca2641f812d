//! One region's log: classification of its header area, record I/O, the
//! append position and the scan that rebuilds the state from it (`scan`,
//! FORMAT.md §5, §6). The store owns two of these for its whole life and
//! changes their state only through the operations here.

pub(crate) mod lazy;
pub(crate) mod scan;
mod unreadable;
mod window;

pub(crate) use window::Window;

use super::{io, Region};
use crate::error::bug;
use crate::error::{Fail, Res};
use crate::format::marker::{Marker, MarkerState, MARKER_LEN};
use crate::format::record::{
    self, Kind, RecordCheck, RecordHeader, SealState, Slot, LONG_HEADER_LEN,
};
pub(crate) use crate::format::RegionClass;
use crate::format::{
    area, checks, checks::CRC32C, header::HeaderError, Layout, RegionHeader, Seal, HEADER_LEN,
};
use crate::Geometry;

/// Bytes read per chunk when a record is streamed through the stack.
const CHUNK: usize = 64;

/// The longest span a covering marker may vouch for (FORMAT.md §6.4):
/// longer ones are walked record by record.
const MAX_COVERED: u32 = 256 << 20;

/// A sync marker's value: previous sync point and coverage, `u32` each.
const SYNC_VALUE_LEN: u32 = 8;

/// How many identical reads make a commit marker valid.
pub(crate) const STABLE_READS: usize = 4;

/// One region and what is known about it.
pub(crate) struct Journal<R: Region> {
    pub(crate) region: R,
    pub(crate) geo: Geometry,
    pub(crate) layout: Layout,
    /// Next record offset (meaningful for the active region).
    append: u32,
    /// The log cannot be appended to (dirty tail or failed program).
    sealed: bool,
    /// The last sync point (FORMAT.md §6.1).
    last_sync: u32,
    /// Erase units `0..pending` may hold bytes (or an erase cut short);
    /// units from `pending` on are erased (FORMAT.md §7.3). Meaningful for
    /// the inactive region: what the next switch into it, or erase ahead,
    /// must still erase.
    pending: u32,
    /// The units from `pending` on are known erased by erase calls that
    /// returned; not when they merely read erased (a region found empty at
    /// open: an erase cut short can read erased).
    pending_known: bool,
    /// The active log holds an erased record saying `pending` (or more)
    /// units of this region may hold bytes (FORMAT.md §7.3, §8).
    pending_recorded: bool,
    /// Classified empty from its header area alone: the rest is unread.
    empty_unverified: bool,
    /// `pending` comes from the log (an erased record read at open) or from
    /// a header area alone: before a switch writes into the units past it,
    /// they are read, and any that does not read erased is erased.
    pending_from_log: bool,
    /// Every unit past the log was reliably erased before the log began
    /// (the region was the target of a switch that erased what was
    /// pending); only then may a later switch erase just the units the log
    /// used.
    erased_past_use: bool,
    /// Everything from the append position up to here is known to read
    /// erased; past it, on a log opened from storage, only the probes of
    /// FORMAT.md §6.2 were read. An append past it reads up to the end of
    /// its erase unit first (`lazy`).
    verified_to: u32,
    /// The region is the target of a switch not yet committed, and its
    /// units from `verified_to` on were erased before the switch and not
    /// read since: one that no longer reads erased is erased again before
    /// the copy programs into it (it holds nothing of the new log yet),
    /// not reported as bytes past a log (FORMAT.md §7, step 2).
    erase_again: bool,
    /// Where open found the log's end (FORMAT.md §6.2: the damage entry a
    /// lazy read that finds bytes registers).
    loaded_end: u32,
    /// What a read before an append found and the store has not yet
    /// handled (FORMAT.md §6.2).
    found_beyond: Option<lazy::Beyond>,
    /// The most one program call spans: the largest record's stored
    /// length (`R`, FORMAT.md §6.2).
    reach: u32,
    /// While `covering` is [`Cover::Feeding`]: the CRC-32C of every byte
    /// [`append`](Self::append) programmed since the data start, kept while
    /// a switch fills this region on a medium that does not persist in
    /// order (the coverage of the switch's covering marker, FORMAT.md
    /// §6.4). While [`Cover::Spans`]: where the span that marker covers
    /// ends. (One `u32` and a one-byte state rather than two `Option<u32>`:
    /// the state packs with the flags above, 8 bytes less per journal on a
    /// firmware's stack.)
    cover: u32,
    /// What `cover` holds.
    covering: Cover,
    /// The data end of the commit this log started from (FORMAT.md §11).
    #[cfg(feature = "checkpoint")]
    data_end: u32,
    /// The newest erased record of this log, (pending units, partner
    /// size): what a replay of it would find (FORMAT.md §11).
    #[cfg(feature = "checkpoint")]
    log_erased: Option<(u32, u32)>,
}

/// What [`Journal`]'s `cover` holds (FORMAT.md §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cover {
    /// Nothing: no part of the log is known covered.
    Off,
    /// The coverage of a switch's copy, fed as it programs.
    Feeding,
    /// The end of the span a covering marker whose coverage matched (or
    /// that this open wrote) covers, from the data start.
    Spans,
}

#[io]
impl<R: Region> Journal<R> {
    #[inline(always)]
    pub(crate) fn new(region: R, reach: u32) -> Self {
        let geo = region.geometry();
        let layout = Layout::new(geo.write_unit);
        let d = layout.data_start();
        Journal {
            region,
            geo,
            layout,
            append: d,
            sealed: true,
            last_sync: d,
            pending: geo.erase_units(),
            pending_known: true,
            pending_recorded: false,
            empty_unverified: false,
            pending_from_log: false,
            erased_past_use: false,
            verified_to: geo.size,
            erase_again: false,
            loaded_end: d,
            found_beyond: None,
            reach,
            cover: 0,
            covering: Cover::Off,
            #[cfg(feature = "checkpoint")]
            data_end: d,
            #[cfg(feature = "checkpoint")]
            log_erased: None,
        }
    }

    /// Forgets what is known about the region, as [`Journal::new`] starts:
    /// an open that decides again on full reads.
    pub(crate) fn forget(&mut self) {
        let d = self.layout.data_start();
        self.append = d;
        self.sealed = true;
        self.last_sync = d;
        self.pending = self.geo.erase_units();
        self.pending_known = true;
        self.pending_recorded = false;
        self.empty_unverified = false;
        self.pending_from_log = false;
        self.erased_past_use = false;
        self.verified_to = self.geo.size;
        self.erase_again = false;
        self.loaded_end = d;
        self.found_beyond = None;
        self.covering = Cover::Off;
        #[cfg(feature = "checkpoint")]
        {
            self.data_end = d;
            self.log_erased = None;
        }
    }

    /// Where the next record goes.
    pub(crate) fn append_at(&self) -> u32 {
        self.append
    }

    /// Whether the log refuses appends (dirty tail, failed program, or the
    /// region is not the active one).
    pub(crate) fn sealed(&self) -> bool {
        self.sealed
    }

    /// Refuses further appends: the next write switches.
    pub(crate) fn seal(&mut self) {
        self.sealed = true;
    }

    /// The last sync point (FORMAT.md §6.1).
    pub(crate) fn last_sync(&self) -> u32 {
        self.last_sync
    }

    /// Everything up to the append position is now a sync point.
    pub(crate) fn mark_synced(&mut self) {
        self.last_sync = self.append;
    }

    /// An empty log right after a freshly programmed header: appends start
    /// at the data start.
    pub(crate) fn start_log(&mut self) {
        let d = self.data_start();
        self.append = d;
        self.last_sync = d;
        self.sealed = false;
        // A log that a switch or a format starts: the region past it was
        // erased or read before, or is read unit by unit until the commit
        // (`erase_for_format`, FORMAT.md §7 step 2).
        self.found_beyond = None;
        self.covering = Cover::Off;
        #[cfg(feature = "checkpoint")]
        {
            self.data_end = d;
            self.log_erased = None;
        }
    }

    /// Starts the coverage of a switch's copy into this region (its log
    /// just started): on a medium that does not persist in order, every
    /// byte appended from here on is fed to it (FORMAT.md §6.4).
    pub(crate) fn start_cover(&mut self) {
        if !self.region.persists_in_order() && self.append == self.data_start() {
            self.cover = 0;
            self.covering = Cover::Feeding;
        }
    }

    /// The coverage of everything appended since [`start_cover`]
    /// (Self::start_cover), which ends.
    pub(crate) fn take_cover(&mut self) -> Option<u32> {
        let feeding = core::mem::replace(&mut self.covering, Cover::Off) == Cover::Feeding;
        feeding.then_some(self.cover)
    }

    /// The log's records before `end` are covered by a covering marker
    /// there (FORMAT.md §6.4): one that open found with a matching
    /// coverage, or that a switch into this region just appended. Noted
    /// only where open would use it (a region that lends its bytes and
    /// does not persist in order).
    pub(crate) fn note_covered(&mut self, end: u32) {
        if end > self.data_start()
            && !self.region.persists_in_order()
            && self.region.lend().is_some()
        {
            self.cover = end;
            self.covering = Cover::Spans;
        }
    }

    /// Bytes of the log from the end of its covered span (the data start
    /// when none is noted, see [`note_covered`](Self::note_covered)) to the
    /// append position: what an open checks record by record.
    pub(crate) fn uncovered(&self) -> u32 {
        let from = match self.covering {
            Cover::Spans => self.cover,
            Cover::Off | Cover::Feeding => self.data_start(),
        };
        self.append.saturating_sub(from)
    }

    /// The data end of the commit this log started from.
    #[cfg(feature = "checkpoint")]
    pub(crate) fn data_end(&self) -> u32 {
        self.data_end
    }

    /// The log replayed at open started from the commit's `data_end` and
    /// its newest erased record said `erased`.
    #[cfg(feature = "checkpoint")]
    pub(crate) fn set_loaded(&mut self, data_end: u32, erased: Option<(u32, u32)>) {
        self.data_end = data_end;
        self.log_erased = erased;
    }

    /// The newest erased record of this log (FORMAT.md §11).
    #[cfg(feature = "checkpoint")]
    pub(crate) fn log_erased(&self) -> Option<(u32, u32)> {
        self.log_erased
    }

    /// The end of the span a covering marker covers, if one is noted.
    #[cfg(feature = "checkpoint")]
    pub(crate) fn covered_span(&self) -> Option<u32> {
        (self.covering == Cover::Spans).then_some(self.cover)
    }

    /// A read before an append found bytes the store has not handled yet.
    #[cfg(feature = "checkpoint")]
    pub(crate) fn beyond_found(&self) -> bool {
        self.found_beyond.is_some()
    }

    /// Keeps what an erased record just appended (`data`) says. Any other
    /// record is told by its first byte's kind (FORMAT.md §4.3), not
    /// decoded.
    #[cfg(feature = "checkpoint")]
    fn note_erased(&mut self, data: &[u8]) {
        let erased = record::Kind::Erased.code();
        if data.first().is_none_or(|b| b & 0x0F != erased) {
            return;
        }
        if let Slot::Header(h) = record::decode_header(data, 0, 8) {
            if h.kind == record::Kind::Erased {
                let v = data.get(h.header_len() as usize..).unwrap_or(&[]);
                if let (Some(p), Some(s)) = (record::value_u32(v, 0), record::value_u32(v, 1)) {
                    self.log_erased = Some((p, s));
                }
            }
        }
    }

    /// The log as a replay of it found it (FORMAT.md §6).
    pub(crate) fn load(&mut self, outcome: scan::Outcome) {
        self.append = outcome.end;
        self.sealed = !outcome.clean;
        self.last_sync = outcome.last_sync;
        self.loaded_end = outcome.end;
        self.found_beyond = None;
        if self.sealed {
            self.verified_to = self.geo.size;
        }
    }

    /// A switch committed this region (FORMAT.md §7, step 6): its log is
    /// synced up to `data_end`.
    pub(crate) fn committed(&mut self, data_end: u32) {
        self.last_sync = data_end;
        #[cfg(feature = "checkpoint")]
        {
            self.data_end = data_end;
        }
        // Past the copy, the units stay as erased before the switch, as
        // the active log's erased space always was: an append reads back
        // what it programmed, and seals the log if that fails.
        self.verified_to = self.geo.size;
        self.erase_again = false;
    }

    /// The units this region's log may have programmed, from the start: all
    /// of them if the log is sealed (a dirty tail or a failed program can
    /// leave bytes anywhere past it) or the units past it were not known
    /// erased when it began.
    pub(crate) fn used_units(&self) -> u32 {
        if self.sealed || !self.erased_past_use {
            self.geo.erase_units()
        } else {
            self.append.div_ceil(self.geo.erase_unit)
        }
    }

    /// A switch left this region (step 9): sealed, and its used units
    /// pending for erase ahead and the next switch into it.
    pub(crate) fn retire(&mut self) {
        let unread = self.verified_to < self.geo.size;
        self.set_pending(self.used_units());
        // Past a lazily read log only probes were read: before a switch
        // programs those units again, they are read (FORMAT.md §7.3).
        self.pending_from_log = unread;
        self.verified_to = self.geo.size;
        self.erase_again = false;
        self.sealed = true;
    }

    /// Puts `region` in this (inactive) journal's place and returns the old
    /// one. With `extends`, `region` holds the old region's bytes over the
    /// old size and reads erased past it, so what is known about erasing it
    /// carries over; otherwise nothing is known and all of it is pending.
    pub(crate) fn replace_region(&mut self, region: R, extends: bool) -> R {
        let resized = region.geometry().size != self.geo.size;
        self.geo = region.geometry();
        if !extends {
            self.set_all_pending();
            self.erased_past_use = false;
        } else if resized {
            // The active log's erased record names the old size: an open
            // would not take it for this region (FORMAT.md §7.3).
            self.pending_recorded = false;
        }
        core::mem::replace(&mut self.region, region)
    }

    /// Erase units `0..pending` may hold bytes; the rest is erased.
    pub(crate) fn set_pending(&mut self, pending: u32) {
        self.pending = pending.min(self.geo.erase_units());
        self.pending_known = true;
        self.pending_recorded = false;
        self.pending_from_log = false;
    }

    /// The active log says so (an erased record, read or written).
    pub(crate) fn set_pending_recorded(&mut self) {
        self.pending_recorded = true;
    }

    /// `pending` was read from the log at open (see `pending_from_log`).
    pub(crate) fn set_pending_from_log(&mut self) {
        self.pending_from_log = true;
    }

    /// Classified empty from its header area alone (the rest unread).
    pub(crate) fn empty_unverified(&self) -> bool {
        self.empty_unverified
    }

    /// Whether the active log says this region's units are pending.
    pub(crate) fn pending_recorded(&self) -> bool {
        self.pending_recorded
    }

    /// All of the region may hold bytes.
    pub(crate) fn set_all_pending(&mut self) {
        self.set_pending(self.geo.erase_units());
    }

    /// The region read empty at open: nothing to erase before its first use,
    /// but not known erased past whatever a log will use.
    pub(crate) fn set_read_empty(&mut self) {
        self.pending = 0;
        self.pending_known = false;
        self.pending_recorded = false;
    }

    /// Erase units still to erase before the region can be formatted.
    pub(crate) fn pending(&self) -> u32 {
        self.pending
    }

    /// The active log was opened from storage: its units past the log were
    /// erased before it began if a switch wrote it (generation 2 on; the
    /// switch erased all that was pending), not if a first format
    /// programmed it as it read.
    pub(crate) fn set_erased_past_use(&mut self, known: bool) {
        self.erased_past_use = known;
    }

    /// One step of erase ahead (FORMAT.md §7.3): the highest pending unit,
    /// so that the header unit goes last. Returns the units still pending.
    pub(crate) async fn erase_next_unit(&mut self) -> Res<u32, R::Error> {
        let Some(k) = self.pending.checked_sub(1) else {
            return Ok(0);
        };
        // Until it returns, the unit is in no known state: a unit that reads
        // erased may be an erase cut short.
        self.erase_unit(k).await?;
        self.pending = k;
        Ok(k)
    }

    /// The byte range of erase unit `k`.
    fn unit_range(&self, k: u32) -> (u32, u32) {
        let e = self.geo.erase_unit;
        (k * e, (k + 1) * e)
    }

    /// Erases erase unit `k`.
    async fn erase_unit(&mut self, k: u32) -> Res<(), R::Error> {
        let (from, to) = self.unit_range(k);
        self.region.erase(from, to).await.map_err(Fail::Region)
    }

    /// Programs a header block (`header`, padded with `0xFF`) at offset 0
    /// and starts an empty log after it (FORMAT.md §2, §7 step 3).
    pub(crate) async fn program_header(&mut self, header: &RegionHeader) -> Res<(), R::Error> {
        let mut block = [0xFFu8; 64];
        block[..HEADER_LEN].copy_from_slice(&header.encode());
        self.region
            .program(0, &block[..self.layout.header_block as usize])
            .await
            .map_err(Fail::Region)?;
        self.start_log();
        Ok(())
    }

    /// Whether the header block reads back as [`program_header`]
    /// (Self::program_header) programs `header`. Never inlined: its two
    /// blocks stay off the stack of the reads that follow it.
    #[inline(never)]
    pub(crate) async fn header_reads_back(&mut self, header: &RegionHeader) -> Res<bool, R::Error> {
        let hb = self.layout.header_block as usize;
        let mut block = [0xFFu8; 64];
        block[..HEADER_LEN].copy_from_slice(&header.encode());
        let mut back = [0u8; 64];
        self.read(0, &mut back[..hb]).await?;
        Ok(back[..hb] == block[..hb])
    }

    pub(crate) fn size(&self) -> u32 {
        self.geo.size
    }

    pub(crate) fn data_start(&self) -> u32 {
        self.layout.data_start()
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.geo.size - self.layout.data_start()
    }

    /// `len` bytes at `off` in place, if the region lends its bytes
    /// ([`Region::lend`]) and the range lies inside the region. Every read
    /// below takes this path when it can; the checks made on the bytes are
    /// the same either way.
    pub(super) fn lent(&self, off: u32, len: u32) -> Option<&[u8]> {
        let end = off.checked_add(len).filter(|&e| e <= self.geo.size)?;
        self.region.lend()?.get(off as usize..end as usize)
    }

    pub(crate) async fn read(&mut self, off: u32, buf: &mut [u8]) -> Res<(), R::Error> {
        let end = u32::try_from(buf.len())
            .ok()
            .and_then(|l| off.checked_add(l));
        match end {
            Some(end) if end <= self.geo.size => match self.region.read(off, buf).await {
                Ok(()) => Ok(()),
                Err(e) => self.read_units(off, buf, e).await,
            },
            _ => Err(bug!()),
        }
    }

    /// [`read`](Self::read) of bytes the caller knows lie inside the region,
    /// always inlined: the replay's sink reads an old record's key without
    /// `read`'s frame under it (footprint's reboot row: 16 B of stack).
    // `read` keeps its own copy of these lines: calling this from `read`
    // made every read a nested future in the async engine (+2.4 kB of flash
    // in footprint's async row).
    #[cfg_attr(not(feature = "async"), inline(always))]
    async fn read_inside(&mut self, off: u32, buf: &mut [u8]) -> Res<(), R::Error> {
        match self.region.read(off, buf).await {
            Ok(()) => Ok(()),
            Err(e) => self.read_units(off, buf, e).await,
        }
    }

    /// Reads the header area and classifies it into `class`. Only an open
    /// needs the class: it keeps it (a `Journal` does not, to keep the store
    /// small). Written in place, so that the caller's frame holds no second
    /// copy of it.
    pub(crate) async fn classify(
        &mut self,
        full: bool,
        class: &mut RegionClass,
    ) -> Res<(), R::Error> {
        let decoded = self.read_header().await?;
        self.empty_unverified = false;
        *class = match decoded {
            Err(HeaderError::Erased) => {
                // Without `full`, only the header area is read: the rest is
                // judged later (FORMAT.md §8), see `empty_unverified`.
                let to = if full {
                    self.geo.size
                } else {
                    self.data_start().min(self.geo.size)
                };
                if self.is_erased(0, to).await? {
                    self.empty_unverified = to < self.geo.size;
                    RegionClass::Empty
                } else {
                    RegionClass::Unrecognised
                }
            }
            Err(HeaderError::Invalid) => RegionClass::Unrecognised,
            Err(HeaderError::UnsupportedVersion(_)) => RegionClass::Unsupported,
            Ok(header) => {
                let seal = header.seal();
                RegionClass::Formatted {
                    header,
                    switching: self.read_marker(Marker::Switching, seal).await?,
                    commit: self.read_marker(Marker::Commit, seal).await?,
                    superseded: self.read_marker(Marker::Superseded, seal).await?,
                }
            }
        };
        Ok(())
    }

    /// Reads and decodes the header. Never inlined: the header's bytes stay
    /// off the stack of the marker reads and erased checks that follow.
    #[inline(never)]
    async fn read_header(
        &mut self,
    ) -> Res<core::result::Result<RegionHeader, HeaderError>, R::Error> {
        let mut h = [0u8; HEADER_LEN];
        self.read(0, &mut h).await?;
        Ok(RegionHeader::decode(&h))
    }

    /// Whether the region still reads as the committed region sealed
    /// `seal`: its header decodes with that seal and its commit is valid.
    pub(crate) async fn reads_committed(&mut self, seal: Seal) -> Res<bool, R::Error> {
        let mut b = [0u8; crate::format::HEADER_LEN];
        self.read(0, &mut b).await?;
        let same = matches!(RegionHeader::decode(&b), Ok(h) if h.seal() == seal);
        Ok(same && self.read_marker(Marker::Commit, seal).await?.is_valid())
    }

    pub(crate) async fn read_marker(
        &mut self,
        m: Marker,
        seal: Seal,
    ) -> Res<MarkerState, R::Error> {
        let mut slot = [0u8; 32];
        let n = self.layout.marker_slot as usize;
        let off = self.layout.slot(m);
        self.read(off, &mut slot[..n]).await?;
        let mut state = area::marker_state(m, seal, &slot[..n], self.layout, self.geo.size);
        if let MarkerState::Valid(_) = state {
            // A unit torn by a cut can read back differently on each read
            // (weakly programmed NOR cells), even valid once. A commit decides
            // which region is newest, so it counts only if it reads the same
            // several times in a row (FORMAT.md §3).
            let reads = if m == Marker::Commit { STABLE_READS } else { 1 };
            let mut again = [0u8; 32];
            for _ in 1..reads {
                self.read(off, &mut again[..n]).await?;
                if again[..n] != slot[..n] {
                    state = MarkerState::Torn;
                    break;
                }
            }
        }
        Ok(state)
    }

    /// The units a switch into this region may have programmed, read from
    /// the top down: those up to the highest unit that does not read
    /// erased, and `margin` bytes past it (a program cut there may have
    /// left bits that read erased and are not). For a region erased in full
    /// before a switch began writing it from its start (FORMAT.md §7.4).
    pub(crate) async fn programmed_units(&mut self, margin: u32) -> Res<u32, R::Error> {
        let n = self.geo.erase_units();
        let mut top = 0;
        for k in (0..n).rev() {
            let (from, to) = self.unit_range(k);
            if !self.is_erased(from, to).await? {
                top = k + 1;
                break;
            }
        }
        let extra = margin.div_ceil(self.geo.erase_unit);
        Ok(top.saturating_add(extra).min(n))
    }

    /// Whether `from..to` reads erased (one read pass).
    pub(crate) async fn is_erased(&mut self, from: u32, to: u32) -> Res<bool, R::Error> {
        if from > to || to > self.geo.size {
            return Err(bug!());
        }
        match self.region.is_erased(from, to).await {
            Ok(erased) => Ok(erased),
            // An unreadable unit is not (reliably) erased.
            Err(e) if self.region.unreadable(&e) => Ok(false),
            Err(e) => Err(Fail::Region(e)),
        }
    }

    /// Whether `from..to` (a record's bytes, padding excluded) has the shape
    /// a crash leaves on a region that does not persist in order (FORMAT.md
    /// §10.1): its last byte within some erase unit (a sector of a
    /// memory-mapped file) reads `0xFF` — the end of a run of bytes that a
    /// lost page or a copy cut short left erased.
    pub(crate) async fn torn_suffix(&mut self, from: u32, to: u32) -> Res<bool, R::Error> {
        let e = self.geo.erase_unit;
        let mut at = from;
        while at < to {
            let unit_end = (at / e + 1).saturating_mul(e).min(to);
            let mut b = [0u8; 1];
            self.read(unit_end - 1, &mut b).await?;
            if b[0] == 0xFF {
                return Ok(true);
            }
            at = unit_end;
        }
        Ok(false)
    }

    /// Decodes the record slot at `off`.
    pub(crate) async fn slot(
        &mut self,
        off: u32,
        max_key: u32,
        max_value: u32,
    ) -> Res<Slot, R::Error> {
        let mut b = [0xFFu8; LONG_HEADER_LEN as usize];
        let n = core::cmp::min(LONG_HEADER_LEN, self.geo.size.saturating_sub(off)) as usize;
        if n < 8 {
            return Ok(if self.is_erased(off, self.geo.size).await? {
                Slot::Erased
            } else {
                Slot::Invalid
            });
        }
        if let Some(bytes) = self.region.lend() {
            return Ok(
                match lent_header(bytes, off, self.geo, max_key, max_value) {
                    Some(h) => Slot::Header(h),
                    None if bytes.get(off as usize..off as usize + 8) == Some(&[0xFF; 8]) => {
                        Slot::Erased
                    }
                    None => Slot::Invalid,
                },
            );
        }
        self.read(off, &mut b[..n]).await?;
        Ok(checked_slot(&b[..n], off, self.geo, max_key, max_value))
    }

    /// The record at `off` read in place, on a region that lends its bytes,
    /// if its header is valid: that header, whether the record is intact and
    /// its key hash — what [`slot`](Self::slot) and [`verify`](Self::verify)
    /// find there, in one call. `None` on any other region or slot (the
    /// caller then takes those paths).
    #[inline]
    pub(crate) fn lent_record(
        &self,
        off: u32,
        max_key: u32,
        max_value: u32,
        seal: SealState,
    ) -> Option<(RecordHeader, u32, bool, u32)> {
        let bytes = self.region.lend()?;
        let (h, len) = lent_header_len(bytes, off, self.geo, max_key, max_value)?;
        // The header says the record ends inside the region.
        let (intact, key_hash) = record::verify_hashing(bytes.get(off as usize..)?, &h, seal);
        Some((h, len, intact, key_hash))
    }

    /// [`lent_record`](Self::lent_record) of a record that starts before
    /// `covered`, where a covering marker whose coverage matched ends its
    /// span (FORMAT.md §6.4): its header decoded and checked and, if the
    /// record ends inside the span, taken as intact without its record
    /// check, the CRC-32C of its key computed. `None` for one that reaches
    /// past the span (or whose header does not decode): the walk then reads
    /// and checks it as on a region that does not lend its bytes.
    pub(crate) fn lent_covered(
        &self,
        off: u32,
        covered: u32,
        max_key: u32,
        max_value: u32,
    ) -> Option<(RecordHeader, u32, bool, u32)> {
        let bytes = self.region.lend()?;
        let (h, len) = lent_header_len(bytes, off, self.geo, max_key, max_value)?;
        if off + h.unaligned_len() > covered {
            // Never so for the records a switch wrote; the walk then reads
            // and checks it through its window, as on other regions.
            return None;
        }
        let key = bytes.get(off as usize..)?.get(h.key_range())?;
        Some((h, len, true, crate::format::key_hash(key)))
    }

    /// Where the covering marker of the switch that wrote this region
    /// (FORMAT.md §6.4) ends the span it covers, if there is one and the
    /// bytes from the data start to it have its coverage check; else the
    /// data start. `data_end` is the commit's. Only on a region that lends
    /// its bytes and does not persist in order.
    pub(crate) fn covered_to(
        &self,
        data_end: u32,
        seal: SealState,
        max_key: u32,
        max_value: u32,
    ) -> u32 {
        let d = self.data_start();
        if self.region.persists_in_order() {
            return d;
        }
        let Some(bytes) = self.region.lend() else {
            return d;
        };
        let Some(len) = record::stored_len(0, SYNC_VALUE_LEN, self.geo.write_unit) else {
            return d;
        };
        let Some(at) = data_end
            .checked_sub(len)
            .filter(|&at| at > d && at - d <= MAX_COVERED)
        else {
            return d;
        };
        let Some((h, n, true, _)) = self.lent_record(at, max_key, max_value, seal) else {
            return d;
        };
        if h.kind != Kind::SyncMarker || n != len {
            return d;
        }
        let value = bytes.get((at + h.header_len() + h.key_len) as usize..);
        match value.and_then(area::SyncMarker::from_value) {
            Some(m) if m.prev_sync == d && m.covers(bytes, at, d) => at,
            _ => d,
        }
    }

    /// Streams the record at `off` through its check, from the state of the
    /// region's seal. Returns whether it is intact and the CRC-32C of its key
    /// (the index hash).
    pub(crate) async fn verify(
        &mut self,
        off: u32,
        h: &RecordHeader,
        seal: SealState,
    ) -> Res<(bool, u32), R::Error> {
        if let Some(rec) = self.lent(off, h.unaligned_len()) {
            return Ok(record::verify_hashing(rec, h, seal));
        }
        let mut buf = [0u8; CHUNK];
        let hl = h.header_len() as usize;
        self.read(off, &mut buf[..hl]).await?;
        let mut check = RecordCheck::sealed(seal, h.long);
        check.update(&buf[..h.checked_header_bytes()]);
        let mut key_hash = CRC32C.digest();
        let mut at = off + hl as u32;
        let key_end = at + h.key_len;
        let end = off + h.unaligned_len();
        while at < end {
            let n = core::cmp::min(CHUNK as u32, end - at) as usize;
            self.read(at, &mut buf[..n]).await?;
            check.update(&buf[..n]);
            if at < key_end {
                let k = core::cmp::min(n as u32, key_end - at) as usize;
                key_hash.update(&buf[..k]);
            }
            at += n as u32;
        }
        Ok((check.finalize() == h.check, key_hash.finalize()))
    }

    /// Reads the record at `off` into `buf` — its header, key and value, and
    /// nothing more — and returns its header, or `None` if the bytes there
    /// are not a valid header.
    pub(crate) async fn read_record(
        &mut self,
        off: u32,
        buf: &mut [u8],
        limits: crate::format::Limits,
    ) -> Res<Option<RecordHeader>, R::Error> {
        let short = record::SHORT_HEADER_LEN;
        if off.checked_add(short).is_none_or(|e| e > self.geo.size) || buf.len() < 16 {
            return Ok(None);
        }
        self.read(off, &mut buf[..short as usize]).await?;
        if record::is_long_form(buf[0]) {
            // Long form: the header is 16 bytes.
            if off + 16 > self.geo.size {
                return Ok(None);
            }
            self.read(off + short, &mut buf[short as usize..16]).await?;
        }
        let Slot::Header(h) = record::decode_header(&buf[..16], limits.max_key, limits.max_value)
        else {
            return Ok(None);
        };
        let end = h.unaligned_len() as usize;
        match h
            .stored_len(self.geo.write_unit)
            .and_then(|l| off.checked_add(l))
        {
            Some(e) if e <= self.geo.size && end <= buf.len() => {}
            _ => return Ok(None),
        }
        let hl = h.header_len();
        self.read(off + hl, &mut buf[hl as usize..end]).await?;
        Ok(Some(h))
    }

    /// Whether the key stored at `off` (header `h`) equals `key`.
    ///
    /// Never inlined: its chunk buffer would otherwise stay in the frame of
    /// the store's lookup, under which header reads and, in a switch's step
    /// 9, the folded write's indexing run.
    // Not outlined with feature `async`: both engines are compiled from
    // this source, and the async one's stack grew with these outlined
    // (footprint's async row: 8 884 B without, 10 132 B with them).
    #[cfg_attr(not(feature = "async"), inline(never))]
    pub(crate) async fn key_eq(
        &mut self,
        off: u32,
        h: &RecordHeader,
        key: &[u8],
    ) -> Res<bool, R::Error> {
        if h.key_len as usize != key.len() {
            return Ok(false);
        }
        if let Some(stored) = self.lent(off + h.header_len(), h.key_len) {
            return Ok(stored == key);
        }
        let mut buf = [0u8; CHUNK];
        let mut at = off + h.header_len();
        for chunk in key.chunks(CHUNK) {
            self.read(at, &mut buf[..chunk.len()]).await?;
            if buf[..chunk.len()] != *chunk {
                return Ok(false);
            }
            at += chunk.len() as u32;
        }
        Ok(true)
    }

    /// The header of the record at `old` (one the index points at, so known
    /// valid: `Corrupted` if it no longer decodes) if its key equals that
    /// of the record at `new` (header `h`), on a region that does not lend
    /// its bytes (the replay compares in place on one that does,
    /// [`lent_old_same`](Self::lent_old_same)). The replay holds the new
    /// record in `w`: its key is not read again, and the old record's short
    /// header and key are read in one call (or found in `w` too).
    pub(crate) async fn same_key(
        &mut self,
        old: u32,
        new: u32,
        h: &RecordHeader,
        limits: crate::format::Limits,
        w: &Window<'_>,
    ) -> Res<Option<RecordHeader>, R::Error> {
        let (max_key, max_value) = (limits.max_key, limits.max_value);
        // The replay checked the new record in `w` (a record always fits in
        // the scratch buffer: two of the largest).
        let key = w
            .get(new.saturating_add(h.header_len()), h.key_len)
            .ok_or_else(|| bug!())?;
        let short = record::SHORT_HEADER_LEN;
        let n = short + h.key_len;
        let mut b = [0u8; CHUNK];
        let held = match w.get(old, n) {
            Some(held) => Some(held),
            None if n as usize <= CHUNK
                && old.checked_add(n).is_some_and(|e| e <= self.geo.size) =>
            {
                self.read_inside(old, &mut b[..n as usize]).await?;
                Some(&b[..n as usize])
            }
            None => None,
        };
        if let Some(b) = held.filter(|b| !record::is_long_form(b[0])) {
            let Slot::Header(oh) =
                checked_slot(&b[..short as usize], old, self.geo, max_key, max_value)
            else {
                return Err(Fail::Corrupted);
            };
            return Ok((oh.key_len == h.key_len && b[short as usize..] == *key).then_some(oh));
        }
        // A long header or key.
        let oh = self.header_at(old, max_key, max_value).await?;
        Ok(self.key_eq(old, &oh, key).await?.then_some(oh))
    }

    /// The key of the record at `off` (header `h`, checked by the replay),
    /// in place on a region that lends its bytes; `None` on any other region.
    #[inline(always)]
    pub(crate) fn lent_key(&self, off: u32, h: &RecordHeader) -> Option<&[u8]> {
        let k = off as usize + h.header_len() as usize;
        self.region.lend()?.get(k..k + h.key_len as usize)
    }

    /// [`same_key`](Self::same_key) in place, on a region that lends its
    /// bytes, against the new record's key already in hand (`key`, from
    /// [`lent_key`](Self::lent_key)): the header of the record at `old` if
    /// its key equals `key`; `Corrupted` if that header no longer decodes;
    /// `None` on any other region. Inline, so that the replay's index update
    /// on such a region makes no call for it.
    #[inline(always)]
    pub(crate) fn lent_old_same(
        &self,
        old: u32,
        key: &[u8],
        limits: crate::format::Limits,
    ) -> Option<Res<Option<RecordHeader>, R::Error>> {
        let bytes = self.region.lend()?;
        let Some(oh) = lent_header(bytes, old, self.geo, limits.max_key, limits.max_value) else {
            return Some(Err(Fail::Corrupted));
        };
        let k = old as usize + oh.header_len() as usize;
        Some(Ok(match bytes.get(k..k + oh.key_len as usize) {
            Some(a) if crate::format::same_bytes(a, key) => Some(oh),
            _ => None,
        }))
    }

    /// Reads the header of a record the index points at (known valid).
    pub(crate) async fn header_at(
        &mut self,
        off: u32,
        max_key: u32,
        max_value: u32,
    ) -> Res<RecordHeader, R::Error> {
        match self.slot(off, max_key, max_value).await? {
            Slot::Header(h) => Ok(h),
            // The index only points at records whose header was valid; the
            // medium changed under us.
            _ => Err(Fail::Corrupted),
        }
    }

    /// Programs the first `len` bytes of `buf` (a record [`record::encode`]
    /// wrote there) at the append position, [`append_at`](Self::append_at),
    /// and advances it. A failed program seals the log. The record's offset
    /// is `append_at` before the call: returned, a `Result<u32, _>` would
    /// go through memory on a 32-bit target.
    pub(crate) async fn append(&mut self, buf: &[u8], len: u32) -> Res<(), R::Error> {
        let off = self.append;
        if self.sealed {
            return Err(Fail::ReadOnly);
        }
        let data = buf.get(..len as usize).ok_or_else(|| bug!())?;
        let end = off.checked_add(len).ok_or_else(|| bug!())?;
        if end > self.geo.size || !len.is_multiple_of(self.geo.write_unit) {
            return Err(bug!());
        }
        if self.needs_verify(end) && !self.verify_ahead(end).await? {
            // Bytes past the log's end: never programmed over (FORMAT.md §6.2).
            return Err(Fail::Corrupted);
        }
        if self.tail_wiped(off).await? {
            // The log's last record no longer reads: its erase unit was
            // erased while the store was open. Nothing is programmed after
            // it (FORMAT.md §6.2, stray bytes).
            return Err(Fail::Corrupted);
        }
        if let Err(e) = self.region.program(off, data).await {
            self.sealed = true;
            self.covering = Cover::Off;
            return Err(Fail::Region(e));
        }
        // (Never on media in order: compiled out with their regions.)
        if self.covering == Cover::Feeding && !self.region.persists_in_order() {
            // What was programmed, not read back (FORMAT.md §6.4).
            self.cover = checks::crc32c_append(self.cover, data);
        }
        #[cfg(feature = "checkpoint")]
        self.note_erased(data);
        self.append = end;
        Ok(())
    }

    /// Programs a marker into its slot.
    pub(crate) async fn program_marker(
        &mut self,
        m: Marker,
        seal: Seal,
        arg: u32,
    ) -> Res<(), R::Error> {
        let mut slot = [0xFFu8; 32];
        let n = self.layout.marker_slot as usize;
        slot[..MARKER_LEN].copy_from_slice(&m.encode(seal, arg));
        self.region
            .program(self.layout.slot(m), &slot[..n])
            .await
            .map_err(Fail::Region)
    }

    pub(crate) async fn sync(&mut self) -> Res<(), R::Error> {
        self.region.sync().await.map_err(Fail::Region)
    }

    /// Erases the pending units (step 2 of a switch: none once erase ahead
    /// finished), then records what is known erased past the log to come.
    ///
    /// Units that were only known erased (erased before this call, by erase
    /// ahead or an earlier switch, and not read since) are not trusted:
    /// damage since may have left bytes in them, and a program over such
    /// bytes fails (ECC flash) or writes a record that does not read valid
    /// (flash that ANDs). Those the header and the commit go into are read
    /// now; the rest are read one by one before the copy first programs
    /// into them ([`Journal::append`]), and any that does not read erased is
    /// erased again: until the commit the target holds nothing there.
    pub(crate) async fn erase_for_format(&mut self) -> Res<(), R::Error> {
        let read_units = self.pending_from_log || self.empty_unverified;
        if read_units {
            // Known erased only from what the log or a header area said:
            // read all of it now (a unit left by a cut erase, not damage, may
            // be among them, and must not outlive the commit).
            for k in self.pending..self.geo.erase_units() {
                let (from, to) = self.unit_range(k);
                if !self.is_erased(from, to).await? {
                    self.erase_unit(k).await?;
                }
            }
            self.pending_from_log = false;
            self.empty_unverified = false;
        }
        let all = self.pending == self.geo.erase_units();
        let size = self.geo.size;
        let e = self.geo.erase_unit;
        let fresh = self.pending.saturating_mul(e).min(size);
        if fresh > 0 {
            self.region.erase(0, fresh).await.map_err(Fail::Region)?;
        }
        if read_units {
            self.verified_to = size;
        } else {
            // The units the header area spans (one, unless erase units are
            // smaller than the area), past those just erased.
            let head = self
                .layout
                .data_start()
                .div_ceil(e)
                .saturating_mul(e)
                .min(size);
            if head > fresh && !self.is_erased(fresh, head).await? {
                self.region.erase(fresh, head).await.map_err(Fail::Region)?;
            }
            self.verified_to = fresh.max(head);
        }
        self.erase_again = self.verified_to < size;
        self.erased_past_use = all || self.pending_known;
        self.pending = 0;
        self.pending_known = true;
        Ok(())
    }

    /// CRC-32C over `from..to` of the region (sync marker coverage, batch
    /// check), continuing bytes whose CRC-32C is `after` (0: none; an index
    /// checkpoint's prefix check carried on from the last one, FORMAT.md
    /// §11).
    pub(crate) async fn crc_range(&mut self, after: u32, from: u32, to: u32) -> Res<u32, R::Error> {
        let mut d = checks::Crc32cDigest::resume(after);
        if let Some(bytes) = self.lent(from, to.saturating_sub(from)) {
            d.update(bytes);
            return Ok(d.finalize());
        }
        let mut buf = [0u8; CHUNK];
        let mut at = from;
        while at < to {
            let n = core::cmp::min(CHUNK as u32, to - at) as usize;
            self.read(at, &mut buf[..n]).await?;
            d.update(&buf[..n]);
            at += n as u32;
        }
        Ok(d.finalize())
    }
}

/// What the slot at `off` holds, from its first bytes `b` (up to 16, fewer
/// only at the region's end): a header must also describe a record that ends
/// inside the region.
fn checked_slot(b: &[u8], off: u32, geo: Geometry, max_key: u32, max_value: u32) -> Slot {
    let slot = record::decode_header(b, max_key, max_value);
    if let Slot::Header(h) = slot {
        match h
            .stored_len(geo.write_unit)
            .and_then(|l| off.checked_add(l))
        {
            Some(end) if end <= geo.size => {}
            _ => return Slot::Invalid,
        }
    }
    slot
}

/// The valid header of the record at `off` in a region's lent bytes, whose
/// record ends inside the region (as [`Journal::slot`] decodes it).
#[inline(always)]
fn lent_header(
    bytes: &[u8],
    off: u32,
    geo: Geometry,
    max_key: u32,
    max_value: u32,
) -> Option<RecordHeader> {
    lent_header_len(bytes, off, geo, max_key, max_value).map(|(h, _)| h)
}

/// [`lent_header`] and the record's stored length.
#[inline(always)]
fn lent_header_len(
    bytes: &[u8],
    off: u32,
    geo: Geometry,
    max_key: u32,
    max_value: u32,
) -> Option<(RecordHeader, u32)> {
    let start = off as usize;
    let end = core::cmp::min(off.saturating_add(LONG_HEADER_LEN), geo.size) as usize;
    match record::decode_header_inline(bytes.get(start..end)?, max_key, max_value) {
        Slot::Header(h) => {
            let len = h.stored_len(geo.write_unit)?;
            off.checked_add(len)
                .filter(|&e| e <= geo.size)
                .map(|_| (h, len))
        }
        _ => None,
    }
}
