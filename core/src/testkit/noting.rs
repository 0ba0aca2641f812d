//! [`NotingIndex`]: [`FixedIndex`] that keeps the positions a store notes
//! ([`Index::note`]), as the host's growable index does, so that the test
//! kit's stores run the copy's noted path (FORMAT.md §7.4) under power cuts
//! and damage; `FixedIndex` itself keeps none (the firmware path), which the
//! flash suites run.

use std::vec::Vec;

use crate::{FixedIndex, Index, IndexFull};

/// Positions a [`NotingIndex`] keeps: fewer than a busy copy notes, so that
/// dropped notes (the copy's pass then finds those entries) are tested too.
pub const NOTED: usize = 2;

std::thread_local! {
    static TAKEN: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    static READ: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// Notes taken back from every [`NotingIndex`] of this thread so far: a test
/// checks with it that its stores ran the noted path.
pub fn notes_taken() -> u64 {
    TAKEN.with(core::cell::Cell::get)
}

/// Positions read ([`Index::entry`]) from every [`NotingIndex`] of this
/// thread so far: what a copy's pass over the positions costs.
pub fn entries_read() -> u64 {
    READ.with(core::cell::Cell::get)
}

/// [`FixedIndex<N>`] keeping up to [`NOTED`] noted positions (or as many
/// as [`keeping`](Self::keeping) says).
#[derive(Clone, Debug)]
pub struct NotingIndex<const N: usize> {
    inner: FixedIndex<N>,
    noted: Vec<usize>,
    keep: usize,
}

impl<const N: usize> Default for NotingIndex<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> NotingIndex<N> {
    /// An empty index keeping [`NOTED`] notes.
    pub fn new() -> Self {
        Self::keeping(NOTED)
    }

    /// An empty index keeping up to `keep` notes (0: none, as
    /// `FixedIndex`).
    pub fn keeping(keep: usize) -> Self {
        NotingIndex {
            inner: FixedIndex::new(),
            noted: Vec::new(),
            keep,
        }
    }
}

impl<const N: usize> Index for NotingIndex<N> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn has_room(&self, additional: usize) -> bool {
        self.inner.has_room(additional)
    }
    fn clear(&mut self) {
        self.inner.clear();
        self.noted.clear();
    }
    fn positions(&self) -> usize {
        self.inner.positions()
    }
    fn entry(&self, pos: usize) -> Option<(u32, u32)> {
        READ.with(|r| r.set(r.get() + 1));
        self.inner.entry(pos)
    }
    fn set_offset(&mut self, pos: usize, offset: u32) {
        self.inner.set_offset(pos, offset)
    }
    fn next_match(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32)> {
        self.inner.next_match(hash, cursor)
    }
    fn insert(&mut self, hash: u32, offset: u32) -> Result<(), IndexFull> {
        self.inner.insert(hash, offset)
    }
    fn remove(&mut self, pos: usize) {
        // Later entries may shift back: the notes stay (they are hints).
        self.inner.remove(pos)
    }
    fn note(&mut self, pos: usize) {
        if self.noted.len() < self.keep {
            self.noted.push(pos);
        }
    }
    fn take_noted(&mut self) -> Option<usize> {
        let p = self.noted.pop()?;
        TAKEN.with(|t| t.set(t.get() + 1));
        Some(p)
    }
}
