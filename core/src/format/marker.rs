//! Marker slots (FORMAT.md §3): switching, commit, superseded.
//!
//! ```text
//! 0 tag u32 | 4 argument u32 | 8 CRC-32C(store id ‖ generation ‖ bytes 0..8)
//! ```
//! The rest of a slot (`align(12) - 12` bytes) stays `0xFF`.

use core::mem::size_of;

use super::checks::CRC32C;
use super::header::u32_at;
use super::Seal;
use crate::all_erased;

// Field offsets, each derived from the one before it (the diagram above).
/// Offset of a marker's tag.
pub const TAG_OFFSET: usize = 0;
/// Offset of a marker's argument (`u32`: the data end of a commit, else 0).
pub const ARG_OFFSET: usize = TAG_OFFSET + 4;
/// Offset of a marker's check (`u32`).
pub const CHECK_OFFSET: usize = ARG_OFFSET + size_of::<u32>();

/// Encoded size of a marker (its slot may be larger).
pub const MARKER_LEN: usize = CHECK_OFFSET + size_of::<u32>();

/// The three markers of a region's header area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Marker {
    /// A switch out of this region has begun.
    Switching,
    /// The region's content is complete (argument: data end).
    Commit,
    /// The region's successor is committed.
    Superseded,
}

impl Marker {
    /// The tag bytes of this marker.
    pub const fn tag(self) -> [u8; 4] {
        match self {
            Marker::Switching => *b"SWCH",
            Marker::Commit => *b"CMIT",
            Marker::Superseded => *b"SPSD",
        }
    }

    /// Encodes the marker with `arg` (data end for a commit, else 0).
    pub fn encode(self, seal: Seal, arg: u32) -> [u8; MARKER_LEN] {
        let mut b = [0u8; MARKER_LEN];
        b[TAG_OFFSET..ARG_OFFSET].copy_from_slice(&self.tag());
        b[ARG_OFFSET..CHECK_OFFSET].copy_from_slice(&arg.to_le_bytes());
        let check = check(seal, &b[..CHECK_OFFSET]);
        b[CHECK_OFFSET..MARKER_LEN].copy_from_slice(&check.to_le_bytes());
        b
    }

    /// Classifies the bytes of a whole slot (at least [`MARKER_LEN`] bytes).
    pub fn read(self, seal: Seal, slot: &[u8]) -> MarkerState {
        if all_erased(slot) {
            return MarkerState::Erased;
        }
        if slot.len() < MARKER_LEN {
            return MarkerState::Torn;
        }
        let padding_erased = all_erased(&slot[MARKER_LEN..]);
        if slot[TAG_OFFSET..ARG_OFFSET] == self.tag()
            && padding_erased
            && check(seal, &slot[..CHECK_OFFSET]) == u32_at(slot, CHECK_OFFSET)
        {
            MarkerState::Valid(u32_at(slot, ARG_OFFSET))
        } else {
            MarkerState::Torn
        }
    }
}

/// What a marker slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MarkerState {
    /// Every byte of the slot reads `0xFF`.
    Erased,
    /// A valid marker with its argument.
    Valid(u32),
    /// Programmed, but not a valid marker (a cut while programming it, or damage).
    Torn,
}

impl MarkerState {
    /// True unless the slot is erased: for "switching" and "superseded" a torn
    /// marker counts as set (FORMAT.md §3).
    pub const fn is_set(self) -> bool {
        !matches!(self, MarkerState::Erased)
    }

    /// True if the marker is valid (tag and check match).
    pub const fn is_valid(self) -> bool {
        matches!(self, MarkerState::Valid(_))
    }
}

fn check(seal: Seal, first8: &[u8]) -> u32 {
    let mut d = CRC32C.digest();
    d.update(&seal.bytes());
    d.update(first8);
    d.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEAL: Seal = Seal {
        store_id: 0x0123_4567_89AB_CDEF,
        generation: 7,
    };

    #[test]
    fn roundtrip_each_marker_in_each_slot_size() {
        for m in [Marker::Switching, Marker::Commit, Marker::Superseded] {
            for slot_len in [12usize, 16, 32] {
                let mut slot = [0xFFu8; 32];
                slot[..12].copy_from_slice(&m.encode(SEAL, 0x154));
                assert_eq!(m.read(SEAL, &slot[..slot_len]), MarkerState::Valid(0x154));
            }
        }
    }

    #[test]
    fn wrong_slot_other_store_or_generation_is_torn() {
        let b = Marker::Commit.encode(SEAL, 84);
        assert_eq!(Marker::Switching.read(SEAL, &b), MarkerState::Torn);
        let other = Seal {
            generation: 8,
            ..SEAL
        };
        assert_eq!(Marker::Commit.read(other, &b), MarkerState::Torn);
        let other = Seal {
            store_id: 1,
            ..SEAL
        };
        assert_eq!(Marker::Commit.read(other, &b), MarkerState::Torn);
    }

    #[test]
    fn every_prefix_of_a_program_is_torn_or_erased() {
        let b = Marker::Commit.encode(SEAL, 84);
        for cut in 0..MARKER_LEN {
            let mut slot = [0xFFu8; 12];
            slot[..cut].copy_from_slice(&b[..cut]);
            let s = Marker::Commit.read(SEAL, &slot);
            assert!(
                matches!(s, MarkerState::Erased | MarkerState::Torn),
                "cut {cut}: {s:?}"
            );
            assert_eq!(s.is_set(), cut > 0);
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let b = Marker::Superseded.encode(SEAL, 0);
        for i in 0..MARKER_LEN * 8 {
            let mut c = b;
            c[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                Marker::Superseded.read(SEAL, &c),
                MarkerState::Torn,
                "bit {i}"
            );
        }
    }
}
