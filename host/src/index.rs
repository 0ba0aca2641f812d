//! [`VecIndex`]: core's [`Index`] on a growable heap table.

use twinkv_core::{probe, Index, IndexFull};

/// Marks a free position (core's probe helpers use the same value).
const FREE: u32 = u32::MAX;
/// Positions of a new, non-empty table.
const MIN_POSITIONS: usize = 16;

/// An open-addressing table of `(key hash, record offset)` with linear probing
/// (core's [`probe`] helpers), doubling when an insert would pass 7/8 load.
///
/// Memory: 8 bytes per position (a `u32` hash and a `u32` offset), positions a
/// power of two kept between 7/16 and 7/8 full: 9.1 to 18.3 heap bytes per key
/// (16.8 at 1,000,000 keys, in 2^21 positions); a reopen may reserve the
/// positions for the number of keys it estimates at once ([`Index::reserve`]),
/// sparser than that only as far as the estimate is high. The index stores no keys:
/// lookups compare the key stored in the region.
#[derive(Clone, Debug, Default)]
pub struct VecIndex {
    hashes: Vec<u32>,
    offsets: Vec<u32>,
    len: usize,
}

impl VecIndex {
    /// An empty index (allocates on the first insert).
    pub const fn new() -> Self {
        VecIndex {
            hashes: Vec::new(),
            offsets: Vec::new(),
            len: 0,
        }
    }

    /// Heap bytes held by the table.
    pub fn heap_bytes(&self) -> usize {
        (self.hashes.capacity() + self.offsets.capacity()) * core::mem::size_of::<u32>()
    }

    fn grow(&mut self) -> Result<(), IndexFull> {
        self.rehash((self.offsets.len() * 2).max(MIN_POSITIONS))
    }

    /// Moves every entry into a table of `n` positions (a power of two that
    /// holds them all).
    fn rehash(&mut self, n: usize) -> Result<(), IndexFull> {
        let mut hashes = Vec::new();
        let mut offsets = Vec::new();
        hashes.try_reserve_exact(n).map_err(|_| IndexFull)?;
        offsets.try_reserve_exact(n).map_err(|_| IndexFull)?;
        hashes.resize(n, 0);
        offsets.resize(n, FREE);
        for (&h, &o) in self.hashes.iter().zip(&self.offsets) {
            if o != FREE && !probe::insert(&mut hashes, &mut offsets, h, o) {
                return Err(IndexFull);
            }
        }
        self.hashes = hashes;
        self.offsets = offsets;
        Ok(())
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
        if let Some(n) = n.filter(|&n| n > self.offsets.len()) {
            let _ = self.rehash(n);
        }
    }
    fn clear(&mut self) {
        self.offsets.fill(FREE);
        self.len = 0;
    }
    fn positions(&self) -> usize {
        self.offsets.len()
    }
    fn entry(&self, pos: usize) -> Option<(u32, u32)> {
        probe::entry(&self.hashes, &self.offsets, pos)
    }
    fn set_offset(&mut self, pos: usize, offset: u32) {
        probe::set_offset(&mut self.offsets, pos, offset)
    }
    fn next_match(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32)> {
        probe::next_match(&self.hashes, &self.offsets, hash, cursor)
    }
    fn find<E>(
        &self,
        hash: u32,
        is_key: impl FnMut(u32) -> Result<bool, E>,
    ) -> Result<Option<usize>, E> {
        probe::find(&self.hashes, &self.offsets, hash, is_key)
    }
    fn insert(&mut self, hash: u32, offset: u32) -> Result<(), IndexFull> {
        // Keep load at most 7/8: positions × 7 / 8 ≥ len + 1.
        if (self.len + 1) * 8 > self.offsets.len() * 7 {
            self.grow()?;
        }
        if !probe::insert(&mut self.hashes, &mut self.offsets, hash, offset) {
            return Err(IndexFull);
        }
        self.len += 1;
        Ok(())
    }
    fn remove(&mut self, pos: usize) {
        if self.entry(pos).is_some() {
            probe::remove(&mut self.hashes, &mut self.offsets, pos);
            self.len -= 1;
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
}
