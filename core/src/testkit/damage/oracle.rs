//! The oracle: silent, reported, or a crash state (E1, E2, E3).

use std::format;
use std::string::String;
use std::vec::Vec;

use super::*;

// ----- the oracle --------------------------------------------------------------

/// The exceptions a crash can produce too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// In-order region: the fault lies in the newest record of the active log
    /// or the erased space after it.
    E1,
    /// A unit holding the end of the active log erased, or reverted to an
    /// older content of the same region generation.
    E2,
    /// Not-in-order region, default durability: after the last sync point,
    /// in a record that ends (within some sector) in a byte reading 0xFF, as
    /// a page lost from the page cache leaves it.
    E3,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Harmless,
    Reported,
    Crash(Class),
    Silent(String),
}

/// A key that reads neither its value nor `Corrupted`.
struct Lost {
    key: Vec<u8>,
    what: String,
}

fn observe(
    t: &Trace,
    phase: &str,
    reads: &[Read],
    keys: &[Vec<u8>],
    lost: &mut Vec<Lost>,
    always: &mut Vec<String>,
    reported: &mut bool,
) {
    for (k, r) in keys.iter().zip(reads) {
        let want = t.model.get(k);
        let hist = t.history.get(k);
        let name = String::from_utf8_lossy(k);
        match r {
            Read::Corrupted => *reported = true,
            Read::Error(e) => always.push(format!("{phase}: get {name}: error {e}")),
            Read::Value(v) if Some(v) == want => {}
            Read::Absent if want.is_none() => {}
            Read::Value(v) if hist.is_some_and(|h| h.contains(v)) => lost.push(Lost {
                key: k.clone(),
                what: match want {
                    Some(w) => format!(
                        "{phase}: {name} reads older value {:?} (acknowledged {:?})",
                        String::from_utf8_lossy(v),
                        String::from_utf8_lossy(w)
                    ),
                    None => format!(
                        "{phase}: deleted {name} is back with {:?}",
                        String::from_utf8_lossy(v)
                    ),
                },
            }),
            Read::Value(v) => always.push(format!(
                "{phase}: {name} reads {:?}, a value never written",
                String::from_utf8_lossy(v)
            )),
            Read::Absent => lost.push(Lost {
                key: k.clone(),
                what: format!(
                    "{phase}: {name} absent (acknowledged {:?})",
                    String::from_utf8_lossy(want.unwrap())
                ),
            }),
        }
    }
}

/// Judges one probe. Returns the verdict and whether the store stayed
/// available (opens read-write, takes the write, reopens, nothing silent).
pub fn judge(t: &Trace, f: &Fault, a: &Applied, p: &Probe) -> (Verdict, bool) {
    let keys = t.keys();
    let mut lost = Vec::new();
    let mut always = Vec::new();
    let mut reported = false;
    if let Some(m) = &p.panic {
        always.push(format!("panic: {m}"));
    }
    if p.refused_but_wrote {
        always.push("an open refused the store and still changed its bytes".into());
    }
    let phase = |name: &str,
                 o: &Opened,
                 extra_new: bool,
                 always: &mut Vec<String>,
                 lost: &mut Vec<Lost>,
                 reported: &mut bool| match o {
        Opened::Refused(_) => *reported = true,
        Opened::Failed(e) => always.push(format!("{name}: open failed: {e}")),
        Opened::Ok {
            generation,
            damage,
            reads,
        } => {
            *reported |= *damage;
            if *generation < t.generation && *generation != 0 {
                lost.push(Lost {
                    key: Vec::new(),
                    what: format!(
                        "{name}: generation {generation} < {} (rolled back / reformatted)",
                        t.generation
                    ),
                });
            }
            observe(t, name, reads, &keys, lost, always, reported);
            if extra_new {
                match reads.get(keys.len()) {
                    Some(Read::Value(v)) if v == NEW_VALUE => {}
                    Some(Read::Corrupted) => *reported = true,
                    other => always.push(format!(
                        "{name}: the write acknowledged after the fault reads {other:?}"
                    )),
                }
            }
        }
    };
    phase(
        "read-only open",
        &p.ro,
        false,
        &mut always,
        &mut lost,
        &mut reported,
    );
    phase(
        "read-write open",
        &p.rw,
        false,
        &mut always,
        &mut lost,
        &mut reported,
    );
    let mut wrote_ok = false;
    match &p.wrote {
        None => {}
        Some(Ok(())) => wrote_ok = true,
        Some(Err(Read::Corrupted)) => reported = true,
        Some(Err(Read::Error(e))) if e.contains("ReadOnly") => reported = true,
        Some(Err(e)) => always.push(format!("write after the fault: {e:?}")),
    }
    if let Some(re) = &p.re {
        phase(
            "reopen",
            re,
            wrote_ok,
            &mut always,
            &mut lost,
            &mut reported,
        );
    }
    let available =
        matches!(p.rw, Opened::Ok { .. }) && wrote_ok && matches!(p.re, Some(Opened::Ok { .. }));
    if !always.is_empty() {
        let mut why: Vec<String> = always;
        why.extend(lost.iter().take(1).map(|l| l.what.clone()));
        return (Verdict::Silent(why.join("; ")), false);
    }
    if lost.is_empty() {
        let v = if reported {
            Verdict::Reported
        } else {
            Verdict::Harmless
        };
        return (v, available);
    }
    match excuse(t, f, a, &lost) {
        Ok(c) => (Verdict::Crash(c), available),
        Err(i) => (Verdict::Silent(lost[i].what.clone()), false),
    }
}

/// The exception every lost key fits, or the index of the first lost key
/// that fits none (0 when the fault's shape fits none).
fn excuse(t: &Trace, f: &Fault, a: &Applied, lost: &[Lost]) -> Result<Class, usize> {
    if f.region != t.active {
        return Err(0);
    }
    // The last sync point whose evidence (commit marker, sync marker) the
    // fault left intact; none: the start of the log.
    let sync = t
        .syncs
        .iter()
        .filter(|(evidence, _)| *evidence <= a.first)
        .map(|&(_, point)| point)
        .max()
        .unwrap_or(t.data_start);
    // Every lost write lies after that sync point and reaches past the
    // fault's first byte: nothing after the fault says it was ever made.
    let misfit = lost.iter().position(|l| {
        l.key.is_empty()
            || !t
                .spans
                .get(&l.key)
                .is_some_and(|s| s.start >= sync && s.end > a.first)
    });
    if let Some(i) = misfit {
        return Err(i);
    }
    if t.in_order && a.first >= t.newest {
        return Ok(Class::E1);
    }
    let e = t.erase_unit;
    let unit_end = (f.at + 1) * e;
    let holds_end = unit_end >= t.log_end;
    match f.kind {
        Kind::UnitErase if holds_end => return Ok(Class::E2),
        Kind::UnitOlder if holds_end => {
            let old = &t.older[f.arg as usize][f.region];
            let u = (f.at * e) as usize..unit_end as usize;
            let erased = old[u].iter().all(|&b| b == 0xFF);
            // The same header (generation): the marker slots may differ (an
            // incremental switch sets "switching" while the log still grows).
            let h = crate::format::header::HEADER_LEN;
            let same_generation = old[..h] == t.image[f.region][..h];
            if erased || same_generation {
                return Ok(Class::E2);
            }
        }
        _ => {}
    }
    if t.page_cache && a.first >= sync && torn_shape(t, a) {
        return Ok(Class::E3);
    }
    Err(0)
}

/// FORMAT.md §10.1's crash shape on a memory-mapped file, on the damaged
/// image: the record of the undamaged log that holds the fault's first byte
/// ends, within some erase unit (sector), in a byte reading `0xFF` — what a
/// lost page or a copy cut short leaves. Such a record is indistinguishable
/// from one a crash tore, whatever else changed in it.
fn torn_shape(t: &Trace, a: &Applied) -> bool {
    let before = &t.image[t.active];
    let after = &a.image[t.active];
    let (w, e) = (t.write_unit, t.erase_unit);
    let mut at = t.data_start;
    while at + 8 <= t.log_end {
        let b = &before[at as usize..];
        let (header, key, value) = if b[0] & 0x10 == 0 {
            let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (8, (word >> 5) & 0x3F, (word >> 11) & 0x1FFF)
        } else {
            let key = u32::from(u16::from_le_bytes([b[2], b[3]]));
            (16, key, u32::from_le_bytes([b[4], b[5], b[6], b[7]]))
        };
        let end = at + header + key + value;
        let stored = (header + key + value).div_ceil(w) * w;
        if a.first < at + stored {
            // The last byte of the record in each erase unit it spans.
            let mut u = at;
            while u < end {
                let unit_end = ((u / e + 1) * e).min(end);
                if after[unit_end as usize - 1] == 0xFF {
                    return true;
                }
                u = unit_end;
            }
            return false;
        }
        at += stored;
    }
    false
}
