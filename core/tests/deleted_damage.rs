//! A deletion record damaged while the store is open (the damage model of
//! FORMAT.md §10), in the one case the index keeps a deletion (its key has a
//! damage entry, §6.2): every read that reaches it answers `Corrupted`, as
//! for a damaged value, never "absent": a damaged deletion may hide a value.
//! `get` and `contains_key` agree, through the blocking and the async
//! store. (`get_ref`/`iter_ref`, on mapped regions: host's
//! `tests/damage_files.rs`.)

use std::cell::RefCell;

use twinkv_core::testkit::asynch::Front;
use twinkv_core::testkit::flash::{config, open, open_as, sim, Sim};
use twinkv_core::testkit::KvStore;
use twinkv_core::Error;

const SIZE: u32 = 2048;
const W: usize = 8;

fn key(k: u8) -> Vec<u8> {
    format!("del-key-{k}").into_bytes()
}

/// Keys 0..3 set, then key 1's value damaged at rest: an open records the
/// damage (a damage entry for key 1's hash), and a deletion of key 1 is then
/// kept in the index (it must reach the next region over the damage).
fn filled() -> RefCell<Sim<W>> {
    let flash = RefCell::new(sim::<W>(SIZE));
    {
        let mut s = open::<W>(&flash, config()).unwrap();
        for k in 0..3 {
            s.set(&key(k), b"value").unwrap();
        }
    }
    let value_at = key_at(&flash).0 + key(1).len() as u32;
    flash.borrow_mut().flip_bit(value_at, 2).unwrap();
    flash
}

/// Offsets of key 1's bytes in its first and (if any) second record.
fn key_at(flash: &RefCell<Sim<W>>) -> (u32, Option<u32>) {
    let bytes = flash.borrow().as_bytes().to_vec();
    let needle = key(1);
    let mut hits = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle.as_slice())
        .map(|(at, _)| at as u32);
    let r = (hits.next().unwrap(), hits.next());
    assert_eq!(hits.next(), None, "key 1 is stored at most twice");
    r
}

/// Opens the damaged flash, deletes key 1 and returns the offset of its
/// deletion record (short header: 8 bytes before the key).
fn delete_over_damage<S: KvStore>(s: &mut S, flash: &RefCell<Sim<W>>, ctx: &str) -> u32
where
    S::E: PartialEq + core::fmt::Debug,
{
    let mut buf = [0u8; 32];
    assert_eq!(s.stats().damage_found_at_open, 1, "{ctx}");
    assert_eq!(s.get(&key(1), &mut buf), Err(Error::Corrupted), "{ctx}");
    s.remove(&key(1)).unwrap();
    assert_eq!(s.get(&key(1), &mut buf), Ok(None), "{ctx}");
    assert_eq!(s.contains_key(&key(1)), Ok(false), "{ctx}");
    key_at(flash).1.expect("the deletion holds the key") - 8
}

#[test]
fn damaged_deletion_reads_as_corrupted_not_absent() {
    let len = 8 + key(1).len() as u32;
    for front in Front::BOTH {
        let mut flipped = 0;
        for byte in 0..len {
            for bit in [0u8, 3, 7] {
                let ctx = format!("{front:?} byte {byte} bit {bit}");
                let flash = filled();
                let mut s = open_as::<W>(front, &flash, config()).unwrap();
                let at = delete_over_damage(&mut s, &flash, &ctx);
                let mut buf = [0u8; 32];
                flash.borrow_mut().flip_bit(at + byte, bit).unwrap();
                flipped += 1;
                assert_eq!(s.get(&key(1), &mut buf), Err(Error::Corrupted), "{ctx}");
                assert_eq!(s.contains_key(&key(1)), Err(Error::Corrupted), "{ctx}");
                // The other keys are kept.
                assert_eq!(s.get(&key(0), &mut buf), Ok(Some(5)), "{ctx}");
                assert_eq!(s.contains_key(&key(2)), Ok(true), "{ctx}");
            }
        }
        assert_eq!(flipped, 3 * len);
    }
}
