//! [`VecIndex`]: core's [`Index`] on a growable heap table.

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use twinkv_core::{probe, Index, IndexFull};

/// Marks a free position (core's probe helpers use the same value).
const FREE: u32 = u32::MAX;
/// Positions of a new, non-empty table.
const MIN_POSITIONS: usize = 16;

/// One position: an entry's key hash and record offset (`offset` is
/// [`FREE`] at a free position), and the fingerprint a `get` left on the
/// entry ([`Index::set_fingerprint`]; 0: none), which a `get` sets through
/// a shared reference. 12 bytes.
#[derive(Debug)]
struct Slot {
    hash: u32,
    offset: u32,
    seen: AtomicU32,
}

impl Slot {
    /// An entry without a fingerprint.
    const fn new(hash: u32, offset: u32) -> Self {
        Slot {
            hash,
            offset,
            seen: AtomicU32::new(0),
        }
    }
    /// A free position.
    const fn free() -> Self {
        Slot::new(0, FREE)
    }
}

/// A copy keeps the fingerprint (the same entry, moved).
impl Clone for Slot {
    fn clone(&self) -> Self {
        Slot {
            hash: self.hash,
            offset: self.offset,
            seen: AtomicU32::new(self.seen.load(Relaxed)),
        }
    }
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        (self.hash, self.offset, self.seen.load(Relaxed))
            == (other.hash, other.offset, other.seen.load(Relaxed))
    }
}

/// An open-addressing table of `(key hash, record offset)` with linear probing
/// from core's [`probe::home`], doubling when an insert would pass 7/8 load.
/// Each position holds its hash and offset side by side, so a probe touches
/// one cache line, not two.
///
/// **Growth is spread over inserts.** From 3/4 load each insert makes 32
/// positions of the next table (twice as many positions) free; the insert
/// that passes 7/8 switches to it, and each insert after moves 16 positions
/// of the old table into it, back to front; lookups search both tables
/// until the old one is empty. Re-inserting 900,000 entries in one insert
/// took 15–24 ms (a `set` of a host store adding its 917,505th key); now no
/// insert moves more than 16 entries, and the one that ends a move frees
/// the old table, on a thread of its own from 256 KiB (freeing 3 MiB took
/// 0.4 ms). Until then, positions `0..n` are the new table's and
/// `n..n + m` the old one's.
///
/// **Fingerprints.** Each position also keeps what a `get` left on its
/// entry ([`Index::set_fingerprint`], in an atomic: a `get` takes `&self`):
/// a mark that it was read, then the fingerprint of its record, which
/// later `get`s compare the record's bytes against rather than computing
/// the record's CRC-32C again; both are forgotten when the entry's offset
/// changes.
///
/// Memory: 12 bytes per position (a `u32` hash, a `u32` offset and the
/// fingerprint), positions a power of two kept between 7/16 and 7/8 full:
/// 13.7 to 27.4 heap bytes per key (24.6 at 1,000 keys, 15.7 at 100,000,
/// 25.2 at 1,000,000), the next growth's table twice that from 3/4 load
/// on (prepared a few positions per insert), and the old table's half as
/// much while a growth moves it; a reopen may
/// reserve the positions for the number of keys it estimates at once
/// ([`Index::reserve`]), sparser than that only as far as the estimate is
/// high. The index stores no keys: lookups compare the key stored in the
/// region.
#[derive(Clone, Debug, Default)]
pub struct VecIndex {
    /// The table inserts go to.
    slots: Vec<Slot>,
    /// The next growth's table, allocated from 3/4 load on and made free
    /// a few positions per insert (filling 16 MB at once took most of a
    /// growth's time: the first touch of each page).
    next: Vec<Slot>,
    /// The table a growth is emptying into `slots` (empty when none).
    old: Vec<Slot>,
    /// Where the move through `old` began (a position free then), and how
    /// many positions from there it has emptied.
    old_start: usize,
    old_done: usize,
    /// Entries in both tables.
    len: usize,
    /// Positions noted for the store ([`Index::note`]), the last noted
    /// last; `noted_len` of them hold one.
    noted: [u32; NOTED],
    noted_len: u8,
}

/// Positions [`VecIndex`] keeps noted. A store notes at most one per write
/// and takes them back in the copy slice that follows it, so a few
/// suffice; more are dropped (the store's copy then finds them by a pass).
const NOTED: usize = 8;

/// Positions of the next growth's table each insert makes free, from 3/4
/// load on: `n / 8` inserts take the table from 3/4 to 7/8, and the next
/// table has `2n` positions, so 16 would just do; 32 leaves room for
/// removals.
const INIT_STEP: usize = 32;

/// Old-table positions each insert empties while a growth moves entries.
/// The new table has twice the positions and starts 7/16 full; 16 per
/// insert empties the old one after `m / 16` inserts, long before the new
/// one reaches 7/8.
const MOVE_STEP: usize = 16;

/// Tables of at least this many bytes that a growth emptied are freed on a
/// thread of their own ([`free_aside`]).
const FREE_ASIDE_BYTES: usize = 256 << 10;

/// Frees `table`, a table a growth has emptied, on a short-lived thread of
/// its own when it is large, else here. Returning a table of a few MiB to
/// the system takes 0.2–0.4 ms (`munmap` of its pages, measured with
/// `strace -T`: 3 MiB 0.38 ms), which was the longest `set` of a store
/// taking new keys: the `set` whose insert ended the move. If the thread
/// cannot be started, the table is freed here. Returns whether a thread
/// took it.
fn free_aside(table: Vec<Slot>) -> bool {
    if table.capacity() * core::mem::size_of::<Slot>() < FREE_ASIDE_BYTES {
        return false;
    }
    // On an error the closure, and the table with it, is dropped here.
    std::thread::Builder::new()
        .name("twinkv-free".into())
        .stack_size(64 << 10)
        .spawn(move || drop(table))
        .is_ok()
}

impl VecIndex {
    /// An empty index (allocates on the first insert).
    pub const fn new() -> Self {
        VecIndex {
            slots: Vec::new(),
            next: Vec::new(),
            old: Vec::new(),
            old_start: 0,
            old_done: 0,
            len: 0,
            noted: [0; NOTED],
            noted_len: 0,
        }
    }

    /// Heap bytes held by the tables.
    pub fn heap_bytes(&self) -> usize {
        (self.slots.capacity() + self.next.capacity() + self.old.capacity())
            * core::mem::size_of::<Slot>()
    }

    /// Begins a doubling: the current table becomes the old one, emptied
    /// by the inserts that follow ([`move_some`](Self::move_some)).
    fn grow(&mut self) -> Result<(), IndexFull> {
        if !self.old.is_empty() {
            // Not reached (see `MOVE_STEP`), but never two old tables.
            self.move_some(usize::MAX);
        }
        let n = (self.slots.len() * 2).max(MIN_POSITIONS);
        // (`next` is dropped whenever the table changes size otherwise.)
        let slots = if self.next.capacity() >= n && self.next.len() <= n {
            // Prepared by the inserts since 3/4 load; what is left, now.
            let mut next = core::mem::take(&mut self.next);
            next.resize_with(n, Slot::free);
            next
        } else {
            self.next = Vec::new();
            empty_table(n)?
        };
        let old = core::mem::replace(&mut self.slots, slots);
        // A free position to move back from (it stays free: nothing is
        // inserted into the old table).
        self.old_start = old.iter().position(|s| s.offset == FREE).unwrap_or(0);
        self.old_done = 0;
        self.old = if self.len == 0 { Vec::new() } else { old };
        self.noted_len = 0;
        Ok(())
    }

    /// Past 3/4 load (and no growth moving entries): the next growth's
    /// table allocated (not touched: a failed allocation is retried by the
    /// growth, which reports it) and [`INIT_STEP`] more of its positions
    /// made free.
    fn prepare_next(&mut self) {
        let n = self.slots.len();
        if n < MIN_POSITIONS || !self.old.is_empty() || (self.len + 1) * 4 <= n * 3 {
            return;
        }
        if self.next.capacity() < 2 * n {
            self.next = Vec::new();
            if self.next.try_reserve_exact(2 * n).is_err() {
                return;
            }
        }
        let more = INIT_STEP.min(2 * n - self.next.len());
        self.next.resize_with(self.next.len() + more, Slot::free);
    }

    /// Empties the next `count` old positions (or all that are left) into
    /// the new table, back to front from `old_start`: each position visited
    /// is then the last occupied one of its run (the positions after it are
    /// free or emptied), so emptying it leaves every other old entry's
    /// probe sequence whole. Drops the old table once it is empty.
    fn move_some(&mut self, count: usize) {
        let m = self.old.len();
        let mut visited = 0;
        while self.old_done < m && visited < count {
            let pos = (self.old_start + m - 1 - self.old_done) & (m - 1);
            let slot = core::mem::replace(&mut self.old[pos], Slot::free());
            if slot.offset != FREE {
                // The new table has room (at most 7/8 full with every entry).
                let _placed = put(&mut self.slots, slot);
                debug_assert!(_placed, "the new table is full");
            }
            self.old_done += 1;
            visited += 1;
        }
        if self.old_done >= m {
            let _aside = free_aside(core::mem::take(&mut self.old));
            self.old_done = 0;
        }
    }

    /// Moves every entry into a table of `n` positions (a power of two that
    /// holds them all) at once.
    fn rehash(&mut self, n: usize) -> Result<(), IndexFull> {
        let mut slots = empty_table(n)?;
        for s in self.slots.iter().chain(&self.old) {
            if s.offset != FREE && !put(&mut slots, s.clone()) {
                return Err(IndexFull);
            }
        }
        self.slots = slots;
        self.next = Vec::new();
        self.old = Vec::new();
        self.old_done = 0;
        // Every entry may have moved.
        self.noted_len = 0;
        Ok(())
    }

    /// [`Index::next_match`] in the old table, while a growth moves
    /// entries (the cursor past `2n`, see there).
    #[inline(never)]
    fn next_match_old(&self, hash: u32, cursor: &mut usize) -> Option<(usize, &Slot)> {
        let n = self.slots.len();
        if self.old.is_empty() || *cursor <= 2 * n {
            return None;
        }
        let mut step = *cursor - (2 * n + 1);
        if let Some((q, slot)) = probe_next(&self.old, hash, &mut step) {
            *cursor = 2 * n + 1 + step;
            return Some((n + q, slot));
        }
        *cursor = usize::MAX;
        None
    }

    /// [`Index::next_match`], with the entry's slot.
    #[inline(always)]
    fn next_slot(&self, hash: u32, cursor: &mut usize) -> Option<(usize, &Slot)> {
        // The cursor counts probe steps from home in the new table (`0..n`);
        // after a miss there it is `n + 1 +` the free position's step (where
        // the probe stopped, for `insert_after_miss`) when no growth is
        // moving entries, else the old table's probe follows, its steps
        // counted from `2n + 1` (and `usize::MAX` once it missed too).
        let n = self.slots.len();
        if *cursor < n {
            let home = probe::home(hash, n);
            // At most 7/8 of the positions are taken (`insert`), so a free
            // one ends every probe within `n` steps: no bound to check per
            // step. (`probe_next` here, with its bound, cost a reopen of
            // 100k keys 1.9 % more instructions.)
            loop {
                debug_assert!(*cursor < n, "a full table");
                let pos = (home + *cursor) & (n - 1);
                *cursor += 1;
                let slot = &self.slots[pos];
                if slot.offset == FREE {
                    if self.old.is_empty() {
                        *cursor += n;
                        return None;
                    }
                    *cursor = 2 * n + 1;
                    break;
                }
                if slot.hash == hash {
                    return Some((pos, slot));
                }
            }
        }
        self.next_match_old(hash, cursor)
    }

    /// The slot at index position `pos` (the new table's, then the old
    /// one's).
    fn slot(&self, pos: usize) -> Option<&Slot> {
        let n = self.slots.len();
        if pos < n {
            self.slots.get(pos)
        } else {
            self.old.get(pos - n)
        }
    }

    /// [`slot`](Self::slot), mutable.
    fn slot_mut(&mut self, pos: usize) -> Option<&mut Slot> {
        let n = self.slots.len();
        if pos < n {
            self.slots.get_mut(pos)
        } else {
            self.old.get_mut(pos - n)
        }
    }
}

/// A table of `n` free positions; `IndexFull` if it cannot be allocated.
fn empty_table(n: usize) -> Result<Vec<Slot>, IndexFull> {
    let mut slots = Vec::new();
    slots.try_reserve_exact(n).map_err(|_| IndexFull)?;
    slots.resize_with(n, Slot::free);
    Ok(slots)
}

/// Puts `entry` into the first free position from its hash's home
/// position; false when the table is full.
fn put(slots: &mut [Slot], entry: Slot) -> bool {
    let n = slots.len();
    if n == 0 {
        return false;
    }
    let mut pos = probe::home(entry.hash, n);
    for _ in 0..n {
        let slot = &mut slots[pos];
        if slot.offset == FREE {
            *slot = entry;
            return true;
        }
        pos = (pos + 1) & (n - 1);
    }
    false
}

/// The next entry with `hash` in `slots` from probe step `*step` on, as
/// `(position, offset)`; `None` at the first free position (then `*step`
/// is the number of steps probed).
#[inline]
fn probe_next<'a>(slots: &'a [Slot], hash: u32, step: &mut usize) -> Option<(usize, &'a Slot)> {
    let n = slots.len();
    if n == 0 {
        return None;
    }
    let home = probe::home(hash, n);
    // At most 7/8 of the positions are taken, so a free one ends every
    // probe within `n` steps.
    while *step < n {
        let pos = (home + *step) & (n - 1);
        *step += 1;
        let slot = &slots[pos];
        if slot.offset == FREE {
            return None;
        }
        if slot.hash == hash {
            return Some((pos, slot));
        }
    }
    None
}

/// Backward-shift deletion (no tombstones) of position `pos` of `slots`, as
/// core's `probe::remove`.
fn shift_out(slots: &mut [Slot], pos: usize) {
    let n = slots.len();
    let mut hole = pos;
    slots[hole] = Slot::free();
    let mut next = (hole + 1) & (n - 1);
    for _ in 0..n {
        let Slot {
            hash: h,
            offset: off,
            ..
        } = slots[next];
        if off == FREE {
            break;
        }
        // Move `next` into the hole if its home is not in (hole, next].
        let home = probe::home(h, n);
        let dist_next = next.wrapping_sub(home) & (n - 1);
        let dist_hole = next.wrapping_sub(hole) & (n - 1);
        if dist_next >= dist_hole {
            // The hole is free: the entry moves there (with its
            // fingerprint), and its position is free.
            slots.swap(hole, next);
            hole = next;
        }
        next = (next + 1) & (n - 1);
    }
}

impl Index for VecIndex {
    fn len(&self) -> usize {
        self.len
    }
    fn has_room(&self, additional: usize) -> bool {
        // Offsets are u32 region offsets: far fewer keys than positions.
        self.len.checked_add(additional).is_some()
    }
    fn reserve(&mut self, additional: usize) {
        // The positions that `len + additional` entries would have reached
        // by doubling (at most 7/8 full), in one rehash. A failed allocation
        // leaves the table as it was: inserts grow it as before.
        let Some(want) = self.len.checked_add(additional) else {
            return;
        };
        let n = want
            .saturating_mul(8)
            .div_ceil(7)
            .max(MIN_POSITIONS)
            .checked_next_power_of_two();
        if let Some(n) = n.filter(|&n| n > self.slots.len()) {
            let _ = self.rehash(n);
        }
    }
    fn clear(&mut self) {
        self.slots.fill_with(Slot::free);
        self.next = Vec::new();
        self.old = Vec::new();
        self.old_done = 0;
        self.len = 0;
        self.noted_len = 0;
    }
    fn positions(&self) -> usize {
        self.slots.len() + self.old.len()
    }
    fn entry(&self, pos: usize) -> Option<(u32, u32)> {
        match *self.slot(pos)? {
            Slot {
                hash, offset: o, ..
            } if o != FREE => Some((hash, o)),
            _ => None,
        }
    }
    fn set_offset(&mut self, pos: usize, offset: u32) {
        if let Some(slot) = self.slot_mut(pos) {
            // Another record: its fingerprint is not known.
            *slot = Slot::new(slot.hash, offset);
        }
    }
    #[inline]
    fn next_match(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32)> {
        self.next_slot(hash, cursor).map(|(pos, s)| (pos, s.offset))
    }
    #[inline]
    fn next_match_seen(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32, u32)> {
        self.next_slot(hash, cursor)
            .map(|(pos, s)| (pos, s.offset, s.seen.load(Relaxed)))
    }
    fn find<E>(
        &self,
        hash: u32,
        mut is_key: impl FnMut(u32) -> Result<bool, E>,
    ) -> Result<Option<usize>, E> {
        let n = self.slots.len();
        if n == 0 || !self.old.is_empty() {
            // Both tables (or none): through `next_match`.
            let mut cursor = 0;
            while let Some((pos, off)) = self.next_match(hash, &mut cursor) {
                if is_key(off)? {
                    return Ok(Some(pos));
                }
            }
            return Ok(None);
        }
        let mut pos = probe::home(hash, n);
        for _ in 0..n {
            let Slot {
                hash: h,
                offset: off,
                ..
            } = self.slots[pos];
            if off == FREE {
                return Ok(None);
            }
            if h == hash && is_key(off)? {
                return Ok(Some(pos));
            }
            pos = (pos + 1) & (n - 1);
        }
        Ok(None)
    }
    fn insert(&mut self, hash: u32, offset: u32) -> Result<(), IndexFull> {
        self.prepare_next();
        // Keep load at most 7/8: positions × 7 / 8 ≥ len + 1.
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow()?;
        }
        if !self.old.is_empty() {
            self.move_some(MOVE_STEP);
        }
        if !put(&mut self.slots, Slot::new(hash, offset)) {
            return Err(IndexFull);
        }
        self.len += 1;
        Ok(())
    }
    #[inline]
    fn insert_after_miss(
        &mut self,
        hash: u32,
        offset: u32,
        cursor: usize,
    ) -> Result<(), IndexFull> {
        // `next_match` stopped at a free position, step `cursor - n - 1`
        // from home: the first free one from home, where `put` would probe
        // to. Only if the table has not grown since (its size is in the
        // cursor), does not grow now and moves nothing.
        let n = self.slots.len();
        let step = cursor.wrapping_sub(n + 1);
        if step < n && self.old.is_empty() && (self.len + 1) * 8 <= n * 7 {
            let pos = (probe::home(hash, n) + step) & (n - 1);
            if let Some(slot) = self.slots.get_mut(pos).filter(|s| s.offset == FREE) {
                *slot = Slot::new(hash, offset);
                self.len += 1;
                return Ok(());
            }
        }
        self.insert(hash, offset)
    }
    fn remove(&mut self, pos: usize) {
        if self.entry(pos).is_none() {
            return;
        }
        let n = self.slots.len();
        if pos < n {
            shift_out(&mut self.slots, pos);
        } else {
            // A run of the old table not yet moved: the positions after it
            // are free (the move goes back to front), so its later entries
            // shift back within it.
            shift_out(&mut self.old, pos - n);
        }
        self.len -= 1;
    }
    fn note(&mut self, pos: usize) {
        let n = usize::from(self.noted_len);
        if let (Some(slot), Ok(pos)) = (self.noted.get_mut(n), u32::try_from(pos)) {
            *slot = pos;
            self.noted_len += 1;
        }
    }
    fn take_noted(&mut self) -> Option<usize> {
        self.noted_len = self.noted_len.checked_sub(1)?;
        Some(self.noted[usize::from(self.noted_len)] as usize)
    }
    #[inline]
    fn fingerprint(&self, pos: usize) -> u32 {
        self.slot(pos).map_or(0, |s| s.seen.load(Relaxed))
    }
    #[inline]
    fn set_fingerprint(&self, pos: usize, fingerprint: u32) {
        if let Some(s) = self.slot(pos).filter(|s| s.offset != FREE) {
            s.seen.store(fingerprint, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_sizes_as_growth_would_and_keeps_every_entry() {
        let h = |i: u32| i.wrapping_mul(2_654_435_761);
        // The positions doubling reaches for 100,000 keys, reserved at once
        // with 1,000 entries already in: no growth after.
        let mut grown = VecIndex::new();
        for i in 0..100_000u32 {
            grown.insert(h(i), i).unwrap();
        }
        let mut idx = VecIndex::new();
        for i in 0..1_000u32 {
            idx.insert(h(i), i).unwrap();
        }
        idx.reserve(99_000);
        let reserved = idx.positions();
        assert_eq!(reserved, grown.positions());
        for i in 1_000..100_000u32 {
            idx.insert(h(i), i).unwrap();
        }
        assert_eq!(idx.positions(), reserved);
        for i in 0..100_000u32 {
            assert!(
                idx.find::<()>(h(i), |o| Ok(o == i)).unwrap().is_some(),
                "{i}"
            );
        }
        // Less than it holds, or more than memory: nothing changes.
        idx.reserve(0);
        idx.reserve(usize::MAX);
        idx.reserve(usize::MAX / 8);
        assert_eq!((idx.positions(), idx.len()), (reserved, 100_000));
    }

    #[test]
    fn backward_shift_keeps_every_entry_reachable() {
        // Model check against a list over many random operations, with few
        // hashes (long collision runs that wrap around the table's end).
        let mut idx = VecIndex::new();
        let mut model: Vec<(u32, u32)> = Vec::new();
        let mut x = 0x1234_5678u32;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let hash = x % 5;
            if x & 0x100 != 0 && model.len() < 40 {
                idx.insert(hash, step).unwrap();
                model.push((hash, step));
            } else if !model.is_empty() {
                let (h, o) = model.swap_remove((x as usize >> 9) % model.len());
                idx.remove(position(&idx, h, o));
            }
            check(&idx, &model, &format!("step {step}"));
        }
    }

    #[test]
    fn insert_after_miss_places_entries_as_insert_does() {
        // Few hashes (long runs that wrap around the table's end), removals
        // between, growth on the way: the table after each insert-after-miss
        // equals the one `insert` builds from the same operations.
        let (mut a, mut b) = (VecIndex::new(), VecIndex::new());
        let mut x = 0x9E37_79B9u32;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let hash = x % 7;
            if x & 0x300 != 0 || a.is_empty() {
                let mut cursor = 0;
                while a.next_match(hash, &mut cursor).is_some() {}
                a.insert_after_miss(hash, step, cursor).unwrap();
                b.insert(hash, step).unwrap();
            } else {
                let pos = (x as usize >> 10) % a.positions();
                let pos = (pos..a.positions())
                    .chain(0..pos)
                    .find(|&p| a.entry(p).is_some())
                    .unwrap();
                a.remove(pos);
                b.remove(pos);
            }
            assert_eq!(a.slots, b.slots, "step {step}");
            assert_eq!(a.len(), b.len());
        }
        // A cursor that does not say where a probe stopped: a plain insert.
        let mut c = VecIndex::new();
        c.insert_after_miss(5, 1, 0).unwrap();
        c.insert_after_miss(5, 2, usize::MAX).unwrap();
        c.insert_after_miss(5, 3, 3).unwrap();
        let mut cursor = 0;
        let mut offs = Vec::new();
        while let Some((_, o)) = c.next_match(5, &mut cursor) {
            offs.push(o);
        }
        assert_eq!(offs, [1, 2, 3]);
    }

    /// A growth past 256 KiB tables: the insert that ends the move hands
    /// the emptied table of 32,768 positions to a thread of its own, and
    /// the index holds the new table alone, with every entry.
    #[test]
    fn a_large_emptied_table_is_freed_aside_and_every_entry_stays() {
        let hash = |i: u32| i.wrapping_mul(2_654_435_761);
        assert!(!free_aside(vec![Slot::free(); 1024]), "small: freed here");
        assert!(free_aside(vec![Slot::free(); 32_768]), "large: aside");
        let mut idx = VecIndex::new();
        let mut i = 0u32;
        // Up to the growth out of 32,768 positions (7/8 full), then until
        // its move has emptied the old table.
        while idx.slots.len() <= 32_768 || !idx.old.is_empty() {
            idx.insert(hash(i), i).unwrap();
            i += 1;
        }
        assert_eq!(idx.positions(), 65_536);
        assert_eq!(idx.old.capacity(), 0, "the old table is gone");
        assert_eq!(
            idx.heap_bytes(),
            (65_536 + idx.next.capacity()) * core::mem::size_of::<Slot>()
        );
        assert_eq!(idx.len(), i as usize);
        for k in 0..i {
            assert!(
                idx.find::<()>(hash(k), |o| Ok(o == k)).unwrap().is_some(),
                "{k}"
            );
        }
    }

    #[test]
    fn grows_and_keeps_every_entry() {
        let mut idx = VecIndex::new();
        for i in 0..10_000u32 {
            idx.insert(i.wrapping_mul(2_654_435_761) % 977, i).unwrap();
        }
        assert_eq!(idx.len(), 10_000);
        assert!(idx.positions() >= 10_000 * 8 / 7);
        for i in 0..10_000u32 {
            let h = i.wrapping_mul(2_654_435_761) % 977;
            assert!(idx.find::<()>(h, |o| Ok(o == i)).unwrap().is_some(), "{i}");
        }
        for i in (0..10_000u32).step_by(2) {
            let h = i.wrapping_mul(2_654_435_761) % 977;
            let pos = idx.find::<()>(h, |o| Ok(o == i)).unwrap().unwrap();
            idx.remove(pos);
        }
        assert_eq!(idx.len(), 5_000);
        for i in 0..10_000u32 {
            let h = i.wrapping_mul(2_654_435_761) % 977;
            let found = idx.find::<()>(h, |o| Ok(o == i)).unwrap().is_some();
            assert_eq!(found, i % 2 == 1, "{i}");
        }
        idx.clear();
        assert!(idx.is_empty());
        assert_eq!(idx.find::<()>(5, |_| Ok(true)).unwrap(), None);
    }

    #[test]
    fn notes_come_back_last_first_up_to_eight_and_go_with_a_growth() {
        let mut idx = VecIndex::new();
        assert_eq!(idx.take_noted(), None);
        for p in 0..10 {
            idx.note(p);
        }
        // Eight kept (the first eight), the last noted first.
        for p in (0..8).rev() {
            assert_eq!(idx.take_noted(), Some(p));
        }
        assert_eq!(idx.take_noted(), None);
        // A growth moves every entry: the notes are dropped.
        idx.note(3);
        for i in 0..100u32 {
            idx.insert(i.wrapping_mul(2_654_435_761), i).unwrap();
        }
        assert_eq!(idx.take_noted(), None);
        idx.note(4);
        idx.clear();
        assert_eq!(idx.take_noted(), None);
    }

    #[test]
    fn fingerprints_stay_with_their_entry_until_its_offset_changes() {
        // Entries with few hashes (runs that shift on removal) through
        // growths that move them: each keeps the fingerprint set on it,
        // wherever it moves, until its offset changes or it is removed.
        let h = |i: u32| i % 13;
        let fp = |o: u32| o.wrapping_mul(0x9E37_79B9) | 1;
        let mut idx = VecIndex::new();
        let mut model: Vec<(u32, u32, u32)> = Vec::new(); // (hash, offset, fingerprint)
        let mut x = 0x2545_F491u32;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 8 {
                0..=3 => {
                    idx.insert(h(step), step).unwrap();
                    let pos = position(&idx, h(step), step);
                    assert_eq!(idx.fingerprint(pos), 0, "a new entry has none");
                    let f = if x & 0x100 != 0 { fp(step) } else { 0 };
                    if f != 0 {
                        idx.set_fingerprint(pos, f);
                    }
                    model.push((h(step), step, f));
                }
                4 | 5 if !model.is_empty() => {
                    let (hh, o, _) = model.swap_remove((x as usize >> 9) % model.len());
                    idx.remove(position(&idx, hh, o));
                }
                6 if !model.is_empty() => {
                    let k = (x as usize >> 9) % model.len();
                    let (hh, o, _) = model[k];
                    let pos = position(&idx, hh, o);
                    idx.set_offset(pos, o | 1 << 31);
                    assert_eq!(idx.fingerprint(pos), 0, "step {step}: another record");
                    model[k] = (hh, o | 1 << 31, 0);
                }
                _ => {}
            }
            if step % 61 == 0 || !idx.old.is_empty() {
                for &(hh, o, f) in &model {
                    let pos = position(&idx, hh, o);
                    assert_eq!(idx.fingerprint(pos), f, "step {step}: ({hh}, {o})");
                }
                // A free position takes none.
                if let Some(free) = (0..idx.positions()).find(|&p| idx.entry(p).is_none()) {
                    idx.set_fingerprint(free, 7);
                    assert_eq!(idx.fingerprint(free), 0, "step {step}");
                }
            }
        }
        assert!(model.len() > 1_000);
        idx.clear();
        assert!((0..idx.positions()).all(|p| idx.fingerprint(p) == 0));
    }

    /// The position of entry `(h, o)`, which the index must hold.
    fn position(idx: &VecIndex, h: u32, o: u32) -> usize {
        idx.find::<()>(h, |off| Ok(off == o))
            .unwrap()
            .expect("entry lost")
    }

    /// Every entry of `model` reachable by `next_match` and `find`, and
    /// the positions holding exactly the model's entries.
    fn check(idx: &VecIndex, model: &[(u32, u32)], ctx: &str) {
        assert_eq!(idx.len(), model.len(), "{ctx}");
        let mut held: Vec<(u32, u32)> = (0..idx.positions()).filter_map(|p| idx.entry(p)).collect();
        let mut want = model.to_vec();
        held.sort_unstable();
        want.sort_unstable();
        assert_eq!(held, want, "{ctx}");
        for &(h, o) in model {
            let mut cursor = 0;
            let mut found = false;
            while let Some((pos, off)) = idx.next_match(h, &mut cursor) {
                assert_eq!(idx.entry(pos), Some((h, off)), "{ctx}");
                found |= off == o;
            }
            assert!(found, "{ctx}: ({h}, {o}) unreachable");
            let pos = idx.find::<()>(h, |off| Ok(off == o)).unwrap();
            assert_eq!(pos.and_then(|p| idx.entry(p)), Some((h, o)), "{ctx}");
        }
    }

    #[test]
    fn growth_moves_entries_over_later_inserts_and_loses_none() {
        // Inserts, removals and offset changes in random order while
        // growths move entries (most of the time one is under way): hashes
        // from a small set (long runs, wrapping around the table's end) and
        // from a wide one. Checked after every operation.
        // With 7 hashes the table is a few long runs, each moved at once;
        // with wide hashes a growth lasts many inserts.
        for (seed, hashes, steps, during) in [
            (0x1234_5678u32, 7u32, 6_000u32, 20),
            (0x9E37_79B9, u32::MAX, 20_000, 300),
        ] {
            let mut idx = VecIndex::new();
            let mut model: Vec<(u32, u32)> = Vec::new();
            let mut x = seed;
            let (mut moving, mut removed_old) = (0, 0);
            for step in 0..steps {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let hash = x % hashes;
                match x >> 29 {
                    0..=4 => {
                        idx.insert(hash, step).unwrap();
                        model.push((hash, step));
                    }
                    5 | 6 if !model.is_empty() => {
                        let (h, o) = model.swap_remove((x as usize >> 9) % model.len());
                        let pos = position(&idx, h, o);
                        removed_old += usize::from(pos >= idx.slots.len());
                        idx.remove(pos);
                    }
                    _ if !model.is_empty() => {
                        let k = (x as usize >> 9) % model.len();
                        let (h, o) = model[k];
                        let pos = position(&idx, h, o);
                        idx.set_offset(pos, o | 1 << 31);
                        model[k].1 = o | 1 << 31;
                    }
                    _ => {}
                }
                moving += usize::from(!idx.old.is_empty());
                if step % 97 == 0 || !idx.old.is_empty() {
                    check(&idx, &model, &format!("seed {seed:x} step {step}"));
                }
            }
            assert!(moving > during, "{moving} operations during a growth");
            assert!(
                removed_old > during / 20,
                "{removed_old} removals from an old table"
            );
            // Never more than 7/8 of the new table's positions taken.
            assert!(idx.len() * 8 <= idx.slots.len() * 7);
        }
    }

    #[test]
    fn no_insert_moves_more_than_move_step_entries() {
        // 100,000 entries with distinct hashes: each growth finds its table
        // made free by the inserts before it, and each insert empties
        // MOVE_STEP old positions (the last one of a growth fewer).
        let mut idx = VecIndex::new();
        let mut worst = 0;
        let mut growths = 0;
        for i in 0..100_000u32 {
            let before = idx.old.len() - idx.old_done.min(idx.old.len());
            let was_moving = !idx.old.is_empty();
            let n = idx.slots.len();
            if n >= MIN_POSITIONS && (idx.len() + 1) * 8 > n * 7 {
                // A growth now: its table was made free by earlier inserts.
                assert_eq!(idx.next.len(), 2 * n, "{i}");
                growths += 1;
            }
            idx.insert(i.wrapping_mul(2_654_435_761), i).unwrap();
            if was_moving && !idx.old.is_empty() {
                let after = idx.old.len() - idx.old_done;
                worst = worst.max(before - after);
            }
        }
        assert!(growths >= 12, "{growths}");
        assert_eq!(worst, MOVE_STEP);
    }
}
