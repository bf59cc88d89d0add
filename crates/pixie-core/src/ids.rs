//! Identifiers that sort by when they were made, and the key a code is stored under.
//!
//! Why: a store's index takes a random key anywhere in it, so each insert writes a page
//! of its own (measured on SQLite: 1.6 WAL frames per code and 1.7 per grant, a third
//! of a flow's WAL); a key that starts with the time goes at the end of the index, so
//! the inserts that commit together write one page between them. Time and randomness
//! are passed in: this module does no I/O.

use base64::alphabet::Alphabet;
use base64::engine::general_purpose::NO_PAD;
use base64::engine::GeneralPurpose;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// base64url's 64 characters in ASCII order, so that the text sorts as the bytes do.
const SORTED_CHARS: &str = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

const SORTED: Alphabet = match Alphabet::new(SORTED_CHARS) {
    Ok(a) => a,
    Err(_) => panic!("the sorted alphabet is 64 distinct characters"),
};

const ENGINE: GeneralPurpose = GeneralPurpose::new(&SORTED, NO_PAD);

/// Characters of the time at the start of a [`sortable`] identifier: 6 bytes of
/// milliseconds (enough until the year 10889).
pub const TIME_CHARS: usize = 8;

/// Random bytes in a code: 256 bits, as before codes sorted.
pub const CODE_RANDOM_BYTES: usize = 32;

/// Characters of a code made by [`sortable`] with [`CODE_RANDOM_BYTES`].
pub const CODE_CHARS: usize = (6 + CODE_RANDOM_BYTES) * 4 / 3 + 1;

/// An identifier or secret made at `millis` (since the Unix epoch) from `random`: the
/// time (6 bytes, big-endian), then the random bytes, in unpadded base64 over
/// URL-safe characters in ASCII order. It is as unguessable as `random` is, and it
/// sorts (as text or as bytes) after every one made at an earlier millisecond.
pub fn sortable(millis: u64, random: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(6 + random.len());
    bytes.extend_from_slice(&millis.to_be_bytes()[2..]);
    bytes.extend_from_slice(random);
    ENGINE.encode(bytes)
}

/// The key a code is stored under (a store never holds the code itself): for a code
/// of [`CODE_CHARS`] characters, as [`sortable`] makes them, its first [`TIME_CHARS`]
/// characters (when it was made: codes made together are stored together) then the
/// SHA-256 of the whole code; for any other string (a code of an earlier version was
/// 43 characters), the SHA-256 alone. Only the hash is secret-dependent; the time
/// prefix tells nothing the code's issue time does not.
pub fn code_key(code: &str) -> Vec<u8> {
    let hash = Sha256::digest(code.as_bytes());
    let mut key = Vec::with_capacity(TIME_CHARS + hash.len());
    if code.len() == CODE_CHARS {
        key.extend_from_slice(&code.as_bytes()[..TIME_CHARS]);
    }
    key.extend_from_slice(&hash);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_alphabet_is_url_safe_and_ascending() {
        let chars = SORTED_CHARS.as_bytes();
        assert_eq!(chars.len(), 64);
        assert!(chars.windows(2).all(|w| w[0] < w[1]), "strictly ascending");
        assert!(chars
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_'));
    }

    #[test]
    fn a_code_is_51_characters_and_its_key_starts_with_its_time() {
        let code = sortable(1_796_575_538_123, &[7; CODE_RANDOM_BYTES]);
        assert_eq!(code.len(), CODE_CHARS);
        assert_eq!(CODE_CHARS, 51);
        let key = code_key(&code);
        assert_eq!(key.len(), TIME_CHARS + 32);
        assert_eq!(&key[..TIME_CHARS], &code.as_bytes()[..TIME_CHARS]);
        assert_eq!(&key[TIME_CHARS..], Sha256::digest(code.as_bytes()).as_slice());
        // A code of the earlier form (43 characters), and anything else: the hash alone.
        let old = "a".repeat(43);
        assert_eq!(code_key(&old), Sha256::digest(old.as_bytes()).to_vec());
        assert_eq!(code_key("").len(), 32);
    }

    proptest! {
        /// Later milliseconds sort later, whatever the random bytes, as text and as the
        /// stored code keys.
        #[test]
        fn identifiers_sort_by_time(
            a in 0u64..(1 << 48),
            b in 0u64..(1 << 48),
            ra in proptest::array::uniform32(any::<u8>()),
            rb in proptest::array::uniform32(any::<u8>()),
        ) {
            let (x, y) = (sortable(a, &ra), sortable(b, &rb));
            if a < b {
                prop_assert!(x < y);
                prop_assert!(code_key(&x) < code_key(&y));
            }
            prop_assert_eq!(x.len(), CODE_CHARS);
            prop_assert!(x.bytes().all(|c| SORTED_CHARS.as_bytes().contains(&c)));
        }

        /// Distinct codes have distinct keys (the hash part differs).
        #[test]
        fn distinct_codes_have_distinct_keys(a in ".{0,60}", b in ".{0,60}") {
            if a != b {
                prop_assert_ne!(code_key(&a), code_key(&b));
            }
        }
    }
}
