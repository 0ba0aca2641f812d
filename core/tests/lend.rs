//! A region that lends its bytes (`Region::lend`, as the host's
//! memory-mapped files do) is read in place by the replay at open and by the
//! index's key comparisons. These tests hold that path to the one through
//! `Region::read`: over the same bytes, intact or damaged at every byte of
//! the log, both opens give the same outcome, the same statistics and the
//! same answer for every key, `Corrupted` included.

use twinkv_core::{
    Config, Error, FixedIndex, Geometry, MappedRegion, Op, RamError, RamRegion, Region, RegionId,
    Store,
};

/// A `RamRegion` that lends its bytes; every other call is forwarded.
struct Lending<'a>(RamRegion<&'a mut [u8]>);

impl Region for Lending<'_> {
    type Error = RamError;
    fn geometry(&self) -> Geometry {
        self.0.geometry()
    }
    fn persists_in_order(&self) -> bool {
        self.0.persists_in_order()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), RamError> {
        self.0.read(offset, buf)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), RamError> {
        self.0.program(offset, data)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamError> {
        self.0.erase(from, to)
    }
    fn sync(&mut self) -> Result<(), RamError> {
        self.0.sync()
    }
    fn is_erased(&mut self, from: u32, to: u32) -> Result<bool, RamError> {
        self.0.is_erased(from, to)
    }
    fn lend(&self) -> Option<&[u8]> {
        Some(self.0.as_bytes())
    }
}

impl MappedRegion for Lending<'_> {
    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

const SIZE: u32 = 4096;
const KEYS: u32 = 12;

fn geo() -> Geometry {
    Geometry {
        size: SIZE,
        read_unit: 1,
        write_unit: 4,
        erase_unit: 512,
    }
}

fn config() -> Config {
    Config::new(0x1E4D).with_limits(16, 24)
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i}").into_bytes()
}

/// A store on two fresh RAM regions (`in_order` as given) through
/// `script`: the regions' storage, and the active region after it.
fn stored(in_order: bool, script: impl FnOnce(&mut RamStore<'_>)) -> (Vec<u8>, Vec<u8>, RegionId) {
    let len = RamRegion::<&mut [u8]>::storage_len_for(&geo());
    let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
    let active = {
        let mut ra = RamRegion::new(&mut a[..], geo()).unwrap();
        let mut rb = RamRegion::new(&mut b[..], geo()).unwrap();
        ra.set_in_order(in_order);
        rb.set_in_order(in_order);
        let mut scratch = [0u8; 256];
        let mut s =
            Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config()).unwrap();
        script(&mut s);
        s.stats().active
    };
    (a, b, active)
}

type RamStore<'a> = Store<RamRegion<&'a mut [u8]>, FixedIndex<64>, &'a mut [u8]>;

/// Storage of both regions after a history of sets, overwrites, deletes,
/// batches and syncs (no switch), with `in_order` as given.
fn history(in_order: bool) -> (Vec<u8>, Vec<u8>) {
    let (a, b, _) = stored(in_order, |s| {
        for round in 0..3u32 {
            for i in 0..KEYS {
                let v = format!("v{i}.{round}");
                s.set(&key(i), v.as_bytes()).unwrap();
            }
            s.remove(&key(round)).unwrap();
            let (k1, k2) = (key(KEYS + round), key(round + 4));
            s.apply(&[Op::Set(&k1, b"batched"), Op::Delete(&k2)])
                .unwrap();
            s.sync().unwrap();
        }
        assert_eq!(s.stats().switches, 0, "the history must stay in one log");
    });
    (a, b)
}

/// Everything an open of `a` and `b` shows: its error, or its statistics
/// and every key's answer through `get` and `get_ref`. Only the lent open
/// uses a covering marker, so the statistics leave out `uncovered_bytes`
/// ([`uncovered`] reads it).
fn outcome<R: MappedRegion<Error = RamError>>(ra: R, rb: R) -> String {
    let mut scratch = [0u8; 256];
    let mut s = match Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config()) {
        Ok(s) => s,
        Err(e) => return format!("open: {e:?}"),
    };
    let stats = twinkv_core::Stats {
        uncovered_bytes: 0,
        ..s.stats()
    };
    let mut out = format!("{stats:?} len {}\n", s.len());
    for i in 0..KEYS + 3 {
        let k = key(i);
        let mut buf = [0u8; 32];
        let got: Result<Option<Vec<u8>>, Error<RamError>> =
            s.get(&k, &mut buf).map(|o| o.map(|n| buf[..n].to_vec()));
        let by_ref = s.get_ref(&k).map(|o| o.map(<[u8]>::to_vec));
        out += &format!("{i}: {got:?} {by_ref:?} {:?}\n", s.contains_key(&k));
    }
    out
}

/// `Stats::uncovered_bytes` and `used_bytes` after an open of `a` and `b`
/// (regions not in order), lent or not.
fn uncovered(a: &[u8], b: &[u8], lend: bool) -> (u32, u32) {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    let mut ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
    let mut rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
    ra.set_in_order(false);
    rb.set_in_order(false);
    let mut scratch = [0u8; 256];
    let st = if lend {
        let s = Store::open(
            Lending(ra),
            Lending(rb),
            FixedIndex::<64>::new(),
            &mut scratch[..],
            config(),
        );
        s.unwrap().stats()
    } else {
        let s = Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config());
        s.unwrap().stats()
    };
    (st.uncovered_bytes, st.used_bytes)
}

fn both(a: &[u8], b: &[u8], in_order: bool) -> (String, String) {
    let open = |a: &mut Vec<u8>, b: &mut Vec<u8>, lend: bool| {
        let mut ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
        let mut rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
        ra.set_in_order(in_order);
        rb.set_in_order(in_order);
        if lend {
            outcome(Lending(ra), Lending(rb))
        } else {
            outcome(ra, rb)
        }
    };
    let (mut a1, mut b1) = (a.to_vec(), b.to_vec());
    let (mut a2, mut b2) = (a.to_vec(), b.to_vec());
    (open(&mut a1, &mut b1, false), open(&mut a2, &mut b2, true))
}

/// Intact, then with one bit flipped at every byte of the log (and a byte
/// zeroed, a byte erased), on regions in order and not: the two paths agree
/// every time, and the damage is seen (some opens report it).
#[test]
fn lent_reads_answer_as_copied_reads_intact_and_damaged() {
    for in_order in [false, true] {
        let (a, b) = history(in_order);
        let (copied, lent) = both(&a, &b, in_order);
        assert_eq!(copied, lent, "intact, in order {in_order}");
        assert!(copied.contains("Ok(Some(")); // values are there
        damage_every_byte(&a, &b, in_order);
    }
}

/// Changes every byte of `a`'s log (and 8 past it) 4 ways, one at a time:
/// the copied and the lent opens must agree every time, and the damage
/// must be seen (some opens report it).
fn damage_every_byte(a: &[u8], b: &[u8], in_order: bool) {
    let end = a[84..SIZE as usize]
        .iter()
        .rposition(|&x| x != 0xFF)
        .map_or(84, |p| 84 + p + 1);
    let mut corrupted = 0;
    for pos in 84..end + 8 {
        for change in [|x: u8| x ^ 0x10, |x: u8| x ^ 0x01, |_| 0x00, |_| 0xFF] {
            let mut a = a.to_vec();
            a[pos] = change(a[pos]);
            let (copied, lent) = both(&a, b, in_order);
            assert_eq!(copied, lent, "byte {pos}, in order {in_order}");
            corrupted += usize::from(copied.contains("Corrupted"));
        }
    }
    assert!(corrupted > 100, "damage must be reported: {corrupted}");
}

/// Storage of both regions after [`history`]'s writes, a compaction and a
/// few writes after it, regions not in order: the active region begins with
/// the switch's copy and its covering marker (FORMAT.md §6.4). Returns the
/// active region first.
fn switched() -> (Vec<u8>, Vec<u8>) {
    let (a, b, active) = stored(false, |s| {
        for round in 0..3u32 {
            for i in 0..KEYS {
                s.set(&key(i), format!("v{i}.{round}").as_bytes()).unwrap();
            }
            s.remove(&key(round)).unwrap();
        }
        s.compact().unwrap();
        s.set(&key(1), b"after").unwrap();
        s.sync().unwrap();
        assert_eq!(s.stats().switches, 1);
    });
    match active {
        RegionId::A => (a, b),
        RegionId::B => (b, a),
    }
}

/// The covering marker's record: its offset and bytes (sync marker, previous
/// sync point the data start), found as the last record before the commit's
/// data end of the active region `r`.
fn covering_marker(r: &[u8]) -> (usize, twinkv_core::format::Seal) {
    use twinkv_core::format::record::{self, Kind, Slot};
    use twinkv_core::format::{Layout, Marker, MarkerState, RegionHeader, Seal, HEADER_LEN};
    let h = RegionHeader::decode(r[..HEADER_LEN].try_into().unwrap()).unwrap();
    let seal = Seal {
        store_id: h.store_id,
        generation: h.generation,
    };
    let layout = Layout::new(4);
    let slot = layout.slot(Marker::Commit) as usize;
    let MarkerState::Valid(end) =
        Marker::Commit.read(seal, &r[slot..slot + layout.marker_slot as usize])
    else {
        panic!("no commit");
    };
    let at = (end - record::stored_len(0, 8, 4).unwrap()) as usize;
    let Slot::Header(m) = record::decode_header(&r[at..], 16, 24) else {
        panic!("no record at {at}");
    };
    assert_eq!(m.kind, Kind::SyncMarker);
    assert!(record::verify(&r[at..], &m, seal));
    let v = twinkv_core::format::area::SyncMarker::from_value(&r[at + 8..at + 16]).unwrap();
    assert_eq!(v.prev_sync, layout.data_start());
    assert!(v.covers(r, at as u32, layout.data_start()));
    (at, seal)
}

/// After a switch on regions not in order, the lent replay takes the copied
/// span on its covering marker (FORMAT.md §6.4) and the copied one (no
/// lending, so no marker check) walks it record by record: intact, then with
/// every byte of the active log changed 4 ways, marker included, both give
/// the same outcome, statistics (damage found at open) included.
#[test]
fn lent_reads_answer_as_copied_reads_under_a_covering_marker() {
    let (active, other) = switched();
    let (at, _) = covering_marker(&active);
    let (copied, lent) = both(&active, &other, false);
    assert_eq!(copied, lent, "intact");
    assert!(
        active[at + 16..at + 20] != [0xFF; 4],
        "records after the commit"
    );
    // Only the lent open takes the span on the marker: what it leaves to
    // check record by record starts at the marker.
    let (lent, used) = uncovered(&active, &other, true);
    assert_eq!(lent, used + 84 - at as u32, "lent");
    assert_eq!(uncovered(&active, &other, false), (used, used), "copied");
    damage_every_byte(&active, &other, false);
}

/// The lent replay does take the span on its coverage: a value byte changed
/// together with a coverage recomputed for it is not found at open (the
/// copied replay finds it), though reads still check the record they read
/// and answer `Corrupted`.
#[test]
fn a_matching_coverage_spares_the_record_checks_at_open() {
    use twinkv_core::format::record::{self, Kind};
    let (mut active, other) = switched();
    let (at, seal) = covering_marker(&active);
    // The last value byte of the first record (a copied set).
    let Some(twinkv_core::format::record::Slot::Header(h)) =
        Some(record::decode_header(&active[84..], 16, 24))
    else {
        panic!("no first record");
    };
    assert_eq!(h.kind, Kind::Set);
    active[84 + h.unaligned_len() as usize - 1] ^= 0x20;
    let coverage = twinkv_core::format::checks::CRC32C_PUBLIC.checksum(&active[84..at]);
    let mut rec = [0u8; 16];
    let value = record::sync_value(84, coverage);
    let n = record::encode(&mut rec, seal, Kind::SyncMarker, 0, &[], &value, 4).unwrap();
    active[at..at + n as usize].copy_from_slice(&rec[..n as usize]);
    let (copied, lent) = both(&active, &other, false);
    let (uncovered, used) = uncovered(&active, &other, true);
    assert!(uncovered < used, "the span is taken on the forged coverage");
    assert!(lent.contains("damage_found_at_open: 0"), "{lent}");
    assert!(!copied.contains("damage_found_at_open: 0"), "{copied}");
    assert!(lent.contains("Corrupted"), "{lent}");
}

/// Updates (FORMAT.md §6.5) on the lent path: two keys of one 32-bit hash,
/// one of them updated, then either a switch (the update is copied after the
/// other key's record) or damage to the updated key's older set (the replay's
/// only entry of the hash is then the other key's). Taken on its claim, the
/// update would replace the other key; the lent open, like the copied one,
/// keeps both.
#[test]
fn lent_updates_of_two_keys_of_one_hash_keep_both() {
    let (j, k): (&[u8], &[u8]) = (b"yokzxonb", b"xyphecky");
    assert_eq!(
        twinkv_core::format::key_hash(j),
        twinkv_core::format::key_hash(k)
    );
    for (switch, in_order) in [(true, false), (true, true), (false, false), (false, true)] {
        let (mut a, mut b, _) = stored(in_order, |s| {
            s.set(k, b"k1").unwrap();
            s.set(j, b"j1").unwrap();
            s.set(k, b"k2").unwrap();
            if switch {
                s.compact().unwrap();
            }
        });
        if !switch {
            // A bit of k's first value: its record fails its check.
            let at = 84 + 8 + k.len();
            a[at] ^= 1;
        }
        let mut ra = RamRegion::with_contents(&mut a[..], geo()).unwrap();
        let mut rb = RamRegion::with_contents(&mut b[..], geo()).unwrap();
        ra.set_in_order(in_order);
        rb.set_in_order(in_order);
        let mut scratch = [0u8; 256];
        let mut s = Store::open(
            Lending(ra),
            Lending(rb),
            FixedIndex::<64>::new(),
            &mut scratch[..],
            config(),
        )
        .unwrap();
        let mut buf = [0u8; 32];
        let case = format!("switch {switch}, in order {in_order}");
        let n = s.get(j, &mut buf).unwrap().expect(&case);
        assert_eq!(&buf[..n], b"j1", "{case}");
        let n = s.get(k, &mut buf).unwrap().expect(&case);
        assert_eq!(&buf[..n], b"k2", "{case}");
        assert_eq!(s.stats().live_keys, 2, "{case}");
        assert_eq!(s.stats().damage_found_at_open > 0, !switch, "{case}");
    }
}
