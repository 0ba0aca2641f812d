//! Looking inside regions: every record of both regions, what is intact,
//! what is torn or damaged and where ([`analyze_region`], in `walk.rs`), and
//! the verdict on a whole store ([`verify_store`], [`verify_image`], here).
//! `text.rs` writes keys and bytes as text. Read-only throughout.

mod text;
mod walk;

use std::path::{Path, PathBuf};

use twinkv_core::format::record::Kind;
use twinkv_core::format::Layout;
use twinkv_core::{Geometry, RegionId, Stats};

use crate::error::{CoreError, Error, Result};
use crate::files::region_paths;
use crate::options::recorded_config;
use crate::region::{AnyRegion, MemRegion};
pub use text::{hex, show_key};
pub use walk::{analyze_region, HeaderState, Problem, ProblemKind, RecordInfo, RegionReport};

/// The verdict on a store or image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to report.
    Clean,
    /// Normal leftovers of a crash (torn tail, interrupted switch): nothing
    /// acknowledged is lost, and the next writable open or write settles them.
    Recoverable(Vec<String>),
    /// Damage: some data cannot be trusted, or the store cannot be opened.
    Corrupt(Vec<String>),
}

impl Verdict {
    /// "clean", "recoverable" or "corrupt".
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Recoverable(_) => "recoverable",
            Verdict::Corrupt(_) => "corrupt",
        }
    }
}

/// What [`verify_store`] and [`verify_image`] found.
#[derive(Debug)]
pub struct Report {
    /// The two regions (A, B) with a name each (file path or "A"/"B").
    pub regions: [(String, RegionReport); 2],
    /// Core's read-only open of both: its statistics, or why it failed.
    pub open: std::result::Result<Stats, String>,
    /// Every damaged record of the active region (`(offset, key)`) that
    /// `repair` would drop; keys are empty for unknown ones.
    pub damaged: Vec<(u32, Vec<u8>)>,
    /// [`verify_image`] only: every live key and value that reads back
    /// intact, sorted by key (a key whose value fails its check is left out
    /// and counted in the verdict). [`verify_store`] leaves it empty: the
    /// store's own API reads those.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Verifies the store at `base`: both files, every record. Takes a shared lock
/// (so [`Error::Locked`] while a writer holds it) unless `snapshot`, which
/// reads the files without a lock (see [`Store::open_snapshot`](crate::Store::open_snapshot)).
pub fn verify_store(base: &Path, snapshot: bool) -> Result<Report> {
    let (pa, pb) = region_paths(base);
    let (a, b) = if snapshot {
        crate::store::read_snapshot(base)?
    } else {
        // Hold shared locks while reading (a store that core refuses to open
        // is a finding, so the store itself is not opened here).
        // The locked handles are read, never the paths again: a FIFO or a
        // device is refused before it is opened, and nothing swapped in
        // after the check is read.
        let [fa, fb] = crate::files::lock_shared(base)?;
        let read = |p: &PathBuf, f: &Option<std::fs::File>| match f {
            Some(f) => crate::files::read_all(p, f),
            None => Ok(None),
        };
        (read(&pa, &fa)?, read(&pb, &fb)?)
    };
    let name = |p: &PathBuf| p.display().to_string();
    verify_bytes(
        [(name(&pa), a), (name(&pb), b)],
        crate::WRITE_UNIT,
        crate::ERASE_UNIT,
        false,
    )
}

/// Verifies a raw image: region A then region B, back to back, of a device
/// with write unit `write_unit` and erase unit `erase_unit`; `region_size`
/// defaults to half the image.
pub fn verify_image(
    image: &[u8],
    write_unit: u32,
    erase_unit: u32,
    region_size: Option<u32>,
) -> Result<Report> {
    let (a, b) = image_halves(image, write_unit, erase_unit, region_size)?;
    verify_bytes(
        [("A".to_string(), Some(a)), ("B".to_string(), Some(b))],
        write_unit,
        erase_unit,
        true,
    )
}

/// What [`salvage_image`] could still read.
#[derive(Clone, Debug)]
pub struct Salvaged {
    /// Core's statistics of the state read; `salvaged` is set when it may be
    /// older than the last acknowledged write (core's `open_salvage`).
    pub stats: Stats,
    /// Live values that fail their check (left out of `entries`).
    pub unreadable: usize,
    /// The intact live entries, sorted.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Reads what can still be read of a raw image (as [`verify_image`] takes
/// it) whose store core refuses to open because its newest state is
/// damaged: core's `open_salvage`, which presents the newer region read
/// with the store id and generation its commit proves, else the older
/// committed region, and flags the state as possibly older than the last
/// acknowledged write. On an image that opens normally, its live entries.
/// Reads only its argument.
pub fn salvage_image(
    image: &[u8],
    write_unit: u32,
    erase_unit: u32,
    region_size: Option<u32>,
) -> Result<Salvaged> {
    let (a, b) = image_halves(image, write_unit, erase_unit, region_size)?;
    let (ra, rb) = (
        analyze_region(&a, write_unit),
        analyze_region(&b, write_unit),
    );
    let g = geometry(a.len(), write_unit, erase_unit);
    let (stats, unreadable, entries) =
        open_copies(&ra, &rb, [a, b], [g, g], true, true).map_err(|u| match u {
            Unopened::Core(e) => Error::Core(e),
            // Nothing of a store to read: what core says of such regions.
            Unopened::BothEmpty => Error::Core(CoreError::ReadOnly),
            Unopened::NoHeader => Error::Core(CoreError::Unrecognised),
        })?;
    Ok(Salvaged {
        stats,
        unreadable,
        entries,
    })
}

/// The geometry of a region of `len` bytes.
fn geometry(len: usize, write_unit: u32, erase_unit: u32) -> Geometry {
    Geometry {
        size: u32::try_from(len).unwrap_or(0),
        read_unit: 1,
        write_unit,
        erase_unit,
    }
}

/// Regions A and B of an image, checked against the geometry.
fn image_halves(
    image: &[u8],
    write_unit: u32,
    erase_unit: u32,
    region_size: Option<u32>,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let total = image.len();
    let rs = match region_size {
        Some(s) => s as usize,
        None => total / 2,
    };
    if rs == 0 || rs > total / 2 {
        return Err(Error::InvalidOptions(format!(
            "two regions of {rs} bytes do not fit an image of {total} bytes"
        )));
    }
    if !geometry(rs, write_unit, erase_unit).is_valid() {
        return Err(Error::InvalidOptions(format!(
            "write unit {write_unit} (one of 1, 2, 4, 8, 16, 32), erase unit {erase_unit} \
             (a power of two from the write unit to 1 MiB) and region size {rs} \
             (a multiple of the erase unit) do not make a valid geometry"
        )));
    }
    Ok((image[..rs].to_vec(), image[rs..2 * rs].to_vec()))
}

fn verify_bytes(
    regions: [(String, Option<Vec<u8>>); 2],
    w: u32,
    e: u32,
    in_order: bool,
) -> Result<Report> {
    let [(na, a), (nb, b)] = regions;
    let partner = a.as_ref().or(b.as_ref()).map_or(0, |v| v.len());
    let a = a.unwrap_or_else(|| vec![0xFF; partner]);
    let b = b.unwrap_or_else(|| vec![0xFF; partner]);
    let ra = analyze_region(&a, w);
    let rb = analyze_region(&b, w);
    let (ga, gb) = (geometry(a.len(), w, e), geometry(b.len(), w, e));
    let mut findings_bad = Vec::new();
    let mut findings_ok = Vec::new();
    let mut damaged = Vec::new();
    let open = if !ga.is_valid() || !gb.is_valid() {
        Err(format!(
            "region sizes {} / {} do not fit write unit {w} and erase unit {e}",
            a.len(),
            b.len()
        ))
    } else {
        open_copies(&ra, &rb, [a, b], [ga, gb], in_order, false).map_err(|u| u.to_string())
    };
    let both_empty = ra.header == HeaderState::Empty && rb.header == HeaderState::Empty;
    match &open {
        // Nothing written yet: a store that a writable open formats.
        Err(_) if both_empty => {}
        Err(msg) => findings_bad.push(format!("the store cannot be opened: {msg}")),
        Ok((stats, bad_values, _)) => {
            let (active_name, active, inactive_name, inactive) = match stats.active {
                RegionId::A => (&na, &ra, &nb, &rb),
                RegionId::B => (&nb, &rb, &na, &ra),
            };
            let d = Layout::new(w).data_start();
            let tail = if stats.dirty_tail {
                Some(d + stats.used_bytes)
            } else {
                None
            };
            for p in &active.problems {
                let what = describe(p);
                if tail.is_some_and(|t| p.offset >= t) {
                    findings_ok.push(format!(
                        "{active_name}: torn tail at offset {} ({what}; written after the last sync point and ignored)",
                        p.offset
                    ));
                } else {
                    findings_bad.push(format!(
                        "{active_name}: {what} at offset {}..{}",
                        p.offset, p.end
                    ));
                }
            }
            for r in &active.records {
                let before_tail = tail.is_none_or(|t| r.offset < t);
                if before_tail && (r.kind == Kind::Damaged || !r.intact) {
                    damaged.push((r.offset, r.key.clone()));
                }
                if before_tail && r.intact && r.kind == Kind::Damaged {
                    findings_bad.push(format!(
                        "{active_name}: damaged-key record at offset {} ({}): a value lost earlier",
                        r.offset,
                        if r.key.is_empty() {
                            "keys unknown".to_string()
                        } else {
                            format!("key {}", show_key(&r.key))
                        }
                    ));
                }
            }
            if stats.dirty_tail
                && !active
                    .problems
                    .iter()
                    .any(|p| tail.is_some_and(|t| p.offset >= t))
            {
                findings_ok.push(format!("{active_name}: the log ends in a dirty tail (ignored; the next write switches regions)"));
            }
            if stats.damage_found_at_open > 0 && findings_bad.is_empty() {
                findings_bad.push(format!(
                    "{active_name}: {} problem(s) before the last sync point (mid-log damage)",
                    stats.damage_found_at_open
                ));
            }
            if stats.damaged_keys > 0 {
                findings_bad.push(format!(
                    "{} key(s) or key groups answer with a corruption error",
                    stats.damaged_keys
                ));
            }
            if *bad_values > 0 {
                findings_bad.push(format!(
                    "{active_name}: {bad_values} live value(s) fail their check"
                ));
            }
            if stats.unfinished_switch {
                findings_ok.push(format!(
                    "{inactive_name}: switch unfinished (its superseded marker is missing; the next writable open sets it)"
                ));
            }
            match inactive.header {
                HeaderState::Valid(_) if !inactive.committed() => findings_ok.push(format!(
                    "{inactive_name}: uncommitted copy from an interrupted switch (ignored; erased by the next switch)"
                )),
                HeaderState::ErasedHeader | HeaderState::Invalid => findings_ok.push(format!(
                    "{inactive_name}: partly erased or partly written by an interrupted switch (ignored; erased by the next switch)"
                )),
                _ => {}
            }
        }
    }
    let verdict = if !findings_bad.is_empty() {
        findings_bad.extend(findings_ok);
        Verdict::Corrupt(findings_bad)
    } else if !findings_ok.is_empty() {
        Verdict::Recoverable(findings_ok)
    } else {
        Verdict::Clean
    };
    let (open, entries) = match open {
        Ok((s, _, entries)) => (Ok(s), entries),
        Err(e) => (Err(e), Vec::new()),
    };
    Ok(Report {
        regions: [(na, ra), (nb, rb)],
        open,
        damaged,
        verdict,
        entries,
    })
}

/// Core's statistics, the number of live values that fail their check, and
/// (images only) the intact live entries, sorted.
type Opened = (Stats, usize, Vec<(Vec<u8>, Vec<u8>)>);

/// Why [`open_copies`] opened nothing.
enum Unopened {
    /// Core refused.
    Core(CoreError),
    /// Both regions are empty.
    BothEmpty,
    /// Neither region has a valid header to take the configuration from.
    NoHeader,
}

impl core::fmt::Display for Unopened {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Unopened::Core(e) => write!(f, "{e}"),
            Unopened::BothEmpty => f.write_str("both regions are empty (nothing written yet)"),
            Unopened::NoHeader => f.write_str("neither region has a valid twinkv header"),
        }
    }
}

/// Opens core read-only on copies of both regions (`salvage`: core's
/// `open_salvage`), with the configuration the best header records.
fn open_copies(
    ra: &RegionReport,
    rb: &RegionReport,
    [a, b]: [Vec<u8>; 2],
    [ga, gb]: [Geometry; 2],
    in_order: bool,
    salvage: bool,
) -> std::result::Result<Opened, Unopened> {
    let best = [ra, rb]
        .into_iter()
        .filter_map(|r| {
            r.valid_header()
                .map(|h| (r.committed() && !r.superseded(), h))
        })
        .max_by_key(|(c, h)| (*c, h.generation));
    let Some((_, h)) = best else {
        if ra.header == HeaderState::Empty && rb.header == HeaderState::Empty {
            return Err(Unopened::BothEmpty);
        }
        return Err(Unopened::NoHeader);
    };
    let config = recorded_config(&h).adopting_store_id();
    let region = |v: Vec<u8>, g: Geometry| {
        MemRegion::new(v, g, in_order)
            .map(AnyRegion::Mem)
            .map_err(|e| Unopened::Core(CoreError::Region(e)))
    };
    let scratch = vec![
        0u8;
        twinkv_core::Store::<AnyRegion, crate::VecIndex, Vec<u8>>::scratch_len(
            &config,
            ga.write_unit
        )
    ];
    let (ra, rb, index) = (region(a, ga)?, region(b, gb)?, crate::VecIndex::new());
    let store = if salvage {
        twinkv_core::Store::open_salvage(ra, rb, index, scratch, config)
    } else {
        twinkv_core::Store::open_read_only(ra, rb, index, scratch, config)
    }
    .map_err(Unopened::Core)?;
    let stats = store.stats();
    // Every live value, checked; an image's are kept (a store's files are
    // read through the store API instead).
    let mut bad = 0;
    let mut entries = Vec::new();
    for r in store.iter_ref() {
        match r {
            Ok((k, v)) if in_order => entries.push((k.to_vec(), v.to_vec())),
            Ok(_) => {}
            Err(_) => bad += 1,
        }
    }
    entries.sort();
    Ok((stats, bad, entries))
}

fn describe(p: &Problem) -> &'static str {
    match p.kind {
        ProblemKind::DamagedRecord => "record whose check fails",
        ProblemKind::Gap => "bytes that are not a record",
        ProblemKind::Hole => "erased bytes followed by data",
        ProblemKind::UncommittedBatch => "batch without its commit",
        ProblemKind::SyncCoverage => "synced span whose coverage check fails",
    }
}
