//! Entries as the CLI shows and moves them: sorted pairs, keys and values
//! as text, and the JSON of `dump --json` / `export` / `import`.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use twinkv_host::inspect::{hex, show_key};
use twinkv_host::Store;

use crate::cmd::Out;
use crate::{exit, out_err, Failure};

pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Every intact entry, sorted by key. Damaged keys (the iterator's errors)
/// are left out here and reported afterwards by `damaged_check`.
pub(crate) fn sorted(s: &Store) -> Result<Entries, Failure> {
    let mut v: Entries = s
        .iter()
        .filter_map(|r| r.ok())
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    v.sort();
    Ok(v)
}

/// A key for `list`: as is when it is printable UTF-8, else `0x` + hex.
pub(crate) fn plain_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("0x{}", hex(k)),
    }
}

pub(crate) fn show_value(v: &[u8]) -> String {
    show_key(v)
}

/// One entry of `dump --json` / `export` / `import`. Each of key and value is
/// given as UTF-8 text (`key`, `value`) when it is valid UTF-8, else as hex
/// (`key_hex`, `value_hex`).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_hex: Option<String>,
}

pub(crate) fn text_or_hex(b: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(b) {
        Ok(s) => (Some(s.to_string()), None),
        Err(_) => (None, Some(hex(b))),
    }
}

pub(crate) fn write_json(out: Out<'_>, entries: &Entries) -> Result<(), Failure> {
    out.write_all(b"[").map_err(out_err)?;
    for (i, (k, v)) in entries.iter().enumerate() {
        let (key, key_hex) = text_or_hex(k);
        let (value, value_hex) = text_or_hex(v);
        let e = Entry {
            key,
            key_hex,
            value,
            value_hex,
        };
        let line =
            serde_json::to_string(&e).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
        let sep = if i == 0 { "\n  " } else { ",\n  " };
        write!(out, "{sep}{line}").map_err(out_err)?;
    }
    out.write_all(if entries.is_empty() { b"]\n" } else { b"\n]\n" })
        .map_err(out_err)
}

pub(crate) fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("hex {s:?} has an odd length"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("{s:?} is not hex"))
        })
        .collect()
}

pub(crate) fn parse_json(text: &str) -> Result<Entries, String> {
    let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let pick = |t: Option<String>, h: Option<String>, what: &str| match (t, h) {
                (Some(t), None) => Ok(t.into_bytes()),
                (None, Some(h)) => unhex(&h),
                _ => Err(format!(
                    "entry {i}: give exactly one of \"{what}\" and \"{what}_hex\""
                )),
            };
            Ok((
                pick(e.key, e.key_hex, "key")?,
                pick(e.value, e.value_hex, "value")?,
            ))
        })
        .collect()
}

/// Reads the entries of a JSON file as `export` writes them (`-`: stdin).
/// Bad input is exit 4, naming the file and the entry.
pub(crate) fn read_entries(file: &Path) -> Result<Entries, Failure> {
    let text = if file.as_os_str() == "-" {
        let mut t = String::new();
        std::io::stdin().read_to_string(&mut t)?;
        t
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?
    };
    let entries = parse_json(&text)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?;
    if let Some(i) = entries.iter().position(|(k, _)| k.is_empty()) {
        return Err(Failure::new(
            exit::ERROR,
            format!("{}: entry {i}: the key is empty", file.display()),
        ));
    }
    Ok(entries)
}
