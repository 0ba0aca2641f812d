//! The `record_roundtrip` target: record, region header and marker codecs.

use arbitrary::{Arbitrary, Unstructured};
use twinkv_core::format::header::HeaderError;
use twinkv_core::format::record::{self, fits_short, Kind, Slot};
use twinkv_core::format::{Layout, Marker, MarkerState, RegionHeader, Seal, HEADER_LEN};
use twinkv_core::WRITE_UNITS;

/// One input of `record_roundtrip`.
///
/// Byte layout (what `arbitrary` reads, and what [`RecordInput::to_bytes`]
/// writes): the fixed-size fields in order, integers little-endian, then
/// `data` as all the remaining bytes.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct RecordInput {
    /// Record kind: `1 + kind % 14` (set … damaged, then the reserved kinds).
    pub kind: u8,
    /// The key hash field stored in the header.
    pub hash: u8,
    /// Write unit: `WRITE_UNITS[write_unit % 6]`.
    pub write_unit: u8,
    /// Seal (store id, generation) the record is checked with.
    pub store_id: u64,
    /// See `store_id`.
    pub generation: u64,
    /// `data[..key_len]` is the key, the rest the value (clamped to `data`).
    pub key_len: u16,
    /// Bit to flip in the encoded record (modulo its unaligned length in bits).
    pub flip: u16,
    /// Limits passed when decoding `data` as a raw header.
    pub max_key: u16,
    /// See `max_key`.
    pub max_value: u32,
    /// Key ‖ value for the round trip; also decoded as raw bytes.
    pub data: crate::Bytes,
}

impl RecordInput {
    /// The bytes `arbitrary` decodes back into `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![self.kind, self.hash, self.write_unit];
        b.extend_from_slice(&self.store_id.to_le_bytes());
        b.extend_from_slice(&self.generation.to_le_bytes());
        b.extend_from_slice(&self.key_len.to_le_bytes());
        b.extend_from_slice(&self.flip.to_le_bytes());
        b.extend_from_slice(&self.max_key.to_le_bytes());
        b.extend_from_slice(&self.max_value.to_le_bytes());
        b.extend_from_slice(&self.data);
        b
    }

    /// Decodes an input the way the fuzz target does.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::arbitrary_take_rest(Unstructured::new(bytes)).ok()
    }

    fn kind(&self) -> Kind {
        Kind::from_code(1 + self.kind % 14).expect("1..=14 are kinds")
    }
}

/// Runs every check of `record_roundtrip` on one input. Panics on a finding.
pub fn check(input: &RecordInput) {
    roundtrip(input);
    raw_bytes(input);
}

/// encode → decode_header → verify round-trips, and any one-bit flip inside
/// the record is detected.
fn roundtrip(input: &RecordInput) {
    let w = WRITE_UNITS[usize::from(input.write_unit) % WRITE_UNITS.len()];
    let seal = Seal {
        store_id: input.store_id,
        generation: input.generation,
    };
    let kind = input.kind();
    let split = usize::from(input.key_len).min(input.data.len());
    let (key, value) = input.data.split_at(split);
    let (kl, vl) = (key.len() as u32, value.len() as u32);
    let stored = record::stored_len(kl, vl, w).expect("small lengths never overflow");
    assert_eq!(stored % w, 0);

    // Too small an output buffer is refused, not a panic.
    let mut short = vec![0u8; stored as usize - 1];
    assert_eq!(
        record::encode(&mut short, seal, kind, input.hash, key, value, w),
        None
    );

    let mut out = vec![0u8; stored as usize + 3];
    let len = record::encode(&mut out, seal, kind, input.hash, key, value, w)
        .expect("encode fits a buffer of stored_len");
    assert_eq!(len, stored);
    let rec = &mut out[..len as usize];

    let h = match record::decode_header(rec, kl, vl) {
        Slot::Header(h) => h,
        other => panic!("encoded record decodes as {other:?}"),
    };
    assert_eq!(h.kind, kind);
    assert_eq!(h.long, !fits_short(kl, vl));
    assert_eq!((h.key_len, h.value_len, h.hash), (kl, vl, input.hash));
    assert_eq!(h.header_len(), record::header_len(kl, vl));
    assert_eq!(h.stored_len(w), Some(len));
    assert!(record::verify(rec, &h, seal), "record check fails");
    let hl = h.header_len() as usize;
    assert_eq!(&rec[hl..hl + key.len()], key);
    assert_eq!(&rec[hl + key.len()..h.unaligned_len() as usize], value);
    assert!(
        rec[h.unaligned_len() as usize..].iter().all(|&b| b == 0xFF),
        "padding is not erased"
    );
    // Tighter limits reject the header instead of trusting it.
    if kl > 0 {
        assert_eq!(record::decode_header(rec, kl - 1, vl), Slot::Invalid);
    }
    // Truncated records never verify, and never panic.
    assert!(!record::verify(
        &rec[..h.unaligned_len() as usize - 1],
        &h,
        seal
    ));

    // Re-sealing for the next generation verifies there, and the bytes other
    // than the check are unchanged.
    let mut moved = rec.to_vec();
    let next = Seal {
        store_id: seal.store_id,
        generation: seal.generation.wrapping_add(1),
    };
    record::reseal(&mut moved, &h, next);
    let mut again = vec![0u8; len as usize];
    record::encode(&mut again, next, kind, input.hash, key, value, w).expect("fits");
    assert_eq!(moved, again, "reseal differs from a fresh encode");

    // One flipped bit anywhere in header, key or value is always detected
    // (every check here is a CRC, and CRCs catch all single-bit errors).
    // (A flip of the form bit re-reads the header in the other form: that
    // passes only with a CRC collision, 2^-8 · 2^-24 or less.)
    let bit = u32::from(input.flip) % (h.unaligned_len() * 8);
    rec[(bit / 8) as usize] ^= 1 << (bit % 8);
    if let Slot::Header(fh) = record::decode_header(rec, u32::MAX, u32::MAX) {
        assert!(
            !record::verify(rec, &fh, seal),
            "bit {bit} flipped and the record still verifies"
        );
    }
}

/// Arbitrary bytes through every decoder: no panic, and what decodes obeys
/// its rules.
fn raw_bytes(input: &RecordInput) {
    let seal = Seal {
        store_id: input.store_id,
        generation: input.generation,
    };
    let data = &input.data[..];
    let (mk, mv) = (u32::from(input.max_key), input.max_value);
    for start in [0usize, 1, 4, 8] {
        let Some(b) = data.get(start..) else { break };
        match record::decode_header(b, mk, mv) {
            Slot::Header(h) => {
                assert!(h.key_len <= mk);
                assert!(h.value_len <= mv.max(record::SYSTEM_VALUE_MAX));
                let _ = record::verify(b, &h, seal);
                let _ = h.stored_len(32);
            }
            Slot::Erased => assert!(b[..8].iter().all(|&x| x == 0xFF)),
            Slot::Invalid => {}
        }
    }

    // Region header: decode never panics; what decodes re-encodes to the
    // same 48 bytes.
    if let Some(b) = data.get(..HEADER_LEN) {
        let b: &[u8; HEADER_LEN] = b.try_into().expect("48 bytes");
        match RegionHeader::decode(b) {
            Ok(h) => assert_eq!(&h.encode(), b, "header does not re-encode"),
            Err(HeaderError::Erased) => assert!(b.iter().all(|&x| x == 0xFF)),
            Err(_) => {}
        }
        // And any header with valid fields round-trips through encode.
        let h = RegionHeader {
            store_id: input.store_id,
            generation: input.generation,
            region_size: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            erase_unit: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            write_unit: b[8],
            read_unit: u16::from_le_bytes([b[9], b[10]]),
            max_key_len: input.max_key,
            max_value_len: input.max_value,
            high_water_bp: u16::from_le_bytes([b[11], b[12]]),
            max_fill_bp: u16::from_le_bytes([b[13], b[14]]),
        };
        let valid = h.store_id != 0
            && h.store_id != u64::MAX
            && h.generation >= 1
            && h.generation < u64::MAX
            && h.max_key_len >= 1
            && h.high_water_bp >= 1
            && h.high_water_bp <= h.max_fill_bp
            && h.max_fill_bp <= 10_000;
        match RegionHeader::decode(&h.encode()) {
            Ok(d) => {
                assert!(valid, "invalid fields decoded: {h:?}");
                assert_eq!(d, h);
            }
            Err(e) => assert!(!valid, "valid header refused ({e:?}): {h:?}"),
        }
    }

    // Markers: arbitrary slots of every slot size never panic, and what
    // encode writes reads back as valid.
    for w in WRITE_UNITS {
        let slot_len = Layout::new(w).marker_slot as usize;
        for m in [Marker::Switching, Marker::Commit, Marker::Superseded] {
            if let Some(slot) = data.get(..slot_len) {
                let state = m.read(seal, slot);
                if slot.iter().all(|&x| x == 0xFF) {
                    assert_eq!(state, MarkerState::Erased);
                }
            }
            let _ = m.read(seal, &data[..data.len().min(slot_len)]);
            let arg = input.max_value;
            let mut slot = vec![0xFFu8; slot_len];
            slot[..12].copy_from_slice(&m.encode(seal, arg));
            assert_eq!(m.read(seal, &slot), MarkerState::Valid(arg));
        }
    }
}
