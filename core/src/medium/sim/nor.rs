//! The embedded-storage traits of [`SimFlash`]: reads through weak cells,
//! writes and erases under the NOR rules and the armed faults.

use super::*;

impl<S, const W: usize, const E: usize, const R: usize> ErrorType for SimFlash<S, W, E, R>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
{
    type Error = SimError;
}

impl<S, const W: usize, const E: usize, const R: usize> ReadNorFlash for SimFlash<S, W, E, R>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
{
    const READ_SIZE: usize = R;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if self.power_lost() {
            return Err(SimError::PowerLost);
        }
        self.check(offset, bytes.len(), R)?;
        self.ram.read(offset, bytes)?;
        self.ecc_read(offset, bytes.len())?;
        self.weak_read(offset, bytes);
        self.stats.reads += 1;
        self.stats.bytes_read += bytes.len() as u64;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.size() as usize
    }
}

impl<S, const W: usize, const E: usize, const R: usize> NorFlash for SimFlash<S, W, E, R>
where
    S: AsRef<[u8]> + AsMut<[u8]>,
{
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if self.power_lost() {
            return Err(SimError::PowerLost);
        }
        let end = self.check(offset, bytes.len(), W)?;
        let len = bytes.len() as u64;
        let units = len / W as u64;
        let programmed = (offset..end)
            .step_by(W)
            .find(|&o| self.ram.program_count(o).unwrap_or(0) > 0);
        let not_erased = self.as_bytes()[offset as usize..end as usize]
            .iter()
            .position(|&b| b != ERASED);
        let rewrite = match (self.reprogram, programmed, not_erased) {
            (Reprogram::Never, Some(at), _) => {
                return Err(SimError::AlreadyProgrammed { offset: at })
            }
            (Reprogram::Never, None, Some(i)) => {
                return Err(SimError::NotErased {
                    offset: offset + i as u32,
                })
            }
            (Reprogram::Never, None, None) => false,
            (Reprogram::And, p, e) => p.is_some() || e.is_some(),
        };
        if self.fail_write {
            self.fail_write = false;
            self.fault = Some(Fault::InjectedProgram { offset });
            return Err(SimError::Injected);
        }
        if rewrite {
            self.write_and(offset, bytes)?;
            self.clear_weak(offset, end);
            self.stats.programs += 1;
            self.stats.bytes_programmed += len;
            return Ok(());
        }
        if let (Some(k), Some(cut)) = (self.fires_in(false, units, len), self.cut) {
            self.ram.cut_power_after(k, cut.mode, cut.seed);
        }
        match self.ram.program(offset, bytes) {
            Ok(()) => {
                self.burn(false, units, len);
                self.stats.programs += 1;
                self.stats.bytes_programmed += len;
                Ok(())
            }
            Err(RamError::PowerLost) => {
                self.cut = None;
                self.fault = self.ram.last_fault();
                if let Some(Fault::TornProgram { offset: at, .. }) = self.fault {
                    // Weak only if some new bit reached the cells; a unit
                    // left all old counts as unprogrammed.
                    if self.ram.program_count(at).unwrap_or(0) > 0 {
                        let from = (at - offset) as usize;
                        let mut new = [ERASED; MAX_W];
                        new[..W].copy_from_slice(&bytes[from..from + W]);
                        self.add_weak(WeakUnit::Program { offset: at, new });
                    }
                }
                Err(SimError::PowerLost)
            }
            Err(e) => {
                // Validated above, so not expected; nothing changed.
                self.ram.cancel_cut();
                Err(e.into())
            }
        }
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if self.power_lost() {
            return Err(SimError::PowerLost);
        }
        if from > to {
            return Err(SimError::OutOfBounds);
        }
        self.check(from, (to - from) as usize, E)?;
        if self.fail_erase {
            self.fail_erase = false;
            self.fault = Some(Fault::InjectedErase { from });
            return Err(SimError::Injected);
        }
        let units = u64::from((to - from) / E as u32);
        if let Some(k) = self.fires_in(true, units, 0) {
            if let Some(cut) = self.cut {
                self.ram.cut_power_after(k, cut.mode, cut.seed);
            }
        }
        match self.ram.erase(from, to) {
            Ok(()) => {
                self.burn(true, units, 0);
                self.clear_weak(from, to);
                self.stats.erases += units;
                Ok(())
            }
            Err(RamError::PowerLost) => {
                self.cut = None;
                self.fault = self.ram.last_fault();
                if let Some(Fault::TornErase { offset: at, .. }) = self.fault {
                    // Units before it were erased; the torn one is weak.
                    self.clear_weak(from, at + E as u32);
                    self.add_weak(WeakUnit::Erase { offset: at });
                }
                Err(SimError::PowerLost)
            }
            Err(e) => {
                self.ram.cancel_cut();
                Err(e.into())
            }
        }
    }
}
