//! Host operations of twinkv (criterion): `set` (new key, overwrite), `get`
//! (hit in random key order, hot key, miss), `remove`, `set_many` of 100;
//! values of 16 B, 256 B and 4 KiB; 1k and 100k live keys (1M with
//! `TWINKV_BENCH_LONG=1`); on RamRegion (durability: none) and on files with
//! `Durability::Default` and `Durability::SyncEveryWrite`.
//!
//! Every benchmark id names the medium, the live keys, the value size and the
//! region size (`r<bytes>`), e.g. `host/file-default/set_overwrite/n100000_v16_r16777216`.
//! Regions are sized so that the live data is a quarter of a region (a switch
//! after about 2.2× the live data is appended, at the default 80 % high-water
//! ratio); switches happen inside the timed loops and are amortised.
//!
//!     cargo bench -p twinkv-benches --bench host_ops
//!     TWINKV_BENCH_QUICK=1 cargo bench -p twinkv-benches --bench host_ops   # CI: 1k keys, short
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use twinkv_benches::*;
use twinkv_core::Op;
use twinkv_host::{Durability, Options};

/// A store under test: twinkv-core on RAM, or twinkv-host on files.
trait Kv {
    fn set(&mut self, k: &[u8], v: &[u8]);
    fn get_len(&self, k: &[u8]) -> Option<usize>;
    fn remove(&mut self, k: &[u8]) -> bool;
    fn set_many(&mut self, pairs: &[([u8; 16], Vec<u8>)]);
}

impl Kv for RamStore {
    fn set(&mut self, k: &[u8], v: &[u8]) {
        RamStore::set(self, k, v).expect("set");
    }
    fn get_len(&self, k: &[u8]) -> Option<usize> {
        self.get_ref(k).expect("get").map(<[u8]>::len)
    }
    fn remove(&mut self, k: &[u8]) -> bool {
        self.remove(k).expect("delete")
    }
    fn set_many(&mut self, pairs: &[([u8; 16], Vec<u8>)]) {
        let ops: Vec<Op<'_>> = pairs.iter().map(|(k, v)| Op::Set(k, v)).collect();
        self.apply(&ops).expect("apply");
    }
}

impl Kv for twinkv_host::Store {
    fn set(&mut self, k: &[u8], v: &[u8]) {
        twinkv_host::Store::set(self, k, v).expect("set");
    }
    fn get_len(&self, k: &[u8]) -> Option<usize> {
        self.get(k).expect("get").map(<[u8]>::len)
    }
    fn remove(&mut self, k: &[u8]) -> bool {
        twinkv_host::Store::remove(self, k).expect("remove")
    }
    fn set_many(&mut self, pairs: &[([u8; 16], Vec<u8>)]) {
        twinkv_host::Store::set_many(self, pairs.iter().map(|(k, v)| (k, v))).expect("set_many")
    }
}

#[derive(Clone, Copy)]
enum Medium {
    Ram,
    FileDefault,
    FileSync,
}

impl Medium {
    fn name(self) -> &'static str {
        match self {
            Medium::Ram => "ram",
            Medium::FileDefault => "file-default",
            Medium::FileSync => "file-sync",
        }
    }
}

fn value_sizes(m: Medium, n: usize) -> Vec<usize> {
    match m {
        // fdatasync per write dominates: one value size, 1k keys.
        Medium::FileSync if n > 1_000 => vec![],
        Medium::FileSync => vec![16],
        _ if quick() => vec![16, 4096],
        // 4 KiB × 1M keys = 4 GiB of live data: not on this machine.
        _ if n >= 1_000_000 => vec![16, 256],
        _ => vec![16, 256, 4096],
    }
}

fn run_ops<S: Kv>(c: &mut Criterion, s: &mut S, group: &str, n: usize, vlen: usize) {
    let mut g = c.benchmark_group(group);
    if quick() {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(200));
    } else {
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
    }
    let order = shuffled(n, 11);
    let vals: Vec<Vec<u8>> = (0..64).map(|i| value(1000 + i, vlen)).collect();
    let id = |name: &str| BenchmarkId::new(name, format!("n{n}_v{vlen}"));
    g.throughput(Throughput::Elements(1));

    // get: random live key order.
    let mut i = 0usize;
    g.bench_function(id("get_hit_random"), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            black_box(s.get_len(&key(order[i])))
        })
    });
    // get: one hot key.
    let hot = key(order[0]);
    g.bench_function(id("get_hit_hot"), |b| b.iter(|| black_box(s.get_len(&hot))));
    // get: absent keys.
    let mut m = 0u64;
    g.bench_function(id("get_miss"), |b| {
        b.iter(|| {
            m += 1;
            black_box(s.get_len(&key(1_000_000_000 + m)))
        })
    });
    // set: overwrite a random live key.
    let mut i = 0usize;
    g.bench_function(id("set_overwrite"), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            s.set(&key(order[i]), &vals[i % 64]);
        })
    });
    // set: a new key. Batches of up to n/10 (at most 1,000) new keys are
    // timed, then removed untimed, so the live set stays within 1.1 n.
    let mut next = 2_000_000_000u64;
    g.bench_function(id("set_new"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(1000).min(n as u64 / 10);
                let first = next;
                let t = Instant::now();
                for j in 0..chunk {
                    s.set(&key(first + j), &vals[(j % 64) as usize]);
                }
                total += t.elapsed();
                for j in 0..chunk {
                    s.remove(&key(first + j));
                }
                next += chunk;
                left -= chunk;
            }
            total
        })
    });
    // remove: batches of up to 1,000 random live keys are timed, then set
    // back untimed.
    let mut r = 0usize;
    g.bench_function(id("remove"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(1000).min(n as u64 / 2);
                let start = r;
                let t = Instant::now();
                for j in 0..chunk as usize {
                    black_box(s.remove(&key(order[(start + j) % n])));
                }
                total += t.elapsed();
                for j in 0..chunk as usize {
                    s.set(&key(order[(start + j) % n]), &vals[j % 64]);
                }
                r = (start + chunk as usize) % n;
                left -= chunk;
            }
            total
        })
    });
    // set_many of 100 overwrites (one atomic batch); throughput in pairs.
    g.throughput(Throughput::Elements(100));
    let mut bi = 0usize;
    g.bench_function(id("set_many_100"), |b| {
        b.iter_batched_ref(
            || {
                let batch: Vec<([u8; 16], Vec<u8>)> = (0..100)
                    .map(|j| (key(order[(bi * 100 + j) % n]), vals[j % 64].clone()))
                    .collect();
                bi += 1;
                batch
            },
            |batch| s.set_many(batch),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let dir = bench_dir();
    for &n in &live_key_counts() {
        for m in [Medium::Ram, Medium::FileDefault, Medium::FileSync] {
            for vlen in value_sizes(m, n) {
                // Live data a quarter of a region (4 KiB values: a half, to keep 100k keys in RAM).
                let share = if vlen >= 4096 { 0.5 } else { 0.25 };
                let size = region_for(n, 16, vlen, share);
                let group = format!("host/{}/r{size}", m.name());
                eprintln!("{group}: loading {n} keys of {vlen} B values");
                match m {
                    Medium::Ram => {
                        if vlen >= 4096 && n > 1_000 && !long() {
                            continue; // 2 × 820 MB of RAM regions: long mode only
                        }
                        let mut s = ram_store(size, ram_config());
                        for i in 0..n as u64 {
                            s.set(&key(i), &value(i, vlen)).expect("load");
                        }
                        run_ops(c, &mut s, &group, n, vlen);
                    }
                    Medium::FileDefault | Medium::FileSync => {
                        let d = if matches!(m, Medium::FileSync) {
                            Durability::SyncEveryWrite
                        } else {
                            Durability::Default
                        };
                        let base = dir.path().join(format!("ops_{}_{n}_{vlen}", m.name()));
                        let mut s = twinkv_host::Store::open(
                            &base,
                            Options::new()
                                .region_size(size)
                                .limits(63, 4096)
                                .durability(d),
                        )
                        .expect("open");
                        bulk_load(&mut s, n, vlen);
                        run_ops(c, &mut s, &group, n, vlen);
                        drop(s);
                        let (a, b) = twinkv_host::region_paths(&base);
                        let _ = std::fs::remove_file(a);
                        let _ = std::fs::remove_file(b);
                    }
                }
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
