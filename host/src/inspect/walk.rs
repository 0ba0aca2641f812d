//! The walk over one region's bytes ([`analyze_region`]): header, markers,
//! every record intact or not, every problem and where it is, and the types
//! that report them. Pure: bytes in, a report out.

use twinkv_core::all_erased;
use twinkv_core::format::area::{read_header_area, BatchBegin, SyncMarker};
use twinkv_core::format::header::HeaderError;
use twinkv_core::format::record::{self, Kind, RecordHeader, Slot};
use twinkv_core::format::{Layout, MarkerState, RegionHeader};

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
    /// A set stored as an update (kind 9, FORMAT.md §4.3): `kind` is then
    /// [`Kind::Set`].
    pub update: bool,
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
        report.header = if all_erased(bytes) {
            HeaderState::Empty
        } else {
            HeaderState::Invalid
        };
        return report;
    }
    let area = match read_header_area(bytes, layout, size) {
        Ok(a) if u32::from(a.header.write_unit) == write_unit => a,
        Ok(_) => return report,
        Err(HeaderError::Erased) => {
            report.header = if all_erased(bytes) {
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
    let h = area.header;
    report.header = HeaderState::Valid(h);
    let seal = h.seal();
    report.markers = Some([area.switching, area.commit, area.superseded]);
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
            if all_erased(&bytes[pos..]) {
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
            Slot::Erased if all_erased(&bytes[pos..]) => {
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
        let rec = &bytes[pos..];
        let key = rec[rh.key_range()].to_vec();
        report.records.push(RecordInfo {
            offset: pos as u32,
            len: len as u32,
            kind: rh.kind,
            update: record::is_update(rec[0]),
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
            let marker = SyncMarker::from_value(&rec[rh.value_range()]);
            if !marker.is_some_and(|m| m.covers(bytes, pos as u32, d as u32)) {
                let prev = marker.map_or(0, |m| m.prev_sync as usize);
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
    let Some(begin) = BatchBegin::from_value(&bytes[b..][h.value_range()]) else {
        return false;
    };
    let Some(c) = h
        .stored_len(w)
        .and_then(|l| begin.commit_at(b as u32, l))
        .map(|c| c as usize)
    else {
        return false;
    };
    if c + 8 > bytes.len() {
        return false;
    }
    let Some(ch) = intact_at(c) else {
        return false;
    };
    begin.closed_by(b as u32, &ch, &bytes[c..][ch.value_range()])
}
