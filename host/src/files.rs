//! The file pair `<path>.a` / `<path>.b`: finding, locking, checking and
//! creating the region files before core sees them.
//!
//! Everything here that can refuse a store does so from reads alone; files are
//! written only to create a missing or empty region file (filled with real
//! `0xFF` bytes, never sparse) or to finish an interrupted resize.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use twinkv_core::format::header::HeaderError;
use twinkv_core::format::{Layout, Marker, MarkerState, RegionHeader, Seal, HEADER_LEN};
use twinkv_core::Config;

use crate::error::{Error, Result};
use crate::lock::{try_lock, LockError};
use crate::mmap::{ERASE_UNIT, WRITE_UNIT};
use crate::options::Options;

/// Bytes written per call when filling a file with `0xFF`.
const FILL_CHUNK: usize = 64 * 1024;

/// The two file names of the store at `base`: `base` with `.a` and `.b`
/// appended (`/data/settings` → `/data/settings.a`, `/data/settings.b`).
pub fn region_paths(base: &Path) -> (PathBuf, PathBuf) {
    let with = |suffix: &str| {
        let mut s: OsString = base.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    (with(".a"), with(".b"))
}

/// A region file, opened and locked by this process.
pub(crate) struct RegionFile {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
}

impl RegionFile {
    pub(crate) fn len(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// What the first bytes of a region file say.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peek {
    pub(crate) len: u64,
    pub(crate) header: std::result::Result<RegionHeader, HeaderError>,
    pub(crate) commit: MarkerState,
    pub(crate) superseded: MarkerState,
}

impl Peek {
    fn committed(&self) -> bool {
        matches!(self.commit, MarkerState::Valid(_))
    }
}

/// Reads a region file's header and marker slots.
pub(crate) fn peek(path: &Path, file: &File) -> Result<Peek> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let layout = Layout::new(WRITE_UNIT);
    let mut head = [0xFFu8; 128];
    let n = (len.min(layout.data_start() as u64)) as usize;
    read_at(file, &mut head[..n], 0).map_err(|e| Error::io(path, e))?;
    let mut hb = [0u8; HEADER_LEN];
    hb.copy_from_slice(&head[..HEADER_LEN]);
    let header = if n < HEADER_LEN && !hb.iter().all(|&b| b == 0xFF) {
        Err(HeaderError::Invalid)
    } else {
        RegionHeader::decode(&hb)
    };
    let (mut commit, mut superseded) = (MarkerState::Erased, MarkerState::Erased);
    if let Ok(h) = header {
        if h.write_unit as u32 == WRITE_UNIT {
            let seal = Seal {
                store_id: h.store_id,
                generation: h.generation,
            };
            let slot = |m: Marker| {
                let at = layout.slot(m) as usize;
                &head[at..at + layout.marker_slot as usize]
            };
            commit = Marker::Commit.read(seal, slot(Marker::Commit));
            superseded = Marker::Superseded.read(seal, slot(Marker::Superseded));
        }
    }
    Ok(Peek {
        len,
        header,
        commit,
        superseded,
    })
}

fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, at)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(buf)
    }
}

fn write_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(buf, at)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(at))?;
        f.write_all(buf)
    }
}

/// Whether the whole file reads `0xFF`.
pub(crate) fn all_erased(path: &Path, file: &File) -> Result<bool> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut buf = vec![0u8; FILL_CHUNK];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(FILL_CHUNK as u64) as usize;
        read_at(file, &mut buf[..n], at).map_err(|e| Error::io(path, e))?;
        if buf[..n].iter().any(|&b| b != 0xFF) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Writes `0xFF` over `from..to` of `file` (extending it if needed) and makes
/// it durable.
pub(crate) fn fill_erased(path: &Path, file: &File, from: u64, to: u64) -> Result<()> {
    let ones = vec![0xFFu8; FILL_CHUNK];
    let mut at = from;
    while at < to {
        let n = (to - at).min(FILL_CHUNK as u64) as usize;
        write_at(file, &ones[..n], at).map_err(|e| Error::io(path, e))?;
        at += n as u64;
    }
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Shortens `file` to `len` bytes, durably.
pub(crate) fn truncate(path: &Path, file: &File, len: u64) -> Result<()> {
    file.set_len(len).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Creates `path` holding `size` bytes of `0xFF`: a temp file in the same
/// directory, written, fsynced, renamed into place without replacing a file
/// that appeared meanwhile (`AlreadyExists`), then the directory fsynced.
pub(crate) fn create_region_file(path: &Path, size: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".twinkv-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let ones = vec![0xFFu8; FILL_CHUNK];
    let mut left = size as usize;
    while left > 0 {
        let n = left.min(FILL_CHUNK);
        tmp.write_all(&ones[..n])?;
        left -= n;
    }
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes a directory's entries durable (a no-op where directories cannot be
/// opened as files).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn open_existing(path: &Path, write: bool) -> Result<Option<File>> {
    match OpenOptions::new().read(true).write(write).open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn lock(path: &Path, file: &File, exclusive: bool) -> Result<()> {
    match try_lock(file, exclusive) {
        Ok(()) => Ok(()),
        Err(LockError::Busy) => Err(Error::Locked(path.to_path_buf())),
        Err(LockError::Io(e)) => Err(Error::io(path, e)),
    }
}

/// The locked files of a store, and the configuration to open it with.
pub(crate) struct Opened {
    pub(crate) a: Option<RegionFile>,
    pub(crate) b: Option<RegionFile>,
    pub(crate) config: Config,
    /// A file whose header is not valid, left for core to judge.
    pub(crate) suspect: Option<PathBuf>,
}

enum Attempt {
    Done(Opened),
    /// Another process created a file while we did: look again.
    Raced,
}

/// Opens (and, when writing, creates or completes) the pair at `base`.
///
/// Writing: both files exist and are locked on return. Read-only: a file is
/// `None` when it is missing or empty and its partner is a complete region on
/// its own (the caller uses an erased in-memory region in its place).
pub(crate) fn open_pair(base: &Path, opts: &Options, write: bool) -> Result<Opened> {
    for _ in 0..8 {
        if let Attempt::Done(o) = attempt(base, opts, write)? {
            return Ok(o);
        }
    }
    Err(Error::Locked(base.to_path_buf()))
}

fn attempt(base: &Path, opts: &Options, write: bool) -> Result<Attempt> {
    let (pa, pb) = region_paths(base);
    let fa = open_existing(&pa, write)?;
    if let Some(f) = &fa {
        lock(&pa, f, write)?;
    }
    let fb = open_existing(&pb, write)?;
    if let Some(f) = &fb {
        lock(&pb, f, write)?;
    }
    let mk = |path: &PathBuf, f: Option<File>| {
        f.map(|file| RegionFile {
            path: path.clone(),
            file,
        })
    };
    let (ra, rb) = (mk(&pa, fa), mk(&pb, fb));
    let len = |r: &Option<RegionFile>| -> Result<u64> {
        match r {
            Some(r) => r.len(),
            None => Ok(0),
        }
    };
    let (la, lb) = (len(&ra)?, len(&rb)?);
    match (la > 0, lb > 0) {
        (false, false) => {
            if !write || (!opts.create && ra.is_none() && rb.is_none()) {
                return Err(Error::NotFound(base.to_path_buf()));
            }
            let (config, size) = opts.fresh_config(new_store_id()?)?;
            let Some(a) = complete(ra, &pa, size)? else {
                return Ok(Attempt::Raced);
            };
            let Some(b) = complete(rb, &pb, size)? else {
                return Ok(Attempt::Raced);
            };
            Ok(Attempt::Done(Opened {
                a: Some(a),
                b: Some(b),
                config,
                suspect: None,
            }))
        }
        (true, false) | (false, true) => {
            let a_present = la > 0;
            let (present, missing, missing_path) = if a_present {
                (ra, rb, &pb)
            } else {
                (rb, ra, &pa)
            };
            let present = present.ok_or_else(|| Error::NotFound(base.to_path_buf()))?;
            let p = peek(&present.path, &present.file)?;
            let size = region_len(&present.path, p.len)?;
            let config = match p.header {
                Err(HeaderError::Erased) if all_erased(&present.path, &present.file)? => {
                    // An empty region alone: nothing to lose, a new store.
                    let (c, _) = opts
                        .clone()
                        .region_size(size)
                        .fresh_config(new_store_id()?)?;
                    c
                }
                Ok(h) => {
                    check_geometry(&present.path, &h)?;
                    if !p.committed() || p.superseded.is_set() {
                        return Err(Error::NewerRegionMissing {
                            missing: missing_path.clone(),
                            present: present.path.clone(),
                        });
                    }
                    if u64::from(h.region_size) != p.len {
                        return Err(length_mismatch(&present.path, &h, p.len));
                    }
                    opts.adopt(&h, (size, size))?
                }
                Err(e) => return Err(header_error(&present.path, e)),
            };
            let missing = if write {
                match complete(missing, missing_path, size)? {
                    Some(m) => Some(m),
                    None => return Ok(Attempt::Raced),
                }
            } else {
                None
            };
            let (a, b) = if a_present {
                (Some(present), missing)
            } else {
                (missing, Some(present))
            };
            Ok(Attempt::Done(Opened {
                a,
                b,
                config,
                suspect: None,
            }))
        }
        (true, true) => {
            let (Some(a), Some(b)) = (ra, rb) else {
                return Err(Error::NotFound(base.to_path_buf()));
            };
            let (config, suspect) = check_both(&a, &b, opts, write)?;
            Ok(Attempt::Done(Opened {
                a: Some(a),
                b: Some(b),
                config,
                suspect,
            }))
        }
    }
}

/// Makes `r` (absent or empty) a region file of `size` erased bytes, locked.
/// `None` when another process created it first.
fn complete(r: Option<RegionFile>, path: &Path, size: u32) -> Result<Option<RegionFile>> {
    if let Some(r) = r {
        fill_erased(&r.path, &r.file, 0, u64::from(size))?;
        return Ok(Some(r));
    }
    match create_region_file(path, size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    lock(path, &file, true)?;
    Ok(Some(RegionFile {
        path: path.to_path_buf(),
        file,
    }))
}

pub(crate) fn new_store_id() -> Result<u64> {
    loop {
        let id = getrandom::u64().map_err(|e| Error::Io {
            path: None,
            source: io::Error::other(format!("no random store id: {e}")),
        })?;
        if id != 0 && id != u64::MAX {
            return Ok(id);
        }
    }
}

/// A usable region length (a non-zero multiple of 512 below 4 GiB).
fn region_len(path: &Path, len: u64) -> Result<u32> {
    u32::try_from(len)
        .ok()
        .filter(|&s| s > 0 && s % ERASE_UNIT == 0)
        .ok_or_else(|| {
            Error::not_region(
                path,
                format!("length {len} is not a non-zero multiple of {ERASE_UNIT} below 4 GiB"),
            )
        })
}

fn check_geometry(path: &Path, h: &RegionHeader) -> Result<()> {
    if u32::from(h.write_unit) != WRITE_UNIT || h.erase_unit != ERASE_UNIT {
        return Err(Error::not_region(
            path,
            format!(
                "region of write unit {} and erase unit {}, not a memory-mapped store's {WRITE_UNIT}/{ERASE_UNIT} \
                 (a device image? read it with `twinkv inspect`)",
                h.write_unit, h.erase_unit
            ),
        ));
    }
    Ok(())
}

fn header_error(path: &Path, e: HeaderError) -> Error {
    match e {
        HeaderError::Erased => Error::not_region(
            path,
            "header is erased but the file is not: not a twinkv region",
        ),
        HeaderError::Invalid => Error::not_region(path, "not a twinkv region file"),
        HeaderError::UnsupportedVersion(v) => Error::not_region(
            path,
            format!("twinkv format version {v}, which this build does not read"),
        ),
    }
}

fn length_mismatch(path: &Path, h: &RegionHeader, len: u64) -> Error {
    Error::not_region(
        path,
        format!(
            "truncated or extended: its header records {} bytes, the file has {len}",
            h.region_size
        ),
    )
}

/// Checks two present files; returns the configuration. May complete an
/// interrupted grow of the inactive file (its length not a multiple of 512).
fn check_both(
    a: &RegionFile,
    b: &RegionFile,
    opts: &Options,
    write: bool,
) -> Result<(Config, Option<PathBuf>)> {
    let mut pa = peek(&a.path, &a.file)?;
    let mut pb = peek(&b.path, &b.file)?;
    let mut suspect = None;
    for (r, p, other) in [(a, &pa, &pb), (b, &pb, &pa)] {
        match p.header {
            Ok(h) => check_geometry(&r.path, &h)?,
            Err(HeaderError::Erased) => {}
            // A torn header from an interrupted switch: core decides from the
            // partner's markers whether it is ours to erase.
            Err(HeaderError::Invalid) if other.header.is_ok() => {
                suspect = Some(r.path.clone());
            }
            Err(e) => return Err(header_error(&r.path, e)),
        }
    }
    if let (Ok(ha), Ok(hb)) = (pa.header, pb.header) {
        if ha.store_id != hb.store_id {
            return Err(Error::not_region(
                &b.path,
                format!(
                    "belongs to another store (store id {:016x}; {} has {:016x})",
                    hb.store_id,
                    a.path.display(),
                    ha.store_id
                ),
            ));
        }
    }
    // A partial grow leaves the growing (inactive) file at any length.
    for first in [true, false] {
        let (r, p, other) = if first {
            (a, &mut pa, &pb)
        } else {
            (b, &mut pb, &pa)
        };
        if p.len % u64::from(ERASE_UNIT) == 0 {
            continue;
        }
        let growing = other.committed()
            && !other.superseded.is_set()
            && match p.header {
                Ok(h) => {
                    u64::from(h.region_size) < p.len && (!p.committed() || p.superseded.is_set())
                }
                Err(_) => all_erased(&r.path, &r.file)?,
            };
        if !(write && growing) {
            region_len(&r.path, p.len)?;
        }
        let to = p.len.div_ceil(u64::from(ERASE_UNIT)) * u64::from(ERASE_UNIT);
        fill_erased(&r.path, &r.file, p.len, to)?;
        p.len = to;
    }
    let (sa, sb) = (region_len(&a.path, pa.len)?, region_len(&b.path, pb.len)?);
    // The newest committed header decides the options.
    let best = [(a, &pa), (b, &pb)]
        .into_iter()
        .filter_map(|(r, p)| p.header.ok().map(|h| (r, p, h)))
        .max_by_key(|(_, p, h)| (p.committed() && !p.superseded.is_set(), h.generation));
    match best {
        Some((r, p, h)) => {
            if p.committed() && !p.superseded.is_set() && u64::from(h.region_size) != p.len {
                return Err(length_mismatch(&r.path, &h, p.len));
            }
            Ok((opts.adopt(&h, (sa, sb))?, suspect))
        }
        None => {
            // Both headers erased: core formats them if they read erased
            // throughout, and refuses them otherwise.
            if let Some(size) = opts.region_size {
                if size != sa || size != sb {
                    return Err(Error::OptionsConflict {
                        option: "region size",
                        recorded: u64::from(sa),
                        requested: u64::from(size),
                    });
                }
            }
            let (c, _) = opts
                .clone()
                .region_size(sa.min(sb))
                .fresh_config(new_store_id()?)?;
            Ok((c, suspect))
        }
    }
}

/// Shared locks on whichever of the two files exist (for reading them whole).
pub(crate) fn lock_shared(base: &Path) -> Result<Vec<File>> {
    let (pa, pb) = region_paths(base);
    let mut locked = Vec::new();
    for p in [&pa, &pb] {
        if let Some(f) = open_existing(p, false)? {
            lock(p, &f, false)?;
            locked.push(f);
        }
    }
    if locked.is_empty() {
        return Err(Error::NotFound(base.to_path_buf()));
    }
    Ok(locked)
}
