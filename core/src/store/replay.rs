//! What a replay of the active region (FORMAT.md §6) feeds into the store:
//! the index, the damage list and the live counters.

use super::*;

/// Feeds a replay into the index and damage list, counting as it goes.
pub(super) struct IndexSink<'a, I: Index> {
    pub(super) index: &'a mut I,
    pub(super) damage: &'a mut DamageList,
    pub(super) limits: Limits,
    /// The records the index points at (damage entries are added after).
    pub(super) tally: Tally,
    /// A key found no room in the index (the replay goes on, so that damage
    /// that explains the extra key is still found).
    pub(super) overflow: bool,
    /// The newest erased record: (pending units, partner size).
    pub(super) erased: Option<(u32, u32)>,
    /// Where the records a switch copied end (the commit's data end), until
    /// the index has been sized from them (then 0); see [`Self::size_index`].
    pub(super) copied_end: u32,
    /// Records fed so far in this walk, while `copied_end` is not 0.
    pub(super) seen: u32,
    /// Where the commit says the records a switch copied end: an update at
    /// or past it may be taken on its claim (FORMAT.md §6.5); one copied
    /// with the rest was claimed against another region's index.
    pub(super) claims_from: u32,
}

impl<I: Index> IndexSink<'_, I> {
    /// Counts (`add`) or uncounts the record with header `h` in a region of
    /// write unit `w` (the journal's: not kept here, to keep the sink small).
    fn count(&mut self, h: &RecordHeader, w: u32, add: bool) {
        self.tally.count_header(h, w, add);
    }
    /// Reserves the index for the records a switch copied, once the walk
    /// is 1/16 of the way through them: their number is estimated from the
    /// records seen so far and the bytes they took. A switch copies in index
    /// order, that is by key hash, so the first records are a fair sample of
    /// the copied ones' lengths. Only a hint: records appended after the
    /// switch, or a wrong estimate, are handled by the index as before.
    fn size_index(&mut self, off: u32) {
        let end = self.copied_end;
        if end == 0 || off < end / 16 || self.seen < 64 {
            return;
        }
        self.copied_end = 0;
        let before = u64::from(self.seen - 1);
        let estimate = before * u64::from(end) / u64::from(off.max(1));
        // Never more than the copied bytes could hold (a key is at least
        // one byte, a record at least a short header and its key).
        let bound = u64::from(end / (record::SHORT_HEADER_LEN + 1));
        let additional = estimate.min(bound).saturating_sub(before);
        self.index
            .reserve(usize::try_from(additional).unwrap_or(usize::MAX));
    }
    /// An update's claim (FORMAT.md §6.5): for the record at `off` with
    /// header `h` and first byte `first`, stored as an update, the position
    /// of the only entry of its 32-bit key hash, which is then its key's
    /// older set of the same stored length, and where the probe for the
    /// hash stopped. `None` where the claim may not be taken: before
    /// `claims_from`, with damage that could cover the key, or with no or
    /// several entries of the hash (the caller then compares keys, as for a
    /// set). Not inlined on devices: one call in the replay's loop.
    #[cfg_attr(feature = "fast-crc", inline(always))]
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    fn claimed(
        &self,
        off: u32,
        first: Option<&u8>,
        h: &RecordHeader,
        key_hash: u32,
    ) -> Option<(usize, usize)> {
        if !record::is_update(*first?) || off < self.claims_from || self.damage.touches(h.hash) {
            return None;
        }
        let mut cursor = 0;
        let (p, _) = self.index.next_match(key_hash, &mut cursor)?;
        let mut more = cursor;
        match self.index.next_match(key_hash, &mut more) {
            None => Some((p, cursor)),
            Some(_) => None,
        }
    }
    fn forget(&mut self) {
        self.index.clear();
        self.damage.clear();
        self.tally = Tally::default();
        self.overflow = false;
        self.erased = None;
    }
}

impl<I: Index> IndexSink<'_, I> {
    /// [`Sink::record`] on a region that lends its bytes, `key` being the
    /// new record's key in place: taken once, and each candidate's header
    /// and key compared in place, without a call. Apart from the other
    /// regions' path, so that theirs (flash) keeps its own, smaller frame.
    #[inline(always)]
    fn record_lent<R: Region>(
        &mut self,
        j: &Journal<R>,
        off: u32,
        h: &RecordHeader,
        len: u32,
        key_hash: u32,
        key: &[u8],
    ) -> Res<(), R::Error> {
        let first = j.region.lend().and_then(|b| b.get(off as usize));
        if let Some((p, cursor)) = self.claimed(off, first, h, key_hash) {
            // The older set of the key, stored in as many bytes.
            let w = j.geo.write_unit;
            self.settle(w, off, h, Some(len), key_hash, Some(*h), Some(p), cursor);
            return Ok(());
        }
        let mut old = None;
        let mut pos = None;
        let mut cursor = 0;
        while let Some((p, o)) = self.index.next_match(key_hash, &mut cursor) {
            if let Some(same) = j.lent_old_same(o, key, self.limits) {
                if let Some(oh) = same? {
                    old = Some(oh);
                    pos = Some(p);
                    break;
                }
            }
        }
        self.settle(
            j.geo.write_unit,
            off,
            h,
            Some(len),
            key_hash,
            old,
            pos,
            cursor,
        );
        Ok(())
    }

    /// The index and the live counters after the record at `off` (header
    /// `h`; `len`, its stored length where the caller has it, else computed
    /// from `h`): `old` is the record of the same key the index held and
    /// `pos` its position, `cursor` where the probe for the key stopped.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        write_unit: u32,
        off: u32,
        h: &RecordHeader,
        len: Option<u32>,
        key_hash: u32,
        old: Option<RecordHeader>,
        pos: Option<usize>,
        cursor: usize,
    ) {
        let keep = h.kind != Kind::Delete || self.damage.touches(h.hash);
        if let Some(oh) = old {
            self.count(&oh, write_unit, false);
        }
        if keep {
            match len {
                // The walk's stored length of this record: not computed again.
                Some(len) => self.tally.count(h.kind, h.key_len > 0, len, true),
                None => self.count(h, write_unit, true),
            }
        }
        match (pos, keep) {
            (Some(p), true) => self.index.set_offset(p, off),
            (Some(p), false) => self.index.remove(p),
            (None, true) => {
                // Where the probe for the key stopped: a table may insert there.
                if self.index.insert_after_miss(key_hash, off, cursor).is_err() {
                    self.overflow = true;
                }
            }
            (None, false) => {}
        }
    }
}

#[io(AFIT)]
impl<R: Region, I: Index> Sink<R> for IndexSink<'_, I> {
    async fn record(
        &mut self,
        j: &mut Journal<R>,
        off: u32,
        h: &RecordHeader,
        len: u32,
        key_hash: u32,
        w: &Window<'_>,
    ) -> Res<(), R::Error> {
        if self.copied_end != 0 {
            self.seen = self.seen.saturating_add(1);
            self.size_index(off);
        }
        if let Some(key) = j.lent_key(off, h) {
            return self.record_lent(j, off, h, len, key_hash, key);
        }
        let limits = self.limits;
        // The replay checked the record in `w`.
        let first = w.get(off, 1).and_then(<[u8]>::first);
        let (old, pos, cursor) = 'found: {
            if let Some((p, cursor)) = self.claimed(off, first, h, key_hash) {
                // The older set of the key, stored in as many bytes: not read.
                break 'found (Some(*h), Some(p), cursor);
            }
            let mut cursor = 0;
            while let Some((p, o)) = self.index.next_match(key_hash, &mut cursor) {
                if let Some(oh) = j.same_key(o, off, h, limits, w).await? {
                    break 'found (Some(oh), Some(p), cursor);
                }
            }
            (None, None, cursor)
        };
        // The stored length from `h` again: the walk's `len` kept for the
        // tally across this loop made the replay's frame on flash 40 B
        // deeper (the footprint's reboot row 2,068 B, over 2 KiB).
        self.settle(j.geo.write_unit, off, h, None, key_hash, old, pos, cursor);
        Ok(())
    }
    fn damage(&mut self, d: Damage) {
        self.damage.add(d);
    }
    fn clear(&mut self) {
        // A clear forgets keys, not what is known of the partner.
        let erased = self.erased;
        self.forget();
        self.erased = erased;
    }
    fn erased(&mut self, pending: u32, partner_size: u32) {
        self.erased = Some((pending, partner_size));
    }
    fn reset(&mut self) {
        self.forget();
    }
}
