//! The CRC instances of FORMAT.md (names from the `crc` crate's catalogue).
//!
//! Three algorithms: CRC-32C for everything that covers data (region header,
//! markers, record checks, batch and sync coverage, key hash), CRC-8/AUTOSAR
//! and CRC-16/IBM-3740 for the short and long record header checks (4 and 8
//! bytes). How they are computed depends on the features; the results never
//! do:
//!
//! - default: bit by bit, no lookup table in the image: one small function
//!   per algorithm (module `bits`), CRC-32C's and CRC-16's not inlined, so
//!   that each check is a call with two arguments (the `crc` crate's
//!   `NoTable` path read the algorithm's parameters at run time and set
//!   each call up inline);
//! - `crc-tables`: one 256-entry table each (1 KiB + 512 B + 256 B);
//! - `fast-crc`: as `crc-tables`, with 16 lanes for CRC-32C (16 KiB);
//! - `hw-crc`: as `fast-crc` for pieces under 48 bytes (`HW_MIN_LEN`), and the
//!   `crc32c` crate for longer ones (the SSE4.2 or ARMv8 CRC instructions
//!   where the CPU has them, detected at run time, else that crate's own
//!   tables). The crate's call costs more than the tables for the few bytes
//!   of a seal, a record header or a short key; from a few dozen bytes on it
//!   is several times faster (a 256-byte value: ~20 ns instead of ~130 ns);
//! - `hw-crc` built for x86-64 with SSE4.2 enabled at compile time
//!   (`-C target-cpu=x86-64-v2` or `native`): every CRC-32C piece under
//!   1 KiB (`HW_MIN_LEN`) through the CPU's `crc32` instruction inline (8
//!   bytes a step, via the safe functions of `safe_arch`), longer ones
//!   through the `crc32c` crate; no 16-lane table.

#[cfg(all(
    feature = "crc-tables",
    not(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))
))]
use crc::CRC_32_ISCSI;
#[cfg(feature = "crc-tables")]
use crc::{Crc, CRC_16_IBM_3740, CRC_8_AUTOSAR};

// Cargo.toml: `hw-crc` implies `fast-crc`, which implies `crc-tables`.

/// Table lanes of the header checks (CRC-8 and CRC-16, 4 and 8 bytes).
#[cfg(feature = "crc-tables")]
type HeaderLanes = crc::Table<1>;

/// Table lanes of CRC-32C (with `hw-crc`: of its short pieces).
#[cfg(all(
    feature = "fast-crc",
    not(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))
))]
type Lanes = crc::Table<16>;
#[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
type Lanes = crc::Table<1>;

#[cfg(all(
    feature = "crc-tables",
    not(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))
))]
static CASTAGNOLI: Crc<u32, Lanes> = Crc::<u32, Lanes>::new(&CRC_32_ISCSI);

/// With `hw-crc`, pieces of at least this many bytes go to the `crc32c`
/// crate, shorter ones to the 16-lane tables. Measured on an x86-64 host
/// with SSE4.2 (callgrind, instructions per call: tables 62 / 86 / 148 /
/// 272 for 5 / 16 / 32 / 64 bytes, the crate 151 / 179 / 187 / 203; wall
/// clock, independent calls: tables 4.3 / 4.8 / 9.2 ns for 5 / 16 / 32
/// bytes, the crate 12–13 ns): the crate's fixed cost per call makes the
/// tables cheaper below about 48 bytes. (Those table figures are the `crc`
/// crate's digest; `feed`, which replaced it, is cheaper still, so the cut
/// may now be on the low side; not re-measured.)
#[cfg(all(
    feature = "hw-crc",
    not(all(target_arch = "x86_64", target_feature = "sse4.2"))
))]
pub const HW_MIN_LEN: usize = 48;
/// With `hw-crc` and SSE4.2 enabled at compile time, the `crc32`
/// instruction is inline for every piece shorter than this; longer ones go
/// to the `crc32c` crate, whose three interleaved streams beat one serial
/// chain of `crc32` from about 1 KiB on (wall clock, one x86-64 host,
/// `-C target-cpu=x86-64-v2`: serial / crate 13 / 24 ns at 256 B, 77 / 73
/// ns at 1 KiB, 451 / 239 ns at 4 KiB, 2.0 / 0.9 µs at 16 KiB).
#[cfg(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))]
pub const HW_MIN_LEN: usize = 1024;

/// The 16 lanes of [`CASTAGNOLI`]: `LANES[k][b]` is the register
/// contribution of byte `b` followed by `k` zero bytes (reflected).
#[cfg(all(
    feature = "fast-crc",
    not(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))
))]
static LANES: &[[u32; 256]; 16] = CASTAGNOLI.table();

/// Feeds `bytes` to a raw (reflected, un-inverted) CRC-32C register through
/// the 16 lanes: 16 bytes a step as two little-endian words, then 8, 4 and
/// single bytes. The same result as the `crc` crate's digest over the same
/// tables, without its per-call set-up (`init`, `reverse_bits`) and with
/// word loads instead of byte-indexed ones.
#[cfg(all(
    feature = "fast-crc",
    not(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))
))]
#[inline]
pub(crate) fn feed(mut r: u32, mut bytes: &[u8]) -> u32 {
    let t = LANES;
    while let Some((c, rest)) = bytes.split_first_chunk::<16>() {
        let w = u128::from_le_bytes(*c);
        let lo = w as u64 ^ u64::from(r);
        let hi = (w >> 64) as u64;
        r = t[15][lo as u8 as usize]
            ^ t[14][(lo >> 8) as u8 as usize]
            ^ t[13][(lo >> 16) as u8 as usize]
            ^ t[12][(lo >> 24) as u8 as usize]
            ^ t[11][(lo >> 32) as u8 as usize]
            ^ t[10][(lo >> 40) as u8 as usize]
            ^ t[9][(lo >> 48) as u8 as usize]
            ^ t[8][(lo >> 56) as usize]
            ^ t[7][hi as u8 as usize]
            ^ t[6][(hi >> 8) as u8 as usize]
            ^ t[5][(hi >> 16) as u8 as usize]
            ^ t[4][(hi >> 24) as u8 as usize]
            ^ t[3][(hi >> 32) as u8 as usize]
            ^ t[2][(hi >> 40) as u8 as usize]
            ^ t[1][(hi >> 48) as u8 as usize]
            ^ t[0][(hi >> 56) as usize];
        bytes = rest;
    }
    if let Some((c, rest)) = bytes.split_first_chunk::<8>() {
        let w = u64::from_le_bytes(*c) ^ u64::from(r);
        r = t[7][w as u8 as usize]
            ^ t[6][(w >> 8) as u8 as usize]
            ^ t[5][(w >> 16) as u8 as usize]
            ^ t[4][(w >> 24) as u8 as usize]
            ^ t[3][(w >> 32) as u8 as usize]
            ^ t[2][(w >> 40) as u8 as usize]
            ^ t[1][(w >> 48) as u8 as usize]
            ^ t[0][(w >> 56) as usize];
        bytes = rest;
    }
    if let Some((c, rest)) = bytes.split_first_chunk::<4>() {
        let w = u32::from_le_bytes(*c) ^ r;
        r = t[3][w as u8 as usize]
            ^ t[2][(w >> 8) as u8 as usize]
            ^ t[1][(w >> 16) as u8 as usize]
            ^ t[0][(w >> 24) as usize];
        bytes = rest;
    }
    for &b in bytes {
        r = t[0][(r as u8 ^ b) as usize] ^ (r >> 8);
    }
    r
}

/// [`feed`] of a short header's 5 covered bytes, inline: one word step and
/// one byte step, without [`feed`]'s call and loops.
#[cfg(all(
    feature = "fast-crc",
    not(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))
))]
#[inline(always)]
pub(crate) fn feed5(r: u32, b: &[u8; 5]) -> u32 {
    let t = LANES;
    let w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) ^ r;
    let r = t[3][w as u8 as usize]
        ^ t[2][(w >> 8) as u8 as usize]
        ^ t[1][(w >> 16) as u8 as usize]
        ^ t[0][(w >> 24) as usize];
    t[0][(r as u8 ^ b[4]) as usize] ^ (r >> 8)
}

/// The raw register `r` after `n` zero bytes (`feed(r, &[0; n])`): four
/// lookups per 16 bytes, since a zero byte adds nothing to the lanes. CRC-32C
/// is linear, so `feed(r, k) == feed(0, k) ^ zeros(r, k.len())`: how a
/// record check and the key hash share one pass over the key
/// ([`crate::format::record`]).
#[cfg(all(
    feature = "fast-crc",
    not(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))
))]
#[inline(always)]
pub(crate) fn zeros(mut r: u32, mut n: usize) -> u32 {
    let t = LANES;
    let step = |r: u32, k: usize| {
        t[k][r as u8 as usize]
            ^ t[k - 1][(r >> 8) as u8 as usize]
            ^ t[k - 2][(r >> 16) as u8 as usize]
            ^ t[k - 3][(r >> 24) as usize]
    };
    while n >= 16 {
        r = step(r, 15);
        n -= 16;
    }
    if n >= 4 {
        r = step(r, n - 1);
        n = 0;
    }
    for _ in 0..n {
        r = t[0][r as u8 as usize] ^ (r >> 8);
    }
    r
}

/// CRC-32C of `bytes` appended to bytes whose CRC-32C is `crc` (the
/// finished value, as `crc32c::crc32c_append` takes it).
#[cfg(feature = "fast-crc")]
#[inline]
pub(crate) fn append(crc: u32, bytes: &[u8]) -> u32 {
    #[cfg(feature = "hw-crc")]
    if !fed(bytes.len()) {
        return crc32c::crc32c_append(crc, bytes);
    }
    !feed(!crc, bytes)
}

/// CRC-32C of `bytes` appended to bytes whose CRC-32C is `crc` (the
/// finished value), for a running checksum fed piece by piece, such as a
/// covering marker's (FORMAT.md §6.4). With `hw-crc`, every piece goes to
/// the `crc32c` crate (the CPU's CRC instructions, found at run time), short
/// ones too, unlike `append`: feeding a switch's copied 40-byte records
/// one by one cost 157 instructions a record that way, 178 through the
/// 16-lane tables (callgrind, `profile set-file 100000 5`).
#[inline]
pub(crate) fn crc32c_append(crc: u32, bytes: &[u8]) -> u32 {
    #[cfg(feature = "hw-crc")]
    {
        crc32c::crc32c_append(crc, bytes)
    }
    #[cfg(not(feature = "hw-crc"))]
    {
        let mut d = Crc32cDigest::resume(crc);
        d.update(bytes);
        d.finalize()
    }
}

/// Whether [`feed`] is the CPU's `crc32` instruction inline (`hw-crc` built
/// with SSE4.2): a key's bytes then cost no more than [`zeros`] over them,
/// so a record's key and value are best fed in one pass.
#[cfg(feature = "fast-crc")]
pub(crate) const FEED_IS_INSTRUCTION: bool = cfg!(all(
    feature = "hw-crc",
    target_arch = "x86_64",
    target_feature = "sse4.2"
));

/// Whether [`append`] feeds a piece of `len` bytes to [`feed`] (else, with
/// `hw-crc`, to the `crc32c` crate).
#[cfg(feature = "fast-crc")]
#[inline]
pub(crate) const fn fed(len: usize) -> bool {
    #[cfg(feature = "hw-crc")]
    {
        len < HW_MIN_LEN
    }
    #[cfg(not(feature = "hw-crc"))]
    {
        let _ = len;
        true
    }
}

/// [`feed`], [`feed5`] and [`zeros`] through the SSE4.2 `crc32` instruction
/// (the raw reflected CRC-32C register, as the lanes compute it): with
/// `hw-crc`, on x86-64, when the build enables SSE4.2
/// (`-C target-cpu=x86-64-v2` or `native`). `safe_arch` defines its
/// `crc32_*` functions only then, as safe functions, so core stays free of
/// `unsafe`; a CPU without SSE4.2 cannot run such a build at all.
#[cfg(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))]
mod hw {
    use safe_arch::{crc32_u16, crc32_u32, crc32_u64, crc32_u8};

    /// Feeds `bytes` to a raw CRC-32C register: 8 bytes a step, then 4, 2
    /// and 1.
    #[inline(always)]
    pub(crate) fn feed(r: u32, mut bytes: &[u8]) -> u32 {
        let mut w = u64::from(r);
        if bytes.len() < 24 {
            // Short pieces (a record's key or a small value): at most two
            // 8-byte steps, straight-line, not the loop's unrolled form.
            for _ in 0..2 {
                if let Some((c, rest)) = bytes.split_first_chunk::<8>() {
                    w = crc32_u64(w, u64::from_le_bytes(*c));
                    bytes = rest;
                }
            }
        } else {
            while let Some((c, rest)) = bytes.split_first_chunk::<8>() {
                w = crc32_u64(w, u64::from_le_bytes(*c));
                bytes = rest;
            }
        }
        // The instruction's 64-bit form leaves the register in the low half.
        let mut r = w as u32;
        if let Some((c, rest)) = bytes.split_first_chunk::<4>() {
            r = crc32_u32(r, u32::from_le_bytes(*c));
            bytes = rest;
        }
        if let Some((c, rest)) = bytes.split_first_chunk::<2>() {
            r = crc32_u16(r, u16::from_le_bytes(*c));
            bytes = rest;
        }
        if let Some(&b) = bytes.first() {
            r = crc32_u8(r, b);
        }
        r
    }

    /// A short header's 5 covered bytes: one 4-byte and one 1-byte step.
    #[inline]
    pub(crate) fn feed5(r: u32, b: &[u8; 5]) -> u32 {
        crc32_u8(
            crc32_u32(r, u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            b[4],
        )
    }

    /// The raw register `r` after `n` zero bytes.
    #[inline]
    pub(crate) fn zeros(r: u32, mut n: usize) -> u32 {
        let mut w = u64::from(r);
        if n < 24 {
            // As `feed`: a short run in at most two straight 8-byte steps.
            for _ in 0..2 {
                if n >= 8 {
                    w = crc32_u64(w, 0);
                    n -= 8;
                }
            }
        } else {
            while n >= 8 {
                w = crc32_u64(w, 0);
                n -= 8;
            }
        }
        let mut r = w as u32;
        if n >= 4 {
            r = crc32_u32(r, 0);
            n -= 4;
        }
        if n >= 2 {
            r = crc32_u16(r, 0);
            n -= 2;
        }
        if n >= 1 {
            r = crc32_u8(r, 0);
        }
        r
    }
}
#[cfg(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))]
pub(crate) use hw::{feed, feed5, zeros};

/// CRC-32C (`CRC_32_ISCSI`): whole-check and incremental use.
#[derive(Clone, Copy, Debug)]
pub struct Crc32c(());

/// An incremental CRC-32C: feed bytes with [`update`](Self::update), read
/// the check with [`finalize`](Self::finalize).
#[derive(Clone)]
pub struct Crc32cDigest {
    #[cfg(feature = "fast-crc")]
    crc: u32,
    #[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
    digest: crc::Digest<'static, u32, Lanes>,
    /// The raw register (reflected, not inverted) of [`bits::crc32c`].
    #[cfg(not(feature = "crc-tables"))]
    r: u32,
}

impl Crc32c {
    /// Starts an incremental check.
    #[inline]
    pub fn digest(&self) -> Crc32cDigest {
        Crc32cDigest {
            #[cfg(feature = "fast-crc")]
            crc: 0,
            #[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
            digest: CASTAGNOLI.digest(),
            #[cfg(not(feature = "crc-tables"))]
            r: !0,
        }
    }
    /// The check of `bytes`.
    #[inline]
    pub fn checksum(&self, bytes: &[u8]) -> u32 {
        #[cfg(feature = "fast-crc")]
        {
            append(0, bytes)
        }
        #[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
        {
            CASTAGNOLI.checksum(bytes)
        }
        #[cfg(not(feature = "crc-tables"))]
        {
            bits::crc32c_checksum(bytes)
        }
    }
}

impl Crc32cDigest {
    /// Continues a check whose bytes so far have the CRC-32C `crc` (the
    /// finished value, as [`Crc32c::checksum`] returns it).
    #[inline]
    pub fn resume(crc: u32) -> Self {
        Crc32cDigest {
            #[cfg(feature = "fast-crc")]
            crc,
            // The register before the final XOR, in the catalogue's
            // unreflected notation (the `crc` crate reflects a custom
            // initial value).
            #[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
            digest: CASTAGNOLI.digest_with_initial((!crc).reverse_bits()),
            #[cfg(not(feature = "crc-tables"))]
            r: !crc,
        }
    }
    /// Feeds `bytes`.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        #[cfg(feature = "fast-crc")]
        {
            self.crc = append(self.crc, bytes);
        }
        #[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
        self.digest.update(bytes);
        #[cfg(not(feature = "crc-tables"))]
        {
            self.r = bits::crc32c(self.r, bytes);
        }
    }
    /// The check of every byte fed.
    #[inline]
    pub fn finalize(self) -> u32 {
        #[cfg(feature = "fast-crc")]
        {
            self.crc
        }
        #[cfg(all(feature = "crc-tables", not(feature = "fast-crc")))]
        {
            self.digest.finalize()
        }
        #[cfg(not(feature = "crc-tables"))]
        {
            !self.r
        }
    }
}

/// CRC-32C: region header check, marker check, record checks (the short form
/// keeps its low 24 bits), batch and sync coverage checks, key hash.
pub(crate) static CRC32C: Crc32c = Crc32c(());
/// CRC-16/IBM-3740: long header check.
#[cfg(feature = "crc-tables")]
pub(crate) static CRC16: Crc<u16, HeaderLanes> = Crc::<u16, HeaderLanes>::new(&CRC_16_IBM_3740);
/// CRC-8/AUTOSAR: short header check.
#[cfg(feature = "crc-tables")]
pub(crate) static CRC8: Crc<u8, HeaderLanes> = Crc::<u8, HeaderLanes>::new(&CRC_8_AUTOSAR);
/// CRC-16/IBM-3740: long header check (bit by bit, [`bits::crc16`]).
#[cfg(not(feature = "crc-tables"))]
pub(crate) static CRC16: bits::Crc16 = bits::Crc16;
/// CRC-8/AUTOSAR: short header check (bit by bit, [`bits::crc8`]).
#[cfg(not(feature = "crc-tables"))]
pub(crate) static CRC8: bits::Crc8 = bits::Crc8;

/// The three checks bit by bit, without tables (the default build): one
/// function each, CRC-32C's and CRC-16's never inlined, so a check costs its
/// call site a call with the bytes as arguments. The same results as the `crc` crate's
/// catalogue algorithms (tests below hold them to it).
#[cfg(not(feature = "crc-tables"))]
pub(crate) mod bits {
    /// CRC-32C's polynomial, reflected (`CRC_32_ISCSI`: refin and refout).
    const POLY32: u32 = 0x82F6_3B78;
    /// CRC-16/IBM-3740's polynomial (not reflected, init `0xFFFF`, no final XOR).
    const POLY16: u16 = 0x1021;
    /// CRC-8/AUTOSAR's polynomial (not reflected, init and final XOR `0xFF`).
    const POLY8: u8 = 0x2F;

    /// Feeds `bytes` to a raw (reflected, not inverted) CRC-32C register.
    #[inline(never)]
    pub(crate) fn crc32c(mut r: u32, bytes: &[u8]) -> u32 {
        for &b in bytes {
            r ^= u32::from(b);
            for _ in 0..8 {
                r = (r >> 1) ^ (POLY32 & (r & 1).wrapping_neg());
            }
        }
        r
    }

    /// CRC-32C of `bytes` (init and final XOR `0xFFFFFFFF`).
    #[inline(never)]
    pub(crate) fn crc32c_checksum(bytes: &[u8]) -> u32 {
        !crc32c(!0, bytes)
    }

    /// CRC-16/IBM-3740 of `bytes`.
    #[inline(never)]
    pub(crate) fn crc16(bytes: &[u8]) -> u16 {
        let mut r: u16 = 0xFFFF;
        for &b in bytes {
            r ^= u16::from(b) << 8;
            for _ in 0..8 {
                r = (r << 1) ^ (POLY16 & (r >> 15).wrapping_neg());
            }
        }
        r
    }

    /// CRC-8/AUTOSAR of `bytes`. Inline: the short header check of the
    /// read path is on the replay's deepest path (a frame of its own there
    /// was +12 B of the reboot row's peak stack).
    #[inline]
    pub(crate) fn crc8(bytes: &[u8]) -> u8 {
        let mut r: u8 = 0xFF;
        for &b in bytes {
            r ^= b;
            for _ in 0..8 {
                r = (r << 1) ^ (POLY8 & (r >> 7).wrapping_neg());
            }
        }
        r ^ 0xFF
    }

    /// [`super::CRC16`] without tables: the `crc` crate's `checksum` shape.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Crc16;
    impl Crc16 {
        /// The check of `bytes`.
        #[inline]
        pub(crate) fn checksum(&self, bytes: &[u8]) -> u16 {
            crc16(bytes)
        }
    }

    /// [`super::CRC8`] without tables: the `crc` crate's `checksum` shape.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Crc8;
    impl Crc8 {
        /// The check of `bytes`.
        #[inline]
        pub(crate) fn checksum(&self, bytes: &[u8]) -> u8 {
            crc8(bytes)
        }
    }
}

/// [`CRC8`] of a short header's first four bytes (`word`, little-endian),
/// for the read path: with `crc-tables`, four lookups in [`CRC8`]'s own
/// table, inline, without the `crc` crate's per-call handling of the
/// algorithm's parameters (CRC-8/AUTOSAR: not reflected, so each step is
/// one lookup); the same result.
#[inline(always)]
pub(crate) fn crc8_word(word: u32) -> u8 {
    #[cfg(feature = "crc-tables")]
    {
        const _: () = assert!(CRC_8_AUTOSAR.width == 8 && !CRC_8_AUTOSAR.refin);
        const _: () = assert!(!CRC_8_AUTOSAR.refout);
        let t = &CRC8.table()[0];
        let [a, b, c, d] = word.to_le_bytes();
        let r = t[(CRC_8_AUTOSAR.init ^ a) as usize];
        let r = t[(r ^ b) as usize];
        let r = t[(r ^ c) as usize];
        t[(r ^ d) as usize] ^ CRC_8_AUTOSAR.xorout
    }
    #[cfg(not(feature = "crc-tables"))]
    {
        CRC8.checksum(&word.to_le_bytes())
    }
}

/// The 32-bit key hash the index uses: CRC-32C of the key.
#[inline]
pub fn key_hash(key: &[u8]) -> u32 {
    CRC32C.checksum(key)
}

/// The 8-bit key hash stored in record headers: the top byte of [`key_hash`].
#[inline]
pub const fn short_hash(hash: u32) -> u8 {
    (hash >> 24) as u8
}

/// The CRC-32C instance (for tests and tools that recompute batch and
/// coverage checks).
pub static CRC32C_PUBLIC: &Crc32c = &CRC32C;

/// One byte through a CRC-32C register, bit by bit, straight from the
/// catalogue's parameters (reflected polynomial `0x82F63B78`): the reference
/// the tests hold the implementations to.
#[cfg(test)]
pub(crate) fn reference_step(mut r: u32, byte: u8) -> u32 {
    r ^= u32::from(byte);
    for _ in 0..8 {
        r = if r & 1 != 0 {
            (r >> 1) ^ 0x82F6_3B78
        } else {
            r >> 1
        };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crc::{CRC_16_IBM_3740, CRC_32_ISCSI, CRC_8_AUTOSAR};

    /// CRC-32C (init and xorout `0xFFFFFFFF`) by [`reference_step`].
    fn reference(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!0u32, |r, &b| reference_step(r, b))
    }

    #[test]
    fn crc32c_matches_the_catalogue_whole_and_in_pieces() {
        assert_eq!(CRC32C.checksum(b"123456789"), CRC_32_ISCSI.check);
        assert_eq!(CRC32C.checksum(b""), 0);
        let data: [u8; 300] = core::array::from_fn(|i| (i * 7 + i / 3) as u8);
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 53, 64, 255, 300] {
            let want = reference(&data[..len]);
            assert_eq!(CRC32C.checksum(&data[..len]), want, "len {len}");
            for cut in [0, 1, 3, 8, len / 2, len] {
                let cut = cut.min(len);
                let mut d = CRC32C.digest();
                d.update(&data[..cut]);
                d.update(&data[cut..len]);
                assert_eq!(d.finalize(), want, "len {len} cut {cut}");
                let mut r = Crc32cDigest::resume(CRC32C.checksum(&data[..cut]));
                r.update(&data[cut..len]);
                assert_eq!(r.finalize(), want, "resumed: len {len} cut {cut}");
            }
        }
    }

    #[cfg(feature = "fast-crc")]
    #[test]
    fn feed_and_zeros_match_the_reference_at_every_short_length() {
        let data: [u8; 100] = core::array::from_fn(|i| (i * 13 + 7) as u8 ^ 0xA5);
        for r in [0u32, !0, 0x1234_5678, 0x8000_0001] {
            for len in 0..=data.len() {
                let want = data[..len].iter().fold(r, |r, &b| reference_step(r, b));
                assert_eq!(feed(r, &data[..len]), want, "r {r:#x} len {len}");
                if let Ok(five) = <&[u8; 5]>::try_from(&data[..len]) {
                    assert_eq!(feed5(r, five), want, "r {r:#x} feed5");
                }
                let zeros_want = (0..len).fold(r, |r, _| reference_step(r, 0));
                assert_eq!(zeros(r, len), zeros_want, "r {r:#x} zeros {len}");
            }
        }
        for len in [0, 1, 5, 16, 47, 48, 49, 100] {
            assert_eq!(!feed(!0, &data[..len]), CRC32C.checksum(&data[..len]));
        }
    }

    /// Only in a build with the CRC instructions (CI's `10-hw-crc` stage
    /// checks that this test exists there): `feed`, `feed5` and `zeros` are
    /// the instruction ones (the test above holds them to the reference at
    /// every length up to 100 B); pieces under `HW_MIN_LEN` go to them,
    /// longer ones to the `crc32c` crate, both equal to the reference.
    #[cfg(all(feature = "hw-crc", target_arch = "x86_64", target_feature = "sse4.2"))]
    #[test]
    fn crc32c_through_the_cpu_instructions() {
        assert_eq!(!hw::feed(!0, b"123456789"), CRC_32_ISCSI.check);
        assert_eq!(HW_MIN_LEN, 1024);
        let data: [u8; 4096] = core::array::from_fn(|i| (i * 31 + i / 7) as u8);
        for len in [0, 1, 47, 48, 100, 1000, 1023, 1024, 1025, 4093, 4096] {
            let want = reference(&data[..len]);
            assert_eq!(fed(len), len < 1024, "len {len}");
            assert_eq!(!hw::feed(!0, &data[..len]), want, "len {len}");
            assert_eq!(CRC32C.checksum(&data[..len]), want, "len {len}");
            let mut d = Crc32cDigest::resume(CRC32C.checksum(&data[..len / 3]));
            d.update(&data[len / 3..len]);
            assert_eq!(d.finalize(), want, "len {len} in two pieces");
        }
    }

    #[test]
    fn crc8_word_is_crc8_of_the_word() {
        let mut w = 0x0123_4567u32;
        for i in 0..10_000u32 {
            assert_eq!(crc8_word(w), CRC8.checksum(&w.to_le_bytes()), "{w:#x}");
            w = w.wrapping_mul(0x9E37_79B9).wrapping_add(i) ^ (w >> 13);
        }
        for w in [0, u32::MAX, 1, 0x8000_0000, 0x3132_3334] {
            assert_eq!(crc8_word(w), CRC8.checksum(&w.to_le_bytes()), "{w:#x}");
        }
    }

    /// The bitwise checks of the default build against the `crc` crate's
    /// catalogue algorithms (its own bitwise `NoTable` path), at every length
    /// up to 64 bytes over varied data.
    #[cfg(not(feature = "crc-tables"))]
    #[test]
    fn bitwise_checks_match_the_crc_crate() {
        use crc::{Crc, NoTable};
        let c32 = Crc::<u32, NoTable>::new(&CRC_32_ISCSI);
        let c16 = Crc::<u16, NoTable>::new(&CRC_16_IBM_3740);
        let c8 = Crc::<u8, NoTable>::new(&CRC_8_AUTOSAR);
        let mut data = [0u8; 64];
        let mut w = 0x1234_5678u32;
        for round in 0..50 {
            for b in data.iter_mut() {
                w = w.wrapping_mul(0x9E37_79B9).wrapping_add(round) ^ (w >> 13);
                *b = (w >> 24) as u8;
            }
            if round == 0 {
                data = [0xFF; 64];
            } else if round == 1 {
                data = [0; 64];
            }
            for len in 0..=data.len() {
                let d = &data[..len];
                assert_eq!(bits::crc32c_checksum(d), c32.checksum(d), "len {len}");
                assert_eq!(CRC16.checksum(d), c16.checksum(d), "len {len}");
                assert_eq!(CRC8.checksum(d), c8.checksum(d), "len {len}");
            }
        }
    }

    #[test]
    fn header_checks_match_the_catalogue() {
        assert_eq!(CRC8.checksum(b"123456789"), CRC_8_AUTOSAR.check);
        assert_eq!(CRC16.checksum(b"123456789"), CRC_16_IBM_3740.check);
        let mut w = 0x1234_5678u32;
        for _ in 0..10_000 {
            assert_eq!(crc8_word(w), CRC8.checksum(&w.to_le_bytes()), "{w:#x}");
            w = w.wrapping_mul(0x9E37_79B9).wrapping_add(0x7F4A_7C15) ^ (w >> 13);
        }
        for w in [0, u32::MAX, 0xFF, 0xFF00_0000] {
            assert_eq!(crc8_word(w), CRC8.checksum(&w.to_le_bytes()), "{w:#x}");
        }
    }
}
