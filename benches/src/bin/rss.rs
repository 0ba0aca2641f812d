//! Memory: peak RSS of a fresh child process per store doing N inserts
//! (16 B keys and values; N = 100,000, 2,000 in quick mode), read from
//! /proc/self/status (VmHWM, RssAnon, RssFile) by the child itself; and the
//! heap bytes per key of twinkv's index (`VecIndex::heap_bytes`).
//!
//!     cargo run --release -p twinkv-benches --bin rss --features peers-host
//!     TWINKV_BENCH_QUICK=1 cargo run --release -p twinkv-benches --bin rss   # CI
use std::process::Command;

use serde_json::json;
use twinkv_benches::*;
use twinkv_host::Options;

fn stores() -> Vec<&'static str> {
    let mut v = vec!["baseline", "twinkv", "hashmap"];
    if cfg!(feature = "peers-host") {
        v.extend(["redb", "mmkv"]);
    }
    v
}

fn child(store: &str, n: usize) {
    let dir = bench_dir();
    let mut region = 0u32;
    // Read while the store is still open.
    let status = match store {
        "baseline" => proc_status_kib(),
        "twinkv" => {
            region = region_for(n, 16, 16, 0.25);
            let mut s =
                twinkv_host::Store::open(dir.path().join("t"), Options::new().region_size(region))
                    .expect("open");
            for i in 0..n as u64 {
                s.set(key(i), value(i, 16)).expect("set");
            }
            s.sync().expect("sync");
            proc_status_kib()
        }
        "hashmap" => {
            let mut m = std::collections::HashMap::new();
            for i in 0..n as u64 {
                m.insert(key(i).to_vec(), value(i, 16));
            }
            std::hint::black_box(&m);
            proc_status_kib()
        }
        #[cfg(feature = "peers-host")]
        "redb" => {
            let t: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");
            let db = redb::Database::create(dir.path().join("r.redb")).expect("redb");
            for i in 0..n as u64 {
                let mut tx = db.begin_write().expect("tx");
                tx.set_durability(redb::Durability::None)
                    .expect("durability");
                {
                    let mut tb = tx.open_table(t).expect("table");
                    tb.insert(&key(i)[..], &value(i, 16)[..]).expect("insert");
                }
                tx.commit().expect("commit");
            }
            proc_status_kib()
        }
        #[cfg(feature = "peers-host")]
        "mmkv" => {
            mmkv::MMKV::set_log_level(mmkv::LogLevel::Off);
            let d = dir.path().join("m");
            std::fs::create_dir_all(&d).expect("dir");
            let kv = mmkv::MMKV::new(d.to_str().expect("utf-8")).expect("mmkv");
            for i in 0..n as u64 {
                let k = key(i);
                kv.put(std::str::from_utf8(&k).expect("ascii"), &value(i, 16)[..])
                    .expect("put");
            }
            proc_status_kib()
        }
        other => panic!("unknown store {other}"),
    };
    let (hwm, _rss, anon, file) = status;
    println!("{hwm} {anon} {file} {region}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = if quick() { 2_000 } else { 100_000 };
    if args.len() >= 3 && args[1] == "child" {
        child(&args[2], n);
        return;
    }
    // Heap bytes per key of the index, at several sizes.
    println!("| live keys | index heap bytes | per key |");
    println!("|---:|---:|---:|");
    let mut index = Vec::new();
    let sizes: &[usize] = if quick() {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    for &k in sizes {
        let mut s = ram_store(region_for(k, 16, 16, 0.5), ram_config());
        for i in 0..k as u64 {
            s.set(&key(i), &value(i, 16)).expect("set");
        }
        let h = s.index().heap_bytes();
        println!("| {k} | {h} | {:.1} |", h as f64 / k as f64);
        index.push(json!({"live_keys": k, "heap_bytes": h, "per_key": h as f64 / k as f64}));
    }
    println!("\npeak RSS of a fresh process doing {n} inserts (16 B keys and values)\n");
    println!("| store | VmHWM (peak RSS) | RssAnon | RssFile | twinkv region size |");
    println!("|---|---:|---:|---:|---:|");
    let me = std::env::current_exe().expect("exe");
    let mut rows = Vec::new();
    for store in stores() {
        let out = Command::new(&me)
            .args(["child", store])
            .output()
            .expect("spawn child");
        assert!(
            out.status.success(),
            "{store}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<u64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let mb = |kib: u64| kib as f64 / 1024.0;
        println!(
            "| {store} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} |",
            mb(v[0]),
            mb(v[1]),
            mb(v[2]),
            if v[3] > 0 {
                format!("2 × {} B", v[3])
            } else {
                "–".into()
            }
        );
        rows.push(json!({"store": store, "vm_hwm_kib": v[0], "rss_anon_kib": v[1], "rss_file_kib": v[2], "region_size": v[3]}));
    }
    save_json("rss", &json!({"inserts": n, "index": index, "rss": rows}));
}
