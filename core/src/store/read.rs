//! Reads: lookups through the index, each record checked on every read.

use super::*;
use crate::error::bug;
use crate::fingerprint::READ_ONCE;

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// A lookup for reads: an entry with the same 32-bit hash whose record
    /// no longer passes its check (damaged while the store is open) may be
    /// this key with damaged key bytes, so if no entry matches, the answer is
    /// [`Error::Corrupted`] rather than "absent".
    pub(super) async fn lookup_strict(
        &mut self,
        key: &[u8],
        hash: u32,
    ) -> Res<Option<(usize, u32, RecordHeader)>, R::Error> {
        match self.lookup(key, hash).await? {
            Looked {
                found: None,
                suspect: true,
            } => Err(Fail::Corrupted),
            l => Ok(l.found),
        }
    }

    /// A write's lookup: index position, offset and header of `key`'s
    /// newest record, and whether another entry of the same 32-bit hash
    /// failed its check (a *suspect*).
    ///
    /// A suspect may be this key's newest record, damaged while the store is
    /// open (its key bytes or header no longer read as written), with an
    /// older record of the key elsewhere: in the active log before it, or,
    /// while a switch copies, in the active region for a copy in the
    /// target. A delete must then leave a record and an entry, as one that
    /// damage could cover does; skipped as a delete of an absent key, the
    /// older record would come back at the next open (fuzz finding
    /// `zeroed-unit-in-b-resurrects-a-deleted-key`). The suspect's entry
    /// stays: it may be another key's, which must keep reading corrupted.
    pub(super) async fn lookup(&mut self, key: &[u8], hash: u32) -> Res<Looked, R::Error> {
        let limits = self.limits();
        let seal = self.seal();
        let target_seal = self.copy.target_seal().unwrap_or(seal);
        let (index, pair) = (&self.index, &mut self.pair);
        let mut suspect = false;
        let mut cursor = 0;
        while let Some((pos, off)) = index.next_match(hash, &mut cursor) {
            if staged::staged_op(off).is_some() {
                continue; // a batch's staged key, not a record
            }
            let (j, at, in_target) = pair.at_mut(off);
            let h = readable(j.header_at(at, limits.max_key, limits.max_value).await)?;
            let Some(h) = h else {
                suspect = true;
                continue;
            };
            if j.key_eq(at, &h, key).await? {
                self.suspects |= suspect;
                return Ok(Looked {
                    found: Some((pos, off, h)),
                    suspect,
                });
            }
            let seal = if in_target { target_seal } else { seal };
            if !j.verify(at, &h, SealState::new(seal)).await?.0 {
                suspect = true;
            }
        }
        self.suspects |= suspect;
        Ok(Looked {
            found: None,
            suspect,
        })
    }

    /// Copies `key`'s value into `buf` and returns its length, or `None` if
    /// the key has no value. The record's check is verified on every call;
    /// a damaged value is [`Error::Corrupted`], never an older value.
    pub async fn get(&mut self, key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, R::Error> {
        match self.get_call(key, buf).await {
            Ok(Some(n)) if n > buf.len() => Err(Error::BufferTooSmall(n)),
            r => Ok(r?),
        }
    }

    /// [`get`](Self::get); never inlined, as `set`'s body is not: its
    /// locals stay out of the caller's frame. A length past `buf`'s says
    /// that the value does not fit (nothing copied; `get` makes it
    /// [`Error::BufferTooSmall`], as the engine's errors carry no length).
    #[inline(never)]
    async fn get_call(&mut self, key: &[u8], buf: &mut [u8]) -> Res<Option<usize>, R::Error> {
        self.callable()?;
        self.check_key(key)?;
        let hash = key_hash(key);
        let short = short_hash(hash);
        let limits = self.limits();
        let seal = self.seal_state();
        let target_seal = self.copy.target_seal().map_or(seal, SealState::new);
        let (index, pair, scratch) = (&self.index, &mut self.pair, self.scratch.as_mut());
        // Each candidate record is read once, exactly (header, key, value),
        // into scratch; the key is compared and the check verified there.
        let mut hit = None;
        let mut suspect = false;
        let mut cursor = 0;
        while let Some((_, off)) = index.next_match(hash, &mut cursor) {
            let (j, at, in_target) = pair.at_mut(off);
            let Some(h) = j.read_record(at, scratch, limits).await? else {
                suspect = true;
                continue;
            };
            let intact =
                record::verify_sealed(scratch, &h, if in_target { target_seal } else { seal });
            if scratch[h.key_range()] == *key {
                hit = Some((off, h, intact));
                break;
            }
            suspect |= !intact;
        }
        let Some((off, h, intact)) = hit else {
            return if suspect || self.damage_covers(short, None) {
                Err(Fail::Corrupted)
            } else {
                Ok(None)
            };
        };
        if !intact || self.damage_covers(short, Some(off)) {
            return Err(Fail::Corrupted);
        }
        match h.kind {
            Kind::Delete => Ok(None),
            Kind::Set => {
                let n = h.value_len as usize;
                if let Some(out) = buf.get_mut(..n) {
                    out.copy_from_slice(&self.scratch.as_mut()[h.value_range()]);
                }
                Ok(Some(n))
            }
            _ => Err(Fail::Corrupted),
        }
    }

    /// Whether `key` has a value. The record is checked as [`get`](Self::get)
    /// checks it: a damaged key, value or deletion is [`Error::Corrupted`].
    pub async fn contains_key(&mut self, key: &[u8]) -> Result<bool, R::Error> {
        Ok(self.contains_key_call(key).await?)
    }

    async fn contains_key_call(&mut self, key: &[u8]) -> Res<bool, R::Error> {
        self.callable()?;
        self.check_key(key)?;
        let hash = key_hash(key);
        let short = short_hash(hash);
        match self.lookup_strict(key, hash).await? {
            None if self.damage_covers(short, None) => Err(Fail::Corrupted),
            None => Ok(false),
            Some((_, off, _)) if self.damage_covers(short, Some(off)) => Err(Fail::Corrupted),
            Some((_, off, h)) => {
                // The record's check is verified, as `get` verifies it: a
                // damaged value or deletion is `Corrupted`.
                let seal = self.seal();
                let target_seal = self.copy.target_seal().unwrap_or(seal);
                let (j, at, in_target) = self.pair.at_mut(off);
                let seal = SealState::new(if in_target { target_seal } else { seal });
                if !j.verify(at, &h, seal).await?.0 {
                    return Err(Fail::Corrupted);
                }
                match h.kind {
                    Kind::Set => Ok(true),
                    Kind::Delete => Ok(false),
                    _ => Err(Fail::Corrupted),
                }
            }
        }
    }

    /// Calls `f(key, value)` for every key with an intact value, in index
    /// order, each record's check verified. Stops early when `f` returns
    /// `false`. If any key is damaged, the intact ones are still visited and
    /// the call then returns [`Error::Corrupted`].
    pub async fn for_each(&mut self, f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<(), R::Error> {
        Ok(self.for_each_call(f).await?)
    }

    async fn for_each_call(
        &mut self,
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Res<(), R::Error> {
        self.callable()?;
        let limits = self.limits();
        let seal = self.seal();
        let target_seal = self.copy.target_seal().unwrap_or(seal);
        let w = self.pair.active().geo.write_unit;
        // Damaged keys are not skipped silently: every intact entry is
        // visited, then the call reports `Corrupted` if any key is damaged.
        let mut damaged = self.damage_entries().next().is_some();
        for pos in 0..self.index.positions() {
            let Some((hash, off)) = self.index.entry(pos) else {
                continue;
            };
            let ((j, at, in_target), scratch) = (self.pair.at_mut(off), self.scratch.as_mut());
            let h = readable(j.header_at(at, limits.max_key, limits.max_value).await)?;
            // A header damaged while the store is open: a damaged key.
            let Some(h) = h else {
                damaged = true;
                continue;
            };
            let deleted = match h.kind {
                Kind::Set => false,
                Kind::Delete => true,
                _ => {
                    damaged = true;
                    continue;
                }
            };
            let len = h.stored_len(w).ok_or_else(|| bug!())? as usize;
            let rec = scratch.get_mut(..len).ok_or_else(|| bug!())?;
            j.read(at, rec).await?;
            let seal = if in_target { target_seal } else { seal };
            // A deletion is checked too: a damaged one may hide a value.
            if !record::verify(rec, &h, seal) || self.damage_covers(short_hash(hash), Some(off)) {
                damaged = true;
                continue;
            }
            if deleted {
                continue;
            }
            let rec = &self.scratch.as_mut()[..len];
            if !f(&rec[h.key_range()], &rec[h.value_range()]) {
                return Ok(());
            }
        }
        if damaged {
            Err(Fail::Corrupted)
        } else {
            Ok(())
        }
    }
}

#[io]
impl<R: MappedRegion, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// The value of `key`, borrowed from the mapped region (no copy). The
    /// record is checked on every call: against its header and record
    /// checks, or, from the third `get` of an entry on with an index that
    /// keeps fingerprints ([`Index::set_fingerprint`]), against the
    /// fingerprint of the bytes the second one checked (any difference
    /// sends it back to the checks).
    pub async fn get_ref(&self, key: &[u8]) -> Result<Option<&[u8]>, R::Error> {
        Ok(self.get_ref_call(key).await?)
    }

    async fn get_ref_call(&self, key: &[u8]) -> Res<Option<&[u8]>, R::Error> {
        self.callable()?;
        self.check_key(key)?;
        let hash = key_hash(key);
        let mut cursor = 0;
        let Some((pos, off, seen)) = self.index.next_match_seen(hash, &mut cursor) else {
            // No entry with this hash.
            return if self.damage_covers(short_hash(hash), None) {
                Err(Fail::Corrupted)
            } else {
                Ok(None)
            };
        };
        // The common case, decoded, compared and checked in one pass: the
        // first entry with this hash names an intact short record of this
        // key. Anything else (a record of another key, a long or damaged
        // one, a switch under way) goes the general way, from the first
        // entry: `get_ref_checked`, which answers every case alike.
        let (j, at, in_target) = self.pair.at(off);
        if !in_target {
            let rec = j.region.as_bytes().get(at as usize..).unwrap_or_default();
            // Checked by earlier `get`s (the entry unchanged since): its
            // bytes compared against the fingerprint the second one left.
            let seen_hit = if seen > READ_ONCE {
                record::short_seen(rec, key, seen)
            } else {
                None
            };
            let hit = seen_hit.or_else(|| {
                let limits = self.limits();
                let hit = record::short_hit(
                    rec,
                    key,
                    hash,
                    self.seal_state(),
                    limits.max_key,
                    limits.max_value,
                )?;
                // The first `get` marks the entry read, the second leaves
                // the fingerprint of the bytes it checked.
                let fp = match seen {
                    0 => Some(READ_ONCE),
                    _ => record::short_fingerprint(rec),
                };
                if let Some(fp) = fp {
                    self.index.set_fingerprint(pos, fp);
                }
                Some(hit)
            });
            if let Some(hit) = hit {
                // A damage entry may cover the key's newest record.
                if self.damaged(short_hash(hash), off) {
                    return Err(Fail::Corrupted);
                }
                return Ok(match hit {
                    record::Hit::Set(value) => Some(value),
                    record::Hit::Delete => None,
                });
            }
        }
        self.get_ref_checked(key, hash)
    }

    /// [`get_ref`](Self::get_ref) of `key` (CRC-32C `hash`), every
    /// candidate record decoded the general way. Out of line: hash
    /// collisions, long records, damage and switches under way are rare.
    #[inline(never)]
    fn get_ref_checked(&self, key: &[u8], hash: u32) -> Res<Option<&[u8]>, R::Error> {
        let short = short_hash(hash);
        let limits = self.limits();
        let seal = self.seal_state();
        let target_seal = self.copy.target_seal().map_or(seal, SealState::new);
        // As in `lookup_strict`: a same-hash entry that fails its check may
        // be this key with damaged key bytes. The matching entry's header is
        // decoded once, here.
        let mut suspect = false;
        let mut cursor = 0;
        while let Some((_, off)) = self.index.next_match(hash, &mut cursor) {
            let (j, at, in_target) = self.pair.at(off);
            let seal = if in_target { target_seal } else { seal };
            let bytes = j.region.as_bytes();
            // `mapped_header` checked that the record lies inside `bytes`.
            let (Some(h), Some(rec)) = (mapped_header(bytes, at, limits), bytes.get(at as usize..))
            else {
                suspect = true;
                continue;
            };
            if !crate::format::same_bytes(rec.get(h.key_range()).unwrap_or_default(), key) {
                if !record::verify_sealed(rec, &h, seal) {
                    suspect = true;
                }
                continue;
            }
            if self.damage_covers(short, Some(off)) {
                return Err(Fail::Corrupted);
            }
            // The stored key equals `key`, whose CRC-32C is `hash`. A
            // deletion is checked like a value: a damaged one is
            // `Corrupted` (as `get` answers), not "absent".
            if !record::verify_known_key(rec, &h, seal, hash) {
                return Err(Fail::Corrupted);
            }
            return match h.kind {
                Kind::Delete => Ok(None),
                Kind::Set => rec.get(h.value_range()).map(Some).ok_or(Fail::Corrupted),
                _ => Err(Fail::Corrupted),
            };
        }
        if suspect || self.damage_covers(short, None) {
            Err(Fail::Corrupted)
        } else {
            Ok(None)
        }
    }

    /// [`damage_covers`](Self::damage_covers) of the newest record at `off`,
    /// answered inline when no damage is known (the common case).
    #[inline(always)]
    fn damaged(&self, short: u8, off: u32) -> bool {
        let quiet = self.damage.entries().is_empty() && self.copy.target_seal().is_none();
        !quiet && self.damage_covers(short, Some(off))
    }

    /// Iterates over `(key, value)` of every key with a value, borrowed from
    /// the mapped region, each record's check verified. A damaged key yields
    /// `Err(Corrupted)` in its place, and each damage entry whose key is not
    /// known yields one `Err(Corrupted)` at the end.
    pub async fn iter_ref(&self) -> impl Iterator<Item = Result<(&[u8], &[u8]), R::Error>> + '_ {
        let limits = self.limits();
        let seal = self.seal();
        let target_seal = self.copy.target_seal().unwrap_or(seal);
        let entries = (0..self.index.positions()).filter_map(move |pos| {
            let (hash, off) = self.index.entry(pos)?;
            let (j, at, in_target) = self.pair.at(off);
            let bytes = j.region.as_bytes();
            let Some(h) = mapped_header(bytes, at, limits) else {
                return Some(Err(Error::Corrupted));
            };
            let deleted = match h.kind {
                Kind::Set => false,
                Kind::Delete => true,
                // A keyed damaged record: the key exists but its value is lost.
                _ => return Some(Err(Error::Corrupted)),
            };
            let rec = &bytes[at as usize..];
            let seal = if in_target { target_seal } else { seal };
            // A deletion is checked too: a damaged one may hide a value.
            if !record::verify(rec, &h, seal) || self.damage_covers(short_hash(hash), Some(off)) {
                return Some(Err(Error::Corrupted));
            }
            if deleted {
                return None;
            }
            Some(Ok((&rec[h.key_range()], &rec[h.value_range()])))
        });
        // Keys known only by a damage entry: one error each, at the end.
        entries.chain(self.damage_entries().map(|_| Err(Error::Corrupted)))
    }
}

/// A header read through the index: `None` if it no longer reads (its
/// record was damaged while the store is open: a read answers `Corrupted`,
/// a write treats the entry as a suspect, the copy writes a keyless damage
/// record for it).
pub(super) fn readable<E>(h: Res<RecordHeader, E>) -> Res<Option<RecordHeader>, E> {
    match h {
        Ok(h) => Ok(Some(h)),
        Err(Fail::Corrupted) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn mapped_header(bytes: &[u8], off: u32, limits: Limits) -> Option<RecordHeader> {
    let start = off as usize;
    let end = core::cmp::min(start + 16, bytes.len());
    match record::decode_header_inline(bytes.get(start..end)?, limits.max_key, limits.max_value) {
        Slot::Header(h) if start + h.unaligned_len() as usize <= bytes.len() => Some(h),
        _ => None,
    }
}

/// What a write's [`Store::lookup`] finds.
pub(super) struct Looked {
    /// Index position, offset and header of the key's newest record.
    pub(super) found: Option<(usize, u32, RecordHeader)>,
    /// Another entry of the key's 32-bit hash failed its check: it may be
    /// this key's newest record, damaged while the store is open.
    pub(super) suspect: bool,
}
