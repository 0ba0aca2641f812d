//! The two journals of a store and which one is active (FORMAT.md §7, §8).

use super::super::journal::Journal;
use super::super::Region;
use super::copy::{in_target, IN_TARGET};
use super::RegionId;

/// Regions A and B, both built at open and kept for the store's whole life.
pub(crate) struct Pair<R: Region> {
    pub(crate) a: Journal<R>,
    pub(crate) b: Journal<R>,
    /// The region writes go to.
    pub(crate) active: RegionId,
}

impl<R: Region> Pair<R> {
    /// `reach`: the largest record's stored length (`R`, FORMAT.md §6.2).
    #[inline(always)]
    pub(crate) fn new(a: R, b: R, reach: u32) -> Self {
        Pair {
            a: Journal::new(a, reach),
            b: Journal::new(b, reach),
            active: RegionId::A,
        }
    }

    /// Makes A active if `a`, else B.
    pub(crate) fn set_active_a(&mut self, a: bool) {
        self.active = if a { RegionId::A } else { RegionId::B };
    }

    /// The other region becomes active (step 9 of a switch).
    pub(crate) fn flip(&mut self) {
        self.active = self.active.other();
    }

    pub(crate) fn active(&self) -> &Journal<R> {
        match self.active {
            RegionId::A => &self.a,
            RegionId::B => &self.b,
        }
    }

    pub(crate) fn active_mut(&mut self) -> &mut Journal<R> {
        match self.active {
            RegionId::A => &mut self.a,
            RegionId::B => &mut self.b,
        }
    }

    pub(crate) fn inactive(&self) -> &Journal<R> {
        match self.active {
            RegionId::A => &self.b,
            RegionId::B => &self.a,
        }
    }

    pub(crate) fn inactive_mut(&mut self) -> &mut Journal<R> {
        self.split_mut().1
    }

    /// (active, inactive), both mutable: a switch copies from one to the
    /// other.
    pub(crate) fn split_mut(&mut self) -> (&mut Journal<R>, &mut Journal<R>) {
        match self.active {
            RegionId::A => (&mut self.a, &mut self.b),
            RegionId::B => (&mut self.b, &mut self.a),
        }
    }

    /// The journal holding the record an index offset names, the offset in
    /// it, and whether it is the target of a switch under way (its records
    /// carry the next generation's seal).
    pub(crate) fn at_mut(&mut self, off: u32) -> (&mut Journal<R>, u32, bool) {
        if in_target(off) {
            (self.inactive_mut(), off & !IN_TARGET, true)
        } else {
            (self.active_mut(), off, false)
        }
    }

    /// [`Pair::at_mut`], shared.
    pub(crate) fn at(&self, off: u32) -> (&Journal<R>, u32, bool) {
        if in_target(off) {
            (self.inactive(), off & !IN_TARGET, true)
        } else {
            (self.active(), off, false)
        }
    }
}
