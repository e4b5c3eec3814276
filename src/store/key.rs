//! Content hashes and the object keys derived from them.
//!
//! The key layout `sha256/<first 2 hex digits>/<64 hex digits>` is a
//! persistent on-disk/in-bucket format: links written into mail point at it,
//! so it must never change. The two-digit fan-out keeps directories of a
//! local store small (at most 256 entries at the second level).

use object_store::path::Path;
use sha2::Digest;

/// A SHA-256 digest, the identity of every stored object.
pub type Sha256 = [u8; 32];

/// Top-level prefix under which all content-addressed objects live. Naming
/// the algorithm leaves room for another hash without mixing key spaces.
pub(crate) const PREFIX: &str = "sha256";

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Sha256 {
    sha2::Sha256::digest(data).into()
}

/// Lowercase hex rendering of `hash` (64 characters).
pub fn to_hex(hash: &Sha256) -> String {
    hex::encode(hash)
}

/// Parses 64 hex digits (either case) into a hash; anything else is `None`.
pub fn parse_hex(s: &str) -> Option<Sha256> {
    // Check the length first so that a long string is not decoded just to be
    // thrown away, and so that `decode_to_slice` cannot fail on length.
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// The object key for `hash`: `sha256/<first 2 hex digits>/<64 hex digits>`.
pub fn object_key(hash: &Sha256) -> Path {
    let hex = to_hex(hash);
    // Hex digits are always valid path parts, so building from parts cannot
    // produce an invalid or escaped path.
    Path::from_iter([PREFIX, &hex[..2], &hex])
}

/// Inverse of [`object_key`]: only keys exactly in the canonical form
/// (lowercase hex, matching fan-out directory) are accepted, because any
/// other spelling would not be found again by `object_key`.
pub(crate) fn parse_object_key(key: &Path) -> Option<Sha256> {
    let mut parts = key.parts();
    let prefix = parts.next()?;
    let fanout = parts.next()?;
    let name = parts.next()?;
    if parts.next().is_some() || prefix.as_ref() != PREFIX {
        return None;
    }
    let hash = parse_hex(name.as_ref())?;
    let canonical = to_hex(&hash);
    (canonical == name.as_ref() && fanout.as_ref() == &canonical[..2]).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answer_keys() {
        assert_eq!(
            object_key(&sha256(b"abc")).as_ref(),
            "sha256/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            object_key(&sha256(b"")).as_ref(),
            "sha256/e3/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_hex_rejects_bad_input() {
        assert_eq!(parse_hex(""), None);
        assert_eq!(parse_hex(&"0".repeat(63)), None);
        assert_eq!(parse_hex(&"0".repeat(65)), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
        // Multi-byte UTF-8 of the right byte length must not panic.
        assert_eq!(parse_hex(&"é".repeat(32)), None);
        assert_eq!(parse_hex(&"AB".repeat(32)), Some([0xab; 32]));
    }

    #[test]
    fn parse_object_key_rejects_non_canonical() {
        let hex = to_hex(&sha256(b"abc"));
        let good = Path::from_iter(["sha256", &hex[..2], &hex]);
        assert_eq!(parse_object_key(&good), Some(sha256(b"abc")));
        let upper = hex.to_uppercase();
        for bad in [
            Path::from_iter(["sha256", &upper[..2], &upper]),
            Path::from_iter(["sha256", "00", &hex]),
            Path::from_iter(["sha1", &hex[..2], &hex]),
            Path::from_iter(["sha256", &hex]),
            Path::from_iter(["sha256", &hex[..2], &hex, "x"]),
        ] {
            assert_eq!(parse_object_key(&bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn hex_and_key_round_trip(bytes in any::<[u8; 32]>()) {
            prop_assert_eq!(parse_hex(&to_hex(&bytes)), Some(bytes));
            prop_assert_eq!(parse_object_key(&object_key(&bytes)), Some(bytes));
        }
    }
}
