//! Write latency, boots and wear (issue 13, "Measure and report"), one
//! command, markdown tables on stdout, JSON in target/bench-results/latency.json
//! (long mode; the CDF plot reads it: `--bin plots`).
//!
//! ```text
//! cargo run --release -p twinkv-benches --features peers-embedded,peers-host --bin latency -- long
//! cargo run --release -p twinkv-benches --bin latency -- quick     # CI: < 60 s, small sizes
//! cargo run --release -p twinkv-benches --bin latency -- reopen 5  # the host reopen table alone
//! cargo run --release -p twinkv-benches --features peers-embedded --bin latency -- sim  # tables 1–3 alone (long)
//! cargo run --release -p twinkv-benches --features peers-host --bin latency -- host   # table 4's overwrites alone (long)
//! ```
//!
//! 1. Simulator, per geometry, per store: every `set` of a steady-state run
//!    metered exactly ([`Metered`]: erase units, bytes programmed, bytes read
//!    per call), p99 and max of each per `set`, and the stall per `set` under
//!    the geometry's datasheet timing model ([`Geo`]).
//! 2. Reboot-heavy: reopen every 10 updates; bytes read and time per open.
//! 3. Wear: per-erase-unit erase counts over workloads W1 and W2.
//! 4. Host: latency of single overwrites at 100k live keys (RAM regions, files
//!    on tmpfs and ext4, redb, mmkv, `HashMap`), imports, reopen after a clean
//!    close and after a crash (a child process that aborts).
//!
//! twinkv's idle-time work between sets is [`twin_idle`] (`Store::maintain`,
//! one erase unit), called every `idle_every` sets of a [`TWIN_CONFIGS`] row.
use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use embedded_storage::nor_flash::NorFlash;
use serde_json::{json, Value};
#[cfg(feature = "peers-embedded")]
use twinkv_benches::embkv::{ekv, seq_cached, seq_uncached};
use twinkv_benches::embkv::{
    metered_sim, EmbKv, Meter, Metered, TimeModel, Twin, TwinStore, F4, H7, SPI_NOR,
};
use twinkv_benches::*;
use twinkv_core::SimFlash;
use twinkv_host::{Durability, Options};

// ----- configuration -------------------------------------------------------------

/// One twinkv configuration of the simulator tables.
struct TwinCfg {
    name: &'static str,
    /// High-water / max-fill ratios, basis points.
    hw: u16,
    mf: u16,
    /// [`twin_idle`] after every `idle_every` sets (0: never).
    idle_every: u64,
    /// Switches copy over several writes (FORMAT.md §7.4); `false`: in one
    /// call, as before the incremental switch.
    incremental: bool,
    /// Late switch (FORMAT.md §7.1, the default); `false`: switches begin
    /// at high-water, as before it.
    late: bool,
}

/// The twinkv rows. A row with `idle_every: k > 0` calls [`twin_idle`] after
/// every k sets; its flash work is metered apart from the sets (column
/// "idle").
const TWIN_CONFIGS: &[TwinCfg] = &[
    TwinCfg {
        name: "twinkv default (hw 0.8 / mf 0.9)",
        hw: 8000,
        mf: 9000,
        idle_every: 0,
        incremental: true,
        late: true,
    },
    TwinCfg {
        name: "twinkv default, switch at high-water (before the late switch)",
        hw: 8000,
        mf: 9000,
        idle_every: 0,
        incremental: true,
        late: false,
    },
    TwinCfg {
        name: "twinkv default, one-shot switch (before §7.4)",
        hw: 8000,
        mf: 9000,
        idle_every: 0,
        incremental: false,
        late: true,
    },
    TwinCfg {
        name: "twinkv default, maintain(1) every 10 sets",
        hw: 8000,
        mf: 9000,
        idle_every: 10,
        incremental: true,
        late: true,
    },
    // "twinkv hw 1.0 / mf 1.0" was a row until max-fill 1.0 became
    // invalid (`ConfigError::NoHeadroom`).
];

/// Idle-time work of twinkv between sets (a firmware's idle loop): one erase
/// unit of erase ahead (FORMAT.md §7.3).
fn twin_idle<F: NorFlash>(store: &mut TwinStore<'_, F>) {
    store.maintain(1).expect("maintain");
}

/// A simulated part: geometry and timing model.
struct Geo {
    name: &'static str,
    /// Whole device, bytes; twinkv's regions are `a` and `b` of it, the
    /// peers get all of it.
    device: u32,
    a: std::ops::Range<u32>,
    b: std::ops::Range<u32>,
    model: TimeModel,
    model_text: &'static str,
}

const KIB: u32 = 1024;

fn spi_geo() -> Geo {
    Geo {
        name: "SPI NOR 16 × 4 KiB, W 4",
        device: 64 * KIB,
        a: 0..32 * KIB,
        b: 32 * KIB..64 * KIB,
        model: SPI_NOR,
        model_text: "45 ms (max 400 ms) per 4 KiB erase; program 30 µs + 2.5 µs/B per 256 B page piece; read 0.16 µs/B + 0.64 µs/call",
    }
}

/// 4 sectors of 128 KiB: twinkv's regions are 2 sectors each (an erase
/// unit is a quarter of the device; a region's erase is 2 sectors).
fn sector_geo(name: &'static str, model: TimeModel, model_text: &'static str) -> Geo {
    Geo {
        name,
        device: 512 * KIB,
        a: 0..256 * KIB,
        b: 256 * KIB..512 * KIB,
        model,
        model_text,
    }
}

/// The three workloads of the simulator tables.
#[derive(Clone, Copy)]
enum Wl {
    /// Every `set` metered: `keys` keys of `vlen` B, `updates` updates after a
    /// warm-up of 2 × the device's bytes programmed.
    PerSet {
        keys: u64,
        vlen: usize,
        updates: u64,
    },
    /// From a fresh device, a reboot every `every` updates.
    Reboot {
        keys: u64,
        vlen: usize,
        updates: u64,
        every: u64,
    },
    /// From a fresh device: per-unit erase counts after `updates`.
    Wear {
        keys: u64,
        vlen: usize,
        updates: u64,
    },
}

// ----- statistics -----------------------------------------------------------------

/// The `q` quantile (0..=1) of sorted `xs`, nearest rank.
fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let i = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[i]
}

fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(f64::total_cmp);
    xs
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.3}")
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

// ----- simulator workloads -----------------------------------------------------------

type Cell<const W: usize, const E: usize> = RefCell<Metered<SimFlash<Vec<u8>, W, E>>>;

/// Runs workload `wl` on `s` (a fresh store on `cell`), calling `idle` after
/// every `idle_every` sets. Prints one table row, returns it as JSON.
#[allow(clippy::too_many_arguments)] // one row of one table: every argument is a column's source
fn run<S: EmbKv + ?Sized, const W: usize, const E: usize>(
    wl: Wl,
    g: &Geo,
    name: &str,
    s: &mut S,
    cell: &Cell<W, E>,
    idle_every: u64,
    idle: &mut dyn FnMut(&mut S),
) -> Value {
    let vals: Vec<Vec<u8>> = (0..64).map(|i| value(i + 7, 64)).collect();
    // Idle calls and their flash work (Cells: read and reset between phases).
    let idle_meter = std::cell::Cell::new(Meter::default());
    let idle_calls = std::cell::Cell::new(0u64);
    let set = |s: &mut S, i: u64, keys: u64, vlen: usize| {
        assert!(
            s.set(&key(i % keys), &vals[(i % 64) as usize][..vlen]),
            "{name}: set {i} rejected"
        );
    };
    // After set `i`: the idle-time call when due, metered apart from the sets.
    let mut after = |s: &mut S, i: u64| {
        if idle_every > 0 && (i + 1).is_multiple_of(idle_every) {
            let m0 = s.meter();
            idle(s);
            idle_meter.set(idle_meter.get().plus(s.meter().since(m0)));
            idle_calls.set(idle_calls.get() + 1);
        }
    };
    let mut do_set = |s: &mut S, i: u64, keys: u64, vlen: usize| {
        set(s, i, keys, vlen);
        after(s, i);
    };
    match wl {
        Wl::PerSet {
            keys,
            vlen,
            updates,
        } => {
            let w0 = s.meter().bytes_programmed;
            let mut i = 0u64;
            while s.meter().bytes_programmed - w0 < 2 * u64::from(g.device) {
                do_set(s, i, keys, vlen);
                i += 1;
            }
            // Idle work is reported for the measured sets only.
            idle_meter.set(Meter::default());
            idle_calls.set(0);
            let mut per: Vec<Meter> = Vec::with_capacity(updates as usize);
            for _ in 0..updates {
                let m0 = s.meter();
                set(s, i, keys, vlen);
                per.push(s.meter().since(m0));
                after(s, i);
                i += 1;
            }
            per_set_row(g, name, &per, idle_calls.get(), &idle_meter.get())
        }
        Wl::Reboot {
            keys,
            vlen,
            updates,
            every,
        } => {
            for i in 0..keys {
                do_set(s, i, keys, vlen);
            }
            let m0 = s.meter();
            let mut opens: Vec<(Meter, f64)> = Vec::new();
            let mut first_get: Vec<Meter> = Vec::new();
            let mut buf = [0u8; 64];
            for i in keys..keys + updates {
                do_set(s, i, keys, vlen);
                if (i - keys + 1).is_multiple_of(every) {
                    let b0 = s.meter();
                    let t = Instant::now();
                    s.reboot();
                    let el = t.elapsed().as_secs_f64() * 1e6;
                    let b1 = s.meter();
                    opens.push((b1.since(b0), el));
                    assert_eq!(s.get(&key(0), &mut buf), Some(vlen), "{name}: after reboot");
                    first_get.push(s.meter().since(b0));
                }
            }
            let total = s.meter().since(m0);
            reboot_row(g, name, updates, &opens, &first_get, &total)
        }
        Wl::Wear {
            keys,
            vlen,
            updates,
        } => {
            for i in 0..keys + updates {
                do_set(s, i, keys, vlen);
            }
            let w = cell.borrow().inner().wear(|_| true);
            let mean = w.total as f64 / f64::from(w.units);
            println!(
                "| {} | {name} | {updates} | {} | {} | {mean:.2} | {} | {} |",
                g.name, w.units, w.min, w.max, w.never_erased
            );
            json!({"geometry": g.name, "store": name, "updates": updates, "units": w.units,
                "min": w.min, "mean": mean, "max": w.max, "never_erased": w.never_erased})
        }
    }
}

fn per_set_row(g: &Geo, name: &str, per: &[Meter], idle_calls: u64, idle: &Meter) -> Value {
    let col = |f: &dyn Fn(&Meter) -> f64| sorted(per.iter().map(f).collect());
    let er = col(&|m| m.erase_units as f64);
    let pr = col(&|m| m.bytes_programmed as f64);
    let rd = col(&|m| m.bytes_read as f64);
    let typ = col(&|m| g.model.ms(m, false));
    let max = col(&|m| g.model.ms(m, true));
    // The set with the longest (typical) stall.
    let worst = per
        .iter()
        .max_by(|a, b| g.model.ms(a, false).total_cmp(&g.model.ms(b, false)))
        .copied()
        .unwrap_or_default();
    let last = |xs: &[f64]| xs.last().copied().unwrap_or(0.0);
    println!(
        "| {} | {name} | {} / {} / {} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} | {} | {} | {} | {} |",
        g.name,
        worst.erase_units,
        worst.bytes_programmed,
        worst.bytes_read,
        quantile(&er, 0.99),
        last(&er),
        quantile(&pr, 0.99),
        last(&pr),
        quantile(&rd, 0.99),
        last(&rd),
        fmt_ms(quantile(&typ, 0.99)),
        fmt_ms(last(&typ)),
        fmt_ms(last(&max)),
        if idle_calls == 0 {
            "–".to_string()
        } else {
            format!("{idle_calls}: {} erases", idle.erase_units)
        },
    );
    json!({"geometry": g.name, "store": name, "sets": per.len(),
        "worst": {"erase_units": worst.erase_units, "bytes_programmed": worst.bytes_programmed, "bytes_read": worst.bytes_read},
        "erase_units": {"p99": quantile(&er, 0.99), "max": last(&er)},
        "bytes_programmed": {"p99": quantile(&pr, 0.99), "max": last(&pr)},
        "bytes_read": {"p99": quantile(&rd, 0.99), "max": last(&rd)},
        "stall_ms": {"p99": quantile(&typ, 0.99), "max": last(&typ), "max_worst_case_erase": last(&max)},
        "idle_calls": idle_calls, "idle_erase_units": idle.erase_units})
}

fn reboot_row(
    g: &Geo,
    name: &str,
    updates: u64,
    opens: &[(Meter, f64)],
    first_get: &[Meter],
    total: &Meter,
) -> Value {
    let rd: Vec<f64> = opens.iter().map(|(m, _)| m.bytes_read as f64).collect();
    let calls: Vec<f64> = opens.iter().map(|(m, _)| m.reads as f64).collect();
    let ms: Vec<f64> = opens.iter().map(|(m, _)| g.model.ms(m, false)).collect();
    let us: Vec<f64> = opens.iter().map(|(_, t)| *t).collect();
    let fg: Vec<f64> = first_get.iter().map(|m| m.bytes_read as f64).collect();
    let mx = |xs: &[f64]| xs.iter().copied().fold(0.0, f64::max);
    let erases = total.erase_units as f64 * 1000.0 / updates as f64;
    println!(
        "| {} | {name} | {} | {:.0} / {:.0} | {:.1} | {} / {} | {:.1} / {:.1} | {:.0} / {:.0} | {erases:.2} |",
        g.name,
        opens.len(),
        mean(&rd),
        mx(&rd),
        mean(&calls),
        fmt_ms(mean(&ms)),
        fmt_ms(mx(&ms)),
        mean(&us),
        mx(&us),
        mean(&fg),
        mx(&fg),
    );
    json!({"geometry": g.name, "store": name, "opens": opens.len(),
        "open_bytes_read": {"mean": mean(&rd), "max": mx(&rd)}, "open_read_calls_mean": mean(&calls),
        "open_ms_model": {"mean": mean(&ms), "max": mx(&ms)}, "open_us_host": {"mean": mean(&us), "max": mx(&us)},
        "open_first_get_bytes_read": {"mean": mean(&fg), "max": mx(&fg)}, "erases_per_1000": erases})
}

/// Every store on fresh devices of geometry `g` (write unit `W`, erase unit
/// `E`, `P` erase units), workload `wl`. `peers`: also the peers (ekv only on
/// 4 KiB pages, its build's page size); `uncached`: also sequential-storage
/// without caches.
fn each_store<const W: usize, const E: usize, const P: usize>(
    g: &Geo,
    wl: Wl,
    twins: &[&TwinCfg],
    peers: bool,
    uncached: bool,
) -> Vec<Value> {
    assert_eq!(g.device as usize, E * P, "{}: geometry", g.name);
    let mut rows = Vec::new();
    for c in twins {
        let cell = metered_sim::<W, E>(g.device, false);
        let config = Twin::<SimFlash<Vec<u8>, W, E>>::config(c.hw, c.mf)
            .with_incremental_switch(c.incremental)
            .with_late_switch(c.late);
        let mut t = Twin::with_config(&cell, g.a.clone(), g.b.clone(), config);
        rows.push(run(wl, g, c.name, &mut t, &cell, c.idle_every, &mut |t| {
            twin_idle(t.store())
        }));
    }
    #[cfg(feature = "peers-embedded")]
    if peers {
        if uncached {
            let cell = metered_sim::<W, E>(g.device, true);
            let mut s = seq_uncached(&cell);
            rows.push(run(wl, g, "seq-storage", &mut s, &cell, 0, &mut |_| {}));
        }
        {
            let cell = metered_sim::<W, E>(g.device, true);
            let mut s = seq_cached::<_, P>(&cell);
            rows.push(run(
                wl,
                g,
                "seq-storage+cache",
                &mut s,
                &cell,
                0,
                &mut |_| {},
            ));
        }
        if E == twinkv_benches::embkv::PAGE && P == twinkv_benches::embkv::PAGES {
            let cell = metered_sim::<W, E>(g.device, false);
            let mut s = ekv(&cell);
            rows.push(run(wl, g, "ekv", &mut s, &cell, 0, &mut |_| {}));
        }
    }
    #[cfg(not(feature = "peers-embedded"))]
    let _ = (peers, uncached);
    rows
}

/// The geometries of the simulator tables, in order: the 4 KiB SPI NOR
/// part, then STM32F4-like at W 4 and W 16, then STM32H7-like at W 32.
fn geometries() -> [Geo; 4] {
    const F4_TEXT: &str =
        "1 s (max 2 s) per 128 KiB sector erase; 16 µs per 32-bit word program; read 2 ns/B (memory-mapped)";
    [
        spi_geo(),
        sector_geo("STM32F4-like 4 × 128 KiB, W 4", F4, F4_TEXT),
        sector_geo("STM32F4-like 4 × 128 KiB, W 16", F4, F4_TEXT),
        sector_geo(
            "STM32H7-like 4 × 128 KiB, W 32",
            H7,
            "1.1 s (max 2.2 s) per 128 KiB sector erase; 100 µs per 32 B flash word program; read 2 ns/B (memory-mapped)",
        ),
    ]
}

/// Every geometry of [`geometries`], workload `wl`. On the 128 KiB
/// geometries sequential-storage runs cached only (uncached it scans 128 KiB
/// pages per call), and in quick mode twinkv runs alone.
fn each_geometry(q: bool, wl: Wl) -> Vec<Value> {
    let all: Vec<&TwinCfg> = TWIN_CONFIGS.iter().collect();
    let [spi, f4w4, f4w16, h7] = geometries();
    let mut rows = each_store::<4, 4096, 16>(&spi, wl, &all, true, true);
    const SECTOR: usize = 128 * 1024;
    rows.extend(each_store::<4, SECTOR, 4>(&f4w4, wl, &all, !q, false));
    rows.extend(each_store::<16, SECTOR, 4>(&f4w16, wl, &all, !q, false));
    rows.extend(each_store::<32, SECTOR, 4>(&h7, wl, &all, !q, false));
    rows
}

fn simulator(q: bool) -> Value {
    let n = if q { 2_000 } else { 20_000 };
    println!("\n## Simulator: the cost of each `set`\n");
    println!("Timing models (datasheet figures; stall = erase units × erase time + program time + read time of the calls one `set` makes):\n");
    for g in geometries() {
        println!(
            "- {}: device {} KiB, twinkv regions {} + {} KiB; {}",
            g.name,
            g.device / KIB,
            g.a.len() as u32 / KIB,
            g.b.len() as u32 / KIB,
            g.model_text
        );
    }
    println!("\nWorkload: 32 keys × 16 B values, {n} updates round-robin, every `set` metered, after a warm-up programming 2 × the device.\n");
    println!("| geometry | store | worst set: erase units / B programmed / B read | erase units p99 / max | B programmed p99 / max | B read p99 / max | stall p99 ms | stall max ms | stall max ms (max erase time) | idle calls |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---|");
    let per_set = each_geometry(
        q,
        Wl::PerSet {
            keys: 32,
            vlen: 16,
            updates: n,
        },
    );

    println!("\n## Simulator: reboot every 10 updates\n");
    println!("32 keys × 16 B, {n} updates from a fresh device, a reboot (store dropped, opened again: twinkv `Store::open`, ekv `mount`, sequential-storage a new `MapStorage` with empty caches) after every 10th; then one `get`.\n");
    println!("| geometry | store | opens | B read per open mean / max | read calls per open | open ms (model) mean / max | open µs (host, simulator) mean / max | B read open + first get mean / max | erases / 1000 updates |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let reboot = each_geometry(
        q,
        Wl::Reboot {
            keys: 32,
            vlen: 16,
            updates: n,
            every: 10,
        },
    );

    println!("\n## Simulator: wear per erase unit\n");
    println!("From a fresh device; W1 = 32 keys × 16 B, {n} updates; W2 = 4 keys × 4 B, {} updates. Erase counts of every erase unit of the device.\n", n * 5 / 2);
    println!("| geometry | store | updates | units | min | mean | max | never erased |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let default: Vec<&TwinCfg> = TWIN_CONFIGS.iter().take(2).collect();
    let g = spi_geo();
    let mut wear = Vec::new();
    for (keys, vlen, updates) in [(32, 16, n), (4, 4, n * 5 / 2)] {
        let wl = Wl::Wear {
            keys,
            vlen,
            updates,
        };
        wear.extend(each_store::<4, 4096, 16>(&g, wl, &default, true, false));
    }
    json!({"per_set": per_set, "reboot": reboot, "wear": wear})
}

// ----- host ---------------------------------------------------------------------------

/// A store of the host latency table.
trait HostKv {
    fn set(&mut self, k: &[u8; 16], v: &[u8]);
}

struct RamKv(RamStore);
impl HostKv for RamKv {
    fn set(&mut self, k: &[u8; 16], v: &[u8]) {
        self.0.set(k, v).expect("set");
    }
}

impl HostKv for twinkv_host::Store {
    fn set(&mut self, k: &[u8; 16], v: &[u8]) {
        twinkv_host::Store::set(self, k, v).expect("set");
    }
}

impl HostKv for HashMap<[u8; 16], Vec<u8>> {
    fn set(&mut self, k: &[u8; 16], v: &[u8]) {
        black_box(self.insert(*k, v.to_vec()));
    }
}

#[cfg(feature = "peers-host")]
mod host_peers {
    use super::*;
    use redb::TableDefinition;

    const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

    /// redb, one write transaction per set, durability `None` (as in
    /// `benches/peers.rs`).
    pub struct Redb(pub redb::Database);

    impl Redb {
        pub fn create(path: &Path) -> Self {
            Redb(redb::Database::create(path).expect("redb create"))
        }
        /// One transaction of `pairs`, durability `Immediate`.
        pub fn import(&mut self, pairs: &[([u8; 16], Vec<u8>)]) {
            let tx = self.0.begin_write().expect("begin_write");
            {
                let mut t = tx.open_table(TABLE).expect("table");
                for (k, v) in pairs {
                    t.insert(&k[..], &v[..]).expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
    }

    impl HostKv for Redb {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) {
            let mut tx = self.0.begin_write().expect("begin_write");
            tx.set_durability(redb::Durability::None)
                .expect("durability");
            {
                let mut t = tx.open_table(TABLE).expect("table");
                t.insert(&k[..], v).expect("insert");
            }
            tx.commit().expect("commit");
        }
    }

    pub struct Mmkv(pub mmkv::MMKV);

    impl Mmkv {
        pub fn create(dir: &Path) -> Self {
            std::fs::create_dir_all(dir).expect("mmkv dir");
            mmkv::MMKV::set_log_level(mmkv::LogLevel::Off);
            Mmkv(mmkv::MMKV::new(dir.to_str().expect("utf-8 path")).expect("mmkv"))
        }
    }

    impl HostKv for Mmkv {
        fn set(&mut self, k: &[u8; 16], v: &[u8]) {
            let k = std::str::from_utf8(k).expect("ascii key");
            self.0.put(k, v).expect("put");
        }
    }
}

/// `live` keys loaded untimed, then `sets` overwrites of random live keys,
/// each timed alone. Returns (sorted ns per set, mean).
fn overwrite_latency(s: &mut dyn HostKv, live: usize, sets: usize) -> Vec<f64> {
    for i in 0..live as u64 {
        s.set(&key(i), &value(i, 16));
    }
    let order = shuffled(live, 0x1A7E);
    let vals: Vec<Vec<u8>> = (0..64).map(|i| value(i + 99, 16)).collect();
    let mut ns = Vec::with_capacity(sets);
    for i in 0..sets {
        let k = key(order[i % live]);
        let v = &vals[i % 64];
        let t = Instant::now();
        s.set(&k, v);
        ns.push(t.elapsed().as_nanos() as f64);
    }
    sorted(ns)
}

fn latency_row(store: &str, medium: &str, ns: &[f64]) -> Value {
    let q = |p| quantile(ns, p);
    let max = ns.last().copied().unwrap_or(0.0);
    println!(
        "| {store} | {medium} | {} | {} | {} | {} | {} | {} | {} |",
        ns.len(),
        fmt_ns(q(0.5)),
        fmt_ns(q(0.99)),
        fmt_ns(q(0.999)),
        fmt_ns(q(0.9999)),
        fmt_ns(max),
        fmt_ns(mean(ns)),
    );
    // The CDF for the plot: 400 quantiles on a log scale of 1 − p, plus the max.
    let cdf: Vec<(f64, f64)> = (0..400)
        .map(|i| {
            let p = 1.0 - 10f64.powf(-6.0 * f64::from(i) / 399.0);
            (q(p), p)
        })
        .chain(std::iter::once((max, 1.0)))
        .collect();
    json!({"store": store, "medium": medium, "sets": ns.len(), "p50": q(0.5), "p99": q(0.99),
        "p999": q(0.999), "p9999": q(0.9999), "max": max, "mean": mean(ns), "cdf": cdf})
}

/// Directories for the file rows: tmpfs (`/dev/shm`) and ext4 (the
/// workspace's file system when `df -T` says ext4, else `/tmp`).
fn fs_dirs() -> Vec<(String, PathBuf)> {
    let mut dirs = Vec::new();
    let shm = Path::new("/dev/shm");
    if fs_type(shm).as_deref() == Some("tmpfs") {
        dirs.push(("tmpfs".to_string(), shm.to_path_buf()));
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .canonicalize()
        .unwrap_or_else(|_| std::env::temp_dir());
    for d in [target, std::env::temp_dir()] {
        if let Some(t) = fs_type(&d) {
            if t != "tmpfs" {
                dirs.push((t, d));
                break;
            }
        }
    }
    dirs
}

/// The file-system type of `dir` (`df -T`), if `df` answers.
fn fs_type(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("df")
        .arg("-T")
        .arg(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines()
        .nth(1)?
        .split_whitespace()
        .nth(1)
        .map(str::to_string)
}

fn file_options(size: u32) -> Options {
    Options::new()
        .region_size(size)
        .durability(Durability::Default)
}

fn host_latency(q: bool) -> Vec<Value> {
    let (live, sets) = if q {
        (1_000, 20_000)
    } else {
        (100_000, 500_000)
    };
    let size = region_for(live, 16, 16, 0.25);
    println!("\n## Host: latency of single overwrites\n");
    println!("{live} live keys of 16 B (16 B values) loaded untimed, then {sets} overwrites of random live keys, one `Instant` pair per `set` (≈ 20–30 ns of the figures). twinkv regions 2 × {size} B (live = 25 %), `Durability::Default`; redb one write transaction per set, durability `None`; mmkv `put`; HashMap `insert` (RAM only).\n");
    println!("| store | medium | sets | p50 | p99 | p99.9 | p99.99 | max | mean |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    {
        let mut s = RamKv(ram_store(size, ram_config()));
        rows.push(latency_row(
            "twinkv",
            "RAM regions",
            &overwrite_latency(&mut s, live, sets),
        ));
    }
    for (fs, dir) in fs_dirs() {
        let d = tempfile::tempdir_in(&dir).expect("temp dir");
        {
            let mut s =
                twinkv_host::Store::open(d.path().join("kv"), file_options(size)).expect("open");
            rows.push(latency_row(
                "twinkv",
                &format!("files, {fs}"),
                &overwrite_latency(&mut s, live, sets),
            ));
        }
        #[cfg(feature = "peers-host")]
        {
            let mut r = host_peers::Redb::create(&d.path().join("db.redb"));
            rows.push(latency_row(
                "redb",
                &format!("file, {fs}"),
                &overwrite_latency(&mut r, live, sets),
            ));
            let mut m = host_peers::Mmkv::create(&d.path().join("mmkv"));
            rows.push(latency_row(
                "mmkv",
                &format!("file, {fs}"),
                &overwrite_latency(&mut m, live, sets),
            ));
        }
    }
    let mut h: HashMap<[u8; 16], Vec<u8>> = HashMap::new();
    rows.push(latency_row(
        "HashMap",
        "RAM",
        &overwrite_latency(&mut h, live, sets),
    ));
    rows
}

/// `n` new pairs.
fn pairs(n: usize) -> Vec<([u8; 16], Vec<u8>)> {
    (0..n as u64).map(|i| (key(i), value(i, 16))).collect()
}

const TWIN_IMPORT: &str = "twinkv set_many + sync";

/// Seconds of one import of `n` pairs per store, on `dir` (twinkv only if
/// `twinkv`).
fn import_once(dir: &Path, n: usize, twinkv: bool) -> Vec<(&'static str, f64)> {
    let p = pairs(n);
    let mut out = Vec::new();
    if twinkv {
        let d = tempfile::tempdir_in(dir).expect("temp dir");
        let size = region_for(n, 16, 16, 0.5);
        let mut s =
            twinkv_host::Store::open(d.path().join("kv"), file_options(size)).expect("open");
        let t = Instant::now();
        s.set_many(p.iter().map(|(k, v)| (k, v))).expect("set_many");
        s.sync().expect("sync");
        out.push((TWIN_IMPORT, t.elapsed().as_secs_f64()));
    }
    #[cfg(feature = "peers-host")]
    {
        let d = tempfile::tempdir_in(dir).expect("temp dir");
        let mut r = host_peers::Redb::create(&d.path().join("db.redb"));
        let t = Instant::now();
        r.import(&p);
        out.push((
            "redb one transaction (Immediate)",
            t.elapsed().as_secs_f64(),
        ));
        let mut m = host_peers::Mmkv::create(&d.path().join("mmkv"));
        let t = Instant::now();
        for (k, v) in &p {
            m.set(k, v);
        }
        drop(m);
        out.push(("mmkv puts + close", t.elapsed().as_secs_f64()));
    }
    let t = Instant::now();
    let mut h: HashMap<[u8; 16], Vec<u8>> = HashMap::with_capacity(n);
    for (k, v) in &p {
        h.insert(*k, v.clone());
    }
    black_box(&h);
    out.push(("HashMap inserts", t.elapsed().as_secs_f64()));
    out
}

fn imports(q: bool, dir: &(String, PathBuf)) -> Vec<Value> {
    let sizes: &[usize] = if q {
        &[1_000, 4_000]
    } else {
        &[10_000, 40_000, 100_000, 1_000_000]
    };
    // A size is skipped when its time, extrapolated from the two sizes before
    // it with their growth exponent, exceeds the budget (today's quadratic
    // batches would take ~100 min at 1M).
    let budget = 120.0;
    println!("\n## Host: import (one atomic batch of new keys)\n");
    println!("16 B keys and values, files on {} ({}); twinkv: `Store::set_many` of all pairs + `sync` (what `twinkv import` calls after parsing), regions sized for live = 50 %. Sizes whose time extrapolated from the two smaller ones exceeds {budget} s are skipped (\"skipped, ~T\").\n", dir.0, dir.1.display());
    println!("| entries | store | seconds |");
    println!("|---:|---|---:|");
    let mut rows = Vec::new();
    let mut hist: HashMap<&'static str, Vec<(usize, f64)>> = HashMap::new();
    for &n in sizes {
        let predicted = |name: &str| -> Option<f64> {
            let h = hist.get(name)?;
            let [.., (n1, t1), (n2, t2)] = h.as_slice() else {
                return None;
            };
            let e = ((t2 / t1).ln() / (*n2 as f64 / *n1 as f64).ln()).max(1.0);
            Some(t2 * (n as f64 / *n2 as f64).powf(e))
        };
        let skip = predicted(TWIN_IMPORT).filter(|t| *t > budget);
        if let Some(t) = skip {
            println!("| {n} | {TWIN_IMPORT} | skipped, ~{t:.0} |");
            rows.push(json!({"entries": n, "store": TWIN_IMPORT, "skipped_predicted_s": t}));
        }
        for (name, secs) in import_once(&dir.1, n, skip.is_none()) {
            println!("| {n} | {name} | {secs:.3} |");
            hist.entry(name).or_default().push((n, secs));
            rows.push(json!({"entries": n, "store": name, "seconds": secs}));
        }
    }
    rows
}

/// The child of a crash: builds the store at `base` as [`build_history`]
/// does, then aborts (no close, no sync, no destructor).
fn crash_child(base: &Path, live: usize, ratio: f64) -> ! {
    let mut s = build_history(base, live, ratio);
    black_box(&mut s);
    std::process::abort()
}

/// Region size of the reopen table: used bytes up to `ratio` × live under
/// the 80 % high-water mark, no switch.
fn history_size(live: usize, ratio: f64) -> u32 {
    let live_bytes = live as f64 * f64::from(record_len(16, 16));
    round512((live_bytes * ratio / 0.75) as u64 + 65_536)
}

/// A file store of `live` keys whose log holds `ratio` × live records.
fn build_history(base: &Path, live: usize, ratio: f64) -> twinkv_host::Store {
    let mut s =
        twinkv_host::Store::open(base, file_options(history_size(live, ratio))).expect("open");
    bulk_load(&mut s, live, 16);
    let extra = ((ratio - 1.0) * live as f64).round() as u64;
    for i in 0..extra {
        HostKv::set(&mut s, &key(i % live as u64), &value(i + 1, 16));
    }
    assert_eq!(s.len(), live);
    s
}

/// The reopen table's cases: (live keys, used / live).
fn reopen_cases(q: bool) -> Vec<(usize, f64)> {
    if q {
        vec![(1_000, 1.0), (1_000, 2.0), (100, 100.0)]
    } else {
        vec![
            (100_000, 1.0),
            (100_000, 2.0),
            (100_000, 4.0),
            (1_000, 100.0),
        ]
    }
}

fn reopens(cases: &[(usize, f64)], reps: usize, dir: &(String, PathBuf)) -> Vec<Value> {
    println!("\n## Host: reopen\n");
    println!("Live keys and log length (used / live) as in each row (long mode: 100k keys at 1, 2, 4 × live, and 1k keys over a 100k-record log), no switch while building, files on {} (page cache warm). Clean: `close()` then `Store::open` timed; crash: a child process builds the same store and aborts (no close, no sync), then `Store::open` timed. \"used bytes\" is what the reopened store's log holds. Min, median and max of {reps}.\n", dir.0);
    println!(
        "| live keys | used / live | after | open min | open median | open max | used bytes |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|");
    let exe = std::env::current_exe().expect("exe");
    let mut rows = Vec::new();
    for &(live, ratio) in cases {
        for crash in [false, true] {
            let mut ts = Vec::new();
            let mut used = 0;
            for _ in 0..reps {
                let d = tempfile::tempdir_in(&dir.1).expect("temp dir");
                let base = d.path().join("kv");
                if crash {
                    let st = std::process::Command::new(&exe)
                        .arg("--crash-child")
                        .arg(&base)
                        .arg(live.to_string())
                        .arg(ratio.to_string())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .expect("child");
                    assert!(!st.success(), "the child aborts");
                } else {
                    build_history(&base, live, ratio).close().expect("close");
                }
                let t = Instant::now();
                let s = twinkv_host::Store::open(&base, file_options(history_size(live, ratio)))
                    .expect("reopen");
                ts.push(t.elapsed().as_secs_f64());
                assert_eq!(s.len(), live);
                used = s.stats().expect("stats").used_bytes;
            }
            let after = if crash { "crash" } else { "clean close" };
            let max = ts.iter().copied().fold(0.0, f64::max);
            let min = ts.iter().copied().fold(f64::INFINITY, f64::min);
            let med = median(&mut ts);
            println!(
                "| {live} | {ratio} | {after} | {} | {} | {} | {used} |",
                fmt_ns(min * 1e9),
                fmt_ns(med * 1e9),
                fmt_ns(max * 1e9)
            );
            rows.push(json!({"live_keys": live, "used_over_live": ratio, "after": after, "open_s_min": min, "open_s_median": med, "open_s_max": max, "used_bytes": used}));
        }
    }
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--crash-child") {
        let live = args[3].parse().expect("live");
        let ratio = args[4].parse().expect("ratio");
        crash_child(Path::new(&args[2]), live, ratio);
    }
    if args.get(1).map(String::as_str) == Some("reopen") {
        // The reopen table alone: `latency reopen [reps]`.
        let reps = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
        let disk = fs_dirs().last().cloned().expect("a directory for files");
        reopens(&reopen_cases(false), reps, &disk);
        return;
    }
    if args.get(1).map(String::as_str) == Some("host") {
        // The host latency table alone (long mode): `latency host`.
        host_latency(false);
        return;
    }
    if args.get(1).map(String::as_str) == Some("sim") {
        // The simulator tables alone (long mode): `latency sim`.
        let t0 = Instant::now();
        println!("# Write latency, boots and wear (simulator, long mode)");
        simulator(false);
        eprintln!("latency: {:.1} s", t0.elapsed().as_secs_f64());
        return;
    }
    let q = match args.get(1).map(String::as_str) {
        Some("quick") => true,
        Some("long") => false,
        None => quick(),
        Some(other) => {
            eprintln!("usage: latency [quick|long|sim|host|reopen [reps]] (got {other:?})");
            std::process::exit(2);
        }
    };
    let t0 = Instant::now();
    println!(
        "# Write latency, boots and wear ({} mode)",
        if q { "quick" } else { "long" }
    );
    if !cfg!(feature = "peers-embedded") {
        println!("\n(twinkv only on the simulator: build with --features peers-embedded for sequential-storage and ekv)");
    }
    if !cfg!(feature = "peers-host") {
        println!("\n(no redb / mmkv: build with --features peers-host)");
    }
    let lap = |what: &str| {
        eprintln!(
            "latency: {what} done at {:.1} s",
            t0.elapsed().as_secs_f64()
        )
    };
    let sim = simulator(q);
    lap("simulator");
    let host = host_latency(q);
    lap("host latency");
    let dirs = fs_dirs();
    let disk = dirs.last().cloned().expect("a directory for files");
    let imp = imports(q, &disk);
    lap("imports");
    let reo = reopens(&reopen_cases(q), if q { 1 } else { 3 }, &disk);
    eprintln!("latency: {:.1} s", t0.elapsed().as_secs_f64());
    if !q {
        let out = results_dir().join("latency.json");
        let v = json!({"simulator": sim, "host_latency": host, "import": imp, "reopen": reo});
        std::fs::write(&out, serde_json::to_string_pretty(&v).expect("json")).expect("write");
        eprintln!("results: {}", out.display());
    }
}
