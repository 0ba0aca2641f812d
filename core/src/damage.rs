//! The damage list: keys whose newest record was lost to damage but whose
//! key is not known (FORMAT.md §6.2). Keys that are known are kept in the
//! index as keyed "damaged" records instead.

use heapless::Vec;

/// Entries kept before they are merged into one "every key" entry.
pub const DAMAGE_ENTRIES: usize = 8;

/// Which keys a damage entry covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scope {
    /// Keys whose 8-bit key hash is this.
    Hash(u8),
    /// Every key.
    Any,
}

/// One damage entry: keys in `scope` whose newest record precedes `offset`
/// (or that have none) are corrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Damage {
    /// Keys covered.
    pub scope: Scope,
    /// Offset of the damage in the active region.
    pub offset: u32,
}

/// A bounded list of damage entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct DamageList {
    entries: Vec<Damage, DAMAGE_ENTRIES>,
}

impl DamageList {
    pub(crate) fn add(&mut self, d: Damage) {
        if self.entries.contains(&d) {
            return;
        }
        if self.entries.push(d).is_err() {
            // Too many to track one by one: keep the conservative union.
            let max = self
                .entries
                .iter()
                .map(|e| e.offset)
                .fold(d.offset, u32::max);
            self.entries.clear();
            let _ = self.entries.push(Damage {
                scope: Scope::Any,
                offset: max,
            });
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Becomes a copy of `from`, in place (`clone_from` builds the copy on
    /// the stack first).
    pub(crate) fn copy_from(&mut self, from: &DamageList) {
        self.entries.clear();
        for d in &from.entries {
            // Never full: both lists hold at most `DAMAGE_ENTRIES`.
            let _ = self.entries.push(*d);
        }
    }

    pub(crate) fn entries(&self) -> &[Damage] {
        &self.entries
    }

    /// Whether any entry could cover a key with this 8-bit hash.
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub(crate) fn touches(&self, short: u8) -> bool {
        self.entries.iter().any(|e| matches_scope(e.scope, short))
    }

    /// Whether a key with this 8-bit hash whose newest record is at `newest`
    /// (`None`: it has none) is corrupted.
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub(crate) fn covers(&self, short: u8, newest: Option<u32>) -> bool {
        self.entries
            .iter()
            .any(|e| matches_scope(e.scope, short) && newest.is_none_or(|n| n < e.offset))
    }
}

fn matches_scope(scope: Scope, short: u8) -> bool {
    match scope {
        Scope::Any => true,
        Scope::Hash(h) => h == short,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_only_older_or_absent_keys_in_scope() {
        let mut d = DamageList::default();
        d.add(Damage {
            scope: Scope::Hash(7),
            offset: 100,
        });
        assert!(d.covers(7, None));
        assert!(d.covers(7, Some(50)));
        assert!(!d.covers(7, Some(150)));
        assert!(!d.covers(8, Some(50)));
        assert!(d.touches(7) && !d.touches(8));
    }

    #[test]
    fn overflow_merges_into_every_key_at_the_newest_offset() {
        let mut d = DamageList::default();
        for i in 0..=DAMAGE_ENTRIES as u32 {
            d.add(Damage {
                scope: Scope::Hash(i as u8),
                offset: 10 * i,
            });
        }
        assert_eq!(
            d.entries(),
            &[Damage {
                scope: Scope::Any,
                offset: 10 * DAMAGE_ENTRIES as u32
            }]
        );
        assert!(d.covers(200, Some(5)));
    }
}
