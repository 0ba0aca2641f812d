//! [`Store::resize`] and the settling of an interrupted one at open
//! (`converge`): the inactive file is resized first, the live data switched
//! into it, then the other file; a crash leaves the old size or the new one.

use twinkv_core::format::Layout;
use twinkv_core::{fill_limit, RegionId};

use super::{closed, Store};
use crate::error::{Error, Result};
use crate::files;
use crate::options::check_config;
use crate::region::WRITE_UNIT;

impl Store {
    /// Changes both region files to `new_size` bytes (a multiple of 512).
    ///
    /// The inactive file is resized first (growing writes real `0xFF` bytes),
    /// the live data is compacted into it by a switch, then the other file is
    /// resized. Shrinking is refused ([`Error::DoesNotFit`]) unless the live
    /// data fits the new size's max-fill limit.
    ///
    /// A resize that fails (a full disk while growing) or is interrupted by a
    /// crash leaves the store at its old size or at the new one, never at a
    /// third: a failed grow is truncated back before the error is returned,
    /// and [`open`](Self::open) settles the inactive file on the active
    /// region's size (before the switch: the old size; after it: the new).
    pub fn resize(&mut self, new_size: u32) -> Result<()> {
        check_config(&self.config, new_size)?;
        // The inactive file is resized below: no switch may be copying into it.
        self.finish_switch()?;
        let stats = self.stats()?;
        let (sa, sb) = self.region_sizes();
        if sa == new_size && sb == new_size {
            return Ok(());
        }
        let d = Layout::new(WRITE_UNIT).data_start();
        let limit = fill_limit(new_size - d, self.config.max_fill_bp);
        if stats.live_bytes > limit {
            return Err(Error::DoesNotFit {
                live: u64::from(stats.live_bytes),
                limit: u64::from(limit),
            });
        }
        let inactive = match stats.active {
            RegionId::A => RegionId::B,
            RegionId::B => RegionId::A,
        };
        self.set_file_len(inactive, new_size)?;
        self.compact()?;
        self.set_file_len(stats.active, new_size)?;
        self.grow.target = 0;
        Ok(())
    }

    /// Unmaps, sets one file's length (only ever the inactive one), remaps.
    /// A grow that fails is truncated back to the old length and the store
    /// remapped before the error is returned.
    fn set_file_len(&mut self, which: RegionId, len: u32) -> Result<()> {
        self.inner = None;
        let f = self.file(which)?;
        let cur = f.len()?;
        let len = u64::from(len);
        let r = if len > cur {
            files::fill_erased(&f.path, &f.file, cur, len).inspect_err(|_| {
                let _ = files::truncate(&f.path, &f.file, cur);
            })
        } else if len < cur {
            files::truncate(&f.path, &f.file, len)
        } else {
            Ok(())
        };
        let now = f.len()?;
        match which {
            RegionId::A => self.a.as_mut(),
            RegionId::B => self.b.as_mut(),
        }
        .ok_or_else(closed)?
        .map_len = now;
        let remapped = self.map();
        r.and(remapped)
    }

    /// Settles an interrupted resize: the inactive file takes the active
    /// region's size, which is the old size if the resize's switch did not
    /// commit and the new one if it did (FORMAT.md keeps no resize record;
    /// the committed region is the record). Only erased bytes of the
    /// inactive, superseded region are added or dropped.
    pub(super) fn converge(&mut self) -> Result<()> {
        let active = self.stats()?.active;
        let (sa, sb) = self.region_sizes();
        let (target, inactive) = match active {
            RegionId::A => (sa, RegionId::B),
            RegionId::B => (sb, RegionId::A),
        };
        let f = self.file(active)?;
        let len = f.len()?;
        if len > f.map_len {
            // A growth step extended this file while it was inactive and a
            // switch then committed into it: the bytes past the region read
            // erased (checked before core opened) and belong to no region.
            files::truncate(&f.path, &f.file, f.map_len)?;
        } else if len != f.map_len {
            return Ok(());
        }
        let f = self.file(inactive)?;
        let (len, mapped, target) = (f.len()?, f.map_len, u64::from(target));
        if len == target && mapped == target {
            return Ok(());
        }
        if mapped == target && len > target {
            // An unfinished growth's extension, past the region core has
            // open (the file was mapped at its region's size): cut it off.
            return files::truncate(&f.path, &f.file, target);
        }
        if mapped < target && len >= mapped && len <= target {
            // A resize's switch committed the larger size, and the file of
            // the old region was not grown yet: grow it (the bytes past its
            // region read erased, checked before core opened) and hand core
            // the larger mapping, as a growth step does, instead of opening
            // core again on a remapped file.
            return self.grow_inactive_to(inactive, len, target);
        }
        self.set_file_len(inactive, target as u32)
    }

    /// Extends the inactive file from `len` to `target` with `0xFF` (synced)
    /// and hands core its new mapping. A fill that fails is cut back.
    fn grow_inactive_to(&mut self, inactive: RegionId, len: u64, target: u64) -> Result<()> {
        let f = self.file(inactive)?;
        if len < target {
            files::fill_erased(&f.path, &f.file, len, target).inspect_err(|_| {
                let _ = files::truncate(&f.path, &f.file, len);
            })?;
        }
        self.map_grown_inactive(inactive, target)
    }
}
