//! [`Options`] and [`Durability`].

use twinkv_core::format::RegionHeader;
use twinkv_core::Config;

use crate::error::{Error, Result};
use crate::region::{MmapRegion, ERASE_UNIT};

/// Default region size: 1 MiB per file.
pub const DEFAULT_REGION_SIZE: u32 = 1 << 20;

/// Default of [`Options::compact_on_close`]: a close compacts the log when
/// the next open would cost more than 1.5 × the open of a compacted log
/// (see [Compaction on close](Options#compaction-on-close)).
pub const DEFAULT_COMPACT_ON_CLOSE_BP: u32 = 15_000;

/// A close compacts only a log whose open would replay at least this many
/// bytes more than a compacted one (weighted as in [Compaction on
/// close](Options#compaction-on-close)): below it a reopen replays them in
/// well under a millisecond, less than the compaction's erase and syncs
/// would cost.
pub const COMPACT_ON_CLOSE_MIN_GARBAGE: u32 = 64 * 1024;

/// How much more an open spends on a byte it checks record by record than
/// on one a covering marker vouches for (FORMAT.md §6.4), in eighths: 3,
/// i.e. such a byte counts 1⅜. Measured on x86-64 with `hw-crc` (16-byte
/// keys and values, 100k keys): 740 instructions per record checked, 541
/// per record covered.
pub const COMPACT_ON_CLOSE_UNCOVERED_EIGHTHS: u32 = 3;

/// Largest region size: 1 GiB per file, core's
/// [`MAX_REGION_SIZE`](twinkv_core::MAX_REGION_SIZE) (its index keeps a
/// record's offset in 30 bits). The default [`Options::max_region_size`].
pub const MAX_REGION_SIZE: u32 = twinkv_core::MAX_REGION_SIZE;

/// When writes become durable.
///
/// | mode | a returned write survives kill -9 | survives power loss |
/// |---|---|---|
/// | `Default` | yes (it is in the shared mapping) | after the next [`Store::sync`](crate::Store::sync), [`Store::close`](crate::Store::close), drop of the store, or switch |
/// | `SyncEveryWrite` | yes | yes |
///
/// A switch (compaction) syncs before and after its commit in every mode:
/// when writes end its copy (FORMAT.md §7.4), the write that copies the
/// last record syncs the copy and the next write (or sync) commits it, so
/// that no write syncs twice; a write that commits a switch is itself as
/// durable as any other write after it. In `SyncEveryWrite` mode a write
/// that switched is synced after its folded records too, and
/// [`Store::compact`](crate::Store::compact) ends synced. "Superseded" in
/// the region a switch leaves is synced by the next [`Store::sync`](crate::Store::sync)
/// (until then a power cut leaves the switch's new state all the same).
/// Against damage (a flipped bit, a zeroed sector) no mode helps: damage is
/// reported as `Corrupted`, never answered with an older value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Writes go to the shared mapping; call [`Store::sync`](crate::Store::sync)
    /// for a power-loss barrier.
    #[default]
    Default,
    /// Every write is followed by a sync (flush, fsync, sync marker).
    SyncEveryWrite,
}

/// How to open or create a store. Every field left unset is taken from the
/// existing store's header when it exists, or from the defaults when it is
/// created; a field set explicitly must match an existing store
/// ([`Error::OptionsConflict`]), except the region size, which is a minimum
/// (a store that grew past it opens at its recorded size).
///
/// # Sizing
///
/// (FORMAT.md §1, §4, §7.1; the figures below are checked by
/// `tests/sizing.rs`.)
///
/// - **A record** takes `align4(header + key + value)` bytes: the header is
///   8 B when the key is at most 63 B and the value at most 8191 B, else
///   16 B. A delete that must be kept takes `align4(8 + key)`.
/// - **Live bytes** are the records of the newest value of every key: what a
///   switch (compaction) copies. [`Store::stats`](crate::Store::stats) shows
///   them.
/// - **A region** of `size` bytes has a capacity `C = size − 84` for
///   records. The live data may fill at most `F = C × max-fill` (90 % by
///   default; the smaller region counts when the two differ): a write that
///   would take it further grows the store, or fails with [`Error::Full`].
/// - **Switches**: once the log passes `C × high-water` (80 % by default),
///   a write is folded into a switch if the switch frees at least
///   `C × (1 − max-fill)`; so every switch frees at least that, and a
///   workload writing `N` record bytes switches at most
///   `N / (C × (1 − max-fill)) + 1` times. With `L` live bytes a switch comes
///   about every `C × high-water − L` bytes written and copies `L`.
///
/// | record | bytes |
/// |---|---:|
/// | 16 B key, 16 B value | 40 |
/// | 16 B key, 1000 B value | 1024 |
/// | 16 B key, 10 000 B value (long header; needs [`limits`](Self::limits)) | 10 032 |
///
/// 100 000 keys of 16 B with 16 B values are 4 000 000 live bytes. The
/// smallest region that holds them is 4 444 672 B (4.24 MiB), where nearly
/// every write would switch; a region of 4 × the live bytes switches rarely:
/// at 16 MiB a switch comes every 9 421 705 B written (235 542 such sets) and
/// copies 4 MB, under half a byte copied per byte written. The default
/// 1 MiB region (`F` = 943 642 B) holds 23 591 such pairs. Rule of thumb:
/// **region size ≥ 4 × live bytes**, which growth keeps by itself.
///
/// # Growth
///
/// On by default ([`auto_grow`](Self::auto_grow)), up to
/// [`max_region_size`](Self::max_region_size) ([`MAX_REGION_SIZE`] unless
/// set). Growth doubles the regions, one file at a time, so that no write
/// pays for a resize of the whole store:
///
/// 1. When a write would take the live bytes past `F / 2` (regions then
///    about 2.2 × the live data), the next size is twice the smaller region.
/// 2. Before each write, the inactive file is extended with `0xFF` by one
///    chunk: 256 KiB, or the write's share of what is left if more (what is
///    left × the write's record bytes / the live bytes left before
///    `3F / 4`; with the default ratios at most about 4.5 × the write's
///    record bytes). When the file reaches the new size it is mapped and
///    handed to core in place of the inactive region: no reopen, no copy.
/// 3. The next switch, which writes the inactive region anyway, copies the
///    live data into the larger region. If none comes before the live bytes
///    pass `3F / 4` (only inserts, nothing to compact), the write that passes
///    it forces one.
/// 4. The other file, now inactive, is extended the same way and put in
///    place; then the fill limit doubles (the regions are again about 4.4 ×
///    the live data).
///
/// So a write does at most one chunk of fill, one `mmap` and the one switch
/// that any write may do. A write that finds the store full while a growth
/// is unfinished (a write far larger than a chunk, or a store opened with
/// growth on when already above `3F / 4`) finishes the growth itself and is
/// retried. A fill that fails (a full disk) stops growth until the store is
/// reopened; [`Error::Full`] then says so.
///
/// Crash safety: nothing new is recorded; the files are the record. A crash
/// at any point leaves the old regions or the new ones committed, never
/// less than every acknowledged write: the extension of an inactive file is
/// outside every region until a switch commits into it (and syncs it
/// first). Opening settles the files: the inactive file takes the active
/// region's size (an unfinished extension is cut off; a smaller partner is
/// extended, which that open pays for), and bytes past a committed region
/// that a growth step had added are cut off.
///
/// # Compaction on close
///
/// Opening replays the active log, garbage included: its cost follows the
/// log, not the live data. And it checks each record it replays, except
/// those a compaction's covering marker vouches for at once (FORMAT.md
/// §6.4). So a clean close ([`Store::close`](crate::Store::close),
/// or dropping a writable store while [`sync_on_close`](Self::sync_on_close)
/// is on) first syncs, then compacts the log (a switch, as
/// [`Store::compact`](crate::Store::compact)) when the next open would cost
/// much more than the open of a compacted log. It estimates the open's work
/// as `used + 3/8 × uncovered` bytes (twinkv-core's `Stats::used_bytes`
/// and `uncovered_bytes`: a byte checked record by record counts 1⅜,
/// [`COMPACT_ON_CLOSE_UNCOVERED_EIGHTHS`]) against the live bytes, the
/// work after a compaction, and compacts when
///
/// - that work > ratio × live bytes (ratio 1.5 by default,
///   [`DEFAULT_COMPACT_ON_CLOSE_BP`]; set with
///   [`compact_on_close`](Self::compact_on_close)), and
/// - work − live ≥ [`COMPACT_ON_CLOSE_MIN_GARBAGE`] (64 KiB), so that small
///   stores are not compacted on every close,
///
/// and nothing else is under way: a drop leaves a switch under way as it is
/// (`close` finishes it first). The next open then replays at most `ratio ×
/// live + 64 KiB` bytes of log, whatever the history, and costs at most
/// about the ratio × a compacted log's open. A log that garbage never
/// grew is left as it is (a store written once, at most 1⅜ × live); a
/// compacted one is left until its later writes reach about a third of the
/// live bytes. A close that compacts costs a switch of the live data (on
/// this project's benchmark machine 23–54 ms for 100k keys of 16 B, syncs
/// included).
/// Checked at close time, whether or not this open wrote anything (a store
/// left long by a crash is compacted by the next clean close). A failed
/// compaction is returned by `close` like any close error (ignored by a
/// drop) and loses nothing: everything written was synced before it began,
/// and a switch cut short leaves the old region in force (FORMAT.md §7.2).
/// Not recorded in the store: it applies to this open only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) region_size: Option<u32>,
    pub(crate) high_water_bp: Option<u16>,
    pub(crate) max_fill_bp: Option<u16>,
    pub(crate) max_key_len: Option<u16>,
    pub(crate) max_value_len: Option<u32>,
    pub(crate) durability: Durability,
    pub(crate) create: bool,
    /// Dropping a writable store does not sync it (`sync_on_close(false)`).
    pub(crate) no_sync_on_close: bool,
    /// Growth is off (`auto_grow(false)`).
    pub(crate) no_auto_grow: bool,
    pub(crate) max_region_size: Option<u32>,
    /// [`Options::compact_on_close`]: unset is the default
    /// ([`DEFAULT_COMPACT_ON_CLOSE_BP`]), `Some(None)` off.
    pub(crate) compact_on_close: Option<Option<u32>>,
    /// No index checkpoint is written or read (`index_checkpoint(false)`).
    pub(crate) no_checkpoint: bool,
}

impl Options {
    /// Defaults: create the store if absent, 1 MiB regions, core's default
    /// limits (key 63 B, value 1024 B) and ratios (high-water 80 %, max-fill
    /// 90 %), [`Durability::Default`], growth on up to [`MAX_REGION_SIZE`].
    pub fn new() -> Self {
        Options {
            create: true,
            ..Options::default()
        }
    }

    /// Size of each region file in bytes: a multiple of 512, at least what
    /// the limits need (one largest record within the max-fill ratio). See
    /// [Sizing](Options#sizing).
    ///
    /// It is the size a new store is created with, and a minimum for an
    /// existing one: a store whose regions are larger (grown, or resized)
    /// opens at its recorded size; one whose regions are smaller is refused
    /// with [`Error::OptionsConflict`] (resize it, or leave the option out).
    pub fn region_size(mut self, bytes: u32) -> Self {
        self.region_size = Some(bytes);
        self
    }

    /// High-water and max-fill ratios in basis points (1/10 000):
    /// `1 <= high_water <= max_fill < 10000` (a max-fill of 10 000 leaves
    /// no headroom and is refused: twinkv-core's `ConfigError::NoHeadroom`).
    /// A write that takes the log
    /// past high-water compacts it into the other region; live data may not
    /// exceed max-fill.
    pub fn ratios(mut self, high_water_bp: u16, max_fill_bp: u16) -> Self {
        self.high_water_bp = Some(high_water_bp);
        self.max_fill_bp = Some(max_fill_bp);
        self
    }

    /// The high-water ratio alone, in basis points (max-fill keeps its
    /// recorded or default value, raised to `high_water_bp` if below it).
    pub fn high_water(mut self, high_water_bp: u16) -> Self {
        self.high_water_bp = Some(high_water_bp);
        self
    }

    /// Largest key and value in bytes.
    pub fn limits(mut self, max_key_len: u16, max_value_len: u32) -> Self {
        self.max_key_len = Some(max_key_len);
        self.max_value_len = Some(max_value_len);
        self
    }

    /// When writes become durable.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Whether dropping a writable store syncs it when anything was written
    /// since the last sync (default true). Off, a store whose owner never
    /// calls [`Store::sync`](crate::Store::sync) or
    /// [`Store::close`](crate::Store::close) keeps the default mode's promise
    /// only: its writes survive kill -9, not power loss. For programs that
    /// batch and sync themselves.
    pub fn sync_on_close(mut self, on: bool) -> Self {
        self.no_sync_on_close = !on;
        self
    }

    /// When a clean close compacts the log (see [Compaction on
    /// close](Options#compaction-on-close)): `Some(ratio)` compacts when
    /// the next open's estimated work exceeds `ratio` basis points of the
    /// live bytes (and them by at least [`COMPACT_ON_CLOSE_MIN_GARBAGE`]);
    /// `None` never compacts on close (the log is left as it is). Default
    /// `Some(`[`DEFAULT_COMPACT_ON_CLOSE_BP`]`)` (1.5). A ratio of 10 000
    /// or less compacts whenever the excess reaches the minimum.
    pub fn compact_on_close(mut self, used_over_live_bp: Option<u32>) -> Self {
        self.compact_on_close = Some(used_over_live_bp);
        self
    }

    /// Whether a clean close (or drop) writes an index checkpoint to
    /// `<path>.ckpt` and an open reads it (default true; see
    /// [`checkpoint_path`](crate::checkpoint_path)). The checkpoint lets the
    /// next open load the index instead of replaying the log up to where the
    /// store was closed (FORMAT.md §11); one that does not match the files
    /// is ignored, and losing it costs one full replay. Off, no third file
    /// is written or read.
    pub fn index_checkpoint(mut self, on: bool) -> Self {
        self.no_checkpoint = !on;
        self
    }

    /// The compaction-on-close ratio in force, in basis points (`None`: off).
    pub(crate) fn compact_on_close_bp(&self) -> Option<u32> {
        self.compact_on_close
            .unwrap_or(Some(DEFAULT_COMPACT_ON_CLOSE_BP))
    }

    /// Whether to create the store when its files are absent (default true).
    /// Off, the store is never created nor formatted: absent or empty files,
    /// and a pair that never reached its first commit, are refused.
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Whether the store grows by itself (default on). See
    /// [Growth](Options#growth). Off, a write that would take the live data
    /// past the fill limit fails with [`Error::Full`].
    pub fn auto_grow(mut self, on: bool) -> Self {
        self.no_auto_grow = !on;
        self
    }

    /// The largest region size growth may reach (default and upper bound
    /// [`MAX_REGION_SIZE`]: a larger value is taken as it; rounded down to a
    /// multiple of 512). A store at it
    /// that cannot take a write answers [`Error::Full`]. Not recorded in the
    /// store: it applies to this open only. [`Store::resize`](crate::Store::resize)
    /// ignores it.
    pub fn max_region_size(mut self, bytes: u32) -> Self {
        self.max_region_size = Some(bytes.min(MAX_REGION_SIZE) / ERASE_UNIT * ERASE_UNIT);
        self
    }

    /// Checks these options as a new store would use them (ratios, limits,
    /// region size: [`Error::InvalidOptions`]), touching no file. An existing
    /// store may still refuse them ([`Error::OptionsConflict`]).
    pub fn validate(&self) -> Result<()> {
        self.fresh_config(1).map(|_| ())
    }

    /// The core configuration for a new store of `size`-byte regions.
    pub(crate) fn fresh_config(&self, store_id: u64) -> Result<(Config, u32)> {
        let d = Config::new(store_id);
        let mut c = d;
        if let Some(k) = self.max_key_len {
            c.max_key_len = k;
        }
        if let Some(v) = self.max_value_len {
            c.max_value_len = v;
        }
        if let Some(h) = self.high_water_bp {
            c.high_water_bp = h;
            if self.max_fill_bp.is_none() && c.max_fill_bp < h {
                c.max_fill_bp = h;
            }
        }
        if let Some(m) = self.max_fill_bp {
            c.max_fill_bp = m;
        }
        let size = self.region_size.unwrap_or(DEFAULT_REGION_SIZE);
        check_config(&c, size)?;
        Ok((c, size))
    }

    /// The core configuration for an existing store whose header is `h`;
    /// explicit options must match it.
    pub(crate) fn adopt(&self, h: &RegionHeader, sizes: (u32, u32)) -> Result<Config> {
        fn same<T: Into<u64> + Copy + PartialEq>(
            option: &'static str,
            asked: Option<T>,
            recorded: T,
        ) -> Result<()> {
            match asked {
                Some(a) if a != recorded => Err(Error::OptionsConflict {
                    option,
                    recorded: recorded.into(),
                    requested: a.into(),
                }),
                _ => Ok(()),
            }
        }
        same("max key length", self.max_key_len, h.max_key_len)?;
        same("max value length", self.max_value_len, h.max_value_len)?;
        same("high-water ratio (bp)", self.high_water_bp, h.high_water_bp)?;
        same("max-fill ratio (bp)", self.max_fill_bp, h.max_fill_bp)?;
        // The region size is a minimum: a store larger than asked (grown or
        // resized) opens at its own size.
        let larger = sizes.0.max(sizes.1);
        match self.region_size {
            Some(r) if r > larger => {
                return Err(Error::OptionsConflict {
                    option: "region size",
                    recorded: u64::from(larger),
                    requested: u64::from(r),
                })
            }
            _ => {}
        }
        Ok(recorded_config(h))
    }
}

/// The configuration a region header records: its store id, limits and
/// ratios.
pub(crate) fn recorded_config(h: &RegionHeader) -> Config {
    Config::new(h.store_id)
        .with_limits(h.max_key_len, h.max_value_len)
        .with_ratios(h.high_water_bp, h.max_fill_bp)
}

/// The smallest region size (a multiple of 512) that `c`'s limits fit.
pub fn min_region_size(c: &Config) -> Option<u32> {
    let mut lo = 1u32;
    let mut hi = MAX_REGION_SIZE / ERASE_UNIT;
    let fits = |units: u32| {
        let g = MmapRegion::geometry_for(units * ERASE_UNIT);
        c.fits(g, g)
    };
    if !fits(hi) {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo * ERASE_UNIT)
}

pub(crate) fn check_config(c: &Config, size: u32) -> Result<()> {
    if let Err(e) = c.check() {
        return Err(Error::InvalidOptions(format!(
            "{e}: need 1 <= high-water ({}) <= max-fill ({}) < 10000 basis points and a max key length >= 1",
            c.high_water_bp, c.max_fill_bp
        )));
    }
    if size == 0 || !size.is_multiple_of(ERASE_UNIT) {
        return Err(Error::InvalidOptions(format!(
            "region size {size} is not a positive multiple of {ERASE_UNIT}"
        )));
    }
    if size > MAX_REGION_SIZE {
        return Err(Error::InvalidOptions(format!(
            "region size {size} is larger than {MAX_REGION_SIZE} bytes (1 GiB), the largest twinkv takes"
        )));
    }
    let g = MmapRegion::geometry_for(size);
    if !c.fits(g, g) {
        return Err(Error::InvalidOptions(match min_region_size(c) {
            Some(min) => format!(
                "region size {size} is too small for these limits (key {} B, value {} B, max-fill {} bp): at least {min} bytes",
                c.max_key_len, c.max_value_len, c.max_fill_bp
            ),
            None => "the limits do not fit any region size".to_string(),
        }));
    }
    Ok(())
}
