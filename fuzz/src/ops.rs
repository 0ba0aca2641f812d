//! The `ops` and `ops_with_power_loss` targets: operation scripts
//! ([`crate::script`]) on a fresh store over two small regions, checked step
//! by step against an exact `BTreeMap` model.
//!
//! Both start from empty regions, so the model is exact: every key with a
//! value, nothing else. The result of every operation is predicted from the
//! model before it runs — including `EmptyKey`, `KeyTooLarge`,
//! `ValueTooLarge`, `Full` (the write grows the live records above the fill
//! limit) and `IndexFull` (the write needs more index entries than are free)
//! — and must be exactly that; a refused write must not program or erase a
//! single unit. After every step the store's contents (`for_each`, `get` of
//! every key the script names, `len`) equal the model, and `stats` agrees
//! (`live_bytes` is the stored length of the model's records, no damage).
//!
//! `ops_with_power_loss` runs the same sessions on [`CutRegion`]s sharing one
//! [`Power`] supply, with up to [`CUTS`] power cuts armed one after the
//! other (the first at the start, each next one at the reboot after the
//! previous cut fired, so it can hit the recovery's open and switch, or the
//! first writes after it). After each cut: reboot, reopen (retried through
//! further cuts), and the store must hold exactly the acknowledged state or
//! that state with the operation in flight applied (all or nothing); then
//! the script goes on from the next step, still checked exactly.
//!
//! ## A fault between operations
//!
//! With `Setup::flags` bit 2, an input carries a [`Fault`]: before a given
//! step (or before the final reopen) one byte of a region gets a bit
//! flipped, or reads `0x00` or `0xFF`, or an erase unit reads `0x00` or is
//! erased — damage after a write succeeded, while the store stays open
//! ([`crate::power::Strike`]). From then on the exact model gives way to the
//! damage oracle ([`Dmg`]): every key the script names reads its last
//! acknowledged value or answers `Corrupted`, and an open may refuse only
//! with `Corrupted`, `Unrecognised` or `UnsupportedFormat`. Writes the store
//! acknowledges after the fault must read exactly (or `Corrupted`), also
//! after reopens and power cuts; an operation that fails or is cut may have
//! taken effect or not. After `repair` a key may read any value the script
//! ever wrote to it, or nothing (repair drops damage, FORMAT.md §8.1).
//! A `RamRegion` refusal to program over bytes the fault changed
//! (`NotErased`, `AlreadyProgrammed` in the unit it hit) is the fault's own
//! doing, not a bug: real flash would program garbage there.
//!
//! The only exceptions are faults a crash could have left (FORMAT.md §6, §10;
//! decided from the images before and after the fault, against the writes
//! the exact session saw appended to the active region since its last
//! switch):
//!
//! - regions that persist in order: the fault changed the bytes of
//!   appended operation `j`, every record after it was changed too, and the
//!   region reads erased after the log end — the torn last program call, or
//!   an erased unit holding the log end: the store may show the state before
//!   `j`;
//! - regions that do not persist in order: the fault changed a record of an
//!   operation appended after the last sync point (the commit's data end or
//!   the start of the last sync marker the fault left intact — a marker is
//!   itself durable only at the next sync) and that record now has a byte
//!   reading `0xFF` (a lost page): the store
//!   may show the state before it, and writes appended after the fault before
//!   the next sync point may be lost with it;
//! - the active region reads erased and its partner holds at most a header
//!   fragment (no valid header, nothing past the marker area; e.g. the torn
//!   target of an earlier cut switch): nothing says a store ever held a
//!   write, a cut first format looks the same, and the store may be
//!   formatted anew.
//!
//! These rollbacks are revoked once something proves the writes were made: a
//! completed switch, a sync marker, or (in order) bytes programmed after the
//! fault-time log end. Nothing before the commit's data end is ever a crash.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use twinkv_core::format::record::{self, stored_len, Slot};
use twinkv_core::format::{Layout, Marker, MarkerState, RegionHeader, Seal, HEADER_LEN};
use twinkv_core::testkit::noting::NotingIndex;
use twinkv_core::{
    Config, Error, Geometry, MappedRegion, RamError, RegionId, Stats, Store, TearMode, WRITE_UNITS,
};

use crate::image::{region_size, ERASE_UNIT};
use crate::power::{CutRegion, Power, Strike, StrikeKind};
use crate::script::{self, Step, Value, GET_BUF};
use crate::INDEX;
use twinkv_core::testkit::batch_ops;

/// Built with feature `tolerate-known-findings`: a session that runs into
/// one of the open findings of README.md (a batch refused with `IndexFull`
/// after it was written; an open that programs over a torn erase) stops
/// there instead of failing, so a fuzz run can look for other findings while
/// their fix is pending.
const TOLERATE: bool = cfg!(feature = "tolerate-known-findings");

/// Index capacity of the small-index variant (flag bit 0): small enough
/// that `IndexFull` is frequent.
pub const SMALL_INDEX: usize = 8;

/// Cuts an `ops_with_power_loss` input can arm.
pub const CUTS: usize = 3;

/// (high-water, max-fill) ratios in basis points, picked by [`Setup::ratios`].
// Max-fill 10 000 (no headroom) is refused by `Config::check`
// (`ConfigError::NoHeadroom`): the fullest ratios here are 9 999.
pub const RATIOS: [(u16, u16); 8] = [
    (8000, 9000),
    (6000, 9000),
    (5000, 5000),
    (9000, 9999),
    (2000, 3000),
    (9500, 9600),
    (1, 9999),
    (7000, 7500),
];

/// Value limits picked by [`Setup::limits`] (halved until the config fits).
pub const VALUE_LIMITS: [u32; 8] = [0, 8, 24, 64, 100, 256, 1024, 4064];

/// Tear modes, picked by [`Cut::how`].
pub const MODES: [TearMode; 3] = [TearMode::Prefix, TearMode::Subset, TearMode::RandomBits];

/// The store and its regions, as both targets choose them (6 bytes).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Write unit: `WRITE_UNITS[write_unit % 6]` (1, 2, 4, 8, 16, 32).
    pub write_unit: u8,
    /// Region A size: `(4 + size_a % 13)` erase units of 256 B (1..=4 KiB).
    pub size_a: u8,
    /// Region B size, as `size_a`.
    pub size_b: u8,
    /// Max key length `1 + limits % 16` (script keys are 0..=15 bytes, so
    /// `KeyTooLarge` is reachable); max value length
    /// `VALUE_LIMITS[(limits >> 4) % 8]`, halved until the config fits.
    pub limits: u8,
    /// Ratios `RATIOS[ratios % 8]`.
    pub ratios: u8,
    /// Bit 0: index of [`SMALL_INDEX`] entries (else [`INDEX`]); bit 1:
    /// regions that do not persist in order (`RamRegion::set_in_order(false)`:
    /// sync markers, no read-back).
    pub flags: u8,
}

impl Setup {
    /// Write unit.
    pub fn w(&self) -> u32 {
        WRITE_UNITS[usize::from(self.write_unit) % WRITE_UNITS.len()]
    }

    /// Geometry of region A and B.
    pub fn geometries(&self) -> (Geometry, Geometry) {
        let g = |code| Geometry {
            size: region_size(code),
            read_unit: 1,
            write_unit: self.w(),
            erase_unit: ERASE_UNIT,
        };
        (g(self.size_a), g(self.size_b))
    }

    /// The configuration, if one fits the regions.
    pub fn config(&self) -> Option<Config> {
        let (hw, mf) = RATIOS[usize::from(self.ratios) % RATIOS.len()];
        let mut c = Config::new(0x0F0F_1234_5678_9ABC)
            .with_limits(
                1 + u16::from(self.limits % 16),
                VALUE_LIMITS[usize::from(self.limits >> 4) % VALUE_LIMITS.len()],
            )
            .with_ratios(hw, mf)
            // Switches copying over several writes, or at once (FORMAT.md §7.4).
            .with_incremental_switch(self.ratios & 0x80 == 0);
        let (ga, gb) = self.geometries();
        while !c.fits(ga, gb) {
            if c.max_value_len == 0 {
                return None;
            }
            c.max_value_len /= 2;
        }
        Some(c)
    }

    /// Whether the regions persist in order.
    pub fn in_order(&self) -> bool {
        self.flags & 2 == 0
    }

    /// Index capacity.
    pub fn index_capacity(&self) -> usize {
        if self.flags & 1 != 0 {
            SMALL_INDEX
        } else {
            INDEX
        }
    }

    fn bytes(&self) -> [u8; 6] {
        [
            self.write_unit,
            self.size_a,
            self.size_b,
            self.limits,
            self.ratios,
            self.flags,
        ]
    }
}

/// One input of `ops`.
///
/// Byte layout (what `arbitrary` reads, what [`OpsInput::to_bytes`]
/// writes): the 6 bytes of [`Setup`] in order, then, if `Setup::flags` bit 2
/// is set, a [`Fault`] (5 bytes), then an operation script
/// ([`crate::script`]), all the remaining bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsInput {
    /// Regions, config, index.
    pub setup: Setup,
    /// A fault between operations (present iff `setup.flags` bit 2).
    pub fault: Option<Fault>,
    /// The script.
    pub script: crate::Bytes,
}

impl<'a> Arbitrary<'a> for OpsInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let setup = Setup::arbitrary(u)?;
        let fault = Fault::read(&setup, u)?;
        Ok(OpsInput {
            setup,
            fault,
            script: crate::Bytes::arbitrary(u)?,
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        let setup = Setup::arbitrary(&mut u)?;
        let fault = Fault::read(&setup, &mut u)?;
        Ok(OpsInput {
            setup,
            fault,
            script: crate::Bytes::arbitrary_take_rest(u)?,
        })
    }
}

impl OpsInput {
    /// The bytes `arbitrary` decodes back into `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.setup.bytes().to_vec();
        Fault::write(&self.setup, self.fault, &mut b);
        b.extend_from_slice(&self.script);
        b
    }

    /// Decodes an input the way the fuzz target does.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::arbitrary_take_rest(Unstructured::new(bytes)).ok()
    }
}

/// Damage between two operations (5 bytes), in inputs whose
/// `Setup::flags` has bit 2 set: see the module docs for the oracle.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// It strikes right before script step `at` (after the last step, before
    /// the final reopen, if `at` is past the end).
    pub at: u8,
    /// Bit 0: the region that is inactive at that moment (else the active
    /// one). Bits 1..=3: kind `((what >> 1) & 7) % 5`: 0 flip bit `bit % 8`
    /// of the byte, 1 the byte reads `0x00`, 2 the byte reads `0xFF`, 3 the
    /// erase unit holding it reads `0x00`, 4 that erase unit is erased. Bit
    /// 4 (active region only): `offset` counts back from the log end
    /// (`end - 1 - offset % 512`), else it is `offset % size`.
    pub what: u8,
    /// Where (see `what`), little-endian.
    pub offset: u16,
    /// The bit a flip flips.
    pub bit: u8,
}

impl Fault {
    fn read(setup: &Setup, u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Fault>> {
        Ok(if setup.flags & 4 != 0 {
            Some(Fault::arbitrary(u)?)
        } else {
            None
        })
    }

    fn write(setup: &Setup, f: Option<Fault>, b: &mut Vec<u8>) {
        assert_eq!(
            setup.flags & 4 != 0,
            f.is_some(),
            "flags bit 2 says whether a fault follows"
        );
        if let Some(f) = f {
            b.extend_from_slice(&[f.at, f.what]);
            b.extend_from_slice(&f.offset.to_le_bytes());
            b.push(f.bit);
        }
    }

    /// Its kind.
    pub fn kind(&self) -> StrikeKind {
        match ((self.what >> 1) & 7) % 5 {
            0 => StrikeKind::FlipBit(self.bit % 8),
            1 => StrikeKind::Zero,
            2 => StrikeKind::Ff,
            3 => StrikeKind::ZeroUnit,
            _ => StrikeKind::EraseUnit,
        }
    }
}

/// One power cut of an `ops_with_power_loss` input (3 bytes).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Steps (write units programmed plus erase units erased, both regions)
    /// before the cut, counted from when it is armed; `u16::MAX`: no cut,
    /// and no later one either.
    pub fuel: u16,
    /// Tear mode `MODES[how % 3]`; the tear pattern's seed is derived from
    /// `how`, `fuel` and the cut's position.
    pub how: u8,
}

impl Cut {
    /// No cut.
    pub const NONE: Cut = Cut {
        fuel: u16::MAX,
        how: 0,
    };
}

/// One input of `ops_with_power_loss`.
///
/// Byte layout: the 6 bytes of [`Setup`], then [`CUTS`] cuts of 3 bytes
/// (`fuel` as u16 little-endian, `how`), then, if `Setup::flags` bit 2 is
/// set, a [`Fault`] (5 bytes), then the script, all the remaining bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerInput {
    /// Regions, config, index, persistence order.
    pub setup: Setup,
    /// The cuts, armed one after the other.
    pub cuts: [Cut; CUTS],
    /// A fault between operations (present iff `setup.flags` bit 2).
    pub fault: Option<Fault>,
    /// The script.
    pub script: crate::Bytes,
}

impl<'a> Arbitrary<'a> for PowerInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let setup = Setup::arbitrary(u)?;
        let cuts = <[Cut; CUTS]>::arbitrary(u)?;
        let fault = Fault::read(&setup, u)?;
        Ok(PowerInput {
            setup,
            cuts,
            fault,
            script: crate::Bytes::arbitrary(u)?,
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        let setup = Setup::arbitrary(&mut u)?;
        let cuts = <[Cut; CUTS]>::arbitrary(&mut u)?;
        let fault = Fault::read(&setup, &mut u)?;
        Ok(PowerInput {
            setup,
            cuts,
            fault,
            script: crate::Bytes::arbitrary_take_rest(u)?,
        })
    }
}

impl PowerInput {
    /// The bytes `arbitrary` decodes back into `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.setup.bytes().to_vec();
        for c in &self.cuts {
            b.extend_from_slice(&c.fuel.to_le_bytes());
            b.push(c.how);
        }
        Fault::write(&self.setup, self.fault, &mut b);
        b.extend_from_slice(&self.script);
        b
    }

    /// Decodes an input the way the fuzz target does.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::arbitrary_take_rest(Unstructured::new(bytes)).ok()
    }
}

/// What a session did (for the seed generator's figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The config fits and the session ran.
    pub ran: bool,
    /// Steps (units programmed or erased) of the whole session.
    pub steps: u64,
    /// Cuts that fired.
    pub cuts: u32,
    /// Opens (first, script reopens, reboots, final).
    pub opens: u32,
    /// Writes refused with `Full` or `IndexFull`.
    pub refused_full: u32,
    /// Live keys at the end.
    pub live_keys: usize,
    /// The input's fault struck.
    pub struck: bool,
    /// After the fault, an open refused (`Corrupted`, `Unrecognised`, ...).
    pub refused_open: bool,
    /// After the fault, reads that answered `Corrupted`.
    pub corrupted_reads: u32,
    /// The fault was crash-shaped: the oracle allowed a rollback.
    pub rollback_allowed: bool,
}

/// Runs `ops` on one input. Panics on a finding.
pub fn check_ops(input: &OpsInput) -> Report {
    session(
        &input.setup,
        &[],
        input.fault,
        &script::parse(&input.script),
    )
}

/// Runs `ops_with_power_loss` on one input. Panics on a finding.
pub fn check_power(input: &PowerInput) -> Report {
    session(
        &input.setup,
        &input.cuts,
        input.fault,
        &script::parse(&input.script),
    )
}

/// The exact model: every key with a value.
pub type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A write as the model sees it: key, value (`None`: delete).
type Write = (Vec<u8>, Option<Vec<u8>>);

/// The store under test: its index keeps two noted positions (as the
/// host's keeps eight), so an incremental switch's copy takes entries
/// written again from notes and, once notes are dropped, by its pass.
type S<'r, 'p, const N: usize> = Store<&'r mut CutRegion<'p>, NotingIndex<N>, Vec<u8>>;

struct Env {
    config: Config,
    w: u32,
    index: usize,
    /// Valid keys the script names (read after every step).
    universe: Vec<Vec<u8>>,
    /// The store's fill limit (constant for a pair of regions).
    fill_limit: Option<u32>,
    /// The regions persist in order.
    in_order: bool,
    /// Where the log starts in a region (FORMAT.md §1).
    data_start: u32,
    /// Every value the script writes per key, and `None` (what `repair`
    /// may bring back after damage).
    every_value: BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>>,
}

fn session(setup: &Setup, cuts: &[Cut], fault: Option<Fault>, steps: &[Step]) -> Report {
    if setup.index_capacity() == SMALL_INDEX {
        session_with::<SMALL_INDEX>(setup, cuts, fault, steps)
    } else {
        session_with::<INDEX>(setup, cuts, fault, steps)
    }
}

fn lost<T>(r: &Result<T, Error<RamError>>) -> bool {
    matches!(r, Err(Error::Region(RamError::PowerLost)))
}

fn open<'r, 'p, const N: usize>(
    a: &'r mut CutRegion<'p>,
    b: &'r mut CutRegion<'p>,
    env: &Env,
) -> Result<S<'r, 'p, N>, Error<RamError>> {
    let scratch =
        vec![
            0u8;
            Store::<&mut CutRegion, NotingIndex<N>, Vec<u8>>::scratch_len(&env.config, env.w)
        ];
    Store::open(a, b, NotingIndex::<N>::new(), scratch, env.config)
}

fn session_with<const N: usize>(
    setup: &Setup,
    cuts: &[Cut],
    mut fault: Option<Fault>,
    steps: &[Step],
) -> Report {
    let Some(config) = setup.config() else {
        return Report::default();
    };
    let valid = |k: &Vec<u8>| !k.is_empty() && k.len() <= usize::from(config.max_key_len);
    let mut universe: Vec<Vec<u8>> = steps
        .iter()
        .flat_map(|s| match s {
            Step::Set(k, _) | Step::Delete(k) | Step::Get(k) => vec![k.clone()],
            Step::Apply(ops) => ops.iter().map(|(k, _)| k.clone()).collect(),
            _ => Vec::new(),
        })
        .filter(valid)
        .collect();
    universe.sort();
    universe.dedup();
    let mut every_value: BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>> =
        universe.iter().map(|k| (k.clone(), vec![None])).collect();
    for s in steps {
        let writes: Vec<(&Vec<u8>, Value)> = match s {
            Step::Set(k, v) => vec![(k, *v)],
            Step::Apply(ops) => ops.iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect(),
            _ => Vec::new(),
        };
        for (k, v) in writes {
            if let Some(vs) = every_value.get_mut(k) {
                add(vs, Some(v.bytes()));
            }
        }
    }
    let mut env = Env {
        config,
        w: setup.w(),
        index: N,
        universe,
        fill_limit: None,
        in_order: setup.in_order(),
        data_start: Layout::new(setup.w()).data_start(),
        every_value,
    };

    let power = Power::default();
    let (ga, gb) = setup.geometries();
    let mut a = CutRegion::new(ga, &power, 0);
    let mut b = CutRegion::new(gb, &power, 1);
    a.ram.set_in_order(setup.in_order());
    b.ram.set_in_order(setup.in_order());

    let mut pending = cuts
        .iter()
        .copied()
        .take_while(|c| c.fuel != u16::MAX)
        .enumerate();
    arm(&power, &mut pending);

    let mut report = Report {
        ran: true,
        ..Report::default()
    };
    let mut m = Map::new();
    // After a cut: the state with the operation in flight applied, and the
    // state before it.
    let mut inflight: Option<(Map, Map)> = None;
    // The log of the active region since its last switch (for the fault).
    let mut tail = Tail::default();
    // Once the fault struck: the damage oracle.
    let mut dmg: Option<Dmg> = None;
    let mut next = 0;
    'boot: loop {
        let mut s = loop {
            report.opens += 1;
            match open::<N>(&mut a, &mut b, &env) {
                Ok(s) => break s,
                Err(e) if lost::<()>(&Err(e)) => {
                    report.cuts += 1;
                    a.restore();
                    b.restore();
                    arm(&power, &mut pending);
                }
                Err(e) if dmg.is_some() => {
                    refused(&e, dmg.as_ref(), "open after a cut");
                    report.refused_open = true;
                    return report;
                }
                Err(e) if TOLERATE && known_open_finding(&e) => return report,
                Err(e) => panic!("open after {} cuts failed: {e:?}", report.cuts),
            }
        };
        if let Some(d) = dmg.as_mut() {
            inflight = None;
            if !d.opened(&mut s, &env, &mut report) {
                if TOLERATE {
                    return report;
                }
                panic!("after {:?}: a store just opened is poisoned", d.strike);
            }
        } else {
            let mut before = m.clone();
            if let Some((after, was)) = inflight.take() {
                before = was;
                let got = contents(&mut s, &env);
                if got == after {
                    m = after;
                } else if got != m {
                    panic!(
                        "after a cut in step {}: the store is neither the acknowledged state nor \
                         it with the step in flight applied\n step: {:?}\n store: {got:?}\n \
                         acknowledged: {m:?}\n with the step: {after:?}",
                        next - 1,
                        steps[next - 1],
                    );
                }
            }
            let was_sync = next > 0 && matches!(steps[next - 1], Step::Sync);
            tail.track(&s, &env, &before, was_sync);
            verify(&mut s, &m, &mut env, "open");
        }
        while next < steps.len() {
            if dmg.is_none() && fault.is_some_and(|f| usize::from(f.at) == next) {
                let f = fault.take().expect("a fault");
                dmg = Some(strike(&mut s, &f, &env, &tail, &m, &power, &mut report));
            }
            let step = &steps[next];
            if trace() {
                eprintln!("step {next}: {step:?} (struck: {})", dmg.is_some());
            }
            next += 1;
            if let Some(d) = dmg.as_mut() {
                // The damage oracle (see the module docs).
                let ran = if let Step::Reopen = step {
                    Ran::Reopen
                } else {
                    exec_damaged(&mut s, step, d, &env, &power)
                };
                let reopen = match ran {
                    Ran::Done => !d.check(&mut s, &env, &mut report, false),
                    Ran::Reopen => true,
                    Ran::Lost(_) => {
                        drop(s);
                        report.cuts += 1;
                        a.restore();
                        b.restore();
                        arm(&power, &mut pending);
                        continue 'boot;
                    }
                    Ran::Abandon => return report,
                };
                if reopen {
                    let (ra, rb, _, _) = s.into_parts();
                    report.opens += 1;
                    match open::<N>(ra, rb, &env) {
                        Ok(s2) => {
                            s = s2;
                            if !d.opened(&mut s, &env, &mut report) {
                                if TOLERATE {
                                    return report;
                                }
                                panic!("after {:?}: a store just opened is poisoned", d.strike);
                            }
                        }
                        Err(e) if lost::<()>(&Err(e)) => {
                            report.cuts += 1;
                            a.restore();
                            b.restore();
                            arm(&power, &mut pending);
                            continue 'boot;
                        }
                        Err(e) => {
                            refused(&e, Some(d), "reopen");
                            report.refused_open = true;
                            return report;
                        }
                    }
                }
                continue;
            }
            let before = m.clone();
            let ran = if let Step::Reopen = step {
                let (ra, rb, _, _) = s.into_parts();
                report.opens += 1;
                match open::<N>(ra, rb, &env) {
                    Ok(s2) => {
                        s = s2;
                        Ran::Done
                    }
                    Err(e) if lost::<()>(&Err(e)) => {
                        report.cuts += 1;
                        a.restore();
                        b.restore();
                        arm(&power, &mut pending);
                        inflight = Some((m.clone(), m.clone()));
                        continue 'boot;
                    }
                    Err(e) if TOLERATE && known_open_finding(&e) => return report,
                    Err(e) => panic!("step {next}: reopen failed: {e:?}"),
                }
            } else {
                exec(&mut s, step, &mut m, &env, &power, &mut report)
            };
            match ran {
                Ran::Abandon => return report,
                Ran::Done => {
                    verify(&mut s, &m, &mut env, "step");
                    tail.track(&s, &env, &before, matches!(step, Step::Sync));
                }
                Ran::Reopen => unreachable!("exact steps reopen in place"),
                Ran::Lost(after) => {
                    if trace() {
                        eprintln!("  power lost in that step");
                    }
                    drop(s);
                    report.cuts += 1;
                    a.restore();
                    b.restore();
                    arm(&power, &mut pending);
                    inflight = Some((after, before));
                    continue 'boot;
                }
            }
        }
        if dmg.is_none() {
            if let Some(f) = fault.take() {
                // Past the last step: it strikes before the final open.
                dmg = Some(strike(&mut s, &f, &env, &tail, &m, &power, &mut report));
            }
        }
        break;
    }
    // Whatever happened, the regions open again and hold the model.
    power.cancel();
    report.opens += 1;
    let mut s = match open::<N>(&mut a, &mut b, &env) {
        Ok(s) => s,
        Err(e) if dmg.is_some() => {
            refused(&e, dmg.as_ref(), "final open");
            report.refused_open = true;
            return report;
        }
        Err(e) => panic!("final open: {e:?}"),
    };
    if let Some(d) = dmg.as_mut() {
        if !d.opened(&mut s, &env, &mut report) {
            if TOLERATE {
                return report;
            }
            panic!("after {:?}: a store just opened is poisoned", d.strike);
        }
    } else {
        verify(&mut s, &m, &mut env, "final open");
    }
    report.steps = power.steps();
    report.live_keys = m.len();
    report
}

/// Arms the next cut, if any.
fn arm(power: &Power, pending: &mut impl Iterator<Item = (usize, Cut)>) {
    if let Some((i, c)) = pending.next() {
        let seed = (u64::from(c.how) << 32) ^ (u64::from(c.fuel) << 8) ^ i as u64;
        power.cut_after(u64::from(c.fuel), MODES[usize::from(c.how) % 3], seed);
    }
}

enum Ran {
    /// The step ran with power on, and the model is updated.
    Done,
    /// Power was lost during the step: the model is the state before it,
    /// this the state with it applied.
    Lost(Map),
    /// A known finding (feature `tolerate-known-findings`): stop here.
    Abandon,
    /// After the fault: the store must be opened again (poisoned).
    Reopen,
}

/// The open findings' symptoms at open: `IndexFull` (replaying a batch that
/// adds a key before deleting another into a full index),
/// `AlreadyProgrammed` (formatting over a torn erase that reads erased) and
/// `Unrecognised` (a torn erase of a torn first format).
fn known_open_finding(e: &Error<RamError>) -> bool {
    matches!(
        e,
        Error::IndexFull | Error::Unrecognised | Error::Region(RamError::AlreadyProgrammed { .. })
    )
}

/// Stored bytes of the model's records (what `stats().live_bytes` counts).
fn live_bytes(m: &Map, w: u32) -> u64 {
    m.iter().map(|(k, v)| u64::from(record_len(k, v, w))).sum()
}

fn record_len(k: &[u8], v: &[u8], w: u32) -> u32 {
    stored_len(k.len() as u32, v.len() as u32, w).expect("record length")
}

/// What a write must return, from the model alone (core's order of checks:
/// key and value limits per op, then `Full`, then `IndexFull`).
fn predict(m: &Map, ops: &[Write], env: &Env) -> Result<(), Error<RamError>> {
    for (k, v) in ops {
        if k.is_empty() {
            return Err(Error::EmptyKey);
        }
        if k.len() > usize::from(env.config.max_key_len) {
            return Err(Error::KeyTooLarge);
        }
        if matches!(v, Some(v) if v.len() > env.config.max_value_len as usize) {
            return Err(Error::ValueTooLarge);
        }
    }
    // The last op on each key decides.
    let mut last: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
    for (k, v) in ops {
        last.insert(k, v.as_deref());
    }
    let before = live_bytes(m, env.w) as i64;
    let mut after = before;
    for (k, v) in &last {
        if let Some(old) = m.get(*k) {
            after -= i64::from(record_len(k, old, env.w));
        }
        if let Some(v) = v {
            after += i64::from(record_len(k, v, env.w));
        }
    }
    // Index entries: core updates the index in op order (and a replay at
    // open applies a batch's records in that order), so a batch needs room
    // for the most entries it holds at any step, not only at its end.
    let mut present: BTreeMap<&[u8], bool> = BTreeMap::new();
    let (mut now, mut entries) = (0i64, 0i64);
    for (k, v) in ops {
        let was = present
            .get(k.as_slice())
            .copied()
            .unwrap_or_else(|| m.contains_key(k));
        now += i64::from(v.is_some()) - i64::from(was);
        entries = entries.max(now);
        present.insert(k, v.is_some());
    }
    let fill = i64::from(env.fill_limit.expect("fill limit known"));
    if after > fill && after > before {
        return Err(Error::Full);
    }
    if entries > 0 && m.len() as i64 + entries > env.index as i64 {
        return Err(Error::IndexFull);
    }
    Ok(())
}

fn apply(m: &mut Map, ops: &[Write]) {
    for (k, v) in ops {
        match v {
            Some(v) => m.insert(k.clone(), v.clone()),
            None => m.remove(k),
        };
    }
}

/// Runs one step (not `Reopen`) and checks its result against the model.
fn exec<const N: usize>(
    s: &mut S<'_, '_, N>,
    step: &Step,
    m: &mut Map,
    env: &Env,
    power: &Power,
    report: &mut Report,
) -> Ran {
    let writes: Vec<Write> = match step {
        Step::Set(..) | Step::Delete(_) | Step::Apply(_) => writes_of(step),
        Step::Get(k) => {
            let mut buf = vec![0u8; GET_BUF];
            let got = s.get(k, &mut buf);
            let want = if k.is_empty() {
                Err(Error::EmptyKey)
            } else if k.len() > usize::from(env.config.max_key_len) {
                Err(Error::KeyTooLarge)
            } else {
                Ok(m.get(k).cloned())
            };
            assert_eq!(got.map(|n| n.map(|n| buf[..n].to_vec())), want, "get {k:?}");
            return Ran::Done;
        }
        Step::Compact | Step::Clear | Step::Sync | Step::Repair => {
            let r = match step {
                Step::Compact => s.compact(),
                Step::Clear => s.clear(),
                Step::Sync => s.sync(),
                _ => s.repair().map(|dropped| {
                    assert_eq!(dropped, 0, "repair dropped damage on a clean store");
                }),
            };
            let mut after = m.clone();
            if let Step::Clear = step {
                after.clear();
            }
            if lost(&r) {
                return Ran::Lost(after);
            }
            if let Err(e) = r {
                if TOLERATE && matches!(e, Error::Region(RamError::AlreadyProgrammed { .. })) {
                    return Ran::Abandon;
                }
                panic!("{step:?} failed: {e:?}");
            }
            *m = after;
            if power.is_dead() {
                return Ran::Lost(m.clone());
            }
            return Ran::Done;
        }
        Step::Reopen => unreachable!("the session reopens"),
    };

    let want = predict(m, &writes, env);
    let steps_before = power.steps();
    let (r, had) = run_write(s, step, &writes);
    let mut after = m.clone();
    if want.is_ok() {
        apply(&mut after, &writes);
    }
    if lost(&r) {
        return Ran::Lost(after);
    }
    if TOLERATE
        && ((writes.len() > 1 && want.is_ok() && r == Err(Error::IndexFull))
            || matches!(r, Err(Error::Region(RamError::AlreadyProgrammed { .. }))))
    {
        return Ran::Abandon;
    }
    assert_eq!(
        r,
        want,
        "{step:?}: result differs from the model's prediction (live bytes {}, fill limit {:?}, \
         {} live keys, index of {})",
        live_bytes(m, env.w),
        env.fill_limit,
        m.len(),
        env.index
    );
    if r.is_err() {
        report.refused_full += u32::from(matches!(r, Err(Error::Full | Error::IndexFull)));
        assert_eq!(
            power.steps(),
            steps_before,
            "{step:?} returned {r:?} but programmed or erased"
        );
    }
    if let Some(had) = had {
        assert_eq!(had, m.contains_key(&writes[0].0), "{step:?}: had");
    }
    *m = after;
    if power.is_dead() {
        // Acknowledged although power was lost during it: must survive.
        return Ran::Lost(m.clone());
    }
    Ran::Done
}

/// The keys and values a set, delete or batch step writes (empty for other
/// steps).
fn writes_of(step: &Step) -> Vec<Write> {
    match step {
        Step::Set(k, v) => vec![(k.clone(), Some(v.bytes()))],
        Step::Delete(k) => vec![(k.clone(), None)],
        Step::Apply(ops) => ops
            .iter()
            .map(|(k, v)| (k.clone(), v.map(Value::bytes)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs a write step (set, delete, or an atomic batch of `writes`); for a
/// delete, also whether the key had a value.
fn run_write<const N: usize>(
    s: &mut S<'_, '_, N>,
    step: &Step,
    writes: &[Write],
) -> (Result<(), Error<RamError>>, Option<bool>) {
    let mut had = None;
    let r = match step {
        Step::Set(k, _) => s.set(k, writes[0].1.as_deref().unwrap_or_default()),
        Step::Delete(k) => s.remove(k).map(|h| had = Some(h)),
        _ => s.apply(&batch_ops(writes)),
    };
    (r, had)
}

/// The store's contents, through `for_each`, checked against `get` of every
/// key it yields and of the script's keys, and against `len`.
fn contents<const N: usize>(s: &mut S<'_, '_, N>, env: &Env) -> Map {
    let mut seen = Map::new();
    let mut repeated = None;
    s.for_each(|k, v| {
        if seen.insert(k.to_vec(), v.to_vec()).is_some() {
            repeated = Some(k.to_vec());
        }
        true
    })
    .unwrap_or_else(|e| panic!("for_each: {e:?}"));
    assert_eq!(repeated, None, "for_each yields a key twice");
    assert_eq!(seen.len(), s.len(), "for_each visits len() keys");
    let mut buf = vec![0u8; GET_BUF];
    for k in env.universe.iter().chain(seen.keys()) {
        let got = s
            .get(k, &mut buf)
            .unwrap_or_else(|e| panic!("get {k:?}: {e:?}"));
        assert_eq!(
            got.map(|n| &buf[..n]),
            seen.get(k).map(|v| &v[..]),
            "get {k:?} disagrees with for_each"
        );
    }
    seen
}

/// The store equals the model, and its stats agree.
fn verify<const N: usize>(s: &mut S<'_, '_, N>, m: &Map, env: &mut Env, when: &str) {
    let got = contents(s, env);
    assert!(
        got == *m,
        "{when}: store differs from the model\n store: {got:?}\n model: {m:?}"
    );
    let st = s.stats();
    assert_eq!(st.live_keys, m.len(), "{when}: {st:?}");
    assert_eq!(
        u64::from(st.live_bytes),
        live_bytes(m, env.w),
        "{when}: live bytes: {st:?}"
    );
    assert_eq!(
        st.damaged_keys, 0,
        "{when}: damage on a clean store: {st:?}"
    );
    assert!(!st.read_only && !st.salvaged, "{when}: {st:?}");
    assert!(st.used_bytes <= st.capacity, "{when}: {st:?}");
    assert!(st.live_bytes <= st.fill_limit, "{when}: {st:?}");
    match env.fill_limit {
        None => env.fill_limit = Some(st.fill_limit),
        Some(f) => assert_eq!(f, st.fill_limit, "{when}: fill limit changed"),
    }
}

// ----- faults between operations ---------------------------------------------

/// `TWINKV_FUZZ_TRACE` is set: print the fault oracle's view.
fn trace() -> bool {
    static T: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::env::var_os("TWINKV_FUZZ_TRACE").is_some())
}

/// Adds `v` to a set of allowed answers.
fn add(set: &mut Vec<Option<Vec<u8>>>, v: Option<Vec<u8>>) {
    if !set.contains(&v) {
        set.push(v);
    }
}

fn region_no(r: RegionId) -> u8 {
    match r {
        RegionId::A => 0,
        RegionId::B => 1,
    }
}

/// One write operation (or a sync marker) appended to the active region.
struct Entry {
    /// Its bytes: `start..end`.
    start: u32,
    end: u32,
    /// The model before it.
    before: Map,
    /// A `sync` step appended it (regions that do not persist in order: a
    /// sync marker).
    sync: bool,
}

/// The active region's log since its last switch, as the exact session saw
/// it grow (from `stats`): what a crash-shaped fault could take away.
#[derive(Default)]
struct Tail {
    /// Active region and generation (a change is a switch).
    at: Option<(RegionId, u64)>,
    /// The append position.
    append: u32,
    /// The commit's data end (the append position right after the switch,
    /// or at the first open).
    data_end: u32,
    entries: Vec<Entry>,
}

impl Tail {
    /// The store's state after a step (or an open). After a switch the
    /// sync point is the active region's commit marker's data end: a call
    /// that commits a switch the write before it prepared (FORMAT.md §7.4)
    /// appends its own records past it.
    fn track<const N: usize>(&mut self, s: &S<'_, '_, N>, env: &Env, before: &Map, was_sync: bool) {
        let st = &s.stats();
        let commit_end = commit_end(s, st, env);
        let append = env.data_start + st.used_bytes;
        let at = Some((st.active, st.generation));
        if trace() {
            eprintln!(
                "track {at:?} append {append} (was {:?} {})",
                self.at, self.append
            );
        }
        if at != self.at {
            self.at = at;
            self.entries.clear();
            self.data_end = commit_end.map_or(append, |c| c.min(append));
            if self.data_end < append {
                self.entries.push(Entry {
                    start: self.data_end,
                    end: append,
                    before: before.clone(),
                    sync: was_sync,
                });
            }
        } else if append > self.append {
            self.entries.push(Entry {
                start: self.append,
                end: append,
                before: before.clone(),
                sync: was_sync,
            });
        } else if append < self.append {
            self.entries.retain(|e| e.end <= append);
        }
        self.append = append;
    }
}

/// The records of `img[start..end]`: (offset, unaligned length, stored
/// length), as core wrote them.
fn records(img: &[u8], start: u32, end: u32, w: u32) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    let mut p = start;
    while p < end {
        let rest = end - p;
        match record::decode_header(&img[p as usize..end as usize], u32::MAX, u32::MAX) {
            Slot::Header(h) => {
                let st = h.stored_len(w).unwrap_or(rest).clamp(w, rest);
                out.push((p, h.unaligned_len().min(st), st));
                p += st;
            }
            _ => {
                out.push((p, rest, rest));
                break;
            }
        }
    }
    out
}

/// The damage oracle, once the fault struck.
///
/// Every key the script names reads a value of `allowed` or of `rollback`,
/// or answers `Corrupted`. `allowed` holds the exact acknowledged value and,
/// for an operation whose outcome is unknown (power lost during it, or it
/// failed), also its new value. `rollback` holds what a crash-shaped fault
/// may bring back (the model before the first operation it can take away);
/// it is revoked when something later proves those operations were made: a
/// completed switch, a sync marker, or (regions that persist in order)
/// bytes programmed after the fault-time log end.
struct Dmg {
    strike: Strike,
    allowed: BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>>,
    rollback: BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>>,
    /// Regions that do not persist in order, after a crash-shaped fault:
    /// writes appended after it may be lost with it (unsynced tail).
    lossable: bool,
    /// Erase unit the fault hit: (region, unit).
    unit: (u8, u32),
    /// Active region and generation now (a change is a switch).
    at: (RegionId, u64),
    /// Active region, generation and log end when the fault struck.
    fault_at: (RegionId, u64, u32),
    /// A write was acknowledged after the fault: on a region that persists
    /// in order, its record proves the damaged one was not the last program
    /// (bytes a cut tore past the log end prove nothing).
    appended: bool,
}

impl Dmg {
    fn revoke(&mut self) {
        self.rollback.clear();
        self.lossable = false;
    }

    /// After a read-write open: regions that persist in order revoke the
    /// rollback if bytes were programmed after the fault-time log end; then
    /// every key is checked, and what the store now answers is what the
    /// medium holds (narrowed to it, rollback dropped). False if poisoned.
    fn opened<const N: usize>(
        &mut self,
        s: &mut S<'_, '_, N>,
        env: &Env,
        report: &mut Report,
    ) -> bool {
        let st = s.stats();
        if trace() {
            let (ra, rb) = s.regions();
            let img = if st.active == RegionId::A { ra } else { rb }
                .ram
                .as_bytes();
            let e = (env.data_start + st.used_bytes + 64).min(img.len() as u32) as usize;
            eprintln!(
                "opened after the fault: {st:?}\n  active log {:02x?}",
                &img[..e]
            );
        }
        if TOLERATE && (tail_before_commit_end(s, &st, env) || (env.in_order && st.dirty_tail)) {
            // Open findings `*-taken-for-torn-tail` (README.md): a dirty
            // tail that starts before the commit's data end, or (regions
            // that persist in order) damage within one record's reach of
            // the log end taken for the torn last program.
            return false;
        }
        let (region, gen, end) = self.fault_at;
        if env.in_order && (st.active, st.generation) == (region, gen) {
            let (ra, rb) = s.regions();
            let img = if region == RegionId::A { ra } else { rb }.ram.as_bytes();
            if self.appended && img[end as usize..].iter().any(|&x| x != 0xFF) {
                self.revoke();
            }
        }
        self.at = (st.active, st.generation);
        let ok = self.check(s, env, report, true);
        self.revoke();
        ok
    }

    /// Reads every key the script names and everything `for_each` yields.
    /// `narrow`: right after an open, what a key reads is what it holds.
    /// False if the store is poisoned (it must be reopened).
    fn check<const N: usize>(
        &mut self,
        s: &mut S<'_, '_, N>,
        env: &Env,
        report: &mut Report,
        narrow: bool,
    ) -> bool {
        let strike = self.strike;
        let mut buf = vec![0u8; GET_BUF];
        let mut read = BTreeMap::new();
        for k in &env.universe {
            match s.get(k, &mut buf) {
                Ok(v) => {
                    let v = v.map(|n| buf[..n].to_vec());
                    let ok = self.allowed[k].contains(&v)
                        || self.rollback.get(k).is_some_and(|r| r.contains(&v));
                    assert!(
                        ok,
                        "after {strike:?}: get {k:?} = {v:?}, but the acknowledged writes allow \
                         only {:?} (or Corrupted), crash-shaped rollback {:?}",
                        self.allowed[k],
                        self.rollback.get(k)
                    );
                    read.insert(k.clone(), v);
                }
                Err(Error::Corrupted) => report.corrupted_reads += 1,
                Err(Error::Poisoned) => return false,
                Err(e) => panic!("after {strike:?}: get {k:?}: {e:?}"),
            }
        }
        let mut seen = Map::new();
        let mut twice = None;
        let r = s.for_each(|k, v| {
            if seen.insert(k.to_vec(), v.to_vec()).is_some() {
                twice = Some(k.to_vec());
            }
            true
        });
        match r {
            Ok(()) | Err(Error::Corrupted) => {}
            Err(Error::Poisoned) => return false,
            Err(e) => panic!("after {strike:?}: for_each: {e:?}"),
        }
        assert_eq!(twice, None, "after {strike:?}: for_each yields a key twice");
        for (k, v) in &seen {
            let v = Some(v.clone());
            let ok = self.allowed.get(k).is_some_and(|a| a.contains(&v))
                || self.rollback.get(k).is_some_and(|r| r.contains(&v));
            assert!(
                ok,
                "after {strike:?}: for_each yields {k:?} = {v:?}, allowed {:?}, rollback {:?}",
                self.allowed.get(k),
                self.rollback.get(k)
            );
        }
        let st = s.stats();
        assert!(st.used_bytes <= st.capacity, "after {strike:?}: {st:?}");
        if narrow {
            for (k, v) in read {
                self.allowed.insert(k, vec![v]);
            }
        } else if (st.active, st.generation) != self.at {
            // A switch completed: it copied what the store holds in memory.
            self.at = (st.active, st.generation);
            self.revoke();
        }
        true
    }
}

/// The open findings of README.md: the log opened ends (clean, or where a
/// dirty tail starts) before its commit's data end, a sync point on every
/// medium.
fn tail_before_commit_end<const N: usize>(s: &S<'_, '_, N>, st: &Stats, env: &Env) -> bool {
    commit_end(s, st, env).is_some_and(|data_end| env.data_start + st.used_bytes < data_end)
}

/// The data end the active region's commit marker holds, if it reads
/// valid.
fn commit_end<const N: usize>(s: &S<'_, '_, N>, st: &Stats, env: &Env) -> Option<u32> {
    let (ra, rb) = s.regions();
    let img = if st.active == RegionId::A { ra } else { rb }
        .ram
        .as_bytes();
    let layout = Layout::new(env.w);
    let at = layout.commit() as usize;
    let seal = Seal {
        store_id: st.store_id,
        generation: st.generation,
    };
    let slot = &img[at..at + layout.marker_slot as usize];
    match Marker::Commit.read(seal, slot) {
        MarkerState::Valid(data_end) => Some(data_end),
        _ => None,
    }
}

/// An open refused after the fault: only as a report of damage.
fn refused(e: &Error<RamError>, d: Option<&Dmg>, when: &str) {
    let d = d.expect("damage oracle");
    let ok = match e {
        Error::Corrupted | Error::Unrecognised | Error::UnsupportedFormat => true,
        // Open finding `damaged-tombstone-reindexes-key-open-index-full`.
        Error::IndexFull if TOLERATE => true,
        Error::Region(r) => excused(r, d),
        _ => false,
    };
    assert!(ok, "after {:?}: {when} failed with {e:?}", d.strike);
}

/// A region error that is the fault's own doing: `RamRegion` refuses to
/// program over bytes the fault changed (real flash would program garbage
/// there, which the record checks then report).
fn excused(r: &RamError, d: &Dmg) -> bool {
    let e = ERASE_UNIT;
    match r {
        RamError::NotErased { offset } | RamError::AlreadyProgrammed { offset } => {
            offset / e == d.unit.1
        }
        _ => false,
    }
}

/// Schedules the fault and builds the damage oracle from the exact model
/// (see the module docs for which faults are crash-shaped).
fn strike<const N: usize>(
    s: &mut S<'_, '_, N>,
    f: &Fault,
    env: &Env,
    tail: &Tail,
    m: &Map,
    power: &Power,
    report: &mut Report,
) -> Dmg {
    let st = s.stats();
    let active = region_no(st.active);
    let region = active ^ (f.what & 1);
    let (ra, rb) = s.regions();
    let pre = [ra.ram.as_bytes().to_vec(), rb.ram.as_bytes().to_vec()];
    let size = pre[usize::from(region)].len() as u32;
    let end = env.data_start + st.used_bytes;
    let offset = if f.what & 16 != 0 && region == active {
        end.saturating_sub(1 + u32::from(f.offset) % 512)
    } else {
        u32::from(f.offset) % size
    };
    let strike = Strike {
        region,
        kind: f.kind(),
        offset,
    };
    power.strike(strike);
    report.struck = true;
    let mut post = pre.clone();
    strike.apply_to(&mut post[usize::from(region)], ERASE_UNIT);

    let mut d = Dmg {
        strike,
        allowed: env
            .universe
            .iter()
            .map(|k| (k.clone(), vec![m.get(k).cloned()]))
            .collect(),
        rollback: BTreeMap::new(),
        lossable: false,
        unit: (region, offset / ERASE_UNIT),
        at: (st.active, st.generation),
        fault_at: (st.active, st.generation, end),
        appended: false,
    };
    let mut grant = |before: Option<&Map>, d: &mut Dmg| {
        report.rollback_allowed = true;
        for k in &env.universe {
            let v = before.and_then(|b| b.get(k).cloned());
            add(d.rollback.entry(k.clone()).or_default(), v);
        }
    };
    // The active region reads erased, and its partner holds at most a
    // fragment of a header (no valid header, nothing past the marker area;
    // e.g. the torn target of a cut switch): nothing says the store ever
    // held a write — a cut first format looks the same.
    let (act, other) = (&post[usize::from(active)], &post[usize::from(active ^ 1)]);
    if act.iter().all(|&x| x == 0xFF)
        && other[env.data_start as usize..].iter().all(|&x| x == 0xFF)
        && other
            .first_chunk::<HEADER_LEN>()
            .is_none_or(|h| RegionHeader::decode(h).is_err())
    {
        grant(None, &mut d);
    }
    if region == active {
        let pre_all = &pre;
        let (pre, post) = (&pre[usize::from(region)], &post[usize::from(region)]);
        let changed = |p: u32, n: u32| {
            pre[p as usize..(p + n) as usize] != post[p as usize..(p + n) as usize]
        };
        let recs: Vec<Vec<(u32, u32, u32)>> = tail
            .entries
            .iter()
            .map(|e| records(pre, e.start, e.end, env.w))
            .collect();
        // Regions that do not persist in order: nothing before the start of
        // the last sync marker the fault left intact (a marker is durable
        // only at the next sync, so it may be a lost page itself; one the
        // fault destroyed says nothing any more), else the commit's data
        // end, is lost by a crash.
        let sync_start = tail
            .entries
            .iter()
            .rev()
            .find(|e| e.sync && !changed(e.start, e.end - e.start))
            .map_or(tail.data_end, |e| e.start);
        let from = if env.in_order {
            // Only the last program call can be torn: the first operation
            // the fault changed, every record after it changed too, and
            // nothing programmed past the log end — unless a cut already
            // left a torn record there (a dirty tail): then damage to the
            // record before it is taken as part of that tail, a documented
            // limit (RELIABILITY.md, "two faults").
            recs.iter()
                .position(|rs| rs.iter().any(|&(p, _, n)| changed(p, n)))
                .filter(|&j| {
                    recs[j + 1..]
                        .iter()
                        .all(|rs| rs.iter().all(|&(p, _, n)| changed(p, n)))
                        && (pre[end as usize..].iter().any(|&x| x != 0xFF)
                            || post[end as usize..].iter().all(|&x| x == 0xFF))
                })
        } else {
            // A lost page: after the last sync point, a record the fault
            // changed that now has a byte reading 0xFF.
            tail.entries.iter().zip(&recs).position(|(e, rs)| {
                e.start >= sync_start
                    && rs.iter().any(|&(p, u, n)| {
                        changed(p, n) && post[p as usize..(p + u) as usize].contains(&0xFF)
                    })
            })
        };
        if trace() {
            eprintln!(
                "strike {strike:?} in {:?} (in order: {}), log end {end}, sync start {}",
                st.active, env.in_order, sync_start
            );
            for (r, img) in [("A", &pre_all[0]), ("B", &pre_all[1])] {
                eprintln!("  {r} before: {:02x?}", &img[..160.min(img.len())]);
            }
            for (e, rs) in tail.entries.iter().zip(&recs) {
                eprintln!("  entry {}..{} records {rs:?}", e.start, e.end);
                for &(p, _, n) in rs {
                    eprintln!("    pre  {:02x?}", &pre[p as usize..(p + n) as usize]);
                    if changed(p, n) {
                        eprintln!("    post {:02x?}", &post[p as usize..(p + n) as usize]);
                    }
                }
            }
            eprintln!("  rollback from entry {from:?}");
        }
        if let Some(j) = from {
            grant(Some(&tail.entries[j].before), &mut d);
            // A crash after the entry's writes were programmed, before its
            // bookkeeping (the `erased` record of a write's erase-ahead step,
            // a sync marker: kinds 8 and 6), leaves the writes: if the fault
            // changed only such records of the entry, the state after it is
            // crash-shaped as well (the store keeps intact records at the log
            // end whether or not bookkeeping follows them).
            let first = recs[j].iter().position(|&(p, _, n)| changed(p, n));
            let only_bookkeeping = first.is_some_and(|i| {
                recs[j][i..]
                    .iter()
                    .all(|&(p, _, _)| matches!(pre[p as usize] & 0x0F, 6 | 8))
            });
            if only_bookkeeping {
                grant(
                    Some(tail.entries.get(j + 1).map_or(m, |e| &e.before)),
                    &mut d,
                );
            }
            d.lossable = !env.in_order;
        }
    }
    d
}

/// Runs one step (not `Reopen`) after the fault: any result but a bug, the
/// oracle updated with what it acknowledged.
fn exec_damaged<const N: usize>(
    s: &mut S<'_, '_, N>,
    step: &Step,
    d: &mut Dmg,
    env: &Env,
    power: &Power,
) -> Ran {
    let strike = d.strike;
    let uncertain = |e: &Error<RamError>, d: &Dmg| match e {
        Error::Corrupted | Error::Poisoned => {}
        Error::Region(r) if excused(r, d) => {}
        e => panic!("after {strike:?}: {step:?} failed with {e:?}"),
    };
    let writes: Vec<Write> = match step {
        Step::Set(..) | Step::Delete(_) | Step::Apply(_) => writes_of(step),
        Step::Get(_) => return Ran::Done, // every step reads every key
        Step::Compact | Step::Clear | Step::Sync | Step::Repair => {
            let used = s.stats().used_bytes;
            let r = match step {
                Step::Compact => s.compact(),
                Step::Clear => s.clear(),
                Step::Sync => s.sync(),
                _ => s.repair().map(|_| ()),
            };
            let known = r.is_ok() && !power.is_dead();
            if let Err(e) = &r {
                if !lost(&r) {
                    uncertain(e, d);
                }
            }
            for k in &env.universe {
                let a = d.allowed.get_mut(k).expect("a universe key");
                match step {
                    Step::Clear if known => *a = vec![None],
                    Step::Clear => add(a, None),
                    // Repair drops damage: a damaged key reads as absent or
                    // an older value (FORMAT.md §8.1).
                    Step::Repair => {
                        for v in &env.every_value[k] {
                            add(a, v.clone());
                        }
                    }
                    _ => {}
                }
            }
            if known {
                match step {
                    Step::Clear | Step::Compact | Step::Repair => d.revoke(),
                    Step::Sync if s.stats().used_bytes > used => d.revoke(),
                    _ => {}
                }
            }
            return if lost(&r) || power.is_dead() {
                Ran::Lost(Map::new())
            } else {
                Ran::Done
            };
        }
        Step::Reopen => unreachable!("the session reopens"),
    };
    let (r, _) = run_write(s, step, &writes);
    if trace() {
        let st = s.stats();
        let (ra, rb) = s.regions();
        let (ia, ib) = (ra.ram.as_bytes(), rb.ram.as_bytes());
        eprintln!("  -> {r:?} dead {} {st:?}", power.is_dead());
        for (n, img) in [("A", ia), ("B", ib)] {
            for i in (0..img.len()).step_by(32) {
                eprintln!("   {n} {i:4} {:02x?}", &img[i..(i + 32).min(img.len())]);
            }
        }
    }
    // The last op on each key decides.
    let mut last: BTreeMap<&Vec<u8>, &Option<Vec<u8>>> = BTreeMap::new();
    for (k, v) in &writes {
        last.insert(k, v);
    }
    match &r {
        Ok(()) if !power.is_dead() => {
            d.appended = true;
            for (k, v) in last {
                let a = d.allowed.get_mut(k).expect("an acknowledged key is valid");
                if d.lossable {
                    // Appended after a lost page, before any sync point.
                    let r = d.rollback.entry(k.clone()).or_default();
                    for old in a.iter() {
                        add(r, old.clone());
                    }
                }
                *a = vec![v.clone()];
            }
        }
        Err(
            Error::EmptyKey
            | Error::KeyTooLarge
            | Error::ValueTooLarge
            | Error::Full
            | Error::IndexFull,
        ) => {}
        r => {
            if let Err(e) = r {
                if !lost(r) {
                    uncertain(e, d);
                }
            }
            for (k, v) in last {
                if let Some(a) = d.allowed.get_mut(k) {
                    add(a, v.clone());
                }
            }
        }
    }
    if lost(&r) || power.is_dead() {
        Ran::Lost(Map::new())
    } else {
        Ran::Done
    }
}
