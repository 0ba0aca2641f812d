//! Updates (FORMAT.md §4.3, §6.5): which writes are stored as updates, and
//! when an open may take an update's claim instead of reading the older
//! record's key. The claim is taken only where it cannot name another key:
//! past the commit's data end (a switch copies updates claimed against the
//! index of the region it copies from), with no damage that could cover the
//! key, and with one index entry of the key's 32-bit hash. Each test below
//! builds the state in which taking it elsewhere would lose a key.

use twinkv_core::format::record::{Kind, UPDATE_CODE};
use twinkv_core::format::{key_hash, short_hash};
use twinkv_core::testkit::*;
use twinkv_core::{Config, Error, FixedIndex, Op, RamError, Store};

/// W = 4: commit marker at 60, data from 84 (FORMAT.md §1).
const COMMIT: usize = 60;
const D: usize = 84;

/// Two keys of equal length whose CRC-32C (the index's 32-bit key hash,
/// and so the 8-bit hash of their headers) is the same, 0x3430_BDFA.
const J: &[u8] = b"yokzxonb";
const K: &[u8] = b"xyphecky";

fn config() -> Config {
    Config::new(0x0DA7)
        .with_limits(8, 24)
        .with_erase_ahead(false)
}

fn get(s: &mut TestStore<'_, '_>, k: &[u8]) -> Result<Option<Vec<u8>>, Error<RamError>> {
    let mut buf = [0u8; 32];
    s.get(k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()))
}

/// (offset, kind number, key) of each record from `D` to the first erased
/// slot (W = 4, short form).
fn records(bytes: &[u8]) -> Vec<(usize, u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = D;
    while at + 8 <= bytes.len() && bytes[at..at + 8] != [0xFF; 8] {
        let word = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let key_len = ((word >> 5) & 0x3F) as usize;
        let value_len = ((word >> 11) & 0x1FFF) as usize;
        out.push((
            at,
            word as u8 & 0x0F,
            bytes[at + 8..at + 8 + key_len].to_vec(),
        ));
        at += (8 + key_len + value_len).div_ceil(4) * 4;
    }
    out
}

/// The kind numbers of the records of `key`, oldest first.
fn codes_of(bytes: &[u8], key: &[u8]) -> Vec<u8> {
    records(bytes)
        .into_iter()
        .filter(|(_, _, k)| k == key)
        .map(|(_, c, _)| c)
        .collect()
}

#[test]
fn the_two_keys_share_their_32_bit_hash() {
    assert_ne!(J, K);
    assert_eq!(key_hash(J), key_hash(K));
    assert_eq!(short_hash(key_hash(J)), short_hash(key_hash(K)));
}

/// A single set of a key whose newest record is a set with a value as long
/// (so stored in as many bytes) is an update; everything else a set: the
/// first set of a key, a value of another length (even one stored in as
/// many bytes: twinkv writes updates for equal lengths only), a set after a
/// delete, a set inside a batch.
#[test]
fn only_a_single_set_over_a_set_of_equal_length_is_an_update() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    {
        let mut s = rig.open().unwrap();
        s.set(b"a", b"0001").unwrap(); // a new key: set
        s.set(b"a", b"0002").unwrap(); // as long: update
        s.set(b"a", b"03").unwrap(); // shorter: set
        s.set(b"a", b"04").unwrap(); // update
        s.set(b"a", b"0").unwrap(); // shorter, 12 B stored as before: set
        s.set(b"a", b"5").unwrap(); // update
        s.remove(b"a").unwrap(); // delete
        s.set(b"a", b"07").unwrap(); // after a delete: set
        s.apply(&[Op::Set(b"a", b"08"), Op::Set(b"b", b"1")])
            .unwrap(); // in a batch: sets
        s.set(b"a", b"09").unwrap(); // after the batch's set: update
        assert_eq!(s.stats().switches, 0);
    }
    let (a, _) = rig.snapshot();
    let (set, del, upd) = (Kind::Set.code(), Kind::Delete.code(), UPDATE_CODE);
    assert_eq!(
        codes_of(&a, b"a"),
        [set, upd, set, upd, set, upd, del, set, set, upd]
    );
    let mut s = rig.open().unwrap();
    assert_eq!(get(&mut s, b"a").unwrap().unwrap(), b"09");
    assert_eq!(get(&mut s, b"b").unwrap().unwrap(), b"1");
}

/// What a store reads and counts: every key's answer, and the live
/// counters, which an open rebuilds from the log.
fn state(s: &mut TestStore<'_, '_>, keys: &[&[u8]]) -> (Vec<Option<Vec<u8>>>, u32, usize) {
    let answers = keys.iter().map(|k| get(s, k).unwrap()).collect();
    let st = s.stats();
    (answers, st.live_bytes, st.live_keys)
}

/// A switch copies an update with the rest, claimed against the index of the
/// region it was copied from: in the target, the only entry of its hash may
/// be another key's copy (the copy puts it after that key's record). Both
/// ways round, both keys survive the switch, a reopen and a second switch,
/// and the counters reopen as they were.
#[test]
fn copied_updates_are_not_taken_on_their_claim() {
    let mut after_the_other = 0;
    for (first, second) in [(J, K), (K, J)] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 4096, 4, config());
        let before;
        {
            let mut s = rig.open().unwrap();
            s.set(second, b"s1").unwrap();
            s.set(first, b"f1").unwrap();
            s.set(second, b"s2").unwrap(); // an update: both keys indexed
            s.compact().unwrap();
            assert_eq!(s.stats().switches, 1);
            before = state(&mut s, &[first, second]);
            assert_eq!(before.0, [Some(b"f1".to_vec()), Some(b"s2".to_vec())]);
        }
        let (_, b) = rig.snapshot();
        let recs = records(&b);
        let at = |key: &[u8]| recs.iter().position(|(_, _, k)| k == key).unwrap();
        assert_eq!(
            recs[at(second)].1,
            UPDATE_CODE,
            "the update is copied as it is"
        );
        after_the_other += usize::from(at(second) > at(first));
        let mut s = rig.open().unwrap();
        assert_eq!(state(&mut s, &[first, second]), before);
        s.compact().unwrap();
        drop(s);
        let mut s = rig.open().unwrap();
        assert_eq!(state(&mut s, &[first, second]), before);
    }
    assert!(
        after_the_other > 0,
        "no order copied the update after the other key"
    );
}

/// Damage that could cover the key: a key's older set damaged, another key
/// of the same hash written between, then the update. The replay's only
/// entry of the hash is the other key's; taken on the claim, that key would
/// be lost. The update is read as a set instead: both keys keep their
/// values, the damage is reported.
#[test]
fn updates_are_not_taken_on_their_claim_when_damage_could_cover_the_key() {
    let power = Power::default();
    let mut rig = Rig::new(&power, 4096, 4, config());
    {
        let mut s = rig.open().unwrap();
        s.set(K, b"k1").unwrap();
        s.set(J, b"j1").unwrap();
        s.set(K, b"k2").unwrap();
    }
    let (a, _) = rig.snapshot();
    let recs = records(&a);
    assert_eq!(
        recs.iter().map(|r| r.1).collect::<Vec<_>>(),
        [1, 1, UPDATE_CODE]
    );
    // A bit of K's first value flipped: its record fails its check.
    rig.a
        .ram
        .flip_bit((recs[0].0 + 8 + K.len()) as u32, 0)
        .unwrap();
    let mut s = rig.open().unwrap();
    assert!(s.stats().damage_found_at_open > 0);
    assert_eq!(get(&mut s, J).unwrap().unwrap(), b"j1");
    assert_eq!(get(&mut s, K).unwrap().unwrap(), b"k2");
    assert_eq!(s.stats().live_keys, 2);
}

/// A region read by salvage as if its commit said "nothing copied" (no
/// commit anywhere) may be a switch's copy: its updates are not taken on
/// their claim. Both orders, as above; every key of the copy reads.
#[test]
fn salvage_of_an_uncommitted_copy_takes_no_claim() {
    let mut after_the_other = 0;
    for (first, second) in [(J, K), (K, J)] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 4096, 4, config());
        {
            let mut s = rig.open().unwrap();
            s.set(second, b"s1").unwrap();
            s.set(first, b"f1").unwrap();
            s.set(second, b"s2").unwrap();
            s.compact().unwrap();
        }
        // Neither region committed: B's commit erased, A's flipped.
        rig.b.ram.data_mut()[COMMIT..COMMIT + 12].fill(0xFF);
        rig.a.ram.flip_bit(COMMIT as u32, 0).unwrap();
        let (_, b) = rig.snapshot();
        let recs = records(&b);
        let at = |key: &[u8]| recs.iter().position(|(_, _, k)| k == key).unwrap();
        after_the_other += usize::from(at(second) > at(first));
        let scratch = vec![0u8; 4096];
        let mut s = Store::open_salvage(
            &mut rig.a,
            &mut rig.b,
            FixedIndex::<64>::new(),
            scratch,
            config(),
        )
        .unwrap();
        let st = s.stats();
        assert!(st.salvaged);
        assert_eq!(st.generation, 2, "the copy is read");
        let mut buf = [0u8; 32];
        let n = s.get(first, &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], b"f1");
        let n = s.get(second, &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], b"s2");
        assert_eq!(s.stats().live_keys, 2);
    }
    assert!(
        after_the_other > 0,
        "no order copied the update after the other key"
    );
}

/// Past the data end, with one entry of the hash and no damage, the claim
/// is taken, and what the open rebuilds is what the store held: the same
/// answers and counters after many updates of two keys of one hash (whose
/// claims are not taken: two entries) and of others, across switches and
/// reopens, in order and not (memory-mapped files).
#[test]
fn updates_reopen_to_the_state_the_store_held() {
    for in_order in [true, false] {
        let power = Power::default();
        let mut rig = Rig::new(&power, 2048, 4, config());
        rig.set_in_order(in_order);
        let keys: Vec<Vec<u8>> = [J.to_vec(), K.to_vec()]
            .into_iter()
            .chain((0..6).map(|i| format!("key{i}").into_bytes()))
            .collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        for round in 0..40u32 {
            let want;
            {
                let mut s = rig.open().unwrap();
                for (i, k) in keys.iter().enumerate() {
                    // Every third round a value of another stored length.
                    let v = if round % 3 == 2 {
                        format!("{i}:{round:04}+")
                    } else {
                        format!("{i}:{round:04}")
                    };
                    s.set(k, v.as_bytes()).unwrap();
                }
                if round % 7 == 3 {
                    s.remove(&keys[2 + (round as usize % 6)]).unwrap();
                }
                want = state(&mut s, &refs);
            }
            let mut s = rig.open().unwrap();
            assert_eq!(
                state(&mut s, &refs),
                want,
                "in order {in_order}, round {round}"
            );
            assert_eq!(s.stats().damage_found_at_open, 0);
        }
        let s = rig.open().unwrap();
        assert!(s.stats().generation > 3, "the rounds switched");
    }
}
