//! Index checkpoints (FORMAT.md §11, feature `checkpoint`): written from a
//! store whose state a replay of its log reproduces, and taken by an open
//! before the replay, which then walks the log from the checkpoint's
//! position only.

use super::*;
use crate::error::bug;
use crate::format::checkpoint::{self as ckpt, CheckpointHead};
use crate::format::Layout;

/// A checkpoint an open was given, its entries already in the index, until
/// the replay takes or drops it.
#[derive(Clone, Copy)]
pub(super) struct Resume {
    pub(super) head: CheckpointHead,
}

/// What the replay starts from when it takes a checkpoint.
pub(super) struct Start {
    pub(super) position: u32,
    pub(super) last_sync: u32,
    pub(super) tally: Tally,
    pub(super) erased: Option<(u32, u32)>,
    pub(super) covered_end: Option<u32>,
}

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// Opens the store as [`Store::open`] does, given an index checkpoint
    /// (FORMAT.md §11) that [`Store::write_checkpoint`] wrote earlier: if it
    /// matches the active region's log, the open loads the index from it and
    /// replays the log only from where the checkpoint was taken. A checkpoint
    /// that does not match (another store, generation or log, damage to the
    /// log since, a torn or foreign byte string) is ignored: the open is then
    /// exactly [`Store::open`]. Nothing is written because of a checkpoint.
    ///
    /// ```
    /// use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, Store};
    ///
    /// let geo = Geometry { size: 4096, read_unit: 1, write_unit: 4, erase_unit: 512 };
    /// let len = RamRegion::<&mut [u8]>::storage_len(4096, 4, 512);
    /// let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
    /// let config = Config::new(0x5EED).with_limits(32, 128);
    /// let mut scratch = [0u8; 512];
    /// let mut checkpoint = Vec::new();
    /// {
    ///     let ra = RamRegion::new(&mut a[..], geo).unwrap();
    ///     let rb = RamRegion::new(&mut b[..], geo).unwrap();
    ///     let mut store = Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config).unwrap();
    ///     store.set(b"volume", b"7").unwrap();
    ///     checkpoint.resize(store.checkpoint_len().unwrap(), 0);
    ///     store.write_checkpoint(&mut checkpoint).unwrap();
    /// }
    /// let ra = RamRegion::with_contents(&mut a[..], geo).unwrap();
    /// let rb = RamRegion::with_contents(&mut b[..], geo).unwrap();
    /// let index = FixedIndex::<64>::new();
    /// let mut store = Store::open_with_checkpoint(ra, rb, index, &mut scratch[..], config, &checkpoint).unwrap();
    /// assert!(store.opened_from_checkpoint());
    /// let mut buf = [0u8; 128];
    /// let n = store.get(b"volume", &mut buf).unwrap().unwrap();
    /// assert_eq!(&buf[..n], b"7");
    /// ```
    pub async fn open_with_checkpoint(
        a: R,
        b: R,
        mut index: I,
        mut scratch: B,
        config: Config,
        checkpoint: &[u8],
    ) -> Result<Self, R::Error> {
        Self::check_parts(&a, &b, &mut scratch, config)?;
        let d = Layout::new(a.geometry().write_unit).data_start();
        let resume = preload(&mut index, checkpoint, d);
        let mut store = Self::build(a, b, index, scratch, config, OpenMode::ReadWrite);
        store.resume = resume;
        let r = store.open_built(OpenMode::ReadWrite).await;
        if store.resume.take().is_some() {
            // Never reached the replay (the open failed first).
            store.index.clear();
        }
        r?;
        Ok(store)
    }

    /// Whether this store was opened from a checkpoint
    /// ([`Store::open_with_checkpoint`] took it).
    pub fn opened_from_checkpoint(&self) -> bool {
        self.resumed
    }

    /// The length of the checkpoint [`write_checkpoint`](Self::write_checkpoint)
    /// would write now, or `None` if none may be written now: damage is
    /// known, a switch is under way or unfinished, the log is sealed, or the
    /// store is poisoned or salvaged (FORMAT.md §11).
    pub fn checkpoint_len(&self) -> Option<usize> {
        let head = self.checkpoint_head()?;
        CheckpointHead::encoded_len(head.entries)
    }

    /// Writes an index checkpoint (FORMAT.md §11) into `out` and returns
    /// its length, `None` if none may be written now (see
    /// [`checkpoint_len`](Self::checkpoint_len)). Reads the active log from
    /// its data start to its end once, for the checkpoint's prefix check.
    /// `out` shorter than the checkpoint is [`Error::BufferTooSmall`].
    pub async fn write_checkpoint(&mut self, out: &mut [u8]) -> Result<Option<usize>, R::Error> {
        self.callable()?;
        let Some(mut head) = self.checkpoint_head() else {
            return Ok(None);
        };
        let len =
            CheckpointHead::encoded_len(head.entries).ok_or(Error::BufferTooSmall(usize::MAX))?;
        let Some(out) = out.get_mut(..len) else {
            return Err(Error::BufferTooSmall(len));
        };
        head.prefix_check = self.prefix_check(head.position).await?;
        let (head_bytes, rest) = out.split_at_mut(ckpt::CHECKPOINT_HEAD_LEN);
        head.encode(head_bytes).ok_or_else(|| Error::from(bug!()))?;
        // One 8-byte slot per entry: as many as the head says.
        let mut slots = rest.chunks_exact_mut(ckpt::CHECKPOINT_ENTRY_LEN);
        for pos in 0..self.index.positions() {
            let Some((hash, off)) = self.index.entry(pos) else {
                continue;
            };
            let Some(at) = self.pair.in_active(off) else {
                return Ok(None);
            };
            let slot = slots.next().ok_or_else(|| Error::from(bug!()))?;
            slot.copy_from_slice(&ckpt::entry_bytes(hash, at));
        }
        // Every slot filled (the 4 bytes left over are the entries check).
        if slots.next().is_some() {
            return Err(Error::from(bug!()));
        }
        ckpt::seal_entries(out).ok_or_else(|| Error::from(bug!()))?;
        Ok(Some(len))
    }

    /// The CRC-32C of the active log's bytes from its data start to `p`:
    /// carried on from the last one computed for this log (its bytes
    /// before that position are never rewritten in place), else over all.
    /// A byte damaged since then is not fed again: the next open, which
    /// reads it, then finds the check fails.
    async fn prefix_check(&mut self, p: u32) -> Res<u32, R::Error> {
        let (gen, active) = (self.generation, self.pair.active);
        let j = self.pair.active_mut();
        let crc = match self.prefix {
            Some((g, a, at, crc)) if g == gen && a == active && at <= p => {
                j.crc_range(crc, at, p).await?
            }
            _ => j.crc_range(0, j.data_start(), p).await?,
        };
        self.prefix = Some((gen, active, p, crc));
        Ok(crc)
    }

    /// The head of a checkpoint of this store now, its prefix check not yet
    /// computed; `None` where FORMAT.md §11 allows none.
    fn checkpoint_head(&self) -> Option<CheckpointHead> {
        let j = self.pair.active();
        let quiet = !self.poisoned
            && !self.in_call
            && !self.salvaged
            && !self.unfinished_switch
            && !self.suspects
            && matches!(self.copy, CopyState::Idle)
            && self.damage.entries().is_empty()
            && self.tally.damaged_keyed == 0
            && self.damage_at_open == 0
            && self.strays == 0
            && self.generation >= 1
            && !j.sealed()
            && !j.beyond_found();
        if !quiet {
            return None;
        }
        Some(CheckpointHead {
            active: self.pair.active,
            store_id: self.store_id,
            generation: self.generation,
            region_size: j.size(),
            data_end: j.data_end(),
            position: j.append_at(),
            // In order, every record's end between calls is a sync point
            // (FORMAT.md §6.1).
            last_sync: if j.region.persists_in_order() {
                j.append_at()
            } else {
                j.last_sync()
            },
            prefix_check: 0,
            covered_end: j.covered_span(),
            erased: j.log_erased(),
            live_bytes: self.tally.live_bytes,
            live_keys: u32::try_from(self.tally.live_keys).ok()?,
            entries: u32::try_from(self.index.len()).ok()?,
        })
    }

    /// Whether the checkpoint this open was given (its entries in the
    /// index) fits the active log about to be replayed (data end
    /// `data_end`, FORMAT.md §11 rules 2–4): then what the replay starts
    /// from. Otherwise the index is cleared and `None` returned.
    pub(super) async fn resume_start(&mut self, data_end: u32) -> Res<Option<Start>, R::Error> {
        let Some(Resume { head }) = self.resume.take() else {
            return Ok(None);
        };
        let fits = self.fits_checkpoint(&head, data_end);
        let j = self.pair.active_mut();
        if fits && j.crc_range(0, j.data_start(), head.position).await? == head.prefix_check {
            self.prefix = Some((
                head.generation,
                head.active,
                head.position,
                head.prefix_check,
            ));
            return Ok(Some(Start {
                position: head.position,
                last_sync: head.last_sync,
                tally: Tally {
                    live_bytes: head.live_bytes,
                    live_keys: head.live_keys as usize,
                    damaged_keyed: 0,
                },
                erased: head.erased,
                covered_end: head.covered_end,
            }));
        }
        self.index.clear();
        Ok(None)
    }

    /// FORMAT.md §11 rules 2 and 4 (the entries' offsets were checked
    /// against the position when they were loaded).
    fn fits_checkpoint(&self, head: &CheckpointHead, data_end: u32) -> bool {
        let j = self.pair.active();
        let w = j.geo.write_unit;
        head.active == self.pair.active
            && head.store_id == self.store_id
            && head.generation == self.generation
            && head.region_size == j.size()
            && head.data_end == data_end
            && j.data_start() <= data_end
            && data_end <= head.last_sync
            && head.last_sync <= head.position
            && head.position <= j.size()
            && head.position.is_multiple_of(w)
            && head.covered_end.is_none_or(|c| c <= head.position)
            && head.live_keys <= head.entries
            && self.index.len() == head.entries as usize
            && self.pair.tag_is_plain()
    }
}

/// Loads a checkpoint's entries into `index` (cleared first): the
/// checkpoint's head if it decodes, every entry's offset lies between the
/// data start `d` and its position, and the index takes them all; else
/// `None` and the index is left empty.
fn preload<I: Index>(index: &mut I, checkpoint: &[u8], d: u32) -> Option<Resume> {
    index.clear();
    let (head, body) = CheckpointHead::decode(checkpoint).ok()?;
    let n = head.entries as usize;
    let loaded = index.has_room(n) && {
        index.reserve(n);
        ckpt::entries(body)
            .all(|(hash, off)| off >= d && off < head.position && index.insert(hash, off).is_ok())
    };
    if loaded {
        Some(Resume { head })
    } else {
        index.clear();
        None
    }
}
