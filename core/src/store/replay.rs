//! What a replay of the active region (FORMAT.md §6) feeds into the store:
//! the index, the damage list and the live counters.

use super::*;

/// Feeds a replay into the index and damage list, counting as it goes.
pub(super) struct IndexSink<'a, I: Index> {
    pub(super) index: &'a mut I,
    pub(super) damage: &'a mut DamageList,
    pub(super) limits: Limits,
    pub(super) write_unit: u32,
    /// The records the index points at (damage entries are added after).
    pub(super) tally: Tally,
    /// A key found no room in the index (the replay goes on, so that damage
    /// that explains the extra key is still found).
    pub(super) overflow: bool,
    /// The newest erased record: (pending units, partner size).
    pub(super) erased: Option<(u32, u32)>,
}

impl<I: Index> IndexSink<'_, I> {
    fn count(&mut self, h: &RecordHeader, add: bool) {
        self.tally.count_header(h, self.write_unit, add);
    }
    fn forget(&mut self) {
        self.index.clear();
        self.damage.clear();
        self.tally = Tally::default();
        self.overflow = false;
        self.erased = None;
    }
}

#[io(AFIT)]
impl<R: Region, I: Index> Sink<R> for IndexSink<'_, I> {
    async fn record(
        &mut self,
        j: &mut Journal<R>,
        off: u32,
        h: &RecordHeader,
        key_hash: u32,
        w: &Window<'_>,
    ) -> Result<(), R::Error> {
        let limits = self.limits;
        let mut old = None;
        let mut pos = None;
        let mut cursor = 0;
        while let Some((p, o)) = self.index.next_match(key_hash, &mut cursor) {
            if let Some(oh) = j.same_key(o, off, h, limits, w).await? {
                old = Some(oh);
                pos = Some(p);
                break;
            }
        }
        let keep = h.kind != Kind::Delete || self.damage.touches(h.hash);
        if let Some(oh) = old {
            self.count(&oh, false);
        }
        if keep {
            self.count(h, true);
        }
        match (pos, keep) {
            (Some(p), true) => self.index.set_offset(p, off),
            (Some(p), false) => self.index.remove(p),
            (None, true) => {
                if self.index.insert(key_hash, off).is_err() {
                    self.overflow = true;
                }
            }
            (None, false) => {}
        }
        Ok(())
    }
    fn damage(&mut self, d: Damage) {
        self.damage.add(d);
    }
    fn clear(&mut self) {
        // A clear forgets keys, not what is known of the partner.
        let erased = self.erased;
        self.forget();
        self.erased = erased;
    }
    fn erased(&mut self, pending: u32, partner_size: u32) {
        self.erased = Some((pending, partner_size));
    }
    fn reset(&mut self) {
        self.forget();
    }
}
