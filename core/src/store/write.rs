//! Writes: single records, atomic batches (FORMAT.md §5), sync markers
//! (§6.3) and the rule that folds a write into a switch (§7.1).

use super::switch::Fold;
use super::*;
use crate::error::bug;

/// The planned effect of a write on one key.
#[derive(Clone, Copy)]
pub(super) struct Effect {
    pub(super) live: i64,
    /// Read by a batch's plan only.
    #[cfg_attr(not(feature = "batch"), allow(dead_code))]
    pub(super) keys: i64,
    pub(super) entries: i64,
}

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Sets `key` to `value`. Returns once the record is written (on a region
    /// that does not persist in order, call [`Store::sync`] for power-loss
    /// durability).
    pub async fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), R::Error> {
        self.enter()?;
        let r = self.set_call(key, value).await;
        self.leave(r)
    }

    /// Never inlined: the write path's locals stay out of the caller's frame
    /// (a firmware's, which also holds the store), so they do not add to
    /// the depth of the open that precedes the writes.
    #[inline(never)]
    async fn set_call(&mut self, key: &[u8], value: &[u8]) -> Res<(), R::Error> {
        let op = Op::Set(key, value);
        self.write_checked(core::slice::from_ref(&op)).await?;
        let before = self.switches;
        let (_, mut then) = self.set_record(key, value).await?;
        // Never on flash (the compiler drops it there): see `Then::Again`.
        if matches!(then, Then::Again) && !self.pair.active().region.persists_in_order() {
            then = self.set_record(key, value).await?.1;
        }
        self.write_one_then(&op, then).await?;
        self.erase_ahead_after_write(before).await
    }

    /// [`write_one_record`](Self::write_one_record) of a set, never inlined
    /// (see [`write_one`](Self::write_one)). The op is built here, so that
    /// the delete's paths are left out of a firmware that only sets.
    // Not outlined with feature `async`: both engines are compiled from
    // this source, and the async one's stack grew with these outlined
    // (footprint's async row: 8 884 B without, 10 132 B with them).
    #[cfg_attr(not(feature = "async"), inline(never))]
    async fn set_record(&mut self, key: &[u8], value: &[u8]) -> Res<(bool, Then), R::Error> {
        self.write_one_record(&Op::Set(key, value)).await
    }

    /// Removes `key`; returns whether it had a value (a key that reported
    /// [`Error::Corrupted`] had none, and reads as absent afterwards).
    pub async fn remove(&mut self, key: &[u8]) -> Result<bool, R::Error> {
        self.enter()?;
        let r = self.remove_call(key).await;
        self.leave(r)
    }

    async fn remove_call(&mut self, key: &[u8]) -> Res<bool, R::Error> {
        self.write_checked(&[Op::Delete(key)]).await?;
        let before = self.switches;
        let had = self.write_one(&Op::Delete(key)).await?;
        self.erase_ahead_after_write(before).await?;
        Ok(had)
    }

    /// Applies `ops` atomically: after a power cut either all of them or none
    /// is visible. Later operations on the same key win. (Feature `batch`,
    /// on by default: a firmware that writes one key at a time leaves it
    /// out, about 1.5 KB of flash.)
    #[cfg(feature = "batch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
    pub async fn apply(&mut self, ops: &[Op<'_>]) -> Result<(), R::Error> {
        self.enter()?;
        let r = self.apply_call(ops).await;
        self.leave(r)
    }

    #[cfg(feature = "batch")]
    async fn apply_call(&mut self, ops: &[Op<'_>]) -> Res<(), R::Error> {
        let before = self.switches;
        if let [op] = ops {
            self.write_checked(ops).await?;
            self.write_one(op).await?;
        } else {
            self.write_batch(ops).await?;
        }
        self.erase_ahead_after_write(before).await
    }

    /// Deletes every key: a switch to an empty committed region. Old data
    /// never comes back.
    pub async fn clear(&mut self) -> Result<(), R::Error> {
        self.enter()?;
        let r = self.clear_call().await;
        self.leave(r)
    }

    async fn clear_call(&mut self) -> Res<(), R::Error> {
        self.writable()?;
        self.switch(Fold::Clear).await
    }

    /// Drops every damaged record and damage entry into a fresh committed
    /// region (a compaction that forgets damage). A key whose newest record
    /// was damaged then reads as absent; a key that a damage entry covered
    /// (its newest record lost with an unreadable key) reads its newest
    /// intact value, which may be older than what was lost. Returns how many
    /// damaged keys or key groups were dropped. List them first (e.g.
    /// `twinkv verify`): the loss becomes silent afterwards.
    pub async fn repair(&mut self) -> Result<usize, R::Error> {
        self.enter()?;
        let r = self.repair_call().await;
        self.leave(r)
    }

    async fn repair_call(&mut self) -> Res<usize, R::Error> {
        self.writable()?;
        let dropped = self.tally.damaged_keyed + self.damage_entries().count();
        self.switch(Fold::Repair).await?;
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
    /// poisoned store; with [`Error::SwitchUnderWay`] while a switch copies
    /// into the inactive region; with [`Error::ConfigMismatch`] when `region`'s read,
    /// write or erase unit differ, the configuration does not fit it, or
    /// `extends` is claimed for a smaller region; with [`Error::Full`] when
    /// the live data exceeds the fill limit the pair would have.
    pub async fn replace_inactive(&mut self, region: R, extends: bool) -> Result<R, R::Error> {
        self.enter()?;
        let r = self.replace_inactive_call(region, extends).await;
        self.leave(r)
    }

    async fn replace_inactive_call(&mut self, region: R, extends: bool) -> Res<R, R::Error> {
        self.writable()?;
        if self.copying() {
            // The inactive region is a switch's target; finishing the switch
            // here would make the other region the inactive one.
            return Err(Fail::SwitchUnderWay);
        }
        let old = self.pair.inactive().geo;
        let new = region.geometry();
        let active = self.pair.active().geo;
        if new.write_unit != old.write_unit
            || new.erase_unit != old.erase_unit
            || new.read_unit != old.read_unit
            || (extends && new.size < old.size)
            || !self.config.fits(active, new)
        {
            return Err(Fail::ConfigMismatch);
        }
        let d = self.pair.active().data_start();
        let cap = active.size.min(new.size).saturating_sub(d);
        if self.tally.live_bytes > fill_limit(cap, self.config.max_fill_bp) {
            return Err(Fail::Full);
        }
        Ok(self.pair.inactive_mut().replace_region(region, extends))
    }

    /// Forces a switch (compaction) now.
    pub async fn compact(&mut self) -> Result<(), R::Error> {
        self.enter()?;
        let r = self.compact_call().await;
        self.leave(r)
    }

    async fn compact_call(&mut self) -> Res<(), R::Error> {
        self.writable()?;
        self.switch(Fold::Ops(&[])).await
    }

    /// Durability barrier: everything written before returns survives power
    /// loss. On regions that do not persist in order, appends a sync marker
    /// after the flush (FORMAT.md §6.3).
    pub async fn sync(&mut self) -> Result<(), R::Error> {
        self.enter()?;
        let r = self.sync_call().await;
        self.leave(r)
    }

    async fn sync_call(&mut self) -> Res<(), R::Error> {
        self.writable()?;
        self.commit_if_prepared().await?;
        if self.inactive_unsynced && !self.pair.active().region.persists_in_order() {
            // The last commit's "superseded" (FORMAT.md §7 step 8).
            self.pair.inactive_mut().sync().await?;
            self.inactive_unsynced = false;
        }
        let w = self.pair.active().geo.write_unit;
        let seal = self.seal();
        let (j, scratch) = (self.pair.active_mut(), self.scratch.as_mut());
        j.sync().await?;
        if j.region.persists_in_order() || j.sealed() || j.append_at() == j.last_sync() {
            return Ok(());
        }
        let prev = j.last_sync();
        let coverage = j.crc_range(0, prev, j.append_at()).await?;
        let value = record::sync_value(prev, coverage);
        let len = record::encode(scratch, seal, Kind::SyncMarker, 0, &[], &value, w)
            .ok_or_else(|| bug!())?;
        if j.append_at() + len > j.size() {
            // No room for the marker: the data is durable anyway, and the next
            // write switches (a switch's commit is a sync point).
            return Ok(());
        }
        j.append(scratch, len).await?;
        j.mark_synced();
        Ok(())
    }

    /// Refuses writes on a read-only or poisoned store and input that can
    /// never be written (empty or oversized keys, oversized values).
    pub(super) async fn write_checked(&self, ops: &[Op<'_>]) -> Res<(), R::Error> {
        self.writable()?;
        for op in ops {
            self.check_key(op.key())?;
            if let Op::Set(_, v) = op {
                if v.len() > self.config.max_value_len as usize {
                    return Err(Fail::ValueTooLarge);
                }
            }
        }
        Ok(())
    }

    /// One set or delete, with one index lookup. Returns whether the key had
    /// a value before.
    ///
    /// The switch a write runs (folding it in, or the end of an incremental
    /// switch's copy) is called by [`write_one_then`](Self::write_one_then)
    /// once [`write_one_record`](Self::write_one_record) has returned, so
    /// that the latter's frame (the key's entry, old header and planned
    /// effect) is not on the stack under the switch where it is not inlined
    /// (`set` never inlines it: [`set_record`](Self::set_record)).
    pub(super) async fn write_one(&mut self, op: &Op<'_>) -> Res<bool, R::Error> {
        let (mut had, mut then) = self.write_one_record(op).await?;
        if matches!(then, Then::Again) && !self.pair.active().region.persists_in_order() {
            (had, then) = self.write_one_record(op).await?;
        }
        self.write_one_then(op, then).await?;
        Ok(had)
    }

    /// What follows [`write_one_record`](Self::write_one_record): the slice
    /// of a switch's copy, or the switch `op` folds into.
    async fn write_one_then(&mut self, op: &Op<'_>, then: Then) -> Res<(), R::Error> {
        match then {
            Then::Done => Ok(()),
            Then::Copy(add) => self.copy_after_write(add).await,
            Then::Fold => self.switch(Fold::Ops(core::slice::from_ref(op))).await,
            // A write is decided again once after a commit, never twice.
            Then::Again => Err(bug!()),
        }
    }

    /// [`write_one`](Self::write_one) up to the switch: the checks, the
    /// record appended and indexed, or none when the write folds into a
    /// switch.
    async fn write_one_record(&mut self, op: &Op<'_>) -> Res<(bool, Then), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let key = op.key();
        let hash = key_hash(key);
        let short = short_hash(hash);
        let looked = self.lookup(key, hash).await?;
        let found = looked.found;
        // A suspect (a same-hash record damaged while open) counts as
        // damage that may cover the key: a delete leaves a record.
        let touches = self.damage_touches(short) || looked.suspect;
        let old = found.map(|(_, _, h)| h);
        let had = matches!(old, Some(h) if h.kind == Kind::Set)
            && !self.damage_covers(short, found.map(|(_, off, _)| off));
        let (kind, value) = match *op {
            Op::Set(_, v) => (Kind::Set, v),
            Op::Delete(_) if found.is_none() && !touches => return Ok((false, Then::Done)),
            Op::Delete(_) => (Kind::Delete, &[][..]),
        };
        let e = effect(old, op, touches, w)?;
        let live_after =
            u32::try_from(i64::from(self.tally.live_bytes) + e.live).map_err(|_| bug!())?;
        if live_after > self.fill_limit() && live_after > self.tally.live_bytes {
            return Err(Fail::Full);
        }
        if e.entries > 0 && !self.index.has_room(1) {
            return Err(Fail::IndexFull);
        }
        if self.commit_is_prepared() {
            // Accepted: the switch the write before prepared is committed
            // first (FORMAT.md §7.4). The commit replaces the tally, the
            // damage list and the active region: the caller decides the
            // write again, on the new region.
            self.commit_if_prepared().await?;
            return Ok((had, Then::Again));
        }
        let add = set_len(key, value, w)?;
        match self.trigger(add, live_after) {
            Trigger::Switch => return Ok((had, Then::Fold)),
            Trigger::Begin => self.begin_incremental().await?,
            Trigger::Append => {}
        }
        // An update (FORMAT.md §4.3): the index holds a set of this key
        // with a value as long (so stored in as many bytes), and no damage
        // could cover the key, so a replay may take the claim instead of
        // reading that record's key.
        let update = kind == Kind::Set
            && !touches
            && matches!(old, Some(oh) if oh.kind == Kind::Set && oh.value_len as usize == value.len());
        let Some(off) = self.append_encoded(kind, update, short, key, value).await? else {
            return Ok((had, Then::Fold));
        };
        if kind == Kind::Delete {
            self.delete_in_target(short, key).await?;
        }
        let keep = kind == Kind::Set || touches;
        if let Some((_, old_off, h)) = found {
            self.entry_leaves(old_off, &h).await?;
        }
        if keep {
            self.entry_joins(add);
        }
        let off = self.pair.active_off(off);
        match (found, keep) {
            (Some((pos, _, _)), true) => self.rewrite_entry(pos, off),
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
        Ok((had, Then::Copy(add)))
    }

    /// The entry at `pos` names the key's new record at `off` (an index
    /// offset). While a switch copies, the position is noted with the index
    /// (`Index::note`): the next copy slice copies the entry again without a
    /// pass over the positions (FORMAT.md §7.4). Always inlined: outlined,
    /// the footprint firmware's rows were 8 B larger.
    #[inline(always)]
    fn rewrite_entry(&mut self, pos: usize, off: u32) {
        self.index.set_offset(pos, off);
        if self.copying() {
            self.index.note(pos);
        }
    }

    /// What a write that appends `add` bytes (the live bytes `live_after`
    /// once it is done) does first: nothing, begin an incremental switch
    /// (FORMAT.md §7.4), or fold into a switch. While a switch copies, a
    /// write is folded into its end when the active log cannot take it or
    /// the target could not then hold what is left to copy.
    pub(super) fn trigger(&self, add: u32, live_after: u32) -> Trigger {
        let j = self.pair.active();
        let used = u64::from(j.append_at() - j.data_start());
        let must = j.sealed() || used + u64::from(add) > u64::from(j.capacity());
        if self.copying() {
            return if must || self.target_lacks_room(add) {
                Trigger::Switch
            } else {
                Trigger::Append
            };
        }
        if !self.should_switch(add, live_after) {
            Trigger::Append
        } else if must || !self.can_copy_incrementally() {
            Trigger::Switch
        } else if self.pair.inactive().pending() == 0 {
            Trigger::Begin
        } else if self.config.erase_ahead {
            // Erase ahead finishes the target first, one unit per write,
            // with the headroom above high-water to spend.
            Trigger::Append
        } else {
            Trigger::Switch
        }
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
        if after > u64::from(self.switch_point(cap, live_after)) {
            let frees = after.saturating_sub(u64::from(live_after));
            // The switch writes an erased record for the region it leaves
            // (FORMAT.md §7.3): what it frees must leave C × (1 − max-fill)
            // after it.
            let erased = switch::erased_record_len(j.geo.write_unit);
            let needed = u64::from(cap) - u64::from(fill_limit(cap, self.config.max_fill_bp))
                + u64::from(erased);
            return frees >= needed;
        }
        false
    }

    /// Used bytes past which a write (leaving `live_after` live bytes)
    /// switches, progress permitting (FORMAT.md §7.1): the high-water mark,
    /// or with a late switch the later point that leaves the log just the
    /// headroom the incremental copy of `live_after` bytes needs.
    fn switch_point(&self, cap: u32, live_after: u32) -> u32 {
        let hw = fill_limit(cap, self.config.high_water_bp);
        let j = self.pair.active();
        if !self.config.late_switch
            || !self.can_copy_incrementally()
            || !j.region.persists_in_order()
        {
            return hw;
        }
        cap.saturating_sub(self.copy_reserve(live_after)).max(hw)
    }

    /// The headroom an incremental switch of `live` bytes takes in the
    /// active log (FORMAT.md §7.1): the writes its copy lasts,
    /// `live × (1 − max-fill) / max-fill`, plus one largest record and
    /// erased record for each unit the copy programs in the target and
    /// one more (after a reboot during the copy, erase ahead erases those
    /// units again, one per write, before the switch begins again).
    fn copy_reserve(&self, live: u32) -> u32 {
        let geo = self.pair.active().geo;
        let (w, e) = (geo.write_unit, geo.erase_unit);
        let mf = self.config.max_fill_bp;
        let copy = crate::config::copy_headroom(live, mf);
        let per_write = self
            .config
            .max_record_len(w)
            .unwrap_or(u32::MAX)
            .saturating_add(switch::erased_record_len(w));
        let target = self
            .pair
            .inactive()
            .data_start()
            .saturating_add(live)
            .saturating_add(copy);
        let units = (target / e).saturating_add(2);
        copy.saturating_add(units.saturating_mul(per_write))
    }

    /// `Ok(None)`: the program failed or did not read back as written; the
    /// log is sealed and the caller folds its write into a switch instead.
    pub(super) async fn append_encoded(
        &mut self,
        kind: Kind,
        update: bool,
        hash: u8,
        key: &[u8],
        value: &[u8],
    ) -> Res<Option<u32>, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let state = self.seal_state();
        let (j, scratch) = (self.pair.active_mut(), self.scratch.as_mut());
        let len = record::encode_as(scratch, state, kind, update, hash, key, value, w)
            .ok_or_else(|| bug!())?;
        if j.append_at() + len > j.size() {
            return Err(bug!());
        }
        let off = j.append_at();
        match j.append(scratch, len).await {
            Ok(()) => {}
            // The program failed: the log is sealed; switch away from it.
            Err(Fail::Region(_)) => return Ok(None),
            // Bytes past the log's end (FORMAT.md §6.2): nothing was
            // programmed, the log is sealed; the damage is registered and
            // the switch the caller folds its write into carries it.
            Err(Fail::Corrupted) if self.take_found_beyond().await? => return Ok(None),
            Err(e) => return Err(e),
        };
        if j.region.persists_in_order() {
            // Read back what was programmed: on NOR flash, a unit torn by an
            // earlier power cut can read as erased, and programming over it
            // garbles the record. Never acknowledge such a write; seal the
            // log and let the caller fold the write into a switch.
            let (rec, back) = scratch.split_at_mut(scratch.len() / 2);
            let back = back.get_mut(..len as usize).ok_or_else(|| bug!())?;
            j.read(off, back).await?;
            if *back != rec[..len as usize] {
                j.seal();
                return Ok(None);
            }
        }
        Ok(Some(off))
    }

    /// After an append found bytes past the log's end where open read only
    /// probes (FORMAT.md §6.2): registers a damage entry for every key
    /// whose newest record precedes where open found the log's end (none
    /// written since open), so that those keys answer `Corrupted` rather
    /// than values the bytes may have overwritten; a switch carries it.
    /// While a switch copies, the records already copied are covered by an
    /// every-key damage record appended to the target. Stray bytes (counted)
    /// and a wiped log tail (the copy meets the lost records through the
    /// index) register nothing. Returns whether there was a finding: the
    /// log is then sealed, and the caller switches.
    pub(super) async fn take_found_beyond(&mut self) -> Res<bool, R::Error> {
        let offset = match self.pair.active_mut().take_found_beyond() {
            None => return Ok(false),
            // Damage that covers no key: the log stays sealed, the caller
            // switches away from it.
            Some(Beyond::Stray) => {
                self.strays = self.strays.saturating_add(1);
                return Ok(true);
            }
            Some(Beyond::Wiped) => return Ok(true),
            Some(Beyond::Log) => self.pair.active().loaded_end(),
        };
        let w = self.pair.active().geo.write_unit;
        let d = Damage {
            scope: Scope::Any,
            offset,
        };
        let bytes = |l: &DamageList| -> u32 {
            l.entries()
                .iter()
                .map(|d| damage_record_len(d.scope, w))
                .sum()
        };
        let before = bytes(&self.damage);
        self.damage.add(d);
        self.tally.live_bytes = (self.tally.live_bytes - before) + bytes(&self.damage);
        if let CopyState::Copying(c) = &mut self.copy {
            // Carried over too: the copy reads `self.damage` (see `Copying`).
            let dst = match self.pair.active {
                RegionId::A => &mut self.pair.b,
                RegionId::B => &mut self.pair.a,
            };
            let scratch = self.scratch.as_mut();
            let len = record::encode(scratch, c.new_seal, Kind::Damaged, 0, &[], &[1], w)
                .ok_or_else(|| bug!())?;
            if dst.append_at() + len > dst.size() {
                // No room to say it in the target: refuse everything until
                // the store is reopened, which reads the bytes (FORMAT.md §6.2).
                self.poisoned = true;
                return Err(Fail::Corrupted);
            }
            let off = dst.append_at();
            dst.append(scratch, len).await?;
            c.new_damage.add(Damage {
                scope: Scope::Any,
                offset: off,
            });
            c.tally.count(Kind::Damaged, false, len, true);
        }
        Ok(true)
    }

    /// Points the index at the new record `off` of `key` and keeps the counts.
    pub(super) async fn index_put(
        &mut self,
        key: &[u8],
        hash: u32,
        kind: Kind,
        off: u32,
    ) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let looked = self.lookup(key, hash).await?;
        let touches = self.damage_touches(short_hash(hash)) || looked.suspect;
        let old = looked.found;
        // The new record counts unless it is a delete nothing needs.
        let new_h = if kind == Kind::Delete && !touches {
            None
        } else {
            Some(
                self.pair
                    .active_mut()
                    .header_at(off, u32::MAX, u32::MAX)
                    .await?,
            )
        };
        if let Some((_, old_off, h)) = old {
            self.tally.count_header(&h, w, false);
            self.entry_leaves(old_off, &h).await?;
        }
        if let Some(h) = new_h {
            self.tally.count_header(&h, w, true);
            self.entry_joins(h.stored_len(w).unwrap_or(0));
        }
        let off = self.pair.active_off(off);
        match (old, new_h) {
            (Some((pos, _, _)), None) => self.index.remove(pos),
            (Some((pos, _, _)), Some(_)) => self.rewrite_entry(pos, off),
            (None, None) => {}
            (None, Some(_)) => self.index.insert(hash, off).map_err(|_| Fail::IndexFull)?,
        }
        Ok(())
    }
}

/// What [`Store::write_one`] does after [`Store::write_one_record`].
enum Then {
    /// Nothing (a delete of a key that had no record).
    Done,
    /// The slice of a switch's copy after a record of this many bytes
    /// ([`Store::copy_after_write`]).
    Copy(u32),
    /// Fold the write into a switch (no record appended).
    Fold,
    /// Nothing written yet but the commit of a switch the write before
    /// prepared: decide the write again.
    Again,
}

/// What a write does before it appends ([`Store::trigger`]).
pub(super) enum Trigger {
    /// Append to the active log.
    Append,
    /// Begin an incremental switch, then append.
    Begin,
    /// Fold the write into a switch.
    Switch,
}

/// The effect of `op` on a key whose newest record has header `old`.
pub(super) fn effect<E>(
    old: Option<RecordHeader>,
    op: &Op<'_>,
    touches: bool,
    w: u32,
) -> Res<Effect, E> {
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
