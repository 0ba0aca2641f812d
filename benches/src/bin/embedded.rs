//! Embedded comparison on the flash simulator: 16 pages of 4 KiB, write unit
//! 4 bytes, 16-byte keys. twinkv (regions A and B = the two 8-page halves,
//! high-water 0.8 / max-fill 0.9 and 1.0 / 1.0), and with feature
//! `peers-embedded` sequential-storage's `map` (uncached, and with its
//! page-state, page-pointer and key-pointer caches) and ekv (CRC on), all on
//! the same `SimFlash` and so the same counters.
//!
//! Workloads: 32 settings of 16 B updated 20,000 times; 4 counters of 4 B
//! updated 50,000 times; fill with 64 B values until full, then read all;
//! then the cost of one rejected write and whether a remove succeeds.
//!
//!     cargo run --release -p twinkv-benches --bin embedded --features peers-embedded
//!     TWINKV_BENCH_QUICK=1 cargo run --release -p twinkv-benches --bin embedded   # CI, twinkv only
use std::cell::RefCell;
use std::time::Instant;

use serde_json::json;
use twinkv_benches::{key, quick, save_json, value};
use twinkv_core::{
    Config, Error as KvError, FixedIndex, SharedFlashRegion, SimFlash, SimStats, Store,
};

const PAGE: usize = 4096;
const PAGES: usize = 16;
type Sim = SimFlash<Vec<u8>, 4, PAGE>;

fn sim() -> Sim {
    let size = (PAGE * PAGES) as u32;
    Sim::new(vec![0; Sim::storage_len(size)], size).expect("sim")
}

/// One store under test on a shared simulator.
trait EmbKv {
    /// `Ok(false)`: rejected because the store is full.
    fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool;
    fn get(&mut self, k: &[u8; 16], buf: &mut [u8]) -> Option<usize>;
    /// Whether the remove succeeded.
    fn remove(&mut self, k: &[u8; 16]) -> bool;
    fn stats(&self) -> SimStats;
    /// twinkv only: (live bytes, fill limit) of the store.
    fn live(&self) -> Option<(u32, u32)> {
        None
    }
}

type TwinRegion<'a> = SharedFlashRegion<'a, Sim>;
struct Twin<'a> {
    store: Store<TwinRegion<'a>, FixedIndex<1024>, Vec<u8>>,
    cell: &'a RefCell<Sim>,
}

impl<'a> Twin<'a> {
    fn new(cell: &'a RefCell<Sim>, hw: u16, mf: u16) -> Self {
        let cfg = Config::new(0xE3B).with_limits(16, 64).with_ratios(hw, mf);
        let (a, b) = SharedFlashRegion::halves(cell, 0, (PAGE * PAGES) as u32).expect("halves");
        let scratch =
            vec![0; Store::<TwinRegion<'a>, FixedIndex<1024>, Vec<u8>>::scratch_len(&cfg, 4)];
        let store = Store::open(a, b, FixedIndex::new(), scratch, cfg).expect("open");
        Twin { store, cell }
    }
}

impl EmbKv for Twin<'_> {
    fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool {
        match self.store.set(k, v) {
            Ok(()) => true,
            Err(KvError::Full) => false,
            Err(e) => panic!("twinkv set: {e:?}"),
        }
    }
    fn get(&mut self, k: &[u8; 16], buf: &mut [u8]) -> Option<usize> {
        self.store.get(k, buf).expect("twinkv get")
    }
    fn remove(&mut self, k: &[u8; 16]) -> bool {
        self.store.delete(k).is_ok()
    }
    fn stats(&self) -> SimStats {
        self.cell.borrow().stats()
    }
    fn live(&self) -> Option<(u32, u32)> {
        let st = self.store.stats();
        Some((st.live_bytes, st.fill_limit))
    }
}

#[cfg(feature = "peers-embedded")]
mod peers {
    use super::*;
    use embassy_futures::block_on;
    use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    use sequential_storage::cache::key_pointers::ArrayKeyPointers;
    use sequential_storage::cache::page_pointers::ArrayPagePointers;
    use sequential_storage::cache::page_states::ArrayPageStates;
    use sequential_storage::cache::{Cache, CacheImpl};
    use sequential_storage::map::{MapConfig, MapStorage};
    use twinkv_benches::flash_peers::{AsyncFlash, EkvFlash};

    pub struct Seq<'a, C: CacheImpl<[u8; 16]>> {
        map: MapStorage<[u8; 16], AsyncFlash<'a>, C>,
        cell: &'a RefCell<Sim>,
        buf: [u8; 128],
    }

    pub type KeyCache = Cache<
        ArrayPageStates<PAGES>,
        ArrayPagePointers<PAGES>,
        ArrayKeyPointers<[u8; 16], 1024>,
        [u8; 16],
    >;

    pub fn seq_uncached(
        cell: &RefCell<Sim>,
    ) -> Seq<
        '_,
        Cache<
            sequential_storage::cache::Uncached,
            sequential_storage::cache::Uncached,
            sequential_storage::cache::Uncached,
            [u8; 16],
        >,
    > {
        Seq::new(cell, Cache::new_uncached())
    }

    pub fn seq_cached(cell: &RefCell<Sim>) -> Seq<'_, KeyCache> {
        Seq::new(
            cell,
            Cache::new(
                ArrayPageStates::new(),
                ArrayPagePointers::new(),
                ArrayKeyPointers::new(),
            ),
        )
    }

    impl<'a, C: CacheImpl<[u8; 16]>> Seq<'a, C> {
        fn new(cell: &'a RefCell<Sim>, cache: C) -> Self {
            // remove_item rewrites a word in place (MultiwriteNorFlash).
            cell.borrow_mut().set_reprogram(twinkv_core::Reprogram::And);
            let cfg = MapConfig::new(0..(PAGE * PAGES) as u32);
            Seq {
                map: MapStorage::new(AsyncFlash(cell), cfg, cache),
                cell,
                buf: [0; 128],
            }
        }
    }

    impl<C: CacheImpl<[u8; 16]>> EmbKv for Seq<'_, C> {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool {
            match block_on(self.map.store_item(&mut self.buf, k, &v)) {
                Ok(()) => true,
                Err(sequential_storage::Error::FullStorage) => false,
                Err(e) => panic!("sequential-storage store: {e:?}"),
            }
        }
        fn get(&mut self, k: &[u8; 16], out: &mut [u8]) -> Option<usize> {
            let got = block_on(self.map.fetch_item::<&[u8]>(&mut self.buf, k))
                .expect("sequential-storage fetch")?;
            out[..got.len()].copy_from_slice(got);
            Some(got.len())
        }
        fn remove(&mut self, k: &[u8; 16]) -> bool {
            block_on(self.map.remove_item(&mut self.buf, k)).is_ok()
        }
        fn stats(&self) -> SimStats {
            self.cell.borrow().stats()
        }
    }

    pub struct Ekv<'a> {
        db: ekv::Database<EkvFlash<'a>, NoopRawMutex>,
        cell: &'a RefCell<Sim>,
    }

    pub fn ekv(cell: &RefCell<Sim>) -> Ekv<'_> {
        let mut config = ekv::Config::default();
        config.random_seed = 0x5EED;
        let db = ekv::Database::new(EkvFlash(cell), config);
        block_on(db.format()).expect("ekv format");
        Ekv { db, cell }
    }

    impl EmbKv for Ekv<'_> {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) -> bool {
            block_on(async {
                let mut tx = self.db.write_transaction().await;
                match tx.write(k, v).await {
                    Ok(()) => {}
                    Err(ekv::WriteError::Full) => return false,
                    Err(e) => panic!("ekv write: {e:?}"),
                }
                match tx.commit().await {
                    Ok(()) => true,
                    Err(e) => panic!("ekv commit: {e:?}"),
                }
            })
        }
        fn get(&mut self, k: &[u8; 16], buf: &mut [u8]) -> Option<usize> {
            block_on(async {
                let tx = self.db.read_transaction().await;
                match tx.read(k, buf).await {
                    Ok(n) => Some(n),
                    Err(ekv::ReadError::KeyNotFound) => None,
                    Err(e) => panic!("ekv read: {e:?}"),
                }
            })
        }
        fn remove(&mut self, k: &[u8; 16]) -> bool {
            block_on(async {
                let mut tx = self.db.write_transaction().await;
                if tx.delete(k).await.is_err() {
                    return false;
                }
                tx.commit().await.is_ok()
            })
        }
        fn stats(&self) -> SimStats {
            self.cell.borrow().stats()
        }
    }
}

fn diff(a: SimStats, b: SimStats) -> SimStats {
    SimStats {
        reads: b.reads - a.reads,
        bytes_read: b.bytes_read - a.bytes_read,
        programs: b.programs - a.programs,
        bytes_programmed: b.bytes_programmed - a.bytes_programmed,
        erases: b.erases - a.erases,
    }
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
    let w0 = s.stats().bytes_programmed;
    let mut i = 0u64;
    while s.stats().bytes_programmed - w0 < 4 * device {
        assert!(
            s.set(&key(i % keys), &vals[(i % 64) as usize]),
            "{name}: warm-up rejected"
        );
        i += 1;
    }
    let s0 = s.stats();
    let t = Instant::now();
    for i in 0..updates {
        assert!(
            s.set(&key(i % keys), &vals[(i % 64) as usize]),
            "{name}: update {i} rejected"
        );
    }
    let el = t.elapsed().as_secs_f64();
    let d = diff(s0, s.stats());
    let mut buf = [0u8; 64];
    let gets = keys * 20;
    let g0 = s.stats();
    let t = Instant::now();
    for i in 0..gets {
        let n = s.get(&key(i % keys), &mut buf).expect("present");
        assert_eq!(n, vlen);
    }
    let gel = t.elapsed().as_secs_f64();
    let gd = diff(g0, s.stats());
    let u = updates as f64;
    let payload = (16 + vlen) as f64;
    let row = json!({
        "workload": wl, "store": name, "updates": updates,
        "programmed_per_update": d.bytes_programmed as f64 / u,
        "read_per_update": d.bytes_read as f64 / u,
        "erases_per_1000": d.erases as f64 * 1000.0 / u,
        "write_amplification": d.bytes_programmed as f64 / u / payload,
        "ns_per_update": el * 1e9 / u,
        "read_per_get": gd.bytes_read as f64 / gets as f64,
        "ns_per_get": gel * 1e9 / gets as f64,
    });
    println!(
        "| {wl} | {name} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.0} |",
        d.bytes_programmed as f64 / u,
        d.bytes_read as f64 / u,
        d.erases as f64 * 1000.0 / u,
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
    let r0 = s.stats();
    let rejected = s.set(&key(n + 1), &value(n + 1, 64));
    let rd = diff(r0, s.stats());
    assert!(!rejected, "{name}: second write at full accepted");
    let mut buf = [0u8; 64];
    let g0 = s.stats();
    let t = Instant::now();
    for i in 0..n {
        assert_eq!(s.get(&key(i), &mut buf), Some(64), "{name}: key {i}");
        assert_eq!(&buf[..], &value(i, 64)[..]);
    }
    let gel = t.elapsed().as_secs_f64();
    let gd = diff(g0, s.stats());
    let removed = s.remove(&key(0));
    let after_remove = removed && s.get(&key(0), &mut buf).is_none();
    let payload = n as f64 * 80.0;
    println!(
        "| {name} | {n} | {payload:.0} | {:.1} % | {:.1} | {:.0} | {} / {} / {} | {} | {:.0} |",
        payload / bound * 100.0,
        gd.bytes_read as f64 / n as f64,
        gel * 1e9 / n as f64,
        rd.erases,
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
        "rejected_erases": rd.erases, "rejected_programmed": rd.bytes_programmed,
        "rejected_read": rd.bytes_read, "remove_at_full": after_remove,
        "twinkv_live_bytes": live.map(|l| l.0), "twinkv_fill_limit": live.map(|l| l.1), "ns_per_fill_set": fill_s * 1e9 / n as f64})
}

macro_rules! each_store {
    ($f:ident, $($arg:expr),*) => {{
        #[allow(clippy::vec_init_then_push)] // rows are pushed under `cfg`s
        let mut rows = Vec::new();
        {
            let cell = RefCell::new(sim());
            let mut s = Twin::new(&cell, 8000, 9000);
            rows.push($f(&mut s, "twinkv hw0.8", $($arg),*));
        }
        {
            let cell = RefCell::new(sim());
            let mut s = Twin::new(&cell, 10000, 10000);
            rows.push($f(&mut s, "twinkv hw1.0", $($arg),*));
        }
        #[cfg(feature = "peers-embedded")]
        {
            {
                let cell = RefCell::new(sim());
                let mut s = peers::seq_uncached(&cell);
                rows.push($f(&mut s, "seq-storage", $($arg),*));
            }
            {
                let cell = RefCell::new(sim());
                let mut s = peers::seq_cached(&cell);
                rows.push($f(&mut s, "seq-storage+cache", $($arg),*));
            }
            {
                let cell = RefCell::new(sim());
                let mut s = peers::ekv(&cell);
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
