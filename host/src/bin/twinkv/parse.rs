//! The argument parsers of the command line: sizes, region sizes, store ids,
//! limits, ratios, keys and percentages.

/// Parses a byte size: digits with an optional K, M or G suffix (powers of
/// 1024; `KiB`, `MiB`, `GiB` too).
pub(crate) fn parse_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u32::from_str_radix(&h.replace('_', ""), 16)
            .map_err(|_| format!("{s:?} is not a size (0x-hex: at most 0xffffffff)"));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let mul: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown size suffix")),
    };
    n.checked_mul(mul)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("{s:?} is too large (at most 4 GiB - 1)"))
}

/// Parses a region size: a size (as [`parse_size`]) that is a non-zero
/// multiple of 512.
pub(crate) fn parse_region_size(s: &str) -> Result<u32, String> {
    let n = parse_size(s)?;
    let unit = twinkv_host::ERASE_UNIT;
    if n == 0 || n % unit != 0 {
        return Err(format!(
            "a region size must be a positive multiple of {unit} bytes (such as 4K or 1M)"
        ));
    }
    Ok(n)
}

/// A store id: decimal or 0x-hex, neither 0 nor `u64::MAX`.
pub(crate) fn parse_store_id(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    }
    .map_err(|_| format!("{s:?} is not a store id (decimal or 0x-hex, 64 bits)"))?;
    if v == 0 || v == u64::MAX {
        return Err("a store id is never 0 nor 0xffffffffffffffff".to_string());
    }
    Ok(v)
}

/// `KEY,VALUE`: the max key length (1..=65535) and max value length.
pub(crate) fn parse_limits(s: &str) -> Result<(u16, u32), String> {
    let (k, v) = s
        .split_once(',')
        .ok_or_else(|| format!("{s:?}: give KEY,VALUE, e.g. 63,1024"))?;
    let k: u16 = k
        .trim()
        .parse()
        .ok()
        .filter(|&k| k >= 1)
        .ok_or_else(|| format!("{s:?}: a max key length of 1 to 65535"))?;
    let v = parse_size(v)?;
    Ok((k, v))
}

/// `HW,MF`: high-water and max-fill ratios in basis points.
pub(crate) fn parse_ratios(s: &str) -> Result<(u16, u16), String> {
    let bad = || {
        format!("{s:?}: give HIGH_WATER,MAX_FILL in basis points, 1 <= HW <= MF < 10000 (a max-fill of 10000 leaves no headroom), e.g. 8000,9000")
    };
    let (h, m) = s.split_once(',').ok_or_else(bad)?;
    let h: u16 = h.trim().parse().map_err(|_| bad())?;
    let m: u16 = m.trim().parse().map_err(|_| bad())?;
    if h < 1 || h > m || m >= 10_000 {
        return Err(bad());
    }
    Ok((h, m))
}

/// A key: any non-empty string.
pub(crate) fn parse_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a key must not be empty".to_string());
    }
    Ok(s.to_string())
}

/// Parses a percentage (`40`, `40%`, `12.5`) into basis points.
pub(crate) fn parse_percent(s: &str) -> Result<u16, String> {
    let t = s.trim().trim_end_matches('%');
    let p: f64 = t
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage"))?;
    if !(0.01..=100.0).contains(&p) {
        return Err(format!("{s:?}: a percentage between 0.01 and 100"));
    }
    Ok((p * 100.0).round() as u16)
}
