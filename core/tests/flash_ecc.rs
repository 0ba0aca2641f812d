//! Read errors on a flash with ECC (FORMAT.md §10, "Read errors"), beyond
//! the power-cut suites (`power_cut::flash::ecc_*`, `erase_ahead`): an
//! unreadable unit that no crash can leave torn is damage, reported per the
//! damage rules while the rest is kept; a read error during `get` is
//! `Corrupted`; and a region that does not declare its read errors
//! unreadable returns them, as before. Each through the blocking and the
//! async store (`AsyncFlashRegion` on `SplitFlash`).

use std::cell::RefCell;

use twinkv_core::testkit::asynch::{block_on, Front, SplitFlash};
use twinkv_core::testkit::flash::{config, open, open_as, sim, CellFlash, FlashStore, Sim};
use twinkv_core::testkit::KvStore;
use twinkv_core::{
    AsyncFlashRegion, AsyncStore, Error, FlashError, SharedFlashRegion, SimError, Store, TearMode,
};

const SIZE: u32 = 2048;
const KEYS: u8 = 6;

fn key(k: u8) -> Vec<u8> {
    format!("ecc-key-{k}").into_bytes()
}

fn value(k: u8, n: u8) -> Vec<u8> {
    vec![b'a' + k + n; 5 + usize::from(k)]
}

/// A flash in ECC mode holding keys `0..KEYS` (value `n = 0`), then key 0
/// written again, so that no key's record is the last of the log.
fn filled<const W: usize>() -> RefCell<Sim<W>> {
    let mut f = sim::<W>(SIZE);
    f.set_ecc(true);
    let flash = RefCell::new(f);
    {
        let mut s = open::<W>(&flash, config()).unwrap();
        for k in 0..KEYS {
            s.set(&key(k), &value(k, 0)).unwrap();
        }
        s.set(&key(0), &value(0, 1)).unwrap();
    }
    flash
}

/// Offset of the (only) record holding `k`'s key bytes in the flash.
fn key_offset<const W: usize>(flash: &RefCell<Sim<W>>, k: u8) -> u32 {
    let bytes = flash.borrow().as_bytes().to_vec();
    let needle = key(k);
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("key stored");
    at as u32
}

fn get(s: &mut impl KvStore, k: u8) -> Result<Option<Vec<u8>>, String> {
    let mut buf = [0u8; 64];
    match s.get(&key(k), &mut buf) {
        Ok(v) => Ok(v.map(|n| buf[..n].to_vec())),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn expect(k: u8) -> Result<Option<Vec<u8>>, String> {
    Ok(Some(value(k, u8::from(k == 0))))
}

/// A committed record before the end of the log whose key unit fails its
/// ECC is mid-log damage: open succeeds, that key is `Corrupted`, and the
/// damage survives a switch until overwritten. When the unit also holds the
/// record's header (W ≥ 16 here), the record's key is unknown: a gap, which
/// also reports every key whose newest record precedes it (key 1; key 0 was
/// written again after it). Every other key reads.
fn unreadable_committed_record<const W: usize>(front: Front) {
    let flash = filled::<W>();
    let at = key_offset(&flash, 2);
    // Short header: 8 bytes before the key.
    let gap = (at - 8) / W as u32 == at / W as u32;
    assert_eq!(gap, W >= 16);
    flash.borrow_mut().corrupt_ecc(at).unwrap();
    let ctx = format!("{front:?} W={W}");
    let mut s =
        open_as::<W>(front, &flash, config()).unwrap_or_else(|e| panic!("{ctx}: open: {e:?}"));
    assert!(s.stats().damage_found_at_open > 0, "{ctx}: damage reported");
    assert!(!s.stats().dirty_tail, "{ctx}: not taken for a torn tail");
    let corrupted = |k: u8| k == 2 || (gap && k == 1);
    for k in 0..KEYS {
        if corrupted(k) {
            assert_eq!(get(&mut s, k), Err("Corrupted".into()), "{ctx}: key {k}");
        } else {
            assert_eq!(get(&mut s, k), expect(k), "{ctx}: key {k}");
        }
    }
    // Writes go on; a switch carries the damage (damaged records).
    s.set(&key(5), &value(5, 2)).unwrap();
    s.compact().unwrap();
    drop(s);
    let mut s = open_as::<W>(front, &flash, config()).unwrap();
    for k in (0..KEYS).filter(|&k| corrupted(k)) {
        assert_eq!(
            get(&mut s, k),
            Err("Corrupted".into()),
            "{ctx}: key {k} after a switch"
        );
    }
    for k in [0, 3, 4] {
        assert_eq!(get(&mut s, k), expect(k), "{ctx}: key {k} after a switch");
    }
    assert_eq!(get(&mut s, 5), Ok(Some(value(5, 2))));
    s.set(&key(2), b"new").unwrap();
    assert_eq!(get(&mut s, 2), Ok(Some(b"new".to_vec())));
    assert!(flash.borrow().ecc_errors() > 0);
}

#[test]
fn unreadable_committed_record_is_damage_and_the_rest_is_kept() {
    for front in Front::BOTH {
        unreadable_committed_record::<8>(front);
        unreadable_committed_record::<16>(front);
        unreadable_committed_record::<32>(front);
    }
}

/// A record that becomes unreadable while the store is open: `get` answers
/// `Corrupted` (a clear error, no panic, never an older value), other keys
/// and writes work.
fn unreadable_after_open<const W: usize>(front: Front) {
    let flash = filled::<W>();
    let mut s = open_as::<W>(front, &flash, config()).unwrap();
    let at = key_offset(&flash, 3);
    flash.borrow_mut().corrupt_ecc(at).unwrap();
    let ctx = format!("{front:?} W={W}");
    assert_eq!(get(&mut s, 3), Err("Corrupted".into()), "{ctx}");
    assert_eq!(s.contains_key(&key(3)), Err(Error::Corrupted), "{ctx}");
    assert_eq!(get(&mut s, 4), expect(4), "{ctx}");
    s.set(&key(1), &value(1, 3)).unwrap();
    assert_eq!(get(&mut s, 1), Ok(Some(value(1, 3))), "{ctx}");
}

#[test]
fn read_error_during_get_is_corrupted() {
    for front in Front::BOTH {
        unreadable_after_open::<8>(front);
        unreadable_after_open::<16>(front);
        unreadable_after_open::<32>(front);
    }
}

/// A cut while appending leaves the last record torn and unreadable: a
/// dirty tail, not damage, and never a failure of open.
fn torn_last_record<const W: usize>(front: Front) {
    let mut torn = 0;
    for c in 0..3 * W as u64 {
        let flash = filled::<W>();
        let ctx = format!("{front:?} W={W} c={c}");
        let ok = {
            let mut s = open_as::<W>(front, &flash, config()).unwrap();
            flash
                .borrow_mut()
                .cut_after_bytes(c, TearMode::RandomBits, c);
            s.set(&key(4), &[9; 30]).is_ok()
        };
        if ok {
            continue;
        }
        flash.borrow_mut().restore_power();
        let errors = flash.borrow().ecc_errors();
        let mut s =
            open_as::<W>(front, &flash, config()).unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
        torn += u64::from(flash.borrow().ecc_errors() > errors);
        assert_eq!(s.stats().damage_found_at_open, 0, "{ctx}");
        for k in 0..KEYS {
            assert_eq!(get(&mut s, k), expect(k), "{ctx}: key {k}");
        }
        s.set(&key(4), b"after").unwrap();
    }
    assert!(torn > 0, "{front:?} W={W}: no read failed");
}

#[test]
fn torn_last_record_is_a_dirty_tail() {
    for front in Front::BOTH {
        torn_last_record::<8>(front);
        torn_last_record::<16>(front);
        torn_last_record::<32>(front);
    }
}

/// Without `with_unreadable`, a region returns the flash's read errors:
/// open fails with the ECC error, as before this mode existed.
#[test]
fn read_errors_are_returned_unless_declared_unreadable() {
    let flash = filled::<16>();
    let at = key_offset(&flash, 2);
    flash.borrow_mut().corrupt_ecc(at).unwrap();
    let (a, b) = SharedFlashRegion::halves(&flash, 0, SIZE).unwrap();
    let cfg = config();
    let scratch = vec![0; FlashStore::<16>::scratch_len(&cfg, 16)];
    let r = Store::open(a, b, twinkv_core::FixedIndex::<32>::new(), scratch, cfg);
    assert_eq!(
        r.err(),
        Some(Error::Region(FlashError::Flash(SimError::Ecc {
            offset: at / 16 * 16
        })))
    );
}

/// The same for `AsyncFlashRegion`: without `with_unreadable` the async
/// store's open fails with the ECC error.
#[test]
fn async_read_errors_are_returned_unless_declared_unreadable() {
    let flash = filled::<16>();
    let at = key_offset(&flash, 2);
    flash.borrow_mut().corrupt_ecc(at).unwrap();
    let half = SIZE / 2;
    let region = |offset| AsyncFlashRegion::new(SplitFlash(CellFlash(&flash)), offset, half);
    let (a, b) = (region(0).unwrap(), region(half).unwrap());
    let cfg = config();
    let scratch = vec![0; FlashStore::<16>::scratch_len(&cfg, 16)];
    let r = block_on(AsyncStore::open(
        a,
        b,
        twinkv_core::FixedIndex::<32>::new(),
        scratch,
        cfg,
    ));
    assert_eq!(
        r.err(),
        Some(Error::Region(FlashError::Flash(SimError::Ecc {
            offset: at / 16 * 16
        })))
    );
}

/// The read-back of an append that fails its ECC (the unit programmed was
/// damaged): the write is never acknowledged from that record; the log is
/// sealed and the write folded into a switch, which succeeds.
fn read_back_fails<const W: usize>(front: Front) {
    let flash = filled::<W>();
    let ctx = format!("{front:?} W={W}");
    let mut s = open_as::<W>(front, &flash, config()).unwrap();
    let before = s.stats().switches;
    // Region A is active: the next record goes after its last programmed byte.
    let next = {
        let f = flash.borrow();
        let a = &f.as_bytes()[..(SIZE / 2) as usize];
        let last = a.iter().rposition(|&b| b != 0xFF).unwrap() as u32;
        (last / W as u32 + 1) * W as u32
    };
    flash.borrow_mut().corrupt_ecc(next).unwrap();
    s.set(&key(1), &value(1, 4)).unwrap();
    assert_eq!(
        s.stats().switches,
        before + 1,
        "{ctx}: folded into a switch"
    );
    assert_eq!(get(&mut s, 1), Ok(Some(value(1, 4))), "{ctx}");
    drop(s);
    let mut s = open_as::<W>(front, &flash, config()).unwrap();
    for k in 0..KEYS {
        let want = if k == 1 {
            Ok(Some(value(1, 4)))
        } else {
            expect(k)
        };
        assert_eq!(get(&mut s, k), want, "{ctx}: key {k} after reopen");
    }
}

#[test]
fn read_back_error_after_append_folds_the_write_into_a_switch() {
    for front in Front::BOTH {
        read_back_fails::<8>(front);
        read_back_fails::<16>(front);
        read_back_fails::<32>(front);
    }
}
