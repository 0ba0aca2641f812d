//! Deterministic workloads and the generator behind them.
//!
//! Two workload shapes, each with the cut points and sampled counts its tests
//! were tuned on: [`workload`] (keys `key0..`, sets, deletes, batches,
//! compactions, syncs and a late clear; the RAM power-cut and model tests)
//! and [`varied_workload`] (keys of 1 to 16 bytes, rarer compactions, clears
//! anywhere; the flash power-cut tests).

use std::format;
use std::vec::Vec;

use super::model::Write;

/// SplitMix64: test data from a seed.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number below `n` (not 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A value of 0 to `max` bytes starting with `tag:`.
    pub fn value(&mut self, tag: usize, max: usize) -> Vec<u8> {
        let len = self.below(max as u64 + 1) as usize;
        let mut v = format!("{tag}:").into_bytes();
        v.resize(len, b'v');
        v
    }
}

/// Xorshift64 (13, 7, 17): the generator of [`workload`] and of the cut
/// points the RAM power-cut and page-cache tests sample. Seed it nonzero.
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next state.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A deterministic workload of `n` writes over `keys` keys (`key0`..; see
/// [`universe`](super::universe)): sets, overwrites, deletes, batches, syncs,
/// compactions and, in its second half, clears, with values of up to
/// `max_value` bytes.
pub fn workload(n: usize, keys: u32, seed: u64, max_value: usize) -> Vec<Write> {
    let mut x = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut next = move || x.next();
    let key = |r: u64| format!("key{}", r % u64::from(keys)).into_bytes();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = next();
        let vlen = (r >> 20) as usize % (max_value + 1);
        let value: Vec<u8> = (0..vlen).map(|j| (i as u8).wrapping_add(j as u8)).collect();
        let w = match r % 100 {
            0..=59 => Write::Set(key(r >> 8), value),
            60..=74 => Write::Delete(key(r >> 8)),
            75..=89 => {
                let count = 2 + (r >> 30) as usize % 3;
                Write::Batch(
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
            90..=93 => Write::Compact,
            94..=98 => Write::Sync,
            _ => {
                if i > n / 2 {
                    Write::Clear
                } else {
                    Write::Compact
                }
            }
        };
        out.push(w);
    }
    out
}

/// Key `k` of [`varied_workload`]: `k{k}` padded with dots to 1 to 16 bytes.
pub fn varied_key(k: u8) -> Vec<u8> {
    let mut v = format!("k{k}").into_bytes();
    v.resize(1 + (usize::from(k) * 5) % 16, b'.');
    v
}

/// The keys of [`varied_workload`] over `keys` keys.
pub fn varied_universe(keys: u8) -> Vec<Vec<u8>> {
    (0..keys).map(varied_key).collect()
}

/// `n` writes over `keys` keys of 1 to 16 bytes ([`varied_key`]): mostly
/// sets, some deletes and batches, rare compactions and clears.
pub fn varied_workload(n: usize, keys: u8, seed: u64, max_value: usize) -> Vec<Write> {
    let mut r = Rng(seed);
    (0..n)
        .map(|i| {
            let k = varied_key(r.below(u64::from(keys)) as u8);
            match r.below(100) {
                0..=69 => Write::Set(k, r.value(i, max_value)),
                70..=84 => Write::Delete(k),
                85..=95 => {
                    let ops = (0..2 + r.below(2))
                        .map(|_| {
                            let k = varied_key(r.below(u64::from(keys)) as u8);
                            if r.below(4) == 0 {
                                (k, None)
                            } else {
                                (k, Some(r.value(i, max_value)))
                            }
                        })
                        .collect();
                    Write::Batch(ops)
                }
                96..=98 => Write::Compact,
                _ => Write::Clear,
            }
        })
        .collect()
}
