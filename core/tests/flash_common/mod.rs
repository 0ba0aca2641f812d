//! Shared support of the `flash_*` tests: a store on `SimFlash` through the
//! embedded-storage adapter, a workload and a model.
#![allow(dead_code, unused_imports)]

use std::cell::RefCell;
use std::collections::BTreeMap;

pub use twinkv_core::{
    flash_geometry, Config, Error, FixedIndex, FlashConfigError, FlashError, FlashRegion, Geometry,
    Index, Op, Region, SharedFlashRegion, SimError, SimFlash, Store, TearMode,
};

/// Erase unit of the small test flashes.
pub const E: usize = 256;

/// A simulated flash with write unit `W`, erase unit [`E`], read unit 1.
pub type Sim<const W: usize> = SimFlash<Vec<u8>, W, E>;
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;
pub type FRegion<'a, const W: usize> = SharedFlashRegion<'a, Sim<W>>;
pub type FlashStore<'a, const W: usize> = Store<FRegion<'a, W>, FixedIndex<32>, Vec<u8>>;
pub type StoreError = Error<FlashError<SimError>>;

pub fn sim<const W: usize>(size: u32) -> Sim<W> {
    Sim::<W>::new(vec![0; Sim::<W>::storage_len(size)], size).unwrap()
}

pub fn config() -> Config {
    Config::new(0xF1A5_F1A5)
        .with_limits(16, 32)
        .with_ratios(8000, 9000)
}

/// A store on a flash of `size` bytes split in halves.
pub fn open<'a, const W: usize>(
    flash: &'a RefCell<Sim<W>>,
    cfg: Config,
) -> Result<FlashStore<'a, W>, StoreError> {
    let size = flash.borrow().as_bytes().len() as u32;
    let (a, b) = SharedFlashRegion::halves(flash, 0, size).unwrap();
    let scratch = vec![0; FlashStore::<W>::scratch_len(&cfg, W as u32)];
    Store::open(a, b, FixedIndex::new(), scratch, cfg)
}

/// A store on two separate flashes.
pub fn open_two<'a, const W: usize>(
    a: &'a RefCell<Sim<W>>,
    b: &'a RefCell<Sim<W>>,
    cfg: Config,
) -> Result<FlashStore<'a, W>, StoreError> {
    let ra = SharedFlashRegion::whole(a).unwrap();
    let rb = SharedFlashRegion::whole(b).unwrap();
    let scratch = vec![0; FlashStore::<W>::scratch_len(&cfg, W as u32)];
    Store::open(ra, rb, FixedIndex::new(), scratch, cfg)
}

pub fn power_lost<T>(r: &Result<T, StoreError>) -> bool {
    matches!(
        r,
        Err(Error::Region(FlashError::Flash(SimError::PowerLost)))
    )
}

/// Key `k` of the test universe: 1 to 16 bytes.
pub fn key(k: u8) -> Vec<u8> {
    let mut v = format!("k{k}").into_bytes();
    v.resize(1 + (usize::from(k) * 5) % 16, b'.');
    v
}

pub fn universe(keys: u8) -> Vec<Vec<u8>> {
    (0..keys).map(key).collect()
}

/// One write of a workload.
#[derive(Clone, Debug)]
pub enum Wr {
    Set(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// `apply` of several ops (value `None`: delete).
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Compact,
    Clear,
}

impl Wr {
    pub fn apply_to(&self, m: &mut Model) {
        match self {
            Wr::Set(k, v) => {
                m.insert(k.clone(), v.clone());
            }
            Wr::Delete(k) => {
                m.remove(k);
            }
            Wr::Batch(ops) => {
                for (k, v) in ops {
                    match v {
                        Some(v) => m.insert(k.clone(), v.clone()),
                        None => m.remove(k),
                    };
                }
            }
            Wr::Compact => {}
            Wr::Clear => m.clear(),
        }
    }

    pub fn run<R: Region, I: Index, B: AsMut<[u8]>>(
        &self,
        s: &mut Store<R, I, B>,
    ) -> Result<(), Error<R::Error>> {
        match self {
            Wr::Set(k, v) => s.set(k, v),
            Wr::Delete(k) => s.delete(k).map(|_| ()),
            Wr::Batch(ops) => {
                let ops: Vec<Op<'_>> = ops
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => Op::Set(k, v),
                        None => Op::Delete(k),
                    })
                    .collect();
                s.apply(&ops)
            }
            Wr::Compact => s.compact(),
            Wr::Clear => s.clear(),
        }
    }
}

/// SplitMix64 for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn value(&mut self, tag: usize, max: usize) -> Vec<u8> {
        let len = self.below(max as u64 + 1) as usize;
        let mut v = format!("{tag}:").into_bytes();
        v.resize(len, b'v');
        v
    }
}

/// `n` writes over `keys` keys: mostly sets, some deletes and batches, rare
/// compactions and clears.
pub fn workload(n: usize, keys: u8, seed: u64, max_value: usize) -> Vec<Wr> {
    let mut r = Rng(seed);
    (0..n)
        .map(|i| {
            let k = key(r.below(u64::from(keys)) as u8);
            match r.below(100) {
                0..=69 => Wr::Set(k, r.value(i, max_value)),
                70..=84 => Wr::Delete(k),
                85..=95 => {
                    let ops = (0..2 + r.below(2))
                        .map(|_| {
                            let k = key(r.below(u64::from(keys)) as u8);
                            if r.below(4) == 0 {
                                (k, None)
                            } else {
                                (k, Some(r.value(i, max_value)))
                            }
                        })
                        .collect();
                    Wr::Batch(ops)
                }
                96..=98 => Wr::Compact,
                _ => Wr::Clear,
            }
        })
        .collect()
}

/// Every key of `keys` reads as `model` says, and `len` agrees.
pub fn check_store<R: Region, I: Index, B: AsMut<[u8]>>(
    s: &mut Store<R, I, B>,
    model: &Model,
    keys: &[Vec<u8>],
) -> Result<(), String> {
    let mut buf = [0u8; 256];
    for k in keys {
        let got = s
            .get(k, &mut buf)
            .map_err(|e| format!("get {:?}: {e:?}", String::from_utf8_lossy(k)))?
            .map(|n| buf[..n].to_vec());
        if got.as_ref() != model.get(k) {
            return Err(format!(
                "key {:?}: got {:?}, model {:?}",
                String::from_utf8_lossy(k),
                got.map(|v| String::from_utf8_lossy(&v).into_owned()),
                model
                    .get(k)
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            ));
        }
    }
    if s.len() != model.len() {
        return Err(format!("len {} != model {}", s.len(), model.len()));
    }
    Ok(())
}

/// Runs `f` with the const write unit `w` (one of the six), as a type-level
/// value.
#[macro_export]
macro_rules! for_each_write_unit {
    ($f:ident ( $($arg:expr),* )) => {
        [
            $f::<1>($($arg),*),
            $f::<2>($($arg),*),
            $f::<4>($($arg),*),
            $f::<8>($($arg),*),
            $f::<16>($($arg),*),
            $f::<32>($($arg),*),
        ]
    };
}
