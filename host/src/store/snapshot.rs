//! Snapshots: [`Store::open_snapshot`] reads both files of a store another
//! process may be writing, with plain reads and no lock, until their header
//! areas read the same before and after, and opens core on the copies.
//! [`Store::open_salvage`] reads them the same way and opens core's salvage
//! on the copies.

use std::path::Path;

use twinkv_core::Config;

use super::{open_core, CoreOpen, Growth, Mode, Store};
use crate::error::{Error, Result};
use crate::files::{self, region_paths};
use crate::options::recorded_config;
use crate::options::Durability;
use crate::region::{usable_len, AnyRegion, MemRegion, MmapRegion, ERASE_UNIT};

impl Store {
    /// Opens a consistent in-memory copy of the store without taking any
    /// lock, for looking at a store another process is writing. Both files
    /// are read with plain reads, again and again until the header area of
    /// both reads the same before and after. Read-only.
    pub fn open_snapshot(path: impl AsRef<Path>) -> Result<Store> {
        let base = path.as_ref().to_path_buf();
        let (a, b) = read_snapshot(&base)?;
        let (ra, rb) = snapshot_regions(&base, a, b)?;
        let config = snapshot_config(&base, &ra, &rb)?;
        let inner =
            open_core(ra, rb, config, CoreOpen::ReadOnly, None).map_err(|e| e.at_open(&base))?;
        Ok(Store::on_copies(base, config, inner, Mode::Snapshot))
    }

    /// Opens what can still be read of a store that [`Store::open`] refuses
    /// because its newest state is damaged ([`Error::Core`] with core's
    /// `Corrupted` or `Unrecognised`, or a region file of a length no region
    /// has), read-only, for saving its data elsewhere (`twinkv export
    /// --salvage`). It presents the best state that can still be read
    /// (core's `Store::open_salvage`: the newer region read with the store
    /// id and generation its commit proves, else the older committed
    /// region) and sets [`Stats::salvaged`](twinkv_core::Stats::salvaged)
    /// when it had to: that state **may be older than the last acknowledged
    /// write**. A region file of a length no region has (not a non-zero
    /// multiple of 512 bytes of at most 1 GiB) is read as if it were missing
    /// (erased), when its partner is readable; `salvaged` is then set too (it may have held the newer
    /// state). On a store that opens normally it is
    /// [`Store::open_snapshot`]. Like a snapshot it reads both files with
    /// plain reads, takes no lock and never writes to them.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let base = dir.path().join("settings");
    /// use twinkv_host::{Options, Store};
    ///
    /// let mut store = Store::open(&base, Options::new())?;
    /// store.set("volume", "7")?;
    /// store.close()?;
    /// // The partner file cut short (damage, not a crash): open refuses.
    /// let (_, b) = twinkv_host::region_paths(&base);
    /// std::fs::OpenOptions::new().write(true).open(&b)?.set_len(100)?;
    /// assert!(Store::open(&base, Options::new()).is_err());
    /// let saved = Store::open_salvage(&base)?;
    /// assert_eq!(saved.get("volume")?, Some(&b"7"[..]));
    /// assert!(saved.stats()?.salvaged); // B may have held a newer state
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_salvage(path: impl AsRef<Path>) -> Result<Store> {
        let base = path.as_ref().to_path_buf();
        let (a, b) = read_snapshot(&base)?;
        // A file no region can be: read as missing, if its partner can be.
        let whole = |v: &Option<Vec<u8>>| {
            v.as_ref()
                .is_some_and(|v| usable_len(v.len() as u64).is_some())
        };
        let (a, b, dropped) = match (whole(&a), whole(&b)) {
            (true, false) => (a, None, b.is_some()),
            (false, true) => (None, b, a.is_some()),
            _ => (a, b, false),
        };
        let (ra, rb) = snapshot_regions(&base, a, b)?;
        let config = snapshot_config(&base, &ra, &rb)?;
        let inner =
            open_core(ra, rb, config, CoreOpen::Salvage, None).map_err(|e| e.at_open(&base))?;
        Ok(Store::on_copies(
            base,
            config,
            inner,
            Mode::Salvage { dropped },
        ))
    }

    /// A read-only store on in-memory copies of its files.
    fn on_copies(
        base: std::path::PathBuf,
        config: Config,
        inner: super::Inner,
        mode: Mode,
    ) -> Store {
        Store {
            inner: Some(inner),
            base,
            a: None,
            b: None,
            config,
            durability: Durability::Default,
            grow: Growth::off(),
            mode,
            suspect: None,
            sync_on_close: false,
            unsynced: false,
            created: false,
            compact_on_close: None,
            checkpoints: super::Checkpoints::new(false),
        }
    }
}

/// Header area bytes compared before and after a snapshot read.
const HEAD: usize = 128;

/// The bytes of files A and B (`None`: missing or empty).
pub(crate) type FilePair = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Reads both files while another process may write them: retried until the
/// header areas of both read the same before and after.
pub(crate) fn read_snapshot(base: &Path) -> Result<FilePair> {
    let (pa, pb) = region_paths(base);
    // Both through the file checks: a FIFO or device is refused, never read.
    let read = |p: &Path| files::read_region_file(p);
    let head = |p: &Path| files::read_region_head(p, HEAD as u64);
    let prefix = |v: &Option<Vec<u8>>| -> Vec<u8> {
        v.as_deref()
            .map_or(Vec::new(), |v| v[..v.len().min(HEAD)].to_vec())
    };
    for attempt in 0..200u32 {
        let (ha, hb) = (head(&pa)?, head(&pb)?);
        let (a, b) = (read(&pa)?, read(&pb)?);
        let (ha2, hb2) = (head(&pa)?, head(&pb)?);
        if ha == ha2 && hb == hb2 && prefix(&a) == ha && prefix(&b) == hb {
            if a.is_none() && b.is_none() {
                return Err(Error::NotFound(base.to_path_buf()));
            }
            return Ok((a, b));
        }
        std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20))));
    }
    Err(Error::Io {
        path: Some(base.to_path_buf()),
        source: std::io::Error::other("the store kept changing while it was read; try again"),
    })
}

fn snapshot_regions(
    base: &Path,
    a: Option<Vec<u8>>,
    b: Option<Vec<u8>>,
) -> Result<(AnyRegion, AnyRegion)> {
    let (pa, pb) = region_paths(base);
    let size_of = |v: &Option<Vec<u8>>| v.as_ref().map(|v| v.len());
    let partner = size_of(&a).or(size_of(&b)).unwrap_or(0);
    let mk = |v: Option<Vec<u8>>, p: &Path| -> Result<AnyRegion> {
        let v = v.unwrap_or_else(|| vec![0xFF; partner]);
        let size = usable_len(v.len() as u64).ok_or_else(|| {
            Error::not_region(
                p,
                format!(
                    "length {} is not a non-zero multiple of {ERASE_UNIT} of at most 1 GiB",
                    v.len()
                ),
            )
        })?;
        let r = MemRegion::new(v, MmapRegion::geometry_for(size), false)
            .map_err(|e| Error::not_region(p, e.to_string()))?;
        Ok(AnyRegion::Mem(r))
    };
    Ok((mk(a, &pa)?, mk(b, &pb)?))
}

fn snapshot_config(base: &Path, a: &AnyRegion, b: &AnyRegion) -> Result<Config> {
    use twinkv_core::format::{RegionHeader, HEADER_LEN};
    use twinkv_core::MappedRegion;
    let mut best: Option<RegionHeader> = None;
    for r in [a, b] {
        let mut hb = [0u8; HEADER_LEN];
        hb.copy_from_slice(&r.as_bytes()[..HEADER_LEN]);
        if let Ok(h) = RegionHeader::decode(&hb) {
            if best.is_none_or(|b| h.generation > b.generation) {
                best = Some(h);
            }
        }
    }
    let h =
        best.ok_or_else(|| Error::not_region(base, "no twinkv region header in either file"))?;
    Ok(recorded_config(&h).adopting_store_id())
}
