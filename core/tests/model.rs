//! Model tests: random operations against a `BTreeMap`, at write units 1, 4
//! and 16, with reopen steps, on small regions so the store switches often.
//! After every step and every reopen the store equals the model.

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
    let power = Power::default();
    let config = Config::new(0x0DE1).with_limits(8, 24);
    let mut rig = Rig::new(&power, size, w, config);
    rig.set_in_order(in_order);
    let keys: Vec<Vec<u8>> = (0..14).map(key).collect();
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

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
