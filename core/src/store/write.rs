//! Writes: single records, atomic batches (FORMAT.md §5), sync markers
//! (§6.3) and the rule that folds a write into a switch (§7.1).

use super::switch::Fold;
use super::*;
use crate::error::bug;

/// The planned effect of a write on one key.
#[derive(Clone, Copy)]
pub(super) struct Effect {
    live: i64,
    keys: i64,
    entries: i64,
}

impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Sets `key` to `value`. Returns once the record is written (on a region
    /// that does not persist in order, call [`Store::sync`] for power-loss
    /// durability).
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), R::Error> {
        let op = Op::Set(key, value);
        self.write_checked(core::slice::from_ref(&op))?;
        let before = self.switches;
        self.write_one(&op)?;
        self.erase_ahead_after_write(before)
    }

    /// Deletes `key`; returns whether it had a value (a key that reported
    /// [`Error::Corrupted`] had none, and reads as absent afterwards).
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, R::Error> {
        self.write_checked(&[Op::Delete(key)])?;
        let before = self.switches;
        let had = self.write_one(&Op::Delete(key))?;
        self.erase_ahead_after_write(before)?;
        Ok(had)
    }

    /// Applies `ops` atomically: after a power cut either all of them or none
    /// is visible. Later operations on the same key win.
    pub fn apply(&mut self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        let before = self.switches;
        if let [op] = ops {
            self.write_checked(ops)?;
            self.write_one(op)?;
        } else {
            self.write_batch(ops)?;
        }
        self.erase_ahead_after_write(before)
    }

    /// Deletes every key: a switch to an empty committed region. Old data
    /// never comes back.
    pub fn clear(&mut self) -> Result<(), R::Error> {
        self.writable()?;
        self.switch(Fold::Clear)
    }

    /// Drops every damaged record and damage entry into a fresh committed
    /// region (a compaction that forgets damage). A key whose newest record
    /// was damaged then reads as absent; a key that a damage entry covered
    /// (its newest record lost with an unreadable key) reads its newest
    /// intact value, which may be older than what was lost. Returns how many
    /// damaged keys or key groups were dropped. List them first (e.g.
    /// `twinkv verify`): the loss becomes silent afterwards.
    pub fn repair(&mut self) -> Result<usize, R::Error> {
        self.writable()?;
        let dropped = self.tally.damaged_keyed + self.damage.entries().len();
        self.switch(Fold::Repair)?;
        Ok(dropped)
    }

    /// Puts `region` in place of the inactive region and returns the one it
    /// replaces, without a reopen: how a host grows a store (FORMAT.md §1:
    /// the two regions may differ in size; the fill limit follows the
    /// smaller one). Nothing is written; the next switch writes into
    /// `region`.
    ///
    /// `extends` says that `region` is the inactive region's storage made
    /// larger: its first bytes are the replaced region's and every byte past
    /// the old size reads erased, so the next switch erases only what it
    /// would have erased anyway. Without it the next switch erases all of
    /// `region`.
    ///
    /// Refused, with nothing changed (`region` is dropped): on a read-only or
    /// poisoned store; with [`Error::ConfigMismatch`] when `region`'s read,
    /// write or erase unit differ, the configuration does not fit it, or
    /// `extends` is claimed for a smaller region; with [`Error::Full`] when
    /// the live data exceeds the fill limit the pair would have.
    pub fn replace_inactive(&mut self, region: R, extends: bool) -> Result<R, R::Error> {
        self.writable()?;
        let old = self.pair.inactive().geo;
        let new = region.geometry();
        let active = self.pair.active().geo;
        if new.write_unit != old.write_unit
            || new.erase_unit != old.erase_unit
            || new.read_unit != old.read_unit
            || (extends && new.size < old.size)
            || !self.config.fits(active, new)
        {
            return Err(Error::ConfigMismatch);
        }
        let d = self.pair.active().data_start();
        let cap = active.size.min(new.size).saturating_sub(d);
        if self.tally.live_bytes > fill_limit(cap, self.config.max_fill_bp) {
            return Err(Error::Full);
        }
        Ok(self.pair.inactive_mut().replace_region(region, extends))
    }

    /// Forces a switch (compaction) now.
    pub fn compact(&mut self) -> Result<(), R::Error> {
        self.writable()?;
        self.switch(Fold::Ops(&[]))
    }

    /// Durability barrier: everything written before returns survives power
    /// loss. On regions that do not persist in order, appends a sync marker
    /// after the flush (FORMAT.md §6.3).
    pub fn sync(&mut self) -> Result<(), R::Error> {
        self.writable()?;
        let w = self.pair.active().geo.write_unit;
        let seal = self.seal();
        let (j, scratch) = (self.pair.active_mut(), self.scratch.as_mut());
        j.sync()?;
        if j.region.persists_in_order() || j.sealed() || j.append_at() == j.last_sync() {
            return Ok(());
        }
        let prev = j.last_sync();
        let coverage = j.crc_range(prev, j.append_at())?;
        let value = record::sync_value(prev, coverage);
        let len = record::encode(scratch, seal, Kind::SyncMarker, 0, &[], &value, w)
            .ok_or_else(|| bug!())?;
        if j.append_at() + len > j.size() {
            // No room for the marker: the data is durable anyway, and the next
            // write switches (a switch's commit is a sync point).
            return Ok(());
        }
        j.append(&scratch[..len as usize])?;
        j.mark_synced();
        Ok(())
    }

    /// Plans the effect of `ops` on the live data.
    pub(super) fn plan(&mut self, ops: &[Op<'_>]) -> Result<Effect, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let mut total = Effect {
            live: 0,
            keys: 0,
            entries: 0,
        };
        let keys = BatchKeys::new(ops);
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            if keys.repeated(ops, i, hash, true) {
                continue; // shadowed by a later op on the same key
            }
            let old = self.lookup(op.key(), hash)?.map(|(_, _, h)| h);
            let e = effect(old, op, self.damage.touches(short_hash(hash)), w)?;
            total.live += e.live;
            total.keys += e.keys;
            total.entries += e.entries;
        }
        Ok(total)
    }

    /// Bytes appending `ops` writes (0: nothing to write).
    pub(super) fn batch_len(&mut self, ops: &[Op<'_>]) -> Result<u32, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let keys = BatchKeys::new(ops);
        let mut total = 0u32;
        for i in 0..ops.len() {
            if let Some(len) = self.record_len_at(ops, &keys, i, w)? {
                total = total.checked_add(len).ok_or_else(|| bug!())?;
            }
        }
        if total > 0 {
            total += record::stored_len(0, 8, w).ok_or_else(|| bug!())?;
            total += record::stored_len(0, 16, w).ok_or_else(|| bug!())?;
        }
        Ok(total)
    }

    /// Length of the record `ops[i]` appends, `None` for a no-op: deleting a
    /// key that has no record, no damage to clear, and no earlier write in
    /// the same batch. The answer depends only on the state before the batch
    /// (a key's index entry changes only once an earlier op wrote that key),
    /// so it is the same before and after the batch's earlier ops are applied.
    pub(super) fn record_len_at(
        &mut self,
        ops: &[Op<'_>],
        keys: &BatchKeys,
        i: usize,
        w: u32,
    ) -> Result<Option<u32>, R::Error> {
        Ok(match ops[i] {
            Op::Set(k, v) => Some(set_len(k, v, w)?),
            Op::Delete(k) => {
                let hash = key_hash(k);
                let earlier = keys.repeated(ops, i, hash, false);
                if earlier
                    || self.damage.touches(short_hash(hash))
                    || self.lookup(k, hash)?.is_some()
                {
                    Some(set_len(k, &[], w)?)
                } else {
                    None
                }
            }
        })
    }

    /// Refuses writes on a read-only or poisoned store and input that can
    /// never be written (empty or oversized keys, oversized values).
    pub(super) fn write_checked(&self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        self.writable()?;
        for op in ops {
            self.check_key(op.key())?;
            if let Op::Set(_, v) = op {
                if v.len() > self.config.max_value_len as usize {
                    return Err(Error::ValueTooLarge);
                }
            }
        }
        Ok(())
    }

    /// One set or delete, with one index lookup. Returns whether the key had
    /// a value before.
    pub(super) fn write_one(&mut self, op: &Op<'_>) -> Result<bool, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let key = op.key();
        let hash = key_hash(key);
        let short = short_hash(hash);
        let found = self.lookup(key, hash)?;
        let touches = self.damage.touches(short);
        let old = found.map(|(_, _, h)| h);
        let had = matches!(old, Some(h) if h.kind == Kind::Set)
            && !self.damage.covers(short, found.map(|(_, off, _)| off));
        let (kind, value) = match *op {
            Op::Set(_, v) => (Kind::Set, v),
            Op::Delete(_) if found.is_none() && !touches => return Ok(false),
            Op::Delete(_) => (Kind::Delete, &[][..]),
        };
        let e = effect(old, op, touches, w)?;
        let live_after =
            u32::try_from(i64::from(self.tally.live_bytes) + e.live).map_err(|_| bug!())?;
        if live_after > self.fill_limit() && live_after > self.tally.live_bytes {
            return Err(Error::Full);
        }
        if e.entries > 0 && !self.index.has_room(1) {
            return Err(Error::IndexFull);
        }
        let add = set_len(key, value, w)?;
        if self.should_switch(add, live_after) {
            self.switch(Fold::Ops(core::slice::from_ref(op)))?;
            return Ok(had);
        }
        let Some(off) = self.append_encoded(kind, short, key, value)? else {
            self.switch(Fold::Ops(core::slice::from_ref(op)))?;
            return Ok(had);
        };
        let keep = kind == Kind::Set || touches;
        match (found, keep) {
            (Some((pos, _, _)), true) => self.index.set_offset(pos, off),
            (Some((pos, _, _)), false) => self.index.remove(pos),
            (None, true) => self.index.insert(hash, off).map_err(|_| bug!())?,
            (None, false) => {}
        }
        if let Some(h) = old {
            self.tally.count_header(&h, w, false);
        }
        if keep {
            self.tally.count(kind, true, add, true);
        }
        debug_assert_eq!(self.tally.live_bytes, live_after, "the planned effect");
        Ok(had)
    }

    /// An atomic batch of two or more operations.
    pub(super) fn write_batch(&mut self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        self.write_checked(ops)?;
        let add = self.batch_len(ops)?;
        if add == 0 {
            return Ok(());
        }
        let effect = self.plan(ops)?;
        let live_after = i64::from(self.tally.live_bytes) + effect.live;
        let live_after = u32::try_from(live_after).map_err(|_| bug!())?;
        if live_after > self.fill_limit() && live_after > self.tally.live_bytes {
            return Err(Error::Full);
        }
        let inserts = self.batch_inserts(ops)?;
        if inserts > 0 && !self.index.has_room(inserts) {
            return Err(Error::IndexFull);
        }
        if self.should_switch(add, live_after) {
            self.switch(Fold::Ops(ops))
        } else {
            self.append_batch(ops)
        }
    }

    /// The most index entries applying `ops` in order adds at any point: the
    /// index is updated in op order, and a replay at open applies the batch's
    /// records in the same order, so a batch must fit at every step, not only
    /// at its end.
    pub(super) fn batch_inserts(&mut self, ops: &[Op<'_>]) -> Result<usize, R::Error> {
        let keys = BatchKeys::new(ops);
        let (mut now, mut peak) = (0i64, 0i64);
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            let keeps = |o: &Op<'_>, damage: &DamageList| {
                matches!(o, Op::Set(..)) || damage.touches(short_hash(key_hash(o.key())))
            };
            // Has the key an entry just before this op?
            let before = if keys.repeated(ops, i, hash, false) {
                match ops[..i].iter().rev().find(|o| o.key() == op.key()) {
                    Some(o) => keeps(o, &self.damage),
                    None => self.lookup(op.key(), hash)?.is_some(),
                }
            } else {
                self.lookup(op.key(), hash)?.is_some()
            };
            let after = keeps(op, &self.damage);
            now += i64::from(after) - i64::from(before);
            peak = peak.max(now);
        }
        Ok(peak as usize)
    }

    /// The trigger rule of FORMAT.md §7 / issue "double-buffer switch".
    pub(super) fn should_switch(&self, add: u32, live_after: u32) -> bool {
        let j = self.pair.active();
        if j.sealed() {
            return true;
        }
        let cap = j.capacity();
        let used = j.append_at() - j.data_start();
        let after = u64::from(used) + u64::from(add);
        if after > u64::from(cap) {
            return true;
        }
        if after > u64::from(fill_limit(cap, self.config.high_water_bp)) {
            let frees = after.saturating_sub(u64::from(live_after));
            // The switch writes an erased record for the region it leaves
            // (FORMAT.md §7.3): what it frees must leave C × (1 − max-fill)
            // after it.
            let erased = record::stored_len(0, 8, j.geo.write_unit).unwrap_or(0);
            let needed = u64::from(cap) - u64::from(fill_limit(cap, self.config.max_fill_bp))
                + u64::from(erased);
            return frees >= needed;
        }
        false
    }

    /// Appends `ops` to the active log as a batch (begin, records, commit)
    /// and then updates the index; if a program fails or does not read back,
    /// folds the whole batch into a switch instead.
    pub(super) fn append_batch(&mut self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let keys = BatchKeys::new(ops);
        let mut lens = 0u32;
        let mut count = 0u32;
        for i in 0..ops.len() {
            if let Some(l) = self.record_len_at(ops, &keys, i, w)? {
                lens += l;
                count += 1;
            }
        }
        let mut batch_check = crate::format::checks::CRC32C.digest();
        let begin = self.pair.active().append_at();
        let v = record::batch_begin_value(count, lens);
        if self.append_encoded(Kind::BatchBegin, 0, &[], &v)?.is_none() {
            return self.switch(Fold::Ops(ops));
        }
        for (i, op) in ops.iter().enumerate() {
            let Some(len) = self.record_len_at(ops, &keys, i, w)? else {
                continue;
            };
            let (kind, value) = match *op {
                Op::Set(_, v) => (Kind::Set, v),
                Op::Delete(_) => (Kind::Delete, &[][..]),
            };
            let hash = short_hash(key_hash(op.key()));
            if self.append_encoded(kind, hash, op.key(), value)?.is_none() {
                return self.switch(Fold::Ops(ops));
            }
            batch_check.update(&self.scratch.as_mut()[..len as usize]);
        }
        let v = record::batch_commit_value(begin, count, lens, batch_check.finalize());
        if self
            .append_encoded(Kind::BatchCommit, 0, &[], &v)?
            .is_none()
        {
            return self.switch(Fold::Ops(ops));
        }
        // Only now, with the commit written, do the writes become visible.
        let mut off = begin + record::stored_len(0, 8, w).ok_or_else(|| bug!())?;
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            let Some(len) = self.record_len_at(ops, &keys, i, w)? else {
                continue;
            };
            let kind = if matches!(op, Op::Set(..)) {
                Kind::Set
            } else {
                Kind::Delete
            };
            self.index_put(op.key(), hash, kind, off)?;
            off += len;
        }
        Ok(())
    }

    /// `Ok(None)`: the program failed or did not read back as written; the
    /// log is sealed and the caller folds its write into a switch instead.
    pub(super) fn append_encoded(
        &mut self,
        kind: Kind,
        hash: u8,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u32>, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let seal = self.seal();
        let (j, scratch) = (self.pair.active_mut(), self.scratch.as_mut());
        let len = record::encode(scratch, seal, kind, hash, key, value, w).ok_or_else(|| bug!())?;
        if j.append_at() + len > j.size() {
            return Err(bug!());
        }
        let off = match j.append(&scratch[..len as usize]) {
            Ok(off) => off,
            // The program failed: the log is sealed; switch away from it.
            Err(Error::Region(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if j.region.persists_in_order() {
            // Read back what was programmed: on NOR flash, a unit torn by an
            // earlier power cut can read as erased, and programming over it
            // garbles the record. Never acknowledge such a write; seal the
            // log and let the caller fold the write into a switch.
            let (rec, back) = scratch.split_at_mut(scratch.len() / 2);
            let back = back.get_mut(..len as usize).ok_or_else(|| bug!())?;
            j.read(off, back)?;
            if *back != rec[..len as usize] {
                j.seal();
                return Ok(None);
            }
        }
        Ok(Some(off))
    }

    /// Points the index at the new record `off` of `key` and keeps the counts.
    pub(super) fn index_put(
        &mut self,
        key: &[u8],
        hash: u32,
        kind: Kind,
        off: u32,
    ) -> Result<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let touches = self.damage.touches(short_hash(hash));
        let old = self.lookup(key, hash)?;
        let old_h = old.map(|(_, _, h)| h);
        // The new record counts unless it is a delete nothing needs.
        let new_h = if kind == Kind::Delete && !touches {
            None
        } else {
            Some(self.pair.active_mut().header_at(off, u32::MAX, u32::MAX)?)
        };
        if let Some(h) = old_h {
            self.tally.count_header(&h, w, false);
        }
        if let Some(h) = new_h {
            self.tally.count_header(&h, w, true);
        }
        match (old, new_h) {
            (Some((pos, _, _)), None) => self.index.remove(pos),
            (Some((pos, _, _)), Some(_)) => self.index.set_offset(pos, off),
            (None, None) => {}
            (None, Some(_)) => self.index.insert(hash, off).map_err(|_| Error::IndexFull)?,
        }
        Ok(())
    }
}

/// Which keys of a batch may occur more than once, without allocating: a
/// 1024-bit filter of key hashes seen twice. A key whose bit is clear occurs
/// once, so the exact (quadratic) search for its other occurrences is only
/// needed for the few whose bit is set.
pub(super) struct BatchKeys {
    twice: [u64; 16],
}

impl BatchKeys {
    pub(super) fn new(ops: &[Op<'_>]) -> Self {
        let mut once = [0u64; 16];
        let mut twice = [0u64; 16];
        for op in ops {
            let (word, bit) = Self::slot(key_hash(op.key()));
            twice[word] |= once[word] & bit;
            once[word] |= bit;
        }
        BatchKeys { twice }
    }
    pub(super) fn slot(hash: u32) -> (usize, u64) {
        let b = (hash >> 8) as usize & 1023;
        (b / 64, 1u64 << (b % 64))
    }
    /// Whether another op of `ops` has the key of `ops[i]` (whose hash is
    /// `hash`): among the ops after `i` if `later`, else among those before.
    pub(super) fn repeated(&self, ops: &[Op<'_>], i: usize, hash: u32, later: bool) -> bool {
        let (word, bit) = Self::slot(hash);
        if self.twice[word] & bit == 0 {
            return false;
        }
        let key = ops[i].key();
        if later {
            ops[i + 1..].iter().any(|o| o.key() == key)
        } else {
            ops[..i].iter().any(|o| o.key() == key)
        }
    }
}

/// The effect of `op` on a key whose newest record has header `old`.
pub(super) fn effect<E>(
    old: Option<RecordHeader>,
    op: &Op<'_>,
    touches: bool,
    w: u32,
) -> Result<Effect, E> {
    let (old_len, old_key, old_entry) = match old {
        Some(h) => (
            h.stored_len(w).ok_or_else(|| bug!())?,
            i64::from(h.kind == Kind::Set),
            1i64,
        ),
        None => (0, 0, 0),
    };
    let (new_len, new_key, new_entry) = match *op {
        Op::Set(k, v) => (set_len(k, v, w)?, 1i64, 1i64),
        Op::Delete(k) if touches => (set_len(k, &[], w)?, 0, 1),
        Op::Delete(_) => (0, 0, 0),
    };
    Ok(Effect {
        live: i64::from(new_len) - i64::from(old_len),
        keys: new_key - old_key,
        entries: new_entry - old_entry,
    })
}
