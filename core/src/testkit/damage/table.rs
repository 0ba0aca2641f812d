//! The result table: rows per medium, lifecycle and fault, and the verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::string::String;
use std::string::ToString;
use std::vec::Vec;
use std::{format, println};

use super::*;

// ----- the table -------------------------------------------------------------

#[derive(Clone, Default, Debug)]
pub struct Row {
    pub tried: u64,
    pub harmless: u64,
    pub reported: u64,
    pub e1: u64,
    pub e2: u64,
    pub e3: u64,
    pub silent: u64,
    pub available: u64,
    /// The first silent case: fault and reason.
    pub first: Option<String>,
}

impl Row {
    fn add(&mut self, o: &Row) {
        self.tried += o.tried;
        self.harmless += o.harmless;
        self.reported += o.reported;
        self.e1 += o.e1;
        self.e2 += o.e2;
        self.e3 += o.e3;
        self.silent += o.silent;
        self.available += o.available;
        if self.first.is_none() {
            self.first.clone_from(&o.first);
        }
    }
}

/// Where a fault's first changed byte lies, for grouping silent cases.
pub fn zone(t: &Trace, f: &Fault, a: &Applied) -> String {
    let role = if f.region == t.active {
        "active"
    } else {
        "inactive"
    };
    let l = crate::format::Layout::new(t.write_unit);
    let x = a.first;
    let z = if x < l.switching() {
        "header"
    } else if x < l.commit() {
        "switching slot"
    } else if x < l.superseded() {
        "commit slot"
    } else if x < l.data_start() {
        "superseded slot"
    } else if f.region != t.active {
        "log"
    } else if x < t.sync_point {
        "log before the sync point"
    } else if x < t.log_end {
        "log after the sync point"
    } else {
        "past the log end"
    };
    format!("{role} {z}")
}

/// The symptom of a silent case, without key names.
fn symptom(why: &str) -> &'static str {
    let first = why.split("; ").next().unwrap_or("");
    let (phase, rest) = first.split_once(": ").unwrap_or(("", first));
    let ro = phase.starts_with("read-only");
    match () {
        _ if first.starts_with("panic") => "panic",
        _ if first.contains("changed its bytes") => "refused open wrote",
        _ if rest.contains("ReadOnly on storage") => "read-only open refused with ReadOnly",
        _ if rest.contains("open failed") => "open failed with a non-damage error",
        _ if rest.contains("write acknowledged after the fault") => "post-fault write lost",
        _ if first.starts_with("write after") => "write failed with a non-damage error",
        _ if rest.contains("generation") => "generation rolled back",
        _ if rest.contains("never written") => "value never written",
        _ if rest.contains("is back") && ro => "deleted key back (read-only open)",
        _ if rest.contains("is back") => "deleted key back (after write+reopen)",
        _ if rest.contains("older value") && ro => "older value (read-only open)",
        _ if rest.contains("older value") => "older value (after write+reopen)",
        _ if rest.contains("absent") && ro => "key absent (read-only open)",
        _ if rest.contains("absent") => "key absent (after write+reopen)",
        _ => "other",
    }
}

/// Results keyed by (medium, lifecycle, fault kind).
#[derive(Default)]
pub struct Table {
    pub rows: BTreeMap<(String, String, Kind), Row>,
    /// Distinct silent cases: (medium, zone, fault kind, symptom) → (count,
    /// first lifecycle and case).
    pub classes: BTreeMap<(String, String, Kind, &'static str), (u64, String)>,
    /// Insertion order of (medium, lifecycle).
    order: Vec<(String, String)>,
}

impl Table {
    pub fn count(
        &mut self,
        medium: &str,
        life: &str,
        t: &Trace,
        f: &Fault,
        a: &Applied,
        outcome: &(Verdict, bool),
    ) {
        let (v, available) = (&outcome.0, outcome.1);
        if let Verdict::Silent(why) = v {
            let e = self
                .classes
                .entry((medium.into(), zone(t, f, a), f.kind, symptom(why)))
                .or_insert((0, format!("{life}: {}: {why}", f.describe(t))));
            e.0 += 1;
        }
        let ml = (medium.to_string(), life.to_string());
        if !self.order.contains(&ml) {
            self.order.push(ml);
        }
        let row = self
            .rows
            .entry((medium.into(), life.into(), f.kind))
            .or_default();
        row.tried += 1;
        row.available += u64::from(available);
        match v {
            Verdict::Harmless => row.harmless += 1,
            Verdict::Reported => row.reported += 1,
            Verdict::Crash(Class::E1) => row.e1 += 1,
            Verdict::Crash(Class::E2) => row.e2 += 1,
            Verdict::Crash(Class::E3) => row.e3 += 1,
            Verdict::Silent(why) => {
                row.silent += 1;
                if std::env::var_os("TWINKV_DAMAGE_VERBOSE").is_some() {
                    println!("SILENT [{medium} / {life}] {}: {why}", f.describe(t));
                }
                if row.first.is_none() {
                    row.first = Some(format!("{}: {why}", f.describe(t)));
                }
            }
        }
    }

    pub fn silent(&self) -> u64 {
        self.rows.values().map(|r| r.silent).sum()
    }

    pub fn tried(&self) -> u64 {
        self.rows.values().map(|r| r.tried).sum()
    }

    /// The table per medium, lifecycle and fault kind, a subtotal per
    /// (medium, lifecycle), then the first silent case of each row.
    pub fn render(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n== {title} ==");
        // The medium column as wide as its longest name ("ram-pagecache
        // async"), so the columns stay aligned.
        let mw = self.order.iter().map(|(m, _)| m.len()).fold(12, usize::max);
        let _ = writeln!(
            s,
            "{:<mw$} {:<14} {:<12} {:>7} {:>8} {:>8} {:>6} {:>6} {:>6} {:>7} {:>9}",
            "medium",
            "lifecycle",
            "fault",
            "tried",
            "harmless",
            "reported",
            "E1",
            "E2",
            "E3",
            "SILENT",
            "available"
        );
        let line = |s: &mut String, m: &str, l: &str, k: &str, r: &Row| {
            let _ = writeln!(
                s,
                "{:<mw$} {:<14} {:<12} {:>7} {:>8} {:>8} {:>6} {:>6} {:>6} {:>7} {:>9}",
                m, l, k, r.tried, r.harmless, r.reported, r.e1, r.e2, r.e3, r.silent, r.available
            );
        };
        let mut total = Row::default();
        for (m, l) in &self.order {
            let mut sub = Row::default();
            for k in Kind::ALL {
                if let Some(r) = self.rows.get(&(m.clone(), l.clone(), k)) {
                    line(&mut s, m, l, k.name(), r);
                    sub.add(r);
                }
            }
            line(&mut s, m, l, "= all", &sub);
            total.add(&sub);
        }
        line(&mut s, "TOTAL", "", "", &total);
        let firsts: Vec<_> = self
            .order
            .iter()
            .flat_map(|(m, l)| {
                Kind::ALL.iter().filter_map(move |k| {
                    self.rows
                        .get(&(m.clone(), l.clone(), *k))
                        .and_then(|r| r.first.as_ref())
                        .map(|f| format!("  [{m} / {l} / {}] {f}", k.name()))
                })
            })
            .collect();
        if !firsts.is_empty() {
            let _ = writeln!(s, "first silent case per row:");
            for f in firsts {
                let _ = writeln!(s, "{f}");
            }
        }
        if !self.classes.is_empty() {
            let _ = writeln!(
                s,
                "distinct silent cases (medium | where the fault starts | fault | symptom): count, first case"
            );
            for ((m, z, k, sy), (n, first)) in &self.classes {
                let _ = writeln!(s, "  {m} | {z} | {} | {sy}: {n}, e.g. {first}", k.name());
            }
        }
        s
    }

    /// Prints the table and fails if anything was silent.
    pub fn finish(&self, title: &str) {
        println!("{}", self.render(title));
        assert!(self.tried() > 0, "{title}: no fault was tried");
        assert_eq!(
            self.silent(),
            0,
            "{title}: {} silent outcomes (table above, run with --nocapture)",
            self.silent()
        );
    }
}

/// Whether the long (exhaustive) variant was asked for: the `#[ignore]`d
/// tests call the sweeps with `long = true`.
pub fn faults_for(t: &Trace, long: bool, sample: usize, seed: u64, one_bit: bool) -> Vec<Fault> {
    let mut v = unit_faults(t);
    if long {
        v.extend(byte_faults_all(t, one_bit, seed));
    } else {
        v.extend(byte_faults_sample(t, sample, seed));
    }
    v
}
