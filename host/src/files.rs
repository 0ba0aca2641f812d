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

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
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
    /// How much of it to map: its length, except for the inactive file of an
    /// interrupted grow, whose partly filled tail is mapped only up to the
    /// last whole erase unit (the store settles its length after opening).
    pub(crate) map_len: u64,
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
    erased_from(path, file, 0)
}

/// Whether the file reads `0xFF` from `from` to its end.
pub(crate) fn erased_from(path: &Path, file: &File, from: u64) -> Result<bool> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut buf = vec![0u8; FILL_CHUNK];
    let mut at = from;
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

/// Writes `0xFF` over `from..to` of `file`, extending it if needed (one
/// "fill" for the `_test-hooks` ENOSPC injection).
fn write_ones(file: &File, from: u64, to: u64) -> io::Result<()> {
    #[cfg(feature = "_test-hooks")]
    let fail = crate::hooks::fill();
    let ones = vec![0xFFu8; FILL_CHUNK];
    let mut at = from;
    while at < to {
        #[cfg(feature = "_test-hooks")]
        if let Some(e) = &fail {
            if at >= from + (to - from) / 2 {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
        }
        let n = (to - at).min(FILL_CHUNK as u64) as usize;
        write_at(file, &ones[..n], at)?;
        at += n as u64;
    }
    #[cfg(feature = "_test-hooks")]
    if let Some(e) = fail {
        return Err(e);
    }
    Ok(())
}

/// Writes `0xFF` over `from..to` of `file` (extending it if needed) and makes
/// it durable. On failure the file may be left longer than `from`: the
/// caller truncates it back.
pub(crate) fn fill_erased(path: &Path, file: &File, from: u64, to: u64) -> Result<()> {
    write_ones(file, from, to).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Extends `file` from `from` to `to` with `0xFF` bytes, not synced (a
/// growth step: the next switch into the file syncs it). On failure the file
/// is cut back to `from` (best effort) before the error is returned. With
/// `_test-hooks` it is one counted step ([`crate::hooks::Op::Fill`]) and one
/// fill for the ENOSPC injection.
pub(crate) fn extend_erased(path: &Path, file: &File, from: u64, to: u64) -> Result<()> {
    #[cfg(feature = "_test-hooks")]
    if crate::hooks::step(crate::hooks::Op::Fill) {
        // Die half-way: the file is left part-grown.
        let _ = write_ones(file, from, from + (to - from) / 2);
        crate::hooks::die();
    }
    write_ones(file, from, to).map_err(|e| {
        let _ = file.set_len(from);
        Error::io(path, e)
    })
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
    // On any error below the temp file is removed when `tmp` is dropped.
    let tmp = tempfile::Builder::new()
        .prefix(".twinkv-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    write_ones(tmp.as_file(), 0, u64::from(size))?;
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

/// Refuses anything that is not a regular file, naming what it is (and the
/// link it was reached through).
fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    let what = if ft.is_dir() {
        "a directory"
    } else {
        file_kind(&ft)
    };
    let via = match std::fs::read_link(path) {
        Ok(target) => format!("is a symbolic link to {}, which is ", target.display()),
        Err(_) => "is ".to_string(),
    };
    Err(Error::not_region(
        path,
        format!("{via}{what}, not a regular file: a store's files must be regular files"),
    ))
}

#[cfg(unix)]
fn file_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn file_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// Opens the region file at `path` if there is one: `None` when nothing is
/// there. Anything but a regular file (also behind a symbolic link) is refused
/// from its metadata, before it is opened; the open itself does not block
/// (`O_NONBLOCK`: a FIFO swapped in meanwhile is refused by the second check,
/// on the opened handle, without a byte read).
fn open_existing(path: &Path, write: bool) -> Result<Option<File>> {
    match std::fs::metadata(path) {
        Ok(m) => check_regular(path, &m)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(Error::not_region(
                    path,
                    "is a symbolic link to nothing (dangling): create its target or remove the link",
                ));
            }
            return Ok(None);
        }
        Err(e) => return Err(Error::io(path, e)),
    }
    let mut o = OpenOptions::new();
    o.read(true).write(write);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Only affects FIFOs and devices, which are refused just below;
        // reads and writes of a regular file ignore it.
        o.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    check_regular(path, &file.metadata().map_err(|e| Error::io(path, e))?)?;
    Ok(Some(file))
}

/// The whole content of the region file at `path`, read through the same
/// checks as an open (never blocks, refuses non-regular files); `None` when
/// it is missing or empty.
pub(crate) fn read_region_file(path: &Path) -> Result<Option<Vec<u8>>> {
    match open_existing(path, false)? {
        Some(f) => read_all(path, &f),
        None => Ok(None),
    }
}

/// The first `n` bytes of the region file at `path` (fewer if it is
/// shorter; empty when it is missing).
pub(crate) fn read_region_head(path: &Path, n: u64) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    if let Some(f) = open_existing(path, false)? {
        f.take(n)
            .read_to_end(&mut v)
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(v)
}

/// The region an opened region file holds; `None` when it is empty. A file
/// that a growth step extended past its region (bytes past the size its
/// header records, or past the last whole erase unit of an empty region,
/// that all read `0xFF`) is read up to the region's end: the extension
/// belongs to no region.
pub(crate) fn read_all(path: &Path, mut file: &File) -> Result<Option<Vec<u8>>> {
    let mut v = Vec::new();
    file.read_to_end(&mut v).map_err(|e| Error::io(path, e))?;
    trim_extension(&mut v);
    Ok(if v.is_empty() { None } else { Some(v) })
}

/// Cuts a growth step's extension off a region file's bytes (see
/// [`read_all`]).
fn trim_extension(v: &mut Vec<u8>) {
    let erased = |b: &[u8]| b.iter().all(|&x| x == 0xFF);
    let end = if v.len() >= HEADER_LEN {
        let mut hb = [0u8; HEADER_LEN];
        hb.copy_from_slice(&v[..HEADER_LEN]);
        match RegionHeader::decode(&hb) {
            Ok(h) => h.region_size as usize,
            Err(HeaderError::Erased) => v.len() / ERASE_UNIT as usize * ERASE_UNIT as usize,
            Err(_) => return,
        }
    } else {
        return;
    };
    if end > 0 && end < v.len() && erased(&v[end..]) {
        v.truncate(end);
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
    // An interrupted resize leaves the inactive file at any length between
    // the old and the new size, the bytes past its old end erased: the grow
    // writes them before the switch (the partner is then the committed
    // region, at the old size) or after it (the partner is the committed one
    // at the new size, this one superseded at the old). A length that is not
    // a multiple of 512 is accepted only in that shape; anything else is a
    // truncated or foreign file and refused, untouched.
    for first in [true, false] {
        let (r, p, other) = if first {
            (&mut *a, &pa, &pb)
        } else {
            (&mut *b, &pb, &pa)
        };
        if p.len % u64::from(ERASE_UNIT) == 0 {
            continue;
        }
        let partner_size = match other.header {
            Ok(h) if other.committed() && !other.superseded.is_set() => {
                Some(u64::from(h.region_size))
            }
            _ => None,
        };
        let old_end = match p.header {
            Ok(h) if !p.committed() || p.superseded.is_set() => Some(u64::from(h.region_size)),
            Err(HeaderError::Erased) => partner_size,
            _ => None,
        };
        let growing = match (partner_size, old_end) {
            (Some(_), Some(end)) if end > 0 && end < p.len => erased_from(&r.path, &r.file, end)?,
            _ => false,
        };
        if !growing && !longer_committed(r, p)? {
            region_len(&r.path, p.len)?;
        }
        r.map_len = p.len / u64::from(ERASE_UNIT) * u64::from(ERASE_UNIT);
    }
    let committed = pa.committed() || pb.committed();
    // The newest committed header decides the options.
    let best = [(true, &pa), (false, &pb)]
        .into_iter()
        .filter_map(|(first, p)| p.header.ok().map(|h| (first, p, h)))
        .max_by_key(|(_, p, h)| (p.committed() && !p.superseded.is_set(), h.generation));
    if let Some((first, p, h)) = best {
        let r = if first { &mut *a } else { &mut *b };
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

/// Shared locks on whichever of the two files exist, for reading them whole
/// (through [`read_all`]): the same checks as an open.
pub(crate) fn lock_shared(base: &Path) -> Result<[Option<File>; 2]> {
    let (pa, pb) = region_paths(base);
    let fa = open_existing(&pa, false)?;
    let fb = open_existing(&pb, false)?;
    for (p, f) in [(&pa, &fa), (&pb, &fb)] {
        if let Some(f) = f {
            lock(p, f, false)?;
        }
    }
    if fa.is_none() && fb.is_none() {
        return Err(Error::NotFound(base.to_path_buf()));
    }
    Ok([fa, fb])
}
