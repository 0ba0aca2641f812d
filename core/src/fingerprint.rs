//! The fingerprint of a record that a mapped `get` keeps in the index
//! ([`Index::set_fingerprint`](crate::Index::set_fingerprint)): in memory
//! only, not part of the format.
//!
//! A `get` from a mapped region checks the record it returns on every call.
//! Without a fingerprint it computes the record's header check and its
//! CRC-32C record check (FORMAT.md §5): on a host without the CRC
//! instruction, two thirds of a `get`'s instructions. So the first `get`
//! of an entry (since the entry last changed) marks it read
//! ([`READ_ONCE`]); the second checks the record again and leaves the
//! fingerprint of the bytes it checked, its header and its value; every
//! later `get` of the entry compares the record's header and value against
//! that fingerprint and its stored key against the key asked for, and goes
//! back to the checks whenever either differs. A change to those bytes
//! since the checks passed (damage under the mapping) changes the
//! fingerprint but for a chance of about 2^-32, the odds of a 32-bit check
//! missing garbage (the short record check's are 2^-24). What the CRC adds,
//! certainty for every 1-bit error, the fingerprint does not promise; its
//! tests find every 1-bit flip and every changed byte of records of 8 to
//! 128 bytes.
//!
//! The function: the header's 8 bytes and each 8-byte word after them (a
//! last partial one taken as the last 8 bytes, or zero-filled under 8
//! bytes), each XORed with a salt of its position and multiplied by an odd
//! constant (a bijection of the word), XORed into a sum that starts from
//! the length and is rotated after each word; the sum multiplied by an odd
//! constant (a bijection) and its halves folded. A change confined to one
//! word thus always changes the 64-bit product before the fold. About 40
//! instructions for a 16-byte value, against about 200 for the table
//! CRC-32C checks it stands in for.

/// The odd multiplier (2^64 / φ, rounded to odd).
const K: u64 = 0x9E37_79B9_7F4A_7C15;
/// The first word's salt; each next word's adds `K`.
const SALT: u64 = 0x243F_6A88_85A3_08D3;
/// The rotation of the sum after each word.
const ROT: u32 = 27;

/// The multiplier of the final mix (MurmurHash3's first, odd).
const M: u64 = 0xFF51_AFD7_ED55_8CCD;

/// What a `get` leaves on an entry whose record it checked for the first
/// time since the entry changed, instead of a fingerprint: the second `get`
/// computes the fingerprint (a key read once after each write pays no more
/// than the record check; the fingerprint pays from the third `get` on).
pub(crate) const READ_ONCE: u32 = 1;

/// The fingerprint of a record's first 8 bytes `head` (little-endian) and
/// the `bytes` after them that it covers: never 0 (an entry without one) or
/// [`READ_ONCE`].
#[inline(always)]
pub(crate) fn fingerprint(head: u64, bytes: &[u8]) -> u32 {
    let mut acc = (bytes.len() as u64 ^ (head ^ SALT).wrapping_mul(K)).rotate_left(ROT);
    let mut salt = SALT.wrapping_add(K);
    let (words, rest) = bytes.as_chunks::<8>();
    for w in words {
        // The rotation keeps this a chain (the products are independent):
        // as a plain XOR of products, the loop was vectorised into SSE2
        // lanes without a 64-bit multiply, four times the instructions.
        acc = (acc ^ (u64::from_le_bytes(*w) ^ salt).wrapping_mul(K)).rotate_left(ROT);
        salt = salt.wrapping_add(K);
    }
    if !rest.is_empty() {
        // The last 8 bytes (overlapping the last whole word), or all of
        // fewer than 8 bytes, zero-filled.
        let w = match bytes.last_chunk::<8>() {
            Some(w) => *w,
            None => {
                let mut w = [0u8; 8];
                w[..rest.len()].copy_from_slice(rest);
                w
            }
        };
        acc ^= (u64::from_le_bytes(w) ^ salt).wrapping_mul(K);
    }
    // One more odd multiplication (a bijection), the halves folded: a
    // change anywhere in `acc` reaches the high half.
    let x = acc.wrapping_mul(M);
    let fp = ((x >> 32) ^ x) as u32;
    if fp <= READ_ONCE {
        fp + 2
    } else {
        fp
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    /// The fingerprint of a record of at least 8 bytes.
    fn fingerprint(rec: &[u8]) -> u32 {
        let (head, rest) = rec.split_first_chunk::<8>().expect("8 bytes");
        super::fingerprint(u64::from_le_bytes(*head), rest)
    }

    fn record(len: usize, seed: u32) -> [u8; 128] {
        let mut w = seed.wrapping_mul(0x9E37_79B9) | 1;
        core::array::from_fn(|i| {
            w ^= w << 13;
            w ^= w >> 17;
            w ^= w << 5;
            if i < len {
                (w >> 24) as u8
            } else {
                0
            }
        })
    }

    /// Every single-bit flip and every single-byte change of records of
    /// 8 to 128 bytes changes the fingerprint (damage the CRC-32C record
    /// check is certain to see is seen here too, in these records).
    #[test]
    fn every_bit_flip_and_byte_change_is_seen() {
        for len in 8..=128 {
            for seed in 0..4 {
                let mut r = record(len, seed + 100 * len as u32);
                if seed == 1 {
                    r[..len].fill(0xFF);
                } else if seed == 2 {
                    r[..len].fill(0);
                }
                let fp = fingerprint(&r[..len]);
                assert!(fp > super::READ_ONCE);
                for i in 0..len {
                    for bit in 0..8 {
                        r[i] ^= 1 << bit;
                        assert_ne!(fingerprint(&r[..len]), fp, "len {len} byte {i} bit {bit}");
                        r[i] ^= 1 << bit;
                    }
                    if len <= 48 {
                        let b = r[i];
                        for v in 0..=255u8 {
                            if v != b {
                                r[i] = v;
                                assert_ne!(fingerprint(&r[..len]), fp, "len {len} byte {i} = {v}");
                            }
                        }
                        r[i] = b;
                    }
                }
            }
        }
    }

    /// A record and the same bytes one byte longer or shorter (a damaged
    /// length field makes the fingerprint cover another span) differ; so do
    /// two words swapped, and all-0xFF spans of different lengths.
    #[test]
    fn lengths_and_word_order_are_seen() {
        let r = record(128, 7);
        for len in 8..128 {
            assert_ne!(
                fingerprint(&r[..len]),
                fingerprint(&r[..len + 1]),
                "len {len}"
            );
        }
        let ff = [0xFFu8; 64];
        for len in 8..64 {
            assert_ne!(
                fingerprint(&ff[..len]),
                fingerprint(&ff[..len + 1]),
                "0xFF len {len}"
            );
        }
        let mut s = record(40, 9);
        let fp = fingerprint(&s[..40]);
        let (a, b) = s.split_at_mut(16);
        a[8..].swap_with_slice(&mut b[..8]);
        assert_ne!(fingerprint(&s[..40]), fp);
    }

    /// Over many distinct records, the 32-bit values are spread: no
    /// collision among 100,000 random 40-byte records is expected (the
    /// birthday bound gives about one in 860 such runs); every bit of the
    /// value is set in about half of them.
    #[test]
    fn values_are_spread() {
        let mut seen = std::collections::HashSet::new();
        let mut ones = [0u32; 32];
        let n = 100_000;
        for seed in 0..n {
            let fp = fingerprint(&record(40, seed)[..40]);
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += (fp >> bit) & 1;
            }
            seen.insert(fp);
        }
        assert!(
            seen.len() >= n as usize - 1,
            "{} distinct of {n}",
            seen.len()
        );
        for (bit, &count) in ones.iter().enumerate() {
            assert!((48_000..52_000).contains(&count), "bit {bit}: {count}");
        }
    }
}
