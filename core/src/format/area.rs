//! A region's header area and the log checks that tools and the journal
//! share, from bytes: pure functions, no I/O (FORMAT.md §2, §3, §5, §6.3).
//!
//! ```text
//! 0 header (48 B, padded to align(48)) | switching slot | commit slot
//! | superseded slot (align(12) each) | D: the first record
//! ```
//!
//! - [`read_header_area`] classifies the first bytes of a region: its header,
//!   and each marker slot erased, valid or torn ([`marker_state`], where a
//!   commit's data end must lie in `D..=size`). The rule that a commit counts
//!   only if four reads of its slot are identical is about reading a medium,
//!   and stays with the journal, which reads it.
//! - [`BatchBegin`] says where a batch's commit must be and whether a commit
//!   record closes it (§5).
//! - [`SyncMarker`] checks a sync marker's coverage of the bytes before it
//!   (§6.3).
//!
//! Whether the rest of a region reads erased (an empty region against one
//! whose header alone was erased) is the caller's question:
//! [`all_erased`] answers it for bytes at hand.

use super::checks::CRC32C;
use super::header::{HeaderError, HEADER_LEN};
use super::marker::{Marker, MarkerState};
use super::record::{self, Kind, RecordHeader};
use super::{Layout, RegionHeader, Seal};
use crate::{all_erased, ERASED};

/// The most bytes a header area takes (write unit 32: `D` = 160).
pub const MAX_AREA_LEN: usize = Layout::new(32).data_start() as usize;

/// A valid region header and the states of its three marker slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HeaderArea {
    /// The decoded header.
    pub header: RegionHeader,
    /// "switching": valid or torn means a switch out of the region began.
    pub switching: MarkerState,
    /// "commit": only valid counts (its argument is the data end).
    pub commit: MarkerState,
    /// "superseded": valid or torn means the successor is committed.
    pub superseded: MarkerState,
}

impl HeaderArea {
    /// The state of `marker`'s slot.
    pub const fn marker(&self, marker: Marker) -> MarkerState {
        match marker {
            Marker::Switching => self.switching,
            Marker::Commit => self.commit,
            Marker::Superseded => self.superseded,
        }
    }

    /// Whether the commit marker is valid.
    pub const fn committed(&self) -> bool {
        self.commit.is_valid()
    }
}

/// Classifies the first bytes of a region laid out for `layout`'s write unit,
/// `size` bytes long (FORMAT.md §2, §3).
///
/// `bytes` is the region from offset 0: the header area, or less when the
/// region (a file) is shorter, and then the missing bytes read as erased; a
/// region too short for a header whose bytes are not all erased is not a
/// header. The markers are read at `layout`'s slots and sealed with the
/// header's store id and generation, whatever write unit the header records:
/// comparing the two is the caller's rule.
pub fn read_header_area(
    bytes: &[u8],
    layout: Layout,
    size: u32,
) -> Result<HeaderArea, HeaderError> {
    let mut area = [ERASED; MAX_AREA_LEN];
    let n = bytes
        .len()
        .min(layout.data_start() as usize)
        .min(MAX_AREA_LEN);
    area[..n].copy_from_slice(&bytes[..n]);
    let mut hb = [0u8; HEADER_LEN];
    hb.copy_from_slice(&area[..HEADER_LEN]);
    if n < HEADER_LEN && !all_erased(&hb) {
        return Err(HeaderError::Invalid);
    }
    let header = RegionHeader::decode(&hb)?;
    let seal = header.seal();
    let state = |m: Marker| {
        let at = layout.slot(m) as usize;
        let slot = area
            .get(at..at + layout.marker_slot as usize)
            .unwrap_or(&[]);
        marker_state(m, seal, slot, layout, size)
    };
    Ok(HeaderArea {
        header,
        switching: state(Marker::Switching),
        commit: state(Marker::Commit),
        superseded: state(Marker::Superseded),
    })
}

/// The state of marker `m` from the bytes of its whole slot (FORMAT.md §3):
/// erased, valid, or torn; a commit whose data end lies outside `D..=size`
/// (`D` from `layout`, `size` the region's) is torn.
pub fn marker_state(m: Marker, seal: Seal, slot: &[u8], layout: Layout, size: u32) -> MarkerState {
    match m.read(seal, slot) {
        MarkerState::Valid(end)
            if m == Marker::Commit && (end < layout.data_start() || end > size) =>
        {
            MarkerState::Torn
        }
        s => s,
    }
}

/// A batch begin record's value (FORMAT.md §5): how many records the batch
/// holds and how many bytes they take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BatchBegin {
    /// Number of inner records.
    pub count: u32,
    /// Stored bytes of the inner records.
    pub inner_len: u32,
}

impl BatchBegin {
    /// Reads a begin record's value (8 bytes); `None` when shorter.
    pub fn from_value(value: &[u8]) -> Option<Self> {
        Some(BatchBegin {
            count: record::value_u32(value, 0)?,
            inner_len: record::value_u32(value, 1)?,
        })
    }

    /// Where the batch's commit record starts: past the begin record
    /// (`begin_len` stored bytes at `begin`) and the inner records. `None` on
    /// overflow.
    pub const fn commit_at(&self, begin: u32, begin_len: u32) -> Option<u32> {
        match begin.checked_add(begin_len) {
            Some(x) => x.checked_add(self.inner_len),
            None => None,
        }
    }

    /// Whether the intact record `commit` (header `h`, value `value`) closes
    /// the batch begun at offset `begin`: a batch commit (no key, a 16-byte
    /// value) naming this begin's offset, count and inner length. Its batch
    /// check over the inner records is the caller's to compare.
    pub fn closed_by(&self, begin: u32, h: &RecordHeader, value: &[u8]) -> bool {
        is_batch_commit(h)
            && record::value_u32(value, 0) == Some(begin)
            && record::value_u32(value, 1) == Some(self.count)
            && record::value_u32(value, 2) == Some(self.inner_len)
    }
}

/// Whether `h` has the shape of a batch commit: kind, no key, a 16-byte value.
pub fn is_batch_commit(h: &RecordHeader) -> bool {
    h.kind == Kind::BatchCommit && h.key_len == 0 && h.value_len == 16
}

/// A sync marker's value (FORMAT.md §6.3): the previous sync point and the
/// CRC-32C of every byte from it up to the marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SyncMarker {
    /// The previous sync point.
    pub prev_sync: u32,
    /// CRC-32C of `prev_sync..` the marker.
    pub coverage: u32,
}

impl SyncMarker {
    /// Reads a sync marker's value (8 bytes); `None` when shorter.
    pub fn from_value(value: &[u8]) -> Option<Self> {
        Some(SyncMarker {
            prev_sync: record::value_u32(value, 0)?,
            coverage: record::value_u32(value, 1)?,
        })
    }

    /// Whether the marker at offset `at` of `region` (the region's bytes
    /// from offset 0, at least up to `at`) covers what it says: its previous
    /// sync point lies in `data_start..=at` and the bytes from there to `at`
    /// have its coverage check.
    pub fn covers(&self, region: &[u8], at: u32, data_start: u32) -> bool {
        let (prev, at) = (self.prev_sync, at);
        prev >= data_start
            && prev <= at
            && region
                .get(prev as usize..at as usize)
                .is_some_and(|span| CRC32C.checksum(span) == self.coverage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{batch_begin_value, batch_commit_value, sync_value};

    const SEAL: Seal = Seal {
        store_id: 0x0123_4567_89AB_CDEF,
        generation: 7,
    };

    fn header(w: u8) -> RegionHeader {
        RegionHeader {
            store_id: SEAL.store_id,
            generation: SEAL.generation,
            region_size: 4096,
            erase_unit: 512,
            write_unit: w,
            read_unit: 1,
            max_key_len: 63,
            max_value_len: 4096,
            high_water_bp: 8000,
            max_fill_bp: 9000,
        }
    }

    fn area(w: u32) -> [u8; MAX_AREA_LEN] {
        let mut b = [ERASED; MAX_AREA_LEN];
        b[..HEADER_LEN].copy_from_slice(&header(w as u8).encode());
        b
    }

    fn put(b: &mut [u8], layout: Layout, m: Marker, arg: u32) {
        let at = layout.slot(m) as usize;
        b[at..at + 12].copy_from_slice(&m.encode(SEAL, arg));
    }

    #[test]
    fn erased_invalid_and_short_areas() {
        let l = Layout::new(4);
        assert_eq!(
            read_header_area(&[ERASED; 84], l, 4096),
            Err(HeaderError::Erased)
        );
        assert_eq!(read_header_area(&[], l, 0), Err(HeaderError::Erased));
        assert_eq!(
            read_header_area(&[0; 84], l, 4096),
            Err(HeaderError::Invalid)
        );
        // A file shorter than a header is never one, even if what is there
        // decodes with the missing bytes read erased.
        let b = area(4);
        assert_eq!(
            read_header_area(&b[..HEADER_LEN - 1], l, 4096),
            Err(HeaderError::Invalid)
        );
        assert_eq!(
            read_header_area(&[ERASED; 20], l, 4096),
            Err(HeaderError::Erased)
        );
    }

    #[test]
    fn markers_at_every_write_unit() {
        for w in [1, 2, 4, 8, 16, 32] {
            let l = Layout::new(w);
            let mut b = area(w);
            let a = read_header_area(&b, l, 4096).unwrap();
            assert_eq!(a.header, header(w as u8));
            assert_eq!(
                [a.switching, a.commit, a.superseded],
                [MarkerState::Erased; 3]
            );
            put(&mut b, l, Marker::Commit, l.data_start());
            put(&mut b, l, Marker::Superseded, 0);
            b[l.switching() as usize] = 0x53; // a cut while programming it
            let a = read_header_area(&b, l, 4096).unwrap();
            assert_eq!(a.commit, MarkerState::Valid(l.data_start()));
            assert!(a.committed());
            assert_eq!(a.switching, MarkerState::Torn);
            assert_eq!(a.marker(Marker::Superseded), MarkerState::Valid(0));
            // Only the header area is read.
            let mut longer = [0u8; 300];
            longer[..MAX_AREA_LEN].copy_from_slice(&b);
            assert_eq!(read_header_area(&longer, l, 4096), Ok(a));
        }
    }

    #[test]
    fn commit_data_end_outside_the_log_is_torn() {
        let l = Layout::new(4);
        for (end, ok) in [(83, false), (84, true), (4096, true), (4097, false)] {
            let mut b = area(4);
            put(&mut b, l, Marker::Commit, end);
            let a = read_header_area(&b, l, 4096).unwrap();
            assert_eq!(a.commit.is_valid(), ok, "data end {end}");
            assert!(a.commit.is_set());
        }
    }

    fn rec(kind: Kind, value: &[u8], out: &mut [u8]) -> RecordHeader {
        record::encode(out, SEAL, kind, 0, &[], value, 4).unwrap();
        match record::decode_header(out, 63, 4096) {
            record::Slot::Header(h) => h,
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn a_batch_commit_closes_only_its_begin() {
        let begin = BatchBegin::from_value(&batch_begin_value(2, 48)).unwrap();
        assert_eq!(
            begin,
            BatchBegin {
                count: 2,
                inner_len: 48
            }
        );
        assert_eq!(begin.commit_at(100, 16), Some(164));
        assert_eq!(begin.commit_at(u32::MAX - 8, 16), None);
        let mut out = [0u8; 32];
        let value = batch_commit_value(100, 2, 48, 7);
        let h = rec(Kind::BatchCommit, &value, &mut out);
        assert!(begin.closed_by(100, &h, &value));
        assert!(!begin.closed_by(104, &h, &value));
        let other = batch_commit_value(100, 3, 48, 7);
        assert!(!begin.closed_by(100, &h, &other));
        let other = batch_commit_value(100, 2, 52, 7);
        assert!(!begin.closed_by(100, &h, &other));
        let mut out = [0u8; 32];
        let not_commit = rec(Kind::SyncMarker, &value[..8], &mut out);
        assert!(!begin.closed_by(100, &not_commit, &value));
        assert_eq!(BatchBegin::from_value(&[0; 7]), None);
    }

    #[test]
    fn sync_coverage() {
        let mut region = [0u8; 200];
        for (i, b) in region.iter_mut().enumerate() {
            *b = i as u8;
        }
        let cov = CRC32C.checksum(&region[84..120]);
        let m = SyncMarker::from_value(&sync_value(84, cov)).unwrap();
        assert!(m.covers(&region, 120, 84));
        assert!(!m.covers(&region, 124, 84));
        assert!(!m.covers(&region, 120, 96), "previous sync before D");
        let before = SyncMarker::from_value(&sync_value(130, cov)).unwrap();
        assert!(!before.covers(&region, 120, 84), "previous sync after it");
        region[100] ^= 1;
        assert!(!m.covers(&region, 120, 84));
        assert!(!m.covers(&region[..110], 120, 84), "bytes missing");
    }
}
