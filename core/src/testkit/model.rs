//! The acknowledged-writes model: a `BTreeMap` of what the store must read,
//! the writes a workload is made of, and the check of a store against both.

use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use super::front::KvStore;
use crate::{Error, Op};

/// What the store must read: every key acknowledged and its last value.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One write of a workload or script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// `set(key, value)`.
    Set(Vec<u8>, Vec<u8>),
    /// `remove(key)`.
    Delete(Vec<u8>),
    /// `apply` of several ops (value `None`: delete).
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// `clear()`.
    Clear,
    /// `compact()`.
    Compact,
    /// `repair()`.
    Repair,
    /// `sync()`.
    Sync,
}

/// The ops of a batch as `Store::apply` takes them (value `None`: delete).
pub fn batch_ops(ops: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<Op<'_>> {
    ops.iter()
        .map(|(k, v)| match v {
            Some(v) => Op::Set(k, v),
            None => Op::Delete(k),
        })
        .collect()
}

impl Write {
    /// Applies the write to a model.
    pub fn apply_to(&self, m: &mut Model) {
        match self {
            Write::Set(k, v) => {
                m.insert(k.clone(), v.clone());
            }
            Write::Delete(k) => {
                m.remove(k);
            }
            Write::Batch(ops) => {
                for (k, v) in ops {
                    match v {
                        Some(v) => m.insert(k.clone(), v.clone()),
                        None => m.remove(k),
                    };
                }
            }
            Write::Clear => m.clear(),
            Write::Compact | Write::Repair | Write::Sync => {}
        }
    }

    /// The keys the write names (none for the whole-store writes).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        match self {
            Write::Set(k, _) | Write::Delete(k) => vec![k.clone()],
            Write::Batch(ops) => ops.iter().map(|(k, _)| k.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Runs the write on a store.
    pub fn run<S: KvStore>(&self, s: &mut S) -> Result<(), Error<S::E>> {
        match self {
            Write::Set(k, v) => s.set(k, v),
            Write::Delete(k) => s.remove(k).map(|_| ()),
            Write::Batch(ops) => s.apply(&batch_ops(ops)),
            Write::Clear => s.clear(),
            Write::Compact => s.compact(),
            Write::Repair => s.repair().map(|_| ()),
            Write::Sync => s.sync(),
        }
    }
}

/// Keys `key0` .. `key{keys-1}` (the keys of [`workload`](crate::testkit::workload())).
pub fn universe(keys: u32) -> Vec<Vec<u8>> {
    (0..keys).map(|k| format!("key{k}").into_bytes()).collect()
}

/// Every key of `model` and of `universe` reads as the model says, and `len`
/// agrees.
pub fn check_store<S: KvStore>(
    store: &mut S,
    model: &Model,
    universe: &[Vec<u8>],
) -> Result<(), String> {
    if store.len() != model.len() {
        return Err(format!("len {} != model {}", store.len(), model.len()));
    }
    let mut buf = vec![0u8; 8192];
    for k in universe.iter().chain(model.keys()) {
        let got = store
            .get(k, &mut buf)
            .map_err(|e| format!("get {:?}: {e:?}", String::from_utf8_lossy(k)))?
            .map(|n| buf[..n].to_vec());
        if got.as_ref() != model.get(k) {
            return Err(format!(
                "key {:?}: store {:?} model {:?}",
                String::from_utf8_lossy(k),
                got.map(|v| String::from_utf8_lossy(&v).into_owned()),
                model
                    .get(k)
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            ));
        }
    }
    Ok(())
}
