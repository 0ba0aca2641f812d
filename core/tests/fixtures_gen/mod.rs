//! The deterministic builder of the format fixtures in `core/tests/fixtures/`
//! (FORMAT.md §9), and the manifest that describes them.
//!
//! Every fixture is built by running the store on [`RamRegion`]s (in order
//! for RAM and flash geometries, not in order for the memory-mapped file
//! geometry) through a fixed script. A small model tracks what the script
//! acknowledged and which keys the injected damage covers; the builder checks
//! the model against the store before it accepts an image, so the manifest's
//! expectations come from the script, not from whatever the reader happens to
//! answer. Stats and the per-region census are recorded as observed (and the
//! script asserts the facts each fixture exists for: generation, dirty tail,
//! damage, unfinished switch, record kinds).
//!
//! Nothing here reads a clock or a random source: the same code produces the
//! same bytes. `tests/fixtures.rs` regenerates every image in memory and
//! compares it with the committed files.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use twinkv_core::format::marker::{Marker, MarkerState};
use twinkv_core::format::record::{self, Kind, Slot};
use twinkv_core::format::{key_hash, short_hash, Layout, RegionHeader, Seal, HEADER_LEN};
use twinkv_core::{
    Config, Error, FixedIndex, Geometry, Op, RamError, RamRegion, Region, RegionId, Stats, Store,
    TearMode,
};

/// The format version the current writer produces; fixture files are named
/// `v<version>-<name>.a` / `.b` and listed in `v<version>.manifest`.
pub const VERSION: u16 = twinkv_core::format::FORMAT_VERSION;

/// Format versions that were released: their fixtures are frozen and the
/// generator refuses to overwrite them with different bytes (FORMAT.md §9).
/// Add a version here when a release ships it.
pub const RELEASED_VERSIONS: &[u16] = &[];

pub type Ram = RamRegion<Vec<u8>>;
pub type RamStore<'r> = Store<&'r mut Ram, FixedIndex<64>, Vec<u8>>;

/// What the regions stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    /// RAM regions (persist in order).
    Ram,
    /// A memory-mapped file pair (W = 4, 512 B erase units, not in order).
    File,
    /// NOR-flash-like geometry (persists in order).
    Flash,
}

impl Medium {
    pub fn name(self) -> &'static str {
        match self {
            Medium::Ram => "ram",
            Medium::File => "file",
            Medium::Flash => "flash",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ram" => Medium::Ram,
            "file" => Medium::File,
            "flash" => Medium::Flash,
            _ => return None,
        })
    }
    pub fn in_order(self) -> bool {
        self != Medium::File
    }
}

/// What a key answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Value(Vec<u8>),
    Absent,
    Corrupted,
}

/// The subset of [`Stats`] a fixture pins down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub generation: u64,
    pub active: RegionId,
    pub dirty_tail: bool,
    pub unfinished_switch: bool,
    pub damage_found_at_open: u32,
    pub live_keys: usize,
    pub damaged_keys: usize,
    pub used_bytes: u32,
    pub live_bytes: u32,
}

impl Pinned {
    pub fn of(s: &Stats) -> Self {
        Pinned {
            generation: s.generation,
            active: s.active,
            dirty_tail: s.dirty_tail,
            unfinished_switch: s.unfinished_switch,
            damage_found_at_open: s.damage_found_at_open,
            live_keys: s.live_keys,
            damaged_keys: s.damaged_keys,
            used_bytes: s.used_bytes,
            live_bytes: s.live_bytes,
        }
    }
}

/// One fixture: its description, both images and what they must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fixture {
    pub version: u16,
    pub name: String,
    pub about: String,
    pub medium: Medium,
    pub geometry: Geometry,
    pub config: Config,
    pub stats: Pinned,
    /// Census of region A and region B ([`census`]).
    pub regions: [String; 2],
    /// Every key the script touched or probed, with its answer.
    pub keys: BTreeMap<Vec<u8>, Answer>,
    pub a: Vec<u8>,
    pub b: Vec<u8>,
}

impl Fixture {
    /// `v1-ram-fresh`.
    pub fn file_stem(&self) -> String {
        format!("v{}-{}", self.version, self.name)
    }
    pub fn in_order(&self) -> bool {
        self.medium.in_order()
    }
}

// ----- opening ---------------------------------------------------------------

pub fn scratch(config: &Config, w: u32) -> Vec<u8> {
    vec![0u8; RamStore::scratch_len(config, w)]
}

pub fn open<'r>(a: &'r mut Ram, b: &'r mut Ram, config: Config) -> RamStore<'r> {
    let w = a.geometry().write_unit;
    Store::open(a, b, FixedIndex::new(), scratch(&config, w), config).expect("open")
}

pub fn open_read_only<'r>(a: &'r mut Ram, b: &'r mut Ram, config: Config) -> RamStore<'r> {
    let w = a.geometry().write_unit;
    Store::open_read_only(a, b, FixedIndex::new(), scratch(&config, w), config)
        .expect("open read-only")
}

/// A region holding `bytes` (program counters "unknown").
pub fn region_with(bytes: &[u8], geometry: Geometry, in_order: bool) -> Ram {
    let mut storage = vec![0u8; Ram::storage_len_for(&geometry)];
    storage[..bytes.len()].copy_from_slice(bytes);
    let mut r = Ram::with_contents(storage, geometry).expect("region");
    r.set_in_order(in_order);
    r
}

pub fn data(r: &Ram) -> Vec<u8> {
    use twinkv_core::MappedRegion;
    r.as_bytes().to_vec()
}

// ----- the builder -----------------------------------------------------------

/// How the next write is damaged once the script is done.
#[derive(Clone, Copy, Debug)]
enum Flip {
    /// A bit of the first value byte: the header stays valid, the record
    /// check fails (a damaged record, keyed by its key hash).
    Value,
    /// A bit of the first header byte: the header check fails (a gap, which
    /// counts as "every key" up to its end).
    Header,
}

struct Builder {
    name: &'static str,
    about: &'static str,
    medium: Medium,
    geometry: Geometry,
    config: Config,
    a: Ram,
    b: Ram,
    /// The acknowledged state.
    model: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Step of each key's newest record in the active lineage (cleared by
    /// `clear`: those keys then have no record).
    last: BTreeMap<Vec<u8>, usize>,
    step: usize,
    /// Damage entries: (step of the damaged write, key hash or every key).
    damage: Vec<(usize, Option<u8>)>,
    /// Every key written or probed.
    universe: BTreeSet<Vec<u8>>,
    /// Flips applied at the end: (region, offset, bit).
    flips: Vec<(RegionId, u32, u8)>,
    pending_flip: Option<Flip>,
    erase_superseded: bool,
}

fn region_of<'a>(a: &'a mut Ram, b: &'a mut Ram, id: RegionId) -> &'a mut Ram {
    match id {
        RegionId::A => a,
        RegionId::B => b,
    }
}

impl Builder {
    fn new(
        name: &'static str,
        about: &'static str,
        medium: Medium,
        (w, e, size): (u32, u32, u32),
        config: Config,
    ) -> Self {
        let geometry = Geometry {
            size,
            read_unit: 1,
            write_unit: w,
            erase_unit: e,
        };
        let mk = || {
            let mut r = Ram::new(vec![0u8; Ram::storage_len_for(&geometry)], geometry)
                .expect("region geometry");
            r.set_in_order(medium.in_order());
            r
        };
        assert!(
            config.fits(geometry, geometry),
            "{name}: config does not fit"
        );
        // The images were made with switches that copy in one call; the
        // schedule of an incremental switch (FORMAT.md §7.4) writes the
        // same bytes in another order of operations.
        let config = config.with_incremental_switch(false);
        Builder {
            name,
            about,
            medium,
            geometry,
            config,
            a: mk(),
            b: mk(),
            model: BTreeMap::new(),
            last: BTreeMap::new(),
            step: 0,
            damage: Vec::new(),
            universe: BTreeSet::new(),
            flips: Vec::new(),
            pending_flip: None,
            erase_superseded: false,
        }
    }

    fn store(&mut self) -> RamStore<'_> {
        open(&mut self.a, &mut self.b, self.config)
    }

    /// Records the pending flip for a write of `key`/`value` about to be
    /// appended, given the active region and the append offset before it.
    fn before_write(&mut self) -> Option<(RegionId, u32, u64)> {
        let s = self.store();
        let st = s.stats();
        let d = Layout::new(self.geometry.write_unit).data_start();
        Some((st.active, d + st.used_bytes, st.generation))
    }

    fn touch(&mut self, key: &[u8]) {
        self.step += 1;
        self.last.insert(key.to_vec(), self.step);
        self.universe.insert(key.to_vec());
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        let before = self.pending_flip.map(|_| self.before_write().unwrap());
        self.store().set(key, value).expect("set");
        self.model.insert(key.to_vec(), value.to_vec());
        self.touch(key);
        if let (Some(flip), Some((region, at, generation))) = (self.pending_flip.take(), before) {
            let after = self.store().stats();
            assert_eq!(
                (after.active, after.generation),
                (region, generation),
                "{}: the damaged write must be appended, not folded into a switch",
                self.name
            );
            let (offset, hash) = match flip {
                Flip::Value => (
                    at + record::header_len(key.len() as u32, value.len() as u32)
                        + key.len() as u32,
                    Some(short_hash(key_hash(key))),
                ),
                Flip::Header => (at, None),
            };
            self.flips.push((region, offset, 0));
            self.damage.push((self.step, hash));
        }
        self
    }

    fn remove(&mut self, key: &[u8]) -> &mut Self {
        self.store().remove(key).expect("delete");
        self.model.remove(key);
        self.touch(key);
        self
    }

    fn apply(&mut self, ops: &[Op<'_>]) -> &mut Self {
        self.store().apply(ops).expect("apply");
        for op in ops {
            match *op {
                Op::Set(k, v) => {
                    self.model.insert(k.to_vec(), v.to_vec());
                }
                Op::Delete(k) => {
                    self.model.remove(k);
                }
            }
        }
        for op in ops {
            self.touch(op.key());
        }
        self
    }

    fn clear(&mut self) -> &mut Self {
        self.store().clear().expect("clear");
        self.model.clear();
        self.last.clear();
        self.step += 1;
        self
    }

    fn sync(&mut self) -> &mut Self {
        self.store().sync().expect("sync");
        self
    }

    fn compact(&mut self) -> &mut Self {
        self.store().compact().expect("compact");
        self
    }

    /// Keys that were never written, to check they read as absent.
    fn probe(&mut self, keys: &[&[u8]]) -> &mut Self {
        for k in keys {
            self.universe.insert(k.to_vec());
        }
        self
    }

    /// The next `set` is damaged (one bit flipped) after the script ends.
    fn damage_next(&mut self, flip: Flip) -> &mut Self {
        self.pending_flip = Some(flip);
        self
    }

    /// A set cut by a power loss after `units` write units of its program:
    /// the record is torn, the write is not acknowledged.
    fn torn_set(
        &mut self,
        key: &[u8],
        value: &[u8],
        units: u64,
        mode: TearMode,
        seed: u64,
    ) -> &mut Self {
        let active = self.store().stats().active;
        region_of(&mut self.a, &mut self.b, active).cut_power_after(units, mode, seed);
        let r = self.store().set(key, value);
        assert_eq!(
            r,
            Err(Error::Region(RamError::PowerLost)),
            "{}: torn set",
            self.name
        );
        for r in [&mut self.a, &mut self.b] {
            r.cancel_cut();
            r.restore_power();
        }
        self.universe.insert(key.to_vec());
        self
    }

    /// After the script, erase the old region's "superseded" slot: the state
    /// a cut between steps 7 and 8 of the last switch leaves (FORMAT.md §7.2).
    fn cut_before_superseded(&mut self) -> &mut Self {
        self.erase_superseded = true;
        self
    }

    fn answer(&self, key: &[u8]) -> Answer {
        let h = short_hash(key_hash(key));
        let last = self.last.get(key);
        for &(step, hash) in &self.damage {
            if hash.is_none_or(|x| x == h) && last.is_none_or(|&l| l <= step) {
                return Answer::Corrupted;
            }
        }
        match self.model.get(key) {
            Some(v) => Answer::Value(v.clone()),
            None => Answer::Absent,
        }
    }

    fn finish(mut self, check: impl FnOnce(&Pinned, &[String; 2])) -> Fixture {
        let name = self.name;
        assert!(self.pending_flip.is_none(), "{name}: flip without a write");
        for &(region, offset, bit) in &self.flips {
            region_of(&mut self.a, &mut self.b, region)
                .flip_bit(offset, bit)
                .expect("flip");
        }
        if self.erase_superseded {
            let (generation, active) = {
                let st = self.store().stats();
                (st.generation, st.active)
            };
            assert!(generation >= 2, "{name}: no switch to cut");
            let old = match active {
                RegionId::A => RegionId::B,
                RegionId::B => RegionId::A,
            };
            let layout = Layout::new(self.geometry.write_unit);
            let at = layout.superseded() as usize;
            let slot = &mut region_of(&mut self.a, &mut self.b, old).data_mut()
                [at..at + layout.marker_slot as usize];
            assert!(slot.iter().any(|&x| x != 0xFF), "{name}: no superseded");
            slot.fill(0xFF);
        }
        let (a, b) = (data(&self.a), data(&self.b));
        let keys: BTreeMap<Vec<u8>, Answer> = self
            .universe
            .iter()
            .map(|k| (k.clone(), self.answer(k)))
            .collect();
        let (w, config) = (self.geometry.write_unit, self.config);
        let regions = [census(&a, w, &config), census(&b, w, &config)];
        // The model and the reader must agree before the images are accepted.
        let mut ra = region_with(&a, self.geometry, self.medium.in_order());
        let mut rb = region_with(&b, self.geometry, self.medium.in_order());
        let mut store = open_read_only(&mut ra, &mut rb, config);
        let mut buf = vec![0u8; config.max_value_len as usize];
        for (k, want) in &keys {
            let got = match store.get(k, &mut buf) {
                Ok(Some(n)) => Answer::Value(buf[..n].to_vec()),
                Ok(None) => Answer::Absent,
                Err(Error::Corrupted) => Answer::Corrupted,
                Err(e) => panic!("{name}: get {k:?}: {e:?}"),
            };
            assert_eq!(&got, want, "{name}: key {:?}", String::from_utf8_lossy(k));
        }
        let stats = Pinned::of(&store.stats());
        drop(store);
        check(&stats, &regions);
        Fixture {
            version: VERSION,
            name: name.to_string(),
            about: self.about.to_string(),
            medium: self.medium,
            geometry: self.geometry,
            config,
            stats,
            regions,
            keys,
            a,
            b,
        }
    }
}

// ----- census ----------------------------------------------------------------

fn marker_state(m: MarkerState) -> String {
    match m {
        MarkerState::Erased => "erased".into(),
        MarkerState::Torn => "torn".into(),
        MarkerState::Valid(0) => "valid".into(),
        MarkerState::Valid(x) => format!("valid({x})"),
    }
}

/// A one-line description of a region image, read with the format module
/// alone (no store): header generation, the three markers, and the records
/// walked from the data start until a slot that is erased, not a valid
/// header, or past the end. `failing` counts records whose check fails.
pub fn census(bytes: &[u8], w: u32, config: &Config) -> String {
    let header: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
    let h = match RegionHeader::decode(header) {
        Ok(h) => h,
        Err(_) if bytes.iter().all(|&x| x == 0xFF) => return "empty".into(),
        Err(e) => return format!("no valid header ({e:?})"),
    };
    let seal = Seal {
        store_id: h.store_id,
        generation: h.generation,
    };
    let layout = Layout::new(w);
    let slot = |m: Marker| {
        let at = layout.slot(m) as usize;
        m.read(seal, &bytes[at..at + layout.marker_slot as usize])
    };
    let mut out = format!(
        "generation {} switching={} commit={} superseded={};",
        h.generation,
        marker_state(slot(Marker::Switching)),
        marker_state(slot(Marker::Commit)),
        marker_state(slot(Marker::Superseded)),
    );
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut off = layout.data_start() as usize;
    let stop = loop {
        if off >= bytes.len() {
            break "region end";
        }
        let head = &bytes[off..bytes.len().min(off + 16)];
        let h = match record::decode_header(head, config.max_key_len.into(), config.max_value_len) {
            Slot::Erased => break "erased",
            Slot::Invalid => break "invalid header",
            Slot::Header(h) => h,
        };
        let len = h.stored_len(w).unwrap() as usize;
        if off + len > bytes.len() {
            break "record past the end";
        }
        let kind = match h.kind {
            Kind::Set => "set",
            Kind::Delete => "delete",
            Kind::BatchBegin => "batch_begin",
            Kind::BatchCommit => "batch_commit",
            Kind::Clear => "clear",
            Kind::SyncMarker => "sync",
            Kind::Erased => "erased",
            Kind::Damaged => "damaged",
            Kind::Reserved(_) => "reserved",
        };
        *counts.entry(kind).or_default() += 1;
        if h.long {
            *counts.entry("long").or_default() += 1;
        }
        if !record::verify(&bytes[off..], &h, seal) {
            *counts.entry("failing").or_default() += 1;
        }
        off += len;
    };
    out.push_str(" records");
    if counts.is_empty() {
        out.push_str(" none");
    }
    for (k, n) in counts {
        let _ = write!(out, " {k}={n}");
    }
    let _ = write!(out, "; walk stops at {off} ({stop})");
    out
}

// ----- the fixtures ----------------------------------------------------------

const RAM_256: (u32, u32, u32) = (4, 256, 1024);
const RAM_512: (u32, u32, u32) = (4, 512, 1024);
const FILE: (u32, u32, u32) = (4, 512, 1024);
const FILE_2K: (u32, u32, u32) = (4, 512, 2048);
const FLASH_W1: (u32, u32, u32) = (1, 256, 1024);
const FLASH_W16: (u32, u32, u32) = (16, 512, 1024);
const FLASH_W32: (u32, u32, u32) = (32, 1024, 2048);

fn id(n: u64) -> u64 {
    0x7477_4B56_F1C5_0000 + n
}

/// `n` bytes cycling through `seed..`.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
}

/// Every fixture of the current version, in manifest order.
pub fn build_all() -> Vec<Fixture> {
    let small = |n| Config::new(id(n)).with_limits(32, 64);
    let mut out = Vec::new();

    // A fresh store: generation 1 in A, B never written.
    let mut f = Builder::new(
        "ram-fresh",
        "fresh store with a few keys, a delete and a binary value",
        Medium::Ram,
        RAM_256,
        small(1),
    );
    f.set(b"volume", b"7")
        .set(b"name", b"kitchen")
        .set(b"temp", b"21.5")
        .set(b"empty", b"")
        .set(b"bin", &[0x00, 0xFF, 0x10, 0x80])
        .remove(b"name")
        .probe(&[b"missing"]);
    out.push(f.finish(|s, r| {
        assert_eq!((s.generation, s.active), (1, RegionId::A));
        assert_eq!(r[1], "empty");
    }));

    // Several switches: small high-water mark, overwrites and deletes.
    let mut f = Builder::new(
        "ram-switches",
        "switches driven by writes (high-water 50 %): overwrites, deletes, generation >= 4",
        Medium::Ram,
        RAM_512,
        small(2).with_ratios(5000, 9000),
    );
    for i in 0..90u32 {
        let key = format!("sensor-{}", i % 7);
        if i % 11 == 10 {
            f.remove(key.as_bytes());
        } else {
            let v = format!("reading {i} {}", "#".repeat((i % 13) as usize));
            f.set(key.as_bytes(), v.as_bytes());
        }
    }
    f.probe(&[b"sensor-7"]);
    out.push(f.finish(|s, _| assert!(s.generation >= 4, "{s:?}")));

    // An atomic batch in the active log.
    let mut f = Builder::new(
        "ram-batch",
        "atomic batch (apply: two sets and a delete) between plain writes",
        Medium::Ram,
        RAM_256,
        small(3),
    );
    f.set(b"mode", b"manual")
        .set(b"fan", b"1")
        .set(b"light", b"on")
        .apply(&[
            Op::Set(b"mode", b"eco"),
            Op::Set(b"fan", b"2"),
            Op::Delete(b"light"),
        ])
        .set(b"after", b"batch");
    out.push(f.finish(|s, r| {
        assert_eq!(s.generation, 1);
        assert!(r[0].contains("batch_begin=1 batch_commit=1"), "{}", r[0]);
    }));

    // clear() then writes.
    let mut f = Builder::new(
        "ram-clear",
        "clear() (a switch to a region starting with a clear record) followed by writes",
        Medium::Ram,
        RAM_512,
        small(4),
    );
    for k in [b"k1", b"k2", b"k3", b"k4"] {
        f.set(k, b"before");
    }
    f.clear().set(b"k5", b"after").set(b"k1", b"again");
    out.push(f.finish(|s, r| {
        assert_eq!((s.generation, s.active), (2, RegionId::B));
        assert!(r[1].contains("clear=1"), "{}", r[1]);
    }));

    // Long-form records (keys over 63 bytes).
    let mut f = Builder::new(
        "ram-long",
        "long-form records: keys of 64, 70 and 120 bytes next to a 63-byte short-form key",
        Medium::Ram,
        RAM_512,
        Config::new(id(5)).with_limits(128, 64),
    );
    f.set(&[b'k'; 70], &[0x00])
        .set(&[b's'; 63], b"short form")
        .set(&[b'l'; 64], b"long form")
        .set(&bytes(120, 0x20), &bytes(64, 0x80))
        .set(b"plain", b"value")
        .probe(&[&[b'k'; 71]]);
    out.push(f.finish(|_, r| assert!(r[0].contains("long=3"), "{}", r[0])));

    // A torn last record (power cut during its program).
    let mut f = Builder::new(
        "ram-dirty-tail",
        "dirty tail: power cut half-way through programming the last record (prefix tear)",
        Medium::Ram,
        RAM_256,
        small(6),
    );
    f.set(b"boot", b"1").set(b"mode", b"eco").torn_set(
        b"mode",
        b"performance",
        3,
        TearMode::Prefix,
        1,
    );
    out.push(f.finish(|s, r| {
        assert!(s.dirty_tail && s.damage_found_at_open == 0, "{s:?}");
        assert!(r[0].contains("invalid header") || r[0].contains("failing=1"));
    }));

    // Mid-log damage: a flipped value bit, intact records after it.
    let mut f = Builder::new(
        "ram-damage",
        "mid-log damage: one bit flipped in a set's value, intact records after it",
        Medium::Ram,
        RAM_256,
        small(7),
    );
    f.set(b"alpha", b"1")
        .set(b"beta", b"1")
        .set(b"gamma", b"1")
        .damage_next(Flip::Value)
        .set(b"beta", b"2")
        .set(b"delta", b"1")
        .set(b"alpha", b"2");
    out.push(f.finish(|s, r| {
        assert!(!s.dirty_tail && s.damage_found_at_open == 1, "{s:?}");
        assert!(r[0].contains("failing=1"), "{}", r[0]);
    }));

    // A switch cut after its commit, before "superseded".
    let mut f = Builder::new(
        "ram-unfinished-switch",
        "unfinished switch: new region committed, old region not superseded (cut between steps 7 and 8)",
        Medium::Ram,
        RAM_256,
        small(8),
    );
    f.set(b"a", b"1")
        .set(b"b", b"2")
        .compact()
        .set(b"a", b"3")
        .remove(b"b")
        .set(b"c", b"4")
        .compact()
        .cut_before_superseded();
    out.push(f.finish(|s, r| {
        assert_eq!((s.generation, s.active), (3, RegionId::A));
        assert!(s.unfinished_switch, "{s:?}");
        assert!(r[1].contains("switching=valid") && r[1].contains("superseded=erased"));
    }));

    // Memory-mapped file geometry: sync markers, a switch, a batch.
    let mut f = Builder::new(
        "file-sync",
        "file geometry (not in order): a switch, sync markers around a batch, an unsynced write",
        Medium::File,
        FILE_2K,
        Config::new(id(9)).with_limits(64, 256),
    );
    f.set(b"host", b"alpha")
        .set(b"port", b"8080")
        .compact()
        .set(b"port", b"8081")
        .sync()
        .apply(&[Op::Set(b"user", b"admin"), Op::Set(b"pass", &[0x5A; 40])])
        .sync()
        .set(b"unsynced", b"but intact");
    out.push(f.finish(|s, r| {
        assert_eq!(
            (s.generation, s.active, s.dirty_tail),
            (2, RegionId::B, false)
        );
        // Two sync() markers and the switch's covering marker (FORMAT.md §6.4).
        assert!(r[1].contains("sync=3") && r[1].contains("batch_begin=1"));
    }));

    // File: torn unsynced record.
    let mut f = Builder::new(
        "file-dirty-tail",
        "file geometry: dirty tail after the last sync marker (one unit of a record written, the rest 0xFF)",
        Medium::File,
        FILE,
        Config::new(id(10)).with_limits(32, 128),
    );
    f.set(b"a", b"1")
        .set(b"b", b"2")
        .sync()
        .set(b"c", b"3")
        .torn_set(b"d", &[0x44; 40], 1, TearMode::Subset, 3);
    out.push(f.finish(|s, r| {
        assert!(s.dirty_tail && s.damage_found_at_open == 0, "{s:?}");
        assert!(r[0].contains("sync=1"), "{}", r[0]);
    }));

    // File: damage inside a synced span.
    let mut f = Builder::new(
        "file-damage",
        "file geometry: a bit flipped in a synced record's value, intact records and a sync marker after it",
        Medium::File,
        FILE,
        Config::new(id(11)).with_limits(32, 128),
    );
    f.set(b"a", b"1")
        .damage_next(Flip::Value)
        .set(b"b", b"2")
        .set(b"c", b"3")
        .sync()
        .set(b"d", b"4")
        .sync();
    out.push(f.finish(|s, r| {
        assert!(!s.dirty_tail && s.damage_found_at_open == 1, "{s:?}");
        assert!(r[0].contains("failing=1") && r[0].contains("sync=2"));
    }));

    // Flash W = 1: switches, a batch, a torn tail.
    let mut f = Builder::new(
        "flash-w1",
        "flash W = 1, erase 256: switches, a batch with a delete, then a torn last record (random bits)",
        Medium::Flash,
        FLASH_W1,
        small(12).with_ratios(6000, 9000),
    );
    for i in 0..150u32 {
        let key = format!("c{}", i % 5);
        f.set(
            key.as_bytes(),
            format!("{i}").repeat(1 + (i % 4) as usize).as_bytes(),
        );
    }
    f.apply(&[Op::Set(b"c0", b"batched"), Op::Delete(b"c1")])
        .torn_set(b"c2", b"torn torn torn", 9, TearMode::RandomBits, 12);
    out.push(f.finish(|s, r| {
        assert!(s.generation >= 4 && s.dirty_tail, "{s:?}");
        let active = if s.active == RegionId::A {
            &r[0]
        } else {
            &r[1]
        };
        assert!(active.contains("batch_commit=1"), "{active}");
    }));

    // Flash W = 16: a long key, a batch, a damaged header (a gap).
    let mut f = Builder::new(
        "flash-w16",
        "flash W = 16, erase 512: two switches, a long key, a batch, then a header bit flipped mid-log (a gap: keys written before it answer Corrupted)",
        Medium::Flash,
        FLASH_W16,
        Config::new(id(13)).with_limits(96, 64),
    );
    f.set(b"old", b"1")
        .set(&[b'L'; 80], b"long key")
        .compact()
        .remove(b"old")
        .compact()
        .set(b"before", b"gap")
        .damage_next(Flip::Header)
        .set(b"lost", b"in the gap")
        .apply(&[Op::Set(b"x", b"1"), Op::Set(b"y", b"2")])
        .set(&[b'L'; 80], b"rewritten after the gap")
        .probe(&[b"never"]);
    out.push(f.finish(|s, r| {
        assert_eq!(s.generation, 3);
        assert!(!s.dirty_tail && s.damage_found_at_open == 1, "{s:?}");
        assert!(r[0].contains("invalid header"), "{}", r[0]);
    }));

    // Flash W = 32: switches, clear, long key, batch, unfinished switch.
    let mut f = Builder::new(
        "flash-w32",
        "flash W = 32, erase 1024: write-driven switches, clear, a long key, a batch, then a compaction whose switch is unfinished (old region, holding the batch, not superseded)",
        Medium::Flash,
        FLASH_W32,
        Config::new(id(14))
            .with_limits(100, 128)
            .with_ratios(5000, 9000),
    );
    for i in 0..40u32 {
        let key = format!("p{}", i % 4);
        f.set(key.as_bytes(), &bytes(20 + (i % 5) as usize, i as u8));
    }
    f.clear();
    for i in 0..30u32 {
        let key = format!("q{}", i % 6);
        f.set(key.as_bytes(), &bytes(10 + (i % 30) as usize, i as u8));
    }
    f.set(&[b'Q'; 100], b"long")
        .apply(&[Op::Set(b"q0", b"b0"), Op::Delete(b"q1")])
        .compact()
        .cut_before_superseded()
        .probe(&[b"p9"]);
    out.push(f.finish(|s, _| {
        assert!(s.generation >= 4 && s.unfinished_switch, "{s:?}");
    }));

    out
}

// ----- the manifest ----------------------------------------------------------

/// `"text"` for printable ASCII without `"` or `\`, else `x:hex`.
pub fn quote(b: &[u8]) -> String {
    if b.iter()
        .all(|&c| (0x20..0x7F).contains(&c) && c != b'"' && c != b'\\')
    {
        format!("\"{}\"", String::from_utf8_lossy(b))
    } else {
        let mut s = String::from("x:");
        for c in b {
            let _ = write!(s, "{c:02x}");
        }
        s
    }
}

fn region_name(r: RegionId) -> &'static str {
    match r {
        RegionId::A => "A",
        RegionId::B => "B",
    }
}

/// The manifest text for `fixtures` (all of one version).
pub fn manifest(fixtures: &[Fixture]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# twinkv format fixtures, format version {VERSION}: written by\n\
         # `TWINKV_REGEN_FIXTURES=1 cargo test -p twinkv-core --test fixtures`\n\
         # (see README.md). One block per fixture; images v<version>-<name>.a/.b.\n\
         # Keys and values: \"text\" or x:hex. `value K = V`, `absent K` and\n\
         # `corrupted K` (get answers Error::Corrupted) list every key the\n\
         # script wrote or probed. `stats` are Store::stats() of a read-only open;\n\
         # `region` lines are read with the format module alone."
    );
    for f in fixtures {
        let g = f.geometry;
        let c = f.config;
        let st = &f.stats;
        let _ = writeln!(s);
        let _ = writeln!(s, "fixture {}", f.file_stem());
        let _ = writeln!(s, "  about: {}", f.about);
        let _ = writeln!(s, "  version: {}", f.version);
        let _ = writeln!(s, "  medium: {} in_order={}", f.medium.name(), f.in_order());
        let _ = writeln!(
            s,
            "  geometry: write_unit={} erase_unit={} region_size={}",
            g.write_unit, g.erase_unit, g.size
        );
        let _ = writeln!(s, "  store_id: {:#018x}", c.store_id);
        let _ = writeln!(
            s,
            "  limits: max_key={} max_value={}",
            c.max_key_len, c.max_value_len
        );
        let _ = writeln!(
            s,
            "  ratios: high_water={} max_fill={}",
            c.high_water_bp, c.max_fill_bp
        );
        let _ = writeln!(
            s,
            "  stats: generation={} active={} dirty_tail={} unfinished_switch={} \
             damage_found_at_open={} live_keys={} damaged_keys={} used_bytes={} live_bytes={}",
            st.generation,
            region_name(st.active),
            st.dirty_tail,
            st.unfinished_switch,
            st.damage_found_at_open,
            st.live_keys,
            st.damaged_keys,
            st.used_bytes,
            st.live_bytes
        );
        let _ = writeln!(s, "  region A: {}", f.regions[0]);
        let _ = writeln!(s, "  region B: {}", f.regions[1]);
        for (k, a) in &f.keys {
            let _ = match a {
                Answer::Value(v) => writeln!(s, "  value {} = {}", quote(k), quote(v)),
                Answer::Absent => writeln!(s, "  absent {}", quote(k)),
                Answer::Corrupted => writeln!(s, "  corrupted {}", quote(k)),
            };
        }
        let _ = writeln!(s, "end");
    }
    s
}

fn unquote(tok: &str) -> Result<Vec<u8>, String> {
    if let Some(t) = tok.strip_prefix('"') {
        let t = t.strip_suffix('"').ok_or(format!("unterminated {tok}"))?;
        return Ok(t.as_bytes().to_vec());
    }
    let hex = tok.strip_prefix("x:").ok_or(format!("bad bytes {tok}"))?;
    if hex.len() % 2 != 0 {
        return Err(format!("odd hex {tok}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| format!("{tok}: {e}")))
        .collect()
}

/// Splits `rest` into the first byte-string token and what follows.
fn take_bytes(rest: &str) -> Result<(Vec<u8>, &str), String> {
    let rest = rest.trim_start();
    let end = if let Some(t) = rest.strip_prefix('"') {
        t.find('"').ok_or(format!("unterminated {rest}"))? + 2
    } else {
        rest.find(' ').unwrap_or(rest.len())
    };
    Ok((unquote(&rest[..end])?, &rest[end..]))
}

fn fields(s: &str) -> Result<BTreeMap<&str, &str>, String> {
    s.split_whitespace()
        .map(|kv| kv.split_once('=').ok_or(format!("expected k=v: {kv}")))
        .collect()
}

fn field<T: std::str::FromStr>(m: &BTreeMap<&str, &str>, k: &str) -> Result<T, String> {
    m.get(k)
        .ok_or(format!("missing {k}"))?
        .parse()
        .map_err(|_| format!("bad {k}"))
}

/// Parses a manifest. Images are not read: `a` and `b` are left empty.
pub fn parse_manifest(text: &str) -> Result<Vec<Fixture>, String> {
    let mut out = Vec::new();
    // The open block: stem, attributes, keys.
    type Block = (String, BTreeMap<String, String>, BTreeMap<Vec<u8>, Answer>);
    let mut cur: Option<Block> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |e: String| format!("line {}: {e}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(stem) = line.strip_prefix("fixture ") {
            if cur.is_some() {
                return Err(at("fixture inside a fixture".into()));
            }
            cur = Some((stem.to_string(), BTreeMap::new(), BTreeMap::new()));
            continue;
        }
        let Some((stem, attrs, keys)) = cur.as_mut() else {
            return Err(at(format!("outside a fixture: {line}")));
        };
        if line == "end" {
            let (stem, attrs, keys) = cur.take().unwrap();
            out.push(build_entry(&stem, &attrs, keys).map_err(at)?);
            continue;
        }
        let _ = stem;
        let dup = |k: &BTreeMap<Vec<u8>, Answer>, key: &Vec<u8>| {
            if k.contains_key(key) {
                Err(at(format!("key listed twice: {}", quote(key))))
            } else {
                Ok(())
            }
        };
        if let Some(rest) = line.strip_prefix("value ") {
            let (k, rest) = take_bytes(rest).map_err(at)?;
            let rest = rest
                .trim_start()
                .strip_prefix('=')
                .ok_or(at("no =".into()))?;
            let (v, tail) = take_bytes(rest).map_err(at)?;
            if !tail.trim().is_empty() {
                return Err(at(format!("trailing {tail}")));
            }
            dup(keys, &k)?;
            keys.insert(k, Answer::Value(v));
        } else if let Some(rest) = line.strip_prefix("absent ") {
            let k = unquote(rest).map_err(at)?;
            dup(keys, &k)?;
            keys.insert(k, Answer::Absent);
        } else if let Some(rest) = line.strip_prefix("corrupted ") {
            let k = unquote(rest).map_err(at)?;
            dup(keys, &k)?;
            keys.insert(k, Answer::Corrupted);
        } else if let Some((k, v)) = line.split_once(": ") {
            if attrs.insert(k.to_string(), v.to_string()).is_some() {
                return Err(at(format!("{k} given twice")));
            }
        } else {
            return Err(at(format!("unknown line: {line}")));
        }
    }
    if cur.is_some() {
        return Err("last fixture has no `end`".into());
    }
    Ok(out)
}

fn build_entry(
    stem: &str,
    attrs: &BTreeMap<String, String>,
    keys: BTreeMap<Vec<u8>, Answer>,
) -> Result<Fixture, String> {
    let get = |k: &str| {
        attrs
            .get(k)
            .map(String::as_str)
            .ok_or(format!("missing {k}"))
    };
    let version: u16 = get("version")?.parse().map_err(|_| "bad version")?;
    let name = stem
        .strip_prefix(&format!("v{version}-"))
        .ok_or(format!("{stem}: name must start with v{version}-"))?;
    let (medium, rest) = get("medium")?.split_once(' ').ok_or("medium")?;
    let medium = Medium::parse(medium).ok_or("bad medium")?;
    let in_order: bool = field(&fields(rest)?, "in_order")?;
    if in_order != medium.in_order() {
        return Err(format!("{stem}: in_order={in_order} for {}", medium.name()));
    }
    let g = fields(get("geometry")?)?;
    let geometry = Geometry {
        size: field(&g, "region_size")?,
        read_unit: 1,
        write_unit: field(&g, "write_unit")?,
        erase_unit: field(&g, "erase_unit")?,
    };
    let id = get("store_id")?;
    let store_id = u64::from_str_radix(id.strip_prefix("0x").ok_or("store_id: 0x")?, 16)
        .map_err(|_| "bad store_id")?;
    let l = fields(get("limits")?)?;
    let r = fields(get("ratios")?)?;
    let config = Config::new(store_id)
        .with_limits(field(&l, "max_key")?, field(&l, "max_value")?)
        .with_ratios(field(&r, "high_water")?, field(&r, "max_fill")?);
    let s = fields(get("stats")?)?;
    let stats = Pinned {
        generation: field(&s, "generation")?,
        active: match field::<String>(&s, "active")?.as_str() {
            "A" => RegionId::A,
            "B" => RegionId::B,
            x => return Err(format!("bad active {x}")),
        },
        dirty_tail: field(&s, "dirty_tail")?,
        unfinished_switch: field(&s, "unfinished_switch")?,
        damage_found_at_open: field(&s, "damage_found_at_open")?,
        live_keys: field(&s, "live_keys")?,
        damaged_keys: field(&s, "damaged_keys")?,
        used_bytes: field(&s, "used_bytes")?,
        live_bytes: field(&s, "live_bytes")?,
    };
    let known = [
        "about", "version", "medium", "geometry", "store_id", "limits", "ratios", "stats",
        "region A", "region B",
    ];
    if let Some(k) = attrs.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{stem}: unknown attribute {k}"));
    }
    Ok(Fixture {
        version,
        name: name.to_string(),
        about: get("about")?.to_string(),
        medium,
        geometry,
        config,
        stats,
        regions: [get("region A")?.to_string(), get("region B")?.to_string()],
        keys,
        a: Vec::new(),
        b: Vec::new(),
    })
}
