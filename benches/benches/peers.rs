//! twinkv against what a host user would pick instead, same workload: 16 B
//! keys, 16 B values, 100k live keys (1k in quick mode), random key order.
//!
//! - twinkv-host (files, `Durability::Default` and `SyncEveryWrite`);
//! - with feature `peers-host`: redb (one write transaction per set,
//!   durability `None` and `Immediate`; gets through a fresh and through a
//!   long-lived read transaction) and `mmkv` (pure-Rust MMKV; needs `protoc`);
//! - `std::collections::HashMap` persisted by rewriting a file (temp file,
//!   fsync, rename) on flush.
//!
//! Per store: ns per set and per get (median of 5 rounds of K random keys),
//! the flush/sync after K sets, bytes this process dirtied for storage per
//! set (`write_bytes` of /proc/self/io over K sets and one flush), reopen
//! time (open + first get), page cache warm. Custom harness (the flush and
//! reopen figures need untimed setup between rounds); medians printed as a
//! table and saved to target/bench-results/peers.json.
//!
//!     cargo bench -p twinkv-benches --bench peers --features peers-host
//!     TWINKV_BENCH_QUICK=1 cargo bench -p twinkv-benches --bench peers     # CI
use std::collections::HashMap;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use twinkv_benches::*;
use twinkv_host::{Durability, Options};

trait PeerKv {
    fn set(&mut self, k: &[u8; 16], v: &[u8]);
    fn get(&mut self, k: &[u8; 16]) -> bool;
    /// The durability point (sync / commit / rewrite).
    fn flush(&mut self);
    fn reopen(&mut self);
    /// A get through a long-lived read handle, where the store has one.
    fn get_long_lived(&mut self, _k: &[u8; 16]) -> Option<bool> {
        None
    }
}

struct Twin {
    store: Option<twinkv_host::Store>,
    base: PathBuf,
    opts: Options,
}

impl Twin {
    fn new(dir: &Path, n: usize, d: Durability) -> Self {
        let size = region_for(n, 16, 16, 0.25);
        let opts = Options::new().region_size(size).durability(d);
        let base = dir.join(format!("twinkv-{d:?}"));
        let store = twinkv_host::Store::open(&base, opts.clone()).expect("open");
        Twin {
            store: Some(store),
            base,
            opts,
        }
    }
    fn s(&mut self) -> &mut twinkv_host::Store {
        self.store.as_mut().expect("open")
    }
}

impl PeerKv for Twin {
    fn set(&mut self, k: &[u8; 16], v: &[u8]) {
        self.s().set(k, v).expect("set");
    }
    fn get(&mut self, k: &[u8; 16]) -> bool {
        self.s().get(k).expect("get").is_some()
    }
    fn flush(&mut self) {
        self.s().sync().expect("sync");
    }
    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(twinkv_host::Store::open(&self.base, self.opts.clone()).expect("reopen"));
    }
}

/// A HashMap rewritten to a file (temp + fsync + rename) on flush.
struct FileMap {
    map: HashMap<Vec<u8>, Vec<u8>>,
    path: PathBuf,
}

impl FileMap {
    fn new(dir: &Path) -> Self {
        FileMap {
            map: HashMap::new(),
            path: dir.join("hashmap.bin"),
        }
    }
}

impl PeerKv for FileMap {
    fn set(&mut self, k: &[u8; 16], v: &[u8]) {
        self.map.insert(k.to_vec(), v.to_vec());
    }
    fn get(&mut self, k: &[u8; 16]) -> bool {
        black_box(self.map.get(&k[..])).is_some()
    }
    fn flush(&mut self) {
        let mut buf = Vec::with_capacity(self.map.len() * 40);
        for (k, v) in &self.map {
            buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
            buf.extend_from_slice(k);
            buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
            buf.extend_from_slice(v);
        }
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).expect("create");
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fsync");
        std::fs::rename(&tmp, &self.path).expect("rename");
    }
    fn reopen(&mut self) {
        let b = std::fs::read(&self.path).expect("read");
        let mut m = HashMap::new();
        let mut i = 0;
        let u =
            |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4")) as usize;
        while i < b.len() {
            let kl = u(&b, i);
            let k = b[i + 4..i + 4 + kl].to_vec();
            i += 4 + kl;
            let vl = u(&b, i);
            let v = b[i + 4..i + 4 + vl].to_vec();
            i += 4 + vl;
            m.insert(k, v);
        }
        self.map = m;
    }
}

#[cfg(feature = "peers-host")]
mod peers {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

    pub struct Redb {
        db: Option<redb::Database>,
        path: PathBuf,
        durability: redb::Durability,
        long: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
    }

    impl Redb {
        pub fn new(dir: &Path, durability: redb::Durability) -> Self {
            let path = dir.join(format!("redb-{durability:?}.redb"));
            let db = redb::Database::create(&path).expect("redb create");
            Redb {
                db: Some(db),
                path,
                durability,
                long: None,
            }
        }
        fn db(&self) -> &redb::Database {
            self.db.as_ref().expect("open")
        }
    }

    impl PeerKv for Redb {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) {
            self.long = None;
            let mut tx = self.db().begin_write().expect("begin_write");
            tx.set_durability(self.durability).expect("durability");
            {
                let mut t = tx.open_table(TABLE).expect("table");
                t.insert(&k[..], v).expect("insert");
            }
            tx.commit().expect("commit");
        }
        fn get(&mut self, k: &[u8; 16]) -> bool {
            let tx = self.db().begin_read().expect("begin_read");
            let t = tx.open_table(TABLE).expect("table");
            let r = t.get(&k[..]).expect("get");
            black_box(r.map(|g| g.value().len())).is_some()
        }
        fn get_long_lived(&mut self, k: &[u8; 16]) -> Option<bool> {
            if self.long.is_none() {
                let tx = self.db().begin_read().expect("begin_read");
                self.long = Some(tx.open_table(TABLE).expect("table"));
            }
            let t = self.long.as_ref().expect("table");
            let r = t.get(&k[..]).expect("get");
            Some(black_box(r.map(|g| g.value().len())).is_some())
        }
        fn flush(&mut self) {
            // An empty Immediate commit makes every earlier commit durable.
            self.long = None;
            let mut tx = self.db().begin_write().expect("begin_write");
            tx.set_durability(redb::Durability::Immediate)
                .expect("durability");
            tx.commit().expect("commit");
        }
        fn reopen(&mut self) {
            self.long = None;
            self.db = None;
            self.db = Some(redb::Database::create(&self.path).expect("redb reopen"));
        }
    }

    pub struct Mmkv {
        kv: Option<mmkv::MMKV>,
        dir: String,
    }

    impl Mmkv {
        pub fn new(dir: &Path) -> Self {
            let d = dir.join("mmkv");
            std::fs::create_dir_all(&d).expect("mmkv dir");
            mmkv::MMKV::set_log_level(mmkv::LogLevel::Off);
            let dir = d.to_str().expect("utf-8 path").to_string();
            Mmkv {
                kv: Some(mmkv::MMKV::new(&dir).expect("mmkv")),
                dir,
            }
        }
        fn kv(&self) -> &mmkv::MMKV {
            self.kv.as_ref().expect("open")
        }
    }

    fn s(k: &[u8; 16]) -> &str {
        std::str::from_utf8(k).expect("ascii key")
    }

    impl PeerKv for Mmkv {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) {
            self.kv().put(s(k), v).expect("put");
        }
        fn get(&mut self, k: &[u8; 16]) -> bool {
            black_box(self.kv().get::<Vec<u8>>(s(k))).is_ok()
        }
        fn flush(&mut self) {
            // No sync call in its API: dropping flushes (msync) the mapping.
            self.kv = None;
            self.kv = Some(mmkv::MMKV::new(&self.dir).expect("mmkv"));
        }
        fn reopen(&mut self) {
            self.kv = None;
            self.kv = Some(mmkv::MMKV::new(&self.dir).expect("mmkv"));
        }
    }
}

fn fmt_ns(s: f64) -> String {
    let ns = s * 1e9;
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Loads `n` keys, then measures. `sync_per_op`: every set is durable (few rounds).
fn measure(name: &str, s: &mut dyn PeerKv, n: usize, sync_per_op: bool) -> serde_json::Value {
    let t = Instant::now();
    for i in 0..n as u64 {
        if sync_per_op && i >= 1000 {
            break;
        }
        s.set(&key(i), &value(i, 16));
    }
    s.flush();
    let load = t.elapsed().as_secs_f64();
    let n = if sync_per_op { n.min(1000) } else { n };
    let order = shuffled(n, 5);
    let k = if sync_per_op {
        100
    } else if quick() {
        500
    } else {
        10_000.min(n)
    };
    let rounds = if quick() { 3 } else { 5 };
    let (mut sets, mut gets, mut longs, mut flushes, mut bytes) =
        (vec![], vec![], vec![], vec![], vec![]);
    for r in 0..rounds {
        // Keys and values are built before each timed loop, so the figures
        // are the store's (building a key costs ~15 divisions by 10, a
        // value an allocation; that went into every store's time before).
        let set_ops: Vec<([u8; 16], Vec<u8>)> = (0..k)
            .map(|j| {
                let i = order[(r * k + j) % n];
                (key(i), value(i + r as u64 + 1, 16))
            })
            .collect();
        let get_keys: Vec<[u8; 16]> = (0..k).map(|j| key(order[(r * k + j * 7) % n])).collect();
        let w0 = proc_write_bytes();
        let t = Instant::now();
        for (kk, v) in &set_ops {
            s.set(kk, v);
        }
        sets.push(t.elapsed().as_secs_f64() / k as f64);
        let t = Instant::now();
        s.flush();
        flushes.push(t.elapsed().as_secs_f64());
        bytes.push((proc_write_bytes() - w0) as f64 / k as f64);
        let t = Instant::now();
        for kk in &get_keys {
            assert!(s.get(kk), "{name}: get");
        }
        gets.push(t.elapsed().as_secs_f64() / k as f64);
        if s.get_long_lived(&key(0)).is_some() {
            let t = Instant::now();
            for kk in &get_keys {
                assert_eq!(s.get_long_lived(kk), Some(true));
            }
            longs.push(t.elapsed().as_secs_f64() / k as f64);
        }
    }
    let mut reopens = vec![];
    for _ in 0..rounds {
        let t = Instant::now();
        s.reopen();
        assert!(s.get(&key(order[0])));
        reopens.push(t.elapsed().as_secs_f64());
    }
    let (set, get, flush, b, reopen) = (
        median(&mut sets),
        median(&mut gets),
        median(&mut flushes),
        median(&mut bytes),
        median(&mut reopens),
    );
    let long = if longs.is_empty() {
        None
    } else {
        Some(median(&mut longs))
    };
    println!(
        "| {name} | {n} | {} | {} | {} | {} | {:.0} | {} | {} |",
        fmt_ns(set),
        fmt_ns(get),
        long.map_or("–".into(), fmt_ns),
        fmt_ns(flush),
        b,
        fmt_ns(reopen),
        fmt_ns(load),
    );
    json!({"store": name, "live_keys": n, "set_s": set, "get_s": get, "get_long_lived_s": long,
        "flush_s": flush, "bytes_per_set": b, "reopen_s": reopen, "load_s": load, "ops_per_round": k,
        "sync_per_op": sync_per_op})
}

// Rows are pushed under `cfg`s: `vec![]` cannot hold them all.
#[allow(clippy::vec_init_then_push)]
fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = if quick() { 1_000 } else { 100_000 };
    let dir = bench_dir();
    println!(
        "peers: 16 B keys and values, random key order; twinkv region size {} B",
        region_for(n, 16, 16, 0.25)
    );
    if !cfg!(feature = "peers-host") {
        println!("(redb and mmkv: build with --features peers-host)");
    }
    println!("\n| store | live keys | set | get | get, long-lived read txn | flush after K sets | bytes written / set | reopen + first get | bulk load |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    rows.push(measure(
        "twinkv (Default)",
        &mut Twin::new(dir.path(), n, Durability::Default),
        n,
        false,
    ));
    rows.push(measure(
        "twinkv (SyncEveryWrite)",
        &mut Twin::new(dir.path(), n, Durability::SyncEveryWrite),
        n,
        true,
    ));
    #[cfg(feature = "peers-host")]
    {
        rows.push(measure(
            "redb (None)",
            &mut peers::Redb::new(dir.path(), redb::Durability::None),
            n,
            false,
        ));
        rows.push(measure(
            "redb (Immediate)",
            &mut peers::Redb::new(dir.path(), redb::Durability::Immediate),
            n,
            true,
        ));
        rows.push(measure("mmkv", &mut peers::Mmkv::new(dir.path()), n, false));
    }
    rows.push(measure(
        "HashMap + rewrite on flush",
        &mut FileMap::new(dir.path()),
        n,
        false,
    ));
    save_json("peers", &json!({"rows": rows}));
}
