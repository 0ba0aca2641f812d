//! Store configuration, checked when the store is built.

use crate::format::record::{stored_len, SYSTEM_VALUE_MAX};
use crate::format::Layout;
use crate::Geometry;

/// Basis points in 1.0.
pub const BP_ONE: u16 = 10_000;

/// What a store is built with. `const fn` builders and [`Config::validate`]
/// let a firmware check its configuration at compile time:
///
/// ```
/// use twinkv_core::Config;
/// const CONFIG: Config = match Config::new(0x5EED).with_limits(32, 256).validate() {
///     Ok(c) => c,
///     Err(_) => panic!("invalid twinkv configuration"),
/// };
/// assert_eq!(CONFIG.max_value_len, 256);
/// ```
///
/// An invalid one then fails the build:
///
/// ```compile_fail
/// use twinkv_core::Config;
/// // High-water above max-fill.
/// const CONFIG: Config = match Config::new(0x5EED).with_ratios(9500, 9000).validate() {
///     Ok(c) => c,
///     Err(_) => panic!("invalid twinkv configuration"),
/// };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// The store id written when empty storage is formatted, and required of
    /// existing regions unless `adopt_store_id` is set. Never 0 nor `u64::MAX`.
    pub store_id: u64,
    /// Accept existing regions whatever their store id (the host does this;
    /// the id recorded in the regions still has to match between A and B).
    pub adopt_store_id: bool,
    /// Largest key in bytes (1..=65535). Default 63.
    pub max_key_len: u16,
    /// Largest value in bytes. Default 1024.
    pub max_value_len: u32,
    /// High-water ratio in basis points (1..=9999, at most max-fill).
    /// Default 8000 (0.8). A switch begins when the log passes it, or with
    /// a [late switch](Config::late_switch) (the default on flash) no
    /// earlier than that.
    pub high_water_bp: u16,
    /// Max-fill ratio in basis points (high-water..=9999). Default 9000
    /// (0.9). 10 000 is refused ([`ConfigError::NoHeadroom`], see
    /// [`Config::with_ratios`]).
    pub max_fill_bp: u16,
    /// Each write that does not switch erases one erase unit of the inactive
    /// region ahead of the next switch (FORMAT.md §7.3). Default on; off,
    /// only [`Store::maintain`](crate::Store::maintain) erases ahead.
    pub erase_ahead: bool,
    /// A switch past the high-water mark copies the live records in slices
    /// over the writes that follow it instead of in one call (FORMAT.md
    /// §7.4), once the target is erased. Default on; off, every switch
    /// copies in one call. No effect with a max-fill of 1.0.
    pub incremental_switch: bool,
    /// Past the high-water mark, an incremental switch begins only once the
    /// log has no more headroom left than its copy needs (FORMAT.md §7.1):
    /// each generation then uses nearly all of its region, and each erase
    /// unit is erased less often. Only on regions that persist in order
    /// (flash, where a reboot during a copy leaves only the units the copy
    /// programmed to erase again) and with [`Config::incremental_switch`].
    /// Default on; off, the switch begins at the high-water mark, so logs
    /// stay shorter (an open reads less) at the cost of more erases.
    pub late_switch: bool,
}

impl Config {
    /// Defaults with the given store id.
    pub const fn new(store_id: u64) -> Self {
        Config {
            store_id,
            adopt_store_id: false,
            max_key_len: 63,
            max_value_len: 1024,
            high_water_bp: 8000,
            max_fill_bp: 9000,
            erase_ahead: true,
            incremental_switch: true,
            late_switch: true,
        }
    }
    /// Sets whether a switch waits past high-water until its copy's
    /// headroom is all that is left (see [`Config::late_switch`]).
    pub const fn with_late_switch(mut self, on: bool) -> Self {
        self.late_switch = on;
        self
    }
    /// Sets whether writes erase ahead (see [`Config::erase_ahead`]).
    pub const fn with_erase_ahead(mut self, on: bool) -> Self {
        self.erase_ahead = on;
        self
    }
    /// Sets whether a switch copies over several writes (see
    /// [`Config::incremental_switch`]).
    pub const fn with_incremental_switch(mut self, on: bool) -> Self {
        self.incremental_switch = on;
        self
    }
    /// Sets the key and value limits.
    pub const fn with_limits(mut self, max_key_len: u16, max_value_len: u32) -> Self {
        self.max_key_len = max_key_len;
        self.max_value_len = max_value_len;
        self
    }
    /// Sets the ratios, in basis points: `1 <= high_water_bp <= max_fill_bp
    /// < 10000`.
    ///
    /// Max-fill must leave headroom: [`Config::check`] refuses a max-fill
    /// of 10 000 (1.0) with [`ConfigError::NoHeadroom`]. With it the live
    /// data may fill the whole capacity `C`, and the switch (FORMAT.md §7.1)
    /// frees `C × (1 − max-fill)` = 0 bytes beyond the record it folds in:
    /// at full every write is a whole switch (a copy of all live data and
    /// the erase of a region; the bound of FORMAT.md §7.4,
    /// `L / (1 − max-fill)` bytes copied per write, is infinite), the
    /// incremental switch never runs, and a switch may have no room left for
    /// the erased record erase ahead needs (§7.3). Any ratio below 1.0 leaves
    /// `C × (1 − max-fill)` bytes after every switch at full; how many writes
    /// that buys depends on the region and record sizes: a write of `L`
    /// bytes appends without a switch when `C × (1 − max-fill)` is at least
    /// `L` plus an erased record (16 B at a write unit up to 16).
    pub const fn with_ratios(mut self, high_water_bp: u16, max_fill_bp: u16) -> Self {
        self.high_water_bp = high_water_bp;
        self.max_fill_bp = max_fill_bp;
        self
    }
    /// Accepts existing regions of any store id.
    pub const fn adopting_store_id(mut self) -> Self {
        self.adopt_store_id = true;
        self
    }

    /// Checks the configuration alone (ratios, limits, id).
    pub const fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    /// The configuration if it is valid on its own (ratios, limits, id),
    /// else why not. `const`: usable to check a configuration at compile
    /// time (see the example on [`Config`]).
    pub const fn validate(self) -> Result<Self, ConfigError> {
        match self.check() {
            Ok(()) => Ok(self),
            Err(e) => Err(e),
        }
    }

    /// Why the configuration alone is invalid, if it is.
    pub const fn check(&self) -> Result<(), ConfigError> {
        if self.store_id == 0 || self.store_id == u64::MAX {
            Err(ConfigError::StoreId)
        } else if self.max_key_len < 1 {
            Err(ConfigError::KeyLimit)
        } else if self.high_water_bp < 1 || self.high_water_bp > self.max_fill_bp {
            Err(ConfigError::HighWater)
        } else if self.max_fill_bp > BP_ONE {
            Err(ConfigError::MaxFill)
        } else if self.max_fill_bp == BP_ONE {
            Err(ConfigError::NoHeadroom)
        } else {
            Ok(())
        }
    }

    /// Stored length of the largest record this configuration allows at
    /// write unit `w`.
    #[cfg_attr(not(feature = "fast-crc"), inline(never))]
    pub const fn max_record_len(&self, w: u32) -> Option<u32> {
        let v = if self.max_value_len > SYSTEM_VALUE_MAX {
            self.max_value_len
        } else {
            SYSTEM_VALUE_MAX
        };
        stored_len(self.max_key_len as u32, v, w)
    }

    /// Scratch bytes a store of this configuration needs at write unit `w`:
    /// room for two of its largest records (`usize::MAX` if that length
    /// overflows `u32`, so a [`Scratch`](crate::Scratch) sized by it fails
    /// to build). `const`, so it can size a buffer type; at
    /// `w = 32`, the largest write unit, it is enough for every flash.
    /// [`Store::open`](crate::Store::open) refuses a smaller buffer with
    /// [`Error::BufferTooSmall`](crate::Error::BufferTooSmall) naming this
    /// length. On flash, `flash_scratch_len` (feature `embedded-storage`)
    /// takes the write unit from the flash type.
    ///
    /// ```
    /// use twinkv_core::{Config, Scratch};
    /// const CONFIG: Config = Config::new(0x5EED).with_limits(32, 256);
    /// // Two records of an 8-byte short header, a 32-byte key and a
    /// // 256-byte value, each padded to the write unit (FORMAT.md §4).
    /// assert_eq!(CONFIG.scratch_len(4), 2 * (8 + 32 + 256));
    /// assert_eq!(CONFIG.scratch_len(4), 2 * CONFIG.max_record_len(4).unwrap() as usize);
    /// let scratch = Scratch::<{ CONFIG.scratch_len(4) }>::new();
    /// # let _ = scratch;
    /// ```
    pub const fn scratch_len(&self, w: u32) -> usize {
        match self.max_record_len(w) {
            Some(r) => 2 * r as usize,
            None => usize::MAX,
        }
    }

    /// Checks the configuration against both regions' geometries: valid
    /// geometry, matching write and erase units, room for the header area and
    /// for one largest record within capacity × max-fill.
    pub const fn fits(&self, a: Geometry, b: Geometry) -> bool {
        self.check_fit(a, b).is_ok()
    }

    /// Why the configuration does not fit regions of geometries `a` and `b`,
    /// if it does not (what [`Config::fits`] answers as a `bool`).
    pub const fn check_fit(&self, a: Geometry, b: Geometry) -> Result<(), ConfigError> {
        if let Err(e) = self.check() {
            return Err(e);
        }
        if a.size > crate::MAX_REGION_SIZE || b.size > crate::MAX_REGION_SIZE {
            return Err(ConfigError::RegionTooLarge);
        }
        if !a.is_valid() || !b.is_valid() {
            return Err(ConfigError::Geometry);
        }
        if a.write_unit != b.write_unit || a.erase_unit != b.erase_unit {
            return Err(ConfigError::UnitsDiffer);
        }
        let layout = Layout::new(a.write_unit);
        let d = layout.data_start();
        let min_size = if a.size < b.size { a.size } else { b.size };
        if min_size <= d {
            return Err(ConfigError::RegionTooSmall);
        }
        let limit = fill_limit(min_size - d, self.max_fill_bp);
        match self.max_record_len(a.write_unit) {
            Some(r) if r <= limit => Ok(()),
            _ => Err(ConfigError::RecordTooLarge),
        }
    }
}

/// Why a [`Config`] is refused, alone or with a pair of geometries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// The store id is 0 or `u64::MAX`.
    StoreId,
    /// The max key length is 0.
    KeyLimit,
    /// The high-water ratio is 0 or above the max-fill ratio.
    HighWater,
    /// The max-fill ratio is above 10 000 basis points.
    MaxFill,
    /// The max-fill ratio is 10 000 basis points: no headroom, so that at
    /// full every write would be a whole switch (see [`Config::with_ratios`]).
    NoHeadroom,
    /// A region geometry is invalid (see [`Geometry::is_valid`]).
    Geometry,
    /// The two regions' write or erase units differ.
    UnitsDiffer,
    /// A region is no larger than its header area.
    RegionTooSmall,
    /// A region is larger than [`MAX_REGION_SIZE`](crate::MAX_REGION_SIZE)
    /// (1 GiB).
    RegionTooLarge,
    /// One largest record does not fit in capacity × max-fill.
    RecordTooLarge,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::StoreId => "store id must not be 0 nor u64::MAX",
            ConfigError::KeyLimit => "max key length must be at least 1",
            ConfigError::HighWater => "high-water ratio must be 1..=max-fill basis points",
            ConfigError::MaxFill => "max-fill ratio must be at most 10000 basis points",
            ConfigError::NoHeadroom => {
                "max-fill ratio must be below 10000 basis points (1.0 leaves no headroom: every write at full would be a whole switch)"
            }
            ConfigError::Geometry => "invalid region geometry",
            ConfigError::UnitsDiffer => "the regions' write or erase units differ",
            ConfigError::RegionTooSmall => "a region is no larger than its header area",
            ConfigError::RegionTooLarge => "a region is larger than 1 GiB (MAX_REGION_SIZE)",
            ConfigError::RecordTooLarge => "one largest record does not fit in capacity x max-fill",
        })
    }
}

impl core::error::Error for ConfigError {}

/// `capacity × ratio` in bytes, rounded down.
///
/// In 32-bit arithmetic: a 64-bit product and division would pull the
/// compiler's 64-bit division routine (about 0.9 KB) into every firmware.
/// With `capacity = q × 10 000 + r`, `capacity × ratio / 10 000` is exactly
/// `q × ratio + r × ratio / 10 000` (`r × ratio < 10 000 × 65 536` fits in
/// `u32`), and wrapping arithmetic keeps the result equal to the 64-bit
/// formula cut to `u32` for every input (tested over edge cases and a sweep).
pub const fn fill_limit(capacity: u32, ratio_bp: u16) -> u32 {
    let one = BP_ONE as u32;
    let ratio = ratio_bp as u32;
    let whole = (capacity / one).wrapping_mul(ratio);
    whole.wrapping_add(capacity % one * ratio / one)
}

/// `x × (1 − ratio) / ratio` in bytes, rounded up (`u32::MAX` if it does
/// not fit): the bytes written while a switch under way copies `x` live
/// bytes at its pace (FORMAT.md §7.4), `ratio` the max-fill, `1..=9999`
/// basis points. In 32-bit arithmetic, like [`fill_limit`].
pub(crate) const fn copy_headroom(x: u32, ratio_bp: u16) -> u32 {
    let one = BP_ONE as u32;
    let ratio = if ratio_bp == 0 {
        1
    } else if ratio_bp as u32 > one - 1 {
        one - 1
    } else {
        ratio_bp as u32
    };
    let rest = one - ratio;
    // x = q × ratio + r: x × rest / ratio = q × rest + r × rest / ratio.
    let (q, r) = (x / ratio, x % ratio);
    let part = (r * rest).div_ceil(ratio);
    match q.checked_mul(rest) {
        Some(whole) => whole.saturating_add(part),
        None => u32::MAX,
    }
}

/// The bytes of live records a switch under way copies after a write of
/// `add` bytes (FORMAT.md §7.4): `add / (1 − max-fill)`, rounded down, with
/// max-fill at most 9 999 basis points. In 32-bit divisions only, like
/// [`fill_limit`] (a 64-bit division pulls a large routine into a
/// Cortex-M image).
pub(crate) const fn copy_slice(add: u32, max_fill_bp: u16) -> u64 {
    let one = BP_ONE as u32;
    let fill = if max_fill_bp as u32 > one - 1 {
        one - 1
    } else {
        max_fill_bp as u32
    };
    let headroom = one - fill;
    (add / headroom) as u64 * one as u64 + (add % headroom * one / headroom) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_slice_equals_the_64_bit_formula() {
        for add in [0, 1, 2, 7, 99, 4095, 65_536, 429_497, 1 << 30, u32::MAX] {
            for fill in [0u16, 1, 5000, 8000, 9000, 9998, 9999, 10_000] {
                let headroom = u64::from(BP_ONE - fill.min(9999));
                let want = u64::from(add) * u64::from(BP_ONE) / headroom;
                assert_eq!(copy_slice(add, fill), want, "add {add} fill {fill}");
            }
        }
    }

    #[test]
    fn copy_headroom_equals_the_64_bit_formula() {
        for x in [
            0,
            1,
            2,
            7,
            112,
            1280,
            4095,
            65_536,
            429_497,
            1 << 30,
            u32::MAX,
        ] {
            for fill in [1u16, 2, 5000, 8000, 9000, 9998, 9999] {
                let (x64, f) = (u64::from(x), u64::from(fill));
                let want = (x64 * (u64::from(BP_ONE) - f)).div_ceil(f);
                let want = u32::try_from(want).unwrap_or(u32::MAX);
                assert_eq!(copy_headroom(x, fill), want, "x {x} fill {fill}");
            }
        }
    }

    /// The 64-bit formula `fill_limit` replaced.
    fn fill_limit_u64(capacity: u32, ratio_bp: u16) -> u32 {
        ((u64::from(capacity) * u64::from(ratio_bp)) / u64::from(BP_ONE)) as u32
    }

    #[test]
    fn fill_limit_equals_the_64_bit_formula() {
        let one = u32::from(BP_ONE);
        let plain = [0, 1, 2, 3, 4095, 4096, u32::MAX, u32::MAX - 1];
        // Around multiples of 10 000, up to the last one below u32::MAX.
        let near_multiples = [1, 2, 3, 429_495, 429_496]
            .into_iter()
            .flat_map(|k: u32| [k * one - 1, k * one, k * one + 1]);
        let near_powers = (0..32).flat_map(|s| [1u32 << s, (1u32 << s) - 1]);
        let capacities = plain.into_iter().chain(near_multiples).chain(near_powers);
        let ratios = [
            0,
            1,
            2,
            4000,
            9000,
            9999,
            BP_ONE,
            BP_ONE + 1,
            u16::MAX - 1,
            u16::MAX,
        ];
        for c in capacities {
            for &r in &ratios {
                assert_eq!(
                    fill_limit(c, r),
                    fill_limit_u64(c, r),
                    "capacity {c}, ratio {r}"
                );
            }
        }
        // A deterministic sweep (xorshift) over the whole input space.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (c, r) = (x as u32, (x >> 32) as u16);
            assert_eq!(
                fill_limit(c, r),
                fill_limit_u64(c, r),
                "capacity {c}, ratio {r}"
            );
        }
    }

    const G: Geometry = Geometry {
        size: 1024,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 256,
    };

    #[test]
    fn defaults_fit_a_4k_region_but_not_1k() {
        let c = Config::new(1);
        assert!(c.fits(Geometry { size: 4096, ..G }, Geometry { size: 4096, ..G }));
        assert!(
            !c.fits(G, G),
            "a 1 KiB value cannot fit 0.9 of a 1 KiB region"
        );
        assert!(c.with_limits(16, 64).fits(G, G));
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let ok = Config::new(1).with_limits(16, 64);
        for bad in [
            Config { store_id: 0, ..ok },
            Config {
                store_id: u64::MAX,
                ..ok
            },
            ok.with_ratios(0, 9000),
            ok.with_ratios(9500, 9000),
            ok.with_ratios(8000, 10_001),
            ok.with_ratios(10_000, 10_000),
            ok.with_ratios(8000, 10_000),
            ok.with_limits(0, 16),
        ] {
            assert!(!bad.fits(G, G), "{bad:?}");
        }
        assert!(
            !ok.fits(G, Geometry { write_unit: 8, ..G }),
            "write units must match"
        );
        assert!(
            !ok.fits(
                G,
                Geometry {
                    erase_unit: 512,
                    ..G
                }
            ),
            "erase units must match"
        );
        assert!(ok.fits(G, Geometry { size: 2048, ..G }), "sizes may differ");
    }

    #[test]
    fn each_refusal_names_its_reason() {
        let ok = Config::new(1).with_limits(16, 64);
        assert_eq!(ok.check_fit(G, G), Ok(()));
        assert_eq!(ok.validate(), Ok(ok));
        let cases = [
            (Config { store_id: 0, ..ok }, G, G, ConfigError::StoreId),
            (
                Config {
                    max_key_len: 0,
                    ..ok
                },
                G,
                G,
                ConfigError::KeyLimit,
            ),
            (ok.with_ratios(0, 9000), G, G, ConfigError::HighWater),
            (ok.with_ratios(9500, 9000), G, G, ConfigError::HighWater),
            (ok.with_ratios(8000, 10001), G, G, ConfigError::MaxFill),
            (
                ok.with_ratios(10_000, 10_000),
                G,
                G,
                ConfigError::NoHeadroom,
            ),
            (ok.with_ratios(1, 10_000), G, G, ConfigError::NoHeadroom),
            (
                ok,
                Geometry { write_unit: 3, ..G },
                G,
                ConfigError::Geometry,
            ),
            (
                ok,
                Geometry {
                    erase_unit: 512,
                    ..G
                },
                G,
                ConfigError::UnitsDiffer,
            ),
            (
                ok,
                Geometry {
                    size: 64,
                    erase_unit: 64,
                    ..G
                },
                Geometry {
                    size: 64,
                    erase_unit: 64,
                    ..G
                },
                ConfigError::RegionTooSmall,
            ),
            (ok.with_limits(16, 2000), G, G, ConfigError::RecordTooLarge),
            (
                ok,
                G,
                Geometry {
                    size: crate::MAX_REGION_SIZE + 4096,
                    ..G
                },
                ConfigError::RegionTooLarge,
            ),
        ];
        for (c, a, b, want) in cases {
            assert_eq!(c.check_fit(a, b), Err(want), "{c:?} {a:?}");
            assert!(!c.fits(a, b));
        }
        assert_eq!(
            ok.with_ratios(9500, 9000).validate(),
            Err(ConfigError::HighWater)
        );
        // 1 GiB is the largest region: index offsets keep a record's
        // offset in 30 bits.
        let largest = Geometry {
            size: crate::MAX_REGION_SIZE,
            ..G
        };
        assert!(largest.is_valid());
        assert!(ok.fits(largest, largest));
        assert!(!Geometry {
            size: crate::MAX_REGION_SIZE + 4096,
            ..G
        }
        .is_valid());
    }
}
