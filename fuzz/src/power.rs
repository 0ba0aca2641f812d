//! One power supply shared by both regions, for `ops_with_power_loss`.
//!
//! The same model as core's power-cut tests (`core/tests/common/mod.rs`):
//! a budget of steps (write units programmed plus erase units erased, across
//! A and B together); the step that exhausts it is torn by core's
//! [`RamRegion::cut_power_after`] on the region doing it, and from then on
//! both regions fail every call with [`RamError::PowerLost`] until
//! [`CutRegion::restore`] (the reboot).

use std::cell::Cell;

use twinkv_core::{Geometry, RamError, RamRegion, Region, TearMode};

/// A power supply: counts the steps of both regions and cuts after a budget.
#[derive(Debug, Default)]
pub struct Power {
    fuel: Cell<Option<u64>>,
    dead: Cell<bool>,
    steps: Cell<u64>,
    mode: Cell<Option<TearMode>>,
    seed: Cell<u64>,
}

impl Power {
    /// Arms a cut after `steps` more steps; the unit in progress then is torn
    /// per `mode`, with a generator seeded by `seed`. Replaces any armed cut.
    pub fn cut_after(&self, steps: u64, mode: TearMode, seed: u64) {
        self.fuel.set(Some(steps));
        self.mode.set(Some(mode));
        self.seed.set(seed);
    }
    /// Disarms an armed cut.
    pub fn cancel(&self) {
        self.fuel.set(None);
    }
    /// Whether power is lost (both regions fail every call).
    pub fn is_dead(&self) -> bool {
        self.dead.get()
    }
    /// Steps completed so far (both regions).
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }
}

/// A [`RamRegion`] on a shared [`Power`] supply.
#[derive(Debug)]
pub struct CutRegion<'p> {
    /// The region itself.
    pub ram: RamRegion<Vec<u8>>,
    /// The supply it shares with its partner.
    pub power: &'p Power,
}

impl<'p> CutRegion<'p> {
    /// A fresh (erased) region.
    pub fn new(geo: Geometry, power: &'p Power) -> Self {
        let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
        CutRegion {
            ram: RamRegion::new(vec![0u8; len], geo).expect("valid geometry"),
            power,
        }
    }

    /// Brings both regions and the supply back after a cut (the reboot;
    /// call on both regions). Disarms any armed cut.
    pub fn restore(&mut self) {
        self.ram.cancel_cut();
        self.ram.restore_power();
        self.power.dead.set(false);
        self.power.fuel.set(None);
    }

    fn spend(&mut self, units: u64) {
        let p = self.power;
        if let Some(f) = p.fuel.get() {
            if units > f {
                let mode = p.mode.get().unwrap_or(TearMode::Prefix);
                self.ram.cut_power_after(f, mode, p.seed.get());
                p.fuel.set(None);
                p.dead.set(true);
                p.steps.set(p.steps.get() + f);
                return;
            }
            p.fuel.set(Some(f - units));
        }
        p.steps.set(p.steps.get() + units);
    }

    fn alive(&self) -> Result<(), RamError> {
        if self.power.is_dead() {
            Err(RamError::PowerLost)
        } else {
            Ok(())
        }
    }
}

impl Region for CutRegion<'_> {
    type Error = RamError;
    fn geometry(&self) -> Geometry {
        self.ram.geometry()
    }
    fn persists_in_order(&self) -> bool {
        self.ram.persists_in_order()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), RamError> {
        self.alive()?;
        self.ram.read(offset, buf)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), RamError> {
        self.alive()?;
        let units = data.len() as u64 / u64::from(self.ram.geometry().write_unit);
        self.spend(units);
        self.ram.program(offset, data)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamError> {
        self.alive()?;
        let units = u64::from(to.saturating_sub(from) / self.ram.geometry().erase_unit);
        self.spend(units);
        self.ram.erase(from, to)
    }
    fn sync(&mut self) -> Result<(), RamError> {
        self.alive()?;
        self.ram.sync()
    }
}
