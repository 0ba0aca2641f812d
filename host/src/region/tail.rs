//! [`ErasedTail`]: where a region file's erased tail begins, found by a
//! thread while the store opens.
//!
//! On files, open reads everything past the log's end (FORMAT.md §6.2: a
//! region that does not persist in order may hold synced records past a
//! lost page), up to the whole unused part of the region: 6 to 28 MB for a
//! store of 100k keys, 1 to 6 ms of `pread` on this project's benchmark
//! machine, at the end of a replay that keeps one core busy. A thread
//! started when the region is mapped reads the file from its end backwards
//! while the replay runs on the other core, and finds `e`, the least offset
//! from which the file reads erased. Core's question, whether `from..size`
//! reads erased, is then `from >= e`, without reading it again.
//!
//! The answer holds for the bytes as the thread read them: the region drops
//! it at its first write (program or erase), and stops the thread; a scan
//! that fails answers nothing (the region then reads as before).

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Bytes read per `pread` of the scan.
const CHUNK: usize = 64 * 1024;

/// The scan of a region file's erased tail: under way, found, or dropped.
#[derive(Debug, Default)]
pub(crate) enum ErasedTail {
    /// No answer: never started, dropped by a write, or the scan failed.
    #[default]
    None,
    /// The thread is reading.
    Scanning(Scan),
    /// The file reads erased from this offset to the region's end.
    From(usize),
}

/// A scan under way: its thread, and the flag that asks it to give up.
/// Dropping it stops the thread and waits for it (at most one chunk's
/// read): the thread holds a duplicate of the region's descriptor, which
/// carries the store's lock until closed, so a store closed and opened
/// again at once would find its own files locked.
#[derive(Debug)]
pub(crate) struct Scan {
    handle: Option<JoinHandle<io::Result<usize>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl ErasedTail {
    /// Starts the scan of the first `size` bytes of `file` (a duplicate of
    /// the region's descriptor) in a thread of its own. No answer if the
    /// thread cannot be started.
    pub(crate) fn start(file: File, size: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("twinkv-erased-tail".into())
            .spawn(move || erased_from(&file, size, &flag));
        match spawned {
            Ok(handle) => ErasedTail::Scanning(Scan {
                handle: Some(handle),
                stop,
            }),
            Err(_) => ErasedTail::None,
        }
    }

    /// Where the erased tail begins, waiting for the scan if it is under
    /// way; `None` if there is no answer.
    pub(crate) fn offset(&mut self) -> Option<usize> {
        if let ErasedTail::Scanning(scan) = self {
            let found = scan.handle.take().map(JoinHandle::join);
            *self = match found {
                Some(Ok(Ok(e))) => ErasedTail::From(e),
                _ => ErasedTail::None,
            };
        }
        match self {
            ErasedTail::From(e) => Some(*e),
            _ => None,
        }
    }

    /// Asks a scan under way to stop (its answer is no longer wanted); an
    /// answer found is kept.
    pub(crate) fn stop(&self) {
        if let ErasedTail::Scanning(scan) = self {
            scan.stop.store(true, Relaxed);
        }
    }

    /// Drops the answer (the file is being written), stopping a scan under
    /// way.
    pub(crate) fn drop_answer(&mut self) {
        *self = ErasedTail::None;
    }
}

/// The least offset `e` such that bytes `e..size` of `file` read `0xFF`,
/// read from the end backwards; `Interrupted` once `stop` is set.
fn erased_from(file: &File, size: usize, stop: &AtomicBool) -> io::Result<usize> {
    let mut buf = vec![0u8; CHUNK.min(size)];
    let mut end = size;
    while end > 0 {
        if stop.load(Relaxed) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..end - start];
        read_at(file, chunk, start)?;
        if !twinkv_core::all_erased(chunk) {
            let last = chunk.iter().rposition(|&b| b != twinkv_core::ERASED);
            return Ok(start + last.map_or(0, |p| p + 1));
        }
        end = start;
    }
    Ok(0)
}

fn read_at(file: &File, buf: &mut [u8], at: usize) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, at as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn the_scan_finds_the_last_byte_that_is_not_erased() {
        let size = 3 * CHUNK + 512;
        for at in [
            None,
            Some(0),
            Some(1),
            Some(CHUNK - 1),
            Some(CHUNK),
            Some(2 * CHUNK + 7),
            Some(size - 1),
        ] {
            let mut bytes = vec![0xFF; size];
            if let Some(at) = at {
                bytes[at] = 0xFE;
                // Bytes before it do not matter.
                bytes[..at].fill(0);
            }
            let f = file_with(&bytes);
            let want = at.map_or(0, |a| a + 1);
            assert_eq!(
                erased_from(&f, size, &AtomicBool::new(false)).unwrap(),
                want,
                "{at:?}"
            );
            let mut t = ErasedTail::start(f, size);
            assert_eq!(t.offset(), Some(want), "{at:?}");
            assert_eq!(t.offset(), Some(want), "kept");
            t.drop_answer();
            assert_eq!(t.offset(), None);
        }
    }

    #[test]
    fn a_stopped_scan_answers_nothing() {
        let f = file_with(&vec![0xFF; 4 * CHUNK]);
        assert_eq!(
            erased_from(&f, 4 * CHUNK, &AtomicBool::new(true))
                .unwrap_err()
                .kind(),
            io::ErrorKind::Interrupted
        );
        let short = file_with(&[0xFF; 100]);
        assert!(erased_from(&short, 4 * CHUNK, &AtomicBool::new(false)).is_err());
    }
}
