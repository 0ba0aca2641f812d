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
use std::vec::Vec;
use std::{format, println, vec};

use super::front::KvStore;
use super::model::{Model, Write};
use super::workload::Rng;
use crate::format::record::stored_len;
use crate::{RegionId, Stats};

mod faults;
mod oracle;
mod report;
mod table;
pub use faults::*;
pub use oracle::*;
pub use report::*;
pub use table::*;

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

/// The read-write phase on a core store that opened (either front): its
/// stats, then one new key written.
pub fn core_write_phase<S: KvStore>(s: &mut S) -> (Opened, Option<Result<(), Read>>) {
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
    let commit_end = commit_end(&image[idx(after.active)], t.write_unit);
    record(t, step, &before, &after, sync_every_write, commit_end);
    if t.older.last() != Some(&image) {
        t.older.push(image.clone());
    }
    t.image = image;
    after.generation != before.generation
}

/// The data end the commit marker of `region` (an active region's bytes)
/// holds, if it reads valid.
fn commit_end(region: &[u8], write_unit: u32) -> Option<u32> {
    let layout = crate::format::Layout::new(write_unit);
    let area = crate::format::read_header_area(region, layout, region.len() as u32).ok()?;
    match area.commit {
        crate::format::marker::MarkerState::Valid(end) => Some(end),
        _ => None,
    }
}

fn idx(r: RegionId) -> usize {
    match r {
        RegionId::A => 0,
        RegionId::B => 1,
    }
}

fn record(
    t: &mut Trace,
    step: &Write,
    before: &Stats,
    after: &Stats,
    sync_every_write: bool,
    commit_end: Option<u32>,
) {
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
    // The commit's data end: the log's end, unless the call committed a
    // switch the write before it prepared and then appended its own
    // records (FORMAT.md §7.4), which lie past the sync point (unless the
    // call synced them: a sync, or a write in sync-every-write mode).
    let synced_end = match step {
        _ if sync_every_write => end,
        Write::Sync => end,
        _ => commit_end.filter(|&c| c < end).unwrap_or(end),
    };
    if switched && synced_end < end {
        t.switches += 1;
        for k in t.history.keys() {
            t.spans.insert(
                k.clone(),
                Span {
                    start: d,
                    end: synced_end,
                },
            );
        }
        for k in step.keys() {
            t.spans.insert(
                k,
                Span {
                    start: synced_end,
                    end,
                },
            );
        }
        t.sync_point = synced_end;
        t.syncs = vec![(d, synced_end)];
        t.newest = synced_end;
    } else if switched {
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

/// An opened core store (either front): its generation, damage and every
/// key of `keys`.
pub fn core_opened<S: KvStore>(s: &mut S, keys: &[Vec<u8>]) -> Opened {
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
