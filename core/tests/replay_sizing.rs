//! The replay sizes a growable index once from the records a switch copied
//! (`Index::reserve`): the estimate, taken 1/16 of the way through them,
//! is close to their number, and a log that a switch did not write asks for
//! nothing.

use twinkv_core::{Config, FixedIndex, Geometry, Index, IndexFull, RamRegion, Store};

/// A `FixedIndex` that records the number of entries it held and the
/// additional count at each `reserve` call; every other call is forwarded.
struct Recording {
    inner: FixedIndex<4096>,
    reserves: Vec<(usize, usize)>,
}

impl Index for Recording {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn has_room(&self, additional: usize) -> bool {
        self.inner.has_room(additional)
    }
    fn reserve(&mut self, additional: usize) {
        self.reserves.push((self.inner.len(), additional));
    }
    fn clear(&mut self) {
        self.inner.clear()
    }
    fn positions(&self) -> usize {
        self.inner.positions()
    }
    fn entry(&self, pos: usize) -> Option<(u32, u32)> {
        self.inner.entry(pos)
    }
    fn set_offset(&mut self, pos: usize, offset: u32) {
        self.inner.set_offset(pos, offset)
    }
    fn next_match(&self, hash: u32, cursor: &mut usize) -> Option<(usize, u32)> {
        self.inner.next_match(hash, cursor)
    }
    fn insert(&mut self, hash: u32, offset: u32) -> Result<(), IndexFull> {
        self.inner.insert(hash, offset)
    }
    fn remove(&mut self, pos: usize) {
        self.inner.remove(pos)
    }
}

fn recording() -> Recording {
    Recording {
        inner: FixedIndex::new(),
        reserves: Vec::new(),
    }
}

const KEYS: u32 = 2000;

fn geo() -> Geometry {
    Geometry {
        size: 256 * 1024,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 4096,
    }
}

fn config() -> Config {
    Config::new(0x5123).with_limits(32, 64)
}

/// Both regions after `KEYS` keys of varied key and value lengths (then a
/// compaction if `compact`), and the reserve calls of a reopen.
fn reopen_reserves(compact: bool) -> Vec<(usize, usize)> {
    let len = RamRegion::<&mut [u8]>::storage_len_for(&geo());
    let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
    let mut scratch = [0u8; 256];
    {
        let ra = RamRegion::new(&mut a[..], geo()).unwrap();
        let rb = RamRegion::new(&mut b[..], geo()).unwrap();
        let mut s = Store::open(ra, rb, recording(), &mut scratch[..], config()).unwrap();
        for i in 0..KEYS {
            // Keys of 4 to 12 bytes, values of 0 to 60: records of 12 to 80.
            let key = format!("k{i:0w$}", w = 3 + (i as usize * 7) % 9);
            let value = vec![i as u8; (i as usize * 13) % 61];
            s.set(key.as_bytes(), &value).unwrap();
        }
        if compact {
            s.compact().unwrap();
        }
    }
    let ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
    let rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
    let s = Store::open(ra, rb, recording(), &mut scratch[..], config()).unwrap();
    assert_eq!(s.len(), KEYS as usize);
    s.into_parts().2.reserves
}

#[test]
fn a_compacted_log_reserves_about_its_number_of_keys_once() {
    let calls = reopen_reserves(true);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (held, additional) = calls[0];
    assert!(held >= 63 && held < KEYS as usize / 8, "{calls:?}");
    let estimate = (held + additional) as f64;
    let ratio = estimate / f64::from(KEYS);
    assert!(
        (0.8..=1.2).contains(&ratio),
        "estimate {estimate} of {KEYS}"
    );
}

#[test]
fn a_log_no_switch_wrote_reserves_nothing() {
    let calls = reopen_reserves(false);
    assert!(
        calls.iter().all(|&(_, additional)| additional == 0),
        "{calls:?}"
    );
}
