//! The [`Region`] implementation of [`RamRegion`]: NOR rules enforced on
//! every program and erase, with the armed power cut tearing the unit it
//! reaches.

use super::*;

impl<S: AsRef<[u8]> + AsMut<[u8]>> Region for RamRegion<S> {
    type Error = RamError;

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn persists_in_order(&self) -> bool {
        self.in_order
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), RamError> {
        self.check_power()?;
        let len = u32::try_from(buf.len()).map_err(|_| RamError::OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(RamError::OutOfBounds)?;
        if end > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let src = self
            .storage
            .as_ref()
            .get(us(offset)..us(end))
            .ok_or(RamError::OutOfBounds)?;
        buf.copy_from_slice(src);
        self.stats.reads = self.stats.reads.saturating_add(1);
        self.stats.bytes_read = self.stats.bytes_read.saturating_add(u64::from(len));
        Ok(())
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), RamError> {
        self.check_power()?;
        let w = self.geometry.write_unit;
        let len = u32::try_from(data.len()).map_err(|_| RamError::OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(RamError::OutOfBounds)?;
        if end > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        if !offset.is_multiple_of(w) || !len.is_multiple_of(w) {
            return Err(RamError::Misaligned);
        }
        let length_error = self.length_error();
        let Parts {
            data: bytes,
            counts,
            ..
        } = split(self.storage.as_mut(), self.data_len, self.write_units).ok_or(length_error)?;
        let first_unit = us(offset / w);
        let counts = counts
            .get_mut(first_unit..us(end / w))
            .ok_or(RamError::OutOfBounds)?;
        let target = bytes
            .get_mut(us(offset)..us(end))
            .ok_or(RamError::OutOfBounds)?;
        // Folds first (they vectorize), positions only for the error.
        if counts.iter().fold(0, |acc, &c| acc | c) != 0 {
            let i = counts.iter().position(|&c| c > 0).unwrap_or(0);
            return Err(RamError::AlreadyProgrammed {
                offset: offset + (i as u32) * w,
            });
        }
        if !crate::medium::region::all_erased(target) {
            let i = target.iter().position(|&b| b != ERASED).unwrap_or(0);
            return Err(RamError::NotErased {
                offset: offset + i as u32,
            });
        }
        if self.fail_program {
            self.fail_program = false;
            self.last_fault = Some(Fault::InjectedProgram { offset });
            return Err(RamError::Injected);
        }
        if self.cut.is_none() {
            // No cut armed: the per-unit loop below without its fuel check.
            // Every byte was erased (`b & n == n`) and every count 0, both
            // checked above.
            target.copy_from_slice(data);
            counts.fill(1);
            self.steps = self.steps.saturating_add(counts.len() as u64);
        } else {
            let units = target
                .chunks_exact_mut(us(w))
                .zip(data.chunks_exact(us(w)))
                .zip(counts.iter_mut());
            for (k, ((dst, new), count)) in units.enumerate() {
                if let Some(cut) = &mut self.cut {
                    if cut.fuel == 0 {
                        // A memory-mapped file is written by a front-to-back
                        // copy of whole bytes: a cut leaves a prefix of the new
                        // bytes, never a mix of bits or a scattered subset
                        // (FORMAT.md §10.1).
                        let mode = if self.in_order {
                            cut.mode
                        } else {
                            TearMode::Prefix
                        };
                        if tear_program(dst, new, mode, &mut cut.rng) {
                            *count = count.saturating_add(1);
                        }
                        self.cut = None;
                        self.power_lost = true;
                        self.last_fault = Some(Fault::TornProgram {
                            offset: offset + (k as u32) * w,
                            mode,
                        });
                        return Err(RamError::PowerLost);
                    }
                    cut.fuel -= 1;
                }
                for (d, n) in dst.iter_mut().zip(new) {
                    *d &= *n;
                }
                *count = count.saturating_add(1);
                self.steps = self.steps.saturating_add(1);
            }
        }
        self.stats.programs = self.stats.programs.saturating_add(1);
        self.stats.bytes_programmed = self.stats.bytes_programmed.saturating_add(u64::from(len));
        Ok(())
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamError> {
        self.check_power()?;
        if from > to || to > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let e = self.geometry.erase_unit;
        if !from.is_multiple_of(e) || !to.is_multiple_of(e) {
            return Err(RamError::EraseMisaligned);
        }
        let w = self.geometry.write_unit;
        let length_error = self.length_error();
        let Parts {
            data: bytes,
            counts,
            wear,
        } = split(self.storage.as_mut(), self.data_len, self.write_units).ok_or(length_error)?;
        let bytes = bytes
            .get_mut(us(from)..us(to))
            .ok_or(RamError::OutOfBounds)?;
        let counts = counts
            .get_mut(us(from / w)..us(to / w))
            .ok_or(RamError::OutOfBounds)?;
        let wear = wear
            .get_mut(us(from / e) * WEAR_BYTES..us(to / e) * WEAR_BYTES)
            .ok_or(RamError::OutOfBounds)?;
        if self.fail_erase {
            self.fail_erase = false;
            self.last_fault = Some(Fault::InjectedErase { from });
            return Err(RamError::Injected);
        }
        let units = bytes
            .chunks_exact_mut(us(e))
            .zip(counts.chunks_exact_mut(us(e / w)))
            .zip(wear.chunks_exact_mut(WEAR_BYTES));
        let mut erased: u64 = 0;
        for (k, ((dst, unit_counts), unit_wear)) in units.enumerate() {
            if let Some(old) = unit_wear.first_chunk_mut::<WEAR_BYTES>() {
                *old = u32::from_le_bytes(*old).saturating_add(1).to_le_bytes();
            }
            if let Some(cut) = &mut self.cut {
                if cut.fuel == 0 {
                    let reads_erased = tear_erase(dst, &mut cut.rng);
                    // Not reliably erased: refuse programs until a full erase.
                    for c in unit_counts.iter_mut() {
                        *c = (*c).max(1);
                    }
                    self.cut = None;
                    self.power_lost = true;
                    self.last_fault = Some(Fault::TornErase {
                        offset: from + (k as u32) * e,
                        reads_erased,
                    });
                    return Err(RamError::PowerLost);
                }
                cut.fuel -= 1;
            }
            dst.fill(ERASED);
            unit_counts.fill(0);
            erased += 1;
            self.steps = self.steps.saturating_add(1);
        }
        self.stats.erases = self.stats.erases.saturating_add(erased);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), RamError> {
        self.check_power()?;
        self.stats.syncs = self.stats.syncs.saturating_add(1);
        Ok(())
    }

    /// Compares in place; counted as one read of the whole range.
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, RamError> {
        self.check_power()?;
        if from > to || to > self.geometry.size {
            return Err(RamError::OutOfBounds);
        }
        let bytes = self
            .storage
            .as_ref()
            .get(us(from)..us(to))
            .ok_or(RamError::OutOfBounds)?;
        self.stats.reads = self.stats.reads.saturating_add(1);
        self.stats.bytes_read = self.stats.bytes_read.saturating_add(u64::from(to - from));
        Ok(crate::medium::region::all_erased(bytes))
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> MappedRegion for RamRegion<S> {
    fn as_bytes(&self) -> &[u8] {
        self.storage.as_ref().get(..self.data_len).unwrap_or(&[])
    }
}
