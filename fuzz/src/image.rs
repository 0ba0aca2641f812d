//! The `open_image` target: arbitrary bytes as the contents of both regions.

use arbitrary::{Arbitrary, Unstructured};
use twinkv_core::format::{key_hash, Layout, Marker, Seal, HEADER_LEN, MAGIC, MARKER_LEN};
use twinkv_core::{
    Config, Error, FixedIndex, Geometry, MappedRegion, RamError, RamRegion, Store, WRITE_UNITS,
};

use crate::script::{self, exercise_reads, no_bug, Model};
use crate::INDEX;

/// Erase unit of every fuzzed region.
pub const ERASE_UNIT: u32 = 256;

/// Keys every opened store is asked for, besides those `for_each` yields.
pub const PROBE_KEYS: [&[u8]; 4] = [b"k0", b"temp", b"a", b"volume"];

/// One input of `open_image`.
///
/// Byte layout (what `arbitrary` reads, and what [`ImageInput::to_bytes`]
/// writes): the fixed-size fields in order, integers little-endian, then
/// `rest`, all the remaining bytes: image A's first bytes, image B's first
/// bytes, then an operation script ([`crate::script`]).
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct ImageInput {
    /// Write unit: `WRITE_UNITS[write_unit % 6]`.
    pub write_unit: u8,
    /// Region A size: `(4 + size_a % 13)` erase units of 256 B (1..=4 KiB).
    pub size_a: u8,
    /// Region B size, as `size_a`.
    pub size_b: u8,
    /// Check fix-ups applied to both images before anything else, so that
    /// mutated fields still pass their checks: bit 0 recomputes the region
    /// header check of a region starting with the magic; bit 1 re-encodes
    /// every marker slot starting with its tag, with the region header's
    /// store id and generation.
    pub fixup: u8,
    /// Config: store id (used only to format empty storage; existing ids
    /// are adopted).
    pub store_id: u64,
    /// Config: max key length.
    pub max_key_len: u16,
    /// Config: max value length.
    pub max_value_len: u16,
    /// Config: high-water ratio (basis points).
    pub high_water_bp: u16,
    /// Config: max-fill ratio (basis points).
    pub max_fill_bp: u16,
    /// How many bytes of `rest` are image A's first bytes (the rest of region
    /// A reads `0xFF`); clamped to the region size and to `rest`.
    pub len_a: u16,
    /// As `len_a`, for region B (taken after A's bytes).
    pub len_b: u16,
    /// Image A prefix ‖ image B prefix ‖ script.
    pub rest: crate::Bytes,
}

/// Region size for a size code.
pub fn region_size(code: u8) -> u32 {
    ERASE_UNIT * (4 + u32::from(code % 13))
}

/// The size code for a region size (a multiple of 256 in 1..=4 KiB).
pub fn size_code(size: u32) -> u8 {
    assert!(size.is_multiple_of(ERASE_UNIT) && (1024..=4096).contains(&size));
    (size / ERASE_UNIT - 4) as u8
}

/// The write unit code for a write unit.
pub fn write_unit_code(w: u32) -> u8 {
    WRITE_UNITS
        .iter()
        .position(|&x| x == w)
        .expect("a write unit") as u8
}

impl ImageInput {
    /// Builds an input from whole region images (trailing `0xFF` trimmed), a
    /// config and a script, with every check fix-up on (a no-op on images
    /// whose checks are right; set `fixup` to 0 to keep torn markers torn).
    pub fn new(w: u32, a: &[u8], b: &[u8], config: Config, script: &[u8]) -> Self {
        fn trim(x: &[u8]) -> &[u8] {
            let end = x.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
            &x[..end]
        }
        let (ta, tb) = (trim(a), trim(b));
        let mut rest = ta.to_vec();
        rest.extend_from_slice(tb);
        rest.extend_from_slice(script);
        ImageInput {
            write_unit: write_unit_code(w),
            size_a: size_code(a.len() as u32),
            size_b: size_code(b.len() as u32),
            fixup: FIXUP_ALL,
            store_id: config.store_id,
            max_key_len: config.max_key_len,
            max_value_len: u16::try_from(config.max_value_len).expect("value limit fits u16"),
            high_water_bp: config.high_water_bp,
            max_fill_bp: config.max_fill_bp,
            len_a: ta.len() as u16,
            len_b: tb.len() as u16,
            rest: crate::Bytes(rest),
        }
    }

    /// The bytes `arbitrary` decodes back into `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![self.write_unit, self.size_a, self.size_b, self.fixup];
        b.extend_from_slice(&self.store_id.to_le_bytes());
        for x in [
            self.max_key_len,
            self.max_value_len,
            self.high_water_bp,
            self.max_fill_bp,
            self.len_a,
            self.len_b,
        ] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&self.rest);
        b
    }

    /// Decodes an input the way the fuzz target does.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::arbitrary_take_rest(Unstructured::new(bytes)).ok()
    }

    /// Write unit.
    pub fn w(&self) -> u32 {
        WRITE_UNITS[usize::from(self.write_unit) % WRITE_UNITS.len()]
    }

    /// Geometry of region A and B.
    pub fn geometries(&self) -> (Geometry, Geometry) {
        let g = |code| Geometry {
            size: region_size(code),
            read_unit: 1,
            write_unit: self.w(),
            erase_unit: ERASE_UNIT,
        };
        (g(self.size_a), g(self.size_b))
    }

    /// The store configuration (adopting any store id).
    pub fn config(&self) -> Config {
        Config {
            store_id: self.store_id,
            adopt_store_id: true,
            max_key_len: self.max_key_len,
            max_value_len: u32::from(self.max_value_len),
            high_water_bp: self.high_water_bp,
            max_fill_bp: self.max_fill_bp,
            // Both ways, without a new input field: writes erasing ahead or
            // only `maintain` (the image fuzzer never calls it).
            erase_ahead: self.store_id & 1 == 0,
            // Switches copying at once or over several writes, likewise.
            incremental_switch: self.store_id & 2 == 0,
            // Switches at high-water or as late as the copy allows, likewise.
            late_switch: self.store_id & 4 == 0,
        }
    }

    /// Region data of A and B (full size), and the script bytes.
    pub fn parts(&self) -> (Vec<u8>, Vec<u8>, &[u8]) {
        let (ga, gb) = self.geometries();
        let mut rest = &self.rest[..];
        let mut take = |len: u16, size: u32| {
            let n = usize::from(len).min(size as usize).min(rest.len());
            let mut data = vec![0xFFu8; size as usize];
            data[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            data
        };
        let mut a = take(self.len_a, ga.size);
        let mut b = take(self.len_b, gb.size);
        fix_checks(&mut a, self.w(), self.fixup);
        fix_checks(&mut b, self.w(), self.fixup);
        (a, b, rest)
    }
}

/// Every fix-up of [`ImageInput::fixup`].
pub const FIXUP_ALL: u8 = 0b11;

/// Applies the fix-ups `flags` ([`ImageInput::fixup`]) to one region's data.
pub fn fix_checks(data: &mut [u8], w: u32, flags: u8) {
    if data.len() < HEADER_LEN || data[..4] != MAGIC {
        return;
    }
    if flags & 1 != 0 {
        let check = key_hash(&data[..44]); // CRC-32C, as the header check
        data[44..48].copy_from_slice(&check.to_le_bytes());
    }
    if flags & 2 != 0 {
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let seal = Seal {
            store_id: u64_at(8),
            generation: u64_at(16),
        };
        let layout = Layout::new(w);
        for m in [Marker::Switching, Marker::Commit, Marker::Superseded] {
            let at = layout.slot(m) as usize;
            let Some(slot) = data.get_mut(at..at + MARKER_LEN) else {
                continue;
            };
            if slot[..4] == m.tag() {
                let arg = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]);
                slot.copy_from_slice(&m.encode(seal, arg));
            }
        }
    }
}

/// A [`RamRegion`] buffer holding `data` (program and wear counters zero).
pub fn storage(geo: Geometry, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; RamRegion::<Vec<u8>>::storage_len_for(&geo)];
    buf[..data.len()].copy_from_slice(data);
    buf
}

/// Scratch bytes a config needs (capped: such configs fail `fits` anyway).
pub fn scratch_len(config: &Config, w: u32) -> usize {
    Store::<RamRegion<Vec<u8>>, FixedIndex<INDEX>, Vec<u8>>::scratch_len(config, w).min(1 << 16)
}

/// Open errors after which both regions must be byte-for-byte unchanged
/// (FORMAT.md §8: "nothing written").
pub fn untouched_after(e: &Error<RamError>) -> bool {
    matches!(
        e,
        Error::Unrecognised
            | Error::ForeignStore
            | Error::UnsupportedFormat
            | Error::ConfigMismatch
            | Error::InvalidConfig
            | Error::Corrupted
    )
}

/// What a check left in the regions.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The read-write open succeeded.
    pub opened: bool,
    /// Region A data after the session.
    pub a: Vec<u8>,
    /// Region B data after the session.
    pub b: Vec<u8>,
}

/// Runs every check of `open_image` on one input. Panics on a finding.
pub fn check(input: &ImageInput) -> Outcome {
    let (ga, gb) = input.geometries();
    let config = input.config();
    let (data_a, data_b, script_bytes) = input.parts();
    let steps = script::parse(script_bytes);
    let slen = scratch_len(&config, input.w());

    // 1. Read-only and salvage opens: never write, whatever they find.
    for salvage in [false, true] {
        let what = if salvage {
            "open_salvage"
        } else {
            "open_read_only"
        };
        let (mut sa, mut sb) = (storage(ga, &data_a), storage(gb, &data_b));
        let mut ra = RamRegion::with_contents(&mut sa[..], ga).expect("valid geometry");
        let mut rb = RamRegion::with_contents(&mut sb[..], gb).expect("valid geometry");
        let mut scratch = vec![0u8; slen];
        let index = FixedIndex::<INDEX>::new();
        let opened = if salvage {
            Store::open_salvage(&mut ra, &mut rb, index, &mut scratch[..], config)
        } else {
            Store::open_read_only(&mut ra, &mut rb, index, &mut scratch[..], config)
        };
        match opened {
            Ok(mut s) => {
                assert!(s.stats().read_only, "{what}: not read-only");
                exercise_reads(&mut s, &Model::default(), &PROBE_KEYS);
                let ro = |r: Result<(), Error<RamError>>| {
                    assert!(
                        matches!(r, Err(Error::ReadOnly)),
                        "{what}: a write returned {r:?}"
                    );
                };
                ro(s.set(b"k0", b"v"));
                ro(s.remove(b"k0").map(|_| ()));
                ro(s.compact());
                ro(s.clear());
                ro(s.repair().map(|_| ()));
                ro(s.sync());
            }
            Err(e) => no_bug(&e, what),
        }
        assert!(ra.as_bytes() == &data_a[..], "{what} changed region A");
        assert!(rb.as_bytes() == &data_b[..], "{what} changed region B");
    }

    // 2. Read-write open, reads, then the script.
    let (mut sa, mut sb) = (storage(ga, &data_a), storage(gb, &data_b));
    let mut ra = RamRegion::with_contents(&mut sa[..], ga).expect("valid geometry");
    let mut rb = RamRegion::with_contents(&mut sb[..], gb).expect("valid geometry");
    let mut scratch = vec![0u8; slen];
    let opened = match Store::open(
        &mut ra,
        &mut rb,
        FixedIndex::<INDEX>::new(),
        &mut scratch[..],
        config,
    ) {
        Ok(mut s) => {
            let mut model = Model::new();
            exercise_reads(&mut s, &model, &PROBE_KEYS);
            let reopen =
                |a, b, scratch| Store::open(a, b, FixedIndex::<INDEX>::new(), scratch, config);
            if let Some(mut s) = script::run(s, &steps, &mut model, &reopen) {
                exercise_reads(&mut s, &model, &PROBE_KEYS);
                // Whatever the session did, the regions open again and hold
                // what it acknowledged.
                let (a, b, _, scratch) = s.into_parts();
                match reopen(a, b, scratch) {
                    Ok(mut s) => exercise_reads(&mut s, &model, &PROBE_KEYS),
                    Err(e) => {
                        no_bug(&e, "final reopen");
                        assert!(!model.trusted, "final reopen failed: {e:?}");
                    }
                }
            }
            true
        }
        Err(e) => {
            no_bug(&e, "open");
            if untouched_after(&e) {
                assert!(
                    ra.as_bytes() == &data_a[..],
                    "open failed with {e:?} but changed region A"
                );
                assert!(
                    rb.as_bytes() == &data_b[..],
                    "open failed with {e:?} but changed region B"
                );
            }
            false
        }
    };
    Outcome {
        opened,
        a: ra.as_bytes().to_vec(),
        b: rb.as_bytes().to_vec(),
    }
}
