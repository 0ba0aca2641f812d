//! Records (FORMAT.md §4).
//!
//! Short header, 8 bytes (key ≤ 63 B, value ≤ 8191 B):
//! ```text
//! u32 LE: kind[0..4] form=0[4] key_len[5..11] value_len[11..24] key_hash[24..32]
//! 4: CRC-8/AUTOSAR(bytes 0..4)
//! 5..8: CRC-32C(store id ‖ generation ‖ bytes 0..5 ‖ key ‖ value), low 24 bits, LE
//! ```
//! Long header, 16 bytes:
//! ```text
//! 0: kind[0..4] form=1[4] | 1: key hash | 2: key_len u16 | 4: value_len u32
//! 8: CRC-16/IBM-3740(bytes 0..8) | 10: 00 00
//! 12: CRC-32C(store id ‖ generation ‖ bytes 0..12 ‖ key ‖ value)
//! ```
//! Then key, value, and `0xFF` padding up to the write unit.

use super::checks::{Crc32cDigest, CRC16, CRC32C};
use super::header::u32_at;
use super::{align_up, Seal};

/// Length of a short header.
pub const SHORT_HEADER_LEN: u32 = 8;
/// Length of a long header.
pub const LONG_HEADER_LEN: u32 = 16;
/// Largest key a short header can describe.
pub const SHORT_MAX_KEY: u32 = 63;
/// Largest value a short header can describe.
pub const SHORT_MAX_VALUE: u32 = 8191;
/// Values of system records (batch, sync) are at most this long, whatever the
/// store's value limit.
pub const SYSTEM_VALUE_MAX: u32 = 16;

/// Record kinds (FORMAT.md §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// Sets a key to a value.
    Set,
    /// Deletes a key.
    Delete,
    /// Opens an atomic batch.
    BatchBegin,
    /// Closes an atomic batch.
    BatchCommit,
    /// Deletes every key written before it.
    Clear,
    /// Marks a sync point on regions that do not persist in order.
    SyncMarker,
    /// A key (or keys) whose newest value was lost to damage.
    Damaged,
    /// Erase ahead's progress through the partner region (FORMAT.md §7.3).
    Erased,
    /// A kind reserved for a later minor version (10..=14).
    Reserved(u8),
}

/// The stored number of an **update**: a set whose writer's index held a set
/// of the same key with the same stored length (FORMAT.md §4.3). It decodes
/// as [`Kind::Set`] and reads exactly as a set; an open may take the claim
/// instead of reading the older record's key (FORMAT.md §6.5), which it
/// tells from the record's first byte ([`is_update`]).
pub const UPDATE_CODE: u8 = 9;

/// Whether a record whose first byte is `first` is stored as an update
/// ([`UPDATE_CODE`]), in either header form.
pub const fn is_update(first: u8) -> bool {
    first & 0x0F == UPDATE_CODE
}

impl Kind {
    /// The kind's number on storage.
    pub const fn code(self) -> u8 {
        match self {
            Kind::Set => 1,
            Kind::Delete => 2,
            Kind::BatchBegin => 3,
            Kind::BatchCommit => 4,
            Kind::Clear => 5,
            Kind::SyncMarker => 6,
            Kind::Damaged => 7,
            Kind::Erased => 8,
            Kind::Reserved(c) => c,
        }
    }
    /// The kind for a stored number, `None` for 0 and 15 (never valid). An
    /// update ([`UPDATE_CODE`]) is a set.
    pub const fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            1 | UPDATE_CODE => Kind::Set,
            2 => Kind::Delete,
            3 => Kind::BatchBegin,
            4 => Kind::BatchCommit,
            5 => Kind::Clear,
            6 => Kind::SyncMarker,
            7 => Kind::Damaged,
            8 => Kind::Erased,
            10..=14 => Kind::Reserved(c),
            _ => return None,
        })
    }
}

/// A decoded, valid record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RecordHeader {
    /// The record's kind.
    pub kind: Kind,
    /// Long (16-byte) header form.
    pub long: bool,
    /// Key length in bytes.
    pub key_len: u32,
    /// Value length in bytes.
    pub value_len: u32,
    /// The 8-bit key hash field.
    pub hash: u8,
    /// The stored record check (24 or 32 bits).
    pub check: u32,
}

/// What the first bytes of a record slot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    /// The header bytes read erased: the end of the log (or a hole).
    Erased,
    /// Not a valid header.
    Invalid,
    /// A valid header.
    Header(RecordHeader),
}

/// Whether a record with these lengths uses the short header.
pub const fn fits_short(key_len: u32, value_len: u32) -> bool {
    key_len <= SHORT_MAX_KEY && value_len <= SHORT_MAX_VALUE
}

/// Header length for a record with these lengths.
pub const fn header_len(key_len: u32, value_len: u32) -> u32 {
    if fits_short(key_len, value_len) {
        SHORT_HEADER_LEN
    } else {
        LONG_HEADER_LEN
    }
}

/// Stored (aligned) length of a record, or `None` if it overflows `u32`.
pub const fn stored_len(key_len: u32, value_len: u32, write_unit: u32) -> Option<u32> {
    let h = header_len(key_len, value_len);
    match h.checked_add(key_len) {
        Some(x) => match x.checked_add(value_len) {
            Some(total) => align_up(total, write_unit),
            None => None,
        },
        None => None,
    }
}

impl RecordHeader {
    /// Header length of this record.
    pub const fn header_len(&self) -> u32 {
        if self.long {
            LONG_HEADER_LEN
        } else {
            SHORT_HEADER_LEN
        }
    }
    /// Unaligned length: header, key and value.
    pub const fn unaligned_len(&self) -> u32 {
        // Decoding bounds both lengths, so this cannot overflow.
        self.header_len() + self.key_len + self.value_len
    }
    /// Stored length (aligned to `write_unit`), `None` on overflow.
    pub const fn stored_len(&self, write_unit: u32) -> Option<u32> {
        align_up(self.unaligned_len(), write_unit)
    }
    /// Where the key lies in the stored record: after the header.
    pub const fn key_range(&self) -> core::ops::Range<usize> {
        let start = self.header_len() as usize;
        start..start + self.key_len as usize
    }
    /// Where the value lies in the stored record: after the key.
    pub const fn value_range(&self) -> core::ops::Range<usize> {
        let start = (self.header_len() + self.key_len) as usize;
        start..start + self.value_len as usize
    }
    /// Number of header bytes covered by the record check.
    pub const fn checked_header_bytes(&self) -> usize {
        if self.long {
            12
        } else {
            5
        }
    }
}

/// The bits of the CRC-32C a short header keeps as its record check.
pub const SHORT_CHECK_MASK: u32 = 0x00FF_FFFF;

/// The CRC-32C of a region's seal (store id ‖ generation), with which every
/// record check of that region begins: computed once per seal rather than
/// once per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealState(u32);

impl SealState {
    /// The state after `seal`'s 16 bytes.
    #[cfg_attr(feature = "fast-crc", inline)]
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub fn new(seal: Seal) -> Self {
        SealState(CRC32C.checksum(&seal.bytes()))
    }
}

/// Incremental record check: feed the covered header bytes, key and value.
/// Both forms use CRC-32C; the short form keeps its low 24 bits.
#[derive(Clone)]
pub struct RecordCheck {
    digest: Crc32cDigest,
    mask: u32,
}

impl RecordCheck {
    /// Starts a check for a record in a region sealed with `seal`.
    #[inline]
    pub fn new(seal: Seal, long: bool) -> Self {
        Self::sealed(SealState::new(seal), long)
    }
    /// Starts a check from a seal's state (the seal's 16 bytes already fed).
    #[inline]
    pub fn sealed(state: SealState, long: bool) -> Self {
        let mask = if long { u32::MAX } else { SHORT_CHECK_MASK };
        RecordCheck {
            digest: Crc32cDigest::resume(state.0),
            mask,
        }
    }
    /// Feeds covered bytes.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }
    /// The check value (24 bits for a short header, 32 for a long one).
    #[inline]
    pub fn finalize(self) -> u32 {
        self.digest.finalize() & self.mask
    }
}

/// Encodes a record into `out`, padding with `0xFF` to the write unit.
/// Returns the stored length, or `None` if `out` is too small or the lengths
/// overflow. The caller has checked the lengths against the store's limits.
pub fn encode(
    out: &mut [u8],
    seal: Seal,
    kind: Kind,
    hash: u8,
    key: &[u8],
    value: &[u8],
    write_unit: u32,
) -> Option<u32> {
    encode_sealed(
        out,
        SealState::new(seal),
        kind,
        hash,
        key,
        value,
        write_unit,
    )
}

/// [`encode`] from the seal's state: the store keeps its seal's state, so
/// a write does not feed the seal's 16 bytes again. Key and value are fed to
/// the record check in one piece, from `out`, where they lie side by side.
pub fn encode_sealed(
    out: &mut [u8],
    state: SealState,
    kind: Kind,
    hash: u8,
    key: &[u8],
    value: &[u8],
    write_unit: u32,
) -> Option<u32> {
    encode_as(out, state, kind, false, hash, key, value, write_unit)
}

/// [`encode_sealed`], of a set stored as an update ([`UPDATE_CODE`]) if
/// `update` (FORMAT.md §4.3: the writer's index holds a set of its key
/// stored in as many bytes); of `kind` otherwise.
#[allow(clippy::too_many_arguments)]
pub fn encode_as(
    out: &mut [u8],
    state: SealState,
    kind: Kind,
    update: bool,
    hash: u8,
    key: &[u8],
    value: &[u8],
    write_unit: u32,
) -> Option<u32> {
    let key_len = u32::try_from(key.len()).ok()?;
    let value_len = u32::try_from(value.len()).ok()?;
    let len = stored_len(key_len, value_len, write_unit)?;
    let out = out.get_mut(..len as usize)?;
    let long = !fits_short(key_len, value_len);
    if long && key_len > u32::from(u16::MAX) {
        return None;
    }
    let h = if long {
        LONG_HEADER_LEN
    } else {
        SHORT_HEADER_LEN
    } as usize;
    // The record's parts as slices of known lengths (`len` covers them all,
    // so none of these fails), so that the writes below need no bounds
    // checks of their own.
    let (head, body) = out.split_at_mut_checked(h)?;
    let (kv, pad) = body.split_at_mut_checked(key.len() + value.len())?;
    let (k, v) = kv.split_at_mut(key.len());
    k.copy_from_slice(key);
    v.copy_from_slice(value);
    pad.fill(0xFF);
    let kv: &[u8] = kv;
    let code = if update { UPDATE_CODE } else { kind.code() };
    if long {
        let head: &mut [u8; 16] = head.try_into().ok()?;
        head[0] = code | 0x10;
        head[1] = hash;
        head[2..4].copy_from_slice(&(key_len as u16).to_le_bytes());
        head[4..8].copy_from_slice(&value_len.to_le_bytes());
        let hc = CRC16.checksum(&head[..8]);
        head[8..10].copy_from_slice(&hc.to_le_bytes());
        head[10] = 0;
        head[11] = 0;
        let mut c = RecordCheck::sealed(state, true);
        c.update(&head[..12]);
        c.update(kv);
        head[12..16].copy_from_slice(&c.finalize().to_le_bytes());
    } else {
        let head: &mut [u8; 8] = head.try_into().ok()?;
        let word = u32::from(code) | (key_len << 5) | (value_len << 11) | (u32::from(hash) << 24);
        head[0..4].copy_from_slice(&word.to_le_bytes());
        head[4] = super::checks::crc8_word(word);
        let covered = head.first_chunk::<5>()?;
        #[cfg(feature = "fast-crc")]
        let check =
            super::checks::append(!super::checks::feed5(!state.0, covered), kv) & SHORT_CHECK_MASK;
        #[cfg(not(feature = "fast-crc"))]
        let check = {
            let mut c = RecordCheck::sealed(state, false);
            c.update(covered);
            c.update(kv);
            c.finalize()
        };
        head[5..8].copy_from_slice(&check.to_le_bytes()[..3]);
    }
    Some(len)
}

/// Re-seals an encoded, verified record for another generation (a switch
/// copies records into a region of generation + 1). `rec` holds the whole
/// record as stored; only the record check changes.
pub fn reseal(rec: &mut [u8], h: &RecordHeader, seal: Seal) {
    let covered = h.checked_header_bytes();
    let body = covered + (h.header_len() as usize - covered);
    let end = h.unaligned_len() as usize;
    let mut c = RecordCheck::new(seal, h.long);
    c.update(&rec[..covered]);
    c.update(&rec[body..end]);
    let check = c.finalize();
    if h.long {
        rec[12..16].copy_from_slice(&check.to_le_bytes());
    } else {
        rec[5..8].copy_from_slice(&check.to_le_bytes()[..3]);
    }
}

/// [`reseal`] of a record intact under the seal whose state is `old`. With
/// `fast-crc`, from the check it holds: CRC-32C is linear, so the checks of
/// the same covered bytes after two seals differ by the two seals' register
/// difference carried over those bytes (`zeros`: four table lookups per 16
/// bytes), bit for bit, the short form's 24 kept bits included; no pass over
/// the record. Without `fast-crc` (or for a record that was not intact under
/// `old`, whose check is wrong either way), as [`reseal`].
pub fn reseal_from(rec: &mut [u8], h: &RecordHeader, old: SealState, new: Seal) {
    #[cfg(feature = "fast-crc")]
    {
        let n = h.checked_header_bytes() + h.key_len as usize + h.value_len as usize;
        let delta = super::checks::zeros(old.0 ^ SealState::new(new).0, n) & check_mask(h.long);
        let at = if h.long { 12 } else { 5 };
        if let Some(field) = rec.get_mut(at..at + 4) {
            let mut b = [0u8; 4];
            b.copy_from_slice(field);
            let check = (u32::from_le_bytes(b) ^ delta).to_le_bytes();
            // The short form's field is 3 bytes: its fourth byte (the key's
            // first) is left as it is (`delta` has no bit there).
            field.copy_from_slice(&check);
            return;
        }
    }
    #[cfg(not(feature = "fast-crc"))]
    let _ = old;
    reseal(rec, h, new);
}

/// Whether a header's first byte says the long form (bit 4, §4.2).
pub const fn is_long_form(first: u8) -> bool {
    first & 0x10 != 0
}

/// Decodes a record header from the first bytes of a slot (8 bytes suffice
/// for a short header; a long one needs 16). `max_key` and `max_value` are the
/// store's limits.
pub fn decode_header(b: &[u8], max_key: u32, max_value: u32) -> Slot {
    decode_header_inline(b, max_key, max_value)
}

/// [`decode_header`], inlined on hosts (`fast-crc`) into the mapped get,
/// where it is on the path of every call.
#[cfg_attr(feature = "fast-crc", inline)]
pub(crate) fn decode_header_inline(b: &[u8], max_key: u32, max_value: u32) -> Slot {
    let Some(first8) = b.first_chunk::<8>() else {
        return Slot::Invalid;
    };
    // The first 8 bytes as one word: the short form is decoded from it
    // without further bounds checks.
    let w = u64::from_le_bytes(*first8);
    if w == u64::MAX {
        return Slot::Erased;
    }
    let max_value = if max_value < SYSTEM_VALUE_MAX {
        SYSTEM_VALUE_MAX
    } else {
        max_value
    };
    let Some(kind) = Kind::from_code(w as u8 & 0x0F) else {
        return Slot::Invalid;
    };
    let long = is_long_form(w as u8);
    let h = if long {
        let Some(b) = b.first_chunk::<16>() else {
            return Slot::Invalid;
        };
        if b[0] & 0xE0 != 0 || b[10] != 0 || b[11] != 0 {
            return Slot::Invalid;
        }
        if CRC16.checksum(&b[..8]) != u16::from_le_bytes([b[8], b[9]]) {
            return Slot::Invalid;
        }
        RecordHeader {
            kind,
            long,
            key_len: u32::from(u16::from_le_bytes([b[2], b[3]])),
            value_len: u32_at(b, 4),
            hash: b[1],
            check: u32_at(b, 12),
        }
    } else {
        let word = w as u32;
        if super::checks::crc8_word(word) != (w >> 32) as u8 {
            return Slot::Invalid;
        }
        RecordHeader {
            kind,
            long,
            key_len: (word >> 5) & 0x3F,
            value_len: (word >> 11) & 0x1FFF,
            hash: (word >> 24) as u8,
            check: (w >> 40) as u32,
        }
    };
    if h.key_len > max_key || h.value_len > max_value {
        return Slot::Invalid;
    }
    Slot::Header(h)
}

/// Checks a whole stored record (`rec` starts at the header and holds at
/// least the unaligned length) against its record check.
pub fn verify(rec: &[u8], h: &RecordHeader, seal: Seal) -> bool {
    verify_sealed(rec, h, SealState::new(seal))
}

/// [`verify`] from the seal's state: the covered header bytes and the body
/// (key and value) are fed where they lie in `rec`, without a copy.
#[cfg_attr(feature = "fast-crc", inline)]
#[cfg_attr(not(feature = "fast-crc"), inline(never))]
pub fn verify_sealed(rec: &[u8], h: &RecordHeader, state: SealState) -> bool {
    let end = h.unaligned_len() as usize;
    let Some(rec) = rec.get(..end) else {
        return false;
    };
    let mut c = RecordCheck::sealed(state, h.long);
    c.update(&rec[..h.checked_header_bytes()]);
    c.update(&rec[h.header_len() as usize..]);
    c.finalize() == h.check
}

/// [`verify_sealed`] and the CRC-32C of the record's key (the index hash,
/// [`key_hash`](super::key_hash)) in one pass over the key. With
/// `fast-crc`, the key's bytes are fed once, to the record check; CRC-32C
/// is linear, so the key hash follows from the register before and after
/// the key (the register shifted over the key's length in zero bytes: four
/// table lookups per 16 key bytes). `rec`
/// as for [`verify_sealed`]; a record shorter than its header says is not
/// intact (its key hash is then meaningless).
#[inline]
pub fn verify_hashing(rec: &[u8], h: &RecordHeader, state: SealState) -> (bool, u32) {
    let end = h.unaligned_len() as usize;
    let Some(rec) = rec.get(..end) else {
        return (false, 0);
    };
    let key = &rec[h.key_range()];
    #[cfg(feature = "fast-crc")]
    if short_piece(key.len()) {
        let start = feed_covered(!state.0, rec, h);
        let after_key = super::checks::feed(start, key);
        let hash = !(after_key ^ super::checks::zeros(!start, key.len()));
        let crc = super::checks::append(!after_key, &rec[h.value_range()]);
        return (crc & check_mask(h.long) == h.check, hash);
    }
    (verify_sealed(rec, h, state), super::key_hash(key))
}

/// [`verify_sealed`] of a record whose stored key has been compared equal
/// to a key whose CRC-32C is `key_hash`. Every covered byte is still
/// checked: the key's share of the register is the same function of the
/// key's bytes, taken from `key_hash` (which the caller computed from the
/// same bytes) rather than from a second pass over them. Without
/// `fast-crc`, or for a long key, this is [`verify_sealed`].
#[inline]
pub fn verify_known_key(rec: &[u8], h: &RecordHeader, state: SealState, key_hash: u32) -> bool {
    #[cfg(feature = "fast-crc")]
    if short_piece(h.key_len as usize) {
        let end = h.unaligned_len() as usize;
        let Some(rec) = rec.get(..end) else {
            return false;
        };
        let start = feed_covered(!state.0, rec, h);
        // feed(start, key) = feed(0, key) ^ zeros(start, n), and
        // feed(!0, key) = !key_hash: so feed(start, key) =
        // !key_hash ^ zeros(start ^ !0, n).
        let after_key = !key_hash ^ super::checks::zeros(!start, h.key_len as usize);
        let crc = super::checks::append(!after_key, &rec[h.value_range()]);
        return crc & check_mask(h.long) == h.check;
    }
    #[cfg(not(feature = "fast-crc"))]
    let _ = key_hash;
    verify_sealed(rec, h, state)
}

/// The raw CRC-32C register `r` after the header bytes the record check
/// covers (a short header's 5 inline).
#[cfg(feature = "fast-crc")]
#[inline]
fn feed_covered(r: u32, rec: &[u8], h: &RecordHeader) -> u32 {
    match rec.first_chunk::<5>() {
        Some(five) if !h.long => super::checks::feed5(r, five),
        _ => super::checks::feed(r, &rec[..h.checked_header_bytes()]),
    }
}

/// The bits of the CRC-32C a record check keeps.
#[cfg(feature = "fast-crc")]
#[inline]
const fn check_mask(long: bool) -> u32 {
    if long {
        u32::MAX
    } else {
        SHORT_CHECK_MASK
    }
}

/// Whether a piece of `len` bytes goes through the fused passes above
/// (with `hw-crc`, longer pieces go to the `crc32c` crate, which they do
/// not use).
#[cfg(feature = "fast-crc")]
#[inline]
const fn short_piece(len: usize) -> bool {
    super::checks::fed(len)
}

/// [`short_hit`]'s answer: the record is a value or a deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hit<'a> {
    /// A set of this value (borrowed from the record).
    Set(&'a [u8]),
    /// A deletion.
    Delete,
}

/// The common case of a keyed read, in one pass over the record's first
/// word: `rec` (the record's first byte to the end of the mapped region)
/// holds a short-header set or deletion of `key` (whose CRC-32C is
/// `key_hash`) that decodes as [`decode_header`] decodes it (header check,
/// lengths within `max_key` and `max_value`, the record inside `rec`) and
/// whose record check holds, every covered byte checked as
/// [`verify_known_key`] checks them. `None` for anything else (a long
/// header, another kind, another key, a damaged header or record): not an
/// answer, but the caller's cue to decode the record the general way.
#[inline(always)]
pub(crate) fn short_hit<'a>(
    rec: &'a [u8],
    key: &[u8],
    key_hash: u32,
    state: SealState,
    max_key: u32,
    max_value: u32,
) -> Option<Hit<'a>> {
    let w = u64::from_le_bytes(*rec.first_chunk::<8>()?);
    let word = w as u32;
    let set = short_set(word)?;
    let key_len = (word >> 5) & 0x3F;
    let value_len = (word >> 11) & 0x1FFF;
    // As `decode_header`: system values may pass a small value limit.
    let max_value = if max_value < SYSTEM_VALUE_MAX {
        SYSTEM_VALUE_MAX
    } else {
        max_value
    };
    if key_len as usize != key.len() || key_len > max_key || value_len > max_value {
        return None;
    }
    if super::checks::crc8_word(word) != (w >> 32) as u8 {
        return None;
    }
    let end = SHORT_HEADER_LEN as usize + key.len() + value_len as usize;
    let body = rec.get(SHORT_HEADER_LEN as usize..end)?;
    let (stored_key, value) = body.split_at(key.len());
    if !super::same_bytes(stored_key, key) {
        return None;
    }
    let covered = rec.first_chunk::<5>()?;
    #[cfg(feature = "fast-crc")]
    let crc = if super::checks::FEED_IS_INSTRUCTION {
        // Key and value in one pass (`key_hash` is not needed).
        super::checks::append(!super::checks::feed5(!state.0, covered), body)
    } else if short_piece(key.len()) {
        // As in `verify_known_key`: the key's share from `key_hash`.
        let start = super::checks::feed5(!state.0, covered);
        let after_key = !key_hash ^ super::checks::zeros(!start, key.len());
        super::checks::append(!after_key, value)
    } else {
        let mut c = RecordCheck::sealed(state, false);
        c.update(covered);
        c.update(body);
        c.finalize()
    };
    #[cfg(not(feature = "fast-crc"))]
    let crc = {
        let _ = key_hash;
        let mut c = RecordCheck::sealed(state, false);
        c.update(covered);
        c.update(body);
        c.finalize()
    };
    if crc & SHORT_CHECK_MASK != (w >> 40) as u32 {
        return None;
    }
    Some(if set { Hit::Set(value) } else { Hit::Delete })
}

/// Whether a short header's first word is a set (`Some(true)`) or a
/// deletion (`Some(false)`): kind and form in its low 5 bits, 1 or 2.
#[inline(always)]
const fn short_set(word: u32) -> Option<bool> {
    match word & 0x1F {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

/// A short record's first 8 bytes (little-endian) and its stored key and
/// value, where the lengths in its first word put them (as
/// [`decode_header`] reads them); `None` if they do not fit in `rec`.
#[inline(always)]
fn short_parts(rec: &[u8]) -> Option<(u64, &[u8], &[u8])> {
    let head = u64::from_le_bytes(*rec.first_chunk::<8>()?);
    let word = head as u32;
    let key_len = ((word >> 5) & 0x3F) as usize;
    let end = SHORT_HEADER_LEN as usize + key_len + ((word >> 11) & 0x1FFF) as usize;
    let (key, value) = rec.get(SHORT_HEADER_LEN as usize..end)?.split_at(key_len);
    Some((head, key, value))
}

/// The fingerprint ([`crate::fingerprint`]) that [`short_seen`] compares,
/// of the short record at the start of `rec`: of its header (the first 8
/// bytes) and its value; its key is compared with the caller's key
/// instead. `None` if the record does not fit in `rec`.
#[inline]
pub(crate) fn short_fingerprint(rec: &[u8]) -> Option<u32> {
    let (head, _, value) = short_parts(rec)?;
    Some(crate::fingerprint::fingerprint(head, value))
}

/// [`short_hit`] of a record that a `get` checked before, leaving
/// `fingerprint` ([`short_fingerprint`]): a short set or deletion whose
/// header and value still have that fingerprint and whose stored key equals
/// `key` is answered without computing its header and record checks again
/// (its bytes are those that passed them, but for a chance of about
/// 2^-32; its key bytes are compared with `key` itself). `None` for
/// anything else, the caller's cue to check the record ([`short_hit`],
/// then the general way).
#[inline(always)]
pub(crate) fn short_seen<'a>(rec: &'a [u8], key: &[u8], fingerprint: u32) -> Option<Hit<'a>> {
    let (head, stored_key, value) = short_parts(rec)?;
    let set = short_set(head as u32)?;
    if crate::fingerprint::fingerprint(head, value) != fingerprint
        || !super::same_bytes(stored_key, key)
    {
        return None;
    }
    Some(if set { Hit::Set(value) } else { Hit::Delete })
}

/// Value of a batch begin record: count, inner length.
pub fn batch_begin_value(count: u32, inner_len: u32) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&count.to_le_bytes());
    v[4..].copy_from_slice(&inner_len.to_le_bytes());
    v
}

/// Value of a batch commit record.
pub fn batch_commit_value(begin: u32, count: u32, inner_len: u32, batch_check: u32) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..4].copy_from_slice(&begin.to_le_bytes());
    v[4..8].copy_from_slice(&count.to_le_bytes());
    v[8..12].copy_from_slice(&inner_len.to_le_bytes());
    v[12..].copy_from_slice(&batch_check.to_le_bytes());
    v
}

/// Value of a sync marker record.
pub fn sync_value(prev_sync: u32, coverage: u32) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&prev_sync.to_le_bytes());
    v[4..].copy_from_slice(&coverage.to_le_bytes());
    v
}

/// Value of an erased record (FORMAT.md §7.3): the partner's erase units
/// `0..pending` may still hold bytes; the partner is `partner_size` bytes.
pub fn erased_value(pending: u32, partner_size: u32) -> [u8; 8] {
    sync_value(pending, partner_size)
}

/// Reads the little-endian `u32` number `i` of a system record's value.
pub fn value_u32(value: &[u8], i: usize) -> Option<u32> {
    let b = value.get(i * 4..i * 4 + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    const SEAL: Seal = Seal {
        store_id: 0x0123_4567_89AB_CDEF,
        generation: 7,
    };

    fn enc(kind: Kind, key: &[u8], value: &[u8], w: u32) -> ([u8; 256], u32) {
        let mut out = [0u8; 256];
        let hash = if key.is_empty() {
            0
        } else {
            super::super::short_hash(super::super::key_hash(key))
        };
        let len = encode(&mut out, SEAL, kind, hash, key, value, w).unwrap();
        (out, len)
    }

    /// The record check `encode_sealed` writes (key and value fed as one
    /// piece) is FORMAT.md §4's: CRC-32C of the seal's 16 bytes, the
    /// covered header bytes, key and value, computed here by the `crc`
    /// crate's catalogue algorithm, for both header forms, every key length
    /// of the short form's edge and values around the lanes' step sizes.
    #[test]
    fn encode_sealed_writes_the_check_of_seal_header_key_and_value() {
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
        let keys: std::vec::Vec<u8> = (0..70u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
        for key_len in [0usize, 1, 3, 15, 16, 17, 63, 64, 70] {
            for value_len in [0usize, 1, 4, 7, 8, 15, 16, 31, 32, 33, 100] {
                let key = &keys[..key_len];
                let value: std::vec::Vec<u8> = (0..value_len).map(|i| i as u8 ^ 0xC3).collect();
                let mut out = [0u8; 256];
                let len = encode_sealed(
                    &mut out,
                    SealState::new(SEAL),
                    Kind::Set,
                    0x42,
                    key,
                    &value,
                    4,
                )
                .unwrap();
                let mut again = [0u8; 256];
                assert_eq!(
                    encode(&mut again, SEAL, Kind::Set, 0x42, key, &value, 4),
                    Some(len)
                );
                assert_eq!(out, again);
                let long = !fits_short(key_len as u32, value_len as u32);
                let (covered, at, head) = if long { (12, 12, 16) } else { (5, 5, 8) };
                let mut d = reference.digest();
                d.update(&SEAL.bytes());
                d.update(&out[..covered]);
                d.update(&out[head..head + key_len + value_len]);
                let want = d.finalize();
                let stored = if long {
                    u32::from_le_bytes(out[at..at + 4].try_into().unwrap())
                } else {
                    u32::from_le_bytes([out[at], out[at + 1], out[at + 2], 0])
                };
                let mask = if long { u32::MAX } else { SHORT_CHECK_MASK };
                assert_eq!(stored, want & mask, "key {key_len} value {value_len}");
                assert_eq!(&out[head..head + key_len], key);
                assert_eq!(&out[head + key_len..head + key_len + value_len], &value[..]);
                assert!(out[head + key_len + value_len..len as usize]
                    .iter()
                    .all(|&b| b == 0xFF));
            }
        }
    }

    #[test]
    fn short_and_long_roundtrip_at_every_write_unit() {
        let long_key = [b'k'; 70];
        for w in [1, 2, 4, 8, 16, 32] {
            for (key, value) in [
                (&b"temp"[..], &b"21.5"[..]),
                (&long_key[..], &[0u8][..]),
                (b"a", b""),
            ] {
                let (out, len) = enc(Kind::Set, key, value, w);
                assert_eq!(len % w, 0);
                let Slot::Header(h) = decode_header(&out, 100, 100) else {
                    panic!()
                };
                assert_eq!(
                    (h.kind, h.key_len as usize, h.value_len as usize),
                    (Kind::Set, key.len(), value.len())
                );
                assert_eq!(h.long, key.len() > 63);
                assert_eq!(&out[h.key_range()], key);
                assert_eq!(&out[h.value_range()], value);
                assert!(verify(&out, &h, SEAL));
                assert!(out[h.unaligned_len() as usize..len as usize]
                    .iter()
                    .all(|&b| b == 0xFF));
            }
        }
    }

    #[test]
    fn sixteen_sixteen_is_forty_bytes_up_to_w8() {
        for (w, want) in [(1, 40), (2, 40), (4, 40), (8, 40), (16, 48), (32, 64)] {
            assert_eq!(stored_len(16, 16, w), Some(want));
        }
    }

    #[test]
    fn erased_and_zero_headers_never_decode() {
        assert_eq!(decode_header(&[0xFF; 16], 63, 4096), Slot::Erased);
        assert_eq!(decode_header(&[0; 16], 63, 4096), Slot::Invalid);
    }

    #[test]
    fn every_single_bit_flip_in_a_header_is_caught() {
        for key in [&b"temp"[..], &[b'k'; 70][..]] {
            let (out, _) = enc(Kind::Set, key, b"21.5", 4);
            let hl = if key.len() > 63 { 16 } else { 8 };
            for i in 0..hl * 8 {
                let mut c = out;
                c[i / 8] ^= 1 << (i % 8);
                match decode_header(&c, 100, 100) {
                    Slot::Header(h) => assert!(!verify(&c, &h, SEAL), "bit {i} passed"),
                    Slot::Invalid | Slot::Erased => {}
                }
            }
        }
    }

    #[test]
    fn every_single_bit_flip_in_a_body_fails_the_record_check() {
        let (out, _) = enc(Kind::Set, b"temperature", b"twenty-one", 4);
        let Slot::Header(h) = decode_header(&out, 63, 4096) else {
            panic!()
        };
        for i in 64..(h.unaligned_len() as usize * 8) {
            let mut c = out;
            c[i / 8] ^= 1 << (i % 8);
            assert!(!verify(&c, &h, SEAL), "bit {i}");
        }
    }

    #[test]
    fn fused_checks_agree_with_the_plain_ones_and_catch_every_flip() {
        // Key lengths across the short (< 48 B with `hw-crc`) and long paths,
        // both header forms (a key over 63 B takes the long one), and the
        // zero-shift's byte, word and 16-byte steps.
        let state = SealState::new(SEAL);
        let keys: std::vec::Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
        for key_len in (0..=70).chain([79]) {
            for value_len in [0usize, 1, 3, 16, 47, 48, 100] {
                if 16 + key_len + value_len > 256 {
                    continue;
                }
                let key = &keys[..key_len];
                let value: std::vec::Vec<u8> = (0..value_len).map(|i| i as u8 ^ 0xC3).collect();
                let (out, _) = enc(Kind::Set, key, &value, 4);
                let Slot::Header(h) = decode_header(&out, 100, 4096) else {
                    panic!()
                };
                let hash = super::super::key_hash(key);
                let ctx = (key_len, value_len);
                assert_eq!(verify_hashing(&out, &h, state), (true, hash), "{ctx:?}");
                assert!(verify_known_key(&out, &h, state, hash), "{ctx:?}");
                // On the fused path the key's share comes from `key_hash`:
                // another hash fails.
                #[cfg(feature = "fast-crc")]
                if short_piece(key_len) {
                    assert!(!verify_known_key(&out, &h, state, hash ^ 1), "{ctx:?}");
                }
                // Too short a slice is not intact.
                let end = h.unaligned_len() as usize;
                assert!(!verify_hashing(&out[..end - 1], &h, state).0, "{ctx:?}");
                assert!(!verify_known_key(&out[..end - 1], &h, state, hash));
                // Every covered bit: the check fails. Flips in the key
                // change the key hash (a lookup would not reach the record
                // with the caller's hash), so `verify_known_key` is held
                // to flips outside the key.
                let covered = h.checked_header_bytes() * 8;
                let body = h.header_len() as usize * 8;
                for bit in (0..covered).chain(body..end * 8) {
                    let mut c = out;
                    c[bit / 8] ^= 1 << (bit % 8);
                    // A flip in the header check bytes or lengths is not a
                    // valid header for `h`; feed the body with `h` anyway.
                    assert!(!verify_hashing(&c, &h, state).0, "{ctx:?} bit {bit}");
                    if !h.key_range().contains(&(bit / 8)) {
                        assert!(!verify_known_key(&c, &h, state, hash), "{ctx:?} bit {bit}");
                    }
                }
            }
        }
    }

    /// What `short_hit` must answer: the general decoding's answer for a
    /// short set or deletion of `key` that passes its check, else `None`.
    fn general_hit<'a>(
        rec: &'a [u8],
        key: &[u8],
        state: SealState,
        max_key: u32,
        max_value: u32,
    ) -> Option<Hit<'a>> {
        let Slot::Header(h) = decode_header(rec, max_key, max_value) else {
            return None;
        };
        let end = h.unaligned_len() as usize;
        let keyed = matches!(h.kind, Kind::Set | Kind::Delete) && !h.long;
        if !keyed || rec.len() < end || rec[h.key_range()] != *key {
            return None;
        }
        if !verify_sealed(rec, &h, state) {
            return None;
        }
        Some(match h.kind {
            Kind::Set => Hit::Set(&rec[h.value_range()]),
            _ => Hit::Delete,
        })
    }

    #[test]
    fn short_hit_answers_exactly_when_the_general_decoding_does() {
        let state = SealState::new(SEAL);
        let other = SealState::new(Seal {
            generation: 8,
            ..SEAL
        });
        let keys: std::vec::Vec<u8> = (0..70u8).map(|i| i.wrapping_mul(29) ^ 0x3C).collect();
        let kinds = [
            Kind::Set,
            Kind::Delete,
            Kind::BatchBegin,
            Kind::Damaged,
            Kind::Clear,
        ];
        let mut hits = 0;
        for kind in kinds {
            for key_len in [1usize, 5, 16, 47, 48, 63, 64] {
                for value_len in [0usize, 1, 16, 100] {
                    let key = &keys[..key_len];
                    let value: std::vec::Vec<u8> = (0..value_len).map(|i| i as u8 ^ 0x96).collect();
                    let (out, _) = enc(kind, key, &value, 4);
                    let hash = super::super::key_hash(key);
                    let end =
                        header_len(key_len as u32, value_len as u32) as usize + key_len + value_len;
                    let mut other_key = key.to_vec();
                    other_key[key_len - 1] ^= 0x01;
                    let ctx = (kind, key_len, value_len);
                    let check = |rec: &[u8], k: &[u8], st: SealState, mk: u32, mv: u32| {
                        let want = general_hit(rec, k, st, mk, mv);
                        let h = super::super::key_hash(k);
                        assert_eq!(short_hit(rec, k, h, st, mk, mv), want, "{ctx:?}");
                        want.is_some()
                    };
                    let whole = check(&out[..end], key, state, 63, 4096);
                    // The intact record of a short set or deletion is a hit.
                    let expect = matches!(kind, Kind::Set | Kind::Delete) && key_len <= 63;
                    assert_eq!(whole, expect, "{ctx:?}");
                    hits += usize::from(whole);
                    assert_eq!(
                        short_hit(&out[..end], key, hash, state, 63, 4096).is_some(),
                        expect
                    );
                    // Region end right after the record and one byte short.
                    check(&out, key, state, 63, 4096);
                    check(&out[..end - 1], key, state, 63, 4096);
                    // Another key, a shorter key, another seal, lower limits.
                    check(&out, &other_key, state, 63, 4096);
                    check(&out, &key[..key_len - 1], state, 63, 4096);
                    check(&out, key, other, 63, 4096);
                    check(&out, key, state, key_len as u32 - 1, 4096);
                    check(&out, key, state, 63, 0);
                    // Every single bit flip: never a hit, like the general
                    // decoding (a flip in the key is another key).
                    for bit in 0..end * 8 {
                        let mut c = out;
                        c[bit / 8] ^= 1 << (bit % 8);
                        assert!(!check(&c[..end], key, state, 63, 4096), "{ctx:?} {bit}");
                    }
                    if whole {
                        seen_answers_as_hit(&out, end, key, &other_key, hash, state);
                    }
                }
            }
        }
        assert_eq!(hits, 2 * 6 * 4);
    }

    /// `short_seen` with the fingerprint of an intact short record (`out`,
    /// `end` bytes long) answers as `short_hit`; with the record changed in
    /// any one bit or byte, cut short, or asked for another key or with
    /// another fingerprint, it answers `None` (the caller then checks the
    /// record).
    fn seen_answers_as_hit(
        out: &[u8],
        end: usize,
        key: &[u8],
        other_key: &[u8],
        hash: u32,
        state: SealState,
    ) {
        let ctx = (key.len(), end);
        let fp = short_fingerprint(&out[..end]).expect("fits");
        assert_eq!(short_fingerprint(out), Some(fp), "{ctx:?}");
        assert_eq!(short_fingerprint(&out[..end - 1]), None, "{ctx:?}");
        let hit = short_hit(&out[..end], key, hash, state, 63, 4096);
        assert!(hit.is_some());
        assert_eq!(short_seen(&out[..end], key, fp), hit, "{ctx:?}");
        assert_eq!(short_seen(out, key, fp), hit, "{ctx:?}");
        assert_eq!(short_seen(&out[..end - 1], key, fp), None, "{ctx:?}");
        assert_eq!(short_seen(&out[..end], other_key, fp), None, "{ctx:?}");
        assert_eq!(short_seen(&out[..end], &key[1..], fp), None, "{ctx:?}");
        assert_eq!(short_seen(&out[..end], key, fp ^ 1), None, "{ctx:?}");
        let mut c = out.to_vec();
        for at in 0..end {
            for mask in [0x01u8, 0x02, 0x10, 0x80, 0x5A, 0xFF] {
                c[at] ^= mask;
                assert_eq!(
                    short_seen(&c, key, fp),
                    None,
                    "{ctx:?} byte {at} ^ {mask:#x}"
                );
                c[at] ^= mask;
            }
            for v in [0x00u8, 0xFF] {
                let b = c[at];
                c[at] = v;
                if v != b {
                    assert_eq!(short_seen(&c, key, fp), None, "{ctx:?} byte {at} = {v:#x}");
                }
                c[at] = b;
            }
        }
    }

    #[test]
    fn other_generation_or_store_never_validates() {
        let (out, _) = enc(Kind::Set, b"temp", b"21.5", 4);
        let Slot::Header(h) = decode_header(&out, 63, 4096) else {
            panic!()
        };
        assert!(!verify(
            &out,
            &h,
            Seal {
                generation: 8,
                ..SEAL
            }
        ));
        assert!(!verify(
            &out,
            &h,
            Seal {
                store_id: 9,
                ..SEAL
            }
        ));
    }

    #[test]
    fn reseal_produces_the_encoding_of_the_new_generation() {
        for key in [&b"temp"[..], &[b'k'; 70][..]] {
            let (mut out, _) = enc(Kind::Set, key, b"21.5", 4);
            let Slot::Header(h) = decode_header(&out, 100, 100) else {
                panic!()
            };
            let next = Seal {
                generation: 8,
                ..SEAL
            };
            reseal(&mut out, &h, next);
            let mut want = [0u8; 256];
            let hash = super::super::short_hash(super::super::key_hash(key));
            let len = encode(&mut want, next, Kind::Set, hash, key, b"21.5", 4).unwrap() as usize;
            assert_eq!(out[..len], want[..len]);
        }
    }

    /// `reseal_from` (from the old check, with `fast-crc`) writes what
    /// `reseal` (a pass over the record) writes: both forms, keys and
    /// values of many lengths, write units 1 to 32, several seal pairs.
    #[test]
    fn reseal_from_the_old_check_is_reseal() {
        let seals = [
            (
                SEAL,
                Seal {
                    generation: 8,
                    ..SEAL
                },
            ),
            (
                Seal {
                    store_id: 0,
                    generation: 0,
                },
                Seal {
                    store_id: 0,
                    generation: 1,
                },
            ),
            (
                Seal {
                    store_id: u64::MAX,
                    generation: u64::MAX - 1,
                },
                Seal {
                    store_id: u64::MAX,
                    generation: u64::MAX,
                },
            ),
        ];
        let mut checked = 0;
        for (old, new) in seals {
            for w in [1, 4, 8, 32] {
                for kl in [1usize, 5, 16, 17, 63, 64, 70] {
                    for vl in [0usize, 1, 3, 8, 16, 33, 100, 8191, 8192] {
                        let key: std::vec::Vec<u8> = (0..kl).map(|i| (i * 7 + 3) as u8).collect();
                        let value: std::vec::Vec<u8> =
                            (0..vl).map(|i| (i * 13 + 1) as u8).collect();
                        let mut out = std::vec![0u8; 8400];
                        let hash = super::super::short_hash(super::super::key_hash(&key));
                        let len = encode(&mut out, old, Kind::Set, hash, &key, &value, w).unwrap()
                            as usize;
                        let Slot::Header(h) = decode_header(&out, 100, 10_000) else {
                            panic!()
                        };
                        let mut a = out[..len].to_vec();
                        let mut b = out[..len].to_vec();
                        reseal(&mut a, &h, new);
                        reseal_from(&mut b, &h, SealState::new(old), new);
                        assert_eq!(a, b, "key {kl}, value {vl}, W {w}, long {}", h.long);
                        let Slot::Header(nh) = decode_header(&b, 100, 10_000) else {
                            panic!()
                        };
                        assert!(verify(&b, &nh, new), "key {kl}, value {vl}, W {w}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 4 * 7 * 9);
    }

    #[test]
    fn lengths_over_the_limits_are_invalid() {
        let (out, _) = enc(Kind::Set, b"temp", b"21.5", 4);
        assert_eq!(decode_header(&out, 3, 4096), Slot::Invalid);
        assert!(
            decode_header(&out, 63, 3).is_header(),
            "system minimum of 16 applies"
        );
        let (out, _) = enc(Kind::Set, b"temp", &[0; 20], 4);
        assert_eq!(decode_header(&out, 63, 19), Slot::Invalid);
    }

    #[test]
    fn kinds_zero_and_fifteen_are_invalid() {
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::from_code(15), None);
        for c in (1..=14).filter(|&c| c != UPDATE_CODE) {
            assert_eq!(Kind::from_code(c).map(Kind::code), Some(c));
        }
        assert_eq!(Kind::from_code(UPDATE_CODE), Some(Kind::Set));
    }

    /// The column of the short record check for each covered bit, nearest
    /// the end first: the check's change when that bit alone flips (the
    /// check is affine, so every error's change is the XOR of its bits'
    /// columns). Modelled bit by bit (reflected CRC-32C register, low 24
    /// bits) and compared with the real check at sampled positions.
    fn short_check_columns(bits: usize) -> std::vec::Vec<u32> {
        let step = super::super::checks::reference_step;
        let mut cur: std::vec::Vec<u32> = (0..8).map(|k| step(0, 1 << k)).collect();
        let mut cols = std::vec::Vec::with_capacity(bits);
        while cols.len() < bits {
            cols.extend(cur.iter().map(|c| c & SHORT_CHECK_MASK));
            cur = cur.into_iter().map(|c| step(c, 0)).collect();
        }
        cols.truncate(bits);
        cols
    }

    #[test]
    fn short_check_columns_are_the_real_checks_differences() {
        let value = [0x5Au8; 200];
        let (out, _) = enc(Kind::Set, b"temperature", &value, 4);
        let Slot::Header(h) = decode_header(&out, 63, 4096) else {
            panic!()
        };
        let end = h.unaligned_len() as usize;
        let check = |rec: &[u8]| {
            let mut c = RecordCheck::new(SEAL, false);
            c.update(&rec[..5]);
            c.update(&rec[8..end]);
            c.finalize()
        };
        let cols = short_check_columns(8 * (end - 3));
        let base = check(&out);
        // Covered bits: 5 header bytes, then key and value (bytes 8..end).
        for byte in (0..5).chain(8..end).step_by(7) {
            for bit in [0, 3, 7] {
                let mut c = out;
                c[byte] ^= 1 << bit;
                let from_end = if byte < 5 {
                    end - 3 - 1 - byte
                } else {
                    end - 1 - byte
                };
                assert_eq!(
                    check(&c) ^ base,
                    cols[8 * from_end + bit],
                    "byte {byte} bit {bit}"
                );
            }
        }
    }

    /// FORMAT.md §4.5: the short record check (low 24 bits of CRC-32C)
    /// detects every 1-bit error in any short record, every 2-bit error while
    /// the covered stored bytes (header bytes 0..5, key, value) are at most
    /// 1125, every 3-bit error while they are at most 111; and these bounds
    /// are exact. An error may hit the 24 stored check bits too, whose
    /// columns are the unit vectors.
    #[test]
    fn short_check_detection_bounds_are_as_documented() {
        let max_covered = 5 + SHORT_MAX_KEY as usize + SHORT_MAX_VALUE as usize;
        let cols = short_check_columns(8 * max_covered);
        let weight = |c: u32| c.count_ones();
        // 1 bit (and a data bit with one check bit): every column has
        // weight ≥ 2.
        assert!(cols.iter().all(|&c| weight(c) >= 2));
        // 2 bits: columns distinct up to 1125 bytes, not at 1126.
        let first_dup = {
            let mut seen = std::collections::HashSet::new();
            cols.iter().position(|&c| !seen.insert(c))
        };
        assert_eq!(first_dup.map(|i| i / 8 + 1), Some(1126));
        // 3 bits: a column of weight ≥ 3 (data + two check bits), pairs
        // differing in ≥ 2 bits (two data + one check), no three columns
        // cancelling (three data bits); up to 111 bytes, not at 112.
        let mut seen = std::collections::HashSet::new();
        let mut first_triple = None;
        for (i, &c) in cols.iter().enumerate().take(8 * 120) {
            let bad = weight(c) < 3
                || cols[..i]
                    .iter()
                    .any(|&d| weight(c ^ d) < 2 || seen.contains(&(c ^ d)));
            if bad {
                first_triple = Some(i);
                break;
            }
            seen.insert(c);
        }
        assert_eq!(first_triple.map(|i| i / 8 + 1), Some(112));
    }

    impl Slot {
        fn is_header(&self) -> bool {
            matches!(self, Slot::Header(_))
        }
    }
}
