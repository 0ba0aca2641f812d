//! Cancellation of the async store: a call's future dropped at any await
//! point. Every region call of the async store is an await point (the test
//! regions suspend at each, `testkit::asynch::Yielding`); a gate stops the
//! k-th region call of one store call, before it does its work or just after
//! it, for every k, for every call of a workload of sets, deletes, batches,
//! clears, compactions, repairs, syncs and `maintain`, across incremental
//! switches and erase ahead. The future is then dropped, as an executor does
//! with a cancelled task. The store must refuse every later call with
//! `Error::Cancelled`, and a reopen must recover like after a power cut:
//! every acknowledged write with its last value, the dropped call's write
//! all or nothing, nothing else changed, and the store takes writes.

use twinkv_core::testkit::asynch::{block_on, poll_until_gated, run_gated, Gate, StopAt};
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, RamError};

/// One call of the script.
#[derive(Clone, Debug)]
enum Call {
    Write(usize),
    /// `maintain(1)`: one unit of erase ahead or of a switch's copy.
    Maintain,
}

fn config() -> Config {
    Config::new(0xCA9C_E100)
        .with_limits(8, 24)
        .with_ratios(8000, 9000)
}

/// The writes of a workload with a `maintain` after every third.
fn script(wl: &[Write]) -> Vec<Call> {
    let mut calls = Vec::new();
    for i in 0..wl.len() {
        calls.push(Call::Write(i));
        if i % 3 == 2 {
            calls.push(Call::Maintain);
        }
    }
    calls
}

/// Runs `call` on the async store `s` (driven through the test kit) or,
/// for the gated call, as one future stopped by `gate`: `None` when the
/// gate stopped it (the future is dropped), else its result.
fn gated(
    s: &mut AsyncTestStore<'_, '_>,
    call: &Call,
    wl: &[Write],
    gate: &Gate,
) -> Option<Result<(), Error<RamError>>> {
    let store = &mut s.0;
    match call {
        Call::Write(i) => run_gated(store, &wl[*i], gate),
        Call::Maintain => poll_until_gated(store.maintain(1), gate).map(|r| r.map(|_| ())),
    }
}

#[derive(Default, Debug)]
struct Figures {
    /// Calls dropped at an await point, then recovered.
    dropped: u64,
    /// Of those, during a switch (one under way, begun or committed by the
    /// dropped call).
    in_switch: u64,
    /// Of those, in a `maintain` call.
    in_maintain: u64,
    /// Of those, where the dropped call's write had taken effect.
    took_effect: u64,
}

fn cancel_everywhere(w: u32, seed: u64, ops: usize) -> Figures {
    let wl = workload(ops, 10, seed, 24);
    let calls = script(&wl);
    let keys = universe(10);
    let mut f = Figures::default();
    for (n, call) in calls.iter().enumerate() {
        for at in [StopAt::Before, StopAt::After] {
            let first = if at == StopAt::Before { 0 } else { 1 };
            for k in first.. {
                let power = Power::default();
                let mut rig = Rig::new(&power, 1024, w, config());
                let gate = Gate::never();
                let mut model = Model::new();
                let mut s = rig.open_async_gated(gate.clone()).unwrap();
                for c in &calls[..n] {
                    if let Call::Write(i) = c {
                        wl[*i].run(&mut s).unwrap();
                        wl[*i].apply_to(&mut model);
                    } else {
                        s.maintain(1).unwrap();
                    }
                }
                let before = s.stats();
                gate.arm(k, at);
                let Some(r) = gated(&mut s, call, &wl, &gate) else {
                    // Dropped at the gate. Every later call is refused.
                    gate.lift();
                    let ctx = format!("W={w} call {n} {call:?} dropped at region call {k} {at:?}");
                    let mut buf = [0u8; 64];
                    assert!(
                        matches!(s.set(b"key0", b"x"), Err(Error::Cancelled)),
                        "{ctx}: a write after the drop"
                    );
                    assert!(
                        matches!(s.get(b"key0", &mut buf), Err(Error::Cancelled)),
                        "{ctx}: a read after the drop"
                    );
                    assert!(
                        matches!(block_on(s.0.maintain(1)), Err(Error::Cancelled)),
                        "{ctx}: maintain after the drop"
                    );
                    let after = s.stats();
                    drop(s);
                    f.dropped += 1;
                    f.in_switch += u64::from(
                        before.switching || after.switching || after.switches > before.switches,
                    );
                    f.in_maintain += u64::from(matches!(call, Call::Maintain));
                    // Reopen (through the async store) and judge as after a cut.
                    let inflight = match call {
                        Call::Write(i) => Some(*i),
                        Call::Maintain => None,
                    };
                    let (model, took) =
                        recover(rig.open_async(), &wl, &model, inflight, &keys, &ctx);
                    f.took_effect += u64::from(took);
                    let mut s = rig.open_async().unwrap();
                    s.set(b"after", b"drop")
                        .unwrap_or_else(|e| panic!("{ctx}: write after recovery: {e:?}"));
                    drop(s);
                    let mut m2 = model;
                    m2.insert(b"after".to_vec(), b"drop".to_vec());
                    let mut s = rig.open().unwrap();
                    check_store(&mut s, &m2, &keys).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    continue;
                };
                // The call completed before the gate: no await point left.
                r.unwrap_or_else(|e| panic!("call {n} {call:?} failed: {e:?}"));
                break;
            }
        }
    }
    f
}

#[test]
fn a_dropped_call_at_every_await_point_recovers_like_a_cut() {
    let mut total = Figures::default();
    for (w, seed, ops) in [(4, 7, 90), (16, 8, 60)] {
        let f = cancel_everywhere(w, seed, ops);
        assert!(f.in_switch > 0, "W={w}: no drop landed in a switch: {f:?}");
        assert!(
            f.in_maintain > 0,
            "W={w}: no drop landed in maintain: {f:?}"
        );
        assert!(
            f.took_effect > 0,
            "W={w}: no dropped write had taken effect: {f:?}"
        );
        eprintln!("W={w}: {f:?}");
        total.dropped += f.dropped;
        total.in_switch += f.in_switch;
        total.in_maintain += f.in_maintain;
        total.took_effect += f.took_effect;
    }
    eprintln!(
        "{} calls dropped at an await point ({} in a switch, {} in maintain, {} after the write took effect), 0 acknowledged writes lost",
        total.dropped, total.in_switch, total.in_maintain, total.took_effect
    );
}

/// The blocking and the async store are one engine: the same calls write
/// the same bytes.
#[test]
fn the_async_store_writes_the_bytes_the_blocking_one_does() {
    let wl = workload(120, 10, 11, 24);
    let keys = universe(10);
    let (p1, p2) = (Power::default(), Power::default());
    let mut r1 = Rig::new(&p1, 1024, 4, config());
    let mut r2 = Rig::new(&p2, 1024, 4, config());
    let mut model = Model::new();
    {
        let mut b = r1.open().unwrap();
        let mut a = r2.open_async().unwrap();
        for (i, w) in wl.iter().enumerate() {
            w.run(&mut b).unwrap();
            w.run(&mut a).unwrap();
            w.apply_to(&mut model);
            if i % 5 == 4 {
                b.maintain(1).unwrap();
                a.maintain(1).unwrap();
            }
            assert_eq!(b.stats(), a.stats(), "after write {i}");
        }
        assert!(b.stats().switches > 3, "{:?}", b.stats());
        check_store(&mut a, &model, &keys).unwrap();
    }
    assert_eq!(r1.snapshot(), r2.snapshot());
}

/// `open` dropped at every await point: on fresh storage (the first
/// format), on a store with data, and on a store left mid-switch by a cut.
/// The regions must then open as after a cut at that point, with every
/// acknowledged write.
#[test]
fn a_dropped_open_at_every_await_point_recovers_like_a_cut() {
    use twinkv_core::testkit::asynch::Yielding;
    use twinkv_core::{AsyncStore, FixedIndex, TearMode};

    let wl = workload(60, 10, 21, 24);
    let keys = universe(10);
    let mut dropped = 0u64;
    // Cases: how many writes precede the dropped open, and whether a cut
    // interrupts the last of them (leaving a switch or a write torn).
    for (writes, cut_last) in [(0, false), (25, false), (60, false), (40, true)] {
        for at in [StopAt::Before, StopAt::After] {
            let first = if at == StopAt::Before { 0 } else { 1 };
            for k in first.. {
                let power = Power::default();
                let mut rig = Rig::new(&power, 1024, 4, config());
                let mut model = Model::new();
                if cut_last {
                    // Find the steps of the writes before the last, then cut
                    // in the middle of the last one.
                    assert_eq!(
                        run_until_cut(rig.open(), &wl[..writes - 1], 0, &mut model),
                        None
                    );
                    let before = power.steps();
                    power.reset_steps();
                    power.cut_after(3, TearMode::Subset, k);
                    let mut m2 = Model::new();
                    let inflight = run_until_cut(rig.open(), &wl[writes - 1..writes], 0, &mut m2);
                    assert!(
                        inflight.is_some(),
                        "the cut must land ({before} steps before)"
                    );
                    power.cancel();
                    rig.restore();
                    // The open below sees a cut state: the model or the model
                    // with the last write.
                } else {
                    assert_eq!(
                        run_until_cut(rig.open(), &wl[..writes], 0, &mut model),
                        None
                    );
                }
                let gate = Gate::never();
                gate.arm(k, at);
                let w = 4;
                let scratch = vec![0u8; TestStore::scratch_len(&rig.config, w)];
                let config = rig.config;
                let opened = poll_until_gated(
                    AsyncStore::open(
                        Yielding::new(&mut rig.a, gate.clone()),
                        Yielding::new(&mut rig.b, gate.clone()),
                        FixedIndex::<64>::new(),
                        scratch,
                        config,
                    ),
                    &gate,
                );
                let ctx =
                    format!("{writes} writes, cut_last={cut_last}: open dropped at {k} {at:?}");
                match opened {
                    Some(s) => {
                        // Opened before the gate: nothing left to drop.
                        drop(s.unwrap_or_else(|e| panic!("{ctx}: open failed: {e:?}")));
                        break;
                    }
                    None => dropped += 1,
                }
                let inflight = if cut_last { Some(writes - 1) } else { None };
                recover(rig.open_async(), &wl, &model, inflight, &keys, &ctx);
            }
        }
    }
    assert!(dropped > 20, "{dropped}");
    eprintln!("{dropped} opens dropped at an await point, each recovered like a cut");
}
