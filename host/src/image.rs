//! Device images: an A‖B pair of regions of a device's geometry, written by
//! core's own [`Store`](twinkv_core::Store) (the same format code firmware
//! runs), ready to be flashed; and their read-back ([`inspect::verify_image`]
//! reads an image, its verdict and its live entries).
//!
//! [`inspect::verify_image`]: crate::inspect::verify_image

use std::collections::BTreeMap;
use std::io;

use twinkv_core::format::record::stored_len;
use twinkv_core::format::Layout;
use twinkv_core::{fill_limit, Config, Geometry, RamError, RamRegion, Region, Stats};

use crate::error::{Error, Result};
use crate::VecIndex;

/// The shape of a device image: two regions of `region_size` bytes, back to
/// back, on a flash with write unit `write_unit` and erase unit `erase_unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageGeometry {
    /// The device's write unit in bytes (1, 2, 4, 8, 16 or 32).
    pub write_unit: u32,
    /// The device's erase unit in bytes (a power of two from the write unit
    /// to 1 MiB).
    pub erase_unit: u32,
    /// One region's size in bytes (a multiple of the erase unit).
    pub region_size: u32,
}

impl ImageGeometry {
    /// The geometry of one region (read unit 1: the header records it, for
    /// information only).
    pub fn region(&self) -> Geometry {
        Geometry {
            size: self.region_size,
            read_unit: 1,
            write_unit: self.write_unit,
            erase_unit: self.erase_unit,
        }
    }

    /// Live bytes the entries take once written (FORMAT.md §4.6: the sum of
    /// their aligned record lengths), or `None` if a record is too large for
    /// any store.
    pub fn live_bytes<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Option<u64> {
        entries.into_iter().try_fold(0u64, |sum, (k, v)| {
            let len = stored_len(
                u32::try_from(k.len()).ok()?,
                u32::try_from(v.len()).ok()?,
                self.write_unit,
            )?;
            Some(sum + u64::from(len))
        })
    }

    /// Live data a region of this geometry holds with `config`: capacity ×
    /// max-fill (FORMAT.md §1).
    pub fn fill_limit(&self, config: &Config) -> u32 {
        let d = Layout::new(self.write_unit).data_start();
        fill_limit(self.region_size.saturating_sub(d), config.max_fill_bp)
    }
}

/// Builds a device image holding `entries` (a key given twice keeps its last
/// value): both regions start erased (`0xFF`), core's [`Store`](twinkv_core::Store)
/// opens them with `config` (which firmware must open the image with too:
/// the same store id, limits and ratios, unless it adopts the store id),
/// formats region A and writes the entries in key order, so the same input
/// gives the same bytes. Returns region A followed by region B, and the
/// store's statistics.
///
/// The regions enforce NOR flash rules (programs only on erased bytes, in
/// write units, each unit at most once between erases), and persist in
/// order, like the device.
///
/// # Errors
/// [`Error::InvalidOptions`] if the geometry is invalid or `config` does not
/// fit it; [`Error::DoesNotFit`] if the entries need more live bytes than
/// [`ImageGeometry::fill_limit`]; [`Error::Core`] for an entry core refuses
/// (empty key, key or value longer than the limits).
pub fn create_image(
    geometry: ImageGeometry,
    config: Config,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> Result<(Vec<u8>, Stats)> {
    let geo = geometry.region();
    if !geo.is_valid() {
        return Err(Error::InvalidOptions(format!(
            "write unit {} (one of 1, 2, 4, 8, 16, 32), erase unit {} (a power of two \
             from the write unit to 1 MiB) and region size {} (a multiple of the erase \
             unit) do not make a valid geometry",
            geometry.write_unit, geometry.erase_unit, geometry.region_size
        )));
    }
    config
        .check_fit(geo, geo)
        .map_err(|e| Error::InvalidOptions(format!("the store options do not fit: {e}")))?;
    let map: BTreeMap<&[u8], &[u8]> = entries
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let live = geometry
        .live_bytes(map.iter().map(|(k, v)| (*k, *v)))
        .unwrap_or(u64::MAX);
    let limit = geometry.fill_limit(&config);
    if live > u64::from(limit) {
        return Err(Error::DoesNotFit {
            live,
            limit: u64::from(limit),
        });
    }
    let region = || {
        let len = RamRegion::<Vec<u8>>::storage_len_for(&geo);
        RamRegion::new(vec![0u8; len], geo).map(Nor).map_err(ram_io)
    };
    let scratch =
        vec![
            0u8;
            twinkv_core::Store::<Nor, VecIndex, Vec<u8>>::scratch_len(&config, geo.write_unit)
        ];
    // No erase ahead: region B of a new image is erased already, and the
    // image should hold the entries only (the device erases B ahead itself).
    let config = config.with_erase_ahead(false);
    let mut store =
        twinkv_core::Store::open(region()?, region()?, VecIndex::new(), scratch, config)?;
    for (k, v) in &map {
        store.set(k, v)?;
    }
    let stats = store.stats();
    let (a, b, _, _) = store.into_parts();
    let size = geometry.region_size as usize;
    let mut image = a.0.into_inner();
    image.truncate(size);
    image.extend_from_slice(&b.0.into_inner()[..size]);
    Ok((image, stats))
}

/// Core's [`RamRegion`] (NOR rules, in order) with the host's error type.
struct Nor(RamRegion<Vec<u8>>);

fn ram_io(e: RamError) -> Error {
    Error::Io {
        path: None,
        source: io::Error::other(e.to_string()),
    }
}

fn io_err(e: RamError) -> io::Error {
    io::Error::other(e.to_string())
}

impl Region for Nor {
    type Error = io::Error;
    fn geometry(&self) -> Geometry {
        self.0.geometry()
    }
    fn persists_in_order(&self) -> bool {
        true
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> io::Result<()> {
        self.0.read(offset, buf).map_err(io_err)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> io::Result<()> {
        self.0.program(offset, data).map_err(io_err)
    }
    fn erase(&mut self, from: u32, to: u32) -> io::Result<()> {
        self.0.erase(from, to).map_err(io_err)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync().map_err(io_err)
    }
    fn is_erased(&mut self, from: u32, to: u32) -> io::Result<bool> {
        self.0.is_erased(from, to).map_err(io_err)
    }
}
