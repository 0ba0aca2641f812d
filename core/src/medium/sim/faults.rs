//! Fault injection of [`SimFlash`]: power cuts by steps, bytes or erase
//! units, injected errors, bit flips and weak cells (the model is on the
//! type's docs).

use core::ops::Range;

use super::*;

impl<S, const W: usize, const E: usize, const R: usize> SimFlash<S, W, E, R>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
{
    /// Arms a power cut after `steps` more steps (write units programmed plus
    /// erase units erased): exactly `steps` complete and the next one is torn
    /// (per `mode` for a write unit). Replaces any armed cut.
    pub fn cut_power_after(&mut self, steps: u64, mode: TearMode, seed: u64) {
        self.arm(Fuel::Steps(steps), mode, seed);
    }

    /// Arms a power cut after `bytes` more bytes written: the write unit
    /// holding the next byte is torn per `mode` (with `bytes` a multiple of
    /// `W`, the next unit). Erases do not count. Replaces any armed cut.
    pub fn cut_after_bytes(&mut self, bytes: u64, mode: TearMode, seed: u64) {
        self.arm(Fuel::Bytes(bytes), mode, seed);
    }

    /// Arms a power cut during an erase: `units` more erase units are erased
    /// completely and the next one is left partly erased. Writes do not
    /// count. Replaces any armed cut.
    pub fn interrupt_erase_after(&mut self, units: u64, seed: u64) {
        self.arm(Fuel::Erases(units), TearMode::RandomBits, seed);
    }

    fn arm(&mut self, fuel: Fuel, mode: TearMode, seed: u64) {
        self.ram.cancel_cut();
        self.cut = Some(Cut { fuel, mode, seed });
    }

    /// Disarms a pending cut (does not restore lost power).
    pub fn cancel_cut(&mut self) {
        self.cut = None;
        self.ram.cancel_cut();
    }

    /// Whether a cut is armed.
    pub fn cut_pending(&self) -> bool {
        self.cut.is_some()
    }

    /// Cuts power now, between operations; nothing is torn.
    pub fn cut_power(&mut self) {
        self.cut = None;
        self.ram.cut_power();
        self.fault = Some(Fault::PowerCut);
    }

    /// Whether power is lost.
    pub fn power_lost(&self) -> bool {
        self.ram.power_lost()
    }

    /// Restores power: calls work again on the bytes the cut left (reboot).
    pub fn restore_power(&mut self) {
        self.ram.restore_power();
    }

    /// Steps (write units programmed plus erase units erased) completed since
    /// construction or [`reset_steps`](Self::reset_steps): run a workload
    /// uncut to learn its `N` steps, then cut it at each of `0..N`.
    pub fn steps_taken(&self) -> u64 {
        self.ram.steps_taken() + self.extra_steps
    }

    /// Zeroes [`steps_taken`](Self::steps_taken).
    pub fn reset_steps(&mut self) {
        self.ram.reset_steps();
        self.extra_steps = 0;
    }

    /// Makes the next valid `write` fail with [`SimError::Injected`].
    pub fn fail_next_write(&mut self) {
        self.fail_write = true;
    }

    /// Makes the next valid `erase` fail with [`SimError::Injected`].
    pub fn fail_next_erase(&mut self) {
        self.fail_erase = true;
    }

    /// The fault that fired last.
    pub fn last_fault(&self) -> Option<Fault> {
        self.fault
    }

    /// Flips bit `bit` of the byte at `offset` (works while power is lost).
    ///
    /// # Errors
    /// [`SimError::OutOfBounds`] past the end or for `bit > 7`.
    pub fn flip_bit(&mut self, offset: u32, bit: u8) -> Result<(), SimError> {
        self.ram.flip_bit(offset, bit)?;
        self.fault = self.ram.last_fault();
        Ok(())
    }

    /// Flips one bit chosen in `range` by a generator seeded with `seed`;
    /// returns its `(offset, bit)`.
    ///
    /// # Errors
    /// [`SimError::OutOfBounds`] if `range` is empty or not inside the flash.
    pub fn flip_random_bit(&mut self, range: Range<u32>, seed: u64) -> Result<(u32, u8), SimError> {
        let r = self.ram.flip_random_bit(range, seed)?;
        self.fault = self.ram.last_fault();
        Ok(r)
    }

    /// Turns weak cells on (`Some(seed)` seeds the read noise) or off. While
    /// on, every later torn write unit and interrupted erase unit reads back
    /// differently on each read until it is erased. Turning it off forgets
    /// the weak units (unless ECC mode is on: they still fail reads).
    pub fn set_weak_cells(&mut self, seed: Option<u64>) {
        self.weak_rng = seed.map(SplitMix64::new);
        if !self.ecc {
            self.weak = [None; WEAK_UNITS];
        }
    }

    /// Turns ECC mode on or off (see the type's docs): while on, every later
    /// torn write unit and interrupted erase unit fails reads with
    /// [`SimError::Ecc`] until it is erased. Turning it off forgets the torn
    /// units unless weak cells are on.
    pub fn set_ecc(&mut self, on: bool) {
        self.ecc = on;
        if !on && self.weak_rng.is_none() {
            self.weak = [None; WEAK_UNITS];
        }
    }

    /// Whether ECC mode is on.
    pub fn ecc(&self) -> bool {
        self.ecc
    }

    /// Damages the ECC of the write unit holding `offset` (a double-bit
    /// error after the write succeeded, e.g. a retention failure): in ECC
    /// mode its reads fail with [`SimError::Ecc`] until it is erased. Tracked
    /// as a torn unit (up to [`WEAK_UNITS`]); needs ECC mode on.
    ///
    /// # Errors
    /// [`SimError::OutOfBounds`] past the end.
    pub fn corrupt_ecc(&mut self, offset: u32) -> Result<(), SimError> {
        if offset >= self.size() {
            return Err(SimError::OutOfBounds);
        }
        let at = offset / W as u32 * W as u32;
        let mut new = [ERASED; MAX_W];
        new[..W].copy_from_slice(&self.as_bytes()[at as usize..at as usize + W]);
        self.add_weak(WeakUnit::Program { offset: at, new });
        Ok(())
    }

    /// Reads that failed with [`SimError::Ecc`] since construction.
    pub fn ecc_errors(&self) -> u64 {
        self.ecc_errors
    }

    /// Number of units currently weak (or, in ECC mode, torn).
    pub fn weak_units(&self) -> usize {
        self.weak.iter().flatten().count()
    }

    /// Where the armed cut fires in a call of `units` units (`len` bytes):
    /// the number of units that complete before the torn one.
    pub(super) fn fires_in(&self, erase: bool, units: u64, len: u64) -> Option<u64> {
        let cut = self.cut?;
        match (cut.fuel, erase) {
            (Fuel::Steps(f), _) if f < units => Some(f),
            (Fuel::Bytes(b), false) if b < len => Some(b / W as u64),
            (Fuel::Erases(f), true) if f < units => Some(f),
            _ => None,
        }
    }

    /// Burns fuel for a call that completed.
    pub(super) fn burn(&mut self, erase: bool, units: u64, len: u64) {
        if let Some(cut) = &mut self.cut {
            match (&mut cut.fuel, erase) {
                (Fuel::Steps(f), _) => *f -= units,
                (Fuel::Bytes(b), false) => *b -= len,
                (Fuel::Erases(f), true) => *f -= units,
                _ => {}
            }
        }
    }

    pub(super) fn add_weak(&mut self, unit: WeakUnit) {
        if self.weak_rng.is_none() && !self.ecc {
            return;
        }
        let slot = self.weak_next % WEAK_UNITS;
        self.weak[slot] = Some(unit);
        self.weak_next = (slot + 1) % WEAK_UNITS;
    }

    /// Forgets weak units inside `from..to` (erased, or rewritten).
    pub(super) fn clear_weak(&mut self, from: u32, to: u32) {
        for w in &mut self.weak {
            let start = match w {
                Some(WeakUnit::Program { offset, .. } | WeakUnit::Erase { offset }) => *offset,
                None => continue,
            };
            if start >= from && start < to {
                *w = None;
            }
        }
    }

    /// In ECC mode, fails a read of `len` bytes at `offset` that touches a
    /// torn unit: always, or with weak cells on one time in two (the other
    /// reads are noisy, see [`weak_read`](Self::weak_read)).
    pub(super) fn ecc_read(&mut self, offset: u32, len: usize) -> Result<(), SimError> {
        if !self.ecc {
            return Ok(());
        }
        let end = offset + len as u32;
        let mut first = None;
        for unit in self.weak.iter().flatten() {
            let (start, len) = match unit {
                WeakUnit::Program { offset, .. } => (*offset, W as u32),
                WeakUnit::Erase { offset } => (*offset, E as u32),
            };
            let (lo, hi) = (start.max(offset), (start + len).min(end));
            if lo < hi {
                // The first write unit of the torn unit that the read touches.
                let at = lo / W as u32 * W as u32;
                first = Some(first.map_or(at, |f: u32| f.min(at)));
            }
        }
        let Some(at) = first else {
            return Ok(());
        };
        if let Some(rng) = &mut self.weak_rng {
            if rng.below(2) == 0 {
                return Ok(());
            }
        }
        self.ecc_errors += 1;
        Err(SimError::Ecc { offset: at })
    }

    /// Replaces what `buf` (read at `offset`) shows of weak units by a fresh
    /// noisy reading.
    pub(super) fn weak_read(&mut self, offset: u32, buf: &mut [u8]) {
        let Some(mut rng) = self.weak_rng else {
            return;
        };
        let end = offset + buf.len() as u32;
        for unit in self.weak.iter().flatten() {
            let (start, len) = match unit {
                WeakUnit::Program { offset, .. } => (*offset, W as u32),
                WeakUnit::Erase { offset } => (*offset, E as u32),
            };
            let (lo, hi) = (start.max(offset), (start + len).min(end));
            if lo >= hi {
                continue;
            }
            let out = &mut buf[(lo - offset) as usize..(hi - offset) as usize];
            match unit {
                WeakUnit::Program { new, .. } => {
                    // Bits the write meant to clear read either way.
                    let mut noisy = [ERASED; MAX_W];
                    for (n, b) in noisy.iter_mut().zip(&new[..W]) {
                        *n = *b | (rng.byte() & !*b);
                    }
                    let stored = &self.ram.as_bytes()[start as usize..(start as usize + W)];
                    if noisy[..W].iter().all(|&b| b == ERASED) {
                        // Never fully erased: some new bit reached the cells.
                        noisy[..W].copy_from_slice(stored);
                    }
                    let from = (lo - start) as usize;
                    out.copy_from_slice(&noisy[from..from + out.len()]);
                }
                WeakUnit::Erase { .. } => {
                    if rng.below(4) == 0 {
                        out.fill(ERASED);
                    } else {
                        for b in out.iter_mut() {
                            let up = rng.byte() & rng.byte();
                            let down = rng.byte() & rng.byte() & rng.byte();
                            *b = (*b | up) & !down;
                        }
                    }
                }
            }
        }
        self.weak_rng = Some(rng);
    }

    /// A write with [`Reprogram::And`] onto cells not all erased: AND each
    /// unit in, honouring an armed cut, bypassing `ram`'s once-only rule.
    pub(super) fn write_and(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        let units = (bytes.len() / W) as u64;
        let fire = self.fires_in(false, units, bytes.len() as u64);
        let cut = self.cut;
        let base = offset as usize;
        {
            let data = self.ram.data_mut();
            for (k, new) in bytes.chunks_exact(W).enumerate() {
                let dst = &mut data[base + k * W..base + (k + 1) * W];
                if fire == Some(k as u64) {
                    if let Some(cut) = cut {
                        tear_program(dst, new, cut.mode, &mut SplitMix64::new(cut.seed));
                    }
                    break;
                }
                for (d, n) in dst.iter_mut().zip(new) {
                    *d &= *n;
                }
            }
        }
        if let (Some(k), Some(cut)) = (fire, cut) {
            self.extra_steps += k;
            self.cut = None;
            self.ram.cut_power();
            self.fault = Some(Fault::TornProgram {
                offset: offset + (k as u32) * W as u32,
                mode: cut.mode,
            });
            return Err(SimError::PowerLost);
        }
        self.extra_steps += units;
        self.burn(false, units, bytes.len() as u64);
        Ok(())
    }
}
