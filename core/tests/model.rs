//! Model tests: random operations against a `BTreeMap`, at write units 1, 4
//! and 16, with reopen steps, on small regions so the store switches often.
//! After every step and every reopen the store equals the model.
//!
//! The same scenarios on `SimFlash` through the embedded-storage adapter
//! (feature `flash-sim`) are in [`flash`], on the same test kit
//! (`twinkv_core::testkit`): the model, the writes and `check_store`.

use proptest::prelude::*;
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error};

#[derive(Clone, Debug)]
enum Step {
    Write(Write),
    Get(u8),
    Reopen,
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

fn step() -> impl Strategy<Value = Step> {
    let value = prop::collection::vec(any::<u8>(), 0..=24);
    let op = (
        0u8..14,
        prop::option::of(prop::collection::vec(any::<u8>(), 0..=24)),
    );
    prop_oneof![
        30 => (0u8..14, value.clone()).prop_map(|(k, v)| Step::Write(Write::Set(key(k), v))),
        10 => (0u8..14).prop_map(|k| Step::Write(Write::Delete(key(k)))),
        8 => prop::collection::vec(op, 1..5).prop_map(|ops| Step::Write(Write::Batch(
            ops.into_iter().map(|(k, v)| (key(k), v)).collect()))),
        10 => (0u8..14).prop_map(Step::Get),
        6 => Just(Step::Reopen),
        3 => Just(Step::Write(Write::Compact)),
        4 => Just(Step::Write(Write::Sync)),
        1 => Just(Step::Write(Write::Clear)),
    ]
}

fn run_model(w: u32, size: u32, in_order: bool, steps: &[Step]) -> Result<(), TestCaseError> {
    run_model_of(w, size, in_order, steps, key, 14)
}

/// [`run_model`] over the keys `key_of(0 .. n)`.
fn run_model_of(
    w: u32,
    size: u32,
    in_order: bool,
    steps: &[Step],
    key_of: fn(u8) -> Vec<u8>,
    n: u8,
) -> Result<(), TestCaseError> {
    let key = key_of;
    let power = Power::default();
    let config = Config::new(0x0DE1).with_limits(8, 24);
    let mut rig = Rig::new(&power, size, w, config);
    rig.set_in_order(in_order);
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    let mut model = Model::new();
    let mut store = rig.open().unwrap();
    let mut switches = 0;
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Write(wr) => {
                match wr.run(&mut store) {
                    Ok(()) => wr.apply_to(&mut model),
                    // 14 keys × 40 B never exceed capacity × max-fill here.
                    Err(e) => return Err(TestCaseError::fail(format!("step {i} {wr:?}: {e:?}"))),
                }
            }
            Step::Get(k) => {
                let mut buf = [0u8; 32];
                let got = store
                    .get(&key(*k), &mut buf)
                    .map(|o| o.map(|n| buf[..n].to_vec()));
                prop_assert_eq!(got, Ok(model.get(&key(*k)).cloned()));
            }
            Step::Reopen => {
                switches += store.stats().switches;
                drop(store);
                store = rig.open().unwrap();
            }
        }
        check_store(&mut store, &model, &keys)
            .map_err(|e| TestCaseError::fail(format!("step {i} {s:?}: {e}")))?;
        let st = store.stats();
        prop_assert!(st.live_bytes <= st.fill_limit);
        prop_assert!(!st.dirty_tail);
        prop_assert_eq!(store.fill(), (st.active, st.live_bytes, st.fill_limit));
    }
    switches += store.stats().switches;
    if std::env::var_os("TWINKV_VERBOSE").is_some() {
        eprintln!(
            "W={w} size={size} steps={} switches={switches}",
            steps.len()
        );
    }
    Ok(())
}

/// Key `k` of the update model: the two keys of one 32-bit CRC-32C,
/// `yokzxonb` and `xyphecky`, then `u2` to `u5`.
fn update_key(k: u8) -> Vec<u8> {
    match k {
        0 => b"yokzxonb".to_vec(),
        1 => b"xyphecky".to_vec(),
        k => format!("u{k}").into_bytes(),
    }
}

/// Steps whose sets mostly write a value of a length fixed by the key, so
/// that most overwrites are updates (FORMAT.md §4.3), over keys two of which
/// share their 32-bit hash, with frequent reopens and compactions: the
/// claims each reopen takes (§6.5) must rebuild the model's state.
fn update_step() -> impl Strategy<Value = Step> {
    let set = (0u8..6, any::<u8>(), 0u8..10, 0usize..=24).prop_map(|(k, b, odd, len)| {
        let len = if odd == 0 { len } else { 4 + usize::from(k) };
        Step::Write(Write::Set(update_key(k), vec![b; len]))
    });
    prop_oneof![
        30 => set,
        4 => (0u8..6).prop_map(|k| Step::Write(Write::Delete(update_key(k)))),
        3 => (0u8..6, 0u8..6).prop_map(|(a, b)| Step::Write(Write::Batch(vec![
            (update_key(a), Some(vec![a; 4 + usize::from(a)])),
            (update_key(b), None),
        ]))),
        6 => (0u8..6).prop_map(Step::Get),
        8 => Just(Step::Reopen),
        3 => Just(Step::Write(Write::Compact)),
        2 => Just(Step::Write(Write::Sync)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn model_w4_updates(steps in prop::collection::vec(update_step(), 1..160)) {
        run_model_of(4, 1024, true, &steps, update_key, 6)?;
    }

    #[test]
    fn model_w8_updates_not_in_order(steps in prop::collection::vec(update_step(), 1..160)) {
        run_model_of(8, 1024, false, &steps, update_key, 6)?;
    }

    #[test]
    fn model_w1(steps in prop::collection::vec(step(), 1..160)) {
        run_model(1, 1024, true, &steps)?;
    }

    #[test]
    fn model_w4(steps in prop::collection::vec(step(), 1..160)) {
        run_model(4, 1024, true, &steps)?;
    }

    #[test]
    fn model_w16(steps in prop::collection::vec(step(), 1..160)) {
        run_model(16, 2048, true, &steps)?;
    }

    #[test]
    fn model_w4_not_in_order(steps in prop::collection::vec(step(), 1..160)) {
        run_model(4, 1024, false, &steps)?;
    }
}

#[test]
fn long_model_run_switches_many_times() {
    // One long deterministic run, to be sure the proptests are not all short.
    let wl = workload(3000, 14, 99, 24);
    let steps: Vec<Step> = wl
        .into_iter()
        .enumerate()
        .flat_map(|(i, w)| {
            let mut v = vec![Step::Write(w)];
            if i % 97 == 0 {
                v.push(Step::Reopen);
            }
            v
        })
        .collect();
    for w in [1, 4, 16, 32] {
        run_model(w, 2048, true, &steps).unwrap();
    }
    let _ = Error::<()>::Full;
}

/// The core model test through the embedded-storage adapter on `SimFlash`,
/// for every write unit: random sets, deletes, batches, gets, compactions and
/// reopens against a `BTreeMap`, on 512-byte regions (two erase units) so the
/// store switches often. Half the cases put A and B on two flashes, half on
/// the two halves of one.
#[cfg(feature = "flash-sim")]
mod flash {
    use std::cell::RefCell;

    use proptest::prelude::*;
    use twinkv_core::testkit::flash::*;
    use twinkv_core::testkit::*;
    use twinkv_core::{Config, Error, Op};

    #[derive(Clone, Debug)]
    enum Step {
        Set(u8, usize),
        Delete(u8),
        Get(u8),
        Batch(Vec<(u8, Option<usize>)>),
        Compact,
        Reopen,
    }

    const KEYS: u8 = 6;
    const MAX_VALUE: usize = 24;

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (0..KEYS, 0..=MAX_VALUE).prop_map(|(k, n)| Step::Set(k, n)),
            3 => (0..KEYS).prop_map(Step::Delete),
            3 => (0..KEYS).prop_map(Step::Get),
            1 => prop::collection::vec((0..KEYS, prop::option::of(0..=MAX_VALUE)), 1..4)
                .prop_map(Step::Batch),
            1 => Just(Step::Compact),
            1 => Just(Step::Reopen),
        ]
    }

    fn value(i: usize, len: usize) -> Vec<u8> {
        let mut v = format!("{i}=").into_bytes();
        v.resize(len, b'a' + (i % 26) as u8);
        v
    }

    /// Live bytes of a model: what core's `live_bytes` must say.
    fn live<const W: usize>(m: &Model) -> u32 {
        m.iter()
            .map(|(k, v)| {
                twinkv_core::format::record::stored_len(k.len() as u32, v.len() as u32, W as u32)
                    .unwrap()
            })
            .sum()
    }

    /// Applies a write's result to the model: `Full` only when the live data
    /// would grow past the fill limit, and `Ok` otherwise.
    fn settle<const W: usize>(
        r: Result<(), StoreError>,
        model: &mut Model,
        after: Model,
        fill_limit: u32,
    ) -> Result<(), TestCaseError> {
        let (old, new) = (live::<W>(model), live::<W>(&after));
        let over = new > fill_limit && new > old;
        match r {
            Ok(()) => {
                prop_assert!(!over, "accepted {} > limit {}", new, fill_limit);
                *model = after;
            }
            Err(Error::Full) => prop_assert!(over, "Full at {} <= limit {}", new, fill_limit),
            Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
        }
        Ok(())
    }

    fn cfg() -> Config {
        Config::new(0x30DE1).with_limits(16, MAX_VALUE as u32)
    }

    fn run<const W: usize>(steps: &[Step], two: bool) -> Result<u32, TestCaseError> {
        let keys = varied_universe(KEYS);
        let one = RefCell::new(sim::<W>(1024));
        let (fa, fb) = (RefCell::new(sim::<W>(512)), RefCell::new(sim::<W>(512)));
        let open = || {
            if two {
                open_two::<W>(&fa, &fb, cfg())
            } else {
                open::<W>(&one, cfg())
            }
        };
        let mut model = Model::new();
        let mut switches = 0;
        let mut s = open().unwrap();
        let mut buf = [0u8; MAX_VALUE];
        for (i, st) in steps.iter().enumerate() {
            match st {
                Step::Set(k, n) => {
                    let v = value(i, *n);
                    let mut after = model.clone();
                    after.insert(varied_key(*k), v.clone());
                    let limit = s.stats().fill_limit;
                    settle::<W>(s.set(&varied_key(*k), &v), &mut model, after, limit)?;
                }
                Step::Delete(k) => {
                    let had = s.remove(&varied_key(*k)).unwrap();
                    prop_assert_eq!(had, model.remove(&varied_key(*k)).is_some());
                }
                Step::Get(k) => {
                    let got = s
                        .get(&varied_key(*k), &mut buf)
                        .unwrap()
                        .map(|n| buf[..n].to_vec());
                    prop_assert_eq!(got.as_ref(), model.get(&varied_key(*k)), "step {}", i);
                }
                Step::Batch(ops) => {
                    let vals: Vec<_> = ops
                        .iter()
                        .map(|(k, n)| (varied_key(*k), n.map(|n| value(i, n))))
                        .collect();
                    let batch: Vec<Op<'_>> = vals
                        .iter()
                        .map(|(k, v)| match v {
                            Some(v) => Op::Set(k, v),
                            None => Op::Delete(k),
                        })
                        .collect();
                    let r = s.apply(&batch);
                    let mut after = model.clone();
                    Write::Batch(vals.clone()).apply_to(&mut after);
                    let limit = s.stats().fill_limit;
                    settle::<W>(r, &mut model, after, limit)?;
                }
                Step::Compact => s.compact().unwrap(),
                Step::Reopen => {
                    switches += s.stats().switches;
                    drop(s);
                    s = open().unwrap();
                }
            }
            prop_assert_eq!(s.len(), model.len(), "step {}", i);
            let st = s.stats();
            prop_assert_eq!(st.live_bytes, live::<W>(&model), "step {}", i);
            prop_assert!(!st.dirty_tail && st.damaged_keys == 0, "{:?}", st);
        }
        check_store(&mut s, &model, &keys).map_err(TestCaseError::fail)?;
        switches += s.stats().switches;
        drop(s);
        let mut s = open().unwrap();
        check_store(&mut s, &model, &keys).map_err(TestCaseError::fail)?;
        Ok(switches)
    }

    macro_rules! model_test {
        ($name:ident, $w:literal) => {
            proptest! {
                #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
                #[test]
                fn $name(steps in prop::collection::vec(step(), 1..200), two in any::<bool>()) {
                    run::<$w>(&steps, two)?;
                }
            }
        };
    }

    model_test!(model_w1, 1);
    model_test!(model_w2, 2);
    model_test!(model_w4, 4);
    model_test!(model_w8, 8);
    model_test!(model_w16, 16);
    model_test!(model_w32, 32);

    /// The generated workloads switch often: a fixed long run per write unit.
    #[test]
    fn long_fixed_runs_switch_many_times() {
        fn long<const W: usize>() -> u32 {
            let mut r = Rng(W as u64);
            let steps: Vec<Step> = (0..3000)
                .map(|_| match r.below(20) {
                    0..=11 => Step::Set(
                        r.below(u64::from(KEYS)) as u8,
                        r.below(MAX_VALUE as u64 + 1) as usize,
                    ),
                    12..=14 => Step::Delete(r.below(u64::from(KEYS)) as u8),
                    15..=17 => Step::Get(r.below(u64::from(KEYS)) as u8),
                    18 => Step::Batch(vec![(0, Some(3)), (1, None), (2, Some(24))]),
                    _ => Step::Reopen,
                })
                .collect();
            run::<W>(&steps, W.is_multiple_of(2)).unwrap()
        }
        let switches = for_each_write_unit!(long());
        for (w, n) in [1, 2, 4, 8, 16, 32].iter().zip(switches) {
            assert!(n > 100, "W={w}: only {n} switches");
        }
    }
}
