//! [`MmapRegion`]: a region file, memory-mapped. The project's only `unsafe`
//! code is in this module: the two calls that create a mapping.
//!
//! Geometry is fixed whatever the machine (FORMAT.md §1): write unit 4, erase
//! unit 512, read unit 1, size = the file's length. Writes go through the
//! shared mapping, so they survive a crash of the process (kill -9) as soon as
//! they return; [`Region::sync`] (flush the mapping with `msync`, then
//! `fdatasync`) makes them survive power loss. The operating system writes
//! dirty pages back in any order, hence `persists_in_order() == false` and the
//! sync markers of FORMAT.md §6.3.

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapMut, MmapOptions};
use twinkv_core::{Geometry, MappedRegion, Region};

/// `len` as a region size, if it is one: a non-zero multiple of
/// [`ERASE_UNIT`] of at most 1 GiB
/// ([`MAX_REGION_SIZE`](twinkv_core::MAX_REGION_SIZE)).
pub(crate) fn usable_len(len: u64) -> Option<u32> {
    u32::try_from(len)
        .ok()
        .filter(|&s| s > 0 && s % ERASE_UNIT == 0 && s <= twinkv_core::MAX_REGION_SIZE)
}

/// Write (program) unit of memory-mapped regions, bytes.
pub const WRITE_UNIT: u32 = 4;
/// Erase unit of memory-mapped regions, bytes. Region files are a multiple of it.
pub const ERASE_UNIT: u32 = 512;

/// Reads at least this long, and [`Region::is_erased`] checks, use plain
/// `pread` instead of the mapping: core checks erased space (the unused end of
/// the active log, the partner before a switch) through `is_erased`, and
/// serving that from the page cache keeps those pages out of the process's
/// resident set, so opening a large, mostly empty store does not fault every
/// page of both files into memory. Linux, the BSDs and macOS keep `pread`,
/// `pwrite` and shared mappings of the same file coherent.
#[cfg(unix)]
const PREAD_THRESHOLD: usize = 4096;
/// Chunk size of `pread` / `pwrite` loops.
#[cfg(unix)]
const CHUNK: usize = 64 * 1024;

/// The mapping: writable for a store opened for writing, read-only otherwise.
enum Map {
    Rw(MmapMut),
    Ro(Mmap),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Rw(m) => m,
            Map::Ro(m) => m,
        }
    }
}

/// A region backed by a memory-mapped file: write unit 4, erase unit 512,
/// read unit 1, size = the file's length. Writes through the shared mapping
/// survive a crash of the process as soon as they return; [`Region::sync`]
/// (`msync`, then `fdatasync`) makes them survive power loss. Pages reach the
/// disk in any order, so `persists_in_order()` is false.
///
/// The file must be locked against other twinkv processes for as long as the
/// region lives ([`Store`](crate::Store) does this), and its length must be a
/// non-zero multiple of [`ERASE_UNIT`] that fits a `u32`.
pub struct MmapRegion {
    file: File,
    map: Map,
    size: u32,
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl MmapRegion {
    /// Maps `file` (its whole current length). `writable` maps it shared and
    /// writable, otherwise read-only (then `program` and `erase` fail).
    ///
    /// The caller holds the twinkv lock on `file` (exclusive for `writable`,
    /// at least shared otherwise) for the region's whole life.
    pub fn new(file: File, writable: bool) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Self::with_len(file, writable, len)
    }

    /// Maps the first `len` bytes of `file`, which may be longer (the
    /// partly written tail of an interrupted resize, which the store settles
    /// only after it has opened). `len` must be a non-zero multiple of
    /// [`ERASE_UNIT`] of at most 1 GiB
    /// ([`MAX_REGION_SIZE`](twinkv_core::MAX_REGION_SIZE)) and at most the
    /// file's length.
    pub fn with_len(file: File, writable: bool, len: u64) -> io::Result<Self> {
        if len > file.metadata()?.len() {
            return Err(invalid("mapping length beyond the end of the file"));
        }
        let size = usable_len(len).ok_or_else(|| {
            invalid("region file length must be a non-zero multiple of 512 of at most 1 GiB")
        })?;
        let map = if writable {
            // SAFETY: memmap2 requires that the file is not modified or
            // truncated by anyone else while mapped. It holds for twinkv
            // processes: the caller holds an exclusive lock on the file (an
            // advisory `flock`) until this region is dropped, and every twinkv
            // writer takes that lock; twinkv only changes a file's length after
            // dropping its mapping. It relies on other programs respecting the
            // lock: a program that ignores it and truncates the file makes any
            // later access to the vanished pages raise SIGBUS (the process
            // dies; no memory is read out of bounds), and one that writes to
            // the file only changes bytes that every read re-checks with the
            // record CRCs. The mapping's length is fixed at `size` here, at
            // most the file's length (checked above), and is never extended.
            Map::Rw(unsafe { MmapOptions::new().len(size as usize).map_mut(&file)? })
        } else {
            // SAFETY: as above, with the caller holding at least a shared lock,
            // which excludes twinkv writers; the mapping is read-only.
            Map::Ro(unsafe { MmapOptions::new().len(size as usize).map(&file)? })
        };
        Ok(MmapRegion { file, map, size })
    }

    /// The geometry of every memory-mapped region of `size` bytes.
    pub const fn geometry_for(size: u32) -> Geometry {
        Geometry {
            size,
            read_unit: 1,
            write_unit: WRITE_UNIT,
            erase_unit: ERASE_UNIT,
        }
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Flushes the mapping's dirty pages to the file (`msync`, synchronous).
    /// The first half of [`Region::sync`].
    pub fn flush(&mut self) -> io::Result<()> {
        #[cfg(feature = "_test-hooks")]
        if let Some(e) = crate::hooks::injected_failure(crate::hooks::Op::Flush) {
            return Err(e);
        }
        #[cfg(feature = "_test-hooks")]
        crate::hooks::step(crate::hooks::Op::Flush);
        match &self.map {
            Map::Rw(m) => m.flush(),
            Map::Ro(_) => Ok(()),
        }
    }

    /// Makes the file's data durable (`fdatasync`). The second half of
    /// [`Region::sync`]; together with [`flush`](Self::flush) it covers both
    /// the mapped writes and the `pwrite`s of [`Region::erase`].
    pub fn sync_file(&mut self) -> io::Result<()> {
        #[cfg(feature = "_test-hooks")]
        if let Some(e) = crate::hooks::injected_failure(crate::hooks::Op::Fsync) {
            return Err(e);
        }
        #[cfg(feature = "_test-hooks")]
        crate::hooks::step(crate::hooks::Op::Fsync);
        self.file.sync_data()
    }

    fn check_range(&self, offset: u32, len: usize) -> io::Result<(usize, usize)> {
        let start = offset as usize;
        match start.checked_add(len) {
            Some(end) if end <= self.size as usize => Ok((start, end)),
            _ => Err(invalid("range outside the region")),
        }
    }

    fn map_mut(&mut self) -> io::Result<&mut [u8]> {
        match &mut self.map {
            Map::Rw(m) => Ok(&mut m[..]),
            Map::Ro(_) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "region is mapped read-only",
            )),
        }
    }
}

impl Region for MmapRegion {
    type Error = io::Error;

    fn geometry(&self) -> Geometry {
        Self::geometry_for(self.size)
    }

    fn persists_in_order(&self) -> bool {
        false
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> io::Result<()> {
        let (start, end) = self.check_range(offset, buf.len())?;
        #[cfg(unix)]
        if buf.len() >= PREAD_THRESHOLD {
            use std::os::unix::fs::FileExt;
            return self.file.read_exact_at(buf, start as u64);
        }
        buf.copy_from_slice(&self.map.bytes()[start..end]);
        Ok(())
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> io::Result<()> {
        let (start, end) = self.check_range(offset, data.len())?;
        if !offset.is_multiple_of(WRITE_UNIT) || !data.len().is_multiple_of(WRITE_UNIT as usize) {
            return Err(invalid("program not aligned to the write unit"));
        }
        let dst = &mut self.map_mut()?[start..end];
        if dst.iter().any(|&b| b != twinkv_core::ERASED) {
            return Err(invalid("program over bytes that are not erased"));
        }
        #[cfg(feature = "_test-hooks")]
        if let Some(e) = crate::hooks::injected_failure(crate::hooks::Op::Program) {
            return Err(e);
        }
        #[cfg(feature = "_test-hooks")]
        if crate::hooks::step(crate::hooks::Op::Program) {
            // Die half-way through the copy: a torn program.
            let half = (data.len() / 2).max(1);
            dst[..half].copy_from_slice(&data[..half]);
            crate::hooks::die();
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    fn erase(&mut self, from: u32, to: u32) -> io::Result<()> {
        if from > to || !from.is_multiple_of(ERASE_UNIT) || !to.is_multiple_of(ERASE_UNIT) {
            return Err(invalid("erase not aligned to the erase unit"));
        }
        let (start, end) = self.check_range(from, (to - from) as usize)?;
        self.map_mut()?;
        #[cfg(feature = "_test-hooks")]
        if let Some(e) = crate::hooks::injected_failure(crate::hooks::Op::Erase) {
            return Err(e);
        }
        #[cfg(feature = "_test-hooks")]
        if crate::hooks::step(crate::hooks::Op::Erase) {
            let mid = start + (end - start) / 2;
            self.map_mut()?[start..mid].fill(twinkv_core::ERASED);
            crate::hooks::die();
        }
        #[cfg(unix)]
        {
            // Through the page cache rather than the mapping: erasing a large
            // region does not fault its pages into the resident set. Linux,
            // the BSDs and macOS keep `pwrite` and shared mappings coherent.
            use std::os::unix::fs::FileExt;
            let ones = vec![twinkv_core::ERASED; CHUNK.min(end - start)];
            let mut at = start;
            while at < end {
                let n = ones.len().min(end - at);
                self.file.write_all_at(&ones[..n], at as u64)?;
                at += n;
            }
        }
        #[cfg(not(unix))]
        self.map_mut()?[start..end].fill(twinkv_core::ERASED);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.sync_file()
    }

    fn is_erased(&mut self, from: u32, to: u32) -> io::Result<bool> {
        let (start, end) = self.check_range(from, to.saturating_sub(from) as usize)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; CHUNK.min(end - start)];
            let mut at = start;
            while at < end {
                let n = buf.len().min(end - at);
                self.file.read_exact_at(&mut buf[..n], at as u64)?;
                if !twinkv_core::all_erased(&buf[..n]) {
                    return Ok(false);
                }
                at += n;
            }
            Ok(true)
        }
        #[cfg(not(unix))]
        Ok(twinkv_core::all_erased(&self.map.bytes()[start..end]))
    }

    /// The mapping: core reads records in place (a replay at open, the
    /// key comparisons of its index) rather than copying them out.
    fn lend(&self) -> Option<&[u8]> {
        Some(self.map.bytes())
    }
}

impl MappedRegion for MmapRegion {
    fn as_bytes(&self) -> &[u8] {
        self.map.bytes()
    }
}
