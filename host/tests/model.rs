//! Core's model test rerun on memory-mapped files: random sets, deletes,
//! batches, gets, syncs, compactions and reopens against a `BTreeMap`, on
//! small regions (2–8 KiB) so the store switches often.

use std::collections::BTreeMap;

use proptest::prelude::*;
use twinkv_host::{Durability, Options, Store};

#[derive(Clone, Debug)]
enum Op {
    Set(u8, Vec<u8>),
    Delete(u8),
    Get(u8),
    SetMany(Vec<(u8, Vec<u8>)>),
    Sync,
    Compact,
    Reopen,
    Clear,
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    let value = proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        40 => (0u8..24, value.clone()).prop_map(|(k, v)| Op::Set(k, v)),
        12 => (0u8..24).prop_map(Op::Delete),
        15 => (0u8..24).prop_map(Op::Get),
        6 => proptest::collection::vec((0u8..24, value), 1..5).prop_map(Op::SetMany),
        4 => Just(Op::Sync),
        3 => Just(Op::Compact),
        6 => Just(Op::Reopen),
        1 => Just(Op::Clear),
    ]
}

fn options(size: u32, sync: bool) -> Options {
    let d = if sync {
        Durability::SyncEveryWrite
    } else {
        Durability::Default
    };
    Options::new()
        .region_size(size)
        .limits(16, 40)
        .durability(d)
}

fn check(store: &Store, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let got: BTreeMap<Vec<u8>, Vec<u8>> = store.to_hashmap().unwrap().into_iter().collect();
    assert_eq!(&got, model);
    assert_eq!(store.len(), model.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn mapped_store_matches_a_btreemap(
        units in 4u32..=16,
        sync in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..160),
    ) {
        let size = units * 512;
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("model");
        let mut store = Store::open(&base, options(size, sync)).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Set(k, v) => match store.set(key(k), &v) {
                    Ok(()) => { model.insert(key(k), v); }
                    Err(e) if e.is_full() => {}
                    Err(e) => panic!("{e}"),
                },
                Op::Delete(k) => {
                    let had = store.remove(key(k)).unwrap();
                    prop_assert_eq!(had, model.remove(&key(k)).is_some());
                }
                Op::Get(k) => {
                    prop_assert_eq!(store.get(key(k)).unwrap(), model.get(&key(k)).map(|v| &v[..]));
                }
                Op::SetMany(pairs) => {
                    let kv: Vec<(Vec<u8>, Vec<u8>)> = pairs.into_iter().map(|(k, v)| (key(k), v)).collect();
                    match store.set_many(kv.clone()) {
                        Ok(()) => model.extend(kv),
                        Err(e) if e.is_full() => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Sync => store.sync().unwrap(),
                Op::Compact => store.compact().unwrap(),
                Op::Clear => { store.clear().unwrap(); model.clear(); }
                Op::Reopen => {
                    drop(store);
                    store = Store::open(&base, options(size, sync)).unwrap();
                    check(&store, &model);
                }
            }
        }
        check(&store, &model);
        drop(store);
        let ro = Store::open_read_only(&base).unwrap();
        check(&ro, &model);
    }
}
