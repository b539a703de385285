//! Public ids: 26 characters of lowercase Crockford base32 over a 48-bit
//! millisecond timestamp and 80 bits of randomness (the ULID layout).
//!
//! Invariant: ids sort by creation time as plain strings, never change, and
//! are what the CLI, exports and imports name things by (row ids stay
//! private). Hand-rolled because the whole of it is the 25 lines below and a
//! crate would add a dependency for them; lowercase because people type
//! prefixes of it. Imported conversations get *derived* ids (the time of the
//! original, a stable hash of the source's id), so importing twice finds the
//! same rows.

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const RANDOM_BITS: u32 = 80;

/// A new id for something created at `ms` (unix milliseconds).
pub fn new_uid(ms: i64) -> String {
    encode(ms, fastrand::u128(..))
}

/// A stable id for an imported item: the time part is `ms`, the rest a hash
/// of `key`, so the same item always gets the same id.
pub fn derived_uid(ms: i64, key: &str) -> String {
    let high = u128::from(fnv1a(key.as_bytes(), 0xcbf2_9ce4_8422_2325));
    let low = u128::from(fnv1a(key.as_bytes(), 0x6c62_272e_07bb_0142));
    encode(ms, (high << 64) | low)
}

/// Whether `text` has the shape of an id (26 base32 characters).
pub fn looks_like_uid(text: &str) -> bool {
    text.len() == 26
        && text
            .bytes()
            .all(|b| ALPHABET.contains(&b.to_ascii_lowercase()))
}

fn encode(ms: i64, random: u128) -> String {
    // 48 bits of time: until the year 10889; earlier than 1970 clamps to 0.
    let time = u128::from(u64::try_from(ms).unwrap_or(0) & 0xffff_ffff_ffff);
    let value = (time << RANDOM_BITS) | (random & ((1u128 << RANDOM_BITS) - 1));
    (0..26)
        .rev()
        .map(|i| {
            let digit = (value >> (i * 5)) & 0x1f;
            ALPHABET
                .get(usize::try_from(digit).unwrap_or(0))
                .map_or('0', |b| char::from(*b))
        })
        .collect()
}

/// FNV-1a, 64-bit, from a given offset basis: stable across builds and
/// platforms, unlike `std`'s hasher.
fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_have_the_shape() {
        let a = new_uid(1_700_000_000_000);
        let b = new_uid(1_700_000_000_001);
        let c = new_uid(1_800_000_000_000);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(looks_like_uid(&a));
        assert_eq!(a.len(), 26);
        assert_ne!(new_uid(5), new_uid(5));
    }

    #[test]
    fn derived_ids_are_stable() {
        assert_eq!(
            derived_uid(1000, "chatgpt:x"),
            derived_uid(1000, "chatgpt:x")
        );
        assert_ne!(
            derived_uid(1000, "chatgpt:x"),
            derived_uid(1000, "chatgpt:y")
        );
        assert!(derived_uid(0, "k").starts_with("0000000000"));
    }
}
