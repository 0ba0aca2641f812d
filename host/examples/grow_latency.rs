//! The slowest single `set` while a store grows: N distinct 16-byte keys with
//! 16-byte values (40-byte records; default N = 200,000, `N` in the
//! environment) into a store created at the default 1 MiB with growth on,
//! then N overwrites of the same keys at random. Prints every set that grew
//! a region file or switched regions, slower than 1 ms, and a summary: the
//! slowest set overall, the slowest that switched without growing, and the
//! slowest that changed a region's size.
//!
//! `cargo run --release -p twinkv-host --no-default-features --example grow_latency`
//! (the files go to a temporary directory under `TMPDIR`).
use std::time::{Duration, Instant};

use twinkv_host::{Options, Store};

fn main() {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("grow");
    let mut s = Store::open(&base, Options::new().auto_grow(true)).unwrap();
    let mut worst = (Duration::ZERO, 0u64);
    let mut worst_switch = (Duration::ZERO, 0u64);
    let mut worst_grow = (Duration::ZERO, 0u64);
    let mut total = Duration::ZERO;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..2 * n {
        let k = if i < n {
            i
        } else {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let key = format!("key-{k:012}");
        let value = format!("val-{i:012}");
        let before = (s.region_sizes(), s.stats().unwrap().switches);
        let t = Instant::now();
        s.set(&key, &value).unwrap();
        let dt = t.elapsed();
        total += dt;
        let after = (s.region_sizes(), s.stats().unwrap().switches);
        let grew = before.0 != after.0;
        let switched = before.1 != after.1;
        if dt > worst.0 {
            worst = (dt, i);
        }
        if grew && dt > worst_grow.0 {
            worst_grow = (dt, i);
        }
        if switched && !grew && dt > worst_switch.0 {
            worst_switch = (dt, i);
        }
        if grew || switched || dt > Duration::from_millis(1) {
            let st = s.stats().unwrap();
            println!(
                "set {i:>7}: {:>8.3} ms  regions {:?} -> {:?}{}  live {} B",
                dt.as_secs_f64() * 1e3,
                before.0,
                after.0,
                if switched { "  switch" } else { "" },
                st.live_bytes
            );
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} sets, {:.2} µs mean; slowest set {:.3} ms (#{}); slowest switch without growth {:.3} ms (#{}); slowest set that changed a region size {:.3} ms (#{}); final regions {:?}",
        2 * n,
        total.as_secs_f64() * 1e6 / (2 * n) as f64,
        ms(worst.0),
        worst.1,
        ms(worst_switch.0),
        worst_switch.1,
        ms(worst_grow.0),
        worst_grow.1,
        s.region_sizes()
    );
}
