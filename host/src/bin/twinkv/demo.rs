//! `twinkv demo`: the A/B switch on real files, as it happens.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use twinkv_host::{Options, RegionId, Store};

use crate::{exit, out_err, Failure};

/// Switches the demo waits for: A→B→A→B→A→B.
const SWITCHES: u32 = 5;

fn name(r: RegionId) -> &'static str {
    match r {
        RegionId::A => "A",
        RegionId::B => "B",
    }
}

pub(crate) fn run(out: &mut dyn Write, dir: Option<PathBuf>) -> Result<u8, Failure> {
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", d.display())))?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("twinkv-demo-")
            .tempdir()?
            .keep(),
    };
    let base = dir.join("demo");
    let (pa, pb) = twinkv_host::region_paths(&base);
    if pa.exists() || pb.exists() {
        return Err(Failure::new(
            exit::ERROR,
            format!("{} already exists; give an empty --dir", pa.display()),
        ));
    }
    // The seed's example: 1 KiB regions, 40 % high-water mark.
    let options = Options::new()
        .region_size(1024)
        .ratios(4000, 9000)
        .limits(16, 32);
    let mut w = |line: String| writeln!(out, "{line}").map_err(out_err);
    w("twinkv demo: two 1 KiB regions, high-water mark 40 %".into())?;
    w(format!("  files {} and {}", pa.display(), pb.display()))?;
    let mut store = Store::open(&base, options.clone())?;
    let st = store.stats()?;
    w(format!(
        "  region {} active, generation {}, capacity {} B for records",
        name(st.active),
        st.generation,
        st.capacity
    ))?;
    let mut model = BTreeMap::new();
    let mut switches = 0;
    let mut write = 0u32;
    let mut last = (st.active, st.generation);
    let sensors = ["temp", "humidity", "pressure", "light", "co2", "noise"];
    while switches < SWITCHES {
        write += 1;
        if write > 10_000 {
            return Err(Failure::new(exit::ERROR, "the store never switched"));
        }
        let key = format!("sensor/{}", sensors[write as usize % sensors.len()]);
        let value = format!("{}.{}", 15 + write % 20, write % 10);
        store.set(&key, &value)?;
        model.insert(key.clone(), value.clone());
        let st = store.stats()?;
        if (st.active, st.generation) != last {
            switches += 1;
            w(format!(
                "switch {switches}: {} -> {} on write #{write} ({key} = {value}): generation {}, live {} B in {} keys, used {} B of {} B",
                name(last.0),
                name(st.active),
                st.generation,
                st.live_bytes,
                st.live_keys,
                st.used_bytes,
                st.capacity
            ))?;
            last = (st.active, st.generation);
        }
    }
    drop(store);
    let store = Store::open(&base, options)?;
    let st = store.stats()?;
    let mut bad = 0;
    for (k, v) in &model {
        if store.get(k)? != Some(v.as_bytes()) {
            bad += 1;
            w(format!("  MISMATCH {k}: expected {v:?}"))?;
        }
    }
    if store.len() != model.len() {
        bad += 1;
        w(format!(
            "  MISMATCH: {} keys, expected {}",
            store.len(),
            model.len()
        ))?;
    }
    w(format!(
        "reopened: region {}, generation {}, {} keys; {} of {} values check out",
        name(st.active),
        st.generation,
        store.len(),
        model.len() - bad.min(model.len()),
        model.len()
    ))?;
    if bad > 0 {
        return Err(Failure::new(exit::CORRUPT, "demo: values do not match"));
    }
    w(format!(
        "demo ok (files kept; try `twinkv stats {}` or `twinkv verify {}`)",
        base.display(),
        base.display()
    ))?;
    Ok(exit::OK)
}
