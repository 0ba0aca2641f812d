//! The store: two journals, one index, and the double-buffer switch.

use crate::config::{fill_limit, Config};
use crate::damage::{Damage, DamageList, Scope};
use crate::error::{Error, Result};
use crate::format::marker::{Marker, MarkerState};
use crate::format::record::{self, Kind, RecordHeader, Slot};
use crate::format::{key_hash, short_hash, RegionHeader, Seal};
use crate::index::Index;
use crate::journal::{EraseNeed, Journal, RegionClass};
use crate::scan::{self, Limits, Outcome, Sink};
use crate::{MappedRegion, Region};

/// One write of an atomic batch ([`Store::apply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// Set a key to a value.
    Set(&'a [u8], &'a [u8]),
    /// Delete a key.
    Delete(&'a [u8]),
}

impl<'a> Op<'a> {
    /// The key this operation writes.
    pub fn key(&self) -> &'a [u8] {
        match *self {
            Op::Set(k, _) | Op::Delete(k) => k,
        }
    }
}

/// Which region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegionId {
    /// Region A.
    A,
    /// Region B.
    B,
}

/// A snapshot of the store's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// The active region.
    pub active: RegionId,
    /// The active region's generation.
    pub generation: u64,
    /// The store id both regions carry.
    pub store_id: u64,
    /// Capacity of the active region (bytes for records).
    pub capacity: u32,
    /// Record bytes in the active region's log (live or not).
    pub used_bytes: u32,
    /// Bytes a compaction would write: the live records and damage records.
    pub live_bytes: u32,
    /// Bytes left for appends in the active region.
    pub free_bytes: u32,
    /// Live data allowed: capacity × max-fill of the smaller region.
    pub fill_limit: u32,
    /// Switches since the store was opened.
    pub switches: u32,
    /// Keys with a value.
    pub live_keys: usize,
    /// Keys (or key-hash groups) that answer `get` with `Corrupted`.
    pub damaged_keys: usize,
    /// Problems found as mid-log damage when the store was opened.
    pub damage_found_at_open: u32,
    /// The active log ended in a dirty tail (the next write switches).
    pub dirty_tail: bool,
    /// Read-only open found a switch whose "superseded" marker is missing.
    pub unfinished_switch: bool,
    /// The store was opened read-only.
    pub read_only: bool,
    /// Opened by [`Store::open_salvage`] from a damaged newest state: what it
    /// shows may be older than the last acknowledged state.
    pub salvaged: bool,
}

/// A crash-resilient key-value store over two regions.
///
/// `R` is the region type (both regions), `I` the index and `B` a scratch
/// buffer of at least [`Store::scratch_len`] bytes, used to assemble and copy
/// records. Both journals are built and checked when the store is opened; a
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
    a: Journal<R>,
    b: Journal<R>,
    using_a: bool,
    index: I,
    damage: DamageList,
    scratch: B,
    config: Config,
    store_id: u64,
    generation: u64,
    live_bytes: u32,
    live_keys: usize,
    damaged_keyed: usize,
    read_only: bool,
    poisoned: bool,
    switches: u32,
    unfinished_switch: bool,
    damage_at_open: u32,
    salvaged: bool,
    /// Opening formatted the regions as a new store (generation 1).
    formatted: bool,
}

/// What opening decided.
enum Decision {
    /// Both regions empty (or an interrupted first format): format A.
    Fresh,
    /// Use this region; maybe finish a switch by marking the other superseded.
    Active { a: bool, finish_superseded: bool },
}

/// The planned effect of a write on one key.
#[derive(Clone, Copy)]
struct Effect {
    live: i64,
    keys: i64,
    entries: i64,
}

impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Scratch bytes a configuration needs at write unit `w`: room for two of
    /// its largest records.
    pub const fn scratch_len(config: &Config, w: u32) -> usize {
        match config.max_record_len(w) {
            Some(r) => 2 * r as usize,
            None => usize::MAX,
        }
    }

    /// Opens the store on regions `a` and `b`, formatting them if both are
    /// empty. Nothing is erased; the only bytes written to existing regions
    /// are a missing "superseded" marker (FORMAT.md §8).
    pub fn open(a: R, b: R, index: I, scratch: B, config: Config) -> Result<Self, R::Error> {
        Self::open_with(a, b, index, scratch, config, false)
    }

    /// Opens the store without writing anything. Writes return
    /// [`Error::ReadOnly`]. Empty storage is [`Error::ReadOnly`] too: there
    /// is nothing to read and formatting would write.
    pub fn open_read_only(
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
    ) -> Result<Self, R::Error> {
        Self::open_with(a, b, index, scratch, config, true)
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
    pub fn open_salvage(
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
    ) -> Result<Self, R::Error> {
        Self::open_mode(a, b, index, scratch, config, true, true, false)
    }

    /// Formats the regions for `config`, whatever they hold, and opens the
    /// store. If they hold a valid store of this store id (and these
    /// options), this is that store's [`Store::clear`]: the next generation,
    /// never a restart at generation 1. Anything else — empty, foreign,
    /// unrecognised or damaged storage — is erased in full and formatted as
    /// generation 1. The caller's explicit decision: [`Store::open`] never
    /// erases storage it does not recognise (read what can be read with
    /// [`Store::open_salvage`] first).
    pub fn format(a: R, b: R, index: I, scratch: B, config: Config) -> Result<Self, R::Error> {
        let mut store = Self::open_mode(a, b, index, scratch, config, false, false, true)?;
        if !store.formatted {
            store.clear()?;
        }
        Ok(store)
    }

    fn open_with(
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
        read_only: bool,
    ) -> Result<Self, R::Error> {
        Self::open_mode(a, b, index, scratch, config, read_only, false, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn open_mode(
        a: R,
        b: R,
        index: I,
        mut scratch: B,
        config: Config,
        read_only: bool,
        salvage: bool,
        format: bool,
    ) -> Result<Self, R::Error> {
        let (ga, gb) = (a.geometry(), b.geometry());
        if !config.fits(ga, gb)
            || scratch.as_mut().len() < Self::scratch_len(&config, ga.write_unit)
        {
            return Err(Error::InvalidConfig);
        }
        let mut store = Store {
            a: Journal::new(a),
            b: Journal::new(b),
            using_a: true,
            index,
            damage: DamageList::default(),
            scratch,
            config,
            store_id: config.store_id,
            generation: 0,
            live_bytes: 0,
            live_keys: 0,
            damaged_keyed: 0,
            read_only,
            poisoned: false,
            switches: 0,
            unfinished_switch: false,
            damage_at_open: 0,
            salvaged: false,
            formatted: false,
        };
        store.index.clear();
        let ca = store.a.classify()?;
        let cb = store.b.classify()?;
        let decision = match store.decide(ca, cb) {
            Err(Error::Corrupted | Error::Unrecognised) if salvage => {
                store.salvage(ca, cb)?;
                return Ok(store);
            }
            Err(e) if format && !matches!(e, Error::Region(_)) => {
                store.format_fresh(true)?;
                return Ok(store);
            }
            d => d?,
        };
        match decision {
            Decision::Fresh => {
                if read_only {
                    return Err(Error::ReadOnly);
                }
                store.format_fresh(format)?;
            }
            Decision::Active {
                a,
                finish_superseded,
            } => {
                store.using_a = a;
                match store.load_active() {
                    Err(e) if format && !matches!(e, Error::Region(_)) => {
                        // A store of this id that cannot be used with these
                        // options (or is damaged): formatted anew.
                        store.index.clear();
                        store.damage.clear();
                        store.format_fresh(true)?;
                        return Ok(store);
                    }
                    r => r?,
                }
                if finish_superseded {
                    if read_only {
                        store.unfinished_switch = true;
                    } else {
                        let seal = Seal {
                            store_id: store.store_id,
                            generation: store.generation - 1,
                        };
                        let old = store.inactive_mut();
                        old.program_marker(Marker::Superseded, seal, 0)?;
                        old.sync()?;
                    }
                }
            }
        }
        Ok(store)
    }

    /// The salvage path of [`Store::open_salvage`].
    fn salvage(&mut self, ca: RegionClass, cb: RegionClass) -> Result<(), R::Error> {
        let committed = |c: RegionClass| match c {
            RegionClass::Formatted {
                header,
                commit: MarkerState::Valid(_),
                ..
            } => Some(header),
            _ => None,
        };
        // A newer partner whose own header is unreadable, but whose commit
        // is valid for the derived store id and generation.
        for (x_is_a, cx) in [(true, ca), (false, cb)] {
            let Some(hx) = committed(cx) else { continue };
            let Some(next) = next_generation(hx.generation) else {
                continue;
            };
            let seal = Seal {
                store_id: hx.store_id,
                generation: next,
            };
            let y = if x_is_a { &mut self.b } else { &mut self.a };
            if matches!(y.class, RegionClass::Formatted { header, .. } if header.generation == seal.generation)
            {
                continue; // its header is fine: not this case
            }
            if let MarkerState::Valid(end) = y.read_marker(Marker::Commit, seal)? {
                let header = RegionHeader {
                    generation: seal.generation,
                    region_size: y.geo.size,
                    ..hx
                };
                y.class = RegionClass::Formatted {
                    header,
                    switching: y.read_marker(Marker::Switching, seal)?,
                    commit: MarkerState::Valid(end),
                    superseded: y.read_marker(Marker::Superseded, seal)?,
                };
                self.using_a = !x_is_a;
                self.salvaged = true;
                return self.load_active();
            }
        }
        // Else the newest committed region there is, flagged as possibly old.
        let newest = match (committed(ca), committed(cb)) {
            (Some(a), Some(b)) => Some(a.generation >= b.generation),
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        };
        if let Some(use_a) = newest {
            self.using_a = use_a;
            self.salvaged = true;
            return self.load_active();
        }
        // No commit anywhere (e.g. the only formatted region's commit was
        // damaged): the newest formatted region of ours, read as if its
        // commit said "nothing copied" (no sync point but its own records).
        let formatted = |c: RegionClass| match c {
            RegionClass::Formatted { header, .. }
                if self.config.adopt_store_id || header.store_id == self.config.store_id =>
            {
                Some(header.generation)
            }
            _ => None,
        };
        let use_a = match (formatted(ca), formatted(cb)) {
            (Some(a), Some(b)) => a >= b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return Err(Error::Corrupted),
        };
        self.using_a = use_a;
        let j = self.active_mut();
        let d = j.data_start();
        if let RegionClass::Formatted { ref mut commit, .. } = j.class {
            *commit = MarkerState::Valid(d);
        }
        self.salvaged = true;
        self.load_active()
    }

    /// The decision table of FORMAT.md §8.
    fn decide(&mut self, ca: RegionClass, cb: RegionClass) -> Result<Decision, R::Error> {
        use RegionClass::*;
        let cfg = self.config;
        let id_ok = |h: &RegionHeader| cfg.adopt_store_id || h.store_id == cfg.store_id;
        let committed = |c: &MarkerState| matches!(c, MarkerState::Valid(_));
        if matches!(ca, Unsupported) || matches!(cb, Unsupported) {
            return Err(Error::UnsupportedFormat);
        }
        let decision = match (ca, cb) {
            (Empty, Empty) => Decision::Fresh,
            (
                Formatted {
                    header: ha,
                    commit: ma,
                    superseded: sa,
                    ..
                },
                Formatted {
                    header: hb,
                    commit: mb,
                    superseded: sb,
                    ..
                },
            ) => {
                if ha.store_id != hb.store_id || !id_ok(&ha) {
                    return Err(Error::ForeignStore);
                }
                // An uncommitted partner newer than the committed region can
                // only be the target of a switch out of it that was cut
                // (FORMAT.md §7.2): the committed region says "switching" and
                // the partner carries the next generation. Anything else is
                // damage (e.g. a committed successor whose commit was hit).
                let cut_switch = |from: &RegionHeader, sw: MarkerState, to: &RegionHeader| {
                    to.generation < from.generation
                        || (sw.is_set() && Some(to.generation) == next_generation(from.generation))
                };
                let (swa, swb) = match (ca, cb) {
                    (Formatted { switching: x, .. }, Formatted { switching: y, .. }) => (x, y),
                    _ => return Err(Error::LogicBug),
                };
                match (committed(&ma), committed(&mb)) {
                    (true, false) if !cut_switch(&ha, swa, &hb) => return Err(Error::Corrupted),
                    (false, true) if !cut_switch(&hb, swb, &ha) => return Err(Error::Corrupted),
                    _ => {}
                }
                match (committed(&ma), committed(&mb)) {
                    (true, true) => {
                        if ha.generation == hb.generation
                            || ha.generation.abs_diff(hb.generation) != 1
                        {
                            return Err(Error::Corrupted);
                        }
                        let a_newer = ha.generation > hb.generation;
                        let (newer_sup, older_sup) = if a_newer { (sa, sb) } else { (sb, sa) };
                        if newer_sup.is_set() {
                            return Err(Error::Corrupted);
                        }
                        Decision::Active {
                            a: a_newer,
                            finish_superseded: !older_sup.is_set(),
                        }
                    }
                    (true, false) if !sa.is_set() => Decision::Active {
                        a: true,
                        finish_superseded: false,
                    },
                    (false, true) if !sb.is_set() => Decision::Active {
                        a: false,
                        finish_superseded: false,
                    },
                    _ => return Err(Error::Corrupted),
                }
            }
            (
                Formatted {
                    header,
                    commit,
                    superseded,
                    switching,
                },
                other,
            )
            | (
                other,
                Formatted {
                    header,
                    commit,
                    superseded,
                    switching,
                },
            ) => {
                let a = matches!(ca, Formatted { .. });
                if !id_ok(&header) {
                    return Err(Error::ForeignStore);
                }
                let is_committed = committed(&commit);
                match other {
                    Empty if is_committed && !superseded.is_set() => Decision::Active {
                        a,
                        finish_superseded: false,
                    },
                    // An interrupted first format: A (the first format never
                    // writes B) with the header this configuration writes
                    // first, and nothing past the marker area ever programmed
                    // — a cut first format leaves no record behind. Format A
                    // again (erasing it first); B is erased before its first
                    // use either way. A header without a commit anywhere
                    // else, or over records, is damage (FORMAT.md §8).
                    Empty
                        if !is_committed
                            && !superseded.is_set()
                            && !switching.is_set()
                            && self.first_format_cut(a, &header)? =>
                    {
                        Decision::Fresh
                    }
                    Unrecognised if is_committed && !superseded.is_set() => {
                        let partner = if a { &mut self.b } else { &mut self.a };
                        let seal = Seal {
                            store_id: header.store_id,
                            generation: header.generation,
                        };
                        if switching.is_set() {
                            // The target of a cut switch out of this region,
                            // unless its commit for the next generation is
                            // valid: then it is the newest state, with a
                            // damaged header.
                            let next = next_generation(header.generation).map(|g| Seal {
                                generation: g,
                                ..seal
                            });
                            match next {
                                Some(next)
                                    if partner.read_marker(Marker::Commit, next)?.is_valid() =>
                                {
                                    return Err(Error::Corrupted);
                                }
                                _ => Decision::Active {
                                    a,
                                    finish_superseded: false,
                                },
                            }
                        } else if older_of(partner, seal)? {
                            // Our superseded predecessor with a damaged header.
                            Decision::Active {
                                a,
                                finish_superseded: false,
                            }
                        } else {
                            return Err(Error::Unrecognised);
                        }
                    }
                    _ => return Err(Error::Corrupted),
                }
            }
            (Unrecognised, Empty) if self.torn_first_format()? => Decision::Fresh,
            _ => return Err(Error::Unrecognised),
        };
        Ok(decision)
    }

    /// Whether the formatted, uncommitted region (`a`: region A) with
    /// `header` is a first format that was cut: region A, the configured
    /// store id, generation 1, and its log area reads erased.
    fn first_format_cut(&mut self, a: bool, header: &RegionHeader) -> Result<bool, R::Error> {
        if !a || header.store_id != self.config.store_id || header.generation != 1 {
            return Ok(false);
        }
        let (d, size) = (self.a.data_start(), self.a.size());
        self.a.is_erased(d, size)
    }

    /// Whether region A holds nothing but a torn program of the generation-1
    /// header this configuration would write (a cut during the first format,
    /// when B is still empty): every programmed bit is one of that header's
    /// zero bits, and everything after the header block reads erased.
    fn torn_first_format(&mut self) -> Result<bool, R::Error> {
        if self.config.adopt_store_id {
            return Ok(false); // the id to expect is unknown
        }
        // What the first format programs: the header block, then the commit
        // marker. A cut (or a cut erase of a cut format) leaves, in each byte,
        // some of those bits and 0xFF elsewhere.
        let layout = self.a.layout;
        let d = layout.data_start();
        let mut want = [0xFFu8; 160];
        let seal = Seal {
            store_id: self.config.store_id,
            generation: 1,
        };
        want[..crate::format::HEADER_LEN].copy_from_slice(&self.header_for(&self.a, 1).encode());
        let c = layout.commit() as usize;
        want[c..c + crate::format::MARKER_LEN].copy_from_slice(&Marker::Commit.encode(seal, d));
        let mut got = [0u8; 160];
        self.a.read(0, &mut got[..d as usize])?;
        if got[..d as usize]
            .iter()
            .zip(want.iter())
            .any(|(&t, &e)| t & e != e)
        {
            return Ok(false);
        }
        let size = self.a.size();
        self.a.is_erased(d, size)
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

    fn active(&self) -> &Journal<R> {
        if self.using_a {
            &self.a
        } else {
            &self.b
        }
    }

    fn active_mut(&mut self) -> &mut Journal<R> {
        if self.using_a {
            &mut self.a
        } else {
            &mut self.b
        }
    }

    fn inactive_mut(&mut self) -> &mut Journal<R> {
        if self.using_a {
            &mut self.b
        } else {
            &mut self.a
        }
    }

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

    /// Formats region A as generation 1 of a new store.
    fn format_fresh(&mut self, force_erase: bool) -> Result<(), R::Error> {
        self.formatted = true;
        self.using_a = true;
        self.store_id = self.config.store_id;
        self.generation = 1;
        let header = self.header_for(&self.a, 1);
        let seal = self.seal();
        let a = &mut self.a;
        // Erase A first when it holds bytes (a first format cut short). An A
        // that reads empty is programmed as it is: erasing it would risk a cut
        // erase leaving unrecognisable bytes behind. But an empty-looking unit
        // may be an erase cut short (not reliably erased), so if a program
        // fails or does not read back as written, A is erased and formatted
        // once more.
        a.erase_need = if matches!(a.class, RegionClass::Empty) && !force_erase {
            EraseNeed::Nothing
        } else {
            EraseNeed::All
        };
        let d = a.data_start();
        let hb = a.layout.header_block as usize;
        let mut block = [0xFFu8; 64];
        block[..crate::format::HEADER_LEN].copy_from_slice(&header.encode());
        let mut attempt = 0;
        loop {
            a.erase_for_format()?;
            let programmed = a.region.program(0, &block[..hb]).is_ok()
                && a.sync().is_ok()
                && a.program_marker(Marker::Commit, seal, d).is_ok()
                && a.sync().is_ok();
            let mut back = [0u8; 64];
            a.read(0, &mut back[..hb])?;
            let ok = programmed
                && back[..hb] == block[..hb]
                && a.read_marker(Marker::Commit, seal)? == MarkerState::Valid(d);
            if ok {
                break;
            }
            if attempt == 1 {
                // Report the region's own error if there was one.
                a.region.sync().map_err(Error::Region)?;
                return Err(Error::Corrupted);
            }
            attempt += 1;
            a.erase_need = EraseNeed::All;
        }
        a.class = a.classify()?;
        a.append = d;
        a.last_sync = d;
        a.sealed = false;
        // B may be an erase cut short as well: erase it before its first use.
        self.b.erase_need = EraseNeed::All;
        Ok(())
    }

    /// Replays the active region and sets up the partner's erase state.
    fn load_active(&mut self) -> Result<(), R::Error> {
        let RegionClass::Formatted {
            header,
            switching,
            commit,
            ..
        } = self.active().class
        else {
            return Err(Error::LogicBug);
        };
        let geo = self.active().geo;
        let cfg = self.config;
        if header.region_size != geo.size
            || u32::from(header.write_unit) != geo.write_unit
            || header.erase_unit != geo.erase_unit
            || header.max_key_len != cfg.max_key_len
            || header.max_value_len != cfg.max_value_len
            || header.high_water_bp != cfg.high_water_bp
            || header.max_fill_bp != cfg.max_fill_bp
        {
            return Err(Error::ConfigMismatch);
        }
        self.store_id = header.store_id;
        self.generation = header.generation;
        let MarkerState::Valid(data_end) = commit else {
            return Err(Error::LogicBug);
        };
        let seal = self.seal();
        let limits = self.limits();
        let counts;
        let outcome: Outcome = {
            let (index, damage, j) = if self.using_a {
                (&mut self.index, &mut self.damage, &mut self.a)
            } else {
                (&mut self.index, &mut self.damage, &mut self.b)
            };
            let mut sink = IndexSink {
                index,
                damage,
                limits,
                write_unit: geo.write_unit,
                indexed_bytes: 0,
                keys: 0,
                damaged_keyed: 0,
            };
            let outcome = scan::replay(j, seal, limits, data_end, &mut sink)?;
            counts = (sink.indexed_bytes, sink.keys, sink.damaged_keyed);
            outcome
        };
        let j = self.active_mut();
        j.append = outcome.end;
        j.sealed = !outcome.clean;
        j.last_sync = outcome.last_sync;
        self.damage_at_open = outcome.damaged;
        let damage_bytes: u64 = self
            .damage
            .entries()
            .iter()
            .map(|d| u64::from(damage_record_len(d.scope, geo.write_unit)))
            .sum();
        self.live_bytes = u32::try_from(counts.0 + damage_bytes).map_err(|_| Error::LogicBug)?;
        self.live_keys = counts.1;
        self.damaged_keyed = counts.2;
        let partner_class = self.inactive_mut().class;
        self.inactive_mut().erase_need = match partner_class {
            _ if switching.is_set() => EraseNeed::All,
            RegionClass::Empty => EraseNeed::Nothing,
            // A committed partner: after a reboot nothing says which units
            // past its log were reliably erased, so all of it.
            RegionClass::Formatted {
                commit: MarkerState::Valid(_),
                ..
            } => EraseNeed::All,
            _ => EraseNeed::All,
        };
        Ok(())
    }

    // ----- reads -------------------------------------------------------------

    fn check_key(&self, key: &[u8]) -> Result<(), R::Error> {
        if key.is_empty() {
            Err(Error::EmptyKey)
        } else if key.len() > usize::from(self.config.max_key_len) {
            Err(Error::KeyTooLarge)
        } else {
            Ok(())
        }
    }

    /// Index position, offset and header of `key`'s newest record.
    fn lookup(
        &mut self,
        key: &[u8],
        hash: u32,
    ) -> Result<Option<(usize, u32, RecordHeader)>, R::Error> {
        self.lookup_mode(key, hash, false)
    }

    /// A lookup for reads: an entry with the same 32-bit hash whose record
    /// no longer passes its check (damaged while the store is open) may be
    /// this key with damaged key bytes, so if no entry matches, the answer is
    /// [`Error::Corrupted`] rather than "absent".
    fn lookup_strict(
        &mut self,
        key: &[u8],
        hash: u32,
    ) -> Result<Option<(usize, u32, RecordHeader)>, R::Error> {
        self.lookup_mode(key, hash, true)
    }

    fn lookup_mode(
        &mut self,
        key: &[u8],
        hash: u32,
        strict: bool,
    ) -> Result<Option<(usize, u32, RecordHeader)>, R::Error> {
        let limits = self.limits();
        let seal = self.seal();
        let (index, j) = if self.using_a {
            (&self.index, &mut self.a)
        } else {
            (&self.index, &mut self.b)
        };
        let mut hit = None;
        let mut suspect = false;
        let found = index.find(hash, |off| {
            let h = match j.header_at(off, limits.max_key, limits.max_value) {
                Ok(h) => h,
                Err(Error::Corrupted) => {
                    suspect = true;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let eq = j.key_eq(off, &h, key)?;
            if eq {
                hit = Some((off, h));
            } else if strict && !j.verify(off, &h, seal)?.0 {
                suspect = true;
            }
            Ok::<bool, Error<R::Error>>(eq)
        })?;
        match (found, hit) {
            (Some(pos), Some((off, h))) => Ok(Some((pos, off, h))),
            (None, _) if strict && suspect => Err(Error::Corrupted),
            (None, _) => Ok(None),
            (Some(_), None) => Err(Error::LogicBug),
        }
    }

    /// Copies `key`'s value into `buf` and returns its length, or `None` if
    /// the key has no value. The record's check is verified on every call;
    /// a damaged value is [`Error::Corrupted`], never an older value.
    pub fn get(&mut self, key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, R::Error> {
        self.usable()?;
        self.check_key(key)?;
        let hash = key_hash(key);
        let short = short_hash(hash);
        let limits = self.limits();
        let seal = self.seal();
        let (index, j, scratch) = if self.using_a {
            (&self.index, &mut self.a, self.scratch.as_mut())
        } else {
            (&self.index, &mut self.b, self.scratch.as_mut())
        };
        // Each candidate record is read once, exactly (header, key, value),
        // into scratch; the key is compared and the check verified there.
        let mut hit = None;
        let mut suspect = false;
        index.find(hash, |off| {
            let Some(h) = j.read_record(off, scratch, limits)? else {
                suspect = true;
                return Ok(false);
            };
            let (k0, v0) = (
                h.header_len() as usize,
                (h.header_len() + h.key_len) as usize,
            );
            let intact = record::verify(scratch, &h, seal);
            if scratch[k0..v0] == *key {
                hit = Some((off, h, intact));
                Ok(true)
            } else {
                suspect |= !intact;
                Ok::<bool, Error<R::Error>>(false)
            }
        })?;
        let Some((off, h, intact)) = hit else {
            return if suspect || self.damage.covers(short, None) {
                Err(Error::Corrupted)
            } else {
                Ok(None)
            };
        };
        if !intact || self.damage.covers(short, Some(off)) {
            return Err(Error::Corrupted);
        }
        match h.kind {
            Kind::Delete => Ok(None),
            Kind::Set => {
                let n = h.value_len as usize;
                let out = buf.get_mut(..n).ok_or(Error::BufferTooSmall(n))?;
                let v0 = (h.header_len() + h.key_len) as usize;
                out.copy_from_slice(&self.scratch.as_mut()[v0..v0 + n]);
                Ok(Some(n))
            }
            _ => Err(Error::Corrupted),
        }
    }

    /// Whether `key` has a value (a damaged key is [`Error::Corrupted`]).
    pub fn contains(&mut self, key: &[u8]) -> Result<bool, R::Error> {
        self.usable()?;
        self.check_key(key)?;
        let hash = key_hash(key);
        let short = short_hash(hash);
        match self.lookup_strict(key, hash)? {
            None if self.damage.covers(short, None) => Err(Error::Corrupted),
            None => Ok(false),
            Some((_, off, _)) if self.damage.covers(short, Some(off)) => Err(Error::Corrupted),
            Some((_, _, h)) => match h.kind {
                Kind::Set => Ok(true),
                Kind::Delete => Ok(false),
                _ => Err(Error::Corrupted),
            },
        }
    }

    /// Number of keys with a value.
    pub fn len(&self) -> usize {
        self.live_keys
    }

    /// True when no key has a value.
    pub fn is_empty(&self) -> bool {
        self.live_keys == 0
    }

    /// Calls `f(key, value)` for every key with an intact value, in index
    /// order, each record's check verified. Stops early when `f` returns
    /// `false`. If any key is damaged, the intact ones are still visited and
    /// the call then returns [`Error::Corrupted`].
    pub fn for_each(&mut self, mut f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<(), R::Error> {
        self.usable()?;
        let limits = self.limits();
        let seal = self.seal();
        let w = self.active().geo.write_unit;
        // Damaged keys are not skipped silently: every intact entry is
        // visited, then the call reports `Corrupted` if any key is damaged.
        let mut damaged = !self.damage.entries().is_empty();
        for pos in 0..self.index.positions() {
            let Some((hash, off)) = self.index.entry(pos) else {
                continue;
            };
            let (j, scratch) = if self.using_a {
                (&mut self.a, self.scratch.as_mut())
            } else {
                (&mut self.b, self.scratch.as_mut())
            };
            let h = j.header_at(off, limits.max_key, limits.max_value)?;
            match h.kind {
                Kind::Set => {}
                Kind::Delete => continue,
                _ => {
                    damaged = true;
                    continue;
                }
            }
            let len = h.stored_len(w).ok_or(Error::LogicBug)? as usize;
            let rec = scratch.get_mut(..len).ok_or(Error::LogicBug)?;
            j.read(off, rec)?;
            if !record::verify(rec, &h, seal) || self.damage.covers(short_hash(hash), Some(off)) {
                damaged = true;
                continue;
            }
            let (k0, v0) = (
                h.header_len() as usize,
                (h.header_len() + h.key_len) as usize,
            );
            if !f(&rec[k0..v0], &rec[v0..v0 + h.value_len as usize]) {
                return Ok(());
            }
        }
        if damaged {
            Err(Error::Corrupted)
        } else {
            Ok(())
        }
    }

    /// The index (e.g. to measure its memory).
    pub fn index(&self) -> &I {
        &self.index
    }

    /// A snapshot of the store's state.
    pub fn stats(&self) -> Stats {
        let j = self.active();
        let d = j.data_start();
        Stats {
            active: if self.using_a {
                RegionId::A
            } else {
                RegionId::B
            },
            generation: self.generation,
            store_id: self.store_id,
            capacity: j.capacity(),
            used_bytes: j.append - d,
            live_bytes: self.live_bytes,
            free_bytes: if j.sealed { 0 } else { j.size() - j.append },
            fill_limit: self.fill_limit(),
            switches: self.switches,
            live_keys: self.live_keys,
            damaged_keys: self.damaged_keyed + self.damage.entries().len(),
            damage_found_at_open: self.damage_at_open,
            dirty_tail: j.sealed && !self.poisoned,
            unfinished_switch: self.unfinished_switch,
            read_only: self.read_only,
            salvaged: self.salvaged,
        }
    }

    /// Both regions (A, B), e.g. to read their counters.
    pub fn regions(&self) -> (&R, &R) {
        (&self.a.region, &self.b.region)
    }

    /// Gives back the regions, index and scratch buffer (to reopen them).
    pub fn into_parts(self) -> (R, R, I, B) {
        (self.a.region, self.b.region, self.index, self.scratch)
    }

    // ----- writes ------------------------------------------------------------

    fn usable(&self) -> Result<(), R::Error> {
        if self.poisoned {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }

    fn writable(&self) -> Result<(), R::Error> {
        self.usable()?;
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn fill_limit(&self) -> u32 {
        let cap = self.a.capacity().min(self.b.capacity());
        fill_limit(cap, self.config.max_fill_bp)
    }

    /// Sets `key` to `value`. Returns once the record is written (on a region
    /// that does not persist in order, call [`Store::sync`] for power-loss
    /// durability).
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), R::Error> {
        let op = Op::Set(key, value);
        self.write_checked(core::slice::from_ref(&op))?;
        self.write_one(&op).map(|_| ())
    }

    /// Deletes `key`; returns whether it had a value (a key that reported
    /// [`Error::Corrupted`] had none, and reads as absent afterwards).
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, R::Error> {
        self.write_checked(&[Op::Delete(key)])?;
        self.write_one(&Op::Delete(key))
    }

    /// Applies `ops` atomically: after a power cut either all of them or none
    /// is visible. Later operations on the same key win.
    pub fn apply(&mut self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        if let [op] = ops {
            self.write_checked(ops)?;
            return self.write_one(op).map(|_| ());
        }
        self.write_batch(ops)
    }

    /// Deletes every key: a switch to an empty committed region. Old data
    /// never comes back.
    pub fn clear(&mut self) -> Result<(), R::Error> {
        self.writable()?;
        self.switch(Fold::Clear)
    }

    /// Drops every damaged record and damage entry into a fresh committed
    /// region (a compaction that forgets damage). A key whose newest record
    /// was damaged then reads as absent; a key that a damage entry covered
    /// (its newest record lost with an unreadable key) reads its newest
    /// intact value, which may be older than what was lost. Returns how many
    /// damaged keys or key groups were dropped. List them first (e.g.
    /// `twinkv verify`): the loss becomes silent afterwards.
    pub fn repair(&mut self) -> Result<usize, R::Error> {
        self.writable()?;
        let dropped = self.damaged_keyed + self.damage.entries().len();
        self.switch(Fold::Repair)?;
        Ok(dropped)
    }

    /// Forces a switch (compaction) now.
    pub fn compact(&mut self) -> Result<(), R::Error> {
        self.writable()?;
        self.switch(Fold::Ops(&[]))
    }

    /// Durability barrier: everything written before returns survives power
    /// loss. On regions that do not persist in order, appends a sync marker
    /// after the flush (FORMAT.md §6.3).
    pub fn sync(&mut self) -> Result<(), R::Error> {
        self.writable()?;
        let w = self.active().geo.write_unit;
        let seal = self.seal();
        let (j, scratch) = if self.using_a {
            (&mut self.a, self.scratch.as_mut())
        } else {
            (&mut self.b, self.scratch.as_mut())
        };
        j.sync()?;
        if j.region.persists_in_order() || j.sealed || j.append == j.last_sync {
            return Ok(());
        }
        let prev = j.last_sync;
        let coverage = j.crc_range(prev, j.append)?;
        let value = record::sync_value(prev, coverage);
        let len = record::encode(scratch, seal, Kind::SyncMarker, 0, &[], &value, w)
            .ok_or(Error::LogicBug)?;
        if j.append + len > j.size() {
            // No room for the marker: the data is durable anyway, and the next
            // write switches (a switch's commit is a sync point).
            return Ok(());
        }
        j.append(&scratch[..len as usize])?;
        j.last_sync = j.append;
        Ok(())
    }

    /// Plans the effect of `ops` on the live data.
    fn plan(&mut self, ops: &[Op<'_>]) -> Result<Effect, R::Error> {
        let w = self.active().geo.write_unit;
        let mut total = Effect {
            live: 0,
            keys: 0,
            entries: 0,
        };
        let keys = BatchKeys::new(ops);
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            if keys.repeated(ops, i, hash, true) {
                continue; // shadowed by a later op on the same key
            }
            let old = self.lookup(op.key(), hash)?.map(|(_, _, h)| h);
            let e = effect(old, op, self.damage.touches(short_hash(hash)), w)?;
            total.live += e.live;
            total.keys += e.keys;
            total.entries += e.entries;
        }
        Ok(total)
    }

    /// Bytes appending `ops` writes (0: nothing to write).
    fn batch_len(&mut self, ops: &[Op<'_>]) -> Result<u32, R::Error> {
        let w = self.active().geo.write_unit;
        let keys = BatchKeys::new(ops);
        let mut total = 0u32;
        for i in 0..ops.len() {
            if let Some(len) = self.record_len_at(ops, &keys, i, w)? {
                total = total.checked_add(len).ok_or(Error::LogicBug)?;
            }
        }
        if total > 0 {
            total += record::stored_len(0, 8, w).ok_or(Error::LogicBug)?;
            total += record::stored_len(0, 16, w).ok_or(Error::LogicBug)?;
        }
        Ok(total)
    }

    /// Length of the record `ops[i]` appends, `None` for a no-op: deleting a
    /// key that has no record, no damage to clear, and no earlier write in
    /// the same batch. The answer depends only on the state before the batch
    /// (a key's index entry changes only once an earlier op wrote that key),
    /// so it is the same before and after the batch's earlier ops are applied.
    fn record_len_at(
        &mut self,
        ops: &[Op<'_>],
        keys: &BatchKeys,
        i: usize,
        w: u32,
    ) -> Result<Option<u32>, R::Error> {
        Ok(match ops[i] {
            Op::Set(k, v) => Some(set_len(k, v, w)?),
            Op::Delete(k) => {
                let hash = key_hash(k);
                let earlier = keys.repeated(ops, i, hash, false);
                if earlier
                    || self.damage.touches(short_hash(hash))
                    || self.lookup(k, hash)?.is_some()
                {
                    Some(set_len(k, &[], w)?)
                } else {
                    None
                }
            }
        })
    }

    /// Refuses writes on a read-only or poisoned store and input that can
    /// never be written (empty or oversized keys, oversized values).
    fn write_checked(&self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        self.writable()?;
        for op in ops {
            self.check_key(op.key())?;
            if let Op::Set(_, v) = op {
                if v.len() > self.config.max_value_len as usize {
                    return Err(Error::ValueTooLarge);
                }
            }
        }
        Ok(())
    }

    /// One set or delete, with one index lookup. Returns whether the key had
    /// a value before.
    fn write_one(&mut self, op: &Op<'_>) -> Result<bool, R::Error> {
        let w = self.active().geo.write_unit;
        let key = op.key();
        let hash = key_hash(key);
        let short = short_hash(hash);
        let found = self.lookup(key, hash)?;
        let touches = self.damage.touches(short);
        let old = found.map(|(_, _, h)| h);
        let had = matches!(old, Some(h) if h.kind == Kind::Set)
            && !self.damage.covers(short, found.map(|(_, off, _)| off));
        let (kind, value) = match *op {
            Op::Set(_, v) => (Kind::Set, v),
            Op::Delete(_) if found.is_none() && !touches => return Ok(false),
            Op::Delete(_) => (Kind::Delete, &[][..]),
        };
        let e = effect(old, op, touches, w)?;
        let live_after =
            u32::try_from(i64::from(self.live_bytes) + e.live).map_err(|_| Error::LogicBug)?;
        if live_after > self.fill_limit() && live_after > self.live_bytes {
            return Err(Error::Full);
        }
        if e.entries > 0 && !self.index.has_room(1) {
            return Err(Error::IndexFull);
        }
        let add = set_len(key, value, w)?;
        if self.should_switch(add, live_after) {
            self.switch(Fold::Ops(core::slice::from_ref(op)))?;
            return Ok(had);
        }
        let Some(off) = self.append_encoded(kind, short, key, value)? else {
            self.switch(Fold::Ops(core::slice::from_ref(op)))?;
            return Ok(had);
        };
        let keep = kind == Kind::Set || touches;
        match (found, keep) {
            (Some((pos, _, _)), true) => self.index.set_offset(pos, off),
            (Some((pos, _, _)), false) => self.index.remove(pos),
            (None, true) => self.index.insert(hash, off).map_err(|_| Error::LogicBug)?,
            (None, false) => {}
        }
        self.live_bytes = live_after;
        self.live_keys = (self.live_keys as i64 + e.keys) as usize;
        if matches!(old, Some(h) if h.kind == Kind::Damaged) {
            self.damaged_keyed -= 1;
        }
        Ok(had)
    }

    /// An atomic batch of two or more operations.
    fn write_batch(&mut self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        self.write_checked(ops)?;
        let add = self.batch_len(ops)?;
        if add == 0 {
            return Ok(());
        }
        let effect = self.plan(ops)?;
        let live_after = i64::from(self.live_bytes) + effect.live;
        let live_after = u32::try_from(live_after).map_err(|_| Error::LogicBug)?;
        if live_after > self.fill_limit() && live_after > self.live_bytes {
            return Err(Error::Full);
        }
        let inserts = self.batch_inserts(ops)?;
        if inserts > 0 && !self.index.has_room(inserts) {
            return Err(Error::IndexFull);
        }
        if self.should_switch(add, live_after) {
            self.switch(Fold::Ops(ops))
        } else {
            self.append_batch(ops)
        }
    }

    /// The most index entries applying `ops` in order adds at any point: the
    /// index is updated in op order, and a replay at open applies the batch's
    /// records in the same order, so a batch must fit at every step, not only
    /// at its end.
    fn batch_inserts(&mut self, ops: &[Op<'_>]) -> Result<usize, R::Error> {
        let keys = BatchKeys::new(ops);
        let (mut now, mut peak) = (0i64, 0i64);
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            let keeps = |o: &Op<'_>, damage: &DamageList| {
                matches!(o, Op::Set(..)) || damage.touches(short_hash(key_hash(o.key())))
            };
            // Has the key an entry just before this op?
            let before = if keys.repeated(ops, i, hash, false) {
                match ops[..i].iter().rev().find(|o| o.key() == op.key()) {
                    Some(o) => keeps(o, &self.damage),
                    None => self.lookup(op.key(), hash)?.is_some(),
                }
            } else {
                self.lookup(op.key(), hash)?.is_some()
            };
            let after = keeps(op, &self.damage);
            now += i64::from(after) - i64::from(before);
            peak = peak.max(now);
        }
        Ok(peak as usize)
    }

    /// The trigger rule of FORMAT.md §7 / issue "double-buffer switch".
    fn should_switch(&self, add: u32, live_after: u32) -> bool {
        let j = self.active();
        if j.sealed {
            return true;
        }
        let cap = j.capacity();
        let used = j.append - j.data_start();
        let after = u64::from(used) + u64::from(add);
        if after > u64::from(cap) {
            return true;
        }
        if after > u64::from(fill_limit(cap, self.config.high_water_bp)) {
            let frees = after.saturating_sub(u64::from(live_after));
            let needed = u64::from(cap) - u64::from(fill_limit(cap, self.config.max_fill_bp));
            return frees >= needed;
        }
        false
    }

    /// Appends `ops` to the active log as a batch (begin, records, commit)
    /// and then updates the index; if a program fails or does not read back,
    /// folds the whole batch into a switch instead.
    fn append_batch(&mut self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        let w = self.active().geo.write_unit;
        let keys = BatchKeys::new(ops);
        let mut lens = 0u32;
        let mut count = 0u32;
        for i in 0..ops.len() {
            if let Some(l) = self.record_len_at(ops, &keys, i, w)? {
                lens += l;
                count += 1;
            }
        }
        let mut batch_check = crate::format::checks::CRC32C.digest();
        let begin = self.active().append;
        let v = record::batch_begin_value(count, lens);
        if self.append_encoded(Kind::BatchBegin, 0, &[], &v)?.is_none() {
            return self.switch(Fold::Ops(ops));
        }
        for (i, op) in ops.iter().enumerate() {
            let Some(len) = self.record_len_at(ops, &keys, i, w)? else {
                continue;
            };
            let (kind, value) = match *op {
                Op::Set(_, v) => (Kind::Set, v),
                Op::Delete(_) => (Kind::Delete, &[][..]),
            };
            let hash = short_hash(key_hash(op.key()));
            if self.append_encoded(kind, hash, op.key(), value)?.is_none() {
                return self.switch(Fold::Ops(ops));
            }
            batch_check.update(&self.scratch.as_mut()[..len as usize]);
        }
        let v = record::batch_commit_value(begin, count, lens, batch_check.finalize());
        if self
            .append_encoded(Kind::BatchCommit, 0, &[], &v)?
            .is_none()
        {
            return self.switch(Fold::Ops(ops));
        }
        // Only now, with the commit written, do the writes become visible.
        let mut off = begin + record::stored_len(0, 8, w).ok_or(Error::LogicBug)?;
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            let Some(len) = self.record_len_at(ops, &keys, i, w)? else {
                continue;
            };
            let kind = if matches!(op, Op::Set(..)) {
                Kind::Set
            } else {
                Kind::Delete
            };
            self.index_put(op.key(), hash, kind, off)?;
            off += len;
        }
        Ok(())
    }

    /// `Ok(None)`: the program failed or did not read back as written; the
    /// log is sealed and the caller folds its write into a switch instead.
    fn append_encoded(
        &mut self,
        kind: Kind,
        hash: u8,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u32>, R::Error> {
        let w = self.active().geo.write_unit;
        let seal = self.seal();
        let (j, scratch) = if self.using_a {
            (&mut self.a, self.scratch.as_mut())
        } else {
            (&mut self.b, self.scratch.as_mut())
        };
        let len =
            record::encode(scratch, seal, kind, hash, key, value, w).ok_or(Error::LogicBug)?;
        if j.append + len > j.size() {
            return Err(Error::LogicBug);
        }
        let off = match j.append(&scratch[..len as usize]) {
            Ok(off) => off,
            // The program failed: the log is sealed; switch away from it.
            Err(Error::Region(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if j.region.persists_in_order() {
            // Read back what was programmed: on NOR flash, a unit torn by an
            // earlier power cut can read as erased, and programming over it
            // garbles the record. Never acknowledge such a write; seal the
            // log and let the caller fold the write into a switch.
            let (rec, back) = scratch.split_at_mut(scratch.len() / 2);
            let back = back.get_mut(..len as usize).ok_or(Error::LogicBug)?;
            j.read(off, back)?;
            if *back != rec[..len as usize] {
                j.sealed = true;
                return Ok(None);
            }
        }
        Ok(Some(off))
    }

    /// Points the index at the new record `off` of `key` and keeps the counts.
    fn index_put(&mut self, key: &[u8], hash: u32, kind: Kind, off: u32) -> Result<(), R::Error> {
        let w = self.active().geo.write_unit;
        let touches = self.damage.touches(short_hash(hash));
        let old = self.lookup(key, hash)?;
        let old_h = old.map(|(_, _, h)| h);
        // The effect of a record of this kind on the counters.
        let len_new = if kind == Kind::Delete && !touches {
            0
        } else {
            self.active_mut()
                .header_at(off, u32::MAX, u32::MAX)?
                .stored_len(w)
                .ok_or(Error::LogicBug)?
        };
        if let Some(h) = old_h {
            self.live_bytes -= h.stored_len(w).ok_or(Error::LogicBug)?;
            match h.kind {
                Kind::Set => self.live_keys -= 1,
                Kind::Damaged => self.damaged_keyed -= 1,
                _ => {}
            }
        }
        self.live_bytes += len_new;
        match kind {
            Kind::Set => self.live_keys += 1,
            Kind::Damaged => self.damaged_keyed += 1,
            _ => {}
        }
        match (old, len_new) {
            (Some((pos, _, _)), 0) => self.index.remove(pos),
            (Some((pos, _, _)), _) => self.index.set_offset(pos, off),
            (None, 0) => {}
            (None, _) => self.index.insert(hash, off).map_err(|_| Error::IndexFull)?,
        }
        Ok(())
    }

    // ----- the switch --------------------------------------------------------

    /// Compacts the live state into the other region, folding in `fold`, and
    /// makes it active (FORMAT.md §7). Any failure leaves the store poisoned
    /// until reopened; storage is always recoverable.
    fn switch(&mut self, fold: Fold<'_, '_>) -> Result<(), R::Error> {
        let r = self.switch_inner(fold);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn switch_inner(&mut self, fold: Fold<'_, '_>) -> Result<(), R::Error> {
        let w = self.active().geo.write_unit;
        let limits = self.limits();
        let old_seal = self.seal();
        let new_seal = Seal {
            store_id: self.store_id,
            generation: next_generation(self.generation).ok_or(Error::Corrupted)?,
        };
        let new_header = self.header_for(
            if self.using_a { &self.b } else { &self.a },
            new_seal.generation,
        );

        // Keys the folded write replaces leave the index before the copy.
        if let Fold::Ops(ops) = fold {
            for op in ops {
                let hash = key_hash(op.key());
                if let Some((pos, _, _)) = self.lookup(op.key(), hash)? {
                    self.index.remove(pos);
                }
            }
        }
        // A repair forgets all damage: keys are copied as they are, damaged
        // records are dropped.
        let repair = matches!(fold, Fold::Repair);
        let old_damage = if repair {
            DamageList::default()
        } else {
            self.damage.clone()
        };
        if let Fold::Clear = fold {
            self.index.clear();
        }

        let (src, dst) = if self.using_a {
            (&mut self.a, &mut self.b)
        } else {
            (&mut self.b, &mut self.a)
        };
        let scratch = self.scratch.as_mut();
        // 1. "switching" in the active region, synced.
        if !src.read_marker(Marker::Switching, old_seal)?.is_set() {
            src.program_marker(Marker::Switching, old_seal, 0)?;
        }
        src.sync()?;
        // 2. erase what the target needs.
        dst.erase_for_format()?;
        // 3. header with generation + 1.
        let mut block = [0xFFu8; 64];
        block[..crate::format::HEADER_LEN].copy_from_slice(&new_header.encode());
        dst.region
            .program(0, &block[..dst.layout.header_block as usize])
            .map_err(Error::Region)?;
        dst.append = dst.data_start();
        dst.sealed = false;

        // 4. records: keyless damage records, live records, the folded write.
        let mut new_damage = DamageList::default();
        let (mut live, mut keys, mut damaged_keyed) = (0u32, 0usize, 0usize);
        if !matches!(fold, Fold::Clear) {
            for d in old_damage.entries() {
                let (hash, value): (u8, &[u8]) = match d.scope {
                    Scope::Hash(h) => (h, &[]),
                    Scope::Any => (0, &[1]),
                };
                let len = record::encode(scratch, new_seal, Kind::Damaged, hash, &[], value, w)
                    .ok_or(Error::LogicBug)?;
                let off = dst.append(&scratch[..len as usize])?;
                new_damage.add(Damage {
                    scope: d.scope,
                    offset: off,
                });
                live += len;
            }
        }
        let mut stale = 0usize;
        // Visit the index positions in a scrambled order (multiplying by an
        // odd constant permutes 0..2^k): the records are copied in that order
        // and a later replay inserts them in it. In position order, they
        // would reach a still-small index sorted by home position and pile
        // into one long cluster (a quadratic replay).
        let positions = self.index.positions();
        for i in 0..positions {
            let pos = if positions.is_power_of_two() {
                i.wrapping_mul(0x9E37_79B1) & (positions - 1)
            } else {
                i
            };
            let Some((hash, off)) = self.index.entry(pos) else {
                continue;
            };
            let short = short_hash(hash);
            let h = src.header_at(off, limits.max_key, limits.max_value)?;
            let len = h.stored_len(w).ok_or(Error::LogicBug)? as usize;
            let (rec, spare) = scratch.split_at_mut(scratch.len() / 2);
            let rec = rec.get_mut(..len).ok_or(Error::LogicBug)?;
            src.read(off, rec)?;
            let intact = record::verify(rec, &h, old_seal);
            let out: &[u8] = if repair && (!intact || h.kind == Kind::Damaged) {
                self.index.set_offset(pos, STALE);
                stale += 1;
                continue;
            } else if !intact {
                // The key itself cannot be trusted: a keyless damage record.
                stale += 1;
                let n = record::encode(spare, new_seal, Kind::Damaged, short, &[], &[], w)
                    .ok_or(Error::LogicBug)?;
                &spare[..n as usize]
            } else if h.kind == Kind::Set && old_damage.covers(short, Some(off)) {
                let key = &rec[h.header_len() as usize..(h.header_len() + h.key_len) as usize];
                let n = record::encode(spare, new_seal, Kind::Damaged, short, key, &[], w)
                    .ok_or(Error::LogicBug)?;
                &spare[..n as usize]
            } else if h.kind == Kind::Delete && !old_damage.touches(short) {
                // A tombstone nothing needs any more.
                self.index.set_offset(pos, STALE);
                stale += 1;
                continue;
            } else {
                record::reseal(rec, &h, new_seal);
                rec
            };
            if dst.append + out.len() as u32 > dst.size() {
                return Err(Error::LogicBug);
            }
            let new_off = dst.append(out)?;
            live += out.len() as u32;
            match record::decode_header(out, u32::MAX, u32::MAX) {
                Slot::Header(nh) if nh.key_len == 0 => {
                    new_damage.add(Damage {
                        scope: Scope::Hash(short),
                        offset: new_off,
                    });
                }
                Slot::Header(nh) if nh.kind == Kind::Set => keys += 1,
                Slot::Header(nh) if nh.kind == Kind::Damaged => damaged_keyed += 1,
                _ => {}
            }
            self.index.set_offset(pos, new_off);
        }
        let fold_start = dst.append;
        match fold {
            Fold::Repair => {}
            Fold::Clear => {
                let len = record::encode(scratch, new_seal, Kind::Clear, 0, &[], &[], w)
                    .ok_or(Error::LogicBug)?;
                dst.append(&scratch[..len as usize])?;
            }
            Fold::Ops(ops) => {
                let batch_keys = BatchKeys::new(ops);
                for (i, op) in ops.iter().enumerate() {
                    let hash = key_hash(op.key());
                    if batch_keys.repeated(ops, i, hash, true) {
                        continue;
                    }
                    let (kind, value) = match *op {
                        Op::Set(_, v) => (Kind::Set, v),
                        Op::Delete(_) if new_damage.touches(short_hash(hash)) => {
                            (Kind::Delete, &[][..])
                        }
                        Op::Delete(_) => continue,
                    };
                    let len = record::encode(
                        scratch,
                        new_seal,
                        kind,
                        short_hash(hash),
                        op.key(),
                        value,
                        w,
                    )
                    .ok_or(Error::LogicBug)?;
                    if dst.append + len > dst.size() {
                        return Err(Error::LogicBug);
                    }
                    dst.append(&scratch[..len as usize])?;
                }
            }
        }
        let data_end = dst.append;
        // 5..7: sync, commit, sync.
        dst.sync()?;
        dst.program_marker(Marker::Commit, new_seal, data_end)?;
        dst.sync()?;
        // 8: "superseded" in the old region.
        src.program_marker(Marker::Superseded, old_seal, 0)?;
        src.sync()?;

        // 9: the new region is active.
        dst.class = RegionClass::Formatted {
            header: new_header,
            switching: MarkerState::Erased,
            commit: MarkerState::Valid(data_end),
            superseded: MarkerState::Erased,
        };
        dst.last_sync = data_end;
        // A sealed log may hold torn bytes past its end (a dirty tail or a
        // failed program): erase all of it next time.
        src.erase_need = if src.sealed || !src.erased_past_use {
            EraseNeed::All
        } else {
            EraseNeed::UpTo(src.append)
        };
        src.sealed = true;
        self.using_a = !self.using_a;
        self.generation = new_seal.generation;
        self.switches += 1;
        self.damage = new_damage;
        self.live_bytes = live;
        self.live_keys = keys;
        self.damaged_keyed = damaged_keyed;
        if stale > 0 {
            self.drop_stale_entries(limits)?;
        }
        // The folded write's records, now in the active region.
        if let Fold::Ops(ops) = fold {
            let mut off = fold_start;
            let batch_keys = BatchKeys::new(ops);
            for (i, op) in ops.iter().enumerate() {
                let hash = key_hash(op.key());
                if batch_keys.repeated(ops, i, hash, true) {
                    continue;
                }
                let kind = match op {
                    Op::Set(..) => Kind::Set,
                    Op::Delete(_) if self.damage.touches(short_hash(hash)) => Kind::Delete,
                    Op::Delete(_) => continue,
                };
                self.index_put(op.key(), hash, kind, off)?;
                let h = self
                    .active_mut()
                    .header_at(off, limits.max_key, limits.max_value)?;
                off += h.stored_len(w).ok_or(Error::LogicBug)?;
            }
        }
        Ok(())
    }

    /// Removes the index entries a switch did not copy (marked [`STALE`]) and
    /// those it copied as keyless damage records.
    fn drop_stale_entries(&mut self, limits: Limits) -> Result<(), R::Error> {
        let mut pos = 0;
        while pos < self.index.positions() {
            let Some((_, off)) = self.index.entry(pos) else {
                pos += 1;
                continue;
            };
            // Marked by the copy, or copied as a keyless damage record.
            let stale = off == STALE
                || self
                    .active_mut()
                    .header_at(off, limits.max_key, limits.max_value)?
                    .key_len
                    == 0;
            if stale {
                // Backward shift may move another entry into `pos`: look again.
                self.index.remove(pos);
            } else {
                pos += 1;
            }
        }
        Ok(())
    }
}

impl<R: MappedRegion, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// The value of `key`, borrowed from the mapped region (no copy). The
    /// record's check is verified on every call.
    pub fn get_ref(&self, key: &[u8]) -> Result<Option<&[u8]>, R::Error> {
        self.usable()?;
        self.check_key(key)?;
        let hash = key_hash(key);
        let short = short_hash(hash);
        let limits = self.limits();
        let bytes = self.active().region.as_bytes();
        let seal = self.seal();
        // As in `lookup_strict`: a same-hash entry that fails its check may
        // be this key with damaged key bytes.
        let mut suspect = false;
        let found = self.index.find::<()>(hash, |off| {
            Ok(match mapped_header(bytes, off, limits) {
                Some(h) => {
                    let k = off as usize + h.header_len() as usize;
                    let eq = bytes.get(k..k + h.key_len as usize) == Some(key);
                    if !eq && !record::verify(&bytes[off as usize..], &h, seal) {
                        suspect = true;
                    }
                    eq
                }
                None => {
                    suspect = true;
                    false
                }
            })
        });
        let Ok(Some(pos)) = found else {
            return if suspect || self.damage.covers(short, None) {
                Err(Error::Corrupted)
            } else {
                Ok(None)
            };
        };
        let off = self.index.entry(pos).ok_or(Error::LogicBug)?.1;
        if self.damage.covers(short, Some(off)) {
            return Err(Error::Corrupted);
        }
        let h = mapped_header(bytes, off, limits).ok_or(Error::Corrupted)?;
        match h.kind {
            Kind::Delete => Ok(None),
            Kind::Set => {
                let rec = &bytes[off as usize..];
                if !record::verify(rec, &h, self.seal()) {
                    return Err(Error::Corrupted);
                }
                let v = (h.header_len() + h.key_len) as usize;
                Ok(Some(&rec[v..v + h.value_len as usize]))
            }
            _ => Err(Error::Corrupted),
        }
    }

    /// Iterates over `(key, value)` of every key with a value, borrowed from
    /// the mapped region, each record's check verified. A damaged key yields
    /// `Err(Corrupted)` in its place, and each damage entry whose key is not
    /// known yields one `Err(Corrupted)` at the end.
    pub fn iter_ref(&self) -> impl Iterator<Item = Result<(&[u8], &[u8]), R::Error>> + '_ {
        let limits = self.limits();
        let bytes = self.active().region.as_bytes();
        let seal = self.seal();
        let entries = (0..self.index.positions()).filter_map(move |pos| {
            let (hash, off) = self.index.entry(pos)?;
            let Some(h) = mapped_header(bytes, off, limits) else {
                return Some(Err(Error::Corrupted));
            };
            match h.kind {
                Kind::Set => {}
                Kind::Delete => return None,
                // A keyed damaged record: the key exists but its value is lost.
                _ => return Some(Err(Error::Corrupted)),
            }
            let rec = &bytes[off as usize..];
            if !record::verify(rec, &h, seal) || self.damage.covers(short_hash(hash), Some(off)) {
                return Some(Err(Error::Corrupted));
            }
            let (k, v) = (
                h.header_len() as usize,
                (h.header_len() + h.key_len) as usize,
            );
            Some(Ok((&rec[k..v], &rec[v..v + h.value_len as usize])))
        });
        // Keys known only by a damage entry: one error each, at the end.
        entries.chain(self.damage.entries().iter().map(|_| Err(Error::Corrupted)))
    }
}

fn mapped_header(bytes: &[u8], off: u32, limits: Limits) -> Option<RecordHeader> {
    let start = off as usize;
    let end = core::cmp::min(start + 16, bytes.len());
    match record::decode_header(bytes.get(start..end)?, limits.max_key, limits.max_value) {
        Slot::Header(h) if start + h.unaligned_len() as usize <= bytes.len() => Some(h),
        _ => None,
    }
}

/// Which keys of a batch may occur more than once, without allocating: a
/// 1024-bit filter of key hashes seen twice. A key whose bit is clear occurs
/// once, so the exact (quadratic) search for its other occurrences is only
/// needed for the few whose bit is set.
struct BatchKeys {
    twice: [u64; 16],
}

impl BatchKeys {
    fn new(ops: &[Op<'_>]) -> Self {
        let mut once = [0u64; 16];
        let mut twice = [0u64; 16];
        for op in ops {
            let (word, bit) = Self::slot(key_hash(op.key()));
            twice[word] |= once[word] & bit;
            once[word] |= bit;
        }
        BatchKeys { twice }
    }
    fn slot(hash: u32) -> (usize, u64) {
        let b = (hash >> 8) as usize & 1023;
        (b / 64, 1u64 << (b % 64))
    }
    /// Whether another op of `ops` has the key of `ops[i]` (whose hash is
    /// `hash`): among the ops after `i` if `later`, else among those before.
    fn repeated(&self, ops: &[Op<'_>], i: usize, hash: u32, later: bool) -> bool {
        let (word, bit) = Self::slot(hash);
        if self.twice[word] & bit == 0 {
            return false;
        }
        let key = ops[i].key();
        if later {
            ops[i + 1..].iter().any(|o| o.key() == key)
        } else {
            ops[..i].iter().any(|o| o.key() == key)
        }
    }
}

/// The generation after `g`, if it is one a header can carry (FORMAT.md §2).
/// Whether `j`, whose header does not decode, is the superseded predecessor
/// of the region sealed `seal`: its "superseded" or "switching" marker is
/// valid for the previous generation of the same store id.
fn older_of<R: Region>(j: &mut Journal<R>, seal: Seal) -> Result<bool, R::Error> {
    let Some(g) = seal.generation.checked_sub(1).filter(|&g| g >= 1) else {
        return Ok(false);
    };
    let prev = Seal {
        generation: g,
        ..seal
    };
    Ok(j.read_marker(Marker::Superseded, prev)?.is_valid()
        || j.read_marker(Marker::Switching, prev)?.is_valid())
}

fn next_generation(g: u64) -> Option<u64> {
    g.checked_add(1).filter(|&n| n < u64::MAX)
}

/// The offset a switch gives an index entry it did not copy, until
/// `drop_stale_entries` removes it (no record can start there).
const STALE: u32 = u32::MAX - 1;

/// The write folded into a switch.
#[derive(Clone, Copy)]
enum Fold<'o, 'k> {
    /// `repair()`: drop damaged records and damage entries.
    Repair,
    /// Operations (empty for a plain compaction).
    Ops(&'o [Op<'k>]),
    /// `clear()`.
    Clear,
}

fn set_len<E>(key: &[u8], value: &[u8], w: u32) -> Result<u32, E> {
    let k = u32::try_from(key.len()).map_err(|_| Error::KeyTooLarge)?;
    let v = u32::try_from(value.len()).map_err(|_| Error::ValueTooLarge)?;
    record::stored_len(k, v, w).ok_or(Error::ValueTooLarge)
}

fn damage_record_len(scope: Scope, w: u32) -> u32 {
    let v = if matches!(scope, Scope::Any) { 1 } else { 0 };
    record::stored_len(0, v, w).unwrap_or(0)
}

/// The effect of `op` on a key whose newest record has header `old`.
fn effect<E>(old: Option<RecordHeader>, op: &Op<'_>, touches: bool, w: u32) -> Result<Effect, E> {
    let (old_len, old_key, old_entry) = match old {
        Some(h) => (
            h.stored_len(w).ok_or(Error::LogicBug)?,
            i64::from(h.kind == Kind::Set),
            1i64,
        ),
        None => (0, 0, 0),
    };
    let (new_len, new_key, new_entry) = match *op {
        Op::Set(k, v) => (set_len(k, v, w)?, 1i64, 1i64),
        Op::Delete(k) if touches => (set_len(k, &[], w)?, 0, 1),
        Op::Delete(_) => (0, 0, 0),
    };
    Ok(Effect {
        live: i64::from(new_len) - i64::from(old_len),
        keys: new_key - old_key,
        entries: new_entry - old_entry,
    })
}

/// Feeds a replay into the index and damage list, counting as it goes.
struct IndexSink<'a, I: Index> {
    index: &'a mut I,
    damage: &'a mut DamageList,
    limits: Limits,
    write_unit: u32,
    /// Stored bytes of the records the index points at.
    indexed_bytes: u64,
    keys: usize,
    damaged_keyed: usize,
}

impl<I: Index> IndexSink<'_, I> {
    fn count(&mut self, h: &RecordHeader, sign: i64) {
        let len = i64::from(h.stored_len(self.write_unit).unwrap_or(0));
        self.indexed_bytes = (self.indexed_bytes as i64 + sign * len) as u64;
        match h.kind {
            Kind::Set => self.keys = (self.keys as i64 + sign) as usize,
            Kind::Damaged => self.damaged_keyed = (self.damaged_keyed as i64 + sign) as usize,
            _ => {}
        }
    }
    fn forget(&mut self) {
        self.index.clear();
        self.damage.clear();
        self.indexed_bytes = 0;
        self.keys = 0;
        self.damaged_keyed = 0;
    }
}

impl<R: Region, I: Index> Sink<R> for IndexSink<'_, I> {
    fn record(
        &mut self,
        j: &mut Journal<R>,
        off: u32,
        h: &RecordHeader,
        key_hash: u32,
    ) -> Result<(), R::Error> {
        let limits = self.limits;
        let mut old = None;
        let pos = self.index.find(key_hash, |o| {
            let oh = j.header_at(o, limits.max_key, limits.max_value)?;
            let eq = j.keys_eq(o, &oh, off, h)?;
            if eq {
                old = Some(oh);
            }
            Ok::<bool, Error<R::Error>>(eq)
        })?;
        let keep = h.kind != Kind::Delete || self.damage.touches(h.hash);
        if let Some(oh) = old {
            self.count(&oh, -1);
        }
        if keep {
            self.count(h, 1);
        }
        match (pos, keep) {
            (Some(p), true) => self.index.set_offset(p, off),
            (Some(p), false) => self.index.remove(p),
            (None, true) => self
                .index
                .insert(key_hash, off)
                .map_err(|_| Error::IndexFull)?,
            (None, false) => {}
        }
        Ok(())
    }
    fn damage(&mut self, d: Damage) {
        self.damage.add(d);
    }
    fn clear(&mut self) {
        self.forget();
    }
    fn reset(&mut self) {
        self.forget();
    }
}
