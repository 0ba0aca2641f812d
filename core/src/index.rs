//! The in-memory index: key hash → offset of the key's newest record.
//!
//! The index stores no keys. Equal hashes are allowed: a lookup calls back
//! for each entry with the same hash and the store compares the key stored at
//! that offset. [`FixedIndex`] is the allocation-free table core ships;
//! `twinkv-host` plugs in a growable one through the [`Index`] trait.

/// A full index: the entry was not added and nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IndexFull;

/// A table of `(hash, offset)` entries, addressed by position.
///
/// Positions stay valid until the next `insert` or `remove`.
pub trait Index {
    /// Number of entries.
    fn len(&self) -> usize;
    /// True when there are no entries.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether `additional` more entries can be inserted.
    fn has_room(&self, additional: usize) -> bool;
    /// A hint that about `additional` more entries are coming (a replay
    /// that has estimated the number of keys): a growable table may make
    /// room for them at once rather than grow step by step. The default
    /// does nothing; a fixed table ignores it.
    fn reserve(&mut self, additional: usize) {
        let _ = additional;
    }
    /// Removes every entry.
    fn clear(&mut self);
    /// Number of positions (occupied or not), for iteration.
    fn positions(&self) -> usize;
    /// The entry at `pos`, if occupied: `(hash, offset)`.
    fn entry(&self, pos: usize) -> Option<(u32, u32)>;
    /// Changes the offset of the entry at `pos`.
    fn set_offset(&mut self, pos: usize, offset: u32);
    /// The next entry with `hash` in the lookup order of `hash`, as
    /// `(position, offset)`, starting from step `*cursor` (0 for the first)
    /// and advancing it; `None` when no entry with `hash` is left. The store
    /// compares the key at each offset between two calls, so the comparison
    /// can await I/O (the async store) where [`find`](Self::find)'s closure
    /// cannot.
    fn next_match(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32)>;
    /// Position of the entry with `hash` for which `is_key(offset)` returns
    /// true, trying each entry with that hash in turn.
    fn find<E>(
        &self,
        hash: u32,
        mut is_key: impl FnMut(u32) -> Result<bool, E>,
    ) -> Result<Option<usize>, E> {
        let mut cursor = 0;
        while let Some((pos, off)) = self.next_match(hash, &mut cursor) {
            if is_key(off)? {
                return Ok(Some(pos));
            }
        }
        Ok(None)
    }
    /// Adds an entry; the caller has checked that the key has none.
    fn insert(&mut self, hash: u32, offset: u32) -> Result<(), IndexFull>;
    /// [`insert`](Self::insert) right after [`next_match`](Self::next_match)
    /// for `hash` returned `None` with `cursor`, the index unchanged since: a
    /// table whose `next_match` leaves in `cursor` where its probe stopped
    /// may put the entry there without probing again. The default inserts.
    fn insert_after_miss(
        &mut self,
        hash: u32,
        offset: u32,
        cursor: usize,
    ) -> Result<(), IndexFull> {
        let _ = cursor;
        self.insert(hash, offset)
    }
    /// Removes the entry at `pos`.
    fn remove(&mut self, pos: usize);
    /// Keeps `pos` on a short list for the store to take back with
    /// [`take_noted`](Self::take_noted). Only a hint: a table may keep a
    /// few positions, drop what does not fit, and forget them all when its
    /// positions move (a growth); the store checks each one it takes. The
    /// store notes the entries a write gives a new record while a switch
    /// copies (FORMAT.md §7.4), so that the copy takes them again without
    /// a pass over every position: on a large table such a pass was the
    /// longest `set`. The default keeps none (a small table's pass is
    /// short).
    fn note(&mut self, pos: usize) {
        let _ = pos;
    }
    /// A position noted and not yet taken (the last noted first), or
    /// `None`. The default has none.
    fn take_noted(&mut self) -> Option<usize> {
        None
    }
    /// [`next_match`](Self::next_match) with the entry's
    /// [`fingerprint`](Self::fingerprint): `(position, offset,
    /// fingerprint)`. A table that keeps fingerprints has them at hand
    /// where it found the entry.
    fn next_match_seen(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32, u32)> {
        let (pos, off) = self.next_match(hash, cursor)?;
        Some((pos, off, self.fingerprint(pos)))
    }
    /// The fingerprint left on the entry at `pos` by
    /// [`set_fingerprint`](Self::set_fingerprint) since its offset last
    /// changed, or 0 for none. The default keeps none.
    fn fingerprint(&self, pos: usize) -> u32 {
        let _ = pos;
        0
    }
    /// Leaves `fingerprint` (never 0) on the entry at `pos`, through a
    /// shared reference: a `get` from a mapped region that has checked the
    /// entry's record against its record check leaves a value that says so
    /// (the second such `get`: the fingerprint of the bytes it checked), and
    /// later `get`s of the entry compare the bytes against it instead of
    /// computing the record check again (the check again whenever they
    /// differ). The value is the store's; a table only keeps it. A table
    /// that keeps them (in an atomic or a cell per position) must answer 0
    /// once the entry's offset changes (`insert`, `set_offset`, `remove`,
    /// `clear`); an entry it moves keeps its fingerprint. The default keeps
    /// none: every `get` computes the record check, as [`FixedIndex`] does
    /// on a device (whose regions are not mapped).
    fn set_fingerprint(&self, pos: usize, fingerprint: u32) {
        let _ = (pos, fingerprint);
    }
}

/// A borrowed index: the store can use a table that lives elsewhere (e.g. a
/// `static` or the caller's stack frame), so that the `Store` value, which
/// `Store::open` returns and the caller moves, stays small. On a small
/// device the index is most of the store's RAM.
///
/// ```
/// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};
///
/// let geo = Geometry { size: 4096, read_unit: 1, write_unit: 4, erase_unit: 512 };
/// let len = RamRegion::<&mut [u8]>::storage_len(4096, 4, 512);
/// let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
/// let mut index = FixedIndex::<64>::new();
/// let mut scratch = [0u8; 512];
/// let config = Config::new(0x5EED).with_limits(32, 128);
/// let mut store = Store::open(
///     RamRegion::new(&mut a[..], geo).unwrap(),
///     RamRegion::new(&mut b[..], geo).unwrap(),
///     &mut index,
///     &mut scratch[..],
///     config,
/// )
/// .unwrap();
/// store.set(b"volume", b"7").unwrap();
/// assert!(store.contains_key(b"volume").unwrap());
/// ```
impl<I: Index + ?Sized> Index for &mut I {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn is_empty(&self) -> bool {
        (**self).is_empty()
    }
    fn has_room(&self, additional: usize) -> bool {
        (**self).has_room(additional)
    }
    fn reserve(&mut self, additional: usize) {
        (**self).reserve(additional)
    }
    fn clear(&mut self) {
        (**self).clear()
    }
    fn positions(&self) -> usize {
        (**self).positions()
    }
    fn entry(&self, pos: usize) -> Option<(u32, u32)> {
        (**self).entry(pos)
    }
    fn set_offset(&mut self, pos: usize, offset: u32) {
        (**self).set_offset(pos, offset)
    }
    fn next_match(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32)> {
        (**self).next_match(hash, cursor)
    }
    fn insert(&mut self, hash: u32, offset: u32) -> Result<(), IndexFull> {
        (**self).insert(hash, offset)
    }
    #[inline]
    fn insert_after_miss(
        &mut self,
        hash: u32,
        offset: u32,
        cursor: usize,
    ) -> Result<(), IndexFull> {
        (**self).insert_after_miss(hash, offset, cursor)
    }
    fn remove(&mut self, pos: usize) {
        (**self).remove(pos)
    }
    fn note(&mut self, pos: usize) {
        (**self).note(pos)
    }
    fn take_noted(&mut self) -> Option<usize> {
        (**self).take_noted()
    }
    #[inline]
    fn next_match_seen(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32, u32)> {
        (**self).next_match_seen(hash, cursor)
    }
    #[inline]
    fn fingerprint(&self, pos: usize) -> u32 {
        (**self).fingerprint(pos)
    }
    #[inline]
    fn set_fingerprint(&self, pos: usize, fingerprint: u32) {
        (**self).set_fingerprint(pos, fingerprint)
    }
}

/// Marks a free position.
const FREE: u32 = u32::MAX;

/// An open-addressing table with linear probing and `N` positions (a power of
/// two), holding up to `N` entries, without allocation. 8 bytes per position.
#[derive(Clone, Debug)]
pub struct FixedIndex<const N: usize> {
    hashes: [u32; N],
    offsets: [u32; N],
    len: usize,
}

impl<const N: usize> Default for FixedIndex<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FixedIndex<N> {
    /// An empty index. `N` must be a power of two (checked at compile time).
    pub const fn new() -> Self {
        const {
            assert!(
                N.is_power_of_two(),
                "FixedIndex size must be a power of two"
            )
        };
        FixedIndex {
            hashes: [0; N],
            offsets: [FREE; N],
            len: 0,
        }
    }
}

/// Linear probing over a table of `positions` (a power of two) entries, shared
/// by [`FixedIndex`] and growable host tables.
pub mod probe {
    use super::FREE;

    /// The home position of `hash`.
    #[inline]
    pub fn home(hash: u32, positions: usize) -> usize {
        // Spread the CRC bits before masking (CRC-32C low bits are fine, but a
        // multiply also mixes in the high ones).
        (hash.wrapping_mul(0x9E37_79B1) >> 7) as usize & (positions - 1)
    }

    /// See [`Index::entry`](super::Index::entry).
    pub fn entry(hashes: &[u32], offsets: &[u32], pos: usize) -> Option<(u32, u32)> {
        match offsets.get(pos) {
            Some(&off) if off != FREE => hashes.get(pos).map(|&h| (h, off)),
            _ => None,
        }
    }

    /// See [`Index::set_offset`](super::Index::set_offset).
    pub fn set_offset(offsets: &mut [u32], pos: usize, offset: u32) {
        if let Some(o) = offsets.get_mut(pos) {
            *o = offset;
        }
    }

    /// See [`Index::find`](super::Index::find).
    pub fn find<E>(
        hashes: &[u32],
        offsets: &[u32],
        hash: u32,
        mut is_key: impl FnMut(u32) -> Result<bool, E>,
    ) -> Result<Option<usize>, E> {
        let n = offsets.len();
        if n == 0 {
            return Ok(None);
        }
        let mut pos = home(hash, n);
        for _ in 0..n {
            let off = offsets[pos];
            if off == FREE {
                return Ok(None);
            }
            if hashes[pos] == hash && is_key(off)? {
                return Ok(Some(pos));
            }
            pos = (pos + 1) & (n - 1);
        }
        Ok(None)
    }

    /// See [`Index::next_match`](super::Index::next_match): the cursor counts
    /// probe steps from the home position.
    #[inline]
    pub fn next_match(
        hashes: &[u32],
        offsets: &[u32],
        hash: u32,
        cursor: &mut usize,
    ) -> Option<(usize, u32)> {
        let n = offsets.len();
        if n == 0 {
            return None;
        }
        let home = home(hash, n);
        while *cursor < n {
            let pos = (home + *cursor) & (n - 1);
            *cursor += 1;
            let off = offsets[pos];
            if off == FREE {
                *cursor = n;
                return None;
            }
            if hashes[pos] == hash {
                return Some((pos, off));
            }
        }
        None
    }

    /// Inserts into the first free position from the home position; false when
    /// the table is full.
    pub fn insert(hashes: &mut [u32], offsets: &mut [u32], hash: u32, offset: u32) -> bool {
        let n = offsets.len();
        if n == 0 {
            return false;
        }
        let mut pos = home(hash, n);
        for _ in 0..n {
            if offsets[pos] == FREE {
                hashes[pos] = hash;
                offsets[pos] = offset;
                return true;
            }
            pos = (pos + 1) & (n - 1);
        }
        false
    }

    /// Removes the entry at `pos` with backward-shift deletion (no tombstones).
    pub fn remove(hashes: &mut [u32], offsets: &mut [u32], pos: usize) {
        let n = offsets.len();
        let mut hole = pos;
        offsets[hole] = FREE;
        let mut next = (hole + 1) & (n - 1);
        for _ in 0..n {
            if offsets[next] == FREE {
                return;
            }
            let h = home(hashes[next], n);
            // Move `next` into the hole if its home is not in (hole, next].
            let dist_next = next.wrapping_sub(h) & (n - 1);
            let dist_hole = next.wrapping_sub(hole) & (n - 1);
            if dist_next >= dist_hole {
                hashes[hole] = hashes[next];
                offsets[hole] = offsets[next];
                offsets[next] = FREE;
                hole = next;
            }
            next = (next + 1) & (n - 1);
        }
    }
}

impl<const N: usize> Index for FixedIndex<N> {
    fn len(&self) -> usize {
        self.len
    }
    fn has_room(&self, additional: usize) -> bool {
        self.len.saturating_add(additional) <= N
    }
    fn clear(&mut self) {
        self.offsets = [FREE; N];
        self.len = 0;
    }
    fn positions(&self) -> usize {
        N
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
        if self.len >= N || !probe::insert(&mut self.hashes, &mut self.offsets, hash, offset) {
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

    fn find_off<I: Index>(i: &I, hash: u32, off: u32) -> Option<usize> {
        i.find::<()>(hash, |o| Ok(o == off)).unwrap()
    }

    #[test]
    fn insert_find_remove_with_forced_collisions() {
        let mut idx = FixedIndex::<8>::new();
        // Eight entries, all with the same hash: every lookup walks the chain.
        for off in 0..8 {
            idx.insert(42, off * 10).unwrap();
        }
        assert_eq!(idx.insert(1, 99), Err(IndexFull));
        for off in 0..8 {
            assert!(find_off(&idx, 42, off * 10).is_some());
        }
        let pos = find_off(&idx, 42, 30).unwrap();
        idx.remove(pos);
        assert_eq!(idx.len(), 7);
        assert!(find_off(&idx, 42, 30).is_none());
        for off in [0, 10, 20, 40, 50, 60, 70] {
            assert!(find_off(&idx, 42, off).is_some(), "{off}");
        }
    }

    #[test]
    fn backward_shift_keeps_every_entry_reachable() {
        // Model check against a list over many random operations.
        let mut idx = FixedIndex::<16>::new();
        let mut model: [(u32, u32); 16] = [(0, 0); 16];
        let mut n = 0usize;
        let mut x = 0x1234_5678u32;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let hash = x % 5; // few hashes: many collisions
            if x & 0x100 != 0 && n < 16 {
                idx.insert(hash, step).unwrap();
                model[n] = (hash, step);
                n += 1;
            } else if n > 0 {
                let k = (x as usize >> 9) % n;
                let (h, o) = model[k];
                let pos = find_off(&idx, h, o).expect("entry lost");
                idx.remove(pos);
                model[k] = model[n - 1];
                n -= 1;
            }
            assert_eq!(idx.len(), n);
            for &(h, o) in &model[..n] {
                assert!(find_off(&idx, h, o).is_some());
            }
        }
    }
}
