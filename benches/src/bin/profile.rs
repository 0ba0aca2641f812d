//! Scenarios for `valgrind --tool=callgrind`: only `measured` is collected.
//!
//! ```text
//! cargo build --release -p twinkv-benches --bin profile
//! valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     target/release/profile switch-ram 10000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//!
//! Scenarios (16 B keys and values): `switch-ram N` (one in-memory switch at
//! N live keys, used = 4 × live), `rescan-ram N` (reopen + switch, same
//! state), `get-ram N` (N random gets), `set-ram N` (N random overwrites),
//! `get-file N` / `get-hashmap N` (N random gets from a host store on
//! files / a std `HashMap` of the same keys; each key's first `get` since
//! it was written), `get-file-again N` (the same gets, each key read twice
//! before: see `VecIndex` on fingerprints), `set-file N` (N random
//! overwrites in a host store on files), `time-get N` (both timed,
//! 7 interleaved rounds), `open-file N [R [close|batch]]` (open of a file store of N
//! live keys, used = R × live, default 4, as a crash leaves it (dropped
//! without a close: only the index checkpoints its writes made, FORMAT.md
//! §11; `TWINKV_PROFILE_NO_CHECKPOINT=1`: none written or read); with `close`,
//! after a close that compacts it; with `batch`, the first N records written
//! by `set_many` batches of 1,000, as the reopen table's stores are),
//! `time-open N [R [close]]` (the same store, 7 opens timed by wall clock),
//! `checkpoint-file N` (the close of a store of N live keys at used = 2 ×
//! live: its index checkpoint, FORMAT.md §11), `compact-file N` (one compaction of a file store of N live keys at used
//! = 2 × live).
use std::hint::black_box;

use twinkv_benches::*;

#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

/// Minor page faults of this process so far (Linux: field 10 of
/// `/proc/self/stat`; 0 where that cannot be read).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1;
            rest.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("switch-ram", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    match what {
        "switch-ram" => {
            let mut s = ram_store_with_history(n, 16, 4.0);
            measured(|| s.compact().expect("compact"));
        }
        "rescan-ram" => {
            let s = ram_store_with_history(n, 16, 4.0);
            let (a, b, _, _) = s.into_parts();
            measured(|| {
                let mut s = ram_reopen(a, b, ram_config());
                s.compact().expect("compact");
            });
        }
        "get-ram" | "set-ram" => {
            let mut s = ram_store(region_for(n, 16, 16, 0.25), ram_config());
            for i in 0..n as u64 {
                s.set(&key(i), &value(i, 16)).expect("set");
            }
            let order = shuffled(n, 9);
            let keys: Vec<[u8; 16]> = order.iter().map(|&i| key(i)).collect();
            let v = value(1, 16);
            if what == "get-ram" {
                measured(|| {
                    let mut t = 0usize;
                    for k in &keys {
                        t += s.get_ref(k).expect("get").map_or(0, <[u8]>::len);
                    }
                    t
                });
            } else {
                measured(|| {
                    for k in &keys {
                        s.set(k, &v).expect("set");
                    }
                });
            }
        }
        "get-file" | "get-file-again" | "get-hashmap" | "time-get" => {
            // N random-order gets of 16 B values from a host store on files
            // (`get-file`) or a `HashMap<Vec<u8>, Vec<u8>>` (`get-hashmap`)
            // of the same N keys; `time-get N` times both, interleaved.
            let dir = bench_dir();
            let base = dir.path().join("g");
            let opts = twinkv_host::Options::new().region_size(region_for(n, 16, 16, 0.25));
            let mut s = twinkv_host::Store::open(&base, opts).expect("open");
            bulk_load(&mut s, n, 16);
            let map: std::collections::HashMap<Vec<u8>, Vec<u8>> = (0..n as u64)
                .map(|i| (key(i).to_vec(), value(i, 16)))
                .collect();
            let keys: Vec<[u8; 16]> = shuffled(n, 9).iter().map(|&i| key(i)).collect();
            let twin = |ks: &[[u8; 16]]| {
                let mut t = 0usize;
                for k in ks {
                    t += s.get(k).expect("get").map_or(0, <[u8]>::len);
                }
                t
            };
            let hash = |ks: &[[u8; 16]]| {
                let mut t = 0usize;
                for k in ks {
                    t += map.get(&k[..]).map_or(0, Vec::len);
                }
                t
            };
            match what {
                "get-file" => assert_eq!(measured(|| twin(&keys)), 16 * n),
                "get-file-again" => {
                    // Every key read twice first: the measured gets find
                    // the fingerprint the second left (see `VecIndex`).
                    for _ in 0..2 {
                        assert_eq!(twin(&keys), 16 * n);
                    }
                    assert_eq!(measured(|| twin(&keys)), 16 * n);
                }
                "get-hashmap" => assert_eq!(measured(|| hash(&keys)), 16 * n),
                _ => {
                    // At least 2M gets a round; 7 rounds of each, interleaved.
                    let reps = (2_000_000 / n).max(1);
                    let (mut ts, mut th) = (Vec::new(), Vec::new());
                    for _ in 0..7 {
                        let t = std::time::Instant::now();
                        for _ in 0..reps {
                            black_box(twin(&keys));
                        }
                        ts.push(t.elapsed().as_nanos() as f64 / (reps * n) as f64);
                        let t = std::time::Instant::now();
                        for _ in 0..reps {
                            black_box(hash(&keys));
                        }
                        th.push(t.elapsed().as_nanos() as f64 / (reps * n) as f64);
                    }
                    let (ms, mh) = (median(&mut ts), median(&mut th));
                    println!(
                        "{n} keys: twinkv get {:.1} / {ms:.1} ns (min / median), HashMap::get {:.1} / {mh:.1} ns, ratio of medians {:.2}",
                        ts[0],
                        th[0],
                        ms / mh
                    );
                }
            }
        }
        "set-file" => {
            // N random-order overwrites of 16 B values in a host store on
            // files of N keys, as the latency table's file rows
            // (`Durability::Default`, 16 B values, live = 25 %).
            let dir = bench_dir();
            let base = dir.path().join("s");
            let opts = twinkv_host::Options::new().region_size(region_for(n, 16, 16, 0.25));
            let mut s = twinkv_host::Store::open(&base, opts).expect("open");
            bulk_load(&mut s, n, 16);
            let keys: Vec<[u8; 16]> = shuffled(n, 9).iter().map(|&i| key(i)).collect();
            let v = value(1, 16);
            // `set-file N ROUNDS`: ROUNDS × N overwrites (default 1): from 3
            // rounds on, the store switches (incrementally) while measured.
            let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
            measured(|| {
                for _ in 0..rounds {
                    for k in &keys {
                        s.set(k, &v).expect("set");
                    }
                }
            });
            eprintln!("switches {}", s.stats().expect("stats").switches);
        }
        "open-file" | "time-open" => {
            // `open-file N [R [close|batch]]`: the log holds R × N records
            // (default 4), as a crash leaves it (no compaction on close); with
            // `close`, the store is closed with compaction on close first;
            // with `batch`, its first N records are `set_many` batches.
            // R may be fractional (`1.9`): the log then holds R × N records.
            let ratio: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4.0);
            let close = args.get(4).map(String::as_str) == Some("close");
            let batch = args.get(4).map(String::as_str) == Some("batch");
            let dir = bench_dir();
            let base = dir.path().join("p");
            // `TWINKV_PROFILE_REGION` (bytes): a larger region, so that no
            // growth switch (which covers what it copies) runs before the
            // open. `TWINKV_PROFILE_REGION=default`: the default options
            // (1 MiB regions that grow, switching into each larger file, as
            // a user's store does).
            let region = std::env::var("TWINKV_PROFILE_REGION").ok();
            let default_options = region.as_deref() == Some("default");
            // `TWINKV_PROFILE_NO_CHECKPOINT=1`: no index checkpoint is
            // written or read (the whole log is replayed, as before them).
            let checkpoint = std::env::var_os("TWINKV_PROFILE_NO_CHECKPOINT").is_none();
            let size = region
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| round512((n as f64 * 40.0 * ratio / 0.75) as u64 + 65_536));
            {
                // A crash: the store is dropped without a close (its writes
                // are in the shared mapping; only the index checkpoints its
                // writes made are there, no close's).
                let mut opts = twinkv_host::Options::new()
                    .index_checkpoint(checkpoint)
                    .sync_on_close(close);
                if !default_options {
                    opts = opts.region_size(size);
                }
                if !close {
                    opts = opts.compact_on_close(None);
                }
                let mut s = twinkv_host::Store::open(&base, opts).expect("open");
                let first = if batch {
                    bulk_load(&mut s, n, 16);
                    n as u64
                } else {
                    0
                };
                // The longest set (one that writes an index checkpoint, or
                // switches).
                let mut longest = 0f64;
                let all = std::time::Instant::now();
                let sets = (ratio * n as f64) as u64 - first;
                for i in first..(ratio * n as f64) as u64 {
                    let t = std::time::Instant::now();
                    s.set(key(i % n as u64), value(i, 16)).expect("set");
                    longest = longest.max(t.elapsed().as_secs_f64());
                }
                eprintln!(
                    "longest set: {:.2} ms; mean {:.0} ns over {sets} sets",
                    longest * 1e3,
                    all.elapsed().as_secs_f64() * 1e9 / sets.max(1) as f64
                );
                let compacts = s.would_compact_on_close();
                let start = std::time::Instant::now();
                if close {
                    s.close().expect("close");
                } else {
                    drop(s);
                }
                eprintln!(
                    "close{}: {:.2} ms",
                    if compacts { " (compacting)" } else { "" },
                    start.elapsed().as_secs_f64() * 1e3
                );
            }
            if what == "time-open" {
                // Wall clock: 7 opens of the same files, each closed without
                // compaction so that every open replays the same log.
                let mut t = Vec::new();
                let mut faults = Vec::new();
                for _ in 0..7 {
                    // Each open left as the first found it: after a crash,
                    // dropped without a close (no checkpoint of its own).
                    let opts = twinkv_host::Options::new()
                        .compact_on_close(None)
                        .index_checkpoint(checkpoint)
                        .sync_on_close(close);
                    let f0 = minor_faults();
                    let start = std::time::Instant::now();
                    let s = twinkv_host::Store::open(&base, opts).expect("open");
                    t.push(start.elapsed().as_secs_f64() * 1e3);
                    faults.push(minor_faults().saturating_sub(f0));
                    assert_eq!(s.len(), n);
                    if close {
                        s.close().expect("close");
                    }
                }
                let m = median(&mut t);
                println!("open of {n} live keys, used {ratio} x live{}: {:.2} / {m:.2} ms (min / median of 7); minor page faults per open {faults:?}", if close { " after a clean close" } else { " after a crash" }, t[0]);
                return;
            }
            // Only the open is measured: the store is dropped (which may
            // compact on close) outside.
            let s = measured(|| {
                let opts = twinkv_host::Options::new()
                    .index_checkpoint(checkpoint)
                    .sync_on_close(false);
                twinkv_host::Store::open(&base, opts).expect("open")
            });
            eprintln!("opened from a checkpoint: {}", s.opened_from_checkpoint());
            assert_eq!(s.len(), n);
            let st = s.stats().expect("stats");
            eprintln!(
                "capacity {} B, used {} B, live {} B, uncovered {} B, generation {}",
                st.capacity, st.used_bytes, st.live_bytes, st.uncovered_bytes, st.generation
            );
        }
        "checkpoint-file" => {
            // `checkpoint-file N`: the close of a file store of N live keys
            // at used = 2 × live, without compaction: its sync and the
            // index checkpoint it writes (none during the sets).
            let dir = bench_dir();
            let base = dir.path().join("p");
            let size = round512((n as f64 * 40.0 * 2.0 / 0.75) as u64 + 65_536);
            let opts = twinkv_host::Options::new()
                .region_size(size as u32)
                .compact_on_close(None)
                .index_checkpoint(false);
            let mut s = twinkv_host::Store::open(&base, opts).expect("open");
            for i in 0..2 * n as u64 {
                s.set(key(i % n as u64), value(i, 16)).expect("set");
            }
            s.close().expect("close");
            let opts = twinkv_host::Options::new().compact_on_close(None);
            let s = twinkv_host::Store::open(&base, opts).expect("open");
            let start = std::time::Instant::now();
            measured(|| s.close().expect("close"));
            eprintln!(
                "close with a checkpoint: {:.2} ms",
                start.elapsed().as_secs_f64() * 1e3
            );
        }
        "compact-file" => {
            // `compact-file N`: one compaction (a switch in one call) of a
            // file store of N live keys at used = 2 × live.
            let dir = bench_dir();
            let base = dir.path().join("p");
            let size = round512((n as f64 * 40.0 * 2.0 / 0.75) as u64 + 65_536);
            let opts = twinkv_host::Options::new()
                .region_size(size)
                .compact_on_close(None);
            let mut s = twinkv_host::Store::open(&base, opts).expect("open");
            for i in 0..(2 * n) as u64 {
                s.set(key(i % n as u64), value(i, 16)).expect("set");
            }
            measured(|| s.compact().expect("compact"));
            assert_eq!(s.len(), n);
        }
        other => panic!("unknown scenario {other}"),
    }
}
