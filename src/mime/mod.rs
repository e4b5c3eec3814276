//! The detach engine: pure functions on raw message bytes, no I/O, no async,
//! never a panic on any input.
//!
//! [`detach`] takes a raw RFC 5322 message and a [`Policy`] and returns the
//! rewritten message plus the objects it removed; [`reattach`] rebuilds the
//! original, byte for byte, from the rewritten message and those objects.
//!
//! Detach splices on the raw byte ranges of parts (found by `structure`), so
//! every byte outside a replaced part stays as it was; the one addition is
//! the note part (`note`) that tells the reader which files moved and where
//! each opens from, which reattach removes exactly. Before it returns a
//! rewritten message it proves the round trip: it runs reattach over its own
//! output and compares every byte with the input. Anything it cannot handle
//! with certainty leaves the message untouched, with a reason.

mod converted;
pub mod display;
mod encoding;
mod entries;
mod note;
mod reattach;
mod recipe;
mod render;
mod safe;
mod select;
mod structure;
mod stub;

use std::borrow::Cow;
use std::collections::HashSet;
use std::convert::Infallible;

use sha2::{Digest, Sha256 as Sha256Hasher};

use encoding::{decode_base64_checked, decode_qp, Eol};
use reattach::{parse_hash, proves};
use recipe::Recipe;
use structure::{display_path, Cte, Part};

pub use converted::{read_converted, Converted, Marker};
pub use note::NOTE_HEADER;
pub use reattach::{objects_needed, reattach, reattach_equals, Sink};
pub use recipe::RECIPE_HEADER;
pub use safe::safe_name;
pub use select::{check_type_pattern, counts_as_attachment, type_allowed, type_matches};
pub use stub::{check_link_template, LINK_PLACEHOLDERS};
pub use stub::{render_link, MARKER_HEADER};

/// A SHA-256 digest.
pub type Sha256 = [u8; 32];

/// Content types that carry a signature or encryption over the message body:
/// rewriting any part under them would break it.
pub const PROTECTED_TYPES: &[&str] = &[
    "multipart/signed",
    "multipart/encrypted",
    "application/pkcs7-mime",
    "application/x-pkcs7-mime",
    "application/pgp-encrypted",
];

/// What to detach and how to link it.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Smallest decoded size of an attachment worth detaching (at least 1).
    pub min_size: u64,
    /// Content types to consider (`image/*`, `application/pdf`); empty: all.
    pub include_types: Vec<String>,
    /// Content types never to detach, checked after `include_types`.
    pub exclude_types: Vec<String>,
    /// Rewrite signed or encrypted messages too (breaks their signature).
    pub detach_signed: bool,
    /// Link template, see [`render_link`]: used when `links` is
    /// [`Links::Template`], and for a file [`Links::Given`] has no link for.
    pub link_template: String,
    /// Where each stub's link comes from.
    pub links: Links,
    /// The stub as plain text (the default) or as a small HTML page.
    pub stub_format: StubFormat,
    /// Write the note part that lists the moved files with their links
    /// (`[links] note`, on by default; see `note`).
    pub note: bool,
    /// How each stub's attachment entry looks (`[links] entries`).
    pub entries: Entries,
    /// Now, in Unix seconds: the date written into the message.
    pub now: i64,
}

/// Where a stub's link comes from. Each is pure computation, so the engine
/// stays free of I/O: whatever needs the file system (the readable copies'
/// names) is decided by the caller and handed in as [`Links::Given`], before
/// detach or, once the attachments are known, through [`detach_linked`].
#[derive(Debug, Clone, Default)]
pub enum Links {
    /// [`Policy::link_template`], filled in by [`render_link`].
    #[default]
    Template,
    /// A signed link to `slimbox serve` ([`crate::links`]).
    Signed(SignedLinks),
    /// Links chosen beforehand, by SHA-256 and safe file name
    /// ([`safe_name`]); a file not in the map gets the template's link.
    Given(std::sync::Arc<std::collections::HashMap<(Sha256, String), String>>),
}

/// What a signed link needs: the secret, the server's base URL, the expiry.
#[derive(Debug, Clone)]
pub struct SignedLinks {
    pub secret: std::sync::Arc<crate::links::Secret>,
    /// `[links] base_url`, e.g. `https://files.example.com`.
    pub base: String,
    /// Unix seconds after which links stop working; `None`: never.
    pub expires: Option<u64>,
}

/// `[links] stub_format`: how the part that replaces an attachment looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StubFormat {
    /// `text/plain`, readable in every client.
    #[default]
    Text,
    /// `text/html`: the same facts with the link as a button.
    Html,
}

/// `[links] entries`: how the stub's entry in a client's attachment list
/// looks. One MIME part cannot be the original for Thunderbird and plainly
/// a note for every other client at once: this chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entries {
    /// A small text named `<file>.detached.txt` (or `.html`), which every
    /// client opens as what it is: the stub's text.
    Note,
    /// Thunderbird's own detached format: the original type and name, and
    /// `X-Mozilla-External-Attachment-URL`, so Thunderbird opens the file
    /// itself from its `file://` link. Other clients show the stub's text
    /// under the original name. Only for `file:` links (Thunderbird fetches
    /// no other scheme there); any other link is written as [`Entries::Note`].
    Original,
}

/// The entry style when none is configured: the one place to change it.
pub const DEFAULT_ENTRIES: Entries = Entries::Note;

impl std::str::FromStr for Entries {
    type Err = String;

    /// `"note"` or `"original"`, as `[links] entries` and `--entries` take it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "note" => Ok(Entries::Note),
            "original" => Ok(Entries::Original),
            other => Err(format!(
                "{other:?} is not an entry style; write \"note\" (a small text saying \
                 the file moved) or \"original\" (Thunderbird's detached format, for \
                 file:// links)"
            )),
        }
    }
}

impl Default for Entries {
    fn default() -> Self {
        DEFAULT_ENTRIES
    }
}

impl Policy {
    /// The link a stub for `sha256` named `name` (already [`safe_name`]d)
    /// carries.
    pub fn link_for(&self, sha256: &Sha256, name: &str, size: u64) -> String {
        let sha_hex = hex::encode(sha256);
        let from_template = || render_link(&self.link_template, &sha_hex, name, size);
        match &self.links {
            Links::Template => from_template(),
            Links::Signed(s) => s.secret.file_link(&s.base, &sha_hex, name, s.expires),
            Links::Given(map) => map
                .get(&(*sha256, name.to_string()))
                .cloned()
                .unwrap_or_else(from_template),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_size: 1024 * 1024,
            include_types: Vec::new(),
            exclude_types: Vec::new(),
            detach_signed: false,
            link_template: "slimbox:sha256/{sha256}".to_string(),
            links: Links::Template,
            stub_format: StubFormat::Text,
            note: true,
            entries: DEFAULT_ENTRIES,
            now: 0,
        }
    }
}

/// One detached attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedPart {
    /// IMAP part number ("2", "1.3"); "" for a whole single-part message.
    pub path: String,
    /// SHA-256 of the decoded content: the file's identity in the store.
    pub sha256: Sha256,
    pub size: u64,
    pub filename: String,
    pub content_type: String,
    /// Set when the original encoded body could not be regenerated from the
    /// content and is kept as an object of its own.
    pub raw_sha256: Option<Sha256>,
    pub link: String,
}

/// An object to store: `data` hashes to `sha256`.
#[derive(Debug, Clone)]
pub struct Object<'a> {
    pub sha256: Sha256,
    pub data: Cow<'a, [u8]>,
}

/// The result of [`detach`].
#[derive(Debug, Default)]
pub struct Detached<'a> {
    /// The rewritten message; `None` when the message is left untouched.
    pub rewritten: Option<Vec<u8>>,
    pub parts: Vec<DetachedPart>,
    /// Distinct objects, each once, that must be stored before the rewritten
    /// message replaces the original.
    pub objects: Vec<Object<'a>>,
    /// Why nothing was changed, when nothing was.
    pub untouched_reason: Option<String>,
    /// Parts that looked like candidates but were left as they were, and why.
    pub notes: Vec<String>,
}

impl Detached<'_> {
    fn untouched(reason: impl Into<String>) -> Self {
        Detached {
            untouched_reason: Some(reason.into()),
            ..Detached::default()
        }
    }
}

/// Why a rewritten message could not be turned back into its original.
#[derive(Debug, thiserror::Error)]
pub enum ReattachError {
    #[error("this message was not processed by slimbox (it has no {MARKER_HEADER} header): there is nothing to reattach")]
    NotProcessed,
    #[error("the message structure is damaged ({0}): it was changed after slimbox wrote it")]
    Structure(String),
    #[error("the stub at part {path} is damaged: {reason}")]
    BadRecipe { path: String, reason: String },
    #[error("object {sha256} is missing from the store: restore the store from a backup, then try again")]
    MissingObject { sha256: String },
    #[error("object {sha256} in the store does not match its SHA-256: it is corrupt; restore it from a backup")]
    CorruptObject { sha256: String },
}

/// Does this message carry slimbox's processed marker (first, or right
/// after an mbox `From ` line)?
pub fn is_processed(raw: &[u8]) -> bool {
    stub::marker_span(raw).is_some()
}

/// The marker header line of a processed message, without its line break
/// (`X-Slimbox: v=1; parts=1; ...`), wherever slimbox put it: first, or
/// right after an mbox `From ` line. `None` when the message carries no
/// marker or it is not UTF-8.
pub fn marker_line(raw: &[u8]) -> Option<&str> {
    let span = stub::marker_span(raw)?;
    let field = &raw[span];
    // slimbox writes the marker as one line; a folded one is read to its
    // first line break like any header line.
    let end = memchr::memchr(b'\n', field).unwrap_or(field.len());
    let line = field[..end].strip_suffix(b"\r").unwrap_or(&field[..end]);
    std::str::from_utf8(line).ok()
}

/// A candidate part, decoded, with what its stub needs.
struct Planned<'a> {
    part: DetachedPart,
    range: std::ops::Range<usize>,
    recipe: Recipe,
    content: Cow<'a, [u8]>,
    raw_body: &'a [u8],
}

/// Detaches the attachments of `raw` that `policy` selects. Never fails: a
/// message that cannot be handled with certainty comes back untouched, with
/// the reason. Before it returns a rewritten message, it proves that
/// [`reattach`] over it, with the objects, gives back `raw` exactly.
pub fn detach<'a>(raw: &'a [u8], policy: &Policy) -> Detached<'a> {
    detach_linked(raw, policy, true, |_| Ok::<_, Infallible>(None)).unwrap_or_else(|e| match e {})
}

/// [`detach`] without its own proof of the round trip, for a caller that
/// proves it anyway from where it stored the objects, byte for byte, before
/// it relies on the result; when that proof fails, the caller must call
/// [`detach`] (which may then keep original bodies whole) and prove again.
/// It saves re-encoding every attachment once more.
pub fn detach_unproven<'a>(raw: &'a [u8], policy: &Policy) -> Detached<'a> {
    detach_linked(raw, policy, false, |_| Ok::<_, Infallible>(None)).unwrap_or_else(|e| match e {})
}

/// [`detach`] (with its own proof when `prove`, else as
/// [`detach_unproven`]) whose links the caller chooses once the attachments
/// are known: `choose` is called once, with every part that will be
/// detached, before any stub is written, and returns the links to use
/// (`None`: the policy's own). A caller whose links depend on the files
/// (the readable copies' names, chosen on disk) thus needs one detach, not
/// one to learn the files and another to write the stubs. Its error ends
/// the detach and is returned as it is.
pub fn detach_linked<'a, E>(
    raw: &'a [u8],
    policy: &Policy,
    prove: bool,
    choose: impl FnOnce(&[DetachedPart]) -> Result<Option<Links>, E>,
) -> Result<Detached<'a>, E> {
    // An mbox `From ` line is not part of the message's header: it stays
    // first, the marker goes after it, and the message is read without it.
    let (from_line, msg) = raw.split_at(stub::mbox_from_len(raw));
    let (tree, mut planned, notes) = match plan(msg, policy, prove) {
        Ok(p) => p,
        Err(untouched) => return Ok(untouched),
    };
    let parts: Vec<DetachedPart> = planned.iter().map(|pl| pl.part.clone()).collect();
    let chosen = choose(&parts)?.map(|links| Policy {
        links,
        ..policy.clone()
    });
    let policy = match &chosen {
        Some(p) => {
            for pl in &mut planned {
                let name = safe_name(&pl.part.filename);
                pl.part.link = p.link_for(&pl.part.sha256, &name, pl.part.size);
            }
            p
        }
        None => policy,
    };
    let original = Original { from_line, msg };
    Ok(finish(raw, &original, &tree, planned, notes, policy, prove))
}

/// The parts of `msg` (the message after any mbox `From ` line) the policy
/// detaches, decoded and hashed, with the notes on parts left as they
/// were; `Err` is the whole message left untouched, and why.
fn plan<'a>(
    msg: &'a [u8],
    policy: &Policy,
    prove: bool,
) -> Result<(Part, Vec<Planned<'a>>, Vec<String>), Detached<'a>> {
    let top_header_end = structure::header_end(msg, 0, msg.len());
    if stub::has_marker(&msg[..top_header_end]) {
        return Err(Detached::untouched("already processed by slimbox"));
    }
    let tree = match structure::scan(msg) {
        Ok(t) => t,
        Err(reason) => {
            return Err(Detached::untouched(format!(
                "MIME structure is not certain: {reason}"
            )))
        }
    };
    let mut all = Vec::new();
    tree.walk(&mut all);
    for p in &all {
        if !policy.detach_signed && PROTECTED_TYPES.contains(&p.info.content_type.as_str()) {
            return Err(Detached::untouched(format!(
                "signed or encrypted ({}); slimbox never rewrites those unless asked",
                p.info.content_type
            )));
        }
        let header = &msg[p.start..p.body_start];
        if recipe::find_recipe(header).is_some() || note::is_note(header) {
            return Err(Detached::untouched(format!(
                "part {} already carries a {RECIPE_HEADER} or {NOTE_HEADER} header",
                display_path(&p.path)
            )));
        }
    }
    let cids = select::referenced_cids(msg, &all);
    let mut notes = Vec::new();
    let mut planned = Vec::new();
    for p in all
        .iter()
        .filter(|p| select::is_candidate(p, policy, &cids))
    {
        match plan_part(msg, p, policy, prove) {
            Ok(Some(pl)) => planned.push(pl),
            Ok(None) => {}
            Err(note) => notes.push(format!("part {}: {note}; left as it was", p.path)),
        }
    }
    if planned.is_empty() {
        let mut d = Detached::untouched(format!(
            "no attachment of at least {} bytes to detach",
            policy.min_size.max(1)
        ));
        d.notes = notes;
        return Err(d);
    }
    Ok((tree, planned, notes))
}

/// Writes the stubs of the `planned` parts and, when `prove`, proves the
/// result gives back `raw` exactly (falling back to keeping bodies whole).
fn finish<'a>(
    raw: &'a [u8],
    original: &Original<'a>,
    tree: &Part,
    mut planned: Vec<Planned<'a>>,
    notes: Vec<String>,
    policy: &Policy,
    prove: bool,
) -> Detached<'a> {
    let msg = original.msg;
    let eol = Eol::of(&msg[..structure::header_end(msg, 0, msg.len())]);
    let mut rewritten = render::render(original, &planned, tree, policy, eol);
    if prove && !proves(raw, &rewritten, &planned) {
        // The fast path's layout guess did not regenerate the bytes exactly:
        // keep every original body whole and prove again.
        for pl in &mut planned {
            force_raw(pl);
        }
        rewritten = render::render(original, &planned, tree, policy, eol);
        if !proves(raw, &rewritten, &planned) {
            return Detached::untouched(
                "the original could not be proven reconstructible (please report this message)",
            );
        }
    }
    let mut objects: Vec<Object<'a>> = Vec::new();
    let mut seen = HashSet::new();
    let mut parts = Vec::with_capacity(planned.len());
    for pl in planned {
        if let Some(raw_sha) = pl.part.raw_sha256 {
            if seen.insert(raw_sha) {
                objects.push(Object {
                    sha256: raw_sha,
                    data: Cow::Borrowed(pl.raw_body),
                });
            }
        }
        if seen.insert(pl.part.sha256) {
            objects.push(Object {
                sha256: pl.part.sha256,
                data: pl.content,
            });
        }
        parts.push(pl.part);
    }
    Detached {
        rewritten: Some(rewritten),
        parts,
        objects,
        untouched_reason: None,
        notes,
    }
}

/// Decodes a candidate and prepares its recipe. `Ok(None)`: smaller than the
/// policy's minimum once decoded. `Err`: cannot be decoded, left as it was.
fn plan_part<'a>(
    raw: &'a [u8],
    p: &Part,
    policy: &Policy,
    prove: bool,
) -> Result<Option<Planned<'a>>, String> {
    let body = &raw[p.body_start..p.end];
    let hdr = &raw[p.start..p.body_start];
    let (content, sha256, layout, keep_raw): (Cow<'a, [u8]>, Sha256, _, bool) = match p.info.cte() {
        Cte::Base64 => {
            let d = decode_base64_checked(body, prove)?;
            let keep_raw = d.layout.is_none();
            (Cow::Owned(d.content), d.sha256, d.layout, keep_raw)
        }
        Cte::QuotedPrintable => {
            // Quoted-printable has many valid encodings of one content: keep
            // the original body too, so reattach never has to guess.
            let c = decode_qp(body);
            let h = Sha256Hasher::digest(&c).into();
            (Cow::Owned(c), h, None, true)
        }
        Cte::Identity => (
            Cow::Borrowed(body),
            Sha256Hasher::digest(body).into(),
            None,
            false,
        ),
        Cte::Other(e) => return Err(format!("unknown transfer encoding {e:?}")),
    };
    if (content.len() as u64) < policy.min_size.max(1) {
        return Ok(None);
    }
    let content_type = p.info.content_type.clone();
    let filename = p
        .info
        .filename
        .clone()
        .unwrap_or_else(|| default_name(&p.info.content_type, &p.path));
    let size = content.len() as u64;
    let link = policy.link_for(&sha256, &safe_name(&filename), size);
    let mut recipe = Recipe::new(&sha256, size, hdr);
    let is_identity = matches!(p.info.cte(), Cte::Identity);
    recipe.enc = if is_identity { "identity" } else { "base64" }.into();
    if let Some(l) = &layout {
        recipe.w = Some(l.width);
        recipe.eol = Some(l.eol.name().into());
        recipe.tail = Some(base64_simd::STANDARD.encode_to_string(&l.tail));
    }
    let mut pl = Planned {
        part: DetachedPart {
            path: p.path.clone(),
            sha256,
            size,
            filename,
            content_type,
            raw_sha256: None,
            link,
        },
        range: if p.path.is_empty() {
            0..raw.len()
        } else {
            p.start..p.end
        },
        recipe,
        content,
        raw_body: body,
    };
    if keep_raw {
        force_raw(&mut pl);
    }
    Ok(Some(pl))
}

/// Switches a planned part to keeping its original encoded body whole.
fn force_raw(pl: &mut Planned) {
    if pl.recipe.enc == "identity" || pl.recipe.enc == "raw" {
        return;
    }
    let raw_sha: Sha256 = Sha256Hasher::digest(pl.raw_body).into();
    pl.part.raw_sha256 = Some(raw_sha);
    pl.recipe.enc = "raw".into();
    pl.recipe.raw = Some(hex::encode(raw_sha));
    pl.recipe.w = None;
    pl.recipe.eol = None;
    pl.recipe.tail = None;
}

/// A file name for a part that has none, from its type and IMAP part
/// number (also read back from a stub by `converted`).
fn default_name(content_type: &str, path: &str) -> String {
    let t = content_type;
    let ext = match t {
        "message/rfc822" | "message/global" => "eml",
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "application/zip" => "zip",
        "text/plain" => "txt",
        "text/html" => "html",
        "video/mp4" => "mp4",
        _ => "bin",
    };
    if ext == "eml" {
        "forwarded-message.eml".to_string()
    } else {
        format!(
            "attachment-{}.{ext}",
            if path.is_empty() { "1" } else { path }
        )
    }
}

/// The message detach reads: its mbox `From ` line (often empty) and the
/// message after it, which every part offset is relative to.
struct Original<'a> {
    from_line: &'a [u8],
    msg: &'a [u8],
}

#[cfg(test)]
mod tests;
