//! Shared test support: regions with one power supply, and a model.
#![allow(dead_code)]

use std::cell::Cell;
use std::collections::BTreeMap;
use twinkv_core::{
    Config, Error, FixedIndex, Geometry, Op, RamError, RamRegion, Region, Store, TearMode,
};

pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One power supply shared by both regions: a cut after `fuel` more steps
/// (write units programmed or erase units erased, across A and B) tears the
/// unit in progress and kills both regions until `restore`.
#[derive(Default)]
pub struct Power {
    fuel: Cell<Option<u64>>,
    dead: Cell<bool>,
    steps: Cell<u64>,
    mode: Cell<Option<TearMode>>,
    seed: Cell<u64>,
}

impl Power {
    pub fn cut_after(&self, steps: u64, mode: TearMode, seed: u64) {
        self.fuel.set(Some(steps));
        self.mode.set(Some(mode));
        self.seed.set(seed);
    }
    pub fn cancel(&self) {
        self.fuel.set(None);
    }
    pub fn is_dead(&self) -> bool {
        self.dead.get()
    }
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }
    pub fn reset_steps(&self) {
        self.steps.set(0);
    }
}

pub struct CutRegion<'p> {
    pub ram: RamRegion<Vec<u8>>,
    pub power: &'p Power,
}

impl<'p> CutRegion<'p> {
    pub fn new(geo: Geometry, power: &'p Power) -> Self {
        let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
        CutRegion {
            ram: RamRegion::new(vec![0u8; len], geo).unwrap(),
            power,
        }
    }
    /// Brings the region back after a cut (a reboot).
    pub fn restore(&mut self) {
        self.ram.cancel_cut();
        self.ram.restore_power();
    }
    fn spend(&mut self, units: u64) -> bool {
        let p = self.power;
        if let Some(f) = p.fuel.get() {
            if units > f {
                self.ram
                    .cut_power_after(f, p.mode.get().unwrap(), p.seed.get());
                p.fuel.set(None);
                p.dead.set(true);
                p.steps.set(p.steps.get() + f);
                return true;
            }
            p.fuel.set(Some(f - units));
        }
        p.steps.set(p.steps.get() + units);
        false
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
        if self.power.is_dead() {
            return Err(RamError::PowerLost);
        }
        self.ram.read(offset, buf)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), RamError> {
        if self.power.is_dead() {
            return Err(RamError::PowerLost);
        }
        let units = (data.len() as u32 / self.ram.geometry().write_unit) as u64;
        self.spend(units);
        self.ram.program(offset, data)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamError> {
        if self.power.is_dead() {
            return Err(RamError::PowerLost);
        }
        let units = ((to - from) / self.ram.geometry().erase_unit) as u64;
        self.spend(units);
        self.ram.erase(from, to)
    }
    fn sync(&mut self) -> Result<(), RamError> {
        if self.power.is_dead() {
            return Err(RamError::PowerLost);
        }
        self.ram.sync()
    }
}

pub type TestStore<'r, 'p> = Store<&'r mut CutRegion<'p>, FixedIndex<64>, Vec<u8>>;

/// Two regions on one power supply.
pub struct Rig<'p> {
    pub a: CutRegion<'p>,
    pub b: CutRegion<'p>,
    pub config: Config,
    pub power: &'p Power,
}

impl<'p> Rig<'p> {
    pub fn new(power: &'p Power, size: u32, w: u32, config: Config) -> Self {
        let geo = Geometry {
            size,
            read_unit: 1,
            write_unit: w,
            erase_unit: 256,
        };
        Rig {
            a: CutRegion::new(geo, power),
            b: CutRegion::new(geo, power),
            config,
            power,
        }
    }
    pub fn set_in_order(&mut self, in_order: bool) {
        self.a.ram.set_in_order(in_order);
        self.b.ram.set_in_order(in_order);
    }
    pub fn open(&mut self) -> Result<TestStore<'_, 'p>, Error<RamError>> {
        let scratch = vec![
            0u8;
            Store::<&mut CutRegion, FixedIndex<64>, Vec<u8>>::scratch_len(
                &self.config,
                self.a.ram.geometry().write_unit
            )
        ];
        Store::open(
            &mut self.a,
            &mut self.b,
            FixedIndex::new(),
            scratch,
            self.config,
        )
    }
    pub fn open_read_only(&mut self) -> Result<TestStore<'_, 'p>, Error<RamError>> {
        let scratch = vec![0u8; 4096];
        Store::open_read_only(
            &mut self.a,
            &mut self.b,
            FixedIndex::new(),
            scratch,
            self.config,
        )
    }
    /// Reboot after a cut.
    pub fn restore(&mut self) {
        self.a.restore();
        self.b.restore();
        self.power.dead.set(false);
        self.power.fuel.set(None);
    }
    pub fn snapshot(&self) -> (Vec<u8>, Vec<u8>) {
        (self.a.ram.as_bytes_vec(), self.b.ram.as_bytes_vec())
    }
}

pub trait AsBytesVec {
    fn as_bytes_vec(&self) -> Vec<u8>;
}
impl AsBytesVec for RamRegion<Vec<u8>> {
    fn as_bytes_vec(&self) -> Vec<u8> {
        use twinkv_core::MappedRegion;
        self.as_bytes().to_vec()
    }
}

/// Every key of `model` and of `universe` reads as the model says.
pub fn check_store<R: Region>(
    store: &mut Store<R, FixedIndex<64>, Vec<u8>>,
    model: &Model,
    universe: &[Vec<u8>],
) -> Result<(), String>
where
    R::Error: std::fmt::Debug,
{
    if store.len() != model.len() {
        return Err(format!("len {} != model {}", store.len(), model.len()));
    }
    let mut buf = vec![0u8; 8192];
    for k in universe.iter().chain(model.keys()) {
        let got = store
            .get(k, &mut buf)
            .map_err(|e| format!("get {k:?}: {e:?}"))?;
        let got = got.map(|n| buf[..n].to_vec());
        if got.as_ref() != model.get(k) {
            return Err(format!(
                "key {:?}: store {:?} model {:?}",
                String::from_utf8_lossy(k),
                got,
                model.get(k)
            ));
        }
    }
    Ok(())
}

/// A write in a workload.
#[derive(Clone, Debug)]
pub enum W {
    Set(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Clear,
    Compact,
    Sync,
}

impl W {
    /// Applies the write to a model.
    pub fn apply_to(&self, m: &mut Model) {
        match self {
            W::Set(k, v) => {
                m.insert(k.clone(), v.clone());
            }
            W::Delete(k) => {
                m.remove(k);
            }
            W::Batch(ops) => {
                for (k, v) in ops {
                    match v {
                        Some(v) => m.insert(k.clone(), v.clone()),
                        None => m.remove(k),
                    };
                }
            }
            W::Clear => m.clear(),
            W::Compact | W::Sync => {}
        }
    }

    /// Runs the write on a store.
    pub fn run<R: Region>(
        &self,
        s: &mut Store<R, FixedIndex<64>, Vec<u8>>,
    ) -> Result<(), Error<R::Error>> {
        match self {
            W::Set(k, v) => s.set(k, v),
            W::Delete(k) => s.delete(k).map(|_| ()),
            W::Batch(ops) => {
                let ops: Vec<Op> = ops
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => Op::Set(k, v),
                        None => Op::Delete(k),
                    })
                    .collect();
                s.apply(&ops)
            }
            W::Clear => s.clear(),
            W::Compact => s.compact(),
            W::Sync => s.sync(),
        }
    }
}

/// A deterministic workload over `keys` keys: sets, overwrites, deletes,
/// batches, a clear and compactions, with values of varying length.
pub fn workload(n: usize, keys: u32, seed: u64, max_value: usize) -> Vec<W> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let key = |r: u64| format!("key{}", r % keys as u64).into_bytes();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = next();
        let vlen = (r >> 20) as usize % (max_value + 1);
        let value: Vec<u8> = (0..vlen).map(|j| (i as u8).wrapping_add(j as u8)).collect();
        let w = match r % 100 {
            0..=59 => W::Set(key(r >> 8), value),
            60..=74 => W::Delete(key(r >> 8)),
            75..=89 => {
                let count = 2 + (r >> 30) as usize % 3;
                W::Batch(
                    (0..count)
                        .map(|j| {
                            let rr = next();
                            let k = key(rr);
                            if rr % 4 == 0 {
                                (k, None)
                            } else {
                                (k, Some(value[..value.len().min(j * 3 + 1)].to_vec()))
                            }
                        })
                        .collect(),
                )
            }
            90..=93 => W::Compact,
            94..=98 => W::Sync,
            _ => {
                if i > n / 2 {
                    W::Clear
                } else {
                    W::Compact
                }
            }
        };
        out.push(w);
    }
    out
}

pub fn universe(keys: u32) -> Vec<Vec<u8>> {
    (0..keys).map(|k| format!("key{k}").into_bytes()).collect()
}
