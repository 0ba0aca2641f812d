//! The file pair `<path>.a` / `<path>.b`: finding, locking, checking and
//! creating the region files before core sees them.
//!
//! Everything here that can refuse a store does so from reads alone, before
//! any byte is written; files are written only to create a missing or empty
//! region file (filled with real `0xFF` bytes, never sparse) when creating is
//! allowed. An interrupted resize is settled by the store after core opened
//! it (`Store::converge`), never here.
//!
//! Whatever sits at `<path>.a` / `<path>.b` is looked at with `stat` (through
//! symbolic links) before it is opened: only regular files are opened at all,
//! and with `O_NONBLOCK`, so a FIFO, a device, a socket or a directory is
//! refused without reading or writing a byte and without blocking.
//!
//! Three rooms: this file is the policy (which pair to open, create, refuse
//! or leave for core to judge), `sys.rs` the system calls, `peek.rs` what a
//! file's header area says; `lock.rs` the advisory locks.

mod lock;
mod peek;
mod sys;

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use twinkv_core::format::header::HeaderError;
use twinkv_core::format::RegionHeader;
use twinkv_core::Config;

use crate::error::{Error, Result};
use crate::options::Options;
use crate::region::{ERASE_UNIT, WRITE_UNIT};
use peek::{peek, Peek};
use sys::{all_erased, create_region_file, erased_from, lock, open_existing, sync_dir};
pub(crate) use sys::{
    extend_erased, fill_erased, lock_shared, read_all, read_region_file, read_region_head, truncate,
};

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

/// The index checkpoint file of the store at `base` (FORMAT.md §11):
/// `base` with `.ckpt` appended (`/data/settings` → `/data/settings.ckpt`).
/// Written when a store is closed, read when it is opened; it only saves an
/// open work, and deleting it loses nothing.
pub fn checkpoint_path(base: &Path) -> PathBuf {
    let mut s: OsString = base.as_os_str().to_owned();
    s.push(".ckpt");
    PathBuf::from(s)
}

/// The largest checkpoint file an open reads: 76 + 8 bytes per key of an
/// index at 7/8 load of a 1 GiB region's smallest records, rounded up.
/// Anything larger is not one of ours and is left unread.
const MAX_CHECKPOINT_LEN: u64 = 1 << 30;

/// The bytes of the checkpoint file at `base`, if it is a regular file
/// (behind symbolic links) of a plausible length that reads in full;
/// `None` otherwise (absent, a FIFO or device, unreadable). Only ever a
/// hint to core, which checks it (FORMAT.md §11).
pub(crate) fn read_checkpoint(base: &Path) -> Option<Vec<u8>> {
    let path = checkpoint_path(base);
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CHECKPOINT_LEN {
        return None;
    }
    std::fs::read(&path).ok()
}

/// Replaces the checkpoint file at `base` with `bytes`, without a sync
/// (a checkpoint torn or lost in a crash fails its checks and costs one
/// full replay). Best effort: nothing is written where the path holds
/// anything but a regular file, and errors are ignored.
pub(crate) fn write_checkpoint(base: &Path, bytes: &[u8]) {
    let path = checkpoint_path(base);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => return,
        _ => {}
    }
    let _ = std::fs::write(&path, bytes);
}

/// A region file, opened and locked by this process.
pub(crate) struct RegionFile {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    /// How much of it to map: its length, except for the inactive file of an
    /// interrupted grow, whose partly filled tail is mapped only up to the
    /// last whole erase unit (the store settles its length after opening).
    pub(crate) map_len: u64,
    /// Its header says it is the active region (the newest committed, not
    /// superseded): the one an open replays, whose erased tail the store
    /// looks for while core opens (`MmapRegion::scan_erased_tail`).
    pub(crate) likely_active: bool,
}

impl RegionFile {
    pub(crate) fn len(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// The locked files of a store, and the configuration to open it with.
pub(crate) struct Opened {
    pub(crate) a: Option<RegionFile>,
    pub(crate) b: Option<RegionFile>,
    pub(crate) config: Config,
    /// A file whose header is not valid, left for core to judge.
    pub(crate) suspect: Option<PathBuf>,
    /// Whether either file carries a valid commit marker (else core can only
    /// format the pair anew or refuse it).
    pub(crate) committed: bool,
    /// What this open created, to be undone if the open fails later.
    pub(crate) created: Created,
}

/// Files an open created or filled, so that a failing open or command can
/// leave the directory as it found it.
#[derive(Debug, Default)]
pub(crate) struct Created {
    /// Files that did not exist.
    pub(crate) new: Vec<PathBuf>,
    /// Files that existed empty and were filled.
    pub(crate) filled: Vec<PathBuf>,
}

impl Created {
    /// Whether this open made a new store where there was none: both files
    /// were absent.
    pub(crate) fn whole_store(&self) -> bool {
        self.new.len() == 2
    }

    /// Removes the files that were created and empties the ones that were
    /// filled. Best effort: it runs on a path that already failed.
    pub(crate) fn undo(&mut self) {
        for p in self.new.drain(..) {
            let _ = std::fs::remove_file(&p);
            if let Some(dir) = p.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                let _ = sync_dir(dir);
            }
        }
        for p in self.filled.drain(..) {
            if let Ok(f) = OpenOptions::new().write(true).open(&p) {
                let _ = f.set_len(0).and_then(|()| f.sync_all());
            }
        }
    }
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
///
/// Nothing is created or filled unless `write` and `opts.create`, except the
/// missing or empty partner of a complete committed region when writing.
/// Every refusal happens before any byte is written.
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
    // Both looked at before either is locked or anything is written.
    let fa = open_existing(&pa, write)?;
    let fb = open_existing(&pb, write)?;
    if let Some(f) = &fa {
        lock(&pa, f, write)?;
    }
    if let Some(f) = &fb {
        lock(&pb, f, write)?;
    }
    let mk = |path: &PathBuf, f: Option<File>| -> Result<Option<RegionFile>> {
        f.map(|file| {
            let map_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
            Ok(RegionFile {
                path: path.clone(),
                file,
                map_len,
                likely_active: false,
            })
        })
        .transpose()
    };
    let (ra, rb) = (mk(&pa, fa)?, mk(&pb, fb)?);
    let len = |r: &Option<RegionFile>| r.as_ref().map_or(0, |r| r.map_len);
    let (la, lb) = (len(&ra), len(&rb));
    match (la > 0, lb > 0) {
        (false, false) => {
            if !write || !opts.create {
                return Err(Error::NotFound(base.to_path_buf()));
            }
            // Options are checked before anything is created.
            let (config, size) = opts.fresh_config(new_store_id()?)?;
            let mut created = Created::default();
            let a = match complete(ra, &pa, size, &mut created) {
                Ok(Some(a)) => a,
                Ok(None) => return Ok(Attempt::Raced),
                Err(e) => return Err(e),
            };
            let b = match complete(rb, &pb, size, &mut created) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    drop(a);
                    created.undo();
                    return Ok(Attempt::Raced);
                }
                Err(e) => {
                    drop(a);
                    created.undo();
                    return Err(e);
                }
            };
            Ok(Attempt::Done(Opened {
                a: Some(a),
                b: Some(b),
                config,
                suspect: None,
                committed: false,
                created,
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
                    // An empty region alone: nothing to lose, but nothing to
                    // read either; a new store only where creating is allowed.
                    if !write || !opts.create {
                        return Err(Error::NotFound(base.to_path_buf()));
                    }
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
            let mut created = Created::default();
            let missing = if write {
                match complete(missing, missing_path, size, &mut created)? {
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
                committed: p.committed(),
                created,
            }))
        }
        (true, true) => {
            let (Some(mut a), Some(mut b)) = (ra, rb) else {
                return Err(Error::NotFound(base.to_path_buf()));
            };
            let (config, suspect, committed) = check_both(base, &mut a, &mut b, opts, write)?;
            Ok(Attempt::Done(Opened {
                a: Some(a),
                b: Some(b),
                config,
                suspect,
                committed,
                created: Created::default(),
            }))
        }
    }
}

/// Makes `r` (absent or empty) a region file of `size` erased bytes, locked,
/// and records it in `created`. `None` when another process created it
/// first. On failure nothing of it is left: a new file is removed, an empty
/// one emptied again.
fn complete(
    r: Option<RegionFile>,
    path: &Path,
    size: u32,
    created: &mut Created,
) -> Result<Option<RegionFile>> {
    if let Some(mut r) = r {
        if let Err(e) = fill_erased(&r.path, &r.file, 0, u64::from(size)) {
            let _ = truncate(&r.path, &r.file, 0);
            return Err(e);
        }
        r.map_len = u64::from(size);
        created.filled.push(r.path.clone());
        return Ok(Some(r));
    }
    match create_region_file(path, size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    }
    created.new.push(path.to_path_buf());
    let opened = open_existing(path, true).and_then(|f| {
        let file = f.ok_or_else(|| Error::io(path, io::ErrorKind::NotFound.into()))?;
        lock(path, &file, true)?;
        Ok(file)
    });
    match opened {
        Ok(file) => Ok(Some(RegionFile {
            path: path.to_path_buf(),
            file,
            map_len: u64::from(size),
            likely_active: false,
        })),
        Err(Error::Locked(_)) => {
            // Another process opened the new file first: it is theirs now.
            created.new.pop();
            Ok(None)
        }
        Err(e) => Err(e),
    }
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

/// A usable region length (a non-zero multiple of 512, at most 1 GiB).
fn region_len(path: &Path, len: u64) -> Result<u32> {
    crate::region::usable_len(len).ok_or_else(|| {
        Error::not_region(
            path,
            format!("length {len} is not a non-zero multiple of {ERASE_UNIT} of at most 1 GiB"),
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

/// Checks two present files; returns the configuration, the file left for
/// core to judge, and whether either is committed. Reads only: a partly
/// grown inactive file (an interrupted resize) is accepted here, mapped up to
/// its last whole erase unit, and settled by the store after core opened.
fn check_both(
    base: &Path,
    a: &mut RegionFile,
    b: &mut RegionFile,
    opts: &Options,
    write: bool,
) -> Result<(Config, Option<PathBuf>, bool)> {
    let pa = peek(&a.path, &a.file)?;
    let pb = peek(&b.path, &b.file)?;
    let mut suspect = None;
    for (r, p, other) in [(&*a, &pa, &pb), (&*b, &pb, &pa)] {
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
    // A growth (of the store, or by a resize) extends the inactive file with
    // erased bytes past its region's end, before a switch makes the region
    // that large: an interrupted one leaves it at any length between the old
    // and the new size, the bytes past its old end erased (the partner is
    // then the committed region at the old size, or at the new one with this
    // one superseded at the old). Such a file is mapped at its region's size:
    // the store then cuts the extension off or completes it after core
    // opened (`Store::converge`), without opening core a second time on a
    // remapped file. A length that is not a multiple of 512 is accepted only
    // in that shape (or as a committed region's extension, below); anything
    // else is a truncated or foreign file and refused, untouched.
    for first in [true, false] {
        let (r, p, other) = if first {
            (&mut *a, &pa, &pb)
        } else {
            (&mut *b, &pb, &pa)
        };
        let growing = match inactive_end(p, other) {
            Some(end) if end > 0 && end < p.len && erased_from(&r.path, &r.file, end)? => Some(end),
            _ => None,
        };
        let whole = p.len % u64::from(ERASE_UNIT) == 0;
        if !whole && growing.is_none() && !longer_committed(r, p)? {
            region_len(&r.path, p.len)?;
        }
        r.map_len = match growing {
            Some(end) => end,
            None => p.len / u64::from(ERASE_UNIT) * u64::from(ERASE_UNIT),
        };
    }
    let committed = pa.committed() || pb.committed();
    // The newest committed header decides the options.
    let best = [(true, &pa), (false, &pb)]
        .into_iter()
        .filter_map(|(first, p)| p.header.ok().map(|h| (first, p, h)))
        .max_by_key(|(_, p, h)| (p.committed() && !p.superseded.is_set(), h.generation));
    if let Some((first, p, h)) = best {
        let r = if first { &mut *a } else { &mut *b };
        r.likely_active = p.committed() && !p.superseded.is_set();
        if p.committed() && !p.superseded.is_set() && u64::from(h.region_size) != p.len {
            // A file longer than its committed region, erased past it: a
            // growth step had extended it while it was inactive (the
            // extension is outside the region; the store cuts it off).
            if !longer_committed(r, p)? {
                return Err(length_mismatch(&r.path, &h, p.len));
            }
            r.map_len = u64::from(h.region_size);
        }
    }
    let (sa, sb) = (
        region_len(&a.path, a.map_len)?,
        region_len(&b.path, b.map_len)?,
    );
    match best {
        Some((_, _, h)) => Ok((opts.adopt(&h, (sa, sb))?, suspect, committed)),
        None => {
            // Both headers erased: an empty pair, which core formats when
            // creating is allowed (and refuses if it does not read erased
            // throughout).
            if (!write || !opts.create)
                && all_erased(&a.path, &a.file)?
                && all_erased(&b.path, &b.file)?
            {
                return Err(Error::NotFound(base.to_path_buf()));
            }
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
            Ok((c, suspect, committed))
        }
    }
}

/// Where the region of a file that is not the committed one ends, when its
/// partner is committed (not superseded): its own header's size (an
/// uncommitted or superseded region), or the partner's size if its header
/// reads erased (a file a resize created). `None` otherwise.
fn inactive_end(p: &Peek, other: &Peek) -> Option<u64> {
    let partner_size = match other.header {
        Ok(h) if other.committed() && !other.superseded.is_set() => u64::from(h.region_size),
        _ => return None,
    };
    match p.header {
        Ok(h) if !p.committed() || p.superseded.is_set() => Some(u64::from(h.region_size)),
        Err(HeaderError::Erased) => Some(partner_size),
        _ => None,
    }
}

/// Whether `r` is a committed, not superseded region whose file is longer
/// than its header records and reads erased past it: the shape a growth step
/// leaves when a switch commits into a file it had extended.
fn longer_committed(r: &RegionFile, p: &Peek) -> Result<bool> {
    match p.header {
        Ok(h) if p.committed() && !p.superseded.is_set() => {
            let end = u64::from(h.region_size);
            Ok(end > 0 && end < p.len && erased_from(&r.path, &r.file, end)?)
        }
        _ => Ok(false),
    }
}
