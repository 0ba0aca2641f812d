//! FORMAT.md is the contract: every ```hex block tagged `# golden: NAME` is
//! reproduced here byte for byte by the encoder and read back by the decoder.

use twinkv_core::format::marker::{Marker, MarkerState};
use twinkv_core::format::record::{self, Kind, Slot};
use twinkv_core::format::{key_hash, short_hash, RegionHeader, Seal};

const FORMAT: &str = include_str!("../FORMAT.md");
const SEAL: Seal = Seal {
    store_id: 0x0123_4567_89AB_CDEF,
    generation: 7,
};

/// The golden blocks of FORMAT.md: (name, bytes).
fn goldens() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut lines = FORMAT.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```hex" {
            continue;
        }
        let name_line = lines.next().expect("golden name");
        let name = name_line
            .trim()
            .strip_prefix("# golden: ")
            .expect("`# golden: NAME` first")
            .to_string();
        let mut bytes = Vec::new();
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            let l = l.split('#').next().unwrap();
            for tok in l.split_whitespace() {
                bytes.push(
                    u8::from_str_radix(tok, 16)
                        .unwrap_or_else(|_| panic!("{name}: bad byte {tok}")),
                );
            }
        }
        out.push((name, bytes));
    }
    out
}

fn rec(kind: Kind, key: &[u8], value: &[u8]) -> Vec<u8> {
    let hash = if key.is_empty() {
        0
    } else {
        short_hash(key_hash(key))
    };
    rec_hash(kind, hash, key, value)
}

fn rec_hash(kind: Kind, hash: u8, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    let n = record::encode(&mut out, SEAL, kind, hash, key, value, 4).unwrap();
    out.truncate(n as usize);
    out
}

fn header() -> RegionHeader {
    RegionHeader {
        store_id: SEAL.store_id,
        generation: 7,
        region_size: 4096,
        erase_unit: 512,
        write_unit: 4,
        read_unit: 1,
        max_key_len: 63,
        max_value_len: 4096,
        high_water_bp: 8000,
        max_fill_bp: 9000,
    }
}

/// What the encoder produces for each golden name.
fn expected(name: &str) -> Vec<u8> {
    match name {
        "region-header" => header().encode().to_vec(),
        "marker-switching" => Marker::Switching.encode(SEAL, 0).to_vec(),
        "marker-commit" => Marker::Commit.encode(SEAL, 0x154).to_vec(),
        "marker-superseded" => Marker::Superseded.encode(SEAL, 0).to_vec(),
        "record-set" => rec(Kind::Set, b"temp", b"21.5"),
        "record-delete" => rec(Kind::Delete, b"temp", b""),
        "record-set-long" => rec(Kind::Set, &[b'k'; 70], &[0]),
        "record-update" => {
            let mut out = vec![0u8; 64];
            let state = record::SealState::new(SEAL);
            let hash = short_hash(key_hash(b"temp"));
            let n = record::encode_as(&mut out, state, Kind::Set, true, hash, b"temp", b"22.0", 4)
                .unwrap();
            out.truncate(n as usize);
            out
        }
        "batch" => batch(),
        "record-sync" => rec(Kind::SyncMarker, b"", &record::sync_value(84, 0x1122_3344)),
        "record-erased" => rec(Kind::Erased, b"", &record::erased_value(3, 4096)),
        "record-damaged" => {
            let mut v = rec_hash(Kind::Damaged, 0x5A, b"", b"");
            v.extend(rec_hash(Kind::Damaged, 0, b"", &[1]));
            v
        }
        "checkpoint" => checkpoint_golden(),
        other => panic!("FORMAT.md has an unknown golden block `{other}`"),
    }
}

/// The head of FORMAT.md §11's golden checkpoint.
fn checkpoint_head() -> twinkv_core::format::checkpoint::CheckpointHead {
    twinkv_core::format::checkpoint::CheckpointHead {
        active: twinkv_core::RegionId::B,
        store_id: SEAL.store_id,
        generation: 7,
        region_size: 4096,
        data_end: 84,
        position: 212,
        last_sync: 200,
        prefix_check: 0xDEAD_BEEF,
        covered_end: Some(128),
        erased: Some((2, 4096)),
        live_bytes: 96,
        live_keys: 2,
        entries: 2,
    }
}

fn checkpoint_golden() -> Vec<u8> {
    use twinkv_core::format::checkpoint as c;
    let mut out = vec![0u8; c::CheckpointHead::encoded_len(2).unwrap()];
    checkpoint_head().encode(&mut out).unwrap();
    let h = c::CHECKPOINT_HEAD_LEN;
    out[h..h + 8].copy_from_slice(&c::entry_bytes(0x1122_3344, 84));
    out[h + 8..h + 16].copy_from_slice(&c::entry_bytes(0x5566_7788, 172));
    c::seal_entries(&mut out).unwrap();
    out
}

#[test]
fn the_golden_checkpoint_decodes() {
    use twinkv_core::format::checkpoint as c;
    let golden = goldens()
        .into_iter()
        .find(|(n, _)| n == "checkpoint")
        .expect("FORMAT.md §11 has a golden checkpoint")
        .1;
    let (head, body) = c::CheckpointHead::decode(&golden).unwrap();
    assert_eq!(head, checkpoint_head());
    assert_eq!(
        c::entries(body).collect::<Vec<_>>(),
        [(0x1122_3344, 84), (0x5566_7788, 172)]
    );
}

fn batch() -> Vec<u8> {
    let a = rec(Kind::Set, b"mode", b"eco");
    let b = rec(Kind::Set, b"fan", b"2");
    let inner: Vec<u8> = a.iter().chain(&b).copied().collect();
    let check = twinkv_core::format::checks::CRC32C_PUBLIC.checksum(&inner);
    let mut out = rec(
        Kind::BatchBegin,
        b"",
        &record::batch_begin_value(2, inner.len() as u32),
    );
    out.extend(&inner);
    out.extend(rec(
        Kind::BatchCommit,
        b"",
        &record::batch_commit_value(84, 2, inner.len() as u32, check),
    ));
    out
}

#[test]
fn every_golden_block_is_reproduced_byte_for_byte() {
    let goldens = goldens();
    assert!(goldens.len() >= 10, "FORMAT.md lost golden blocks");
    let mut report = String::new();
    for (name, bytes) in &goldens {
        let want = expected(name);
        if *bytes != want {
            report += &format!("\n# golden: {name}\n");
            for chunk in want.chunks(16) {
                let line: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                report += &line.join(" ");
                report += "\n";
            }
        }
    }
    assert!(
        report.is_empty(),
        "FORMAT.md and the encoder differ; the encoder says:{report}"
    );
}

#[test]
fn golden_blocks_decode_back() {
    for (name, bytes) in goldens() {
        match name.as_str() {
            "region-header" => {
                let arr: [u8; 48] = bytes.as_slice().try_into().unwrap();
                assert_eq!(RegionHeader::decode(&arr), Ok(header()));
            }
            "marker-switching" => {
                assert_eq!(Marker::Switching.read(SEAL, &bytes), MarkerState::Valid(0))
            }
            "marker-commit" => {
                assert_eq!(Marker::Commit.read(SEAL, &bytes), MarkerState::Valid(0x154))
            }
            "marker-superseded" => {
                assert_eq!(Marker::Superseded.read(SEAL, &bytes), MarkerState::Valid(0))
            }
            // Not records: `the_golden_checkpoint_decodes`.
            "checkpoint" => {}
            _ => {
                // A run of records: each decodes, verifies, and the lengths add up.
                let mut at = 0;
                while at < bytes.len() {
                    let Slot::Header(h) = record::decode_header(&bytes[at..], 100, 4096) else {
                        panic!("{name}: no header at {at}");
                    };
                    assert!(
                        record::verify(&bytes[at..], &h, SEAL),
                        "{name}: record at {at}"
                    );
                    at += h.stored_len(4).unwrap() as usize;
                }
                assert_eq!(at, bytes.len(), "{name}");
            }
        }
    }
}

/// An update (kind 9) decodes as a set, told apart by its first byte; the
/// two records are as long.
#[test]
fn an_update_decodes_as_a_set_stored_as_an_update() {
    let goldens = goldens();
    let block = |name: &str| goldens.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let decode = |b: &[u8]| match record::decode_header(b, 63, 4096) {
        Slot::Header(h) => h,
        other => panic!("{other:?}"),
    };
    let (set, update) = (
        decode(&block("record-set")),
        decode(&block("record-update")),
    );
    assert_eq!((set.kind, update.kind), (Kind::Set, Kind::Set));
    assert!(!record::is_update(block("record-set")[0]));
    assert!(record::is_update(block("record-update")[0]));
    assert_eq!(Kind::from_code(record::UPDATE_CODE), Some(Kind::Set));
    assert_eq!(set.stored_len(4), update.stored_len(4));
}

#[test]
fn sixteen_byte_key_and_value_cost_forty_bytes_at_w1_and_w4() {
    assert_eq!(record::stored_len(16, 16, 1), Some(40));
    assert_eq!(record::stored_len(16, 16, 4), Some(40));
}

/// The audit of FORMAT.md §10.2 and the crash table of §7.2 name tests as
/// `file::function` (or a whole test file): each must exist, so the tables
/// cannot point at tests that were renamed or removed.
#[test]
fn tables_name_existing_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut checked = 0;
    for section in ["### 7.2", "### 10.2"] {
        let start = FORMAT.find(section).expect("section present");
        let text = &FORMAT[start..];
        let end = text[4..].find("\n#").map_or(text.len(), |e| e + 4);
        for line in text[..end].lines().filter(|l| l.starts_with('|')) {
            let last = line.trim_end_matches('|').rsplit('|').next().unwrap();
            for name in last.split('`').skip(1).step_by(2) {
                let found = match name.split_once("::") {
                    Some((file, func)) => std::fs::read_to_string(dir.join(format!("{file}.rs")))
                        .is_ok_and(|src| src.contains(&format!("fn {func}("))),
                    // A test file, or a test function in any file.
                    None => {
                        dir.join(format!("{name}.rs")).is_file()
                            || std::fs::read_dir(&dir).unwrap().any(|e| {
                                std::fs::read_to_string(e.unwrap().path())
                                    .is_ok_and(|src| src.contains(&format!("fn {name}(")))
                            })
                    }
                };
                assert!(found, "{section}: `{name}` names no test");
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} test names found in the tables"
    );
}

/// The step table of FORMAT.md §7 names the function of each step in
/// `src/store/switch.rs`: each must exist there.
#[test]
fn switch_steps_name_existing_functions() {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/switch.rs"),
    )
    .expect("switch.rs");
    let start = FORMAT.find("## 7. The switch").expect("§7");
    let table = &FORMAT[start
        ..FORMAT[start..]
            .find("### 7.1")
            .map_or(FORMAT.len(), |e| start + e)];
    let mut named = 0;
    for line in table.lines().filter(|l| l.starts_with("| ")) {
        for name in line.split('`').skip(1).step_by(2) {
            if name.starts_with("step") {
                assert!(src.contains(&format!("fn {name}(")), "§7 names `{name}`");
                named += 1;
            }
        }
    }
    assert!(named >= 9, "only {named} step functions named in §7");
}
