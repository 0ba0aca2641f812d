//! A max-fill of 1.0 leaves no headroom and is refused
//! (`ConfigError::NoHeadroom`, see `Config::with_ratios`); any ratio below
//! it is accepted and a switch at full leaves `C × (1 − max-fill)` bytes.

use twinkv_core::{
    fill_limit, Config, ConfigError, Error, FixedIndex, Geometry, RamError, RamRegion, Scratch,
    Store,
};

const G: Geometry = Geometry {
    size: 4096,
    read_unit: 1,
    write_unit: 4,
    erase_unit: 256,
};

const SMALL: Config = Config::new(0x4EAD).with_limits(8, 24);

// The refusal is available at compile time.
const _: () = assert!(!SMALL.with_ratios(10_000, 10_000).is_valid());
const _: () = assert!(SMALL.with_ratios(9_999, 9_999).is_valid());

#[test]
fn a_max_fill_of_one_is_refused_whatever_the_high_water() {
    for hw in [1, 5000, 8000, 9999, 10_000] {
        let c = SMALL.with_ratios(hw, 10_000);
        assert_eq!(c.check(), Err(ConfigError::NoHeadroom), "hw {hw}");
        assert_eq!(c.validate(), Err(ConfigError::NoHeadroom));
        assert_eq!(c.check_fit(G, G), Err(ConfigError::NoHeadroom));
        assert!(!c.fits(G, G));
    }
    // The other refusals keep their own reasons.
    assert_eq!(
        SMALL.with_ratios(10_000, 9_999).check(),
        Err(ConfigError::HighWater)
    );
    assert_eq!(
        SMALL.with_ratios(8000, 10_001).check(),
        Err(ConfigError::MaxFill)
    );
    let text = ConfigError::NoHeadroom.to_string();
    assert!(
        text.contains("below 10000") && text.contains("headroom"),
        "{text}"
    );
}

#[test]
fn ratios_below_one_are_accepted() {
    for (hw, mf) in [(1, 5000), (8000, 9000), (9_999, 9_999), (1, 9_999)] {
        let c = SMALL.with_ratios(hw, mf);
        assert_eq!(c.check_fit(G, G), Ok(()), "{hw} / {mf}");
    }
}

type Ram = RamRegion<Vec<u8>>;

fn open(config: Config) -> Result<Store<Ram, FixedIndex<256>, Scratch<256>>, Error<RamError>> {
    let len = Ram::storage_len_for(&G);
    let a = RamRegion::new(vec![0xFF; len], G).unwrap();
    let b = RamRegion::new(vec![0xFF; len], G).unwrap();
    Store::open(a, b, FixedIndex::new(), Scratch::new(), config)
}

#[test]
fn a_store_is_not_built_without_headroom() {
    assert!(open(SMALL.with_ratios(10_000, 10_000)).is_err());
    assert!(open(SMALL.with_ratios(9_000, 10_000)).is_err());
}

/// At the smallest headroom accepted (max-fill 0.9999), a store filled to
/// its fill limit keeps taking overwrites: each one switches, and each
/// switch leaves the headroom free. With the default ratios, overwrites at
/// full mostly append.
#[test]
fn overwrites_at_full_make_progress_with_headroom() {
    for (hw, mf) in [(9_999, 9_999), (8000, 9000)] {
        let mut s = open(SMALL.with_ratios(hw, mf)).unwrap();
        let cap = s.stats().capacity;
        let limit = fill_limit(cap, mf);
        assert_eq!(s.stats().fill_limit, limit);
        // 32-byte records (8 + 8-byte key + 16-byte value) up to the limit.
        let mut n = 0u32;
        while s.stats().live_bytes + 32 <= limit {
            s.set(format!("key{n:05}").as_bytes(), &[n as u8; 16])
                .unwrap();
            n += 1;
        }
        let before = s.stats().switches;
        let rounds = 4 * n;
        for r in 0..rounds {
            let k = format!("key{:05}", r % n);
            let switched_before = s.stats().switches;
            s.set(k.as_bytes(), &[(r + 1) as u8; 16]).unwrap();
            let st = s.stats();
            assert!(st.live_bytes <= limit);
            if st.switches > switched_before {
                // A switch leaves the headroom free, less its erased record
                // (16 B at W = 4).
                assert!(
                    st.free_bytes + 16 >= cap - limit,
                    "{hw}/{mf}: free {} after a switch, headroom {}",
                    st.free_bytes,
                    cap - limit
                );
            }
        }
        let switches = s.stats().switches - before;
        if mf == 9_999 {
            // No room for one 32-byte overwrite besides the live data: every
            // overwrite is a switch (the cost a max-fill near 1.0 has).
            assert_eq!(switches, rounds, "{hw}/{mf}");
        } else {
            // 10 % headroom (about 400 B) takes a dozen overwrites per switch.
            assert!(switches * 8 <= rounds, "{hw}/{mf}: {switches} switches");
        }
        for i in 0..n {
            // The last overwrite of key i was round 3n + i.
            let want = (3 * n + i + 1) as u8;
            let mut buf = [0u8; 16];
            let got = s.get(format!("key{i:05}").as_bytes(), &mut buf).unwrap();
            assert_eq!(got, Some(16), "key {i}");
            assert_eq!(buf, [want; 16], "key {i}");
        }
    }
}
