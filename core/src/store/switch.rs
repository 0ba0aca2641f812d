//! The double-buffer switch (FORMAT.md §7), one function per step of its
//! crash table (§7.2). Steps 1–3 begin it ([`Store::begin_switch`]); the
//! copy of step 4 runs at once or in slices over the following writes
//! (`copy`, §7.4); [`Store::finish_switch`] ends it with steps 4's folded
//! write and 5–9.

#[cfg(feature = "batch")]
use super::batch::BatchKeys;
use super::copy::{CopyState, Copying};
use super::*;
use crate::error::bug;

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Compacts the live state into the other region, folding in `fold`, and
    /// makes it active (FORMAT.md §7). An incremental switch in progress is
    /// finished first (with `fold` when it fits what is left of the target).
    /// Any failure leaves the store poisoned until reopened; storage is
    /// always recoverable.
    pub(super) async fn switch(&mut self, fold: Fold<'_, '_>) -> Res<(), R::Error> {
        let r = self.switch_inner(fold).await;
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    async fn switch_inner(&mut self, fold: Fold<'_, '_>) -> Res<(), R::Error> {
        if self.copying() {
            if let Fold::Ops(ops) = fold {
                if self.fold_fits(ops).await? {
                    return self.finish_switch(fold).await;
                }
            }
            // A clear, a repair, or a write the target has no room left for:
            // commit the copy as it is, then switch once more.
            self.finish_switch(Fold::Ops(&[])).await?;
            if matches!(fold, Fold::Ops([])) {
                return Ok(());
            }
        }
        self.begin_switch(fold).await?;
        self.finish_switch(fold).await
    }

    /// Steps 1 to 3 and the start of step 4 (the keyless damage records):
    /// the switch's plan is fixed, the target prepared; the live records are
    /// copied next. Keys a clear drops leave the index first. On a medium
    /// that does not persist in order, what the switch appends from here
    /// on, in this call or in the slices of later writes, is fed to its
    /// covering marker (FORMAT.md §6.4).
    pub(super) async fn begin_switch(&mut self, fold: Fold<'_, '_>) -> Res<(), R::Error> {
        let state = self.plan_switch(fold).await?;
        self.step1_mark_switching(&state).await?;
        self.step2_erase_target().await?;
        self.step3_program_header(state.new_seal.generation).await?;
        self.pair.inactive_mut().start_cover();
        self.copy = CopyState::Copying(state);
        if !matches!(fold, Fold::Clear) {
            self.write_damage_records().await?;
        }
        Ok(())
    }

    /// What the switch will write: the target's seal, the damage to carry
    /// over.
    async fn plan_switch(&mut self, fold: Fold<'_, '_>) -> Res<Copying, R::Error> {
        let new_seal = Seal {
            store_id: self.store_id,
            generation: next_generation(self.generation).ok_or(Fail::Corrupted)?,
        };
        if let Fold::Clear = fold {
            self.index.clear();
        }
        // A repair forgets all damage: keys are copied as they are, damaged
        // records are dropped.
        let repair = matches!(fold, Fold::Repair);
        // What the copy has left: every entry, its bytes the live bytes but
        // the damage records'.
        let w = self.pair.active().geo.write_unit;
        let damage_bytes: u32 = self
            .damage
            .entries()
            .iter()
            .map(|d| damage_record_len(d.scope, w))
            .sum();
        Ok(Copying::planned(
            new_seal,
            repair,
            self.index.len(),
            self.tally.live_bytes.saturating_sub(damage_bytes),
        ))
    }

    /// Step 1: "switching" in the active region, synced.
    async fn step1_mark_switching(&mut self, plan: &Copying) -> Res<(), R::Error> {
        let src = self.pair.active_mut();
        if !src
            .read_marker(Marker::Switching, plan.old_seal())
            .await?
            .is_set()
        {
            src.program_marker(Marker::Switching, plan.old_seal(), 0)
                .await?;
        }
        src.sync().await
    }

    /// Step 2: erase what the target needs.
    async fn step2_erase_target(&mut self) -> Res<(), R::Error> {
        self.pair.inactive_mut().erase_for_format().await
    }

    /// Step 3: the target's header with generation + 1 (`generation`).
    async fn step3_program_header(&mut self, generation: u64) -> Res<(), R::Error> {
        let header = self.header_for(self.pair.inactive(), generation);
        self.pair.inactive_mut().program_header(&header).await
    }

    /// Step 4 begins: one keyless damage record per damage entry.
    async fn write_damage_records(&mut self) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let CopyState::Copying(c) = &mut self.copy else {
            return Err(bug!());
        };
        let dst = match self.pair.active {
            RegionId::A => &mut self.pair.b,
            RegionId::B => &mut self.pair.a,
        };
        let scratch = self.scratch.as_mut();
        // The damage entries carried over (none for a repair).
        let carried = if c.repair {
            &[][..]
        } else {
            self.damage.entries()
        };
        for d in carried {
            let (hash, value): (u8, &[u8]) = match d.scope {
                Scope::Hash(h) => (h, &[]),
                Scope::Any => (0, &[1]),
            };
            let len = record::encode(scratch, c.new_seal, Kind::Damaged, hash, &[], value, w)
                .ok_or_else(|| bug!())?;
            let off = dst.append_at();
            dst.append(scratch, len).await?;
            c.new_damage.add(Damage {
                scope: d.scope,
                offset: off,
            });
            c.tally.count(Kind::Damaged, false, len, true);
        }
        Ok(())
    }

    /// Whether the target has room for what the copy has left, `ops`' records
    /// and the erased record: then an incremental switch can end with them.
    async fn fold_fits(&mut self, ops: &[Op<'_>]) -> Res<bool, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let mut need = u64::from(self.copy.left_bytes()) + u64::from(erased_record_len(w));
        for op in ops {
            let v: &[u8] = match op {
                Op::Set(_, v) => v,
                Op::Delete(_) => &[],
            };
            need += u64::from(set_len::<R::Error>(op.key(), v, w)?);
        }
        let dst = self.pair.inactive();
        Ok(need <= u64::from(dst.size() - dst.append_at()))
    }

    /// The rest of step 4 (what is left to copy, the folded write, the
    /// erased record for the region left), then steps 5 to 9.
    pub(super) async fn finish_switch(&mut self, fold: Fold<'_, '_>) -> Res<(), R::Error> {
        if self.commit_is_prepared() {
            // The end of a switch a write prepared (`compact`, `clear`,
            // `repair`, `maintain`): its commit. A write or sync commits it
            // before it appends; a fold here would come after its erased
            // record.
            if !matches!(fold, Fold::Ops([])) {
                return Err(bug!());
            }
            return self.commit_if_prepared().await;
        }
        if let Fold::Ops(ops) = fold {
            for op in ops {
                let hash = key_hash(op.key());
                if let Some((pos, off, h)) = self.lookup(op.key(), hash).await?.found {
                    self.entry_leaves(off, &h).await?;
                    self.index.remove(pos);
                }
            }
        }
        self.copy_some(u64::MAX).await?;
        if self.copy.left_entries() != 0 {
            return Err(bug!());
        }
        let fold_start = self.step4_write_fold(fold).await?;
        let erased_recorded = self.step4_write_erased().await?;
        let CopyState::Copying(c) = &self.copy else {
            return Err(bug!());
        };
        let (old_seal, new_seal) = (c.old_seal(), c.new_seal);
        let data_end = self.pair.inactive().append_at();
        self.step5_7_commit(new_seal, data_end).await?;
        self.step8_supersede(old_seal).await?;
        let resumed = self.step9_activate(data_end, erased_recorded).await?;
        self.step9_index_fold(fold, resumed, fold_start).await
    }

    /// Step 4, the folded write: after the copy, in op order (the last op
    /// on each key). A delete leaves a record only where an older record of
    /// its key may be in the target: damage, or a copy made before this call.
    ///
    /// Never inlined: it would otherwise stay in `finish_switch`'s frame
    /// under step 9. A single op (every `set` and `delete`, and an empty
    /// fold) is written here; a batch of two or more ops, whose repeated
    /// keys need the batch tracking (`BatchKeys`, 136 B with its filter),
    /// in [`step4_write_batch`](Self::step4_write_batch), a frame of its own.
    #[inline(never)]
    async fn step4_write_fold(&mut self, fold: Fold<'_, '_>) -> Res<u32, R::Error> {
        let fold_start = self.pair.inactive().append_at();
        match fold {
            Fold::Repair => {}
            Fold::Clear => {
                let w = self.pair.active().geo.write_unit;
                let seal = self.copy.target_seal().ok_or_else(|| bug!())?;
                let dst = match self.pair.active {
                    RegionId::A => &mut self.pair.b,
                    RegionId::B => &mut self.pair.a,
                };
                let scratch = self.scratch.as_mut();
                let len = record::encode(scratch, seal, Kind::Clear, 0, &[], &[], w)
                    .ok_or_else(|| bug!())?;
                dst.append(scratch, len).await?;
            }
            // One op is the last on its key: no batch tracking.
            Fold::Ops(ops) if ops.len() < 2 => {
                for op in ops {
                    self.step4_write_op(op).await?;
                }
            }
            #[cfg(feature = "batch")]
            Fold::Ops(ops) => self.step4_write_batch(ops).await?,
            // Only `apply` folds two or more ops.
            #[cfg(not(feature = "batch"))]
            Fold::Ops(_) => return Err(bug!()),
        }
        Ok(fold_start)
    }

    /// [`step4_write_fold`](Self::step4_write_fold) for a batch: each op
    /// that no later op of the batch overwrites. Never inlined (see there).
    #[cfg(feature = "batch")]
    #[inline(never)]
    async fn step4_write_batch(&mut self, ops: &[Op<'_>]) -> Res<(), R::Error> {
        let mut batch_keys = BatchKeys::new(ops);
        batch_keys.stage_all(&mut self.index, ops);
        let mut r = Ok(());
        for (i, op) in ops.iter().enumerate() {
            if batch_keys.later(&self.index, ops, i, key_hash(op.key())) {
                continue;
            }
            r = self.step4_write_op(op).await;
            if r.is_err() {
                break;
            }
        }
        batch_keys.finish(&mut self.index, ops);
        r
    }

    /// The folded write's record of `op`, the last op on its key, appended
    /// to the target (none for a delete the target needs no record of).
    async fn step4_write_op(&mut self, op: &Op<'_>) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let CopyState::Copying(c) = &self.copy else {
            return Err(bug!());
        };
        let hash = key_hash(op.key());
        let (kind, value) = match *op {
            Op::Set(_, v) => (Kind::Set, v),
            Op::Delete(_) if c.resumed || c.new_damage.touches(short_hash(hash)) => {
                (Kind::Delete, &[][..])
            }
            Op::Delete(_) => return Ok(()),
        };
        let dst = match self.pair.active {
            RegionId::A => &mut self.pair.b,
            RegionId::B => &mut self.pair.a,
        };
        let scratch = self.scratch.as_mut();
        let len = record::encode(
            scratch,
            c.new_seal,
            kind,
            short_hash(hash),
            op.key(),
            value,
            w,
        )
        .ok_or_else(|| bug!())?;
        if dst.append_at() + len > dst.size() {
            return Err(bug!());
        }
        dst.append(scratch, len).await?;
        Ok(())
    }

    /// Step 4 ends: what erase ahead must erase of the region this switch
    /// leaves (FORMAT.md §7.3), committed with the copy. Omitted only when
    /// the target has no room left for it.
    async fn step4_write_erased(&mut self) -> Res<bool, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let CopyState::Copying(c) = &self.copy else {
            return Err(bug!());
        };
        let new_seal = c.new_seal;
        let (src, dst) = self.pair.split_mut();
        let scratch = self.scratch.as_mut();
        let value = record::erased_value(src.used_units(), src.size());
        let len = record::encode(scratch, new_seal, Kind::Erased, 0, &[], &value, w)
            .ok_or_else(|| bug!())?;
        let recorded = dst.append_at() + len <= dst.size();
        if recorded {
            dst.append(scratch, len).await?;
        }
        self.step4_write_cover(new_seal).await?;
        Ok(recorded)
    }

    /// Step 4's last record, on a medium that does not persist in order:
    /// the covering sync marker (FORMAT.md §6.4), previous sync point the
    /// data start, coverage what the switch appended since (fed as it
    /// programmed, never read back). Omitted when the target has no room
    /// left for it.
    async fn step4_write_cover(&mut self, seal: Seal) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let dst = self.pair.inactive_mut();
        if dst.region.persists_in_order() {
            // Never covered (compiled out with their regions).
            return Ok(());
        }
        let Some(coverage) = dst.take_cover() else {
            return Ok(());
        };
        let value = record::sync_value(dst.data_start(), coverage);
        let scratch = self.scratch.as_mut();
        let len = record::encode(scratch, seal, Kind::SyncMarker, 0, &[], &value, w)
            .ok_or_else(|| bug!())?;
        let dst = self.pair.inactive_mut();
        let at = dst.append_at();
        if at + len <= dst.size() {
            dst.append(scratch, len).await?;
            // What the next open checks at once (`Stats::uncovered_bytes`).
            dst.note_covered(at);
        }
        Ok(())
    }

    /// Steps 5 to 7: sync the copy, program the commit (data end), sync.
    async fn step5_7_commit(&mut self, new_seal: Seal, data_end: u32) -> Res<(), R::Error> {
        self.pair.inactive_mut().sync().await?;
        self.step6_7_commit(new_seal, data_end).await
    }

    /// Steps 6 and 7: program the commit (data end), sync.
    async fn step6_7_commit(&mut self, new_seal: Seal, data_end: u32) -> Res<(), R::Error> {
        let dst = self.pair.inactive_mut();
        dst.program_marker(Marker::Commit, new_seal, data_end)
            .await?;
        dst.sync().await
    }

    /// The end of a write's copy slice that copied the last entry, on a
    /// region that does not persist in order (FORMAT.md §7.4): steps 4 (the
    /// erased record) and 5 (sync) now, steps 6 to 9 in the next call that
    /// writes ([`commit_if_prepared`](Self::commit_if_prepared)), so that
    /// neither call syncs the target twice. Nothing is written to the old
    /// region in between.
    pub(super) async fn prepare_commit(&mut self) -> Res<(), R::Error> {
        let erased_recorded = self.step4_write_erased().await?;
        let data_end = self.pair.inactive().append_at();
        self.pair.inactive_mut().sync().await?;
        let CopyState::Copying(c) = &mut self.copy else {
            return Err(bug!());
        };
        c.prepared = Some((data_end, erased_recorded));
        Ok(())
    }

    /// Commits a prepared switch ([`prepare_commit`](Self::prepare_commit)):
    /// steps 6 to 9. A write calls it once it is accepted (after its
    /// checks, `Full` and `IndexFull` included: a refused write writes
    /// nothing) and before it appends; a sync calls it first;
    /// `compact`, `clear`, `repair` and `maintain` end the switch under way
    /// as they would any ([`finish_switch`](Self::finish_switch)), which
    /// commits a prepared one. Nothing else is written to the old region.
    pub(super) async fn commit_if_prepared(&mut self) -> Res<(), R::Error> {
        if !self.commit_is_prepared() {
            return Ok(());
        }
        let CopyState::Copying(c) = &self.copy else {
            return Ok(());
        };
        let Some((data_end, erased_recorded)) = c.prepared else {
            return Ok(());
        };
        let (old_seal, new_seal) = (c.old_seal(), c.new_seal);
        let r = self
            .commit_prepared(old_seal, new_seal, data_end, erased_recorded)
            .await;
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// Whether a switch's commit is prepared
    /// ([`prepare_commit`](Self::prepare_commit)). Never on a region that
    /// persists in order, which the check includes: on flash the compiler
    /// drops every branch this guards.
    pub(super) fn commit_is_prepared(&self) -> bool {
        self.copy.prepared() && !self.pair.active().region.persists_in_order()
    }

    async fn commit_prepared(
        &mut self,
        old_seal: Seal,
        new_seal: Seal,
        data_end: u32,
        erased_recorded: bool,
    ) -> Res<(), R::Error> {
        self.step6_7_commit(new_seal, data_end).await?;
        self.step8_supersede(old_seal).await?;
        self.step9_activate(data_end, erased_recorded).await?;
        Ok(())
    }

    /// Step 8: "superseded" in the old region; not programmed over a slot
    /// that no longer reads erased (damaged while the store was open),
    /// which an open reads as this step cut short (FORMAT.md §8), as step 1
    /// leaves a "switching" slot that is not erased. Synced here on a
    /// region that persists in order; on one that does not, by the store's
    /// next sync (FORMAT.md §7.2, row 7 until then).
    async fn step8_supersede(&mut self, old_seal: Seal) -> Res<(), R::Error> {
        let src = self.pair.active_mut();
        if !src
            .read_marker(Marker::Superseded, old_seal)
            .await?
            .is_set()
        {
            src.program_marker(Marker::Superseded, old_seal, 0).await?;
        }
        if src.region.persists_in_order() {
            src.sync().await
        } else {
            self.inactive_unsynced = true;
            Ok(())
        }
    }

    /// Step 9: the new region is active; the index and counters follow it.
    /// Returns whether the copy was resumed (see `Copying`), for
    /// [`step9_index_fold`](Self::step9_index_fold), which `finish_switch`
    /// calls next, so that the folded write's indexing is not under this
    /// frame.
    ///
    /// The switch's state is taken field by field, not moved out whole (a
    /// copy of it in this frame).
    async fn step9_activate(
        &mut self,
        data_end: u32,
        erased_recorded: bool,
    ) -> Res<bool, R::Error> {
        let CopyState::Copying(c) = &mut self.copy else {
            return Err(bug!());
        };
        let (generation, resumed) = (c.new_seal.generation, c.resumed);
        self.damage.copy_from(&c.new_damage);
        self.tally = c.tally;
        self.copy = CopyState::Idle;
        // Every failing entry was copied as a damage record and left the
        // index.
        self.suspects = false;
        let (src, dst) = self.pair.split_mut();
        dst.committed(data_end);
        src.retire();
        if erased_recorded {
            src.set_pending_recorded();
        }
        // Every entry names a record of the target: with the flip, of the
        // active region (no pass over the index).
        self.pair.flip();
        self.generation = generation;
        self.cache_seal();
        self.switches += 1;
        Ok(resumed)
    }

    /// The end of step 9: the folded write's records (from `fold_start`),
    /// now in the active region, are indexed; without batch tracking for a
    /// single op, in [`step9_index_batch`](Self::step9_index_batch) for a
    /// batch. Inlined into `finish_switch`: a frame of its own would add to
    /// the depth of the single op's indexing.
    #[inline(always)]
    async fn step9_index_fold(
        &mut self,
        fold: Fold<'_, '_>,
        resumed: bool,
        fold_start: u32,
    ) -> Res<(), R::Error> {
        match fold {
            // One op is the last on its key: no batch tracking.
            Fold::Ops(ops) if ops.len() < 2 => {
                for op in ops {
                    self.step9_index_op(op, key_hash(op.key()), resumed, fold_start)
                        .await?;
                }
                Ok(())
            }
            #[cfg(feature = "batch")]
            Fold::Ops(ops) => self.step9_index_batch(ops, resumed, fold_start).await,
            // Only `apply` folds two or more ops.
            #[cfg(not(feature = "batch"))]
            Fold::Ops(_) => Err(bug!()),
            Fold::Repair | Fold::Clear => Ok(()),
        }
    }

    /// [`step9_index_fold`](Self::step9_index_fold) for a batch folded in at
    /// `fold_start`: the last op on each key is indexed. Never inlined: its
    /// batch tracking (`BatchKeys`, 136 B) stays out of the single ops'
    /// chain.
    #[cfg(feature = "batch")]
    #[inline(never)]
    async fn step9_index_batch(
        &mut self,
        ops: &[Op<'_>],
        resumed: bool,
        fold_start: u32,
    ) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let limits = self.limits();
        let mut off = fold_start;
        let mut batch_keys = BatchKeys::new(ops);
        batch_keys.stage_all(&mut self.index, ops);
        for (i, op) in ops.iter().enumerate() {
            let hash = key_hash(op.key());
            if !batch_keys.take_last(&mut self.index, ops, i, hash) {
                continue;
            }
            if !self.step9_index_op(op, hash, resumed, off).await? {
                continue;
            }
            let h = self
                .pair
                .active_mut()
                .header_at(off, limits.max_key, limits.max_value)
                .await?;
            off += h.stored_len(w).ok_or_else(|| bug!())?;
        }
        Ok(())
    }

    /// Indexes the folded write's record of `op` (key hash `hash`, the last
    /// op on its key) at `off`; `false`: a delete step 4 wrote no record of.
    /// Never inlined: called for single ops and batches.
    #[inline(never)]
    async fn step9_index_op(
        &mut self,
        op: &Op<'_>,
        hash: u32,
        resumed: bool,
        off: u32,
    ) -> Res<bool, R::Error> {
        let kind = match op {
            Op::Set(..) => Kind::Set,
            Op::Delete(_) if resumed || self.damage.touches(short_hash(hash)) => Kind::Delete,
            Op::Delete(_) => return Ok(false),
        };
        self.index_put(op.key(), hash, kind, off).await?;
        Ok(true)
    }
}

/// The write folded into a switch.
#[derive(Clone, Copy)]
pub(super) enum Fold<'o, 'k> {
    /// `repair()`: drop damaged records and damage entries.
    Repair,
    /// Operations (empty for a plain compaction).
    Ops(&'o [Op<'k>]),
    /// `clear()`.
    Clear,
}

/// Stored length of an erased record (FORMAT.md §4.3) at write unit `w`.
pub(super) fn erased_record_len(w: u32) -> u32 {
    record::stored_len(0, 8, w).unwrap_or(0)
}
