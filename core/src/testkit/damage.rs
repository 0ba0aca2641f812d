//! The damage harness's medium-independent half: lifecycle scripts, the
//! trace a script leaves (model, where each key's deciding write lies, sync
//! points, older images), the faults, the oracle and the result table.
//!
//! Used by `core/tests/damage_harness.rs` (RamRegion), `damage_flash.rs`
//! (SimFlash through the flash adapter) and `host/tests/damage_files.rs`
//! (memory-mapped files). Each of them supplies
//! a builder (runs a script on a fresh store) and a prober (opens a faulted
//! image read-only, then read-write, writes, reopens, and reports what it
//! saw); everything that decides "silent" lives here.
//!
//! The oracle (issue 11, "A damage harness"): after one fault, every key ever
//! written reads its last acknowledged value or `Corrupted`, or the open is
//! refused as damaged. Anything else — absent, an older value, a deleted key
//! back, a value never written, a generation going backwards, a panic, a
//! write acknowledged after the fault lost at the next open — is silent,
//! unless every such key fits one exception the crash model cannot tell
//! apart from a crash (E1, E2, E3 below, counted separately).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::string::String;
use std::string::ToString;
use std::vec::Vec;
use std::{format, println, vec};

use super::model::{Model, Write};
use super::workload::Rng;
use crate::format::record::stored_len;
use crate::{RegionId, Stats};

/// Both regions' bytes, A then B.
pub type Image = [Vec<u8>; 2];

/// The key written after each fault (never part of a script).
pub const NEW_KEY: &[u8] = b"zNEW";
pub const NEW_VALUE: &[u8] = b"after-fault";

// ----- scripts -------------------------------------------------------------

/// A script entry: a step, or "set these keys in turn until the store
/// switches regions" (the automatic switch, whatever the medium's size).
#[derive(Clone, Debug)]
pub enum Entry {
    Do(Write),
    UntilSwitch(Vec<Vec<u8>>),
}

pub fn key(i: u32) -> Vec<u8> {
    format!("k{i:02}").into_bytes()
}

/// Lifecycle points: (name, script). Keys are 3 bytes, values at most 12,
/// so every medium's limits fit them; every value is distinct, so an older
/// value can be told from the newest.
pub fn lifecycles() -> Vec<(&'static str, Vec<Entry>)> {
    let mut n = 0u32;
    let mut set = |k: u32| {
        n += 1;
        Entry::Do(Write::Set(key(k), format!("v{k}.{n}").into_bytes()))
    };
    let del = |k: u32| Entry::Do(Write::Delete(key(k)));
    let d = Entry::Do;
    let mut out = Vec::new();
    out.push(("fresh", (0..4).map(&mut set).collect()));
    let mut s: Vec<Entry> = (0..6).map(&mut set).collect();
    s.extend([set(1), set(2), del(3), set(6), set(0)]);
    out.push(("pre-switch", s));
    let mut s: Vec<Entry> = (0..6).map(&mut set).collect();
    s.push(del(2));
    s.push(Entry::UntilSwitch(vec![key(1), key(4), key(5)]));
    out.push(("auto-switch", s));
    let mut s: Vec<Entry> = (0..6).map(&mut set).collect();
    s.extend([del(2), set(1), d(Write::Compact)]);
    out.push(("compact", s));
    let mut s: Vec<Entry> = (0..5).map(&mut set).collect();
    s.extend([d(Write::Sync), set(1), set(5), del(3), set(6)]);
    out.push(("unsynced-tail", s));
    let mut s: Vec<Entry> = (0..5).map(&mut set).collect();
    s.extend([d(Write::Sync), set(1), del(3), d(Write::Sync)]);
    out.push(("synced", s));
    // A log longer than one 512-byte sector: the last sync marker and the
    // records before it lie in a later unit than the first values (issue 11,
    // repro 3).
    let mut s: Vec<Entry> = (0..22)
        .map(|k| {
            let mut v = format!("long{k}.").into_bytes();
            v.resize(12, b'x');
            Entry::Do(Write::Set(key(k), v))
        })
        .collect();
    s.extend([d(Write::Sync), set(1), set(2), del(3), d(Write::Sync)]);
    out.push(("synced-long", s));
    let mut s: Vec<Entry> = (0..4).map(&mut set).collect();
    s.push(d(Write::Batch(vec![
        (key(4), Some(b"b4".to_vec())),
        (key(1), Some(b"b1".to_vec())),
        (key(2), None),
        (key(5), Some(b"b5".to_vec())),
    ])));
    out.push(("batch", s));
    let mut s: Vec<Entry> = (0..5).map(&mut set).collect();
    s.extend([d(Write::Clear), set(1), set(5), set(6)]);
    out.push(("clear", s));
    let mut s: Vec<Entry> = (0..5).map(&mut set).collect();
    s.extend([del(1), d(Write::Repair), set(2), set(6)]);
    out.push(("repair", s));
    out
}

// ----- the trace -------------------------------------------------------------

/// The read-write phase on a core store that opened: its stats, then one
/// new key written.
pub fn core_write_phase<R, I, B>(
    s: &mut crate::Store<R, I, B>,
) -> (Opened, Option<Result<(), Read>>)
where
    R: crate::Region,
    R::Error: std::fmt::Debug,
    I: crate::Index,
    B: AsMut<[u8]>,
{
    let st = s.stats();
    let w = core_wrote(s.set(NEW_KEY, NEW_VALUE));
    let o = Opened::Ok {
        generation: st.generation,
        damage: st.damage_found_at_open > 0 || st.damaged_keys > 0,
        reads: Vec::new(),
    };
    (o, Some(w))
}

/// Runs a harness in quick or long mode, prints its size and time, and
/// fails on any silent outcome.
pub fn timed(what: &str, long: bool, run: impl FnOnce(bool) -> Table) {
    let start = std::time::Instant::now();
    let table = run(long);
    let mode = if long { "long" } else { "quick" };
    println!(
        "{mode} mode: {} faults in {:?}",
        table.tried(),
        start.elapsed()
    );
    table.finish(what);
}

pub trait Builder {
    fn run(&mut self, step: &Write);
    fn stats(&mut self) -> Stats;
    fn image(&mut self) -> Image;
}

/// Where the write that decided a key's current state lies in the active
/// region: `start..end` (for a key a switch copied or dropped: the switch's
/// whole span from the data start, so it is never excused).
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

/// A store after a script: its image, model and the positions the oracle
/// needs.
#[derive(Clone, Debug)]
pub struct Trace {
    pub image: Image,
    /// Images after earlier steps (distinct), oldest first.
    pub older: Vec<Image>,
    pub model: Model,
    /// Every value each key ever had, acknowledged.
    pub history: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    pub spans: BTreeMap<Vec<u8>, Span>,
    /// Index of the active region in `image`.
    pub active: usize,
    pub generation: u64,
    pub data_start: u32,
    pub write_unit: u32,
    pub erase_unit: u32,
    /// End of the active log.
    pub log_end: u32,
    /// Start of the newest record of the active log (or `log_end` when the
    /// newest records were written by a switch).
    pub newest: u32,
    /// The last sync point FORMAT.md §6.1 (1) and (2) give: the commit's data
    /// end after a switch, the end of a sync marker after `sync()` on a region
    /// that does not persist in order.
    pub sync_point: u32,
    /// Every sync point of the active region's current generation with where
    /// the evidence for it ends: `(evidence end, sync point)`. The commit's
    /// data end is proven by the commit marker (in the marker area), a sync
    /// marker's end by the marker itself.
    pub syncs: Vec<(u32, u32)>,
    /// The region persists in order (RAM in-order, NOR): E1 applies.
    pub in_order: bool,
    /// A not-in-order region in the default durability mode: E3 applies.
    pub page_cache: bool,
    pub switches: u32,
}

impl Trace {
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.history.keys().cloned().collect()
    }
}

/// Runs `script` on `b` and records the trace.
pub fn play(
    b: &mut impl Builder,
    script: &[Entry],
    write_unit: u32,
    erase_unit: u32,
    in_order: bool,
    page_cache: bool,
    sync_every_write: bool,
) -> Trace {
    let d = crate::format::Layout::new(write_unit).data_start();
    let st = b.stats();
    let image = b.image();
    let mut t = Trace {
        image: image.clone(),
        older: vec![image],
        model: Model::new(),
        history: BTreeMap::new(),
        spans: BTreeMap::new(),
        active: idx(st.active),
        generation: st.generation,
        data_start: d,
        write_unit,
        erase_unit,
        log_end: d + st.used_bytes,
        newest: d + st.used_bytes,
        sync_point: d + st.used_bytes,
        syncs: vec![(d, d + st.used_bytes)],
        in_order,
        page_cache,
        switches: 0,
    };
    for e in script {
        match e {
            Entry::Do(step) => {
                once(&mut t, b, step, sync_every_write);
            }
            Entry::UntilSwitch(keys) => {
                let mut switched = false;
                for i in 0..2000 {
                    let k = &keys[i % keys.len()];
                    let v = format!("u{i}").into_bytes();
                    if once(&mut t, b, &Write::Set(k.clone(), v), sync_every_write) {
                        switched = true;
                        break;
                    }
                }
                assert!(switched, "no automatic switch after 2000 sets");
            }
        }
    }
    // The current image is not an older one.
    t.older.pop();
    t
}

/// Runs one step and records it; returns whether it switched regions.
fn once(t: &mut Trace, b: &mut impl Builder, step: &Write, sync_every_write: bool) -> bool {
    let before = b.stats();
    b.run(step);
    let after = b.stats();
    let image = b.image();
    record(t, step, &before, &after, sync_every_write);
    if t.older.last() != Some(&image) {
        t.older.push(image.clone());
    }
    t.image = image;
    after.generation != before.generation
}

fn idx(r: RegionId) -> usize {
    match r {
        RegionId::A => 0,
        RegionId::B => 1,
    }
}

fn record(t: &mut Trace, step: &Write, before: &Stats, after: &Stats, sync_every_write: bool) {
    let d = t.data_start;
    step.apply_to(&mut t.model);
    if let Write::Set(k, v) = step {
        t.history.entry(k.clone()).or_default().insert(v.clone());
    }
    if let Write::Batch(ops) = step {
        for (k, v) in ops {
            let h = t.history.entry(k.clone()).or_default();
            if let Some(v) = v {
                h.insert(v.clone());
            }
        }
    }
    for k in step.keys() {
        t.history.entry(k).or_default();
    }
    let switched = after.generation != before.generation || after.active != before.active;
    let end = d + after.used_bytes;
    if switched {
        t.switches += 1;
        for k in t.history.keys() {
            t.spans.insert(k.clone(), Span { start: d, end });
        }
        t.sync_point = end;
        t.syncs = vec![(d, end)];
        t.newest = end;
    } else {
        let start = d + before.used_bytes;
        for k in step.keys() {
            t.spans.insert(k, Span { start, end });
        }
        match step {
            Write::Set(..) | Write::Delete(..) => t.newest = start,
            Write::Batch(..) => {
                // The batch commit record: empty key, 16-byte value.
                t.newest = end - stored_len(0, 16, t.write_unit).unwrap();
            }
            Write::Sync if !t.in_order => {
                t.sync_point = end;
                t.syncs.push((end, end));
                if end > start {
                    t.newest = start;
                }
            }
            _ => {}
        }
        if sync_every_write && end > start {
            t.sync_point = end;
            t.syncs.push((end, end));
        }
    }
    t.active = idx(after.active);
    t.generation = after.generation;
    t.log_end = end;
}

// ----- faults ----------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Flip,
    Zero,
    Ones,
    UnitZero,
    UnitErase,
    UnitOlder,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Flip,
        Kind::Zero,
        Kind::Ones,
        Kind::UnitZero,
        Kind::UnitErase,
        Kind::UnitOlder,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flip => "bit flip",
            Kind::Zero => "byte=00",
            Kind::Ones => "byte=FF",
            Kind::UnitZero => "unit zeroed",
            Kind::UnitErase => "unit erased",
            Kind::UnitOlder => "unit older",
        }
    }
}

/// One fault on one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub region: usize,
    pub kind: Kind,
    /// Byte offset (byte faults) or unit index (unit faults).
    pub at: u32,
    /// Bit (flip) or index into `Trace::older` (unit older).
    pub arg: u32,
}

impl Fault {
    pub fn describe(&self, t: &Trace) -> String {
        let r = if self.region == 0 { 'A' } else { 'B' };
        let act = if self.region == t.active {
            "active"
        } else {
            "inactive"
        };
        match self.kind {
            Kind::Flip => format!("flip bit {} of byte {} of {r} ({act})", self.arg, self.at),
            Kind::Zero | Kind::Ones => {
                format!("{} at byte {} of {r} ({act})", self.kind.name(), self.at)
            }
            Kind::UnitOlder => format!(
                "unit {} ({}..{}) of {r} ({act}) from the image after step {} of {}",
                self.at,
                self.at * t.erase_unit,
                (self.at + 1) * t.erase_unit,
                self.arg,
                t.older.len()
            ),
            _ => format!(
                "{} {} ({}..{}) of {r} ({act})",
                self.kind.name(),
                self.at,
                self.at * t.erase_unit,
                (self.at + 1) * t.erase_unit
            ),
        }
    }
}

/// A fault applied: the faulted image and the bytes it changed.
pub struct Applied {
    pub image: Image,
    pub first: u32,
    pub last: u32,
}

pub fn apply(t: &Trace, f: &Fault) -> Option<Applied> {
    let mut image = t.image.clone();
    let r = &mut image[f.region];
    let e = t.erase_unit as usize;
    match f.kind {
        Kind::Flip => r[f.at as usize] ^= 1 << f.arg,
        Kind::Zero => r[f.at as usize] = 0,
        Kind::Ones => r[f.at as usize] = 0xFF,
        Kind::UnitZero | Kind::UnitErase | Kind::UnitOlder => {
            let u = f.at as usize * e..(f.at as usize + 1) * e;
            match f.kind {
                Kind::UnitZero => r[u].fill(0),
                Kind::UnitErase => r[u].fill(0xFF),
                _ => {
                    let old = &t.older[f.arg as usize][f.region];
                    if old.len() < u.end {
                        return None;
                    }
                    r[u.clone()].copy_from_slice(&old[u]);
                }
            }
        }
    }
    let cur = &t.image[f.region];
    let r = &image[f.region];
    let changed: Vec<usize> = (0..r.len()).filter(|&i| r[i] != cur[i]).collect();
    let (&first, &last) = (changed.first()?, changed.last()?);
    Some(Applied {
        image,
        first: first as u32,
        last: last as u32,
    })
}

/// Unit faults on every unit of both regions: zeroed, erased, and replaced by
/// each distinct older content of that unit.
pub fn unit_faults(t: &Trace) -> Vec<Fault> {
    let mut out = Vec::new();
    let e = t.erase_unit as usize;
    for region in 0..2 {
        let units = t.image[region].len() / e;
        for u in 0..units {
            let at = u as u32;
            for kind in [Kind::UnitZero, Kind::UnitErase] {
                out.push(Fault {
                    region,
                    kind,
                    at,
                    arg: 0,
                });
            }
            let mut seen: BTreeSet<&[u8]> = BTreeSet::new();
            seen.insert(&t.image[region][u * e..(u + 1) * e]);
            for (i, old) in t.older.iter().enumerate().rev() {
                if let Some(bytes) = old[region].get(u * e..(u + 1) * e) {
                    if seen.insert(bytes) {
                        out.push(Fault {
                            region,
                            kind: Kind::UnitOlder,
                            at,
                            arg: i as u32,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Every byte fault: each bit flipped (or, with `one_bit`, one bit chosen
/// per byte), the byte set to 0x00, the byte set to 0xFF; both regions.
pub fn byte_faults_all(t: &Trace, one_bit: bool, seed: u64) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for region in 0..2 {
        for at in 0..t.image[region].len() as u32 {
            if one_bit {
                let arg = rng.below(8) as u32;
                out.push(Fault {
                    region,
                    kind: Kind::Flip,
                    at,
                    arg,
                });
            } else {
                for arg in 0..8 {
                    out.push(Fault {
                        region,
                        kind: Kind::Flip,
                        at,
                        arg,
                    });
                }
            }
            for kind in [Kind::Zero, Kind::Ones] {
                out.push(Fault {
                    region,
                    kind,
                    at,
                    arg: 0,
                });
            }
        }
    }
    out
}

/// `n` byte faults drawn with a seeded generator: 3 in 4 in the active
/// region's header, markers and log (up to 64 bytes past its end), the rest
/// anywhere in either region; half flips, a quarter each 0x00 and 0xFF.
/// Faults that change nothing are not drawn.
pub fn byte_faults_sample(t: &Trace, n: usize, seed: u64) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < n * 50 {
        tries += 1;
        let (region, at) = if rng.below(4) < 3 {
            let hi = (t.log_end + 64).min(t.image[t.active].len() as u32);
            (t.active, rng.below(u64::from(hi)) as u32)
        } else {
            let region = rng.below(2) as usize;
            (region, rng.below(t.image[region].len() as u64) as u32)
        };
        let (kind, arg) = match rng.below(4) {
            0 | 1 => (Kind::Flip, rng.below(8) as u32),
            2 => (Kind::Zero, 0),
            _ => (Kind::Ones, 0),
        };
        let f = Fault {
            region,
            kind,
            at,
            arg,
        };
        if apply(t, &f).is_some() && !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

// ----- what a prober reports -------------------------------------------------

/// One `get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    Value(Vec<u8>),
    Absent,
    Corrupted,
    /// Any other error, by name.
    Error(String),
}

/// An open and what it saw.
#[derive(Clone, Debug)]
pub enum Opened {
    /// Refused naming damage (`Corrupted`, `Unrecognised`,
    /// `UnsupportedFormat`, or the host's equivalents).
    Refused(String),
    /// Refused with anything else.
    Failed(String),
    /// Opened; `reads` in the order of the keys asked for.
    Ok {
        generation: u64,
        /// Stats show damage (found at open, or damaged keys).
        damage: bool,
        reads: Vec<Read>,
    },
}

/// Everything one probe saw.
#[derive(Clone, Debug)]
pub struct Probe {
    /// (1) the read-only open and every key.
    pub ro: Opened,
    /// (2) the read-write open (its `reads` are empty).
    pub rw: Opened,
    /// The write of [`NEW_KEY`] after the read-write open.
    pub wrote: Option<Result<(), Read>>,
    /// The reopen after that write, every key then [`NEW_KEY`].
    pub re: Option<Opened>,
    /// A panic anywhere in the probe.
    pub panic: Option<String>,
    /// A refused open changed bytes of the image.
    pub refused_but_wrote: bool,
}

/// The probe every medium runs on a damaged image, as one shape: (1) a
/// read-only open (`open_ro`) and every key; (2) a read-write open
/// (`open_rw`) and one write (`write`); (3) the same open again and every
/// key and [`NEW_KEY`]. `read` turns an opened store into [`Opened`],
/// `refusal(&error, read_only, keys, empty)` a refused open; `changed` says
/// whether the image's bytes changed (a refused open must not write).
///
/// A macro rather than a function: each medium's store borrows its regions
/// with lifetimes of its own (a rig, two flashes, files by path), which a
/// closure returning the opened store cannot express.
#[macro_export]
macro_rules! __testkit_probe {
    (
        keys: $keys:expr,
        empty: $empty:expr,
        changed: $changed:expr,
        open_ro: $ro:expr,
        open_rw: $rw:expr,
        read: $read:expr,
        write: $write:expr,
        refusal: $refusal:expr $(,)?
    ) => {{
        let keys: &[Vec<u8>] = $keys;
        let ro = match $ro {
            Ok(mut s) => ($read)(&mut s, keys),
            Err(e) => ($refusal)(&e, true, keys.len(), $empty),
        };
        let mut refused_but_wrote = $changed;
        let (rw, wrote) = match $rw {
            Ok(mut s) => ($write)(&mut s),
            Err(e) => {
                let o = ($refusal)(&e, false, 0, false);
                refused_but_wrote |= $changed;
                (o, None)
            }
        };
        let re = wrote.as_ref().map(|_| match $rw {
            Ok(mut s) => ($read)(&mut s, &$crate::testkit::damage::with_new(keys)),
            Err(e) => ($refusal)(&e, false, 0, false),
        });
        $crate::testkit::damage::Probe {
            ro,
            rw,
            wrote,
            re,
            panic: None,
            refused_but_wrote,
        }
    }};
}
pub use __testkit_probe as probe;

/// Runs `f`, turning a panic into `Probe::panic`.
pub fn guarded(f: impl FnOnce() -> Probe) -> Probe {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(p) => p,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Probe {
                ro: Opened::Failed("panic".into()),
                rw: Opened::Failed("panic".into()),
                wrote: None,
                re: None,
                panic: Some(msg),
                refused_but_wrote: false,
            }
        }
    }
}

// ----- the oracle --------------------------------------------------------------

/// The exceptions a crash can produce too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// In-order region: the fault lies in the newest record of the active log
    /// or the erased space after it.
    E1,
    /// A unit holding the end of the active log erased, or reverted to an
    /// older content of the same region generation.
    E2,
    /// Not-in-order region, default durability: after the last sync point,
    /// in a record that ends (within some sector) in a byte reading 0xFF, as
    /// a page lost from the page cache leaves it.
    E3,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Harmless,
    Reported,
    Crash(Class),
    Silent(String),
}

/// A key that reads neither its value nor `Corrupted`.
struct Lost {
    key: Vec<u8>,
    what: String,
}

fn observe(
    t: &Trace,
    phase: &str,
    reads: &[Read],
    keys: &[Vec<u8>],
    lost: &mut Vec<Lost>,
    always: &mut Vec<String>,
    reported: &mut bool,
) {
    for (k, r) in keys.iter().zip(reads) {
        let want = t.model.get(k);
        let hist = t.history.get(k);
        let name = String::from_utf8_lossy(k);
        match r {
            Read::Corrupted => *reported = true,
            Read::Error(e) => always.push(format!("{phase}: get {name}: error {e}")),
            Read::Value(v) if Some(v) == want => {}
            Read::Absent if want.is_none() => {}
            Read::Value(v) if hist.is_some_and(|h| h.contains(v)) => lost.push(Lost {
                key: k.clone(),
                what: match want {
                    Some(w) => format!(
                        "{phase}: {name} reads older value {:?} (acknowledged {:?})",
                        String::from_utf8_lossy(v),
                        String::from_utf8_lossy(w)
                    ),
                    None => format!(
                        "{phase}: deleted {name} is back with {:?}",
                        String::from_utf8_lossy(v)
                    ),
                },
            }),
            Read::Value(v) => always.push(format!(
                "{phase}: {name} reads {:?}, a value never written",
                String::from_utf8_lossy(v)
            )),
            Read::Absent => lost.push(Lost {
                key: k.clone(),
                what: format!(
                    "{phase}: {name} absent (acknowledged {:?})",
                    String::from_utf8_lossy(want.unwrap())
                ),
            }),
        }
    }
}

/// Judges one probe. Returns the verdict and whether the store stayed
/// available (opens read-write, takes the write, reopens, nothing silent).
pub fn judge(t: &Trace, f: &Fault, a: &Applied, p: &Probe) -> (Verdict, bool) {
    let keys = t.keys();
    let mut lost = Vec::new();
    let mut always = Vec::new();
    let mut reported = false;
    if let Some(m) = &p.panic {
        always.push(format!("panic: {m}"));
    }
    if p.refused_but_wrote {
        always.push("an open refused the store and still changed its bytes".into());
    }
    let phase = |name: &str,
                 o: &Opened,
                 extra_new: bool,
                 always: &mut Vec<String>,
                 lost: &mut Vec<Lost>,
                 reported: &mut bool| match o {
        Opened::Refused(_) => *reported = true,
        Opened::Failed(e) => always.push(format!("{name}: open failed: {e}")),
        Opened::Ok {
            generation,
            damage,
            reads,
        } => {
            *reported |= *damage;
            if *generation < t.generation && *generation != 0 {
                lost.push(Lost {
                    key: Vec::new(),
                    what: format!(
                        "{name}: generation {generation} < {} (rolled back / reformatted)",
                        t.generation
                    ),
                });
            }
            observe(t, name, reads, &keys, lost, always, reported);
            if extra_new {
                match reads.get(keys.len()) {
                    Some(Read::Value(v)) if v == NEW_VALUE => {}
                    Some(Read::Corrupted) => *reported = true,
                    other => always.push(format!(
                        "{name}: the write acknowledged after the fault reads {other:?}"
                    )),
                }
            }
        }
    };
    phase(
        "read-only open",
        &p.ro,
        false,
        &mut always,
        &mut lost,
        &mut reported,
    );
    phase(
        "read-write open",
        &p.rw,
        false,
        &mut always,
        &mut lost,
        &mut reported,
    );
    let mut wrote_ok = false;
    match &p.wrote {
        None => {}
        Some(Ok(())) => wrote_ok = true,
        Some(Err(Read::Corrupted)) => reported = true,
        Some(Err(Read::Error(e))) if e.contains("ReadOnly") => reported = true,
        Some(Err(e)) => always.push(format!("write after the fault: {e:?}")),
    }
    if let Some(re) = &p.re {
        phase(
            "reopen",
            re,
            wrote_ok,
            &mut always,
            &mut lost,
            &mut reported,
        );
    }
    let available =
        matches!(p.rw, Opened::Ok { .. }) && wrote_ok && matches!(p.re, Some(Opened::Ok { .. }));
    if !always.is_empty() {
        let mut why: Vec<String> = always;
        why.extend(lost.iter().take(1).map(|l| l.what.clone()));
        return (Verdict::Silent(why.join("; ")), false);
    }
    if lost.is_empty() {
        let v = if reported {
            Verdict::Reported
        } else {
            Verdict::Harmless
        };
        return (v, available);
    }
    match excuse(t, f, a, &lost) {
        Ok(c) => (Verdict::Crash(c), available),
        Err(i) => (Verdict::Silent(lost[i].what.clone()), false),
    }
}

/// The exception every lost key fits, or the index of the first lost key
/// that fits none (0 when the fault's shape fits none).
fn excuse(t: &Trace, f: &Fault, a: &Applied, lost: &[Lost]) -> Result<Class, usize> {
    if f.region != t.active {
        return Err(0);
    }
    // The last sync point whose evidence (commit marker, sync marker) the
    // fault left intact; none: the start of the log.
    let sync = t
        .syncs
        .iter()
        .filter(|(evidence, _)| *evidence <= a.first)
        .map(|&(_, point)| point)
        .max()
        .unwrap_or(t.data_start);
    // Every lost write lies after that sync point and reaches past the
    // fault's first byte: nothing after the fault says it was ever made.
    let misfit = lost.iter().position(|l| {
        l.key.is_empty()
            || !t
                .spans
                .get(&l.key)
                .is_some_and(|s| s.start >= sync && s.end > a.first)
    });
    if let Some(i) = misfit {
        return Err(i);
    }
    if t.in_order && a.first >= t.newest {
        return Ok(Class::E1);
    }
    let e = t.erase_unit;
    let unit_end = (f.at + 1) * e;
    let holds_end = unit_end >= t.log_end;
    match f.kind {
        Kind::UnitErase if holds_end => return Ok(Class::E2),
        Kind::UnitOlder if holds_end => {
            let old = &t.older[f.arg as usize][f.region];
            let u = (f.at * e) as usize..unit_end as usize;
            let erased = old[u].iter().all(|&b| b == 0xFF);
            let d = t.data_start as usize;
            let same_generation = old[..d] == t.image[f.region][..d];
            if erased || same_generation {
                return Ok(Class::E2);
            }
        }
        _ => {}
    }
    if t.page_cache && a.first >= sync && torn_shape(t, a) {
        return Ok(Class::E3);
    }
    Err(0)
}

/// FORMAT.md §10.1's crash shape on a memory-mapped file, on the damaged
/// image: the record of the undamaged log that holds the fault's first byte
/// ends, within some erase unit (sector), in a byte reading `0xFF` — what a
/// lost page or a copy cut short leaves. Such a record is indistinguishable
/// from one a crash tore, whatever else changed in it.
fn torn_shape(t: &Trace, a: &Applied) -> bool {
    let before = &t.image[t.active];
    let after = &a.image[t.active];
    let (w, e) = (t.write_unit, t.erase_unit);
    let mut at = t.data_start;
    while at + 8 <= t.log_end {
        let b = &before[at as usize..];
        let (header, key, value) = if b[0] & 0x10 == 0 {
            let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (8, (word >> 5) & 0x3F, (word >> 11) & 0x1FFF)
        } else {
            let key = u32::from(u16::from_le_bytes([b[2], b[3]]));
            (16, key, u32::from_le_bytes([b[4], b[5], b[6], b[7]]))
        };
        let end = at + header + key + value;
        let stored = (header + key + value).div_ceil(w) * w;
        if a.first < at + stored {
            // The last byte of the record in each erase unit it spans.
            let mut u = at;
            while u < end {
                let unit_end = ((u / e + 1) * e).min(end);
                if after[unit_end as usize - 1] == 0xFF {
                    return true;
                }
                u = unit_end;
            }
            return false;
        }
        at += stored;
    }
    false
}

// ----- the table -------------------------------------------------------------

#[derive(Clone, Default, Debug)]
pub struct Row {
    pub tried: u64,
    pub harmless: u64,
    pub reported: u64,
    pub e1: u64,
    pub e2: u64,
    pub e3: u64,
    pub silent: u64,
    pub available: u64,
    /// The first silent case: fault and reason.
    pub first: Option<String>,
}

impl Row {
    fn add(&mut self, o: &Row) {
        self.tried += o.tried;
        self.harmless += o.harmless;
        self.reported += o.reported;
        self.e1 += o.e1;
        self.e2 += o.e2;
        self.e3 += o.e3;
        self.silent += o.silent;
        self.available += o.available;
        if self.first.is_none() {
            self.first.clone_from(&o.first);
        }
    }
}

/// Where a fault's first changed byte lies, for grouping silent cases.
pub fn zone(t: &Trace, f: &Fault, a: &Applied) -> String {
    let role = if f.region == t.active {
        "active"
    } else {
        "inactive"
    };
    let l = crate::format::Layout::new(t.write_unit);
    let x = a.first;
    let z = if x < l.switching() {
        "header"
    } else if x < l.commit() {
        "switching slot"
    } else if x < l.superseded() {
        "commit slot"
    } else if x < l.data_start() {
        "superseded slot"
    } else if f.region != t.active {
        "log"
    } else if x < t.sync_point {
        "log before the sync point"
    } else if x < t.log_end {
        "log after the sync point"
    } else {
        "past the log end"
    };
    format!("{role} {z}")
}

/// The symptom of a silent case, without key names.
fn symptom(why: &str) -> &'static str {
    let first = why.split("; ").next().unwrap_or("");
    let (phase, rest) = first.split_once(": ").unwrap_or(("", first));
    let ro = phase.starts_with("read-only");
    match () {
        _ if first.starts_with("panic") => "panic",
        _ if first.contains("changed its bytes") => "refused open wrote",
        _ if rest.contains("ReadOnly on storage") => "read-only open refused with ReadOnly",
        _ if rest.contains("open failed") => "open failed with a non-damage error",
        _ if rest.contains("write acknowledged after the fault") => "post-fault write lost",
        _ if first.starts_with("write after") => "write failed with a non-damage error",
        _ if rest.contains("generation") => "generation rolled back",
        _ if rest.contains("never written") => "value never written",
        _ if rest.contains("is back") && ro => "deleted key back (read-only open)",
        _ if rest.contains("is back") => "deleted key back (after write+reopen)",
        _ if rest.contains("older value") && ro => "older value (read-only open)",
        _ if rest.contains("older value") => "older value (after write+reopen)",
        _ if rest.contains("absent") && ro => "key absent (read-only open)",
        _ if rest.contains("absent") => "key absent (after write+reopen)",
        _ => "other",
    }
}

/// Results keyed by (medium, lifecycle, fault kind).
#[derive(Default)]
pub struct Table {
    pub rows: BTreeMap<(String, String, Kind), Row>,
    /// Distinct silent cases: (medium, zone, fault kind, symptom) → (count,
    /// first lifecycle and case).
    pub classes: BTreeMap<(String, String, Kind, &'static str), (u64, String)>,
    /// Insertion order of (medium, lifecycle).
    order: Vec<(String, String)>,
}

impl Table {
    pub fn count(
        &mut self,
        medium: &str,
        life: &str,
        t: &Trace,
        f: &Fault,
        a: &Applied,
        outcome: &(Verdict, bool),
    ) {
        let (v, available) = (&outcome.0, outcome.1);
        if let Verdict::Silent(why) = v {
            let e = self
                .classes
                .entry((medium.into(), zone(t, f, a), f.kind, symptom(why)))
                .or_insert((0, format!("{life}: {}: {why}", f.describe(t))));
            e.0 += 1;
        }
        let ml = (medium.to_string(), life.to_string());
        if !self.order.contains(&ml) {
            self.order.push(ml);
        }
        let row = self
            .rows
            .entry((medium.into(), life.into(), f.kind))
            .or_default();
        row.tried += 1;
        row.available += u64::from(available);
        match v {
            Verdict::Harmless => row.harmless += 1,
            Verdict::Reported => row.reported += 1,
            Verdict::Crash(Class::E1) => row.e1 += 1,
            Verdict::Crash(Class::E2) => row.e2 += 1,
            Verdict::Crash(Class::E3) => row.e3 += 1,
            Verdict::Silent(why) => {
                row.silent += 1;
                if std::env::var_os("TWINKV_DAMAGE_VERBOSE").is_some() {
                    println!("SILENT [{medium} / {life}] {}: {why}", f.describe(t));
                }
                if row.first.is_none() {
                    row.first = Some(format!("{}: {why}", f.describe(t)));
                }
            }
        }
    }

    pub fn silent(&self) -> u64 {
        self.rows.values().map(|r| r.silent).sum()
    }

    pub fn tried(&self) -> u64 {
        self.rows.values().map(|r| r.tried).sum()
    }

    /// The table per medium, lifecycle and fault kind, a subtotal per
    /// (medium, lifecycle), then the first silent case of each row.
    pub fn render(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n== {title} ==");
        let _ = writeln!(
            s,
            "{:<12} {:<14} {:<12} {:>7} {:>8} {:>8} {:>6} {:>6} {:>6} {:>7} {:>9}",
            "medium",
            "lifecycle",
            "fault",
            "tried",
            "harmless",
            "reported",
            "E1",
            "E2",
            "E3",
            "SILENT",
            "available"
        );
        let line = |s: &mut String, m: &str, l: &str, k: &str, r: &Row| {
            let _ = writeln!(
                s,
                "{:<12} {:<14} {:<12} {:>7} {:>8} {:>8} {:>6} {:>6} {:>6} {:>7} {:>9}",
                m, l, k, r.tried, r.harmless, r.reported, r.e1, r.e2, r.e3, r.silent, r.available
            );
        };
        let mut total = Row::default();
        for (m, l) in &self.order {
            let mut sub = Row::default();
            for k in Kind::ALL {
                if let Some(r) = self.rows.get(&(m.clone(), l.clone(), k)) {
                    line(&mut s, m, l, k.name(), r);
                    sub.add(r);
                }
            }
            line(&mut s, m, l, "= all", &sub);
            total.add(&sub);
        }
        line(&mut s, "TOTAL", "", "", &total);
        let firsts: Vec<_> = self
            .order
            .iter()
            .flat_map(|(m, l)| {
                Kind::ALL.iter().filter_map(move |k| {
                    self.rows
                        .get(&(m.clone(), l.clone(), *k))
                        .and_then(|r| r.first.as_ref())
                        .map(|f| format!("  [{m} / {l} / {}] {f}", k.name()))
                })
            })
            .collect();
        if !firsts.is_empty() {
            let _ = writeln!(s, "first silent case per row:");
            for f in firsts {
                let _ = writeln!(s, "{f}");
            }
        }
        if !self.classes.is_empty() {
            let _ = writeln!(
                s,
                "distinct silent cases (medium | where the fault starts | fault | symptom): count, first case"
            );
            for ((m, z, k, sy), (n, first)) in &self.classes {
                let _ = writeln!(s, "  {m} | {z} | {} | {sy}: {n}, e.g. {first}", k.name());
            }
        }
        s
    }

    /// Prints the table and fails if anything was silent.
    pub fn finish(&self, title: &str) {
        println!("{}", self.render(title));
        assert!(self.tried() > 0, "{title}: no fault was tried");
        assert_eq!(
            self.silent(),
            0,
            "{title}: {} silent outcomes (table above, run with --nocapture)",
            self.silent()
        );
    }
}

/// Whether the long (exhaustive) variant was asked for: the `#[ignore]`d
/// tests call the sweeps with `long = true`.
pub fn faults_for(t: &Trace, long: bool, sample: usize, seed: u64, one_bit: bool) -> Vec<Fault> {
    let mut v = unit_faults(t);
    if long {
        v.extend(byte_faults_all(t, one_bit, seed));
    } else {
        v.extend(byte_faults_sample(t, sample, seed));
    }
    v
}

// ----- core helpers (any region) ---------------------------------------------

/// Runs every fault of `faults` through `probe` and counts it in `table`.
pub fn sweep(
    table: &mut Table,
    medium: &str,
    life: &str,
    t: &Trace,
    faults: &[Fault],
    mut probe: impl FnMut(&Image) -> Probe,
) {
    for f in faults {
        let Some(a) = apply(t, f) else { continue };
        let p = probe(&a.image);
        table.count(medium, life, t, f, &a, &judge(t, f, &a, &p));
    }
}

/// Maps a core error of an open.
/// A read-only open's `ReadOnly` means "empty storage, nothing to read" only
/// when `empty` (the image reads erased throughout); on anything else it
/// names no damage and counts as a failed open.
pub fn core_refusal<E: std::fmt::Debug>(
    e: &crate::Error<E>,
    read_only: bool,
    keys: usize,
    empty: bool,
) -> Opened {
    use crate::Error;
    match e {
        Error::Corrupted | Error::Unrecognised | Error::UnsupportedFormat => {
            Opened::Refused(format!("{e:?}"))
        }
        // A read-only open of empty storage: nothing to read.
        Error::ReadOnly if read_only && empty => Opened::Ok {
            generation: 0,
            damage: false,
            reads: vec![Read::Absent; keys],
        },
        Error::ReadOnly if read_only => {
            Opened::Failed("ReadOnly on storage that is not empty (names no damage)".into())
        }
        e => Opened::Failed(format!("{e:?}")),
    }
}

/// Both images read erased throughout.
pub fn is_empty(img: &Image) -> bool {
    img.iter().all(|r| r.iter().all(|&b| b == 0xFF))
}

/// One core `get` as a [`Read`].
pub fn core_read<E: std::fmt::Debug>(
    r: Result<Option<usize>, crate::Error<E>>,
    buf: &[u8],
) -> Read {
    match r {
        Ok(Some(n)) => Read::Value(buf[..n].to_vec()),
        Ok(None) => Read::Absent,
        Err(crate::Error::Corrupted) => Read::Corrupted,
        Err(e) => Read::Error(format!("{e:?}")),
    }
}

/// An opened core store: its generation, damage and every key of `keys`.
pub fn core_opened<R, I, B>(s: &mut crate::Store<R, I, B>, keys: &[Vec<u8>]) -> Opened
where
    R: crate::Region,
    I: crate::Index,
    B: AsMut<[u8]>,
{
    let st = s.stats();
    let mut buf = [0u8; 256];
    let reads = keys
        .iter()
        .map(|k| {
            let r = s.get(k, &mut buf);
            core_read(r, &buf)
        })
        .collect();
    Opened::Ok {
        generation: st.generation,
        damage: st.damage_found_at_open > 0 || st.damaged_keys > 0,
        reads,
    }
}

/// A core write's result as the prober reports it.
pub fn core_wrote<E: std::fmt::Debug>(r: Result<(), crate::Error<E>>) -> Result<(), Read> {
    match r {
        Ok(()) => Ok(()),
        Err(crate::Error::Corrupted) => Err(Read::Corrupted),
        Err(e) => Err(Read::Error(format!("{e:?}"))),
    }
}

/// `keys` followed by [`NEW_KEY`].
pub fn with_new(keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut k = keys.to_vec();
    k.push(NEW_KEY.to_vec());
    k
}

/// Judges a probe of the undamaged image (the harness's self-check).
pub fn judge_unfaulted(t: &Trace, p: &Probe) -> (Verdict, bool) {
    let f = Fault {
        region: 1 - t.active,
        kind: Kind::Flip,
        at: 0,
        arg: 0,
    };
    let a = Applied {
        image: t.image.clone(),
        first: 0,
        last: 0,
    };
    judge(t, &f, &a, p)
}
