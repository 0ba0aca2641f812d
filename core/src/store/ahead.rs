//! Erase ahead (FORMAT.md §7.3): after a switch, the old region is erased
//! one erase unit at a time — by [`Store::maintain`] and, unless configured
//! off, by each write that does not switch — so that the next switch erases
//! nothing. The active log says the partner is being erased (an erased
//! record) before any of it is touched, and on regions that persist in
//! order each step's progress too, so a reboot resumes where it stopped.

use super::switch::Fold;
use super::*;
use crate::error::bug;

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Erases up to `max_units` erase units of the inactive region ahead of
    /// the next switch, and returns whether units are still pending
    /// ([`Stats::erase_pending`]). Firmware calls it in idle time; once it
    /// returns `false`, the next switch erases nothing.
    ///
    /// While a switch copies (FORMAT.md §7.4), each unit of work copies
    /// an erase unit's worth of live records instead, and the call that
    /// copies the last of them commits the switch.
    ///
    /// Each unit costs one erase call, and on flash one erased record
    /// (16 bytes at write unit 4) appended to the active log (none on
    /// memory-mapped files). Once nothing is pending, each unit of work
    /// reads one erase unit of the active region's unused part that open
    /// only probed (FORMAT.md §6.2), as the append that reaches it would;
    /// bytes found there are reported as damage (a switch carries it). A power cut
    /// during it is recovered like any other (FORMAT.md §7.3): at most the
    /// unit being erased is erased again.
    ///
    /// ```
    /// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};
    ///
    /// let geo = Geometry { size: 4096, read_unit: 1, write_unit: 4, erase_unit: 512 };
    /// let len = RamRegion::<&mut [u8]>::storage_len(4096, 4, 512);
    /// let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
    /// let ra = RamRegion::new(&mut a[..], geo).unwrap();
    /// let rb = RamRegion::new(&mut b[..], geo).unwrap();
    /// let config = Config::new(0x5EED).with_limits(16, 64).with_erase_ahead(false);
    /// let mut scratch = [0u8; 256];
    /// let mut store = Store::open(ra, rb, FixedIndex::<16>::new(), &mut scratch[..], config).unwrap();
    /// store.set(b"mode", b"eco").unwrap();
    /// store.compact().unwrap(); // a switch: region A's used units become pending
    /// assert!(store.stats().erase_pending > 0);
    /// // In idle time, one unit per call:
    /// while store.maintain(1).unwrap() {}
    /// assert_eq!(store.stats().erase_pending, 0);
    /// ```
    pub async fn maintain(&mut self, max_units: u32) -> Result<bool, R::Error> {
        self.enter()?;
        let r = self.maintain_call(max_units).await;
        self.leave(r)
    }

    async fn maintain_call(&mut self, max_units: u32) -> Res<bool, R::Error> {
        self.writable()?;
        if self.copying() {
            // A switch under way: one erase unit's worth of bytes copied per
            // unit of work, and the commit once nothing is left.
            let unit = u64::from(self.pair.active().geo.erase_unit);
            self.copy_in_idle(unit.saturating_mul(u64::from(max_units)))
                .await?;
            return Ok(self.copying() || self.pair.inactive().pending() > 0);
        }
        let mut used = 0;
        while used < max_units && self.pair.inactive().pending() > 0 {
            used += 1;
            if !self.erase_ahead_step().await? {
                break;
            }
        }
        // The rest of the budget reads ahead of the log, one erase unit per
        // unit of work, what an append would read first (FORMAT.md §6.2).
        while used < max_units && self.pair.active().unverified() {
            used += 1;
            if !self.pair.active_mut().verify_next_unit().await? && self.take_found_beyond().await?
            {
                // Bytes past the log's end: the log is sealed; a switch now
                // carries the damage entry.
                self.switch_after_failed_append().await?;
                break;
            }
        }
        Ok(self.pair.inactive().pending() > 0)
    }

    /// [`Store::maintain`] while a switch copies: up to `budget` bytes, then
    /// the commit if nothing is left.
    async fn copy_in_idle(&mut self, budget: u64) -> Res<(), R::Error> {
        let mut r = self.copy_some(budget).await.map(|_| ());
        if r.is_ok() && self.copy.left_entries() == 0 {
            r = self.finish_switch(Fold::Ops(&[])).await;
        }
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// One unit of erase ahead and its erased record. Returns whether units
    /// remain pending and erase ahead can go on (it cannot while the active
    /// log cannot take the record that must precede it: the next write then
    /// switches, erasing what is pending).
    ///
    /// Never inlined: its frame stays out of the write's, under which a
    /// switch runs.
    // Not outlined with feature `async`: both engines are compiled from
    // this source, and the async one's stack grew with these outlined
    // (footprint's async row: 8 884 B without, 10 132 B with them).
    #[cfg_attr(not(feature = "async"), inline(never))]
    pub(super) async fn erase_ahead_step(&mut self) -> Res<bool, R::Error> {
        let pending = self.pair.inactive().pending();
        let recorded = self.pair.inactive().pending_recorded();
        // Nothing pending, but the active log does not say so for the
        // partner's size (a partner replaced by a larger one that reads
        // erased past its old size, or one that an open read in full): on
        // regions that do not persist in order, an erased record says it,
        // not synced, so that the next open need not read all of the
        // partner again (FORMAT.md §7.3; lost in a crash, that open reads
        // it, as before). Through the same append as below: a second one
        // gave the async engine's future another state (+416 B of flash).
        let say_erased =
            pending == 0 && !recorded && !self.pair.active().region.persists_in_order();
        if pending == 0 && !say_erased {
            return Ok(false);
        }
        if !recorded {
            // Before the partner is touched, the active log must say that it
            // is ours to erase (FORMAT.md §8): a cut erase can leave it
            // unrecognisable. Synced, on every medium.
            match self.append_erased(pending).await? {
                Appended::Yes => {}
                Appended::NoRoom => return Ok(false),
                Appended::Failed => return self.switch_after_failed_append().await,
            }
            if !say_erased {
                self.pair.active_mut().sync().await?;
            }
            self.pair.inactive_mut().set_pending_recorded();
        }
        if say_erased {
            return Ok(false);
        }
        if pending == 1 {
            // The partner's header unit goes last: once it is erased, the
            // partner no longer says what it held. Only while the active
            // region still reads as the committed newest state (damage to
            // its header area would otherwise leave nothing to open).
            let seal = self.seal();
            if !self.pair.active_mut().reads_committed(seal).await? {
                self.poisoned = true;
                return Err(Fail::Corrupted);
            }
        }
        let left = self.pair.inactive_mut().erase_next_unit().await?;
        if self.pair.active().region.persists_in_order() {
            // Progress, so that a reboot resumes here. Not on memory-mapped
            // files, where an erase is a cheap write of 0xFF bytes and an
            // unsynced record would have to be synced first.
            if let Appended::Failed = self.append_erased(left).await? {
                return self.switch_after_failed_append().await;
            }
        }
        Ok(left > 0)
    }

    /// A program of an erased record failed (a unit that read erased was an
    /// erase cut short, or the power went) and sealed the log: switch now,
    /// as a write whose append fails does. If the failure lasts, the switch
    /// reports it.
    async fn switch_after_failed_append(&mut self) -> Res<bool, R::Error> {
        self.switch(Fold::Ops(&[])).await?;
        Ok(false)
    }

    /// After a write that did not switch (`switches_before` is the switch
    /// count it started with): one unit of erase ahead, if configured. An
    /// error here comes after the write's own record was programmed: like
    /// any error of a write, it leaves the write's outcome unknown. The unit
    /// stays pending (a failed erase leaves it in no known state).
    pub(super) async fn erase_ahead_after_write(
        &mut self,
        switches_before: u32,
    ) -> Res<(), R::Error> {
        if self.config.erase_ahead && self.switches == switches_before && !self.copying() {
            self.erase_ahead_step().await?;
        }
        Ok(())
    }

    /// Appends an erased record saying that the partner's units
    /// `0..pending` may still hold bytes.
    async fn append_erased(&mut self, pending: u32) -> Res<Appended, R::Error> {
        let partner_size = self.pair.inactive().size();
        let w = self.pair.active().geo.write_unit;
        let seal = self.seal();
        let (j, scratch) = (self.pair.active_mut(), self.scratch.as_mut());
        let value = record::erased_value(pending, partner_size);
        let len =
            record::encode(scratch, seal, Kind::Erased, 0, &[], &value, w).ok_or_else(|| bug!())?;
        if j.sealed() || j.append_at() + len > j.size() {
            return Ok(Appended::NoRoom);
        }
        match j.append(scratch, len).await {
            Ok(_) => Ok(Appended::Yes),
            Err(Fail::Region(_)) => Ok(Appended::Failed),
            // Bytes past the log's end (FORMAT.md §6.2): sealed, nothing
            // programmed; the switch that follows carries the damage.
            Err(Fail::Corrupted) if self.take_found_beyond().await? => Ok(Appended::Failed),
            Err(e) => Err(e),
        }
    }
}

/// What [`Store::append_erased`] did.
enum Appended {
    Yes,
    /// The log is sealed or full: nothing written.
    NoRoom,
    /// The program failed; the log is sealed now.
    Failed,
}
