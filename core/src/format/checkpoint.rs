//! Index checkpoints (FORMAT.md §11): the index, the live counters and what
//! the log says of the partner, as a replay of the active log up to a
//! position `P` leaves them, so that an open can walk the log from `P`.
//!
//! Encoded as a fixed 76-byte head (its own CRC-32C), `n` entries of 8 bytes
//! and a CRC-32C over the entries. Not part of either region: the host keeps
//! it in a file of its own.

use super::checks::CRC32C;
use crate::stats::RegionId;

/// The magic at offset 0: `"twKVckpt"`.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"twKVckpt";
/// The checkpoint version this crate writes and reads.
pub const CHECKPOINT_VERSION: u16 = 1;
/// Bytes before the entries: the fields and the head check.
pub const CHECKPOINT_HEAD_LEN: usize = 76;
/// Bytes per entry: key hash and record offset.
pub const CHECKPOINT_ENTRY_LEN: usize = 8;

/// Flag bit 0: [`CheckpointHead::erased`] is set.
const FLAG_ERASED: u8 = 1;
/// Flag bit 1: [`CheckpointHead::covered_end`] is set.
const FLAG_COVERED: u8 = 2;

/// The fields of a checkpoint (FORMAT.md §11), without its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CheckpointHead {
    /// The region the log is in.
    pub active: RegionId,
    /// Its header's store id.
    pub store_id: u64,
    /// Its header's generation.
    pub generation: u64,
    /// Its size in bytes.
    pub region_size: u32,
    /// Its commit marker's data end.
    pub data_end: u32,
    /// Where the log ended: `P`.
    pub position: u32,
    /// The last sync point before it (FORMAT.md §6.1): `S`, `≤ P`.
    pub last_sync: u32,
    /// CRC-32C over the region's bytes from the data start to `P`.
    pub prefix_check: u32,
    /// The end of the covering marker's span (FORMAT.md §6.4), if any.
    pub covered_end: Option<u32>,
    /// The newest erased record of the log: (pending units, partner size).
    pub erased: Option<(u32, u32)>,
    /// Bytes of the records the index points at (FORMAT.md §4.6).
    pub live_bytes: u32,
    /// Keys whose newest record is a set.
    pub live_keys: u32,
    /// Keys in the index: the entries that follow.
    pub entries: u32,
}

/// Why a byte string is not a checkpoint this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CheckpointError {
    /// Shorter than its head, or not `80 + 8 n` bytes.
    Length,
    /// Not the checkpoint magic.
    Magic,
    /// A version or flag this crate does not know.
    Version,
    /// A check does not hold.
    Check,
}

impl CheckpointHead {
    /// The length of the whole checkpoint: head, entries, entries check.
    pub fn encoded_len(entries: u32) -> Option<usize> {
        usize::try_from(entries)
            .ok()?
            .checked_mul(CHECKPOINT_ENTRY_LEN)?
            .checked_add(CHECKPOINT_HEAD_LEN + 4)
    }

    /// Writes the head into `out[..76]` (its check included). `None` if
    /// `out` is shorter.
    pub fn encode(&self, out: &mut [u8]) -> Option<()> {
        let out = out.get_mut(..CHECKPOINT_HEAD_LEN)?;
        let mut flags = 0;
        let (covered, (pending, partner)) =
            (self.covered_end.unwrap_or(0), self.erased.unwrap_or((0, 0)));
        if self.erased.is_some() {
            flags |= FLAG_ERASED;
        }
        if self.covered_end.is_some() {
            flags |= FLAG_COVERED;
        }
        out[0..8].copy_from_slice(&CHECKPOINT_MAGIC);
        out[8..10].copy_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        out[10] = match self.active {
            RegionId::A => 0,
            RegionId::B => 1,
        };
        out[11] = flags;
        out[12..20].copy_from_slice(&self.store_id.to_le_bytes());
        out[20..28].copy_from_slice(&self.generation.to_le_bytes());
        for (at, v) in [
            (28, self.region_size),
            (32, self.data_end),
            (36, self.position),
            (40, self.last_sync),
            (44, self.prefix_check),
            (48, covered),
            (52, pending),
            (56, partner),
            (60, self.live_bytes),
            (64, self.live_keys),
            (68, self.entries),
        ] {
            out[at..at + 4].copy_from_slice(&u32::to_le_bytes(v));
        }
        let check = CRC32C.checksum(&out[..72]);
        out[72..76].copy_from_slice(&check.to_le_bytes());
        Some(())
    }

    /// The region a checkpoint names (field 10), if `bytes` start with the
    /// magic; no check verified. For a caller that only filters (the host
    /// hands core no checkpoint of the region it knows is not active).
    pub fn active_of(bytes: &[u8]) -> Option<RegionId> {
        if bytes.get(..8)? != CHECKPOINT_MAGIC {
            return None;
        }
        match bytes.get(10)? {
            0 => Some(RegionId::A),
            1 => Some(RegionId::B),
            _ => None,
        }
    }

    /// Reads a whole checkpoint: its head, and the entries' bytes (both
    /// checks and the length verified).
    pub fn decode(bytes: &[u8]) -> Result<(CheckpointHead, &[u8]), CheckpointError> {
        let head = bytes
            .get(..CHECKPOINT_HEAD_LEN)
            .ok_or(CheckpointError::Length)?;
        if head[0..8] != CHECKPOINT_MAGIC {
            return Err(CheckpointError::Magic);
        }
        let u32_at =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let u64_at = |at: usize| u64::from(u32_at(at)) | u64::from(u32_at(at + 4)) << 32;
        if CRC32C.checksum(&head[..72]) != u32_at(72) {
            return Err(CheckpointError::Check);
        }
        let version = u16::from_le_bytes([head[8], head[9]]);
        let flags = head[11];
        if version != CHECKPOINT_VERSION
            || head[10] > 1
            || flags & !(FLAG_ERASED | FLAG_COVERED) != 0
        {
            return Err(CheckpointError::Version);
        }
        let entries = u32_at(68);
        if Self::encoded_len(entries) != Some(bytes.len()) {
            return Err(CheckpointError::Length);
        }
        let body = &bytes[CHECKPOINT_HEAD_LEN..bytes.len() - 4];
        let tail = &bytes[bytes.len() - 4..];
        if CRC32C.checksum(body).to_le_bytes() != tail {
            return Err(CheckpointError::Check);
        }
        let h = CheckpointHead {
            active: if head[10] == 0 {
                RegionId::A
            } else {
                RegionId::B
            },
            store_id: u64_at(12),
            generation: u64_at(20),
            region_size: u32_at(28),
            data_end: u32_at(32),
            position: u32_at(36),
            last_sync: u32_at(40),
            prefix_check: u32_at(44),
            covered_end: (flags & FLAG_COVERED != 0).then(|| u32_at(48)),
            erased: (flags & FLAG_ERASED != 0).then(|| (u32_at(52), u32_at(56))),
            live_bytes: u32_at(60),
            live_keys: u32_at(64),
            entries,
        };
        Ok((h, body))
    }
}

/// The 8 bytes of an entry: key hash, then record offset.
pub fn entry_bytes(hash: u32, offset: u32) -> [u8; CHECKPOINT_ENTRY_LEN] {
    let mut e = [0u8; CHECKPOINT_ENTRY_LEN];
    e[..4].copy_from_slice(&hash.to_le_bytes());
    e[4..].copy_from_slice(&offset.to_le_bytes());
    e
}

/// The entries of a decoded checkpoint, in order: (key hash, record offset).
pub fn entries(body: &[u8]) -> impl Iterator<Item = (u32, u32)> + '_ {
    body.chunks_exact(CHECKPOINT_ENTRY_LEN).map(|e| {
        (
            u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
            u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
        )
    })
}

/// Seals a checkpoint whose head and entries are written: the entries'
/// check at the end of `out` (`out` is the whole checkpoint).
pub fn seal_entries(out: &mut [u8]) -> Option<()> {
    let n = out.len().checked_sub(4)?;
    let body = out.get(CHECKPOINT_HEAD_LEN..n)?;
    let check = CRC32C.checksum(body);
    out[n..].copy_from_slice(&check.to_le_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (FORMAT.md's golden example has both options set; here neither.)
    fn head() -> CheckpointHead {
        CheckpointHead {
            active: RegionId::A,
            store_id: 0x5EED,
            generation: 3,
            region_size: 8192,
            data_end: 96,
            position: 480,
            last_sync: 480,
            prefix_check: 0x0BAD_CAFE,
            covered_end: None,
            erased: None,
            live_bytes: 120,
            live_keys: 1,
            entries: 2,
        }
    }

    fn encoded() -> [u8; 96] {
        let mut out = [0u8; 96];
        head().encode(&mut out).unwrap();
        out[76..84].copy_from_slice(&entry_bytes(0x1122_3344, 84));
        out[84..92].copy_from_slice(&entry_bytes(0x5566_7788, 172));
        seal_entries(&mut out).unwrap();
        out
    }

    #[test]
    fn round_trips() {
        let out = encoded();
        let (h, body) = CheckpointHead::decode(&out).unwrap();
        assert_eq!(h, head());
        assert_eq!(CheckpointHead::active_of(&out), Some(RegionId::A));
        assert_eq!(CheckpointHead::active_of(&out[1..]), None);
        let mut it = entries(body);
        assert_eq!(it.next(), Some((0x1122_3344, 84)));
        assert_eq!(it.next(), Some((0x5566_7788, 172)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn every_flipped_bit_and_every_other_length_is_refused() {
        let out = encoded();
        for bit in 0..out.len() * 8 {
            let mut b = out;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(CheckpointHead::decode(&b).is_err(), "bit {bit}");
        }
        for len in 0..out.len() {
            assert!(CheckpointHead::decode(&out[..len]).is_err(), "len {len}");
        }
        let mut longer = [0u8; 104];
        longer[..96].copy_from_slice(&out);
        assert_eq!(
            CheckpointHead::decode(&longer),
            Err(CheckpointError::Length)
        );
    }

    #[test]
    fn unknown_flags_and_versions_are_refused_even_with_valid_checks() {
        for (at, v) in [(8, 2u8), (10, 2), (11, 4)] {
            let mut b = encoded();
            b[at] = v;
            let check = CRC32C.checksum(&b[..72]);
            b[72..76].copy_from_slice(&check.to_le_bytes());
            assert_eq!(
                CheckpointHead::decode(&b),
                Err(CheckpointError::Version),
                "byte {at}"
            );
        }
    }
}
