//! The faults: what one damage does to an image, and which are tried.

use std::collections::BTreeSet;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::*;

// ----- faults ----------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Flip,
    Zero,
    Ones,
    UnitZero,
    UnitErase,
    UnitOlder,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Flip,
        Kind::Zero,
        Kind::Ones,
        Kind::UnitZero,
        Kind::UnitErase,
        Kind::UnitOlder,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flip => "bit flip",
            Kind::Zero => "byte=00",
            Kind::Ones => "byte=FF",
            Kind::UnitZero => "unit zeroed",
            Kind::UnitErase => "unit erased",
            Kind::UnitOlder => "unit older",
        }
    }
}

/// One fault on one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub region: usize,
    pub kind: Kind,
    /// Byte offset (byte faults) or unit index (unit faults).
    pub at: u32,
    /// Bit (flip) or index into `Trace::older` (unit older).
    pub arg: u32,
}

impl Fault {
    pub fn describe(&self, t: &Trace) -> String {
        let r = if self.region == 0 { 'A' } else { 'B' };
        let act = if self.region == t.active {
            "active"
        } else {
            "inactive"
        };
        match self.kind {
            Kind::Flip => format!("flip bit {} of byte {} of {r} ({act})", self.arg, self.at),
            Kind::Zero | Kind::Ones => {
                format!("{} at byte {} of {r} ({act})", self.kind.name(), self.at)
            }
            Kind::UnitOlder => format!(
                "unit {} ({}..{}) of {r} ({act}) from the image after step {} of {}",
                self.at,
                self.at * t.erase_unit,
                (self.at + 1) * t.erase_unit,
                self.arg,
                t.older.len()
            ),
            _ => format!(
                "{} {} ({}..{}) of {r} ({act})",
                self.kind.name(),
                self.at,
                self.at * t.erase_unit,
                (self.at + 1) * t.erase_unit
            ),
        }
    }
}

/// A fault applied: the faulted image and the bytes it changed.
pub struct Applied {
    pub image: Image,
    pub first: u32,
    pub last: u32,
}

pub fn apply(t: &Trace, f: &Fault) -> Option<Applied> {
    let mut image = t.image.clone();
    let r = &mut image[f.region];
    let e = t.erase_unit as usize;
    match f.kind {
        Kind::Flip => r[f.at as usize] ^= 1 << f.arg,
        Kind::Zero => r[f.at as usize] = 0,
        Kind::Ones => r[f.at as usize] = 0xFF,
        Kind::UnitZero | Kind::UnitErase | Kind::UnitOlder => {
            let u = f.at as usize * e..(f.at as usize + 1) * e;
            match f.kind {
                Kind::UnitZero => r[u].fill(0),
                Kind::UnitErase => r[u].fill(0xFF),
                _ => {
                    let old = &t.older[f.arg as usize][f.region];
                    if old.len() < u.end {
                        return None;
                    }
                    r[u.clone()].copy_from_slice(&old[u]);
                }
            }
        }
    }
    let cur = &t.image[f.region];
    let r = &image[f.region];
    let changed: Vec<usize> = (0..r.len()).filter(|&i| r[i] != cur[i]).collect();
    let (&first, &last) = (changed.first()?, changed.last()?);
    Some(Applied {
        image,
        first: first as u32,
        last: last as u32,
    })
}

/// Unit faults on every unit of both regions: zeroed, erased, and replaced by
/// each distinct older content of that unit.
pub fn unit_faults(t: &Trace) -> Vec<Fault> {
    let mut out = Vec::new();
    let e = t.erase_unit as usize;
    for region in 0..2 {
        let units = t.image[region].len() / e;
        for u in 0..units {
            let at = u as u32;
            for kind in [Kind::UnitZero, Kind::UnitErase] {
                out.push(Fault {
                    region,
                    kind,
                    at,
                    arg: 0,
                });
            }
            let mut seen: BTreeSet<&[u8]> = BTreeSet::new();
            seen.insert(&t.image[region][u * e..(u + 1) * e]);
            for (i, old) in t.older.iter().enumerate().rev() {
                if let Some(bytes) = old[region].get(u * e..(u + 1) * e) {
                    if seen.insert(bytes) {
                        out.push(Fault {
                            region,
                            kind: Kind::UnitOlder,
                            at,
                            arg: i as u32,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Every byte fault: each bit flipped (or, with `one_bit`, one bit chosen
/// per byte), the byte set to 0x00, the byte set to 0xFF; both regions.
pub fn byte_faults_all(t: &Trace, one_bit: bool, seed: u64) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for region in 0..2 {
        for at in 0..t.image[region].len() as u32 {
            if one_bit {
                let arg = rng.below(8) as u32;
                out.push(Fault {
                    region,
                    kind: Kind::Flip,
                    at,
                    arg,
                });
            } else {
                for arg in 0..8 {
                    out.push(Fault {
                        region,
                        kind: Kind::Flip,
                        at,
                        arg,
                    });
                }
            }
            for kind in [Kind::Zero, Kind::Ones] {
                out.push(Fault {
                    region,
                    kind,
                    at,
                    arg: 0,
                });
            }
        }
    }
    out
}

/// `n` byte faults drawn with a seeded generator: 3 in 4 in the active
/// region's header, markers and log (up to 64 bytes past its end), the rest
/// anywhere in either region; half flips, a quarter each 0x00 and 0xFF.
/// Faults that change nothing are not drawn.
pub fn byte_faults_sample(t: &Trace, n: usize, seed: u64) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < n * 50 {
        tries += 1;
        let (region, at) = if rng.below(4) < 3 {
            let hi = (t.log_end + 64).min(t.image[t.active].len() as u32);
            (t.active, rng.below(u64::from(hi)) as u32)
        } else {
            let region = rng.below(2) as usize;
            (region, rng.below(t.image[region].len() as u64) as u32)
        };
        let (kind, arg) = match rng.below(4) {
            0 | 1 => (Kind::Flip, rng.below(8) as u32),
            2 => (Kind::Zero, 0),
            _ => (Kind::Ones, 0),
        };
        let f = Fault {
            region,
            kind,
            at,
            arg,
        };
        if apply(t, &f).is_some() && !out.contains(&f) {
            out.push(f);
        }
    }
    out
}
