//! The double-buffer switch (FORMAT.md §7).

use super::batch::BatchKeys;
use super::*;
use crate::error::bug;

impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Compacts the live state into the other region, folding in `fold`, and
    /// makes it active (FORMAT.md §7). Any failure leaves the store poisoned
    /// until reopened; storage is always recoverable.
    pub(super) fn switch(&mut self, fold: Fold<'_, '_>) -> Result<(), R::Error> {
        let r = self.switch_inner(fold);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// The steps of FORMAT.md §7, in order; the crash table (§7.2) names
    /// them. The switch's plan is fixed first (nothing written).
    pub(super) fn switch_inner(&mut self, fold: Fold<'_, '_>) -> Result<(), R::Error> {
        let plan = self.plan_switch(fold)?;
        self.step1_mark_switching(&plan)?;
        self.step2_erase_target()?;
        self.step3_program_header(&plan)?;
        let copy = self.step4_copy_records(&plan, fold)?;
        self.step5_7_commit(&plan, copy.data_end)?;
        self.step8_supersede(&plan)?;
        self.step9_activate(&plan, copy, fold)
    }

    /// What the switch will write: the seals, the target's header, the
    /// damage to carry over. Keys the folded write replaces leave the index
    /// before the copy; a clear empties it.
    fn plan_switch(&mut self, fold: Fold<'_, '_>) -> Result<SwitchPlan, R::Error> {
        let old_seal = self.seal();
        let new_seal = Seal {
            store_id: self.store_id,
            generation: next_generation(self.generation).ok_or(Error::Corrupted)?,
        };
        let new_header = self.header_for(self.pair.inactive(), new_seal.generation);
        if let Fold::Ops(ops) = fold {
            for op in ops {
                let hash = key_hash(op.key());
                if let Some((pos, _, _)) = self.lookup(op.key(), hash)? {
                    self.index.remove(pos);
                }
            }
        }
        if let Fold::Clear = fold {
            self.index.clear();
        }
        // A repair forgets all damage: keys are copied as they are, damaged
        // records are dropped.
        let repair = matches!(fold, Fold::Repair);
        Ok(SwitchPlan {
            old_seal,
            new_seal,
            new_header,
            old_damage: if repair {
                DamageList::default()
            } else {
                self.damage.clone()
            },
            repair,
        })
    }

    /// Step 1: "switching" in the active region, synced.
    fn step1_mark_switching(&mut self, plan: &SwitchPlan) -> Result<(), R::Error> {
        let src = self.pair.active_mut();
        if !src.read_marker(Marker::Switching, plan.old_seal)?.is_set() {
            src.program_marker(Marker::Switching, plan.old_seal, 0)?;
        }
        src.sync()
    }

    /// Step 2: erase what the target needs.
    fn step2_erase_target(&mut self) -> Result<(), R::Error> {
        self.pair.inactive_mut().erase_for_format()
    }

    /// Step 3: the target's header with generation + 1.
    fn step3_program_header(&mut self, plan: &SwitchPlan) -> Result<(), R::Error> {
        self.pair.inactive_mut().program_header(&plan.new_header)
    }

    /// Step 4: keyless damage records, then each live record copied from the
    /// offset the index holds, then the folded write.
    fn step4_copy_records(
        &mut self,
        plan: &SwitchPlan,
        fold: Fold<'_, '_>,
    ) -> Result<Copied, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let limits = self.limits();
        let stage = self.can_stage();
        let (old_seal, new_seal, repair) = (plan.old_seal, plan.new_seal, plan.repair);
        let old_damage = &plan.old_damage;
        let (src, dst) = self.pair.split_mut();
        let scratch = self.scratch.as_mut();
        let mut new_damage = DamageList::default();
        let mut tally = Tally::default();
        if !matches!(fold, Fold::Clear) {
            for d in old_damage.entries() {
                let (hash, value): (u8, &[u8]) = match d.scope {
                    Scope::Hash(h) => (h, &[]),
                    Scope::Any => (0, &[1]),
                };
                let len = record::encode(scratch, new_seal, Kind::Damaged, hash, &[], value, w)
                    .ok_or_else(|| bug!())?;
                let off = dst.append(&scratch[..len as usize])?;
                new_damage.add(Damage {
                    scope: d.scope,
                    offset: off,
                });
                tally.count(Kind::Damaged, false, len, true);
            }
        }
        let mut stale = 0usize;
        // Visit the index positions in a scrambled order (multiplying by an
        // odd constant permutes 0..2^k): the records are copied in that order
        // and a later replay inserts them in it. In position order, they
        // would reach a still-small index sorted by home position and pile
        // into one long cluster (a quadratic replay).
        let positions = self.index.positions();
        for i in 0..positions {
            let pos = if positions.is_power_of_two() {
                i.wrapping_mul(0x9E37_79B1) & (positions - 1)
            } else {
                i
            };
            let Some((hash, off)) = self.index.entry(pos) else {
                continue;
            };
            let short = short_hash(hash);
            let h = src.header_at(off, limits.max_key, limits.max_value)?;
            let len = h.stored_len(w).ok_or_else(|| bug!())? as usize;
            let (rec, spare) = scratch.split_at_mut(scratch.len() / 2);
            let rec = rec.get_mut(..len).ok_or_else(|| bug!())?;
            src.read(off, rec)?;
            let intact = record::verify(rec, &h, old_seal);
            let out: &[u8] = if repair && (!intact || h.kind == Kind::Damaged) {
                self.index.set_offset(pos, STALE);
                stale += 1;
                continue;
            } else if !intact {
                // The key itself cannot be trusted: a keyless damage record.
                stale += 1;
                let n = record::encode(spare, new_seal, Kind::Damaged, short, &[], &[], w)
                    .ok_or_else(|| bug!())?;
                &spare[..n as usize]
            } else if h.kind == Kind::Set && old_damage.covers(short, Some(off)) {
                let key = &rec[h.key_range()];
                let n = record::encode(spare, new_seal, Kind::Damaged, short, key, &[], w)
                    .ok_or_else(|| bug!())?;
                &spare[..n as usize]
            } else if h.kind == Kind::Delete && !old_damage.touches(short) {
                // A tombstone nothing needs any more.
                self.index.set_offset(pos, STALE);
                stale += 1;
                continue;
            } else {
                record::reseal(rec, &h, new_seal);
                rec
            };
            if dst.append_at() + out.len() as u32 > dst.size() {
                return Err(bug!());
            }
            let new_off = dst.append(out)?;
            let Slot::Header(nh) = record::decode_header(out, u32::MAX, u32::MAX) else {
                return Err(bug!());
            };
            tally.count(nh.kind, nh.key_len > 0, out.len() as u32, true);
            if nh.key_len == 0 {
                new_damage.add(Damage {
                    scope: Scope::Hash(short),
                    offset: new_off,
                });
            }
            self.index.set_offset(pos, new_off);
        }
        let fold_start = dst.append_at();
        match fold {
            Fold::Repair => {}
            Fold::Clear => {
                let len = record::encode(scratch, new_seal, Kind::Clear, 0, &[], &[], w)
                    .ok_or_else(|| bug!())?;
                dst.append(&scratch[..len as usize])?;
            }
            Fold::Ops(ops) => {
                let mut batch_keys = BatchKeys::new(ops, stage);
                batch_keys.stage_all(&mut self.index, ops);
                for (i, op) in ops.iter().enumerate() {
                    let hash = key_hash(op.key());
                    if batch_keys.later(&self.index, ops, i, hash) {
                        continue;
                    }
                    let (kind, value) = match *op {
                        Op::Set(_, v) => (Kind::Set, v),
                        Op::Delete(_) if new_damage.touches(short_hash(hash)) => {
                            (Kind::Delete, &[][..])
                        }
                        Op::Delete(_) => continue,
                    };
                    let len = record::encode(
                        scratch,
                        new_seal,
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
                    dst.append(&scratch[..len as usize])?;
                }
                batch_keys.finish(&mut self.index, ops);
            }
        }
        // What erase ahead must erase of the region this switch leaves
        // (FORMAT.md §7.3), committed with the copy: from the commit on, the
        // new log says the old region is ours to erase.
        let value = record::erased_value(src.used_units(), src.size());
        let len = record::encode(scratch, new_seal, Kind::Erased, 0, &[], &value, w)
            .ok_or_else(|| bug!())?;
        let erased_recorded = dst.append_at() + len <= dst.size();
        if erased_recorded {
            dst.append(&scratch[..len as usize])?;
        }
        Ok(Copied {
            erased_recorded,
            data_end: dst.append_at(),
            fold_start,
            new_damage,
            tally,
            stale,
        })
    }

    /// Steps 5 to 7: sync the copy, program the commit (data end), sync.
    fn step5_7_commit(&mut self, plan: &SwitchPlan, data_end: u32) -> Result<(), R::Error> {
        let dst = self.pair.inactive_mut();
        dst.sync()?;
        dst.program_marker(Marker::Commit, plan.new_seal, data_end)?;
        dst.sync()
    }

    /// Step 8: "superseded" in the old region, synced.
    fn step8_supersede(&mut self, plan: &SwitchPlan) -> Result<(), R::Error> {
        let src = self.pair.active_mut();
        src.program_marker(Marker::Superseded, plan.old_seal, 0)?;
        src.sync()
    }

    /// Step 9: the new region is active; the index and counters follow it.
    fn step9_activate(
        &mut self,
        plan: &SwitchPlan,
        copy: Copied,
        fold: Fold<'_, '_>,
    ) -> Result<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let limits = self.limits();
        let (src, dst) = self.pair.split_mut();
        dst.committed(plan.new_header, copy.data_end);
        src.retire();
        if copy.erased_recorded {
            src.set_pending_recorded();
        }
        self.pair.flip();
        self.generation = plan.new_seal.generation;
        self.switches += 1;
        self.damage = copy.new_damage;
        self.tally = copy.tally;
        if copy.stale > 0 {
            self.drop_stale_entries(limits)?;
        }
        // The folded write's records, now in the active region.
        if let Fold::Ops(ops) = fold {
            let mut off = copy.fold_start;
            let mut batch_keys = BatchKeys::new(ops, self.can_stage());
            batch_keys.stage_all(&mut self.index, ops);
            for (i, op) in ops.iter().enumerate() {
                let hash = key_hash(op.key());
                if !batch_keys.take_last(&mut self.index, ops, i, hash) {
                    continue;
                }
                let kind = match op {
                    Op::Set(..) => Kind::Set,
                    Op::Delete(_) if self.damage.touches(short_hash(hash)) => Kind::Delete,
                    Op::Delete(_) => continue,
                };
                self.index_put(op.key(), hash, kind, off)?;
                let h = self
                    .pair
                    .active_mut()
                    .header_at(off, limits.max_key, limits.max_value)?;
                off += h.stored_len(w).ok_or_else(|| bug!())?;
            }
        }
        Ok(())
    }

    /// Removes the index entries a switch did not copy (marked [`STALE`]) and
    /// those it copied as keyless damage records.
    pub(super) fn drop_stale_entries(&mut self, limits: Limits) -> Result<(), R::Error> {
        let mut pos = 0;
        while pos < self.index.positions() {
            let Some((_, off)) = self.index.entry(pos) else {
                pos += 1;
                continue;
            };
            // Marked by the copy, or copied as a keyless damage record.
            let stale = off == STALE
                || self
                    .pair
                    .active_mut()
                    .header_at(off, limits.max_key, limits.max_value)?
                    .key_len
                    == 0;
            if stale {
                // Backward shift may move another entry into `pos`: look again.
                self.index.remove(pos);
            } else {
                pos += 1;
            }
        }
        Ok(())
    }
}

/// The offset a switch gives an index entry it did not copy, until
/// `drop_stale_entries` removes it (no record can start there).
pub(super) const STALE: u32 = u32::MAX - 1;

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

/// What a switch decided before writing anything.
pub(super) struct SwitchPlan {
    old_seal: Seal,
    new_seal: Seal,
    new_header: RegionHeader,
    /// Damage entries to carry over (none for a repair).
    old_damage: DamageList,
    repair: bool,
}

/// What step 4 wrote.
pub(super) struct Copied {
    /// An erased record for the region left (its used units) is committed.
    erased_recorded: bool,
    /// The commit's data end.
    data_end: u32,
    /// Where the folded write's records start.
    fold_start: u32,
    new_damage: DamageList,
    tally: Tally,
    /// Index entries the copy marked [`STALE`].
    stale: usize,
}
