//! Run a workload until the power fails, then judge the reboot: over any
//! region, so one scenario runs over [`RamRegion`](crate::RamRegion) (on a
//! [`Rig`](super::Rig)) and `SimFlash` (its own cut) alike. The test opens
//! the store (its region factory) and hands the result over.

use super::front::KvStore;
use super::model::{check_store, Model, Write};
use crate::{Error, RamError};
use std::vec::Vec;

/// The index [`run_until_cut`] reports for a cut during the open.
pub const DURING_OPEN: usize = usize::MAX;

/// A region error that can say "the power failed".
pub trait PowerLoss {
    /// Whether this error is the power loss of a cut.
    fn is_power_loss(&self) -> bool;
}

impl PowerLoss for RamError {
    fn is_power_loss(&self) -> bool {
        matches!(self, RamError::PowerLost)
    }
}

#[cfg(feature = "flash-sim")]
impl PowerLoss for crate::FlashError<crate::SimError> {
    fn is_power_loss(&self) -> bool {
        matches!(self, crate::FlashError::Flash(crate::SimError::PowerLost))
    }
}

/// What a run learns of the writes: each acknowledged one, and the one in
/// flight at a cut. A [`Model`] applies what was acknowledged; a test that
/// must allow several outcomes keeps its own record.
pub trait Acknowledge {
    /// `w` was acknowledged.
    fn ack(&mut self, w: &Write);
    /// `w` was in flight when the power failed.
    fn inflight(&mut self, _w: &Write) {}
}

impl Acknowledge for Model {
    fn ack(&mut self, w: &Write) {
        w.apply_to(self);
    }
}

/// Whether `r` failed with the power loss of a cut.
pub fn power_lost<T, E: PowerLoss>(r: &Result<T, Error<E>>) -> bool {
    matches!(r, Err(Error::Region(e)) if e.is_power_loss())
}

/// Runs `wl[start..]` on the store `opened` (a fresh open's result) until the
/// workload ends or the power fails, telling `model` of every acknowledged
/// write and of the one in flight at the cut. Returns the index of the write in flight at the cut
/// ([`DURING_OPEN`]: the open itself), or `None` if no cut came. Any other
/// failure panics.
pub fn run_until_cut<S>(
    opened: Result<S, Error<S::E>>,
    wl: &[Write],
    start: usize,
    model: &mut impl Acknowledge,
) -> Option<usize>
where
    S: KvStore,
    S::E: PowerLoss,
{
    let mut s = match opened {
        Ok(s) => s,
        Err(Error::Region(e)) if e.is_power_loss() => return Some(DURING_OPEN),
        Err(e) => panic!("open failed without a cut: {e:?}"),
    };
    for (i, w) in wl.iter().enumerate().skip(start) {
        let r = w.run(&mut s);
        if power_lost(&r) {
            model.inflight(w);
            return Some(i);
        }
        match r {
            Ok(()) => model.ack(w),
            Err(e) => panic!("write {i} {w:?} failed without a cut: {e:?}"),
        }
    }
    None
}

/// The first index to run after a cut at `inflight` (the write after it;
/// the same start again for a cut during the open).
pub fn resume_at(inflight: usize, start: usize) -> usize {
    if inflight == DURING_OPEN {
        start
    } else {
        inflight + 1
    }
}

/// Judges the reboot after a cut with `inflight` running: the store
/// `reopened` must open, report no damage (a cut is never damage), and read
/// as `model` or as `model` with the in-flight write applied, on every key
/// of `keys` and of the models. Returns the model now in force and whether
/// the in-flight write took effect. Panics with `ctx` otherwise.
pub fn recover<S: KvStore>(
    reopened: Result<S, Error<S::E>>,
    wl: &[Write],
    model: &Model,
    inflight: Option<usize>,
    keys: &[Vec<u8>],
    ctx: &str,
) -> (Model, bool) {
    let mut s = reopened.unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e:?}"));
    let st = s.stats();
    assert_eq!(st.damaged_keys, 0, "{ctx}: a cut is never damage: {st:?}");
    let old = check_store(&mut s, model, keys);
    let mut new_model = model.clone();
    if let Some(w) = inflight.and_then(|i| wl.get(i)) {
        w.apply_to(&mut new_model);
    }
    let new = check_store(&mut s, &new_model, keys);
    match (old, new) {
        (Ok(()), _) => (model.clone(), false),
        (_, Ok(())) => (new_model, true),
        (Err(a), Err(b)) => panic!("{ctx}: state is neither old nor new:\n old: {a}\n new: {b}"),
    }
}
