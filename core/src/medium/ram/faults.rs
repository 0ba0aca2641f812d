//! Fault injection of [`RamRegion`]: power cuts, injected errors and bit
//! flips (the model is on the type's docs).

use core::ops::Range;

use super::*;

impl<S: AsRef<[u8]> + AsMut<[u8]>> RamRegion<S> {
    /// Arms a power cut after `steps` more steps (one per write unit
    /// programmed or erase unit erased): exactly `steps` units complete, the
    /// next one is torn per `mode` (programs) or left partly erased (erases),
    /// using a SplitMix64 generator seeded with `seed`. Replaces any armed cut.
    /// See the [type docs](RamRegion) for the exact model.
    pub fn cut_power_after(&mut self, steps: u64, mode: TearMode, seed: u64) {
        self.cut = Some(Cut {
            fuel: steps,
            mode,
            rng: SplitMix64::new(seed),
        });
    }

    /// Disarms a pending [`cut_power_after`](Self::cut_power_after). Does not
    /// restore power already lost.
    pub fn cancel_cut(&mut self) {
        self.cut = None;
    }

    /// Steps left before an armed cut fires, or `None` if none is armed.
    pub fn pending_cut(&self) -> Option<u64> {
        self.cut.map(|c| c.fuel)
    }

    /// Cuts power now, between operations: nothing is torn, every later call
    /// fails with [`RamError::PowerLost`] until [`restore_power`](Self::restore_power).
    /// Disarms a pending cut.
    pub fn cut_power(&mut self) {
        self.cut = None;
        self.power_lost = true;
        self.last_fault = Some(Fault::PowerCut);
    }

    /// Whether power is lost (calls fail with [`RamError::PowerLost`]).
    pub fn power_lost(&self) -> bool {
        self.power_lost
    }

    /// Restores power after a cut: calls work again on the bytes as the cut
    /// left them (the "reboot"; reopen the store on this region).
    pub fn restore_power(&mut self) {
        self.power_lost = false;
    }

    /// Units (write units programmed plus erase units erased) fully completed
    /// since construction or [`reset_steps`](Self::reset_steps). A torn unit
    /// is not counted. Run a workload uncut to learn its `N` steps, then cut
    /// it at `0..N`.
    pub fn steps_taken(&self) -> u64 {
        self.steps
    }

    /// Zeroes [`steps_taken`](Self::steps_taken).
    pub fn reset_steps(&mut self) {
        self.steps = 0;
    }

    /// Makes the next `program` call that passes validation fail with
    /// [`RamError::Injected`], changing nothing and costing no step.
    pub fn fail_next_program(&mut self) {
        self.fail_program = true;
    }

    /// Makes the next `erase` call that passes validation fail with
    /// [`RamError::Injected`], changing nothing and costing no step.
    pub fn fail_next_erase(&mut self) {
        self.fail_erase = true;
    }

    /// The fault that fired last, if any.
    pub fn last_fault(&self) -> Option<Fault> {
        self.last_fault
    }

    /// Flips bit `bit` (0 = least significant) of the data byte at `offset`,
    /// leaving program counters alone. Works while power is lost.
    ///
    /// # Errors
    /// [`RamError::OutOfBounds`] if `offset` is past the end or `bit > 7`.
    pub fn flip_bit(&mut self, offset: u32, bit: u8) -> Result<(), RamError> {
        if bit > 7 || offset >= self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let byte = self
            .data_mut()
            .get_mut(us(offset))
            .ok_or(RamError::OutOfBounds)?;
        *byte ^= 1 << bit;
        self.last_fault = Some(Fault::BitFlip { offset, bit });
        Ok(())
    }

    /// Flips one bit chosen from `range` by a SplitMix64 generator seeded
    /// with `seed`, and returns its `(offset, bit)`.
    ///
    /// # Errors
    /// [`RamError::OutOfBounds`] if `range` is empty or not inside the region.
    pub fn flip_random_bit(&mut self, range: Range<u32>, seed: u64) -> Result<(u32, u8), RamError> {
        if range.start >= range.end || range.end > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let mut rng = SplitMix64::new(seed);
        let len = u64::from(range.end - range.start);
        let pick = u32::try_from(rng.below(len)).map_err(|_| RamError::OutOfBounds)?;
        let offset = range.start + pick;
        let bit = u8::try_from(rng.below(8)).map_err(|_| RamError::OutOfBounds)?;
        self.flip_bit(offset, bit)?;
        Ok((offset, bit))
    }
}
