//! [`VecIndex`]: core's [`Index`] on a growable heap table.

use twinkv_core::{probe, Index, IndexFull};

/// Marks a free position (core's probe helpers use the same value).
const FREE: u32 = u32::MAX;
/// Positions of a new, non-empty table.
const MIN_POSITIONS: usize = 16;
/// A free position: `[hash, offset]`.
const EMPTY: [u32; 2] = [0, FREE];

/// An open-addressing table of `(key hash, record offset)` with linear probing
/// from core's [`probe::home`], doubling when an insert would pass 7/8 load.
/// Each position holds its hash and offset side by side, so a probe touches
/// one cache line, not two.
///
/// Memory: 8 bytes per position (a `u32` hash and a `u32` offset), positions a
/// power of two kept between 7/16 and 7/8 full: 9.1 to 18.3 heap bytes per key
/// (16.8 at 1,000,000 keys, in 2^21 positions); a reopen may reserve the
/// positions for the number of keys it estimates at once ([`Index::reserve`]),
/// sparser than that only as far as the estimate is high. The index stores no keys:
/// lookups compare the key stored in the region.
#[derive(Clone, Debug, Default)]
pub struct VecIndex {
    slots: Vec<[u32; 2]>,
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

impl VecIndex {
    /// An empty index (allocates on the first insert).
    pub const fn new() -> Self {
        VecIndex {
            slots: Vec::new(),
            len: 0,
            noted: [0; NOTED],
            noted_len: 0,
        }
    }

    /// Heap bytes held by the table.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<[u32; 2]>()
    }

    fn grow(&mut self) -> Result<(), IndexFull> {
        self.rehash((self.slots.len() * 2).max(MIN_POSITIONS))
    }

    /// Moves every entry into a table of `n` positions (a power of two that
    /// holds them all).
    fn rehash(&mut self, n: usize) -> Result<(), IndexFull> {
        let mut slots = Vec::new();
        slots.try_reserve_exact(n).map_err(|_| IndexFull)?;
        slots.resize(n, EMPTY);
        for &[h, o] in &self.slots {
            if o != FREE && !put(&mut slots, h, o) {
                return Err(IndexFull);
            }
        }
        self.slots = slots;
        // Every entry may have moved.
        self.noted_len = 0;
        Ok(())
    }
}

/// Inserts into the first free position from the home position; false when
/// the table is full.
fn put(slots: &mut [[u32; 2]], hash: u32, offset: u32) -> bool {
    let n = slots.len();
    if n == 0 {
        return false;
    }
    let mut pos = probe::home(hash, n);
    for _ in 0..n {
        let slot = &mut slots[pos];
        if slot[1] == FREE {
            *slot = [hash, offset];
            return true;
        }
        pos = (pos + 1) & (n - 1);
    }
    false
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
        self.slots.fill(EMPTY);
        self.len = 0;
        self.noted_len = 0;
    }
    fn positions(&self) -> usize {
        self.slots.len()
    }
    fn entry(&self, pos: usize) -> Option<(u32, u32)> {
        match self.slots.get(pos) {
            Some(&[h, o]) if o != FREE => Some((h, o)),
            _ => None,
        }
    }
    fn set_offset(&mut self, pos: usize, offset: u32) {
        if let Some(slot) = self.slots.get_mut(pos) {
            slot[1] = offset;
        }
    }
    #[inline]
    fn next_match(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32)> {
        // As `probe::next_match`: the cursor counts probe steps from home.
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let home = probe::home(hash, n);
        if *cursor >= n {
            return None;
        }
        // At most 7/8 of the positions are taken (`insert`), so a free one
        // ends every probe within `n` steps: no bound to check per step.
        loop {
            debug_assert!(*cursor < n, "a full table");
            let pos = (home + *cursor) & (n - 1);
            *cursor += 1;
            let [h, off] = self.slots[pos];
            if off == FREE {
                // Done; past `n`, the cursor keeps where the probe stopped
                // (`insert_after_miss`).
                *cursor += n;
                return None;
            }
            if h == hash {
                return Some((pos, off));
            }
        }
    }
    fn find<E>(
        &self,
        hash: u32,
        mut is_key: impl FnMut(u32) -> Result<bool, E>,
    ) -> Result<Option<usize>, E> {
        let n = self.slots.len();
        if n == 0 {
            return Ok(None);
        }
        let mut pos = probe::home(hash, n);
        for _ in 0..n {
            let [h, off] = self.slots[pos];
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
        // Keep load at most 7/8: positions × 7 / 8 ≥ len + 1.
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow()?;
        }
        if !put(&mut self.slots, hash, offset) {
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
        // cursor) and does not grow now.
        let n = self.slots.len();
        let step = cursor.wrapping_sub(n + 1);
        if step < n && (self.len + 1) * 8 <= n * 7 {
            let pos = (probe::home(hash, n) + step) & (n - 1);
            if let Some(slot) = self.slots.get_mut(pos).filter(|s| s[1] == FREE) {
                *slot = [hash, offset];
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
        // Backward-shift deletion (no tombstones), as `probe::remove`.
        let n = self.slots.len();
        let mut hole = pos;
        self.slots[hole] = EMPTY;
        let mut next = (hole + 1) & (n - 1);
        for _ in 0..n {
            let [h, off] = self.slots[next];
            if off == FREE {
                break;
            }
            // Move `next` into the hole if its home is not in (hole, next].
            let home = probe::home(h, n);
            let dist_next = next.wrapping_sub(home) & (n - 1);
            let dist_hole = next.wrapping_sub(hole) & (n - 1);
            if dist_next >= dist_hole {
                self.slots[hole] = self.slots[next];
                self.slots[next] = EMPTY;
                hole = next;
            }
            next = (next + 1) & (n - 1);
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
                let k = (x as usize >> 9) % model.len();
                let (h, o) = model.swap_remove(k);
                let pos = idx
                    .find::<()>(h, |off| Ok(off == o))
                    .unwrap()
                    .expect("entry lost");
                idx.remove(pos);
            }
            assert_eq!(idx.len(), model.len());
            for &(h, o) in &model {
                let mut cursor = 0;
                let mut found = false;
                while let Some((pos, off)) = idx.next_match(h, &mut cursor) {
                    assert_eq!(idx.entry(pos), Some((h, off)));
                    found |= off == o;
                }
                assert!(found, "step {step}: ({h}, {o}) unreachable");
            }
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
}
