//! The store's live counters (FORMAT.md §4.6), kept in one place.

use crate::format::record::{Kind, RecordHeader};

/// What the records the index points at (and the damage entries) add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Bytes a compaction would write: live records and damage records.
    pub(crate) live_bytes: u32,
    /// Keys with a value (newest record a set).
    pub(crate) live_keys: usize,
    /// Keys whose newest record is a keyed damaged record.
    pub(crate) damaged_keyed: usize,
}

impl Tally {
    /// Counts (`add`) or uncounts a record of `kind` stored in `len` bytes;
    /// `keyed`: it carries a key (keyless damaged records count only bytes).
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub(crate) fn count(&mut self, kind: Kind, keyed: bool, len: u32, add: bool) {
        let step = |n: usize| if add { n + 1 } else { n.saturating_sub(1) };
        self.live_bytes = if add {
            self.live_bytes.saturating_add(len)
        } else {
            self.live_bytes.saturating_sub(len)
        };
        match kind {
            Kind::Set if keyed => self.live_keys = step(self.live_keys),
            Kind::Damaged if keyed => self.damaged_keyed = step(self.damaged_keyed),
            _ => {}
        }
    }

    /// [`Tally::count`] for the record with header `h` at write unit `w`.
    pub(crate) fn count_header(&mut self, h: &RecordHeader, w: u32, add: bool) {
        let len = h.stored_len(w).unwrap_or(0);
        self.count(h.kind, h.key_len > 0, len, add);
    }
}
