//! Device images on the command line: telling an image from a store,
//! reading one (`inspect`/`export` with `--write-size`), its verdict's exit
//! code, and `image create`.

use std::path::Path;

use twinkv_host::core::Config;
use twinkv_host::image::{create_image, ImageGeometry};
use twinkv_host::inspect::{self, show_key, Report, Verdict};

use crate::cmd::{Out, Res};
use crate::entries::Entries;
use crate::{exit, out_err, Failure};

/// A store is a base path; given a file instead (a device image, or one of a
/// store's own files) while no store lives there, say what to do (exit 2)
/// rather than report a missing store or create one beside it.
pub(crate) fn not_an_image(store: &Path) -> Result<(), Failure> {
    let is_file = std::fs::metadata(store).is_ok_and(|m| m.is_file());
    let (a, b) = twinkv_host::region_paths(store);
    if !is_file || a.exists() || b.exists() {
        return Ok(());
    }
    let shown = store.display();
    // `settings.a` given for the store `settings`.
    if let (Some(stem), Some("a" | "b")) = (
        store.file_stem(),
        store.extension().and_then(|e| e.to_str()),
    ) {
        let base = store.with_file_name(stem);
        let (ba, bb) = twinkv_host::region_paths(&base);
        if ba.exists() || bb.exists() {
            return Err(Failure::usage(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "{shown} is one file of the store {}: give the base path, without .a or .b",
                    base.display()
                ),
            ));
        }
    }
    Err(Failure::usage(
        clap::error::ErrorKind::InvalidValue,
        format!(
            "{shown} is a file, not a store (a store is a base path for STORE.a and STORE.b). \
             A raw device image is read with `twinkv inspect {shown} --write-size W --erase-size E` \
             or `twinkv export {shown} --write-size W --erase-size E`, and built with \
             `twinkv image create`"
        ),
    ))
}

/// A device image read from a file: the report on the regions at `offset`.
pub(crate) struct Image {
    pub(crate) file_size: u64,
    pub(crate) report: Report,
}

pub(crate) fn read_image(
    path: &Path,
    write_size: u32,
    erase_size: u32,
    region_size: Option<u32>,
    offset: u32,
) -> Result<Image, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
    let report = inspect::verify_image(
        from_offset(path, &bytes, offset)?,
        write_size,
        erase_size,
        region_size,
    )?;
    Ok(Image {
        file_size: bytes.len() as u64,
        report,
    })
}

/// The bytes of the image file at `path` from `offset` on.
pub(crate) fn image_bytes(path: &Path, offset: u32) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
    Ok(from_offset(path, &bytes, offset)?.to_vec())
}

fn from_offset<'b>(path: &Path, bytes: &'b [u8], offset: u32) -> Result<&'b [u8], Failure> {
    bytes.get(offset as usize..).ok_or_else(|| {
        Failure::usage(
            clap::error::ErrorKind::ValueValidation,
            format!(
                "--offset {offset} is past the end of {} ({} bytes)",
                path.display(),
                bytes.len()
            ),
        )
    })
}

/// After exporting an image: live values that fail their check, or keys
/// that answer with a corruption error, were not exported; say so (exit 3).
pub(crate) fn image_damage_check(out: Out<'_>, r: &Report) -> Res {
    if !matches!(r.verdict, Verdict::Corrupt(_)) {
        return Ok(exit::OK);
    }
    out.flush().map_err(out_err)?;
    Err(Failure::new(
        exit::CORRUPT,
        "the image is damaged: what could not be read intact was left out; \
         run `twinkv inspect` with the same options to see what",
    ))
}

/// `image create`: builds the image with core, writes it, prints what
/// firmware needs to open it.
pub(crate) fn image_create(
    out: Out<'_>,
    geometry: ImageGeometry,
    store_id: Option<u64>,
    limits: Option<(u16, u32)>,
    ratios: Option<(u16, u16)>,
    entries: &Entries,
    output: &Path,
) -> Res {
    let defaults = Config::new(1);
    let (max_key, max_value) = limits.unwrap_or((defaults.max_key_len, defaults.max_value_len));
    let (hw, mf) = ratios.unwrap_or((defaults.high_water_bp, defaults.max_fill_bp));
    let derived = store_id.is_none();
    let id = store_id
        .unwrap_or_else(|| derive_store_id(geometry, (max_key, max_value), (hw, mf), entries));
    let config = Config::new(id)
        .with_limits(max_key, max_value)
        .with_ratios(hw, mf);
    if let Some(i) = entries
        .iter()
        .position(|(k, v)| k.len() > usize::from(max_key) || v.len() > max_value as usize)
    {
        let (k, v) = &entries[i];
        return Err(Failure::new(
            exit::ERROR,
            format!(
                "entry {i} ({}): key {} B, value {} B exceed the limits {max_key},{max_value} \
                 (--limits sets them; firmware must open with the same)",
                show_key(k),
                k.len(),
                v.len()
            ),
        ));
    }
    let (image, st) = match create_image(geometry, config, entries) {
        Ok(x) => x,
        Err(twinkv_host::Error::DoesNotFit { live, limit }) => {
            return Err(Failure::new(
                exit::ERROR,
                format!(
                    "the entries take {live} live bytes; regions of {} B hold at most {limit} \
                     (capacity x max-fill): give a larger --region-size",
                    geometry.region_size
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    std::fs::write(output, &image)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", output.display())))?;
    let mut w = |line: String| writeln!(out, "{line}").map_err(out_err);
    w(format!(
        "wrote {}: {} B, regions A and B of {} B, write unit {}, erase unit {}",
        output.display(),
        image.len(),
        geometry.region_size,
        geometry.write_unit,
        geometry.erase_unit
    ))?;
    w(format!(
        "store id 0x{id:016x}{}",
        if derived {
            " (derived from the contents; --store-id sets it)"
        } else {
            ""
        }
    ))?;
    w(format!(
        "{} keys, {} live bytes of {} allowed, region {:?}, generation {}",
        st.live_keys, st.live_bytes, st.fill_limit, st.active, st.generation
    ))?;
    w(format!(
        "firmware: Config::new(0x{id:016x}).with_limits({max_key}, {max_value}).with_ratios({hw}, {mf})"
    ))?;
    Ok(exit::OK)
}

/// A store id from the image's options and entries (FNV-1a, 64 bit): the
/// same input gives the same image, byte for byte. Never 0 nor `u64::MAX`.
fn derive_store_id(
    g: ImageGeometry,
    limits: (u16, u32),
    ratios: (u16, u16),
    entries: &Entries,
) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(b"twinkv image");
    for x in [
        g.write_unit,
        g.erase_unit,
        g.region_size,
        u32::from(limits.0),
        limits.1,
    ] {
        eat(&x.to_le_bytes());
    }
    eat(&ratios.0.to_le_bytes());
    eat(&ratios.1.to_le_bytes());
    let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = entries.iter().collect();
    sorted.sort();
    for (k, v) in sorted {
        eat(&(k.len() as u64).to_le_bytes());
        eat(k);
        eat(&(v.len() as u64).to_le_bytes());
        eat(v);
    }
    match h {
        0 | u64::MAX => 0x7477_4B56,
        h => h,
    }
}
