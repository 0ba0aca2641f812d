//! Store configuration, checked when the store is built.

use crate::format::record::{stored_len, SYSTEM_VALUE_MAX};
use crate::format::Layout;
use crate::Geometry;

/// Basis points in 1.0.
pub const BP_ONE: u16 = 10_000;

/// What a store is built with. `const fn` builders let a firmware check its
/// configuration at compile time:
///
/// ```
/// use twinkv_core::Config;
/// const CONFIG: Config = match Config::new(0x5EED).with_limits(32, 256) {
///     c => c,
/// };
/// assert_eq!(CONFIG.max_value_len, 256);
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
    /// High-water ratio in basis points (1..=10000). Default 8000 (0.8).
    pub high_water_bp: u16,
    /// Max-fill ratio in basis points (high-water..=10000). Default 9000 (0.9).
    pub max_fill_bp: u16,
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
        }
    }
    /// Sets the key and value limits.
    pub const fn with_limits(mut self, max_key_len: u16, max_value_len: u32) -> Self {
        self.max_key_len = max_key_len;
        self.max_value_len = max_value_len;
        self
    }
    /// Sets the ratios, in basis points.
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
        self.store_id != 0
            && self.store_id != u64::MAX
            && self.max_key_len >= 1
            && self.high_water_bp >= 1
            && self.high_water_bp <= self.max_fill_bp
            && self.max_fill_bp <= BP_ONE
    }

    /// Stored length of the largest record this configuration allows at
    /// write unit `w`.
    pub const fn max_record_len(&self, w: u32) -> Option<u32> {
        let v = if self.max_value_len > SYSTEM_VALUE_MAX {
            self.max_value_len
        } else {
            SYSTEM_VALUE_MAX
        };
        stored_len(self.max_key_len as u32, v, w)
    }

    /// Checks the configuration against both regions' geometries: valid
    /// geometry, matching write and erase units, room for the header area and
    /// for one largest record within capacity × max-fill.
    pub const fn fits(&self, a: Geometry, b: Geometry) -> bool {
        if !self.is_valid() || !a.is_valid() || !b.is_valid() {
            return false;
        }
        if a.write_unit != b.write_unit || a.erase_unit != b.erase_unit {
            return false;
        }
        let layout = Layout::new(a.write_unit);
        let d = layout.data_start();
        let min_size = if a.size < b.size { a.size } else { b.size };
        if min_size <= d {
            return false;
        }
        let limit = fill_limit(min_size - d, self.max_fill_bp);
        match self.max_record_len(a.write_unit) {
            Some(r) => r <= limit,
            None => false,
        }
    }
}

/// `capacity × ratio` in bytes, rounded down.
pub const fn fill_limit(capacity: u32, ratio_bp: u16) -> u32 {
    ((capacity as u64 * ratio_bp as u64) / BP_ONE as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
