//! One power supply shared by both regions: the power-cut model of core's
//! power-cut and model tests, the fuzz target `ops_with_power_loss` and the
//! damage tests.
//!
//! A budget of steps (write units programmed plus erase units erased, across
//! A and B together); the step that exhausts it is torn by core's
//! [`RamRegion::cut_power_after`] on the region doing it, and from then on
//! both regions fail every call with [`RamError::PowerLost`] until
//! [`CutRegion::restore`] (the reboot; [`Rig::restore`] for a pair).
//!
//! A [`Strike`] (damage between operations: a flipped bit, a byte set to
//! `0x00` or `0xFF`, an erase unit zeroed or erased) is scheduled on the
//! supply with [`Power::strike`] while a store holds the regions, and lands
//! on its region at that region's next call, before the call does anything:
//! between two operations, as if it had happened right after the last one.

use super::noting::NotingIndex;
use std::cell::Cell;
use std::vec;
use std::vec::Vec;

use crate::{Config, Error, Geometry, MappedRegion, RamError, RamRegion, Region, Store, TearMode};
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
    /// Starts counting [`steps`](Self::steps) from zero again.
    pub fn reset_steps(&self) {
        self.steps.set(0);
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

/// A store on a pair of [`CutRegion`]s.
pub type TestStore<'r, 'p> = Store<&'r mut CutRegion<'p>, NotingIndex<64>, Vec<u8>>;

/// The async store on a pair of [`CutRegion`]s, driven by the test kit.
#[cfg(feature = "async")]
pub type AsyncTestStore<'r, 'p> = super::asynch::Blocked<
    super::asynch::Yielding<&'r mut CutRegion<'p>>,
    NotingIndex<64>,
    Vec<u8>,
>;

/// Two regions on one power supply, with the configuration a test opens them
/// with.
#[derive(Debug)]
pub struct Rig<'p> {
    /// Region A.
    pub a: CutRegion<'p>,
    /// Region B.
    pub b: CutRegion<'p>,
    /// What [`open`](Self::open) passes to the store.
    pub config: Config,
    /// The supply of both.
    pub power: &'p Power,
}

impl<'p> Rig<'p> {
    /// Two fresh regions of `size` bytes, write unit `w`, erase unit 256.
    pub fn new(power: &'p Power, size: u32, w: u32, config: Config) -> Self {
        Rig::with_erase_unit(power, size, w, 256, config)
    }
    /// Two fresh regions of `size` bytes, write unit `w`, erase unit `e`.
    pub fn with_erase_unit(power: &'p Power, size: u32, w: u32, e: u32, config: Config) -> Self {
        let geo = Geometry {
            size,
            read_unit: 1,
            write_unit: w,
            erase_unit: e,
        };
        Rig {
            a: CutRegion::new(geo, power, 0),
            b: CutRegion::new(geo, power, 1),
            config,
            power,
        }
    }
    /// Whether both regions persist their writes in order.
    pub fn set_in_order(&mut self, in_order: bool) {
        self.a.ram.set_in_order(in_order);
        self.b.ram.set_in_order(in_order);
    }
    /// A scratch buffer sized for the configuration at the regions' write
    /// unit.
    fn scratch(&self) -> Vec<u8> {
        let w = self.a.ram.geometry().write_unit;
        vec![0u8; TestStore::scratch_len(&self.config, w)]
    }
    /// Both regions behind `gate`, each call suspending once, and a
    /// scratch buffer: what the async store is opened on.
    #[cfg(feature = "async")]
    #[allow(clippy::type_complexity)]
    fn yielding(
        &mut self,
        gate: std::rc::Rc<super::asynch::Gate>,
    ) -> (
        super::asynch::Yielding<&mut CutRegion<'p>>,
        super::asynch::Yielding<&mut CutRegion<'p>>,
        Vec<u8>,
    ) {
        use super::asynch::Yielding;
        let scratch = self.scratch();
        let a = Yielding::new(&mut self.a, std::rc::Rc::clone(&gate));
        let b = Yielding::new(&mut self.b, gate);
        (a, b, scratch)
    }
    /// Opens a store on both regions (scratch sized for the configuration).
    pub fn open(&mut self) -> Result<TestStore<'_, 'p>, Error<RamError>> {
        let scratch = self.scratch();
        Store::open(
            &mut self.a,
            &mut self.b,
            NotingIndex::new(),
            scratch,
            self.config,
        )
    }
    /// Opens the async store on both regions, each region call suspending
    /// once ([`Yielding`](super::asynch::Yielding)), driven to completion
    /// call by call.
    #[cfg(feature = "async")]
    pub fn open_async(&mut self) -> Result<AsyncTestStore<'_, 'p>, Error<RamError>> {
        self.open_async_gated(super::asynch::Gate::never())
    }
    /// [`open_async`](Self::open_async) with both regions behind `gate`.
    #[cfg(feature = "async")]
    pub fn open_async_gated(
        &mut self,
        gate: std::rc::Rc<super::asynch::Gate>,
    ) -> Result<AsyncTestStore<'_, 'p>, Error<RamError>> {
        use super::asynch::{block_on, Blocked};
        let config = self.config;
        let (a, b, scratch) = self.yielding(gate);
        block_on(crate::AsyncStore::open(
            a,
            b,
            NotingIndex::new(),
            scratch,
            config,
        ))
        .map(Blocked)
    }
    /// Opens a store given an index checkpoint (FORMAT.md §11).
    #[cfg(feature = "checkpoint")]
    pub fn open_with_checkpoint(
        &mut self,
        checkpoint: &[u8],
    ) -> Result<TestStore<'_, 'p>, Error<RamError>> {
        let scratch = self.scratch();
        Store::open_with_checkpoint(
            &mut self.a,
            &mut self.b,
            NotingIndex::new(),
            scratch,
            self.config,
            checkpoint,
        )
    }
    /// The async store given an index checkpoint (as
    /// [`open_async`](Self::open_async)).
    #[cfg(all(feature = "async", feature = "checkpoint"))]
    pub fn open_async_with_checkpoint(
        &mut self,
        checkpoint: &[u8],
    ) -> Result<AsyncTestStore<'_, 'p>, Error<RamError>> {
        use super::asynch::{block_on, Blocked, Gate};
        let config = self.config;
        let (a, b, scratch) = self.yielding(Gate::never());
        block_on(crate::AsyncStore::open_with_checkpoint(
            a,
            b,
            NotingIndex::new(),
            scratch,
            config,
            checkpoint,
        ))
        .map(Blocked)
    }
    /// Opens a store read-only.
    pub fn open_read_only(&mut self) -> Result<TestStore<'_, 'p>, Error<RamError>> {
        let scratch = vec![0u8; 4096];
        Store::open_read_only(
            &mut self.a,
            &mut self.b,
            NotingIndex::new(),
            scratch,
            self.config,
        )
    }
    /// Reboot after a cut.
    pub fn restore(&mut self) {
        self.a.restore();
        self.b.restore();
    }
    /// Copies of both regions' bytes.
    pub fn snapshot(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.a.ram.as_bytes().to_vec(),
            self.b.ram.as_bytes().to_vec(),
        )
    }
}
