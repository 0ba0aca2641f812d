use twinkv_core::*;

fn geo(size: u32, w: u32) -> Geometry {
    Geometry {
        size,
        read_unit: 1,
        write_unit: w,
        erase_unit: 256,
    }
}

#[test]
fn seed_demo_switches_and_reopens() {
    let g = geo(1024, 4);
    let len = RamRegion::<Vec<u8>>::storage_len(1024, 4, 256);
    let cfg = Config::new(7).with_limits(16, 32).with_ratios(4000, 9000);
    let mut a = RamRegion::new(vec![0u8; len], g).unwrap();
    let mut b = RamRegion::new(vec![0u8; len], g).unwrap();
    let mut scratch = vec![0u8; 256];
    let mut model = std::collections::BTreeMap::new();
    for i in 0..60u32 {
        let key = format!("k{}", i % 7);
        let val = format!("value-{i}");
        {
            let mut s = Store::open(
                &mut a,
                &mut b,
                FixedIndex::<64>::new(),
                &mut scratch[..],
                cfg,
            )
            .unwrap();
            s.set(key.as_bytes(), val.as_bytes()).unwrap();
            model.insert(key.clone(), val.clone());
            let st = s.stats();
            eprintln!(
                "{i}: {:?} gen {} used {} live {}",
                st.active, st.generation, st.used_bytes, st.live_bytes
            );
        }
        let mut s = Store::open(
            &mut a,
            &mut b,
            FixedIndex::<64>::new(),
            &mut scratch[..],
            cfg,
        )
        .unwrap();
        assert_eq!(s.len(), model.len());
        for (k, v) in &model {
            let mut buf = [0u8; 32];
            let n = s.get(k.as_bytes(), &mut buf).unwrap().unwrap();
            assert_eq!(&buf[..n], v.as_bytes());
        }
    }
}
