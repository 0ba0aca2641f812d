//! The index checkpoint file `<path>.ckpt` (FORMAT.md §11): when a store
//! writes one, and how.

use twinkv_core::format::checkpoint::CheckpointHead;
use twinkv_core::RegionId;

use super::{Mode, Store};
use crate::files;

/// The least a store writes between two index checkpoints while it is
/// open: 1 MiB.
const MIN_BYTES: u64 = 1 << 20;

/// When the next index checkpoint is due ([`Options::index_checkpoint`](crate::Options::index_checkpoint)).
#[derive(Clone, Copy, Debug)]
pub(super) struct Checkpoints {
    /// Written at close and during writes, read at open.
    pub(super) on: bool,
    /// Bytes written since the last one (the writes' encoded lengths).
    since: u64,
    /// How many make the next one due: half the live bytes, at least
    /// [`MIN_BYTES`].
    due: u64,
    /// The active region at the last one (or at open): after a switch the
    /// log starts over with a copy of the live data, which no checkpoint
    /// covers.
    region: Option<RegionId>,
}

impl Checkpoints {
    pub(super) fn new(on: bool) -> Self {
        Checkpoints {
            on,
            since: 0,
            due: MIN_BYTES,
            region: None,
        }
    }

    fn written(&mut self, region: RegionId, live: u32) {
        self.since = 0;
        self.due = (u64::from(live) / 2).max(MIN_BYTES);
        self.region = Some(region);
    }
}

impl Store {
    /// Writes the index checkpoint of a writable store (FORMAT.md §11) to
    /// [`checkpoint_path`](crate::checkpoint_path), replacing what the file
    /// held. Best effort: the checkpoint only saves the next open work, so
    /// a failure to write it (or a store that may not write one now: a
    /// switch under way, damage known) leaves the file as it was, and an
    /// open ignores a checkpoint that does not match the files.
    pub(super) fn save_checkpoint(&mut self) {
        if !self.checkpoints.on || self.mode != Mode::Write {
            return;
        }
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let Some(len) = inner.checkpoint_len() else {
            return;
        };
        let mut buf = vec![0u8; len];
        if let Ok(Some(n)) = inner.write_checkpoint(&mut buf) {
            files::write_checkpoint(&self.base, &buf[..n]);
            let (region, live, _) = inner.fill();
            self.checkpoints.written(region, live);
        }
    }

    /// Whether checkpoint bytes `c` may be of the region whose header says
    /// it is the active one: a checkpoint of the other region (the log
    /// switched since) is not handed to core, which would load its entries
    /// before finding that out. Only a filter: core checks what it takes.
    pub(super) fn may_be_of_the_active(&self, c: &[u8]) -> bool {
        let likely = |f: &Option<files::RegionFile>| f.as_ref().is_some_and(|f| f.likely_active);
        let active = match (likely(&self.a), likely(&self.b)) {
            (true, false) => Some(RegionId::A),
            (false, true) => Some(RegionId::B),
            _ => None,
        };
        match (active, CheckpointHead::active_of(c)) {
            (Some(active), Some(named)) => active == named,
            _ => true,
        }
    }

    /// After the open: a log replayed in full (no checkpoint taken) counts
    /// as written since the last checkpoint, so that the first write after
    /// the open of a long one writes one (and the next open after a crash
    /// does not replay it all again).
    pub(super) fn note_open_replay(&mut self) {
        let Some(inner) = &self.inner else {
            return;
        };
        let st = inner.stats();
        let c = &mut self.checkpoints;
        c.due = (u64::from(st.live_bytes) / 2).max(MIN_BYTES);
        c.region = Some(st.active);
        if !inner.opened_from_checkpoint() {
            c.since = u64::from(st.used_bytes);
        }
    }

    /// An index checkpoint during writes, once the writes since the last
    /// one add up to half the live bytes (at least 1 MiB), or at the first
    /// write after a switch: an open after a crash then replays about that
    /// much of the log at most (FORMAT.md §11).
    pub(super) fn checkpoint_if_due(&mut self, added: u64) {
        let c = &mut self.checkpoints;
        if !c.on {
            return;
        }
        c.since = c.since.saturating_add(added);
        if let (Some(inner), Some(region)) = (&self.inner, c.region) {
            let (active, live, _) = inner.fill();
            if active != region {
                // The switch's copy: about the live bytes.
                c.since = c.since.max(u64::from(live).max(c.due));
            }
        }
        if c.since >= c.due {
            self.save_checkpoint();
        }
    }
}
