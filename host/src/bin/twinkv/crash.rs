//! `twinkv __crash-writer` (feature `_test-hooks`, hidden): the child the
//! crash test (host/tests/crash.rs) kills. It writes operation after
//! operation ([`twinkv_host::hooks::crash_op`]) and acknowledges each on
//! stdout; `TWINKV_ABORT_AT_STEP` makes it die at that counted step.

use std::path::Path;

use twinkv_host::{Durability, Options, Store};

use crate::cmd::{Out, Res};
use crate::{exit, out_err};

/// Runs the crash writer on `store`: operations `start..start + count`.
pub(crate) fn writer(
    out: Out<'_>,
    store: &Path,
    start: u64,
    count: u64,
    size: u32,
    sync: bool,
) -> Res {
    let durability = if sync {
        Durability::SyncEveryWrite
    } else {
        Durability::Default
    };
    let opts = Options::new()
        .region_size(size)
        .limits(16, 48)
        .durability(durability);
    let mut s = Store::open(store, opts)?;
    if let Some(n) = std::env::var("TWINKV_ABORT_AT_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        twinkv_host::hooks::die_at_step(n);
    }
    writeln!(out, "ready").map_err(out_err)?;
    out.flush().map_err(out_err)?;
    for i in start..start.saturating_add(count) {
        let (key, value) = twinkv_host::hooks::crash_op(i);
        match value {
            Some(v) => s.set(&key, &v)?,
            None => {
                s.remove(&key)?;
            }
        }
        writeln!(out, "ack {i}").map_err(out_err)?;
        out.flush().map_err(out_err)?;
    }
    Ok(exit::OK)
}
