//! The recipe a stub part carries ([`RECIPE_HEADER`]): everything reattach
//! needs to rebuild the original part, as base64 JSON in a folded header.

use base64_simd::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::encoding::Eol;
use super::structure::raw_fields;

/// Header of a stub part carrying its recipe.
pub const RECIPE_HEADER: &str = "X-Slimbox-Recipe";
const RECIPE_VERSION: u32 = 1;

/// Everything reattach needs to rebuild one original part, carried in the stub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Recipe {
    pub v: u32,
    /// SHA-256 (hex) of the decoded content: the file itself.
    pub sha256: String,
    pub size: u64,
    /// "base64" (regenerate with `w`, `eol`, `tail`), "identity" (the body is the
    /// content) or "raw" (the original encoded body is object `raw`).
    pub enc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eol: Option<String>,
    /// Base64 of the white space after the last base64 line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
    /// SHA-256 (hex) of the original encoded body, when kept whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Base64 of the part's original header block, blank line included.
    pub hdr: String,
}

impl Recipe {
    pub fn new(sha256: &[u8; 32], size: u64, hdr: &[u8]) -> Recipe {
        Recipe {
            v: RECIPE_VERSION,
            sha256: hex::encode(sha256),
            size,
            enc: String::new(),
            w: None,
            eol: None,
            tail: None,
            raw: None,
            hdr: B64.encode_to_string(hdr),
        }
    }

    /// The recipe as a folded header field, ending with `eol`.
    pub(super) fn to_header(&self, eol: Eol) -> Vec<u8> {
        // Serialising a struct of strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let b64 = B64.encode_to_string(json);
        let mut out = Vec::with_capacity(b64.len() + b64.len() / 60 * 3 + 32);
        out.extend_from_slice(RECIPE_HEADER.as_bytes());
        out.extend_from_slice(b":");
        // Folded so no line passes 78 characters; the first line also holds
        // the field name.
        let (first, rest) = b64.as_bytes().split_at(58.min(b64.len()));
        for chunk in std::iter::once(first).chain(rest.chunks(76)) {
            out.push(b' ');
            out.extend_from_slice(chunk);
            out.extend_from_slice(eol.bytes());
        }
        out
    }

    /// Reads a recipe back from its folded header value.
    pub fn from_header_value(value: &[u8]) -> Result<Recipe, String> {
        let compact: Vec<u8> = value
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let json = B64
            .decode_to_vec(compact)
            .map_err(|_| "the recipe header is not valid base64".to_string())?;
        let r: Recipe = serde_json::from_slice(&json)
            .map_err(|e| format!("the recipe header does not parse: {e}"))?;
        if r.v != RECIPE_VERSION {
            return Err(format!(
                "recipe version {} is newer than this slimbox understands",
                r.v
            ));
        }
        Ok(r)
    }

    pub fn header_block(&self) -> Result<Vec<u8>, String> {
        B64.decode_to_vec(&self.hdr)
            .map_err(|_| "the recipe's header block is not valid base64".to_string())
    }
}

/// Finds our recipe header in a part's header block.
pub(crate) fn find_recipe(header_block: &[u8]) -> Option<&[u8]> {
    raw_fields(header_block)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(RECIPE_HEADER.as_bytes()))
        .map(|f| f.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_round_trips_through_its_header() {
        let mut r = Recipe::new(&[7; 32], 42, b"Content-Type: a/b\r\n\r\n");
        r.enc = "base64".into();
        r.w = Some(76);
        let h = r.to_header(Eol::CrLf);
        let fields = raw_fields(&h);
        assert_eq!(fields.len(), 1);
        assert_eq!(Recipe::from_header_value(fields[0].value).unwrap(), r);
        assert!(h.split(|&b| b == b'\n').all(|l| l.len() <= 80));
    }
}
