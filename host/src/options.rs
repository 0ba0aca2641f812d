//! [`Options`] and [`Durability`].

use twinkv_core::format::RegionHeader;
use twinkv_core::Config;

use crate::error::{Error, Result};
use crate::mmap::{MmapRegion, ERASE_UNIT};

/// Default region size: 1 MiB per file.
pub const DEFAULT_REGION_SIZE: u32 = 1 << 20;

/// When writes become durable.
///
/// | mode | a returned write survives kill -9 | survives power loss |
/// |---|---|---|
/// | `Default` | yes (it is in the shared mapping) | after the next [`Store::sync`](crate::Store::sync), [`Store::close`](crate::Store::close), drop of the store, or switch |
/// | `SyncEveryWrite` | yes | yes |
///
/// A switch (compaction) syncs before and after its commit in every mode; in
/// `SyncEveryWrite` mode a write that switched is synced after its folded
/// records too, and [`Store::compact`](crate::Store::compact) ends synced.
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
/// ([`Error::OptionsConflict`]).
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
    pub(crate) auto_grow: bool,
}

impl Options {
    /// Defaults: create the store if absent, 1 MiB regions, core's default
    /// limits (key 63 B, value 1024 B) and ratios (high-water 80 %, max-fill
    /// 90 %), [`Durability::Default`], no auto-grow.
    pub fn new() -> Self {
        Options {
            create: true,
            ..Options::default()
        }
    }

    /// Size of each region file in bytes: a multiple of 512, at least what
    /// the limits need (one largest record within the max-fill ratio).
    pub fn region_size(mut self, bytes: u32) -> Self {
        self.region_size = Some(bytes);
        self
    }

    /// High-water and max-fill ratios in basis points (1/10 000):
    /// `1 <= high_water <= max_fill <= 10000`. A write that takes the log
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

    /// Whether to create the store when its files are absent (default true).
    /// Off, the store is never created nor formatted: absent or empty files,
    /// and a pair that never reached its first commit, are refused.
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Double the region size (through [`Store::resize`](crate::Store::resize))
    /// when a write finds the store full. Off by default.
    pub fn auto_grow(mut self, on: bool) -> Self {
        self.auto_grow = on;
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
        if sizes.0 == sizes.1 {
            same("region size", self.region_size, sizes.0)?;
        }
        Ok(Config::new(h.store_id)
            .with_limits(h.max_key_len, h.max_value_len)
            .with_ratios(h.high_water_bp, h.max_fill_bp))
    }
}

/// The smallest region size (a multiple of 512) that `c`'s limits fit.
pub fn min_region_size(c: &Config) -> Option<u32> {
    let mut lo = 1u32;
    let mut hi = u32::MAX / ERASE_UNIT;
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
    if !c.is_valid() {
        return Err(Error::InvalidOptions(format!(
            "need 1 <= high-water ({}) <= max-fill ({}) <= 10000 basis points and a max key length >= 1",
            c.high_water_bp, c.max_fill_bp
        )));
    }
    if size == 0 || !size.is_multiple_of(ERASE_UNIT) {
        return Err(Error::InvalidOptions(format!(
            "region size {size} is not a positive multiple of {ERASE_UNIT}"
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
