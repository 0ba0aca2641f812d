//! Model test of large batches with many repeated keys against a `BTreeMap`:
//! the last op on a key wins, a refused batch changes nothing, and the
//! counters a reopen rebuilds equal the ones the batch kept. Indexes with
//! room for the batch's keys next to the live ones (the keys are staged in
//! the index) and nearly full ones (the batch falls back to scanning its ops,
//! sometimes in the middle of a pass); regions small enough that most large
//! batches are folded into a switch.

use std::collections::BTreeMap;

use proptest::prelude::*;
use twinkv_core::{Config, Error, FixedIndex, Op, RamRegion, Store};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Debug)]
enum Step {
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Set(u8, Vec<u8>),
    Reopen,
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

fn steps(keys: u8) -> impl Strategy<Value = Vec<Step>> {
    let value = prop::collection::vec(any::<u8>(), 0..=12);
    let op = (0..keys, prop::option::weighted(0.7, value.clone()));
    let step = prop_oneof![
        6 => prop::collection::vec(op, 2..400).prop_map(Step::Batch),
        2 => (0..keys, value).prop_map(|(k, v)| Step::Set(k, v)),
        1 => Just(Step::Reopen),
    ];
    prop::collection::vec(step, 1..24)
}

/// The most keys with a value at any point of applying `ops` to `model` in
/// order (a delete of a key without damage leaves no index entry).
fn peak_entries(model: &Model, ops: &[(u8, Option<Vec<u8>>)]) -> usize {
    let mut m = model.clone();
    let mut peak = m.len();
    for (k, v) in ops {
        match v {
            Some(v) => m.insert(key(*k), v.clone()),
            None => m.remove(&key(*k)),
        };
        peak = peak.max(m.len());
    }
    peak
}

fn run<const N: usize>(size: u32, keys: u8, steps: &[Step]) -> Result<(), TestCaseError> {
    let (mut a, mut b) = twinkv_core::testkit::ram_pair(size, 256);
    let config = Config::new(0xBA7C).with_limits(8, 16);
    let mut model = Model::new();
    let mut store = open::<N>(&mut a, &mut b, config);
    let mut buf = [0u8; 32];
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Batch(ops) => {
                let owned: Vec<(Vec<u8>, &Option<Vec<u8>>)> =
                    ops.iter().map(|(k, v)| (key(*k), v)).collect();
                let batch: Vec<Op<'_>> = owned
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => Op::Set(k, v),
                        None => Op::Delete(k),
                    })
                    .collect();
                match store.apply(&batch) {
                    Ok(()) => {
                        for (k, v) in ops {
                            match v {
                                Some(v) => model.insert(key(*k), v.clone()),
                                None => model.remove(&key(*k)),
                            };
                        }
                    }
                    Err(Error::IndexFull) => {
                        prop_assert!(peak_entries(&model, ops) > N, "step {i}: IndexFull");
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("step {i}: {e:?}"))),
                }
            }
            Step::Set(k, v) => match store.set(&key(*k), v) {
                Ok(()) => {
                    model.insert(key(*k), v.clone());
                }
                Err(Error::IndexFull) => prop_assert!(model.len() >= N, "step {i}"),
                Err(e) => return Err(TestCaseError::fail(format!("step {i}: {e:?}"))),
            },
            Step::Reopen => {
                let before = store.stats();
                drop(store);
                store = open::<N>(&mut a, &mut b, config);
                let after = store.stats();
                prop_assert_eq!(before.live_bytes, after.live_bytes, "step {}", i);
                prop_assert_eq!(before.live_keys, after.live_keys, "step {}", i);
            }
        }
        prop_assert_eq!(store.len(), model.len(), "step {}", i);
        for k in 0..keys {
            let got = store
                .get(&key(k), &mut buf)
                .map(|o| o.map(|n| buf[..n].to_vec()));
            prop_assert_eq!(got, Ok(model.get(&key(k)).cloned()), "step {} key {}", i, k);
        }
    }
    drop(store);
    let mut store = open::<N>(&mut a, &mut b, config);
    prop_assert_eq!(store.len(), model.len());
    for k in 0..keys {
        let got = store
            .get(&key(k), &mut buf)
            .map(|o| o.map(|n| buf[..n].to_vec()));
        prop_assert_eq!(got, Ok(model.get(&key(k)).cloned()), "reopened key {}", k);
    }
    Ok(())
}

type Ram = RamRegion<Vec<u8>>;

fn open<'r, const N: usize>(
    a: &'r mut Ram,
    b: &'r mut Ram,
    config: Config,
) -> Store<&'r mut Ram, FixedIndex<N>, Vec<u8>> {
    let scratch = vec![0u8; Store::<&mut Ram, FixedIndex<N>, Vec<u8>>::scratch_len(&config, 4)];
    Store::open(a, b, FixedIndex::<N>::new(), scratch, config).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// 24 keys in a 64-entry index: every key of a batch can be staged.
    #[test]
    fn batches_staged(steps in steps(24)) {
        run::<64>(16 * 1024, 24, &steps)?;
    }

    /// Small regions: most large batches are folded into a switch.
    #[test]
    fn batches_folded_into_switches(steps in steps(24)) {
        run::<64>(2048, 24, &steps)?;
    }

    /// 40 keys in a 64-entry index: staging runs out of room mid-pass and the
    /// pass falls back to scanning.
    #[test]
    fn batches_fall_back_mid_pass(steps in steps(40)) {
        run::<64>(16 * 1024, 40, &steps)?;
    }

    /// 40 keys in a 32-entry index: batches that would pass it are refused
    /// and change nothing.
    #[test]
    fn batches_refused_when_the_index_is_full(steps in steps(40)) {
        run::<32>(16 * 1024, 40, &steps)?;
    }
}
