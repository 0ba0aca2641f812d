//! The slowest single `set`s of the host RAM overwrite workload, each with
//! the store's state around it: which `set` of a switch's life they are.
//!
//! `cargo run --release -p twinkv-benches --bin slowest [LIVE [SETS [TOP [new|mixed]]]]`
//! (defaults 100000, 500000, 15): LIVE keys of 16 B with 16 B values on a
//! RAM store (regions sized as `latency host` sizes them), then SETS
//! overwrites of random keys (with `new`: SETS new keys, which grow the
//! index; with `mixed`: a new key every other `set`, an overwrite of a
//! random one of the first LIVE keys between, in regions sized for 4 ×
//! LIVE), one `Instant` pair per `set`. Prints the TOP
//! slowest: nanoseconds, the `set`'s number, whether a switch was copying
//! before and after it, switches so far, erase units pending, bytes the
//! switch under way had left to copy, used bytes. With
//! `TWINKV_SHOW_SETS=N,M,...` it first prints the rows of those `set`s
//! (e.g. the one whose insert ends an index growth's move: in `mixed` mode
//! from 100,000 keys, `set`s 45,758 and 291,518).

use std::time::Instant;

use twinkv_benches::{key, ram_config, ram_store, region_for, value};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let new_keys = args.last().is_some_and(|a| a == "new");
    let mixed = args.last().is_some_and(|a| a == "mixed");
    if new_keys || mixed {
        args.pop();
    }
    let args: Vec<usize> = args
        .iter()
        .map(|a| {
            a.parse()
                .expect("usage: slowest [LIVE [SETS [TOP [new|mixed]]]]")
        })
        .collect();
    let live = args.first().copied().unwrap_or(100_000);
    let sets = args.get(1).copied().unwrap_or(500_000);
    let top = args.get(2).copied().unwrap_or(15);
    let sized_for = if mixed { live * 4 } else { live };
    let mut s = ram_store(region_for(sized_for, 16, 16, 0.25), ram_config());
    for i in 0..live as u64 {
        s.set(&key(i), &value(i, 16)).expect("set");
    }
    let vals: Vec<Vec<u8>> = (0..64).map(|i| value(i + 99, 16)).collect();
    // xorshift64: the key of each `set`.
    let mut x: u64 = 0x1A7E;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut rows = Vec::with_capacity(sets);
    for i in 0..sets {
        let k = if mixed && i % 2 == 0 {
            key((live + i / 2) as u64)
        } else if new_keys {
            key((live + i) as u64)
        } else {
            key(next() % live as u64)
        };
        let copying_before = s.stats().switching;
        let t = Instant::now();
        s.set(&k, &vals[i % 64]).expect("set");
        let ns = t.elapsed().as_nanos();
        let st = s.stats();
        rows.push((
            ns,
            i,
            copying_before,
            st.switching,
            st.switches,
            st.erase_pending,
            st.switch_pending,
            st.used_bytes,
        ));
    }
    if let Ok(show) = std::env::var("TWINKV_SHOW_SETS") {
        for n in show
            .split(',')
            .filter_map(|n| n.trim().parse::<usize>().ok())
        {
            if let Some(r) = rows.get(n) {
                println!("set {n}: {r:?}");
            }
        }
    }
    rows.sort_unstable();
    println!("ns, set, copying before, copying after, switches, erase units pending, bytes left to copy, used bytes");
    for r in rows.iter().rev().take(top) {
        println!("{r:?}");
    }
}
