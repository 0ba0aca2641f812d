//! Embedded comparison on the flash simulator: 16 pages of 4 KiB, write unit
//! 4 bytes, 16-byte keys. twinkv (regions A and B = the two 8-page halves,
//! high-water 0.8 / max-fill 0.9; 1.0 / 1.0, measured until 2026-11-30, is
//! refused since: `ConfigError::NoHeadroom`), and with feature
//! `peers-embedded` sequential-storage's `map` (uncached, and with its
//! page-state, page-pointer and key-pointer caches) and ekv (CRC on), all on
//! the same `SimFlash` behind the same counting wrapper (`embkv::Metered`).
//!
//! Workloads: 32 settings of 16 B updated 20,000 times; 4 counters of 4 B
//! updated 50,000 times; fill with 64 B values until full, then read all;
//! then the cost of one rejected write and whether a remove succeeds.
//!
//!     cargo run --release -p twinkv-benches --bin embedded --features peers-embedded
//!     TWINKV_BENCH_QUICK=1 cargo run --release -p twinkv-benches --bin embedded   # CI, twinkv only
use std::time::Instant;

use serde_json::json;
#[cfg(feature = "peers-embedded")]
use twinkv_benches::embkv::{ekv, seq_cached, seq_uncached};
use twinkv_benches::embkv::{metered_sim, EmbKv, Meter, Twin, PAGE, PAGES};
use twinkv_benches::{key, quick, save_json, value};

const DEVICE: u32 = (PAGE * PAGES) as u32;

fn diff(a: Meter, b: Meter) -> Meter {
    b.since(a)
}

/// `keys` keys of `vlen` bytes, inserted, then `updates` updates round-robin,
/// then `keys × 20` gets. Returns the row.
fn updates<S: EmbKv>(
    s: &mut S,
    name: &str,
    wl: &str,
    keys: u64,
    vlen: usize,
    updates: u64,
) -> serde_json::Value {
    for i in 0..keys {
        assert!(s.set(&key(i), &value(i, vlen)), "{name}: initial set");
    }
    let vals: Vec<Vec<u8>> = (0..64).map(|i| value(i + 7, vlen)).collect();
    // Warm-up to the steady state: updates until 4 × the device's bytes were
    // programmed (the first pass over an erased device costs no erases).
    let device = (PAGE * PAGES) as u64;
    let w0 = s.meter().bytes_programmed;
    let mut i = 0u64;
    while s.meter().bytes_programmed - w0 < 4 * device {
        assert!(
            s.set(&key(i % keys), &vals[(i % 64) as usize]),
            "{name}: warm-up rejected"
        );
        i += 1;
    }
    let s0 = s.meter();
    let t = Instant::now();
    for i in 0..updates {
        assert!(
            s.set(&key(i % keys), &vals[(i % 64) as usize]),
            "{name}: update {i} rejected"
        );
    }
    let el = t.elapsed().as_secs_f64();
    let d = diff(s0, s.meter());
    let mut buf = [0u8; 64];
    let gets = keys * 20;
    let g0 = s.meter();
    let t = Instant::now();
    for i in 0..gets {
        let n = s.get(&key(i % keys), &mut buf).expect("present");
        assert_eq!(n, vlen);
    }
    let gel = t.elapsed().as_secs_f64();
    let gd = diff(g0, s.meter());
    let u = updates as f64;
    let payload = (16 + vlen) as f64;
    let row = json!({
        "workload": wl, "store": name, "updates": updates,
        "programmed_per_update": d.bytes_programmed as f64 / u,
        "read_per_update": d.bytes_read as f64 / u,
        "erases_per_1000": d.erase_units as f64 * 1000.0 / u,
        "write_amplification": d.bytes_programmed as f64 / u / payload,
        "ns_per_update": el * 1e9 / u,
        "read_per_get": gd.bytes_read as f64 / gets as f64,
        "ns_per_get": gel * 1e9 / gets as f64,
    });
    println!(
        "| {wl} | {name} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.0} |",
        d.bytes_programmed as f64 / u,
        d.bytes_read as f64 / u,
        d.erase_units as f64 * 1000.0 / u,
        d.bytes_programmed as f64 / u / payload,
        el * 1e9 / u,
        gd.bytes_read as f64 / gets as f64,
        gel * 1e9 / gets as f64
    );
    row
}

/// Fill with 64 B values until full, read all back, then one rejected write
/// and one remove.
fn fill<S: EmbKv>(s: &mut S, name: &str, bound: f64) -> serde_json::Value {
    let mut n = 0u64;
    let t = Instant::now();
    while s.set(&key(n), &value(n, 64)) {
        n += 1;
        assert!(n < 10_000);
    }
    let fill_s = t.elapsed().as_secs_f64();
    let live = s.live();
    // The first rejected write above may have done work (e.g. a last
    // compaction); measure the next rejected write alone.
    let r0 = s.meter();
    let rejected = s.set(&key(n + 1), &value(n + 1, 64));
    let rd = diff(r0, s.meter());
    assert!(!rejected, "{name}: second write at full accepted");
    let mut buf = [0u8; 64];
    let g0 = s.meter();
    let t = Instant::now();
    for i in 0..n {
        assert_eq!(s.get(&key(i), &mut buf), Some(64), "{name}: key {i}");
        assert_eq!(&buf[..], &value(i, 64)[..]);
    }
    let gel = t.elapsed().as_secs_f64();
    let gd = diff(g0, s.meter());
    let removed = s.remove(&key(0));
    let after_remove = removed && s.get(&key(0), &mut buf).is_none();
    let payload = n as f64 * 80.0;
    println!(
        "| {name} | {n} | {payload:.0} | {:.1} % | {:.1} | {:.0} | {} / {} / {} | {} | {:.0} |",
        payload / bound * 100.0,
        gd.bytes_read as f64 / n as f64,
        gel * 1e9 / n as f64,
        rd.erase_units,
        rd.bytes_programmed,
        rd.bytes_read,
        if after_remove { "yes" } else { "no" },
        fill_s * 1e9 / n as f64,
    );
    if let Some((l, limit)) = live {
        println!("|  ↳ twinkv live bytes {l} of fill limit {limit} (capacity × max-fill): {} B short, one record = 88 B | | | | | | | | |", limit - l);
    }
    json!({"store": name, "max_keys": n, "payload_bytes": payload, "share_of_bound": payload / bound,
        "read_per_get": gd.bytes_read as f64 / n as f64, "ns_per_get": gel * 1e9 / n as f64,
        "rejected_erases": rd.erase_units, "rejected_programmed": rd.bytes_programmed,
        "rejected_read": rd.bytes_read, "remove_at_full": after_remove,
        "twinkv_live_bytes": live.map(|l| l.0), "twinkv_fill_limit": live.map(|l| l.1), "ns_per_fill_set": fill_s * 1e9 / n as f64})
}

macro_rules! each_store {
    ($f:ident, $($arg:expr),*) => {{
        #[allow(clippy::vec_init_then_push)] // rows are pushed under `cfg`s
        let mut rows = Vec::new();
        let half = DEVICE / 2;
        // "twinkv hw1.0" (1.0 / 1.0) was a row until max-fill 1.0 became
        // invalid (`ConfigError::NoHeadroom`).
        for (name, hw, mf) in [("twinkv hw0.8", 8000, 9000)] {
            let cell = metered_sim::<4, PAGE>(DEVICE, false);
            let mut s = Twin::new(&cell, 0..half, half..DEVICE, hw, mf);
            rows.push($f(&mut s, name, $($arg),*));
        }
        #[cfg(feature = "peers-embedded")]
        {
            {
                let cell = metered_sim::<4, PAGE>(DEVICE, true);
                let mut s = seq_uncached(&cell);
                rows.push($f(&mut s, "seq-storage", $($arg),*));
            }
            {
                let cell = metered_sim::<4, PAGE>(DEVICE, true);
                let mut s = seq_cached::<_, PAGES>(&cell);
                rows.push($f(&mut s, "seq-storage+cache", $($arg),*));
            }
            {
                let cell = metered_sim::<4, PAGE>(DEVICE, false);
                let mut s = ekv(&cell);
                rows.push($f(&mut s, "ekv", $($arg),*));
            }
        }
        rows
    }};
}

fn main() {
    let q = quick();
    let (n1, n2) = if q { (2_000, 5_000) } else { (20_000, 50_000) };
    println!("flash simulator: {PAGES} pages × {PAGE} B, write unit 4 B; twinkv regions = 2 × 8 pages (32 KiB)");
    if !cfg!(feature = "peers-embedded") {
        println!(
            "(twinkv only: build with --features peers-embedded for sequential-storage and ekv)"
        );
    }
    println!("\n| workload | store | B programmed / update | B read / update | erases / 1000 updates | write ampl. | ns / update | B read / get | ns / get |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    rows.extend(each_store!(updates, "32×16B", 32, 16, n1));
    rows.extend(each_store!(updates, "4×4B", 4, 4, n2));
    // Bound: one region of live data (A/B) = 32 KiB of record space minus
    // the header area; reported against the whole 64 KiB device for the
    // peers too, for the same payload.
    let twin_region = (PAGE * PAGES / 2) as f64;
    println!("\nfill with 16 B keys + 64 B values until full (payload = keys × 80 B; share of one 32 KiB region)");
    println!("\n| store | max keys | payload B | payload / 32 KiB | B read / get | ns / get | rejected write: erases / B programmed / B read | remove at full | ns / set while filling |");
    println!("|---|---:|---:|---:|---:|---:|---|---|---:|");
    let full = each_store!(fill, twin_region);
    save_json("embedded", &json!({"updates": rows, "fill": full}));
}
