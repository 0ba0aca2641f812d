//! The system calls under the file pair: opening only regular files
//! (refused from their metadata before any read, opened with `O_NONBLOCK`),
//! positioned reads and writes, filling with `0xFF`, truncating, durable
//! creation (temp file, fsync, rename, directory fsync), advisory locks, and
//! reading a region file whole. No policy: what to do with a pair is decided
//! in `files/mod.rs`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use twinkv_core::all_erased as erased;
use twinkv_core::format::header::HeaderError;
use twinkv_core::format::{RegionHeader, HEADER_LEN};

use super::lock::{try_lock, LockError};
use super::region_paths;
use crate::error::{Error, Result};
use crate::region::{ERASED_CHUNK, ERASE_UNIT};

/// Bytes read per call when checking a file.
const READ_CHUNK: usize = 64 * 1024;

pub(super) fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
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

pub(super) fn write_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
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
    let mut buf = vec![0u8; READ_CHUNK];
    let mut at = from;
    while at < len {
        let n = (len - at).min(READ_CHUNK as u64) as usize;
        read_at(file, &mut buf[..n], at).map_err(|e| Error::io(path, e))?;
        if !erased(&buf[..n]) {
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
    let ones = &ERASED_CHUNK;
    let mut at = from;
    while at < to {
        #[cfg(feature = "_test-hooks")]
        if let Some(e) = &fail {
            if at >= from + (to - from) / 2 {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
        }
        let n = (to - at).min(ones.len() as u64) as usize;
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
pub(super) fn open_existing(path: &Path, write: bool) -> Result<Option<File>> {
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

pub(super) fn lock(path: &Path, file: &File, exclusive: bool) -> Result<()> {
    match try_lock(file, exclusive) {
        Ok(()) => Ok(()),
        Err(LockError::Busy) => Err(Error::Locked(path.to_path_buf())),
        Err(LockError::Io(e)) => Err(Error::io(path, e)),
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
