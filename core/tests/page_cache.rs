//! The page-cache loss model of a memory-mapped file without `sync`: the OS
//! writes dirty sectors back in any order, at any time, and after a power
//! loss any subset of the sectors written since the last `sync` may be lost
//! — including one in the middle of the unsynced tail, leaving a hole with
//! valid records after it. Checks: everything acknowledged by a returned
//! `sync` (or made durable by a switch) survives; recovery yields a state
//! that existed (the acknowledged history up to some point after the last
//! durable one), never later writes without earlier ones; no panic, no value
//! that was never written; the store takes writes again.

use std::cell::Cell;
use std::rc::Rc;
use twinkv_core::testkit::{universe, workload, Model, Write, XorShift};
use twinkv_core::{Config, FixedIndex, Geometry, Region, Store};

const SECTOR: usize = 512;

/// What the process sees (`cache`) and what is on the disk (`disk`).
struct PageCache {
    cache: Vec<u8>,
    disk: Vec<u8>,
    dirty: Vec<bool>,
    geo: Geometry,
    rng: XorShift,
    /// Chance in 1/256 that a program lets the OS write back one random
    /// dirty sector on its own.
    writeback: u64,
    /// Operations (program, erase, sync) left before the power fails, shared
    /// by both regions; `None`: no cut planned.
    fuel: Rc<Cell<Option<u64>>>,
}

/// The region lost power in the middle of an operation.
#[derive(Debug)]
struct PowerLost;

impl PageCache {
    fn new(size: u32, seed: u64, fuel: Rc<Cell<Option<u64>>>) -> Self {
        PageCache {
            cache: vec![0xFF; size as usize],
            disk: vec![0xFF; size as usize],
            dirty: vec![false; size as usize / SECTOR],
            geo: Geometry {
                size,
                read_unit: 1,
                write_unit: 4,
                erase_unit: 512,
            },
            rng: XorShift(seed | 1),
            writeback: 64,
            fuel,
        }
    }
    fn spend(&mut self) -> Result<(), PowerLost> {
        match self.fuel.get() {
            Some(0) => Err(PowerLost),
            Some(n) => {
                self.fuel.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }
    fn touch(&mut self, from: usize, to: usize) {
        for s in from / SECTOR..to.div_ceil(SECTOR) {
            self.dirty[s] = true;
        }
        if self.rng.next() % 256 < self.writeback {
            let s = (self.rng.next() as usize) % self.dirty.len();
            self.write_back(s);
        }
    }
    fn write_back(&mut self, s: usize) {
        if self.dirty[s] {
            let r = s * SECTOR..(s + 1) * SECTOR;
            self.disk[r.clone()].copy_from_slice(&self.cache[r]);
            self.dirty[s] = false;
        }
    }
    /// Power loss: each dirty sector reaches the disk or not, at random.
    fn lose_power(&mut self) {
        for s in 0..self.dirty.len() {
            if self.rng.next() & 1 == 0 {
                self.write_back(s);
            }
        }
        self.cache.copy_from_slice(&self.disk);
        self.dirty.fill(false);
    }
}

impl Region for PageCache {
    type Error = PowerLost;
    fn geometry(&self) -> Geometry {
        self.geo
    }
    fn persists_in_order(&self) -> bool {
        false
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), PowerLost> {
        if self.fuel.get() == Some(0) {
            return Err(PowerLost);
        }
        buf.copy_from_slice(&self.cache[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), PowerLost> {
        self.spend()?;
        let at = offset as usize;
        assert!(
            self.cache[at..at + data.len()].iter().all(|&b| b == 0xFF),
            "program onto non-erased bytes at {at}"
        );
        self.cache[at..at + data.len()].copy_from_slice(data);
        self.touch(at, at + data.len());
        Ok(())
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), PowerLost> {
        self.spend()?;
        self.cache[from as usize..to as usize].fill(0xFF);
        self.touch(from as usize, to as usize);
        Ok(())
    }
    fn sync(&mut self) -> Result<(), PowerLost> {
        self.spend()?;
        for s in 0..self.dirty.len() {
            self.write_back(s);
        }
        Ok(())
    }
}

type PcStore<'a> = Store<&'a mut PageCache, FixedIndex<64>, Vec<u8>>;

fn open<'a>(a: &'a mut PageCache, b: &'a mut PageCache) -> PcStore<'a> {
    Store::open(a, b, FixedIndex::new(), vec![0u8; 512], config()).expect("open after power loss")
}

fn config() -> Config {
    Config::new(0x9A6E).with_limits(8, 40)
}

fn state(s: &mut PcStore<'_>, keys: &[Vec<u8>]) -> Model {
    let mut m = Model::new();
    let mut buf = [0u8; 64];
    for k in keys {
        if let Some(n) = s.get(k, &mut buf).expect("get after power loss") {
            m.insert(k.clone(), buf[..n].to_vec());
        }
    }
    assert_eq!(s.len(), m.len());
    m
}

#[test]
fn page_cache_loss_keeps_synced_data_and_a_prefix_of_the_rest() {
    let keys = universe(16);
    let (mut trials, mut kept_unsynced, mut holes_dropped) = (0u32, 0u64, 0u64);
    for seed in 0..300u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9) | 1);
        let fuel = Rc::new(Cell::new(None));
        let mut a = PageCache::new(4096, seed * 2 + 1, fuel.clone());
        let mut b = PageCache::new(4096, seed * 2 + 2, fuel.clone());
        let wl = workload(400, 16, seed, 40);
        // history[d..] are the states a recovery may show.
        let mut history = vec![Model::new()];
        let mut durable = 0usize;
        let mut i = 0;
        while i < wl.len() {
            let run_for = 5 + rng.next() as usize % 60;
            // Half the time the power fails in the middle of an operation
            // (a switch included), not only between them.
            if rng.next() & 1 == 0 {
                fuel.set(Some(rng.next() % 150));
            }
            let opened = Store::open(
                &mut a,
                &mut b,
                FixedIndex::<64>::new(),
                vec![0u8; 512],
                config(),
            );
            if let Ok(mut s) = opened {
                for w in wl.iter().skip(i).take(run_for) {
                    let before = s.stats();
                    let gen = before.generation;
                    let r = w.run(&mut s);
                    let mut m = history.last().unwrap().clone();
                    w.apply_to(&mut m);
                    history.push(m);
                    if r.is_err() {
                        // In flight: the recovered state may or may not have it.
                        assert!(
                            fuel.get() == Some(0),
                            "write failed without a power cut: {r:?}"
                        );
                        i += 1;
                        break;
                    }
                    // A returned sync, and every switch, is a durable point:
                    // the state after the call, or before it when the call
                    // only committed a switch prepared by the write before
                    // it (FORMAT.md §7.4), its own record appended after
                    // the commit.
                    let after = s.stats().generation;
                    if matches!(w, Write::Sync) || after > gen + u64::from(before.commit_pending) {
                        durable = history.len() - 1;
                    } else if after != gen {
                        durable = history.len() - 2;
                    }
                    i += 1;
                }
            }
            fuel.set(None);
            a.lose_power();
            b.lose_power();
            trials += 1;
            let mut s = open(&mut a, &mut b);
            let got = state(&mut s, &keys);
            let k = (durable..history.len()).rev().find(|&k| history[k] == got).unwrap_or_else(|| {
                panic!("seed {seed} op {i}: recovered state is not one that existed after the last durable point {durable} (history {})", history.len())
            });
            kept_unsynced += (k - durable) as u64;
            holes_dropped += (history.len() - 1 - k) as u64;
            // Writes work again and survive the next loss once synced.
            s.set(b"probe", &seed.to_le_bytes()).unwrap();
            s.sync().unwrap();
            drop(s);
            let mut m = history[k].clone();
            m.insert(b"probe".to_vec(), seed.to_le_bytes().to_vec());
            a.lose_power();
            b.lose_power();
            let mut s = open(&mut a, &mut b);
            let mut all = keys.clone();
            all.push(b"probe".to_vec());
            assert_eq!(
                state(&mut s, &all),
                m,
                "seed {seed}: a synced write was lost"
            );
            drop(s);
            m.remove(b"probe".as_slice());
            let mut s = open(&mut a, &mut b);
            s.remove(b"probe").unwrap();
            s.sync().unwrap();
            history = vec![m];
            durable = 0;
        }
    }
    eprintln!("{trials} page-cache losses: 0 synced writes lost; {kept_unsynced} unsynced writes kept, {holes_dropped} dropped after a hole");
}
