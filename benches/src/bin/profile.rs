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
//! `open-file N` (open of a file store of N live keys, used = 4 × live).
use std::hint::black_box;

use twinkv_benches::*;

#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
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
        "open-file" => {
            let dir = bench_dir();
            let base = dir.path().join("p");
            let size = round512((n as f64 * 40.0 * 4.0 / 0.75) as u64 + 65_536);
            {
                let mut s =
                    twinkv_host::Store::open(&base, twinkv_host::Options::new().region_size(size))
                        .expect("open");
                for i in 0..(4 * n) as u64 {
                    s.set(key(i % n as u64), value(i, 16)).expect("set");
                }
                s.sync().expect("sync");
            }
            measured(|| {
                twinkv_host::Store::open(&base, twinkv_host::Options::new())
                    .expect("open")
                    .len()
            });
        }
        other => panic!("unknown scenario {other}"),
    }
}
