//! Typed values across the two crates: what the host store's `set_as` writes,
//! core's `get_as` reads on a device, and the other way round. Both store
//! postcard's bytes; this opens the host's region files with core (RAM
//! regions over the same bytes, the host's geometry) to show it.

use serde::{Deserialize, Serialize};
use twinkv_host::core::{Config, FixedIndex, Geometry, RamRegion, Store as CoreStore};
use twinkv_host::{region_paths, Options, Store, ERASE_UNIT, WRITE_UNIT};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Calibration {
    offset: i16,
    gain: f32,
    label: String,
}

const SIZE: u32 = 4096;

fn geometry() -> Geometry {
    Geometry {
        size: SIZE,
        read_unit: 1,
        write_unit: WRITE_UNIT,
        erase_unit: ERASE_UNIT,
    }
}

/// Runs `f` on a core store over the host store's files at `base`, then
/// writes the bytes back.
fn with_core(
    base: &std::path::Path,
    config: Config,
    f: impl FnOnce(&mut CoreStore<RamRegion<&mut [u8]>, FixedIndex<32>, Vec<u8>>),
) {
    let (pa, pb) = region_paths(base);
    let len = RamRegion::<&mut [u8]>::storage_len_for(&geometry());
    let load = |p: &std::path::Path| {
        let mut v = std::fs::read(p).unwrap();
        assert_eq!(v.len(), SIZE as usize);
        v.resize(len, 0);
        v
    };
    let (mut a, mut b) = (load(&pa), load(&pb));
    {
        let ra = RamRegion::with_contents(&mut a[..], geometry()).unwrap();
        let rb = RamRegion::with_contents(&mut b[..], geometry()).unwrap();
        let scratch = vec![0u8; config.scratch_len(WRITE_UNIT)];
        let mut s = CoreStore::open(ra, rb, FixedIndex::new(), scratch, config).unwrap();
        f(&mut s);
    }
    std::fs::write(&pa, &a[..SIZE as usize]).unwrap();
    std::fs::write(&pb, &b[..SIZE as usize]).unwrap();
}

#[test]
fn host_writes_core_reads_and_core_writes_host_reads() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("store");
    let cal = Calibration {
        offset: -3,
        gain: 1.5,
        label: "probe 2".into(),
    };
    let mut host = Store::open(&base, Options::new().region_size(SIZE).limits(16, 64)).unwrap();
    host.set_as("cal", &cal).unwrap();
    host.set_as("name", "kitchen").unwrap();
    let config = host.config();
    host.close().unwrap();

    let moved = Calibration {
        offset: 12,
        ..cal.clone()
    };
    with_core(&base, config, |s| {
        let mut buf = [0u8; 64];
        assert_eq!(
            s.get_as::<Calibration>(b"cal", &mut buf).unwrap(),
            Some(cal.clone())
        );
        assert_eq!(
            s.get_as::<&str>(b"name", &mut buf).unwrap(),
            Some("kitchen")
        );
        s.set_as(b"cal", &moved, &mut buf).unwrap();
        s.set_as(b"boots", &300u32, &mut buf).unwrap();
    });

    let host = Store::open(&base, Options::new()).unwrap();
    assert_eq!(
        host.get_as::<Calibration>("cal").unwrap(),
        Some(moved.clone())
    );
    assert_eq!(host.get_as::<u32>("boots").unwrap(), Some(300));
    assert_eq!(
        host.get_as::<String>("name").unwrap().as_deref(),
        Some("kitchen")
    );
    // Byte for byte: both wrote postcard's encoding.
    assert_eq!(
        host.get("cal").unwrap().unwrap(),
        &postcard::to_allocvec(&moved).unwrap()[..]
    );
    assert_eq!(host.get("boots").unwrap().unwrap(), &[0xAC, 0x02]);
}
