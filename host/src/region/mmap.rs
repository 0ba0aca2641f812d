//! [`MmapRegion`]: a region file, memory-mapped. The project's only `unsafe`
//! code is in this module: the two calls that create a mapping, and on Linux
//! the `sync_file_range` call of [`WriteBack`].
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
const CHUNK: usize = 64 * 1024;
/// What an erase writes, [`CHUNK`] bytes at a time, through the page cache
/// (and what `files` fills new and grown region files with).
pub(crate) static ERASED_CHUNK: [u8; CHUNK] = [twinkv_core::ERASED; CHUNK];

/// Writing filled pages back ahead of a sync (Linux): the store fills a
/// region in order (appends and a switch's copy front to back, erase ahead
/// back to front), and without a hint the kernel keeps those pages dirty
/// until the next sync writes them all, which made the `set` that commits
/// a switch wait for megabytes (8 ms of `msync` on ext4 for a 16 MB
/// region). Each time a run of adjacent writes has covered
/// [`WRITE_BACK_STEP`] bytes of whole pages that it will not write again,
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)` starts their write-back and
/// returns without waiting for it; the sync then finds little left.
///
/// Durability is unchanged: the kernel may write any dirty page back at any
/// time anyway (hence `persists_in_order() == false`), and only a sync makes
/// bytes durable. A write not adjacent to the run (a marker in the header
/// area) starts a new run there; what the old one had not handed over is
/// left to the sync.
#[cfg(target_os = "linux")]
#[derive(Debug, Default)]
struct WriteBack {
    /// The bytes the run has written and not handed over: `lo..hi`.
    lo: usize,
    hi: usize,
}

/// Bytes of whole pages one write-back hint hands over (64 pages of 4 KiB).
/// Smaller steps cost more calls; larger ones leave more for the sync and
/// make the one write that hands them over longer.
#[cfg(target_os = "linux")]
const WRITE_BACK_STEP: usize = 256 * 1024;
/// Page size assumed for the hints (only their efficiency depends on it).
#[cfg(target_os = "linux")]
const PAGE: usize = 4096;

#[cfg(target_os = "linux")]
impl WriteBack {
    /// Notes a write of `start..end`; returns the range to hand over now,
    /// if any: the run's whole pages behind its moving end.
    fn wrote(&mut self, start: usize, end: usize) -> Option<(usize, usize)> {
        let down = end == self.lo && start < self.lo;
        if down {
            self.lo = start;
        } else if start == self.hi {
            self.hi = end;
        } else {
            (self.lo, self.hi) = (start, end);
        }
        if self.hi - self.lo < WRITE_BACK_STEP + PAGE {
            return None;
        }
        Some(if down {
            // Back to front: the page holding `lo` is still being filled.
            let from = self.lo.next_multiple_of(PAGE);
            (from, core::mem::replace(&mut self.hi, from))
        } else {
            let to = self.hi & !(PAGE - 1);
            (core::mem::replace(&mut self.lo, to), to)
        })
    }

    /// Starts the write-back of `from..to` of `file` without waiting for it.
    /// An error is ignored: this is a hint, and the next sync writes (and
    /// reports a failure of) the same pages.
    fn hand_over(file: &File, from: usize, to: usize) {
        use std::os::fd::AsRawFd;
        let (Ok(off), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
            return;
        };
        // SAFETY: `sync_file_range` reads and writes no memory of this
        // process: its arguments are a descriptor, borrowed from `file` for
        // the call (so open), two integers and a flag. With
        // `SYNC_FILE_RANGE_WRITE` alone it only starts write-out of dirty
        // pages of that file's range and returns; it changes no data.
        let _ = unsafe {
            libc::sync_file_range(file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE)
        };
    }
}

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
    #[cfg(target_os = "linux")]
    ahead: WriteBack,
    /// Where the file's erased tail begins, while no write has changed it
    /// ([`scan_erased_tail`](Self::scan_erased_tail)).
    #[cfg(unix)]
    tail: super::tail::ErasedTail,
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
        Ok(MmapRegion {
            file,
            map,
            size,
            #[cfg(target_os = "linux")]
            ahead: WriteBack::default(),
            #[cfg(unix)]
            tail: super::tail::ErasedTail::None,
        })
    }

    /// Starts finding where the file's erased tail begins, in a thread of
    /// its own (Unix; nothing elsewhere): an [`is_erased`](Region::is_erased)
    /// of a range reaching the region's end then waits for that answer
    /// instead of reading the range, until the first write. For an open,
    /// whose replay ends by checking the log's unused end (FORMAT.md §6.2).
    pub(crate) fn scan_erased_tail(&mut self) {
        #[cfg(unix)]
        if let Ok(dup) = self.file.try_clone() {
            self.tail = super::tail::ErasedTail::start(dup, self.size as usize);
        }
    }

    /// Asks a scan started by [`scan_erased_tail`](Self::scan_erased_tail)
    /// to stop, if it is still under way: the open it served is over.
    pub(crate) fn stop_erased_tail(&self) {
        #[cfg(unix)]
        self.tail.stop();
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

    /// Notes a write of `start..end`: for [`WriteBack`] (Linux), and as
    /// the end of an erased-tail answer (Unix).
    fn wrote(&mut self, start: usize, end: usize) {
        // The erased tail found before this write may no longer be.
        #[cfg(unix)]
        self.tail.drop_answer();
        #[cfg(target_os = "linux")]
        if let Some((from, to)) = self.ahead.wrote(start, end) {
            WriteBack::hand_over(&self.file, from, to);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (start, end);
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
        if !twinkv_core::all_erased(dst) {
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
        self.wrote(start, end);
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
        // Through the page cache rather than the mapping, however small:
        // an erase does not fault its pages into the resident set. (Erase
        // ahead's one unit at a time through the mapping saved a system call
        // every dozen sets, but made the whole inactive region resident: a
        // store of 100k keys in 16 MB regions went from 6.1 to 21.7 MiB of
        // RssFile.) Linux, the BSDs and macOS keep `pwrite` and shared
        // mappings coherent.
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            let mut at = start;
            while at < end {
                let n = CHUNK.min(end - at);
                self.file.write_all_at(&ERASED_CHUNK[..n], at as u64)?;
                at += n;
            }
        }
        #[cfg(not(unix))]
        self.map_mut()?[start..end].fill(twinkv_core::ERASED);
        self.wrote(start, end);
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
            // Bytes `e..size` read erased and byte `e - 1` does not.
            match self.tail.offset() {
                Some(e) if start >= e || start == end => return Ok(true),
                Some(_) if end == self.size as usize => return Ok(false),
                Some(_) | None => {}
            }
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{WriteBack, PAGE, WRITE_BACK_STEP};

    /// Feeds `writes` to a tracker; checks every hand-over: whole pages
    /// (but for a run's first byte), at least a step long, never a page
    /// that a later write touches. Returns the ranges.
    fn run(writes: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let mut t = WriteBack::default();
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (i, &(s, e)) in writes.iter().enumerate() {
            if let Some((from, to)) = t.wrote(s, e) {
                assert!(to - from >= WRITE_BACK_STEP, "{from}..{to}");
                assert!(from % PAGE == 0 || to % PAGE == 0, "{from}..{to}");
                let pages = from / PAGE..=(to - 1) / PAGE;
                for &(ls, le) in &writes[i + 1..] {
                    assert!(
                        ls / PAGE > *pages.end() || (le - 1) / PAGE < *pages.start(),
                        "{ls}..{le} rewrites a page of {from}..{to}"
                    );
                }
                out.push((from, to));
            }
        }
        out
    }

    #[test]
    fn appends_hand_over_whole_pages_behind_the_front() {
        // Records of 36 bytes from offset 84 (after a header) to 2 MiB.
        let writes: Vec<_> = (0..)
            .map(|i| (84 + 36 * i, 84 + 36 * (i + 1)))
            .take_while(|&(_, e)| e <= 2 << 20)
            .collect();
        let r = run(&writes);
        assert_eq!(r[0].0, 84);
        for w in r.windows(2) {
            assert_eq!(w[0].1, w[1].0);
            assert_eq!(w[1].0 % PAGE, 0);
        }
        // All but less than a step and a page of the run is handed over.
        let end = writes.last().unwrap().1;
        assert!(end - r.last().unwrap().1 < WRITE_BACK_STEP + PAGE);
    }

    #[test]
    fn erase_ahead_back_to_front_hands_over_whole_pages_behind_it() {
        // Units of 512 bytes erased from the end down to 0 (a region's end
        // need not be on a page boundary: 16,004,096 is not).
        let top = (4 << 20) + 1024;
        let writes: Vec<_> = (1..=top / 512)
            .map(|i| (top - 512 * i, top - 512 * (i - 1)))
            .collect();
        let r = run(&writes);
        assert_eq!(r[0].1, top);
        for w in r.windows(2) {
            assert_eq!(w[1].1, w[0].0);
            assert_eq!(w[1].0 % PAGE, 0);
        }
        assert!(r.last().unwrap().0 < WRITE_BACK_STEP + PAGE);
    }

    #[test]
    fn a_write_elsewhere_starts_a_new_run() {
        let mut writes: Vec<_> = (0..200)
            .map(|i| (4096 + 1024 * i, 4096 + 1024 * (i + 1)))
            .collect();
        // A marker in the header area, then the appends go on.
        writes.push((60, 72));
        let front = writes[199].1;
        writes.extend((0..400).map(|i| (front + 1024 * i, front + 1024 * (i + 1))));
        let r = run(&writes);
        // The first run (200 KiB) was under a step: nothing of it was
        // handed over; the second starts at the front, not at the marker.
        assert!(r.iter().all(|&(from, _)| from >= front));
        assert_eq!(r[0].0, front);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod on_a_file {
    use super::MmapRegion;
    use std::io::Write;
    use twinkv_core::{MappedRegion, Region};

    /// A region filled in order (erase ahead back to front, then appends
    /// front to back, past several hand-overs) reads back the same, before
    /// and after its sync, through a new mapping of the file.
    #[test]
    fn bytes_written_with_hand_overs_read_back() {
        let mut file = tempfile::tempfile().unwrap();
        let size = 2 << 20;
        file.write_all(&vec![0u8; size]).unwrap();
        let mut r = MmapRegion::new(file.try_clone().unwrap(), true).unwrap();
        for u in (0..size as u32 / 512).rev() {
            r.erase(u * 512, (u + 1) * 512).unwrap();
        }
        let data: Vec<u8> = (0..size - 4096).map(|i| (i * 7 % 251) as u8).collect();
        for (i, c) in data.chunks(36).enumerate() {
            r.program(4096 + 36 * i as u32, c).unwrap();
        }
        assert_eq!(&r.as_bytes()[4096..], &data[..]);
        r.sync().unwrap();
        drop(r);
        let again = MmapRegion::new(file, false).unwrap();
        assert!(again.as_bytes()[..4096].iter().all(|&b| b == 0xFF));
        assert_eq!(&again.as_bytes()[4096..], &data[..]);
    }

    /// With an erased-tail scan started, `is_erased` answers every range as
    /// a read does: before any write, after a program past the tail's start
    /// and after an erase (each write drops the scan's answer), and after a
    /// scan asked to stop.
    #[test]
    fn is_erased_with_a_tail_scan_answers_as_a_read_does() {
        let size: u32 = 4 * super::CHUNK as u32 + 1024;
        let mut file = tempfile::tempfile().unwrap();
        let mut bytes = vec![0xFFu8; size as usize];
        bytes[..3000].fill(0x11);
        bytes[70_000] = 0x7F;
        file.write_all(&bytes).unwrap();
        let ranges: Vec<(u32, u32)> = [0, 1, 2999, 3000, 3001, 69_999, 70_000, 70_001, size - 1]
            .iter()
            .flat_map(|&f| [f, f + 1, 70_001, size - 512, size].map(move |t| (f, t)))
            .filter(|&(f, t)| f <= t && t <= size)
            .collect();
        let answers = |r: &mut MmapRegion| -> Vec<bool> {
            ranges
                .iter()
                .map(|&(f, t)| r.is_erased(f, t).unwrap())
                .collect()
        };
        let read = |r: &MmapRegion| -> Vec<bool> {
            let b = r.as_bytes();
            ranges
                .iter()
                .map(|&(f, t)| b[f as usize..t as usize].iter().all(|&x| x == 0xFF))
                .collect()
        };
        let mut r = MmapRegion::new(file.try_clone().unwrap(), true).unwrap();
        r.scan_erased_tail();
        assert_eq!(answers(&mut r), read(&r), "the scan's answer");
        r.program(200_000, &[0u8; 4]).unwrap();
        assert_eq!(answers(&mut r), read(&r), "after a program");
        r.scan_erased_tail();
        r.erase(69_632, 70_144).unwrap();
        assert_eq!(answers(&mut r), read(&r), "after an erase");
        r.scan_erased_tail();
        r.stop_erased_tail();
        assert_eq!(answers(&mut r), read(&r), "after a stop");
    }

    /// Erases of one unit, one chunk and more than two chunks (through the
    /// page cache) read erased through the mapping, a new mapping and the
    /// file, and touch nothing outside their range; a
    /// program over a byte that is not erased is refused, whichever of its
    /// bytes it is.
    #[test]
    fn erases_of_both_sizes_read_erased_everywhere() {
        use std::os::unix::fs::FileExt;
        let mut file = tempfile::tempfile().unwrap();
        let size = 256 << 10;
        file.write_all(&vec![0x5Au8; size]).unwrap();
        let mut r = MmapRegion::new(file.try_clone().unwrap(), true).unwrap();
        let small = (4096, 4096 + 512);
        let edge = (8192, 8192 + super::CHUNK as u32);
        let large = (98304, 98304 + 2 * super::CHUNK as u32 + 512);
        for (from, to) in [small, edge, large] {
            r.erase(from, to).unwrap();
        }
        let erased = |at: usize| {
            [small, edge, large]
                .iter()
                .any(|&(f, t)| (f..t).contains(&(at as u32)))
        };
        let check = |bytes: &[u8]| {
            for (at, &b) in bytes.iter().enumerate() {
                assert_eq!(b, if erased(at) { 0xFF } else { 0x5A }, "byte {at}");
            }
        };
        check(r.as_bytes());
        r.sync().unwrap();
        let mut read = vec![0u8; size];
        file.read_exact_at(&mut read, 0).unwrap();
        check(&read);
        check(
            MmapRegion::new(file.try_clone().unwrap(), false)
                .unwrap()
                .as_bytes(),
        );
        // Twelve bytes: one word and four bytes past it.
        for k in 0..12 {
            let at = 4096 + 16 * k as u32;
            let mut one = [0xFFu8; 12];
            one[k] = 0xFE;
            r.program(at, &one).unwrap();
            assert!(r.program(at, &[0xFF; 12]).is_err(), "byte {k}");
            assert_eq!(r.as_bytes()[at as usize + k], 0xFE);
        }
    }
}
