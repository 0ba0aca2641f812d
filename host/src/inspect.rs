//! Looking inside regions: every record of both regions, what is intact,
//! what is torn or damaged and where ([`analyze_region`]), and the verdict on a
//! whole store ([`verify_store`], [`verify_image`]). Read-only throughout.

use std::path::{Path, PathBuf};

use twinkv_core::format::header::HeaderError;
use twinkv_core::format::record::{self, Kind, RecordHeader, Slot};
use twinkv_core::format::{Layout, Marker, MarkerState, RegionHeader, Seal, HEADER_LEN};
use twinkv_core::{Config, Geometry, RegionId, Stats};

use crate::error::{Error, Result};
use crate::files::region_paths;
use crate::memregion::{AnyRegion, MemRegion};

/// What a region's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderState {
    /// The region reads `0xFF` throughout.
    Empty,
    /// The header reads erased but later bytes do not (a half-erased region).
    ErasedHeader,
    /// Not a twinkv header.
    Invalid,
    /// A twinkv header of a format version this build does not read.
    Unsupported(u16),
    /// A valid header.
    Valid(RegionHeader),
}

/// One record found by the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Offset in the region.
    pub offset: u32,
    /// Stored length (aligned).
    pub len: u32,
    /// Kind.
    pub kind: Kind,
    /// The key bytes (empty for system records).
    pub key: Vec<u8>,
    /// Value length.
    pub value_len: u32,
    /// Whether the record check matches.
    pub intact: bool,
}

/// What kind of problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A record with a valid header whose check fails (torn or damaged).
    DamagedRecord,
    /// Bytes that are neither a record header nor erased (a gap up to the
    /// next intact record, or to the end).
    Gap,
    /// Erased bytes followed by programmed ones.
    Hole,
    /// A batch whose commit record is missing or does not match.
    UncommittedBatch,
    /// A sync marker whose coverage check (CRC-32C of every byte since the
    /// previous sync point) fails: bytes of a synced span changed afterwards
    /// (FORMAT.md §6.3); `offset..end` is the span.
    SyncCoverage,
}

/// A problem at `offset..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where it starts.
    pub offset: u32,
    /// Where the walk resumed (or the region's end).
    pub end: u32,
    /// What it is.
    pub kind: ProblemKind,
}

/// Everything a walk over one region found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionReport {
    /// Region size in bytes.
    pub size: u32,
    /// The header.
    pub header: HeaderState,
    /// "switching", "commit" and "superseded" (when the header is valid).
    pub markers: Option<[MarkerState; 3]>,
    /// Every record, intact or not, in log order.
    pub records: Vec<RecordInfo>,
    /// Every problem, in log order.
    pub problems: Vec<Problem>,
    /// Where the log ends (the first offset from which the region reads erased
    /// to its end), or `None` if it never does.
    pub log_end: Option<u32>,
}

impl RegionReport {
    /// The valid header, if any.
    pub fn valid_header(&self) -> Option<RegionHeader> {
        match self.header {
            HeaderState::Valid(h) => Some(h),
            _ => None,
        }
    }
    /// Whether the commit marker is valid.
    pub fn committed(&self) -> bool {
        matches!(self.markers, Some([_, MarkerState::Valid(_), _]))
    }
    /// Whether the superseded marker is set (valid or torn).
    pub fn superseded(&self) -> bool {
        matches!(self.markers, Some([_, _, s]) if s.is_set())
    }
    /// Whether the switching marker is set (valid or torn).
    pub fn switching(&self) -> bool {
        matches!(self.markers, Some([s, _, _]) if s.is_set())
    }
}

fn is_erased(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0xFF)
}

/// Walks one region's bytes (any write unit): header, markers, every record,
/// every problem. Never fails and never panics, whatever the bytes.
pub fn analyze_region(bytes: &[u8], write_unit: u32) -> RegionReport {
    let size = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let layout = Layout::new(write_unit);
    let mut report = RegionReport {
        size,
        header: HeaderState::Invalid,
        markers: None,
        records: Vec::new(),
        problems: Vec::new(),
        log_end: None,
    };
    let d = layout.data_start() as usize;
    if bytes.len() < d {
        report.header = if is_erased(bytes) {
            HeaderState::Empty
        } else {
            HeaderState::Invalid
        };
        return report;
    }
    let mut hb = [0u8; HEADER_LEN];
    hb.copy_from_slice(&bytes[..HEADER_LEN]);
    let h = match RegionHeader::decode(&hb) {
        Ok(h) if u32::from(h.write_unit) == write_unit => h,
        Ok(_) => return report,
        Err(HeaderError::Erased) => {
            report.header = if is_erased(bytes) {
                HeaderState::Empty
            } else {
                HeaderState::ErasedHeader
            };
            return report;
        }
        Err(HeaderError::Invalid) => return report,
        Err(HeaderError::UnsupportedVersion(v)) => {
            report.header = HeaderState::Unsupported(v);
            return report;
        }
    };
    report.header = HeaderState::Valid(h);
    let seal = Seal {
        store_id: h.store_id,
        generation: h.generation,
    };
    let slot = |m: Marker| {
        let at = layout.slot(m) as usize;
        &bytes[at..at + layout.marker_slot as usize]
    };
    report.markers = Some([
        Marker::Switching.read(seal, slot(Marker::Switching)),
        Marker::Commit.read(seal, slot(Marker::Commit)),
        Marker::Superseded.read(seal, slot(Marker::Superseded)),
    ]);
    let (max_key, max_value) = (u32::from(h.max_key_len), h.max_value_len);
    let w = write_unit as usize;
    let header_at = |pos: usize| -> Slot {
        let end = (pos + 16).min(bytes.len());
        match record::decode_header(&bytes[pos..end], max_key, max_value) {
            Slot::Header(rh) => match rh.stored_len(write_unit) {
                Some(l) if pos + l as usize <= bytes.len() => Slot::Header(rh),
                _ => Slot::Invalid,
            },
            s => s,
        }
    };
    let intact_at = |pos: usize| -> Option<RecordHeader> {
        match header_at(pos) {
            Slot::Header(rh)
                if !matches!(rh.kind, Kind::Reserved(_))
                    && record::verify(&bytes[pos..], &rh, seal) =>
            {
                Some(rh)
            }
            _ => None,
        }
    };
    // The next intact record at or after `from`.
    let resync = |from: usize| -> Option<usize> {
        let mut q = from.div_ceil(w) * w;
        while q + 8 <= bytes.len() {
            if intact_at(q).is_some() {
                return Some(q);
            }
            q += w;
        }
        None
    };
    let mut pos = d;
    while pos < bytes.len() {
        if bytes.len() - pos < 8 {
            if is_erased(&bytes[pos..]) {
                report.log_end = Some(pos as u32);
            } else {
                report.problems.push(Problem {
                    offset: pos as u32,
                    end: size,
                    kind: ProblemKind::Gap,
                });
            }
            return report;
        }
        let rh = match header_at(pos) {
            Slot::Erased if is_erased(&bytes[pos..]) => {
                report.log_end = Some(pos as u32);
                return report;
            }
            s @ (Slot::Erased | Slot::Invalid) => {
                let next = resync(pos + w);
                report.problems.push(Problem {
                    offset: pos as u32,
                    end: next.map_or(size, |n| n as u32),
                    kind: if s == Slot::Erased {
                        ProblemKind::Hole
                    } else {
                        ProblemKind::Gap
                    },
                });
                match next {
                    Some(n) => {
                        pos = n;
                        continue;
                    }
                    None => return report,
                }
            }
            Slot::Header(rh) => rh,
        };
        let len = rh.stored_len(write_unit).unwrap_or(size) as usize;
        let intact = record::verify(&bytes[pos..], &rh, seal);
        let hl = rh.header_len() as usize;
        let key = bytes[pos + hl..pos + hl + rh.key_len as usize].to_vec();
        report.records.push(RecordInfo {
            offset: pos as u32,
            len: len as u32,
            kind: rh.kind,
            key,
            value_len: rh.value_len,
            intact,
        });
        if !intact {
            report.problems.push(Problem {
                offset: pos as u32,
                end: (pos + len) as u32,
                kind: ProblemKind::DamagedRecord,
            });
        } else if rh.kind == Kind::SyncMarker {
            let v0 = pos + hl;
            let v = &bytes[v0..v0 + 8];
            let prev = record::value_u32(v, 0).unwrap_or(0) as usize;
            let coverage = record::value_u32(v, 1).unwrap_or(0);
            let ok = prev >= d
                && prev <= pos
                && twinkv_core::format::checks::CRC32C_PUBLIC.checksum(&bytes[prev..pos])
                    == coverage;
            if !ok {
                report.problems.push(Problem {
                    offset: prev.min(pos) as u32,
                    end: pos as u32,
                    kind: ProblemKind::SyncCoverage,
                });
            }
        } else if rh.kind == Kind::BatchBegin
            && !batch_committed(bytes, pos, &rh, write_unit, &intact_at)
        {
            report.problems.push(Problem {
                offset: pos as u32,
                end: (pos + len) as u32,
                kind: ProblemKind::UncommittedBatch,
            });
        }
        pos += len.max(w);
    }
    report.log_end = Some(size);
    report
}

/// Whether the batch beginning at `b` has its matching commit (FORMAT.md §5;
/// the batch check over the inner records is left to core).
fn batch_committed(
    bytes: &[u8],
    b: usize,
    h: &RecordHeader,
    w: u32,
    intact_at: &dyn Fn(usize) -> Option<RecordHeader>,
) -> bool {
    let v0 = b + h.header_len() as usize;
    let Some(v) = bytes.get(v0..v0 + 8) else {
        return false;
    };
    let (count, inner) = (record::value_u32(v, 0), record::value_u32(v, 1));
    let Some(c) = h
        .stored_len(w)
        .and_then(|l| l.checked_add(inner.unwrap_or(u32::MAX)))
        .map(|x| b + x as usize)
    else {
        return false;
    };
    if c + 8 > bytes.len() {
        return false;
    }
    let Some(ch) = intact_at(c) else {
        return false;
    };
    if ch.kind != Kind::BatchCommit || ch.value_len != 16 {
        return false;
    }
    let c0 = c + ch.header_len() as usize;
    let Some(cv) = bytes.get(c0..c0 + 16) else {
        return false;
    };
    record::value_u32(cv, 0) == u32::try_from(b).ok()
        && record::value_u32(cv, 1) == count
        && record::value_u32(cv, 2) == inner
}

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
    let g = Geometry {
        size: u32::try_from(rs).unwrap_or(0),
        read_unit: 1,
        write_unit,
        erase_unit,
    };
    if !g.is_valid() {
        return Err(Error::InvalidOptions(format!(
            "write unit {write_unit} (one of 1, 2, 4, 8, 16, 32), erase unit {erase_unit} \
             (a power of two from the write unit to 1 MiB) and region size {rs} \
             (a multiple of the erase unit) do not make a valid geometry"
        )));
    }
    let a = image[..rs].to_vec();
    let b = image[rs..2 * rs].to_vec();
    verify_bytes(
        [("A".to_string(), Some(a)), ("B".to_string(), Some(b))],
        write_unit,
        erase_unit,
        true,
    )
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
    let geometry = |len: usize| Geometry {
        size: u32::try_from(len).unwrap_or(0),
        read_unit: 1,
        write_unit: w,
        erase_unit: e,
    };
    let (ga, gb) = (geometry(a.len()), geometry(b.len()));
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
        open_copies(&ra, &rb, a, b, ga, gb, in_order)
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

fn open_copies(
    ra: &RegionReport,
    rb: &RegionReport,
    a: Vec<u8>,
    b: Vec<u8>,
    ga: Geometry,
    gb: Geometry,
    in_order: bool,
) -> std::result::Result<Opened, String> {
    let best = [ra, rb]
        .into_iter()
        .filter_map(|r| {
            r.valid_header()
                .map(|h| (r.committed() && !r.superseded(), h))
        })
        .max_by_key(|(c, h)| (*c, h.generation));
    let Some((_, h)) = best else {
        if ra.header == HeaderState::Empty && rb.header == HeaderState::Empty {
            return Err("both regions are empty (nothing written yet)".to_string());
        }
        return Err("neither region has a valid twinkv header".to_string());
    };
    let config = Config::new(h.store_id)
        .with_limits(h.max_key_len, h.max_value_len)
        .with_ratios(h.high_water_bp, h.max_fill_bp)
        .adopting_store_id();
    let region = |v: Vec<u8>, g: Geometry| {
        MemRegion::new(v, g, in_order)
            .map(AnyRegion::Mem)
            .map_err(|e| e.to_string())
    };
    let scratch = vec![
        0u8;
        twinkv_core::Store::<AnyRegion, crate::VecIndex, Vec<u8>>::scratch_len(
            &config,
            ga.write_unit
        )
    ];
    let store = twinkv_core::Store::open_read_only(
        region(a, ga)?,
        region(b, gb)?,
        crate::VecIndex::new(),
        scratch,
        config,
    )
    .map_err(|e| e.to_string())?;
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

/// A key as text: UTF-8 in quotes when printable, else hex.
pub fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => format!("0x{}", hex(key)),
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
