//! Atomic batches (FORMAT.md §5): the pass that plans a batch before
//! anything is written, appending it (begin, records, commit) and indexing
//! it, and [`BatchKeys`], which finds a batch's repeated keys in linear time
//! through the store's own index.

use super::staged::{staged_op, STAGED, STAGED_END};
use super::switch::Fold;
use super::write::Trigger;
use super::write::{effect, Effect};
use super::*;
use crate::error::bug;

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// An atomic batch of two or more operations.
    pub(super) async fn write_batch(&mut self, ops: &[Op<'_>]) -> Res<(), R::Error> {
        self.write_checked(ops).await?;
        let w = self.pair.active().geo.write_unit;
        // Twice at most: again after committing a prepared switch.
        let (scan, add, live_after) = loop {
            let scan = self.batch_scan(ops).await?;
            if scan.lens == 0 {
                return Ok(());
            }
            let add = scan.lens
                + record::stored_len(0, 8, w).ok_or_else(|| bug!())?
                + record::stored_len(0, 16, w).ok_or_else(|| bug!())?;
            let live_after = i64::from(self.tally.live_bytes) + scan.effect.live;
            let live_after = u32::try_from(live_after).map_err(|_| bug!())?;
            if live_after > self.fill_limit() && live_after > self.tally.live_bytes {
                return Err(Fail::Full);
            }
            if scan.inserts > 0 && !self.index.has_room(scan.inserts) {
                return Err(Fail::IndexFull);
            }
            if self.commit_is_prepared() {
                // Accepted: the switch the write before prepared is
                // committed first (FORMAT.md §7.4), then the batch is
                // decided again on the new region (its tally and damage).
                self.commit_if_prepared().await?;
                continue;
            }
            break (scan, add, live_after);
        };
        match self.trigger(add, live_after) {
            Trigger::Switch => return self.switch(Fold::Ops(ops)).await,
            Trigger::Begin => self.begin_incremental().await?,
            Trigger::Append => {}
        }
        if self.append_batch(ops, &scan).await? {
            self.copy_after_write(add).await?;
        }
        Ok(())
    }

    /// One pass over a batch before anything is written: the bytes its
    /// records take, its effect on the live data and the most index entries
    /// it adds at any point (see [`BatchScan`]).
    pub(super) async fn batch_scan(&mut self, ops: &[Op<'_>]) -> Res<BatchScan, R::Error> {
        let mut keys = BatchKeys::new(ops);
        let r = self.batch_scan_staged(ops, &mut keys).await;
        keys.finish(&mut self.index, ops);
        r
    }

    async fn batch_scan_staged(
        &mut self,
        ops: &[Op<'_>],
        keys: &mut BatchKeys,
    ) -> Res<BatchScan, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let mut scan = BatchScan {
            count: 0,
            lens: 0,
            inserts: 0,
            effect: Effect {
                live: 0,
                keys: 0,
                entries: 0,
            },
        };
        let (mut now, mut peak) = (0i64, 0i64);
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            let prev = keys.step(&mut self.index, ops, i, hash);
            // The key's entry before the batch (nothing is applied yet); a
            // suspect counts as damage that may cover the key (`lookup`).
            let looked = self.lookup(op.key(), hash).await?;
            let touches = self.damage_touches(short_hash(hash)) || looked.suspect;
            let old = looked.found.map(|(_, _, h)| h);
            // From the first op on, the previous op on the key decides whether
            // it has an entry.
            let before = match prev {
                Some(j) => matches!(ops[j], Op::Set(..)) || touches,
                None => old.is_some(),
            };
            if let Some(len) = record_len(op, prev.is_some() || before || touches, w)? {
                scan.lens = scan.lens.checked_add(len).ok_or_else(|| bug!())?;
                scan.count += 1;
            }
            // The index is updated in op order, and a replay at open applies
            // the batch's records in the same order, so a batch must fit at
            // every step, not only at its end.
            let after = matches!(op, Op::Set(..)) || touches;
            now += i64::from(after) - i64::from(before);
            peak = peak.max(now);
            // The effect on the live data is the last op's on each key: this
            // op's replaces the previous op's.
            let mut add = |e: Effect, sign: i64| {
                scan.effect.live += sign * e.live;
                scan.effect.keys += sign * e.keys;
                scan.effect.entries += sign * e.entries;
            };
            if let Some(j) = prev {
                add(effect(old, &ops[j], touches, w)?, -1);
            }
            add(effect(old, op, touches, w)?, 1);
        }
        scan.inserts = peak as usize;
        Ok(scan)
    }

    /// Appends `ops` to the active log as a batch (begin, records, commit)
    /// and then updates the index; if a program fails or does not read back,
    /// folds the whole batch into a switch instead (and returns `false`).
    pub(super) async fn append_batch(
        &mut self,
        ops: &[Op<'_>],
        scan: &BatchScan,
    ) -> Res<bool, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let begin = self.pair.active().append_at();
        let mut keys = BatchKeys::new(ops);
        let written = self.append_batch_records(ops, scan, &mut keys).await;
        keys.finish(&mut self.index, ops);
        if !written? {
            self.switch(Fold::Ops(ops)).await?;
            return Ok(false);
        }
        // Only now, with the commit written, do the writes become visible.
        let first = begin + record::stored_len(0, 8, w).ok_or_else(|| bug!())?;
        let mut keys = BatchKeys::new(ops);
        let r = self.index_batch(ops, first, &mut keys).await;
        keys.finish(&mut self.index, ops);
        r.map(|()| true)
    }

    /// The batch's begin, records and commit; `Ok(false)`: a program failed
    /// (see [`Store::append_encoded`]).
    async fn append_batch_records(
        &mut self,
        ops: &[Op<'_>],
        scan: &BatchScan,
        keys: &mut BatchKeys,
    ) -> Res<bool, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let mut batch_check = crate::format::checks::CRC32C.digest();
        let begin = self.pair.active().append_at();
        let v = record::batch_begin_value(scan.count, scan.lens);
        if self
            .append_encoded(Kind::BatchBegin, false, 0, &[], &v)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        for (i, op) in ops.iter().enumerate() {
            let Some(len) = self.batch_record_len(ops, keys, i, w).await? else {
                continue;
            };
            let (kind, value) = match *op {
                Op::Set(_, v) => (Kind::Set, v),
                Op::Delete(_) => (Kind::Delete, &[][..]),
            };
            let hash = short_hash(key_hash(op.key()));
            if self
                .append_encoded(kind, false, hash, op.key(), value)
                .await?
                .is_none()
            {
                return Ok(false);
            }
            batch_check.update(&self.scratch.as_mut()[..len as usize]);
        }
        let v = record::batch_commit_value(begin, scan.count, scan.lens, batch_check.finalize());
        Ok(self
            .append_encoded(Kind::BatchCommit, false, 0, &[], &v)
            .await?
            .is_some())
    }

    /// Points the index at the committed batch's records, which start at
    /// `first`, in op order.
    async fn index_batch(
        &mut self,
        ops: &[Op<'_>],
        first: u32,
        keys: &mut BatchKeys,
    ) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let mut off = first;
        for (i, op) in ops.iter().enumerate() {
            let Some(len) = self.batch_record_len(ops, keys, i, w).await? else {
                continue;
            };
            // Staged keys take index room a real insert may need.
            if keys.staged() && !self.index.has_room(1) {
                keys.unstage(&mut self.index, &ops[..=i]);
            }
            let kind = if matches!(op, Op::Set(..)) {
                Kind::Set
            } else {
                Kind::Delete
            };
            if kind == Kind::Delete {
                // A switch under way: its target gets the batch's deletes
                // (those that wrote a record) too.
                self.delete_in_target(short_hash(key_hash(op.key())), op.key())
                    .await?;
            }
            self.index_put(op.key(), key_hash(op.key()), kind, off)
                .await?;
            off += len;
        }
        Ok(())
    }

    /// Length of the record `ops[i]` appends, `None` for a no-op: deleting a
    /// key that has no record, no damage to clear, and no earlier op in the
    /// same batch. `keys` must have taken `ops[..i]` in order. The answer
    /// depends only on the state before the batch (the index entry of a key
    /// is read only before the batch's first op on it has been applied).
    async fn batch_record_len(
        &mut self,
        ops: &[Op<'_>],
        keys: &mut BatchKeys,
        i: usize,
        w: u32,
    ) -> Res<Option<u32>, R::Error> {
        let op = &ops[i];
        if !keys.deletes {
            // Every op writes a record: no need to know the others.
            return record_len(op, true, w);
        }
        let hash = key_hash(op.key());
        let earlier = keys.step(&mut self.index, ops, i, hash).is_some();
        let needed = match op {
            Op::Set(..) => true,
            Op::Delete(k) => {
                earlier || self.damage_touches(short_hash(hash)) || {
                    let looked = self.lookup(k, hash).await?;
                    looked.found.is_some() || looked.suspect
                }
            }
        };
        record_len(op, needed, w)
    }
}

/// What [`Store::batch_scan`] learns about a batch before writing it.
pub(super) struct BatchScan {
    /// Records the batch appends (no-op deletes write none).
    count: u32,
    /// Their stored bytes.
    lens: u32,
    /// The most index entries applying the batch in op order adds at any
    /// point.
    inserts: usize,
    /// The effect on the live data (the last op on each key).
    effect: Effect,
}

/// The record `op` appends when `needed` (a delete needs one only if the key
/// had an entry, has damage to clear, or an earlier op of the batch wrote it).
fn record_len<E>(op: &Op<'_>, needed: bool, w: u32) -> Res<Option<u32>, E> {
    Ok(match *op {
        Op::Set(k, v) => Some(set_len(k, v, w)?),
        Op::Delete(k) if needed => Some(set_len(k, &[], w)?),
        Op::Delete(_) => None,
    })
}

/// Finds, for each op of a batch, the other ops on the same key, in O(1)
/// expected time per op and O(1) extra RAM: each key of the batch is staged
/// in the store's own index as an extra entry (its key hash, offset
/// [`STAGED`] | the position of the key's latest op so far), found by the
/// normal probe and compared with the op's key. Record lookups skip staged
/// entries. [`BatchKeys::finish`] removes them all again.
///
/// The index needs room for one staged entry per distinct key next to the
/// records' entries. Where it has none (a [`FixedIndex`](crate::FixedIndex)
/// near full), or for a batch of 2^31 ops, the batch falls back to a
/// 1024-bit filter of key hashes seen twice and an exact search among the
/// ops for keys whose bit is set: no RAM either, but quadratic in time once
/// the filter saturates (past ~1,000 keys).
pub(super) struct BatchKeys {
    staged: bool,
    /// Whether the batch has a delete (without, every op writes a record).
    deletes: bool,
    /// Whether a key may be staged (a step was taken).
    taken: bool,
    /// The fallback's filter, built when the fallback starts. In `u32`
    /// words: `u64`s made the struct 8-aligned, and a firmware then linked
    /// `__aeabi_memclr8` and `__aeabi_memcpy8` (330 B) for it alone.
    twice: Option<[u32; 32]>,
}

impl BatchKeys {
    /// Nothing is staged yet.
    pub(super) fn new(ops: &[Op<'_>]) -> Self {
        BatchKeys {
            staged: ops.len() < (STAGED_END & !STAGED) as usize,
            deletes: ops.iter().any(|o| matches!(o, Op::Delete(_))),
            taken: false,
            twice: None,
        }
    }

    /// Whether the keys are staged in the index (not the fallback).
    pub(super) fn staged(&self) -> bool {
        self.staged
    }

    /// Takes `ops[i]` (call for `i` = 0, 1, 2, … in order) and returns the
    /// position of the latest earlier op on the same key.
    pub(super) fn step<I: Index>(
        &mut self,
        index: &mut I,
        ops: &[Op<'_>],
        i: usize,
        hash: u32,
    ) -> Option<usize> {
        if self.staged {
            self.taken = true;
            let tag = STAGED | i as u32;
            match Self::find(index, ops, hash, ops[i].key()) {
                Some((pos, prev)) => {
                    index.set_offset(pos, tag);
                    return Some(prev);
                }
                None if index.insert(hash, tag).is_ok() => return None,
                // No room: fall back for the rest of the pass.
                None => self.unstage(index, &ops[..i]),
            }
        }
        let key = ops[i].key();
        if !self.maybe_twice(ops, hash) {
            return None;
        }
        ops[..i].iter().rposition(|o| o.key() == key)
    }

    /// Takes every op (see [`BatchKeys::step`]), for [`BatchKeys::later`].
    pub(super) fn stage_all<I: Index>(&mut self, index: &mut I, ops: &[Op<'_>]) {
        for (i, op) in ops.iter().enumerate() {
            self.step(index, ops, i, key_hash(op.key()));
        }
    }

    /// Whether an op after `ops[i]` (whose key hash is `hash`) has its key;
    /// once every op has been taken.
    pub(super) fn later<I: Index>(
        &mut self,
        index: &I,
        ops: &[Op<'_>],
        i: usize,
        hash: u32,
    ) -> bool {
        let key = ops[i].key();
        if self.staged {
            return matches!(Self::find(index, ops, hash, key), Some((_, last)) if last != i);
        }
        self.maybe_twice(ops, hash) && ops[i + 1..].iter().any(|o| o.key() == key)
    }

    /// [`BatchKeys::later`] negated, and if `ops[i]` is the last op on its
    /// key, its staged entry leaves the index (room for the key's own entry).
    pub(super) fn take_last<I: Index>(
        &mut self,
        index: &mut I,
        ops: &[Op<'_>],
        i: usize,
        hash: u32,
    ) -> bool {
        if !self.staged {
            return !self.later(index, ops, i, hash);
        }
        match Self::find(index, ops, hash, ops[i].key()) {
            Some((pos, last)) if last == i => {
                index.remove(pos);
                true
            }
            _ => false,
        }
    }

    /// Removes the staged entries of `ops` from the index: what every pass
    /// ends with, whether it succeeded or not.
    pub(super) fn finish<I: Index>(mut self, index: &mut I, ops: &[Op<'_>]) {
        if self.staged && self.taken {
            self.unstage(index, ops);
        }
    }

    /// Removes the staged entries of the keys of `ops` and falls back to the
    /// filter for the rest of the pass.
    pub(super) fn unstage<I: Index>(&mut self, index: &mut I, ops: &[Op<'_>]) {
        for op in ops {
            let key = op.key();
            if let Some((pos, _)) = Self::find(index, ops, key_hash(key), key) {
                index.remove(pos);
            }
        }
        self.staged = false;
    }

    /// Position and op of the staged entry of `key`.
    fn find<I: Index>(index: &I, ops: &[Op<'_>], hash: u32, key: &[u8]) -> Option<(usize, usize)> {
        let mut op = 0;
        let found = index.find::<()>(hash, |off| {
            Ok(match staged_op(off) {
                Some(j) if ops.get(j).is_some_and(|o| o.key() == key) => {
                    op = j;
                    true
                }
                _ => false,
            })
        });
        match found {
            Ok(Some(pos)) => Some((pos, op)),
            _ => None,
        }
    }

    /// Whether the fallback's filter says the key may occur twice.
    fn maybe_twice(&mut self, ops: &[Op<'_>], hash: u32) -> bool {
        let twice = match &mut self.twice {
            Some(twice) => twice,
            none => Self::filter(none.insert([0; 32]), ops),
        };
        let (word, bit) = Self::slot(hash);
        twice[word] & bit != 0
    }

    /// Builds in `twice` (zero) the fallback's 1024-bit filter of key hashes
    /// seen twice: a key whose bit is clear occurs once. In place: not
    /// copied into the `Option`.
    fn filter<'t>(twice: &'t mut [u32; 32], ops: &[Op<'_>]) -> &'t mut [u32; 32] {
        let mut once = [0u32; 32];
        for op in ops {
            let (word, bit) = Self::slot(key_hash(op.key()));
            twice[word] |= once[word] & bit;
            once[word] |= bit;
        }
        twice
    }

    fn slot(hash: u32) -> (usize, u32) {
        let b = (hash >> 8) as usize & 1023;
        (b / 32, 1u32 << (b % 32))
    }
}
