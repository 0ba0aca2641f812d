//! A region that lends its bytes (`Region::lend`, as the host's
//! memory-mapped files do) is read in place by the replay at open and by the
//! index's key comparisons. These tests hold that path to the one through
//! `Region::read`: over the same bytes, intact or damaged at every byte of
//! the log, both opens give the same outcome, the same statistics and the
//! same answer for every key, `Corrupted` included.

use twinkv_core::{
    Config, Error, FixedIndex, Geometry, MappedRegion, Op, RamError, RamRegion, Region, Store,
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

/// Storage of both regions after a history of sets, overwrites, deletes,
/// batches and syncs (no switch), with `in_order` as given.
fn history(in_order: bool) -> (Vec<u8>, Vec<u8>) {
    let len = RamRegion::<&mut [u8]>::storage_len_for(&geo());
    let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
    {
        let mut ra = RamRegion::new(&mut a[..], geo()).unwrap();
        let mut rb = RamRegion::new(&mut b[..], geo()).unwrap();
        ra.set_in_order(in_order);
        rb.set_in_order(in_order);
        let mut scratch = [0u8; 256];
        let mut s =
            Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config()).unwrap();
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
    }
    (a, b)
}

/// Everything an open of `a` and `b` shows: its error, or its statistics
/// and every key's answer through `get` and `get_ref`.
fn outcome<R: MappedRegion<Error = RamError>>(ra: R, rb: R) -> String {
    let mut scratch = [0u8; 256];
    let mut s = match Store::open(ra, rb, FixedIndex::<64>::new(), &mut scratch[..], config()) {
        Ok(s) => s,
        Err(e) => return format!("open: {e:?}"),
    };
    let mut out = format!("{:?} len {}\n", s.stats(), s.len());
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
        let end = a[84..SIZE as usize]
            .iter()
            .rposition(|&x| x != 0xFF)
            .map_or(84, |p| 84 + p + 1);
        let mut corrupted = 0;
        for pos in 84..end + 8 {
            for change in [|x: u8| x ^ 0x10, |x: u8| x ^ 0x01, |_| 0x00, |_| 0xFF] {
                let mut a = a.clone();
                a[pos] = change(a[pos]);
                let (copied, lent) = both(&a, &b, in_order);
                assert_eq!(copied, lent, "byte {pos}, in order {in_order}");
                corrupted += usize::from(copied.contains("Corrupted"));
            }
        }
        assert!(corrupted > 100, "damage must be reported: {corrupted}");
    }
}
