//! Reattach: the original message rebuilt, byte for byte, from a rewritten
//! one and the objects its stubs name; and the proof detach runs with it
//! before it hands out a rewritten message.
//!
//! The rewritten message differs from the original only where slimbox
//! wrote: the marker header, each stub (replaced by its recipe's header
//! block and the object's body) and the note part (`note`), removed with
//! its delimiter line.

use std::ops::Range;

use sha2::{Digest, Sha256 as Sha256Hasher};

use super::encoding::{encode_base64, Base64Layout, Eol};
use super::note::{self, Seen};
use super::recipe::{find_recipe, Recipe};
use super::structure::{self, display_path};
use super::stub;
use super::{Planned, ReattachError, Sha256};

/// Where reattach writes: a growing buffer, or a comparison against the
/// original (the proof at detach time, without a second copy in memory).
pub trait Sink {
    fn write(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Compares what is written with `expected`, byte for byte.
struct Compare<'e> {
    expected: &'e [u8],
    pos: usize,
    same: bool,
}

impl Sink for Compare<'_> {
    fn write(&mut self, bytes: &[u8]) {
        if !self.same {
            return;
        }
        let end = self.pos + bytes.len();
        if end > self.expected.len() {
            self.same = false;
            return;
        }
        let want = &self.expected[self.pos..end];
        // The very same bytes (a part proven while decoding, written from
        // the original) need no second comparison.
        if !std::ptr::eq(want.as_ptr(), bytes.as_ptr()) && want != bytes {
            self.same = false;
            return;
        }
        self.pos = end;
    }
}

/// The proof: reattach over the rewritten message, with the objects in
/// memory, gives back `raw` exactly.
pub(super) fn proves(raw: &[u8], rewritten: &[u8], planned: &[Planned]) -> bool {
    fn find<'p>(planned: &'p [Planned], h: &Sha256) -> Option<&'p [u8]> {
        planned.iter().find_map(|pl| {
            if &pl.part.sha256 == h {
                Some(&pl.content[..])
            } else if pl.part.raw_sha256.as_ref() == Some(h) {
                Some(pl.raw_body)
            } else {
                None
            }
        })
    }
    let lookup = |h: &Sha256| find(planned, h);
    let mut cmp = Compare {
        expected: raw,
        pos: 0,
        same: true,
    };
    // A base64 part whose layout was proven while decoding (every chunk
    // re-encoded and compared) is taken as its original bytes, once its
    // recipe, read back from the stub, is exactly the one proven.
    let proven = |path: &str, r: &Recipe| -> Option<&[u8]> {
        planned
            .iter()
            .find(|pl| pl.part.path == path && &pl.recipe == r && r.enc == "base64")
            .map(|pl| pl.raw_body)
    };
    // The objects were hashed while decoding; no need to hash them again.
    reattach_into(rewritten, &lookup, Some(&proven), &mut cmp, false).is_ok()
        && cmp.same
        && cmp.pos == raw.len()
}

/// The objects reattach will ask for, in order.
pub fn objects_needed(rewritten: &[u8]) -> Result<Vec<Sha256>, ReattachError> {
    let found = find_stubs(rewritten)?;
    let mut out = Vec::new();
    for (_, edit) in found.edits {
        let Edit::Stub(path, r) = edit else {
            continue;
        };
        let h = if r.enc == "raw" {
            r.raw.as_deref()
        } else {
            Some(r.sha256.as_str())
        };
        out.push(parse_hash(h, &path)?);
    }
    Ok(out)
}

/// Rebuilds the original message, byte for byte. `objects` returns the bytes
/// of an object by its SHA-256; each is checked against its hash.
pub fn reattach<'o>(
    rewritten: &[u8],
    objects: &dyn Fn(&Sha256) -> Option<&'o [u8]>,
) -> Result<Vec<u8>, ReattachError> {
    let mut out = Vec::with_capacity(rewritten.len());
    reattach_into(rewritten, objects, None, &mut out, true)?;
    Ok(out)
}

/// Does reattach give back exactly `expected`? Compares as it rebuilds, so
/// no second copy of the message is held. Objects are hash-checked unless
/// the caller says they already were (as the store's reads are).
pub fn reattach_equals<'o>(
    rewritten: &[u8],
    objects: &dyn Fn(&Sha256) -> Option<&'o [u8]>,
    expected: &[u8],
    objects_verified: bool,
) -> Result<bool, ReattachError> {
    let mut cmp = Compare {
        expected,
        pos: 0,
        same: true,
    };
    reattach_into(rewritten, objects, None, &mut cmp, !objects_verified)?;
    Ok(cmp.same && cmp.pos == expected.len())
}

/// One place where the rewritten message differs from the original, in
/// what follows the marker.
enum Edit {
    /// A stub: its part number and recipe.
    Stub(String, Recipe),
    /// The note part with its delimiter line: the original has nothing here.
    Note,
}

/// What slimbox wrote into a rewritten message.
struct Found {
    /// Where the marker header is.
    marker: Range<usize>,
    /// The stubs and the note, by their range in what follows the marker,
    /// in order.
    edits: Vec<(Range<usize>, Edit)>,
}

/// Finds the marker, the stubs (the parts with a recipe, whatever their
/// type, name or other headers say, so stubs of every version are found;
/// each with its part number in the original) and the note part.
fn find_stubs(rewritten: &[u8]) -> Result<Found, ReattachError> {
    let marker = stub::marker_span(rewritten).ok_or(ReattachError::NotProcessed)?;
    let body = &rewritten[marker.end..];
    let tree = structure::scan(body).map_err(ReattachError::Structure)?;
    let mut edits = Vec::new();
    for seen in note::walk(body, &tree) {
        let (p, path) = match seen {
            Seen::Note(p) => {
                let range = note::removal_range(body, p).ok_or_else(|| {
                    ReattachError::Structure(format!(
                        "the note part at part {} does not start on a line of its own",
                        p.path
                    ))
                })?;
                edits.push((range, Edit::Note));
                continue;
            }
            Seen::Part { part, path, .. } => (part, path),
        };
        if !p.children.is_empty() {
            continue;
        }
        if let Some(v) = find_recipe(&body[p.start..p.body_start]) {
            let recipe =
                Recipe::from_header_value(v).map_err(|reason| ReattachError::BadRecipe {
                    path: display_path(&path).to_string(),
                    reason,
                })?;
            let range = if path.is_empty() {
                0..body.len()
            } else {
                p.start..p.end
            };
            edits.push((range, Edit::Stub(path, recipe)));
        }
    }
    edits.sort_by_key(|e| e.0.start);
    Ok(Found { marker, edits })
}

pub(super) fn parse_hash(h: Option<&str>, path: &str) -> Result<Sha256, ReattachError> {
    let bad = || ReattachError::BadRecipe {
        path: display_path(path).to_string(),
        reason: "no valid SHA-256 in the recipe".into(),
    };
    let mut out = [0u8; 32];
    hex::decode_to_slice(h.ok_or_else(bad)?, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// A part already proven at detach time, given as its original bytes.
type Proven<'p, 'o> = &'p dyn Fn(&str, &Recipe) -> Option<&'o [u8]>;

fn reattach_into<'o>(
    rewritten: &[u8],
    objects: &dyn Fn(&Sha256) -> Option<&'o [u8]>,
    proven: Option<Proven<'_, 'o>>,
    out: &mut dyn Sink,
    verify: bool,
) -> Result<(), ReattachError> {
    let found = find_stubs(rewritten)?;
    // What comes before the marker (an mbox `From ` line) is the original's.
    out.write(&rewritten[..found.marker.start]);
    let body = &rewritten[found.marker.end..];
    let fetch = |h: &Sha256| -> Result<&'o [u8], ReattachError> {
        let data = objects(h).ok_or_else(|| ReattachError::MissingObject {
            sha256: hex::encode(h),
        })?;
        if verify && Sha256Hasher::digest(data).as_slice() != h {
            return Err(ReattachError::CorruptObject {
                sha256: hex::encode(h),
            });
        }
        Ok(data)
    };
    let mut cursor = 0;
    for (range, edit) in &found.edits {
        if range.start < cursor || range.end > body.len() {
            return Err(ReattachError::Structure(
                "the parts slimbox wrote overlap".to_string(),
            ));
        }
        out.write(&body[cursor..range.start]);
        cursor = range.end;
        let Edit::Stub(path, r) = edit else {
            // The note was not in the original: nothing to write.
            continue;
        };
        let bad = |reason: &str| ReattachError::BadRecipe {
            path: display_path(path).to_string(),
            reason: reason.to_string(),
        };
        out.write(&r.header_block().map_err(|e| bad(&e))?);
        if let Some(body) = proven.and_then(|p| p(path, r)) {
            out.write(body);
            continue;
        }
        original_body(path, r, &fetch, out)?;
    }
    out.write(&body[cursor..]);
    Ok(())
}

/// Writes the original encoded body of the part stub `path` stands for.
fn original_body<'o>(
    path: &str,
    r: &Recipe,
    fetch: &dyn Fn(&Sha256) -> Result<&'o [u8], ReattachError>,
    out: &mut dyn Sink,
) -> Result<(), ReattachError> {
    let bad = |reason: &str| ReattachError::BadRecipe {
        path: display_path(path).to_string(),
        reason: reason.to_string(),
    };
    match r.enc.as_str() {
        "raw" => out.write(fetch(&parse_hash(r.raw.as_deref(), path)?)?),
        "identity" => out.write(fetch(&parse_hash(Some(&r.sha256), path)?)?),
        "base64" => {
            let content = fetch(&parse_hash(Some(&r.sha256), path)?)?;
            let layout = Base64Layout {
                width: r.w.filter(|w| *w > 0).ok_or_else(|| bad("no line width"))?,
                eol: r
                    .eol
                    .as_deref()
                    .and_then(Eol::from_name)
                    .ok_or_else(|| bad("no line ending"))?,
                tail: base64_simd::STANDARD
                    .decode_to_vec(r.tail.as_deref().unwrap_or(""))
                    .map_err(|_| bad("tail is not base64"))?,
            };
            encode_base64(content, &layout, out);
        }
        other => return Err(bad(&format!("unknown encoding {other:?}"))),
    }
    Ok(())
}
