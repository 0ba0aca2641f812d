//! The design's headline: the in-memory switch against a naive switch that
//! re-scans and re-parses the whole journal before compacting; open/recovery
//! time against used bytes; the longest single `set` (a switch) against the
//! live data size.
//!
//! Not criterion: each point needs a large untimed setup (a copy of the
//! regions), so this harness times only the measured part, `reps` times, and
//! prints medians (tables in BENCHMARKS.md; JSON in target/bench-results).
//!
//! The baseline is built on the same format and the same code: the regions
//! are reopened (core's `Store::open`: the full scan of both regions' header
//! areas and the replay of every record of the active log, with every check
//! verified, into a fresh index), then compacted. That is what a switch costs
//! without an index kept in memory: the whole journal is read and parsed
//! again, then the live records are copied. Core's scan is the optimised one
//! (no per-record allocation), so the baseline is a conservative one.
//!
//!     cargo bench -p twinkv-benches --bench switch
//!     TWINKV_BENCH_QUICK=1 cargo bench -p twinkv-benches --bench switch   # CI
use std::time::{Duration, Instant};

use serde_json::json;
use twinkv_benches::*;
use twinkv_host::{Durability, Options};

fn reps(live: usize) -> usize {
    if quick() {
        3
    } else if live >= 100_000 {
        9
    } else {
        21
    }
}

fn live_counts() -> Vec<usize> {
    if quick() {
        vec![1_000]
    } else {
        vec![1_000, 10_000, 100_000]
    }
}

fn ratios() -> Vec<f64> {
    if quick() {
        vec![4.0]
    } else {
        vec![1.5, 2.0, 4.0, 8.0]
    }
}

/// In-memory switch vs reopen + switch, on RamRegion (no durability).
fn ram_headline(out: &mut Vec<serde_json::Value>) {
    println!("\n## switch on RamRegion (durability: none), 16 B keys, 16 B values");
    println!("| live keys | used/live | region size | live bytes | used bytes | in-memory switch | re-scan + switch | ratio | bound 1+used/live |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &live in &live_counts() {
        for &r in &ratios() {
            if live == 100_000 && r > 4.0 && !long() {
                continue;
            }
            let s = ram_store_with_history(live, 16, r);
            let st = s.stats();
            let cfg = ram_config();
            let (a, b, _, _) = s.into_parts();
            let n = reps(live);
            let inmem = median_secs(n, || {
                let mut s = ram_reopen(a.clone(), b.clone(), cfg);
                let t = Instant::now();
                s.compact().expect("compact");
                t.elapsed()
            });
            let rescan = median_secs(n, || {
                let (a, b) = (a.clone(), b.clone());
                let t = Instant::now();
                let mut s = ram_reopen(a, b, cfg);
                s.compact().expect("compact");
                t.elapsed()
            });
            let used_live = f64::from(st.used_bytes) / f64::from(st.live_bytes);
            println!(
                "| {live} | {used_live:.2} | {} | {} | {} | {} | {} | {:.2}× | {:.2} |",
                a_size(&a),
                st.live_bytes,
                st.used_bytes,
                fmt_secs(inmem),
                fmt_secs(rescan),
                rescan / inmem,
                1.0 + used_live
            );
            out.push(
                json!({"medium": "ram", "live_keys": live, "used_over_live": used_live,
                "region_size": a_size(&a), "live_bytes": st.live_bytes, "used_bytes": st.used_bytes,
                "inmem_s": inmem, "rescan_s": rescan, "ratio": rescan / inmem}),
            );
        }
    }
}

fn a_size(a: &twinkv_core::RamRegion<Vec<u8>>) -> u32 {
    use twinkv_core::Region;
    a.geometry().size
}

fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.1} µs", s * 1e6)
    } else {
        format!("{:.0} ns", s * 1e9)
    }
}

/// A file store at `dir/base` with `live` keys and used ≈ `r` × live, synced
/// and closed. Returns (region size, live bytes, used bytes).
fn file_store_with_history(base: &std::path::Path, live: usize, r: f64) -> (u32, u32, u32) {
    let rec = f64::from(record_len(16, 16));
    let size = round512((live as f64 * rec * r / 0.75) as u64 + 65_536);
    let mut s = twinkv_host::Store::open(base, Options::new().region_size(size)).expect("open");
    let total = (live as f64 * r).round() as u64;
    for i in 0..total {
        s.set(key(i % live as u64), value(i, 16)).expect("set");
    }
    s.sync().expect("sync");
    let st = s.stats().expect("stats");
    assert_eq!(st.switches, 0);
    (size, st.live_bytes, st.used_bytes)
}

fn copy_pair(from: &std::path::Path, to: &std::path::Path) {
    let (fa, fb) = twinkv_host::region_paths(from);
    let (ta, tb) = twinkv_host::region_paths(to);
    let _ = std::fs::remove_file(&ta);
    let _ = std::fs::remove_file(&tb);
    std::fs::copy(fa, ta).expect("copy a");
    std::fs::copy(fb, tb).expect("copy b");
}

/// Same on memory-mapped files; a switch syncs before and after its commit.
fn file_headline(out: &mut Vec<serde_json::Value>) {
    println!("\n## switch on files (memory-mapped, msync + fdatasync around the commit), 16 B keys, 16 B values");
    println!("| live keys | used/live | region size | in-memory switch | reopen (re-scan) + switch | ratio | of which reopen |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let dir = bench_dir();
    for &live in &live_counts() {
        let r = 4.0;
        let tpl = dir.path().join(format!("tpl{live}"));
        let (size, live_b, used_b) = file_store_with_history(&tpl, live, r);
        let work = dir.path().join("work");
        let n = reps(live);
        let inmem = median_secs(n, || {
            copy_pair(&tpl, &work);
            let mut s = twinkv_host::Store::open(&work, Options::new()).expect("open");
            let t = Instant::now();
            s.compact().expect("compact");
            t.elapsed()
        });
        let mut opens = Vec::new();
        let rescan = median_secs(n, || {
            copy_pair(&tpl, &work);
            let t = Instant::now();
            let mut s = twinkv_host::Store::open(&work, Options::new()).expect("open");
            opens.push(t.elapsed().as_secs_f64());
            s.compact().expect("compact");
            t.elapsed()
        });
        let open = median(&mut opens);
        let used_live = f64::from(used_b) / f64::from(live_b);
        println!(
            "| {live} | {used_live:.2} | {size} | {} | {} | {:.2}× | {} |",
            fmt_secs(inmem),
            fmt_secs(rescan),
            rescan / inmem,
            fmt_secs(open)
        );
        out.push(
            json!({"medium": "file", "live_keys": live, "used_over_live": used_live,
            "region_size": size, "live_bytes": live_b, "used_bytes": used_b,
            "inmem_s": inmem, "rescan_s": rescan, "reopen_s": open, "ratio": rescan / inmem}),
        );
    }
}

/// Open/recovery time vs used bytes, on files (page cache warm).
fn open_recovery(out: &mut Vec<serde_json::Value>) {
    println!("\n## open/recovery on files (page cache warm), 16 B keys, 16 B values");
    println!("| live keys | used/live | region size | used bytes | records in log | open | records/s | MB/s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let dir = bench_dir();
    for &live in &live_counts() {
        for r in [1.0, 4.0] {
            let base = dir.path().join(format!("open{live}_{r}"));
            let (size, _, used_b) = file_store_with_history(&base, live, r);
            if r == 1.0 {
                // used = live: compact once (the log holds live records only).
                let mut s = twinkv_host::Store::open(&base, Options::new()).expect("open");
                s.compact().expect("compact");
            }
            let used_b = if r == 1.0 {
                twinkv_host::Store::open(&base, Options::new())
                    .expect("open")
                    .stats()
                    .expect("stats")
                    .used_bytes
            } else {
                used_b
            };
            let records = u64::from(used_b) / u64::from(record_len(16, 16));
            let t = median_secs(reps(live), || {
                let t = Instant::now();
                let s = twinkv_host::Store::open(&base, Options::new()).expect("open");
                let d = t.elapsed();
                assert_eq!(s.len(), live);
                d
            });
            println!(
                "| {live} | {r:.0} | {size} | {used_b} | {records} | {} | {:.1} M | {:.0} |",
                fmt_secs(t),
                records as f64 / t / 1e6,
                f64::from(used_b) / t / 1e6
            );
            out.push(
                json!({"live_keys": live, "used_over_live": r, "region_size": size,
                "used_bytes": used_b, "records": records, "open_s": t}),
            );
        }
    }
}

/// Per-`set` latency at N live keys: median (between switches), p99, max
/// (a switch), mean (amortised), on RAM and on files.
fn set_latency(out: &mut Vec<serde_json::Value>) {
    println!("\n## single `set` latency (overwrites of random live keys, 16 B values), region sized for live = 25 % of it");
    println!("| medium | live keys | region size | sets | switches | median | p99 | max (longest set) | mean (amortised) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let dir = bench_dir();
    for &live in &live_counts() {
        let size = region_for(live, 16, 16, 0.25);
        let ops = if quick() {
            5_000
        } else {
            (live * 6).max(200_000)
        };
        let order = shuffled(live, 3);
        for medium in ["ram", "file"] {
            let mut lat = Vec::with_capacity(ops);
            let switches = match medium {
                "ram" => {
                    let mut s = ram_store(size, ram_config());
                    for i in 0..live as u64 {
                        s.set(&key(i), &value(i, 16)).expect("set");
                    }
                    let sw0 = s.stats().switches;
                    for i in 0..ops {
                        let k = key(order[i % live]);
                        let v = value(i as u64, 16);
                        let t = Instant::now();
                        s.set(&k, &v).expect("set");
                        lat.push(t.elapsed());
                    }
                    s.stats().switches - sw0
                }
                _ => {
                    let base = dir.path().join(format!("lat{live}"));
                    let mut s = twinkv_host::Store::open(
                        &base,
                        Options::new()
                            .region_size(size)
                            .durability(Durability::Default),
                    )
                    .expect("open");
                    bulk_load(&mut s, live, 16);
                    let sw0 = s.stats().expect("stats").switches;
                    for i in 0..ops {
                        let k = key(order[i % live]);
                        let v = value(i as u64, 16);
                        let t = Instant::now();
                        s.set(k, &v).expect("set");
                        lat.push(t.elapsed());
                    }
                    s.stats().expect("stats").switches - sw0
                }
            };
            let total: Duration = lat.iter().sum();
            let mut xs: Vec<f64> = lat.iter().map(Duration::as_secs_f64).collect();
            let med = median(&mut xs);
            let p99 = xs[(xs.len() * 99 / 100).min(xs.len() - 1)];
            let max = *xs.last().expect("ops");
            let mean = total.as_secs_f64() / ops as f64;
            println!(
                "| {medium} | {live} | {size} | {ops} | {switches} | {} | {} | {} | {} |",
                fmt_secs(med),
                fmt_secs(p99),
                fmt_secs(max),
                fmt_secs(mean)
            );
            out.push(
                json!({"medium": medium, "live_keys": live, "region_size": size, "ops": ops,
                "switches": switches, "median_s": med, "p99_s": p99, "max_s": max, "mean_s": mean}),
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; criterion-style filters are not supported.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "switch benches ({} mode)",
        if quick() { "quick" } else { "full" }
    );
    let mut headline = Vec::new();
    ram_headline(&mut headline);
    file_headline(&mut headline);
    let mut open = Vec::new();
    open_recovery(&mut open);
    let mut lat = Vec::new();
    set_latency(&mut lat);
    save_json(
        "switch",
        &json!({"headline": headline, "open": open, "set_latency": lat}),
    );
}
