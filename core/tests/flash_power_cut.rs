//! Power cut through the adapter on `SimFlash`, for every write unit: a
//! workload of sets, deletes, batches, compactions and clears on two
//! 768-byte regions of one flash (many switches) is cut at every step
//! (write unit programmed or erase unit erased), rotating the tear modes.
//! After the reboot every acknowledged write is there with its last value,
//! the write in flight is all-or-nothing, and the store takes writes again.
//! Then the same with weak cells (torn and half-erased units read back
//! differently on every read), and second cuts during recovery.
//!
//! Weak cells break the [`Region`] contract's stable reads on purpose, so
//! there the check is per key: every value read must be one that was
//! acknowledged last or was in flight since; a key the cut write touched may
//! also answer `Corrupted` (reported, never silent). The figures are printed.
//!
//! `TWINKV_CUT_SAMPLE=n` checks every n-th cut point only (default 1: all).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use twinkv_core::testkit::flash::*;
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, TearMode};

const MODES: [TearMode; 3] = [TearMode::Prefix, TearMode::Subset, TearMode::RandomBits];
const FLASH: u32 = 1536;
const KEYS: u8 = 6;

fn cfg() -> Config {
    Config::new(0xC07C07)
        .with_limits(16, 20)
        .with_ratios(8000, 9000)
}

fn workload_for(seed: u64) -> Vec<Write> {
    varied_workload(150, KEYS, seed, 20)
}

/// Runs `wl[start..]` on a store opened on `flash` until the end or a cut;
/// returns the index in flight at the cut ([`DURING_OPEN`]: during open).
fn run<const W: usize>(
    flash: &RefCell<Sim<W>>,
    wl: &[Write],
    start: usize,
    model: &mut Model,
) -> Option<usize> {
    run_until_cut(open::<W>(flash, cfg()), wl, start, model)
}

/// Reopens after a cut with `inflight` running (see [`recover`]).
fn reboot<const W: usize>(
    flash: &RefCell<Sim<W>>,
    wl: &[Write],
    model: &Model,
    inflight: Option<usize>,
    ctx: &str,
) -> (Model, bool) {
    flash.borrow_mut().restore_power();
    let keys = varied_universe(KEYS);
    recover(open::<W>(flash, cfg()), wl, model, inflight, &keys, ctx)
}

/// After recovery the store takes writes, and they survive a reopen.
fn still_writable<const W: usize>(flash: &RefCell<Sim<W>>, model: &Model, ctx: &str) {
    let keys = varied_universe(KEYS);
    let mut m = model.clone();
    {
        let mut s = open::<W>(flash, cfg()).unwrap();
        for i in 0..8u8 {
            let k = varied_key(i % KEYS);
            let v = vec![b'0' + i; usize::from(i) * 2];
            s.set(&k, &v)
                .unwrap_or_else(|e| panic!("{ctx}: write after recovery: {e:?}"));
            m.insert(k, v);
        }
        check_store(&mut s, &m, &keys).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    }
    let mut s = open::<W>(flash, cfg()).unwrap();
    check_store(&mut s, &m, &keys).unwrap_or_else(|e| panic!("{ctx}: after reopen: {e}"));
}

#[derive(Debug, Default)]
struct Figures {
    steps: u64,
    cuts: u64,
    during_open: u64,
    inflight_new: u64,
    inflight_old: u64,
    double_cuts: u64,
}

fn sample() -> u64 {
    std::env::var("TWINKV_CUT_SAMPLE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

fn fresh<const W: usize>() -> RefCell<Sim<W>> {
    RefCell::new(sim::<W>(FLASH))
}

fn every_cut<const W: usize>(seed: u64, weak: bool) -> Figures {
    let wl = workload_for(seed);
    let mut fig = Figures::default();
    // The uncut run: its steps, and that it switches.
    let flash = fresh::<W>();
    let mut model = Model::new();
    assert_eq!(run(&flash, &wl, 0, &mut model), None);
    fig.steps = flash.borrow().steps_taken();
    let switches = open::<W>(&flash, cfg()).unwrap().stats().generation;
    assert!(
        switches > 5,
        "W={W}: workload reaches generation {switches} only"
    );

    let every = sample();
    for c in (0..fig.steps).filter(|c| c % every == 0) {
        let mode = MODES[(c % 3) as usize];
        let ctx = format!("W={W} seed={seed} weak={weak} cut at step {c} ({mode:?})");
        let flash = fresh::<W>();
        if weak {
            flash.borrow_mut().set_weak_cells(Some(c ^ seed));
        }
        flash
            .borrow_mut()
            .cut_power_after(c, mode, c.wrapping_mul(31) ^ seed);
        let mut model = Model::new();
        let inflight = run(&flash, &wl, 0, &mut model);
        assert!(inflight.is_some(), "{ctx}: the cut did not fire");
        fig.cuts += 1;
        fig.during_open += u64::from(inflight == Some(DURING_OPEN));
        let (model, took) = reboot(&flash, &wl, &model, inflight, &ctx);
        if took {
            fig.inflight_new += 1;
        } else {
            fig.inflight_old += 1;
        }
        // A second cut, during recovery or the rest of the workload, on a
        // copy (sampled).
        if c % 7 == 0 {
            let copy = RefCell::new(flash.borrow().clone());
            let rest = inflight.map_or(wl.len(), |i| resume_at(i, 0));
            let c2 = (c * 13 + 5) % 200;
            copy.borrow_mut()
                .cut_power_after(c2, MODES[((c / 3) % 3) as usize], c);
            let mut m2 = model.clone();
            let inflight2 = run(&copy, &wl, rest, &mut m2);
            if inflight2.is_some() {
                fig.double_cuts += 1;
                let ctx2 = format!("{ctx}, then at step {c2} after reboot");
                let (m3, _) = reboot(&copy, &wl, &m2, inflight2, &ctx2);
                still_writable(&copy, &m3, &ctx2);
            }
        }
        still_writable(&flash, &model, &ctx);
    }
    fig
}

macro_rules! cut_test {
    ($name:ident, $w:literal) => {
        #[test]
        fn $name() {
            let strict = every_cut::<$w>(0xA11CE + $w, false);
            let weak = weak_cuts::<$w>(0xB0B + $w);
            eprintln!("W={}: strict {strict:?}", $w);
            eprintln!("W={}: weak   {weak:?}", $w);
            assert!(strict.inflight_new > 0 && strict.inflight_old > 0);
        }
    };
}

cut_test!(cut_every_step_w1, 1);
cut_test!(cut_every_step_w2, 2);
cut_test!(cut_every_step_w4, 4);
cut_test!(cut_every_step_w8, 8);
cut_test!(cut_every_step_w16, 16);
cut_test!(cut_every_step_w32, 32);

/// Byte-counted cuts and interrupted erases, on a flash with two separate
/// chips: sampled with fixed seeds.
#[test]
fn byte_cuts_and_interrupted_erases_on_two_flashes() {
    fn go<const W: usize>() -> (u64, u64) {
        let wl = workload_for(77 + W as u64);
        let (mut bytes, mut erases) = (0u64, 0u64);
        for n in (0..6000u64).step_by(37) {
            for erase in [false, true] {
                let a = RefCell::new(sim::<W>(FLASH / 2));
                let b = RefCell::new(sim::<W>(FLASH / 2));
                // One power supply: arm both; whichever fires first wins.
                for f in [&a, &b] {
                    let mut f = f.borrow_mut();
                    if erase {
                        f.interrupt_erase_after(n / 200, n);
                    } else {
                        f.cut_after_bytes(n, MODES[(n % 3) as usize], n);
                    }
                }
                let mut model = Model::new();
                let inflight = run_until_cut(open_two::<W>(&a, &b, cfg()), &wl, 0, &mut model);
                let Some(i) = inflight else { continue };
                if erase {
                    erases += 1;
                } else {
                    bytes += 1;
                }
                for f in [&a, &b] {
                    let mut f = f.borrow_mut();
                    f.cancel_cut();
                    f.restore_power();
                }
                let keys = varied_universe(KEYS);
                let mut s = open_two::<W>(&a, &b, cfg()).unwrap();
                let mut after = model.clone();
                if let Some(w) = wl.get(i) {
                    w.apply_to(&mut after);
                }
                let ok = check_store(&mut s, &model, &keys).is_ok()
                    || check_store(&mut s, &after, &keys).is_ok();
                assert!(ok, "W={W} n={n} erase={erase}");
                s.set(b"after", b"cut").unwrap();
            }
        }
        (bytes, erases)
    }
    let r = for_each_write_unit!(go());
    for (w, (bytes, erases)) in [1, 2, 4, 8, 16, 32].iter().zip(r) {
        eprintln!("W={w}: {bytes} byte cuts, {erases} interrupted erases");
        assert!(bytes > 20 && erases > 5, "W={w}");
    }
}

// ------------------------------------------------------------- weak cells

/// What each key may read as when reads are unstable: the value last
/// acknowledged, any value written by a write cut since, and `Corrupted` for
/// keys a cut write touched.
#[derive(Clone, Debug)]
struct Fuzzy {
    ok: BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>>,
    corrupt_ok: BTreeSet<Vec<u8>>,
}

/// The value `w` leaves `k` with, if it touches `k`.
fn effect(w: &Write, k: &[u8]) -> Option<Option<Vec<u8>>> {
    const SENTINEL: &[u8] = b"\0sentinel";
    let mut m = Model::new();
    m.insert(k.to_vec(), SENTINEL.to_vec());
    w.apply_to(&mut m);
    match m.get(k) {
        Some(v) if v == SENTINEL => None,
        v => Some(v.cloned()),
    }
}

impl Acknowledge for Fuzzy {
    fn ack(&mut self, w: &Write) {
        Fuzzy::ack(self, w);
    }
    fn inflight(&mut self, w: &Write) {
        Fuzzy::inflight(self, w);
    }
}

impl Fuzzy {
    fn new() -> Self {
        Fuzzy {
            ok: varied_universe(KEYS)
                .into_iter()
                .map(|k| (k, vec![None]))
                .collect(),
            corrupt_ok: BTreeSet::new(),
        }
    }
    fn ack(&mut self, w: &Write) {
        for (k, vals) in &mut self.ok {
            if let Some(v) = effect(w, k) {
                *vals = vec![v];
                self.corrupt_ok.remove(k);
            }
        }
    }
    fn inflight(&mut self, w: &Write) {
        for (k, vals) in &mut self.ok {
            if let Some(v) = effect(w, k) {
                vals.push(v);
                self.corrupt_ok.insert(k.clone());
            }
        }
    }
}

#[derive(Debug, Default)]
struct WeakFigures {
    steps: u64,
    cuts: u64,
    weak_units: u64,
    /// Reopens refused (`Corrupted` at open): reported.
    open_refused: u64,
    /// Keys touched by the cut write answering `Corrupted`: reported.
    inflight_corrupted: u64,
    /// Keys not touched by a cut write answering `Corrupted`: acknowledged
    /// data lost, reported.
    acked_corrupted: u64,
    /// Reads of a value another open had already shown as not written.
    flip_flops: u64,
    double_cuts: u64,
}

/// Runs `wl[start..]`, acknowledging into `fz`; the write in flight at a cut
/// is added as possible.
fn run_weak<const W: usize>(
    flash: &RefCell<Sim<W>>,
    wl: &[Write],
    start: usize,
    fz: &mut Fuzzy,
) -> Option<usize> {
    run_until_cut(open::<W>(flash, cfg()), wl, start, fz)
}

/// What each key read at one open (`None`: `Corrupted`).
type Seen = BTreeMap<Vec<u8>, Option<Option<Vec<u8>>>>;

/// Reopens and checks every key against `fz`; returns what each key read
/// (`None` inside: `Corrupted`), or `None` if the open was refused.
fn check_weak<const W: usize>(
    flash: &RefCell<Sim<W>>,
    fz: &Fuzzy,
    fig: &mut WeakFigures,
    ctx: &str,
) -> Option<Seen> {
    flash.borrow_mut().restore_power();
    let mut s = match open::<W>(flash, cfg()) {
        Ok(s) => s,
        Err(Error::Corrupted) => {
            if std::env::var("TWINKV_DEBUG").is_ok() {
                eprintln!(
                    "{ctx}: open refused, fault {:?}",
                    flash.borrow().last_fault()
                );
            }
            fig.open_refused += 1;
            return None;
        }
        Err(e) => panic!("{ctx}: reopen failed: {e:?}"),
    };
    let mut seen = BTreeMap::new();
    let mut buf = [0u8; 64];
    for (k, vals) in &fz.ok {
        match s.get(k, &mut buf) {
            Ok(v) => {
                let v = v.map(|n| buf[..n].to_vec());
                assert!(
                    vals.contains(&v),
                    "{ctx}: key {:?} reads {v:?}, never written: {vals:?}",
                    String::from_utf8_lossy(k)
                );
                seen.insert(k.clone(), Some(v));
            }
            Err(Error::Corrupted) => {
                if fz.corrupt_ok.contains(k) {
                    fig.inflight_corrupted += 1;
                } else {
                    fig.acked_corrupted += 1;
                }
                seen.insert(k.clone(), None);
            }
            Err(e) => panic!("{ctx}: get: {e:?}"),
        }
    }
    Some(seen)
}

fn weak_cuts<const W: usize>(seed: u64) -> WeakFigures {
    let wl = workload_for(seed);
    let mut fig = WeakFigures::default();
    let flash = fresh::<W>();
    assert_eq!(run_weak(&flash, &wl, 0, &mut Fuzzy::new()), None);
    fig.steps = flash.borrow().steps_taken();
    let every = sample();
    for c in (0..fig.steps).filter(|c| c % every == 0) {
        let mode = MODES[(c % 3) as usize];
        let ctx = format!("W={W} seed={seed} weak cut at step {c} ({mode:?})");
        let flash = fresh::<W>();
        flash.borrow_mut().set_weak_cells(Some(c ^ seed));
        flash
            .borrow_mut()
            .cut_power_after(c, mode, c.wrapping_mul(31) ^ seed);
        let mut fz = Fuzzy::new();
        let inflight = run_weak(&flash, &wl, 0, &mut fz);
        assert!(inflight.is_some(), "{ctx}: the cut did not fire");
        fig.cuts += 1;
        fig.weak_units += flash.borrow().weak_units() as u64;
        let Some(first) = check_weak(&flash, &fz, &mut fig, &ctx) else {
            continue;
        };
        // Reopen again without writing: does any key read differently?
        if let Some(again) = check_weak(&flash, &fz, &mut fig, &ctx) {
            fig.flip_flops += again
                .iter()
                .filter(|(k, v)| first.get(*k) != Some(v))
                .count() as u64;
        }
        if c % 7 == 0 {
            let copy = RefCell::new(flash.borrow().clone());
            let rest = inflight.map_or(wl.len(), |i| resume_at(i, 0));
            let c2 = (c * 13 + 5) % 200;
            copy.borrow_mut()
                .cut_power_after(c2, MODES[((c / 3) % 3) as usize], c);
            let mut fz2 = fz.clone();
            if run_weak(&copy, &wl, rest, &mut fz2).is_some() {
                fig.double_cuts += 1;
                check_weak(&copy, &fz2, &mut fig, &format!("{ctx}, then at {c2}"));
            }
        }
    }
    fig
}

/// Reproduction of a core finding (weak cells): a cut while programming the
/// last write unit of a switch's commit marker leaves it weak. One open reads
/// it valid, takes the new region and programs "superseded" into the old one
/// (FORMAT.md §7.1, row 7); a later open reads the same commit as torn and
/// refuses the store (`Corrupted`: the newer region is not committed, the
/// older is superseded), although every acknowledged write is intact in the
/// new region. Strict flash (stable reads) never shows it. Ignored until core
/// stops trusting a commit that nothing programmed after it.
#[test]
fn weak_commit_marker_never_makes_the_store_unopenable() {
    const W: usize = 1;
    let commit_last_unit = FLASH / 2 + twinkv_core::format::Layout::new(W as u32).commit() + 11;
    let keys = varied_universe(KEYS);
    let mut torn = 0;
    for seed in 0..20u64 {
        for c in 0..1000u64 {
            let flash = fresh::<W>();
            let mut model = Model::new();
            {
                let mut s = open::<W>(&flash, cfg()).unwrap();
                for k in 0..KEYS {
                    let v = vec![b'a' + k; 5];
                    s.set(&varied_key(k), &v).unwrap();
                    model.insert(varied_key(k), v);
                }
                let mut f = flash.borrow_mut();
                f.set_weak_cells(Some(seed));
                f.cut_power_after(c, TearMode::RandomBits, seed);
                drop(f);
                if s.compact().is_ok() {
                    break; // c is past the switch
                }
            }
            let hit = matches!(
                flash.borrow().last_fault(),
                Some(twinkv_core::Fault::TornProgram { offset, .. }) if offset == commit_last_unit
            );
            if !hit || flash.borrow().weak_units() == 0 {
                continue;
            }
            torn += 1;
            flash.borrow_mut().restore_power();
            for attempt in 0..50 {
                let mut s = open::<W>(&flash, cfg()).unwrap_or_else(|e| {
                    panic!("seed {seed} step {c}: open #{attempt} after the cut: {e:?}")
                });
                check_store(&mut s, &model, &keys).unwrap();
            }
        }
    }
    assert!(torn > 0);
}
