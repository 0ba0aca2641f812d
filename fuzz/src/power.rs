//! One power supply shared by both regions, for `ops_with_power_loss`.
//!
//! The same model as core's power-cut tests (`core/tests/common/mod.rs`):
//! a budget of steps (write units programmed plus erase units erased, across
//! A and B together); the step that exhausts it is torn by core's
//! [`RamRegion::cut_power_after`] on the region doing it, and from then on
//! both regions fail every call with [`RamError::PowerLost`] until
//! [`CutRegion::restore`] (the reboot).
//!
//! A [`Strike`] (damage between operations: a flipped bit, a byte set to
//! `0x00` or `0xFF`, an erase unit zeroed or erased) is scheduled on the
//! supply with [`Power::strike`] while a store holds the regions, and lands
//! on its region at that region's next call, before the call does anything:
//! between two operations, as if it had happened right after the last one.

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
    strike: Cell<Option<Strike>>,
}

/// Damage to one region between operations (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strike {
    /// Region 0 (A) or 1 (B).
    pub region: u8,
    /// What happens.
    pub kind: StrikeKind,
    /// The byte (or a byte of the erase unit) it hits.
    pub offset: u32,
}

/// The kinds of [`Strike`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrikeKind {
    /// Bit `n` (0 = least significant) of the byte flips.
    FlipBit(u8),
    /// The byte reads `0x00`.
    Zero,
    /// The byte reads `0xFF`.
    Ff,
    /// Every byte of the erase unit reads `0x00` (program counters kept).
    ZeroUnit,
    /// The erase unit is erased ([`RamRegion`]'s own erase: reads `0xFF`,
    /// programmable again; no power step is spent).
    EraseUnit,
}

impl Strike {
    /// The bytes `[from, to)` it may change.
    pub fn span(&self, erase_unit: u32) -> (u32, u32) {
        match self.kind {
            StrikeKind::ZeroUnit | StrikeKind::EraseUnit => {
                let u0 = self.offset / erase_unit * erase_unit;
                (u0, u0 + erase_unit)
            }
            _ => (self.offset, self.offset + 1),
        }
    }

    /// Applies it to a copy of the region's data (what [`CutRegion`] does
    /// to the region itself).
    pub fn apply_to(&self, data: &mut [u8], erase_unit: u32) {
        let (from, to) = self.span(erase_unit);
        let (from, to) = (from as usize, (to as usize).min(data.len()));
        if from >= to {
            return;
        }
        match self.kind {
            StrikeKind::FlipBit(n) => data[from] ^= 1 << (n % 8),
            StrikeKind::Zero | StrikeKind::ZeroUnit => data[from..to].fill(0),
            StrikeKind::Ff | StrikeKind::EraseUnit => data[from..to].fill(0xFF),
        }
    }
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
    /// Schedules `s`: it lands on its region at that region's next call.
    pub fn strike(&self, s: Strike) {
        self.strike.set(Some(s));
    }
    /// Whether a scheduled strike has not landed yet.
    pub fn strike_pending(&self) -> bool {
        self.strike.get().is_some()
    }
}

/// A [`RamRegion`] on a shared [`Power`] supply.
#[derive(Debug)]
pub struct CutRegion<'p> {
    /// The region itself.
    pub ram: RamRegion<Vec<u8>>,
    /// The supply it shares with its partner.
    pub power: &'p Power,
    /// Which region this is (0: A, 1: B), for [`Strike::region`].
    pub id: u8,
}

impl<'p> CutRegion<'p> {
    /// A fresh (erased) region; `id` 0 for A, 1 for B.
    pub fn new(geo: Geometry, power: &'p Power, id: u8) -> Self {
        let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
        CutRegion {
            ram: RamRegion::new(vec![0u8; len], geo).expect("valid geometry"),
            power,
            id,
        }
    }

    /// Lands a scheduled strike meant for this region.
    fn land(&mut self) {
        let Some(s) = self.power.strike.get() else {
            return;
        };
        if s.region != self.id {
            return;
        }
        self.power.strike.set(None);
        let e = self.ram.geometry().erase_unit;
        let (from, to) = s.span(e);
        if let StrikeKind::EraseUnit = s.kind {
            // Not a step of the supply; no cut is armed on the RamRegion
            // between calls (the supply arms it at the call it tears).
            let _ = self.ram.erase(from, to.min(self.ram.geometry().size));
        } else {
            s.apply_to(self.ram.data_mut(), e);
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
        self.land();
        self.alive()?;
        self.ram.read(offset, buf)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), RamError> {
        self.land();
        self.alive()?;
        let units = data.len() as u64 / u64::from(self.ram.geometry().write_unit);
        self.spend(units);
        self.ram.program(offset, data)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamError> {
        self.land();
        self.alive()?;
        let units = u64::from(to.saturating_sub(from) / self.ram.geometry().erase_unit);
        self.spend(units);
        self.ram.erase(from, to)
    }
    fn sync(&mut self) -> Result<(), RamError> {
        self.land();
        self.alive()?;
        self.ram.sync()
    }
}
