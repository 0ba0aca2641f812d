//! Text output of `stats`, `verify` and `inspect`.

use std::io::Write;

use twinkv_host::core::format::record::Kind;
use twinkv_host::core::format::MarkerState;
use twinkv_host::core::{fill_limit, BP_ONE};
use twinkv_host::inspect::{show_key, HeaderState, RecordInfo, RegionReport, Report, Verdict};
use twinkv_host::Store;

use crate::{out_err, Failure};

type Out<'a> = &'a mut dyn Write;

/// A 30-column bar of `part / whole`.
fn bar(part: u32, whole: u32) -> String {
    const W: u64 = 30;
    let filled = if whole == 0 {
        0
    } else {
        (u64::from(part) * W).div_ceil(u64::from(whole)).min(W)
    };
    let pct = if whole == 0 {
        0.0
    } else {
        f64::from(part) * 100.0 / f64::from(whole)
    };
    format!(
        "[{}{}] {pct:5.1} %",
        "#".repeat(filled as usize),
        ".".repeat((W - filled) as usize)
    )
}

pub(crate) fn stats(out: Out<'_>, s: &Store) -> Result<(), Failure> {
    let st = s.stats()?;
    let c = s.config();
    let (a, b) = s.file_paths();
    let (sa, sb) = s.region_sizes();
    let mut w = |line: String| writeln!(out, "{line}").map_err(out_err);
    w(format!("store         {}", s.path().display()))?;
    w(format!(
        "files         {} ({sa} B), {} ({sb} B)",
        a.display(),
        b.display()
    ))?;
    w(format!("store id      {:016x}", st.store_id))?;
    w(format!(
        "active        region {:?}, generation {}",
        st.active, st.generation
    ))?;
    w(format!("capacity      {} B for records", st.capacity))?;
    w(format!(
        "used          {:>10} B {}",
        st.used_bytes,
        bar(st.used_bytes, st.capacity)
    ))?;
    w(format!(
        "uncovered     {:>10} B (of used: checked record by record at open)",
        st.uncovered_bytes
    ))?;
    w(format!(
        "live          {:>10} B {}",
        st.live_bytes,
        bar(st.live_bytes, st.capacity)
    ))?;
    w(format!(
        "free          {:>10} B {}",
        st.free_bytes,
        bar(st.free_bytes, st.capacity)
    ))?;
    w(format!(
        "high-water    {:.1} % ({} B); max-fill {:.1} % ({} B of live data)",
        f64::from(c.high_water_bp) * 100.0 / f64::from(BP_ONE),
        fill_limit(st.capacity, c.high_water_bp),
        f64::from(c.max_fill_bp) * 100.0 / f64::from(BP_ONE),
        st.fill_limit
    ))?;
    w(format!(
        "limits        key {} B, value {} B",
        c.max_key_len, c.max_value_len
    ))?;
    w(format!(
        "switches      {} since open (generation counts them all)",
        st.switches
    ))?;
    w(format!("keys          {}", st.live_keys))?;
    w(format!("damaged keys  {}", st.damaged_keys))?;
    let mut state = Vec::new();
    if st.dirty_tail {
        state.push("dirty tail (a crash left a torn write; the next write switches regions)");
    }
    if st.unfinished_switch {
        state.push("unfinished switch (the next writable open completes it)");
    }
    if st.damage_found_at_open > 0 {
        state.push("damage found (run `twinkv verify`)");
    }
    if state.is_empty() {
        state.push("clean");
    }
    w(format!("state         {}", state.join("; ")))?;
    Ok(())
}

fn marker(m: MarkerState) -> String {
    match m {
        MarkerState::Erased => "erased".to_string(),
        MarkerState::Valid(0) => "set".to_string(),
        MarkerState::Valid(end) => format!("set (data end {end})"),
        MarkerState::Torn => "torn".to_string(),
    }
}

/// A record's kind as shown: a set stored as an update (FORMAT.md §4.3)
/// is shown as one.
fn kind(x: &RecordInfo) -> String {
    match x.kind {
        Kind::Set if x.update => "update".into(),
        Kind::Set => "set".into(),
        Kind::Delete => "delete".into(),
        Kind::BatchBegin => "batch-begin".into(),
        Kind::BatchCommit => "batch-commit".into(),
        Kind::Clear => "clear".into(),
        Kind::SyncMarker => "sync".into(),
        Kind::Erased => "erased".into(),
        Kind::Damaged => "damaged".into(),
        Kind::Reserved(c) => format!("reserved({c})"),
    }
}

fn region(out: Out<'_>, name: &str, r: &RegionReport, records: bool) -> Result<(), Failure> {
    let mut w = |line: String| writeln!(out, "{line}").map_err(out_err);
    match r.header {
        HeaderState::Empty => return w(format!("{name}: empty ({} B, erased throughout)", r.size)),
        HeaderState::ErasedHeader => {
            return w(format!(
                "{name}: header erased but data follows ({} B): partly erased",
                r.size
            ))
        }
        HeaderState::Invalid => return w(format!("{name}: not a twinkv region ({} B)", r.size)),
        HeaderState::Unsupported(v) => {
            return w(format!("{name}: twinkv format version {v} (not supported)"))
        }
        HeaderState::Valid(h) => {
            w(format!(
                "{name}: store {:016x}, generation {}, {} B, write unit {}, erase unit {}, key <= {} B, value <= {} B",
                h.store_id, h.generation, h.region_size, h.write_unit, h.erase_unit, h.max_key_len, h.max_value_len
            ))?;
        }
    }
    if let Some([sw, cm, sp]) = r.markers {
        w(format!(
            "  markers: switching {}, commit {}, superseded {}",
            marker(sw),
            marker(cm),
            marker(sp)
        ))?;
    }
    let intact = r.records.iter().filter(|x| x.intact).count();
    w(format!(
        "  records: {} ({} intact), log ends at {}",
        r.records.len(),
        intact,
        r.log_end
            .map_or("— (never erased to the end)".to_string(), |e| e
                .to_string())
    ))?;
    if records {
        for x in &r.records {
            let key = if x.key.is_empty() {
                String::new()
            } else {
                format!(" key {}", show_key(&x.key))
            };
            w(format!(
                "    @{:<8} {:<12}{key} value {} B, {} B stored, {}",
                x.offset,
                kind(x),
                x.value_len,
                x.len,
                if x.intact { "intact" } else { "DAMAGED" }
            ))?;
        }
    }
    for p in &r.problems {
        w(format!(
            "  problem at {}..{}: {:?}",
            p.offset, p.end, p.kind
        ))?;
    }
    Ok(())
}

fn findings(out: Out<'_>, r: &Report) -> Result<(), Failure> {
    let mut w = |line: String| writeln!(out, "{line}").map_err(out_err);
    match &r.open {
        Ok(st) => w(format!(
            "open: active region {:?}, generation {}, {} keys, {} damaged",
            st.active, st.generation, st.live_keys, st.damaged_keys
        ))?,
        Err(e) => w(format!("open: {e}"))?,
    }
    match &r.verdict {
        Verdict::Clean => {}
        Verdict::Recoverable(f) | Verdict::Corrupt(f) => {
            for x in f {
                w(format!("- {x}"))?;
            }
        }
    }
    w(format!("verdict: {}", r.verdict.name()))
}

pub(crate) fn verify(out: Out<'_>, r: &Report, verbose: bool) -> Result<(), Failure> {
    for (name, reg) in &r.regions {
        region(out, name, reg, verbose)?;
    }
    findings(out, r)
}

pub(crate) fn inspect(
    out: Out<'_>,
    r: &Report,
    src: &crate::json::ImageSource<'_>,
) -> Result<(), Failure> {
    let size = r.regions[0].1.size;
    writeln!(
        out,
        "image: {} ({} B), regions at offset {} (A) and {} (B) of {size} B, write unit {}, erase unit {}",
        src.path,
        src.file_size,
        src.offset,
        u64::from(src.offset) + u64::from(size),
        src.write_unit,
        src.erase_unit,
    )
    .map_err(out_err)?;
    for (name, reg) in &r.regions {
        region(out, &format!("region {name}"), reg, true)?;
    }
    if r.open.is_ok() {
        writeln!(out, "live entries: {}", r.entries.len()).map_err(out_err)?;
        for (k, v) in &r.entries {
            writeln!(out, "  {} = {}", show_key(k), show_key(v)).map_err(out_err)?;
        }
    }
    findings(out, r)
}
