//! Erased space past the log, read lazily (FORMAT.md §6.2): on regions that
//! persist in order, open reads past the log's end only what a cut can have
//! torn (one largest record) and on to one largest record past the end of
//! that erase unit, then a probe at the start of every later erase unit
//! ([`probe_len`]); the rest of each unit is read once, before an append
//! first programs into it.
//!
//! Crash: a cut tears only the last program call, inside `p .. p + R`,
//! which is read in full. Damage past it is found at open when a log
//! continues past a wiped unit (within `R` of the next unit's start some
//! byte does not read erased), or past a wiped span of several units
//! (found by the probe of the unit where it resumes: always when probes
//! are `R` long, else unless their bytes there are `0xFF` record bytes),
//! otherwise when an append reaches it: the log is then
//! sealed, nothing is programmed over the bytes, and the store reports it.
//! Bytes that start `R` or more into their erase unit are stray bytes,
//! none of the log's: they cover no key ([`stray`]).

use super::Journal;
use super::{io, Region};
use crate::all_erased;
use crate::error::Res;

/// The least probe: one short header's worth.
const PROBE_MIN: u32 = 8;

/// Bytes read at the start of each erase unit past the span open reads in
/// full (FORMAT.md §6.2): one largest record (`reach`, `R`) where the
/// region's `units` probes of that length read at most one erase unit
/// (`e`) together, else `e / units`, and at least 8. A log that went on
/// past a wiped span of units resumes at the start of one of them with at
/// most the rest of one record, then a header, whose first byte never
/// reads `0xFF`: a probe of `R` bytes there finds it whatever the key and
/// value bytes; a shorter one can read `0xFF` key or value bytes only.
pub(crate) fn probe_len(reach: u32, e: u32, units: u32) -> u32 {
    (e / units.max(1)).max(PROBE_MIN).min(reach).min(e)
}

#[io]
impl<R: Region> Journal<R> {
    /// Whether the log whose scan reached an erased slot at `p` is clean:
    /// the region reads erased past `p` (FORMAT.md §6.2). `reach` is the
    /// most one program call can span (`R`). In order, only `p .. c` and the
    /// probes are read, and the log is verified up to `c`; otherwise the
    /// whole rest of the region is read. `held` are bytes from `p` on that
    /// the scan read already: they are not read again.
    pub(crate) async fn clean_past(
        &mut self,
        p: u32,
        reach: u32,
        held: &[u8],
    ) -> Res<bool, R::Error> {
        let size = self.geo.size;
        let in_order = self.region.persists_in_order();
        let e = self.geo.erase_unit;
        let unit_end = (p / e).saturating_add(1).saturating_mul(e);
        let c = if in_order {
            // One largest record past the end of `p`'s unit (which is past
            // `p + R`): a log that went on past a unit wiped from `p` on
            // resumes at that end, and some byte of its first `R` does not
            // read erased (a record header, or the rest of a record that
            // reaches into the unit), whatever its key and value bytes; an
            // 8-byte probe there could read `0xFF` key or value bytes.
            unit_end.saturating_add(reach).min(size)
        } else {
            size
        };
        let k = held.len().min(c.saturating_sub(p) as usize);
        if !all_erased(&held[..k]) || !self.is_erased(p + k as u32, c).await? {
            return Ok(false);
        }
        if !in_order {
            return Ok(true);
        }
        let probe = probe_len(reach, e, size / e);
        let mut u = u64::from(c.div_ceil(e)) * u64::from(e);
        while u < u64::from(size) {
            // `u < size`, a `u32`.
            let at = u as u32;
            if !self
                .is_erased(at, at.saturating_add(probe).min(size))
                .await?
            {
                return Ok(false);
            }
            u += u64::from(e);
        }
        self.verified_to = c;
        self.reach = reach;
        Ok(true)
    }

    /// Whether an append ending at `end` needs [`verify_ahead`](Self::verify_ahead)
    /// first: it would leave less than one largest record verified past the
    /// log's end.
    pub(super) fn needs_verify(&self, end: u32) -> bool {
        self.verified_to < self.geo.size
            && end.saturating_add(self.reach).min(self.geo.size) > self.verified_to
    }

    /// Before an append that ends at `end`: reads from the verified offset
    /// to the end of the erase unit holding byte `end + R − 1`, so that the
    /// verified offset stays at least one largest record (`R`) past the
    /// log's end. Then an open after a power cut reads in full nothing that
    /// this read had not read (FORMAT.md §6.2). Returns whether it reads
    /// erased; if not, the log is sealed and the finding kept for
    /// [`take_found_beyond`](Self::take_found_beyond).
    pub(super) async fn verify_ahead(&mut self, end: u32) -> Res<bool, R::Error> {
        let want = end.saturating_add(self.reach).min(self.geo.size).max(1);
        self.verify_to_unit_of(want - 1).await
    }

    /// Reads from the verified offset to the end of the erase unit holding
    /// byte `last`.
    async fn verify_to_unit_of(&mut self, last: u32) -> Res<bool, R::Error> {
        let e = self.geo.erase_unit;
        let to = (last / e)
            .saturating_add(1)
            .saturating_mul(e)
            .min(self.geo.size);
        // A region that lends its bytes (a memory-mapped file) is read in
        // place: a switch's copy is about to write those pages anyway, and
        // the region's own `is_erased` costs a system call per unit.
        let from = self.verified_to;
        let erased = match self.lent(from, to.saturating_sub(from)) {
            Some(bytes) => all_erased(bytes),
            None => self.is_erased(from, to).await?,
        };
        if erased {
            self.verified_to = to;
            return Ok(true);
        }
        if self.erase_again {
            // A switch's target before its commit: `verified_to` is at a
            // unit boundary past everything programmed, and the units from
            // it were erased before the switch (FORMAT.md §7, step 2).
            self.region
                .erase(from, to)
                .await
                .map_err(crate::error::Fail::Region)?;
            self.verified_to = to;
            return Ok(true);
        }
        self.found_past_log(from, to).await?;
        Ok(false)
    }

    /// After a lazy read of `from..to` found bytes past the log's end:
    /// seals the log and keeps the finding, stray bytes or not (FORMAT.md
    /// §6.2). Out of line: damage is rare, and its locals stay out of the
    /// frames of every append.
    #[inline(never)]
    async fn found_past_log(&mut self, from: u32, to: u32) -> Res<(), R::Error> {
        self.sealed = true;
        let stray = match self.first_programmed(from, to).await? {
            Some(x) => stray(self.loaded_end, x, self.reach, self.geo.erase_unit),
            None => false,
        };
        self.found_beyond = Some(if stray { Beyond::Stray } else { Beyond::Log });
        Ok(())
    }

    /// Before a program at the append position `off` of a region that
    /// persists in order: whether the log's tail was erased while the
    /// store was open (a stray erase of its unit), so that a record torn
    /// at `off` would look like stray bytes at the next open (FORMAT.md
    /// §6.2). Only where `off` lies `R` or more into its erase unit (else
    /// such a record is never taken for stray bytes): then the log's last
    /// record lies in `off − R .. off`, and its header's first byte never
    /// reads `0xFF`. If that span reads erased, the log is sealed and the
    /// finding kept for [`take_found_beyond`](Self::take_found_beyond).
    /// Not in a switch's target before its commit: open never reads that
    /// log as the active one (the copy's appends read nothing more).
    pub(super) async fn tail_wiped(&mut self, off: u32) -> Res<bool, R::Error> {
        let r = self.reach;
        let wiped = self.region.persists_in_order()
            && !self.erase_again
            && r > 0
            && off % self.geo.erase_unit >= r
            && off >= self.data_start().saturating_add(r)
            && self.is_erased(off - r, off).await?;
        if wiped {
            self.sealed = true;
            self.found_beyond = Some(Beyond::Wiped);
        }
        Ok(wiped)
    }

    /// The first write unit in `from..to` (both multiples of `W`) that
    /// does not read erased, or `None` if all do: the first erase unit that
    /// does not, then halves of it.
    pub(crate) async fn first_programmed(
        &mut self,
        from: u32,
        to: u32,
    ) -> Res<Option<u32>, R::Error> {
        let (e, w) = (self.geo.erase_unit, self.geo.write_unit);
        let mut at = from;
        while at < to {
            let end = (at / e).saturating_add(1).saturating_mul(e).min(to);
            if !self.is_erased(at, end).await? {
                // `at..hi` holds a unit that does not read erased.
                let (mut lo, mut hi) = (at, end);
                while hi - lo > w {
                    let mid = lo + (hi - lo) / 2 / w * w;
                    if self.is_erased(lo, mid).await? {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                return Ok(Some(lo));
            }
            at = end;
        }
        Ok(None)
    }

    /// Reads the next erase unit past the verified offset, as an append
    /// into it would (`Store::maintain` in idle time). Returns whether the
    /// log is still clean; the region is verified to its end when the
    /// result stays `true` and [`unverified`](Self::unverified) is `false`.
    pub(crate) async fn verify_next_unit(&mut self) -> Res<bool, R::Error> {
        if self.sealed || self.verified_to >= self.geo.size {
            return Ok(!self.sealed);
        }
        self.verify_to_unit_of(self.verified_to).await
    }

    /// Whether part of the region past the log was not read yet.
    pub(crate) fn unverified(&self) -> bool {
        !self.sealed && self.verified_to < self.geo.size
    }

    /// Once, after a read before an append found something (FORMAT.md
    /// §6.2): what it was.
    pub(crate) fn take_found_beyond(&mut self) -> Option<Beyond> {
        self.found_beyond.take()
    }

    /// Where open found the log's end.
    pub(crate) fn loaded_end(&self) -> u32 {
        self.loaded_end
    }
}

/// What a read before an append found (FORMAT.md §6.2). One byte: the
/// journal keeps it, and every store's frame holds two journals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Beyond {
    /// Bytes that can be no part of the log (*stray bytes*): they cover no
    /// key.
    Stray,
    /// Bytes that may be a log that went on past a wiped stretch: every key
    /// whose newest record precedes where open found the log's end
    /// ([`Journal::loaded_end`]) is covered.
    Log,
    /// The log's last record no longer reads (its unit erased while the
    /// store was open): nothing is appended after it. The keys whose
    /// records it held read `Corrupted` through their checks, and the
    /// switch that follows copies them as damage records.
    Wiped,
}

/// Whether bytes that do not read erased at `x` (the first such write unit
/// past the log's end `p`, everything from `p` up to it reading erased) are
/// *stray bytes* (FORMAT.md §6.2): at least `R` (`reach`) past `p` and past
/// the start of their erase unit (`e` bytes). A log that went on past a
/// wiped stretch did so from the stretch's end, an erase unit's start, and
/// within `R` of it a record's header begins, whose first byte never reads
/// `0xFF`; so bytes preceded by `R` erased ones in their unit (and after
/// `p`, where the log had no record) are none of the log's.
pub(crate) fn stray(p: u32, x: u32, reach: u32, e: u32) -> bool {
    reach > 0 && x >= p.saturating_add(reach) && x % e >= reach
}
