//! The on-storage format: pure encode/decode functions over byte slices.
//!
//! Every structure here is specified byte by byte in FORMAT.md; the golden
//! test (`core/tests/format_golden.rs`) keeps the two in step. Nothing in this
//! module touches a region, so an async front end can reuse it unchanged.

pub mod area;
#[cfg(feature = "checkpoint")]
pub mod checkpoint;
pub mod checks;
mod class;
pub mod header;
pub mod marker;
pub mod record;

pub use area::{read_header_area, HeaderArea};
pub use checks::{key_hash, short_hash};
pub use class::RegionClass;
pub use header::{RegionHeader, HEADER_LEN};
pub use marker::{Marker, MarkerState, MARKER_LEN};
pub use record::{Kind, RecordHeader};

/// The magic at offset 0 of every region: `"twKV"`.
pub const MAGIC: [u8; 4] = *b"twKV";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// Rounds `x` up to a multiple of `unit` (a power of two), or `None` on
/// overflow.
#[inline]
pub const fn align_up(x: u32, unit: u32) -> Option<u32> {
    match x.checked_add(unit - 1) {
        Some(v) => Some(v & !(unit - 1)),
        None => None,
    }
}

/// What every record and marker check also covers: the region's store id and
/// generation, so bytes from another store or an earlier use never validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Seal {
    /// The store id of the region's header.
    pub store_id: u64,
    /// The generation of the region's header.
    pub generation: u64,
}

impl Seal {
    /// The 16 bytes fed to a check before the covered bytes.
    pub fn bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.store_id.to_le_bytes());
        b[8..].copy_from_slice(&self.generation.to_le_bytes());
        b
    }
}

/// Fixed offsets of a region's header area for one write unit (FORMAT.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layout {
    /// Write unit `W`.
    pub write_unit: u32,
    /// Bytes taken by the header: `align(48)`.
    pub header_block: u32,
    /// Bytes of one marker slot: `align(12)`.
    pub marker_slot: u32,
}

impl Layout {
    /// The layout for write unit `w` (one of the supported write units).
    pub const fn new(w: u32) -> Self {
        Layout {
            write_unit: w,
            header_block: (HEADER_LEN as u32).div_ceil(w) * w,
            marker_slot: (MARKER_LEN as u32).div_ceil(w) * w,
        }
    }
    /// Offset of the "switching" slot.
    pub const fn switching(&self) -> u32 {
        self.header_block
    }
    /// Offset of the "commit" slot.
    pub const fn commit(&self) -> u32 {
        self.header_block + self.marker_slot
    }
    /// Offset of the "superseded" slot.
    pub const fn superseded(&self) -> u32 {
        self.header_block + 2 * self.marker_slot
    }
    /// Offset of the first record, `D`.
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub const fn data_start(&self) -> u32 {
        self.header_block + 3 * self.marker_slot
    }
    /// Offset of the slot for `marker`.
    pub const fn slot(&self, marker: Marker) -> u32 {
        match marker {
            Marker::Switching => self.switching(),
            Marker::Commit => self.commit(),
            Marker::Superseded => self.superseded(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_format_table() {
        for (w, h, m, d) in [
            (1, 48, 12, 84),
            (2, 48, 12, 84),
            (4, 48, 12, 84),
            (8, 48, 16, 96),
            (16, 48, 16, 96),
            (32, 64, 32, 160),
        ] {
            let l = Layout::new(w);
            assert_eq!(
                (l.header_block, l.marker_slot, l.data_start()),
                (h, m, d),
                "W={w}"
            );
        }
    }

    #[test]
    fn align_up_rounds_and_detects_overflow() {
        assert_eq!(align_up(0, 4), Some(0));
        assert_eq!(align_up(1, 4), Some(4));
        assert_eq!(align_up(40, 32), Some(64));
        assert_eq!(align_up(u32::MAX, 4), None);
    }

    #[test]
    fn same_bytes_is_slice_equality() {
        let a: [u8; 40] = core::array::from_fn(|i| i as u8 * 3);
        for len in 0..=40 {
            assert!(same_bytes(&a[..len], &a[..len]), "len {len}");
            if len > 0 {
                assert!(!same_bytes(&a[..len], &a[..len - 1]), "len {len}");
            }
            for at in 0..len {
                let mut b = a;
                b[at] ^= 0x40;
                assert!(!same_bytes(&a[..len], &b[..len]), "len {len} at {at}");
            }
        }
    }
}

/// The store's key and value limits, as recorded in the region header
/// (FORMAT.md §2): what a record header may claim (§4.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_key: u32,
    pub(crate) max_value: u32,
}

/// `a == b` for the short keys a lookup compares: 8 bytes a step as words
/// rather than a `memcmp` call.
///
/// Always inlined on hosts (`fast-crc`), into the mapped get's fast path;
/// a plain `#[inline]` elsewhere (flash size).
#[cfg_attr(feature = "fast-crc", inline(always))]
#[cfg_attr(not(feature = "fast-crc"), inline)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while let (Some((x, ra)), Some((y, rb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if u64::from_le_bytes(*x) != u64::from_le_bytes(*y) {
            return false;
        }
        (a, b) = (ra, rb);
    }
    a.is_empty() || a == b
}
