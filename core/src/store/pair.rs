//! The two journals of a store and which one is active (FORMAT.md §7, §8).

use super::super::journal::Journal;
use super::super::Region;
use super::staged::STAGED;
use super::RegionId;

/// The bit of an index offset that tells the regions apart: an offset whose
/// bit equals [`Pair`]'s `tag` names a record of the active region, one
/// whose bit differs a record of the inactive one (a switch's target).
/// Record offsets stay below it: regions are at most
/// [`MAX_REGION_SIZE`](crate::MAX_REGION_SIZE), 1 GiB.
pub(crate) const REGION_BIT: u32 = 1 << 30;

/// Regions A and B, both built at open and kept for the store's whole life.
pub(crate) struct Pair<R: Region> {
    pub(crate) a: Journal<R>,
    pub(crate) b: Journal<R>,
    /// The region writes go to.
    pub(crate) active: RegionId,
    /// [`REGION_BIT`] of the active region's index offsets: 0 from open
    /// (the replay indexes plain offsets), toggled by every switch, so that
    /// the entries of the records a switch copied name the active region
    /// once it commits, without a pass over the index.
    tag: u32,
}

impl<R: Region> Pair<R> {
    /// `reach`: the largest record's stored length (`R`, FORMAT.md §6.2).
    #[inline(always)]
    pub(crate) fn new(a: R, b: R, reach: u32) -> Self {
        Pair {
            a: Journal::new(a, reach),
            b: Journal::new(b, reach),
            active: RegionId::A,
            tag: 0,
        }
    }

    /// Makes A active if `a`, else B. At open: the index is built after it,
    /// from plain offsets.
    pub(crate) fn set_active_a(&mut self, a: bool) {
        self.active = if a { RegionId::A } else { RegionId::B };
        self.tag = 0;
    }

    /// The other region becomes active (step 9 of a switch): the index
    /// offsets of the target's records now name the active region.
    pub(crate) fn flip(&mut self) {
        self.active = self.active.other();
        self.tag ^= REGION_BIT;
    }

    /// Whether the replay may index plain offsets (no switch since the
    /// active region was chosen).
    pub(crate) fn tag_is_plain(&self) -> bool {
        self.tag == 0
    }

    /// The index offset of a record at `at` in the active region.
    #[inline]
    pub(crate) fn active_off(&self, at: u32) -> u32 {
        at | self.tag
    }

    /// The index offset of a record at `at` in the inactive region (a
    /// switch's target).
    #[inline]
    pub(crate) fn target_off(&self, at: u32) -> u32 {
        at | (self.tag ^ REGION_BIT)
    }

    /// Whether index offset `off` names a record of the inactive region (a
    /// switch's target); a batch's staged key names none.
    #[inline]
    pub(crate) fn in_target(&self, off: u32) -> bool {
        off & STAGED == 0 && off & REGION_BIT != self.tag
    }

    /// The record offset in the active region that index offset `off`
    /// names, `None` if it names none (a record of the target, a staged
    /// key).
    #[inline]
    pub(crate) fn in_active(&self, off: u32) -> Option<u32> {
        (off & (STAGED | REGION_BIT) == self.tag).then_some(off & !REGION_BIT)
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
        if self.in_target(off) {
            (self.inactive_mut(), off & !REGION_BIT, true)
        } else {
            (self.active_mut(), off & !REGION_BIT, false)
        }
    }

    /// [`Pair::at_mut`], shared.
    #[inline]
    pub(crate) fn at(&self, off: u32) -> (&Journal<R>, u32, bool) {
        if self.in_target(off) {
            (self.inactive(), off & !REGION_BIT, true)
        } else {
            (self.active(), off & !REGION_BIT, false)
        }
    }
}
