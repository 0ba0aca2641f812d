//! Growth of the region files (see [Growth](crate::Options#growth)): the
//! step before each write, the whole growth when a write finds the store
//! full, filling the inactive file with `0xFF` and putting it in place, and
//! the figures of [`Error::Full`].

use twinkv_core::{Op, RegionId};

use super::{closed, Mode, Store};
use crate::error::{Error, GrowthStop, Result};
use crate::files;
use crate::options::MAX_REGION_SIZE;
use crate::region::{AnyRegion, MmapRegion, ERASE_UNIT, WRITE_UNIT};

/// The fewest bytes of `0xFF` a growth step writes into the inactive file
/// (see [Growth](crate::Options#growth)).
pub(crate) const GROW_CHUNK: u64 = 256 * 1024;

/// Growth of the region files (see [Growth](crate::Options#growth)). Kept in
/// memory only: the files are the record.
#[derive(Debug)]
pub(super) struct Growth {
    pub(super) on: bool,
    /// The largest size growth may reach.
    pub(super) max: u32,
    /// The size both regions are growing to; at most the smaller region's
    /// size when no growth is under way.
    pub(super) target: u32,
    /// Why growing failed (it is not tried again until a reopen).
    pub(super) failed: Option<String>,
}

impl Growth {
    pub(super) fn off() -> Self {
        Growth {
            on: false,
            max: MAX_REGION_SIZE,
            target: 0,
            failed: None,
        }
    }
}

/// The next size of a growth: double, at most `max`, a multiple of 512.
fn next_size(size: u32, max: u32) -> u32 {
    size.saturating_mul(2).min(max) / ERASE_UNIT * ERASE_UNIT
}

/// Record bytes `ops` append at most (the records, and a batch's framing).
pub(super) fn ops_len(ops: &[Op<'_>]) -> u64 {
    let len = |k: usize, v: usize| {
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let v = u32::try_from(v).unwrap_or(u32::MAX);
        twinkv_core::format::record::stored_len(k, v, WRITE_UNIT).map_or(u64::MAX / 4, u64::from)
    };
    let records: u64 = ops
        .iter()
        .map(|op| match op {
            Op::Set(k, v) => len(k.len(), v.len()),
            Op::Delete(k) => len(k.len(), 0),
        })
        .sum();
    if ops.len() > 1 {
        records + len(0, 8) + len(0, 16)
    } else {
        records
    }
}

impl Store {
    /// [`Error::Full`] with the figures, for a write of `add` bytes.
    pub(super) fn full_error(&self, add: u64) -> Error {
        let Ok(st) = self.stats() else {
            return Error::Core(twinkv_core::Error::Full);
        };
        let (sa, sb) = self.region_sizes();
        let growth = if let Some(e) = &self.grow.failed {
            GrowthStop::Failed(e.clone())
        } else if self.grow.on {
            GrowthStop::AtMax(self.grow.max)
        } else {
            GrowthStop::Off
        };
        Error::Full {
            live: u64::from(st.live_bytes),
            write: add,
            limit: u64::from(st.fill_limit),
            region_size: sa.min(sb),
            max_fill_bp: self.config.max_fill_bp,
            growth,
        }
    }

    /// Sizes of the active and the inactive region.
    fn active_sizes(&self, active: RegionId) -> (u32, u32) {
        let (sa, sb) = self.region_sizes();
        match active {
            RegionId::A => (sa, sb),
            RegionId::B => (sb, sa),
        }
    }

    /// One step of growth before a write of at most `add` bytes (see
    /// [Growth](crate::Options#growth)): starts a growth once the live data would
    /// pass half the fill limit, writes one chunk of `0xFF` into the inactive
    /// file, puts the grown file in place when it is complete, and forces the
    /// switch into it once the live data passes three quarters of the limit.
    /// A failing fill stops growth (it is reported by [`Error::Full`]); a
    /// failing switch is returned.
    pub(super) fn grow_step(&mut self, add: u64) -> Result<()> {
        if !self.grow.on || self.grow.failed.is_some() {
            return Ok(());
        }
        let (active, live, limit) = self.inner()?.fill();
        let (act, inact) = self.active_sizes(active);
        let small = act.min(inact);
        let (live, limit) = (u64::from(live), u64::from(limit));
        if self.grow.target <= small {
            if 2 * (live + add) <= limit {
                return Ok(());
            }
            let next = next_size(small, self.grow.max);
            if next <= small {
                return Ok(());
            }
            self.grow.target = next;
        }
        let target = self.grow.target;
        if inact < target {
            // Filled before the live data reaches the switch point (3/4 of
            // the limit) while the active region is the small one, before
            // the limit itself afterwards: each write fills at least its
            // share of what is left.
            let until = if act < target { limit / 4 * 3 } else { limit };
            let room = until.saturating_sub(live).max(1);
            let inactive = active.other();
            let len = self.file(inactive)?.len()?;
            let remaining = u64::from(target).saturating_sub(len);
            let share = remaining.saturating_mul(add.max(1)).div_ceil(room);
            let chunk = GROW_CHUNK.max(share);
            if let Err(e) = self.fill_inactive(chunk) {
                self.grow.failed = Some(e.to_string());
            }
        } else if act < target && live + add > limit / 4 * 3 {
            // The larger region waits inactive; no switch came: force one.
            self.compact()?;
        }
        Ok(())
    }

    /// Grows the store now, all of it (a write found it full): fills the
    /// inactive file to the next size, switches into it if needed, fills the
    /// other. `false` when it cannot grow (off, at the maximum, a fill
    /// failed).
    pub(super) fn grow_now(&mut self) -> Result<bool> {
        if !self.grow.on || self.grow.failed.is_some() || self.mode != Mode::Write {
            return Ok(false);
        }
        let st = self.stats()?;
        let (act, inact) = self.active_sizes(st.active);
        let small = act.min(inact);
        if self.grow.target <= small {
            let next = next_size(small, self.grow.max);
            if next <= small {
                return Ok(false);
            }
            self.grow.target = next;
        }
        let target = self.grow.target;
        for _ in 0..2 {
            let active = self.stats()?.active;
            let (act, inact) = self.active_sizes(active);
            if inact < target {
                if let Err(e) = self.fill_inactive(u64::MAX) {
                    self.grow.failed = Some(e.to_string());
                    return Ok(false);
                }
            }
            if act >= target {
                break;
            }
            self.compact()?;
        }
        Ok(true)
    }

    /// Writes up to `chunk` bytes of `0xFF` past the end of the inactive
    /// file, towards the growth's target; when the file reaches it, maps it
    /// and puts it in place of the inactive region in core (no reopen). The
    /// bytes are made durable by the next switch's syncs; the file's length
    /// past its mapping is outside every region, whatever a crash leaves
    /// there ([`open`](Self::open) settles it).
    fn fill_inactive(&mut self, chunk: u64) -> Result<()> {
        // A switch copying into the inactive file finishes first (the other
        // file is then the inactive one, and grows instead).
        self.finish_switch()?;
        let inactive = self.stats()?.active.other();
        let target = u64::from(self.grow.target);
        let f = self.file(inactive)?;
        let len = f.len()?;
        if len < target {
            let unit = u64::from(ERASE_UNIT);
            let to = len
                .saturating_add(chunk.div_ceil(unit).saturating_mul(unit))
                .min(target);
            files::extend_erased(&f.path, &f.file, len, to)?;
            if to < target {
                return Ok(());
            }
        }
        self.map_grown_inactive(inactive, target)
    }

    /// Maps the inactive file, grown to `target` bytes with `0xFF` past its
    /// region, and puts the mapping in place of the inactive region in core
    /// (`replace_inactive` with `extends`: the old region's bytes over the
    /// old size, erased past it), instead of opening core again.
    pub(super) fn map_grown_inactive(&mut self, inactive: RegionId, target: u64) -> Result<()> {
        let f = self.file(inactive)?;
        let dup = f.file.try_clone().map_err(|e| Error::io(&f.path, e))?;
        let region = MmapRegion::with_len(dup, true, target).map_err(|e| Error::io(&f.path, e))?;
        self.inner_mut()?
            .replace_inactive(AnyRegion::Mapped(region), true)?;
        match inactive {
            RegionId::A => self.a.as_mut(),
            RegionId::B => self.b.as_mut(),
        }
        .ok_or_else(closed)?
        .map_len = target;
        Ok(())
    }
}
