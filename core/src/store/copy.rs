//! Step 4 of the switch, the copy (FORMAT.md §7, §7.4): each live record is
//! copied from the offset the index holds into the target, whose entry then
//! names the copy. A one-shot switch copies everything in one call; an
//! incremental one copies a slice after each write, in proportion to the
//! bytes the write appended, while the old region stays the committed state
//! that takes the writes: a key written again after it was copied is copied
//! again. The target's commit (step 6) is the switch's one atomic step, as
//! for a one-shot switch, so a cut anywhere leaves the old state and every
//! write acknowledged in it.
//!
//! While a copy is under way an index offset names a record of the target
//! (the inactive region) or of the active region by its
//! [`REGION_BIT`] ([`Pair::in_target`](super::pair::Pair::in_target)).
//! [`CopyState::Copying`] counts the entries still to copy.

use super::pair::REGION_BIT;
use super::read::readable;
use super::switch::Fold;
use super::*;
use crate::error::bug;

/// Whether a switch is under way, and what it has left.
#[allow(clippy::large_enum_variant)]
pub(super) enum CopyState {
    /// No switch under way.
    Idle,
    /// Steps 1–3 are done; the copy (step 4) is under way.
    Copying(Copying),
}

/// A switch between its step 3 and its commit.
///
/// Only what a switch cannot derive is kept here (the store holds it for
/// its whole life): the old seal is the new one's previous generation, the
/// target's header is programmed at step 3 and needed no more, and the
/// damage entries carried over are the active region's (`Store::damage`,
/// which changes during a copy only as the carried list would, see
/// `take_found_beyond`), or none for a repair.
pub(super) struct Copying {
    /// The seal of the target's records (the next generation).
    pub(super) new_seal: Seal,
    /// The target's damage entries so far.
    pub(super) new_damage: DamageList,
    /// What the target's records the index names add up to.
    pub(super) tally: Tally,
    pub(super) repair: bool,
    /// Entries that name a record of the active region (still to copy).
    left: usize,
    /// Their stored bytes.
    left_bytes: u32,
    /// Next index position to visit (in scrambled order, see `scramble`).
    cursor: usize,
    /// Bytes the writes so far allow the copy (incremental switch).
    credit: u64,
    /// The copy began in an earlier call: the target may hold copies of any
    /// key.
    pub(super) resumed: bool,
    /// Steps 4 and 5 are done, the commit is next (a write's copy slice
    /// ended the copy on a region that does not persist in order, FORMAT.md
    /// §7.4): the target's data end and whether its erased record was
    /// written. The next call that writes commits first
    /// ([`Store::commit_if_prepared`]).
    pub(super) prepared: Option<(u32, bool)>,
}

impl Copying {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn planned(new_seal: Seal, repair: bool, left: usize, left_bytes: u32) -> Self {
        Copying {
            new_seal,
            new_damage: DamageList::default(),
            tally: Tally::default(),
            repair,
            left,
            left_bytes,
            cursor: 0,
            credit: 0,
            resumed: false,
            prepared: None,
        }
    }

    /// The seal of the active region's records (the current generation).
    pub(super) fn old_seal(&self) -> Seal {
        Seal {
            generation: self.new_seal.generation.wrapping_sub(1),
            ..self.new_seal
        }
    }
}

impl CopyState {
    /// Entries still to copy.
    pub(super) fn left_entries(&self) -> usize {
        match self {
            CopyState::Idle => 0,
            CopyState::Copying(c) => c.left,
        }
    }

    /// Stored bytes still to copy.
    pub(super) fn left_bytes(&self) -> u32 {
        match self {
            CopyState::Idle => 0,
            CopyState::Copying(c) => c.left_bytes,
        }
    }

    /// Whether the copy is done and synced, its commit next (see
    /// [`Copying::prepared`]).
    pub(super) fn prepared(&self) -> bool {
        matches!(self, CopyState::Copying(c) if c.prepared.is_some())
    }

    /// The seal of the target's records, while a copy is under way.
    pub(super) fn target_seal(&self) -> Option<Seal> {
        match self {
            CopyState::Idle => None,
            CopyState::Copying(c) => Some(c.new_seal),
        }
    }
}

/// An entry to copy: its index position, its record's offset and header
/// (`None`: the header no longer reads).
type Entry = (usize, u32, Option<RecordHeader>);

/// Visits positions `0..n` in a scrambled order (multiplying by an odd
/// constant permutes `0..2^k`): records are copied in that order and a
/// later replay inserts them in it. In position order they would reach a
/// still-small index sorted by home position and pile into one long cluster
/// (a quadratic replay).
fn scramble(i: usize, n: usize) -> usize {
    if n.is_power_of_two() {
        i.wrapping_mul(0x9E37_79B1) & (n - 1)
    } else {
        i
    }
}

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Whether a switch is under way (between its step 3 and its commit).
    pub(super) fn copying(&self) -> bool {
        matches!(self.copy, CopyState::Copying(_))
    }

    /// Whether a switch may copy over several writes: configured, and a
    /// max-fill below 1 (the copy's pace is `1 / (1 − max-fill)` bytes per
    /// byte written).
    pub(super) fn can_copy_incrementally(&self) -> bool {
        self.config.incremental_switch && self.config.max_fill_bp < crate::config::BP_ONE
    }

    /// The entry of a record at `off` (header `h`) leaves the index or
    /// names another record: the copy's counts follow.
    pub(super) async fn entry_leaves(&mut self, off: u32, h: &RecordHeader) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        if let CopyState::Copying(c) = &mut self.copy {
            if self.pair.in_target(off) {
                c.tally.count_header(h, w, false);
            } else {
                c.left = c.left.checked_sub(1).ok_or_else(|| bug!())?;
                c.left_bytes = c.left_bytes.saturating_sub(h.stored_len(w).unwrap_or(0));
            }
        }
        Ok(())
    }

    /// An entry now names a new record of `len` bytes in the active region.
    pub(super) fn entry_joins(&mut self, len: u32) {
        if let CopyState::Copying(c) = &mut self.copy {
            c.left += 1;
            c.left_bytes = c.left_bytes.saturating_add(len);
        }
    }

    /// Whether any damage entry (the active region's, or the target's while
    /// a copy is under way) could cover a key with this 8-bit hash.
    pub(super) fn damage_touches(&self, short: u8) -> bool {
        self.damage.touches(short)
            || matches!(&self.copy, CopyState::Copying(c) if c.new_damage.touches(short))
    }

    /// Whether a key with this 8-bit hash whose newest record the index
    /// names at `newest` (`None`: it has none) is corrupted. A record of
    /// the target answers to the target's damage entries.
    pub(super) fn damage_covers(&self, short: u8, newest: Option<u32>) -> bool {
        let copying = match &self.copy {
            CopyState::Copying(c) => Some(c),
            CopyState::Idle => None,
        };
        match (newest, copying) {
            (Some(off), Some(c)) if self.pair.in_target(off) => {
                c.new_damage.covers(short, Some(off & !REGION_BIT))
            }
            (Some(off), _) => self.damage.covers(short, Some(off & !REGION_BIT)),
            (None, c) => {
                self.damage.covers(short, None)
                    || c.is_some_and(|c| c.new_damage.covers(short, None))
            }
        }
    }

    /// The damage entries `get` answers to: while a copy is under way the
    /// target's, which carry every entry of the active region's and those
    /// the copy found.
    pub(super) fn damage_entries(&self) -> impl Iterator<Item = &Damage> {
        match &self.copy {
            CopyState::Copying(c) => c.new_damage.entries().iter(),
            CopyState::Idle => self.damage.entries().iter(),
        }
    }

    /// A write is about to cross the high-water mark (FORMAT.md §7.1) and
    /// the target is erased: begin an incremental switch (steps 1–3) before
    /// the write is appended to the active log; the write's slice of the
    /// copy follows it ([`copy_after_write`](Self::copy_after_write)).
    pub(super) async fn begin_incremental(&mut self) -> Res<(), R::Error> {
        let r = self.begin_switch(Fold::Ops(&[])).await;
        if r.is_err() {
            self.poisoned = true;
        }
        if let CopyState::Copying(c) = &mut self.copy {
            c.resumed = true;
        }
        r
    }

    /// A delete of `key` written to the active log while a switch copies is
    /// written to the target too: the target may hold an earlier copy of the
    /// key, which a replay of the target must see deleted (FORMAT.md §7.4).
    pub(super) async fn delete_in_target(&mut self, short: u8, key: &[u8]) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let CopyState::Copying(c) = &self.copy else {
            return Ok(());
        };
        let (dst, scratch) = (self.pair.inactive_mut(), self.scratch.as_mut());
        let len = record::encode(scratch, c.new_seal, Kind::Delete, short, key, &[], w)
            .ok_or_else(|| bug!())?;
        let r = if dst.append_at() + len > dst.size() {
            Err(bug!())
        } else {
            dst.append(scratch, len).await
        };
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// After a write that appended `add` bytes while a switch copies: the
    /// copy's slice, `add / (1 − max-fill)` bytes (FORMAT.md §7.4), and the
    /// commit once nothing is left — or at once, if the target could no
    /// longer hold what is left and one more largest record.
    ///
    /// Never inlined: the end of the copy (`finish_switch`) then runs below
    /// this small frame, not the caller's.
    // Not outlined with feature `async`: both engines are compiled from
    // this source, and the async one's stack grew with these outlined
    // (footprint's async row: 8 884 B without, 10 132 B with them).
    #[cfg_attr(not(feature = "async"), inline(never))]
    pub(super) async fn copy_after_write(&mut self, add: u32) -> Res<(), R::Error> {
        let r = self.copy_after_write_inner(add).await;
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    async fn copy_after_write_inner(&mut self, add: u32) -> Res<(), R::Error> {
        let w = self.pair.active().geo.write_unit;
        let slice = crate::config::copy_slice(add, self.config.max_fill_bp) + 1;
        let credit = match &mut self.copy {
            // A write commits a prepared switch before it appends.
            CopyState::Copying(c) if c.prepared.is_some() => return Err(bug!()),
            CopyState::Copying(c) => {
                c.credit = c.credit.saturating_add(slice);
                c.credit
            }
            CopyState::Idle => return Ok(()),
        };
        let left = self.copy_some(credit).await?;
        if let CopyState::Copying(c) = &mut self.copy {
            c.credit = left;
        }
        let largest = self.config.max_record_len(w).unwrap_or(u32::MAX);
        if self.target_lacks_room(largest) {
            self.finish_switch(Fold::Ops(&[])).await?;
        } else if self.copy.left_entries() == 0 {
            if self.pair.active().region.persists_in_order() {
                self.finish_switch(Fold::Ops(&[])).await?;
            } else {
                // Steps 4 and 5 now, the commit in the next call that
                // writes: each of the two syncs in a call of its own.
                self.prepare_commit().await?;
            }
        }
        Ok(())
    }

    /// Whether the target of the switch under way could not hold what is
    /// left to copy, `extra` bytes more (a write's record, or the largest
    /// one) and the erased record the commit writes: the switch must end
    /// now (FORMAT.md §7.4).
    pub(super) fn target_lacks_room(&self, extra: u32) -> bool {
        let w = self.pair.active().geo.write_unit;
        let need = u64::from(self.copy.left_bytes())
            + u64::from(extra)
            + u64::from(switch::erased_record_len(w));
        let dst = self.pair.inactive();
        need > u64::from(dst.size() - dst.append_at())
    }

    /// Copies entries that name records of the active region, visiting the
    /// index from where the last call stopped, until `budget` bytes (of the
    /// records read) are spent or nothing is left. Returns what is left of
    /// the budget.
    pub(super) async fn copy_some(&mut self, mut budget: u64) -> Res<u64, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let limits = self.limits();
        let n = self.index.positions();
        // Positions visited since the last copy: two full passes without
        // finding what `left` counts would be a miscount.
        let mut idle = 0usize;
        loop {
            let CopyState::Copying(c) = &mut self.copy else {
                return Ok(budget);
            };
            if c.left == 0 {
                return Ok(budget);
            }
            // First an entry a write noted (it named a new record of the
            // active region, see `Index::note`): found without visiting
            // positions. A noted position that no longer holds such an entry
            // is passed over; the count `left` keeps the copy exact whatever
            // the index kept noted.
            let mut noted = None;
            while let Some(p) = self.index.take_noted() {
                let off = self
                    .index
                    .entry(p)
                    .and_then(|(_, o)| self.pair.in_active(o));
                if let Some(off) = off {
                    noted = Some((p, off));
                    break;
                }
            }
            let (pos, off, from_cursor) = match noted {
                Some((p, off)) => (p, off, false),
                None => {
                    if idle > 2 * n + 1 {
                        return Err(bug!());
                    }
                    if c.cursor >= n {
                        c.cursor = 0;
                    }
                    let pos = scramble(c.cursor, n);
                    match self
                        .index
                        .entry(pos)
                        .and_then(|(_, o)| self.pair.in_active(o))
                    {
                        Some(off) => (pos, off, true),
                        None => {
                            c.cursor += 1;
                            idle += 1;
                            continue;
                        }
                    }
                }
            };
            let (pos, off, h) = match self.failing_twin(pos).await? {
                // A damaged record of the same key hash goes first.
                Some(twin) => {
                    if !from_cursor {
                        // The noted entry itself is still to copy.
                        self.index.note(pos);
                    }
                    twin
                }
                None => {
                    let h = self
                        .pair
                        .active_mut()
                        .header_at(off, limits.max_key, limits.max_value)
                        .await;
                    (pos, off, readable(h)?)
                }
            };
            // An unreadable header's record length is unknown: it costs the
            // budget one write unit.
            let len = match &h {
                Some(h) => u64::from(h.stored_len(w).ok_or_else(|| bug!())?),
                None => u64::from(w),
            };
            if len > budget {
                if !from_cursor {
                    self.index.note(pos);
                }
                return Ok(budget);
            }
            budget -= len;
            idle = 0;
            if !self.copy_entry(pos, off, h.as_ref()).await? && from_cursor {
                // Still there: the next position. (A removed entry's place
                // may now hold the entry after it: look again.)
                if let CopyState::Copying(c) = &mut self.copy {
                    c.cursor += 1;
                }
            }
        }
    }

    /// Another entry of the key hash of the entry at `pos`, not yet copied,
    /// whose record fails its check (its header read): copied first, it
    /// becomes a keyless damage record *before* the copy of the entry at
    /// `pos`, which it then does not cover. A write that met such an entry
    /// ([`Store::lookup`]'s suspect: most likely an older record of the
    /// same key, damaged while the store is open) indexed its record
    /// beside it; in the active log the write's record follows the damaged
    /// one, and the target keeps that order (else an acknowledged, intact
    /// value would read `Corrupted` after the switch). Looked for only
    /// once a lookup has met a failing entry since the last switch.
    ///
    /// Never inlined: its header and record reads stay out of `copy_some`'s
    /// frame, under which `copy_entry` runs (footprint's switching row:
    /// 2,048 B of stack with it inlined).
    #[cfg_attr(not(feature = "async"), inline(never))]
    async fn failing_twin(&mut self, pos: usize) -> Res<Option<Entry>, R::Error> {
        if !self.suspects {
            return Ok(None);
        }
        let Some((hash, _)) = self.index.entry(pos) else {
            return Ok(None);
        };
        let limits = self.limits();
        let seal = SealState::new(self.seal());
        let (index, pair) = (&self.index, &mut self.pair);
        let mut cursor = 0;
        while let Some((p, off)) = index.next_match(hash, &mut cursor) {
            let Some(off) = pair.in_active(off).filter(|_| p != pos) else {
                continue;
            };
            let j = pair.active_mut();
            let h = readable(j.header_at(off, limits.max_key, limits.max_value).await)?;
            // Unreadable: fails as a whole.
            let Some(h) = h else {
                return Ok(Some((p, off, None)));
            };
            if !j.verify(off, &h, seal).await?.0 {
                return Ok(Some((p, off, Some(h))));
            }
        }
        Ok(None)
    }

    /// Copies the record at `off` (header `h`; `None`: its header no
    /// longer reads) that the entry at `pos` names: verified, re-sealed for
    /// the target, or turned into a damage record (FORMAT.md §7, step 4).
    /// Returns whether the entry left the index (a record not copied, or
    /// copied as a keyless damage record).
    ///
    /// Never inlined: its record buffers and decoded headers would
    /// otherwise stay in `copy_some`'s frame under the header reads of
    /// the next entry.
    // Not outlined with feature `async`: both engines are compiled from
    // this source, and the async one's stack grew with these outlined
    // (footprint's async row: 8 884 B without, 10 132 B with them).
    #[cfg_attr(not(feature = "async"), inline(never))]
    async fn copy_entry(
        &mut self,
        pos: usize,
        off: u32,
        h: Option<&RecordHeader>,
    ) -> Res<bool, R::Error> {
        let w = self.pair.active().geo.write_unit;
        let Some((hash, _)) = self.index.entry(pos) else {
            return Err(bug!());
        };
        let short = short_hash(hash);
        // The active region's: the seal of the records copied.
        let old_state = self.seal_state();
        let CopyState::Copying(c) = &mut self.copy else {
            return Err(bug!());
        };
        // The damage entries carried over: they decide what a copied record
        // becomes.
        let old_damage = (!c.repair).then_some(&self.damage);
        let (src, dst) = self.pair.split_mut();
        let scratch = self.scratch.as_mut();
        c.left = c.left.checked_sub(1).ok_or_else(|| bug!())?;
        let (rec, spare) = scratch.split_at_mut(scratch.len() / 2);
        // The record and its header, if it reads and passes its check. A
        // header that no longer reads (damaged while the store is open) is
        // a record that fails its check; its stored length is unknown.
        let intact = match h {
            Some(h) => {
                let len = h.stored_len(w).ok_or_else(|| bug!())?;
                c.left_bytes = c.left_bytes.saturating_sub(len);
                let rec = rec.get_mut(..len as usize).ok_or_else(|| bug!())?;
                src.read(off, rec).await?;
                record::verify_sealed(rec, h, old_state).then_some((h, rec))
            }
            None => None,
        };
        let out: &[u8] = match intact {
            None if c.repair => {
                self.index.remove(pos);
                return Ok(true);
            }
            None => {
                // The key itself cannot be trusted: a keyless damage record.
                let n = record::encode(spare, c.new_seal, Kind::Damaged, short, &[], &[], w)
                    .ok_or_else(|| bug!())?;
                &spare[..n as usize]
            }
            Some((h, _)) if c.repair && h.kind == Kind::Damaged => {
                self.index.remove(pos);
                return Ok(true);
            }
            Some((h, rec))
                if matches!(h.kind, Kind::Set | Kind::Delete)
                    && old_damage.is_some_and(|d| d.covers(short, Some(off))) =>
            {
                // A damage entry newer than the key's record may have held a
                // later write of it: the key reads `Corrupted`, and keeps
                // doing so in the target (a delete copied as a delete would
                // follow the carried-over damage records and read "absent").
                let key = &rec[h.key_range()];
                let n = record::encode(spare, c.new_seal, Kind::Damaged, short, key, &[], w)
                    .ok_or_else(|| bug!())?;
                &spare[..n as usize]
            }
            Some((h, _))
                if h.kind == Kind::Delete
                    && !old_damage.is_some_and(|d| d.touches(short))
                    && !c.new_damage.touches(short) =>
            {
                // A tombstone nothing needs any more (no damage record,
                // carried over or copied so far, covers its key).
                self.index.remove(pos);
                return Ok(true);
            }
            Some((h, rec)) => {
                record::reseal_from(rec, h, old_state, c.new_seal);
                rec
            }
        };
        if dst.append_at() + out.len() as u32 > dst.size() {
            return Err(bug!());
        }
        let new_off = dst.append_at();
        dst.append(out, out.len() as u32).await?;
        let Slot::Header(nh) = record::decode_header(out, u32::MAX, u32::MAX) else {
            return Err(bug!());
        };
        if nh.key_len == 0 {
            // Counted as a damage entry's record; the key is unknown.
            c.tally.count(nh.kind, false, out.len() as u32, true);
            c.new_damage.add(Damage {
                scope: Scope::Hash(short),
                offset: new_off,
            });
            self.index.remove(pos);
            return Ok(true);
        }
        c.tally.count(nh.kind, true, out.len() as u32, true);
        self.index.set_offset(pos, self.pair.target_off(new_off));
        Ok(false)
    }
}
