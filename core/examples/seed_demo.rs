//! The design's own example on RAM regions: 1 KiB regions, 40 % high-water
//! mark, writes until the store has switched A→B→A→B→A→B, checking every
//! value after each switch and after reopening. Prints what each switch cost.
//!
//! Run: `cargo run -p twinkv-core --example seed_demo`

use std::collections::BTreeMap;
use twinkv_core::{Config, FixedIndex, Geometry, RamRegion, RegionId, Store};

const GEO: Geometry = Geometry {
    size: 1024,
    read_unit: 1,
    write_unit: 4,
    erase_unit: 256,
};

fn main() {
    let len = RamRegion::<Vec<u8>>::storage_len(GEO.size, GEO.write_unit, GEO.erase_unit);
    let mut a = RamRegion::new(vec![0u8; len], GEO).expect("region A");
    let mut b = RamRegion::new(vec![0u8; len], GEO).expect("region B");
    let config = Config::new(0x5EED_DE30)
        .with_limits(16, 32)
        .with_ratios(4000, 9000);
    let mut scratch = vec![0u8; 256];
    let mut model = BTreeMap::new();
    let mut path = vec![RegionId::A];
    let mut writes = 0u32;
    println!("twinkv seed demo: two 1 KiB regions, high-water 40 %, max-fill 90 %");
    while path.len() < 6 {
        let key = format!("setting-{}", writes % 9);
        let value = format!("value-{writes}");
        let mut store = Store::open(
            &mut a,
            &mut b,
            FixedIndex::<64>::new(),
            &mut scratch[..],
            config,
        )
        .expect("open");
        let (sa, sb) = (store.regions().0.stats(), store.regions().1.stats());
        store.set(key.as_bytes(), value.as_bytes()).expect("set");
        writes += 1;
        model.insert(key, value);
        let st = store.stats();
        if st.active != *path.last().unwrap() {
            let (ea, eb) = (store.regions().0.stats(), store.regions().1.stats());
            let programmed = ea.bytes_programmed + eb.bytes_programmed
                - sa.bytes_programmed
                - sb.bytes_programmed;
            let erased = ea.erases + eb.erases - sa.erases - sb.erases;
            println!(
                "switch {:?} -> {:?} after write {writes}: generation {}, live {} B in {} keys; \
                 the switch programmed {programmed} B and erased {erased} erase units",
                path.last().unwrap(),
                st.active,
                st.generation,
                st.live_bytes,
                st.live_keys
            );
            path.push(st.active);
        }
        check(&mut store, &model);
    }
    // Reopen from the bytes alone and check everything once more.
    let mut store = Store::open(
        &mut a,
        &mut b,
        FixedIndex::<64>::new(),
        &mut scratch[..],
        config,
    )
    .expect("reopen");
    check(&mut store, &model);
    let path: Vec<String> = path.iter().map(|r| format!("{r:?}")).collect();
    println!(
        "path {}; {writes} writes; all {} values correct after every switch and after reopening",
        path.join("→"),
        model.len()
    );
}

fn check<R: twinkv_core::Region>(
    store: &mut Store<R, FixedIndex<64>, &mut [u8]>,
    model: &BTreeMap<String, String>,
) where
    R::Error: std::fmt::Debug,
{
    assert_eq!(store.len(), model.len());
    for (k, v) in model {
        let mut buf = [0u8; 32];
        let n = store
            .get(k.as_bytes(), &mut buf)
            .expect("get")
            .expect("present");
        assert_eq!(&buf[..n], v.as_bytes(), "value of {k}");
    }
}
