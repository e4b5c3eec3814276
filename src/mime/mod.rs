//! The detach engine: pure functions on raw message bytes, no I/O, no async,
//! never a panic on any input.
//!
//! [`detach`] takes a raw RFC 5322 message and a [`Policy`] and returns the
//! rewritten message plus the objects it removed; [`reattach`] rebuilds the
//! original, byte for byte, from the rewritten message and those objects.
//!
//! Detach splices on the raw byte ranges of parts (found by `structure`), so
//! every byte outside a replaced part stays as it was. Before it returns a
//! rewritten message it proves the round trip: it runs reattach over its own
//! output and compares every byte with the input. Anything it cannot handle
//! with certainty leaves the message untouched, with a reason.

mod converted;
pub mod display;
mod encoding;
mod structure;
mod stub;

use std::borrow::Cow;
use std::collections::HashSet;
use std::convert::Infallible;

use sha2::{Digest, Sha256 as Sha256Hasher};

use encoding::{decode_base64, decode_base64_checked, decode_qp, encode_base64, Base64Layout, Eol};
use structure::{display_path, Cte, Part};
use stub::{Recipe, StubText};

pub use converted::{read_converted, Converted, Marker};
pub use stub::{check_link_template, LINK_PLACEHOLDERS};
pub use stub::{render_link, safe_name, MARKER_HEADER, RECIPE_HEADER};

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
        if stub::find_recipe(&msg[p.start..p.body_start]).is_some() {
            return Err(Detached::untouched(format!(
                "part {} already carries a {RECIPE_HEADER} header",
                display_path(&p.path)
            )));
        }
    }
    let cids = referenced_cids(msg, &all);
    let mut notes = Vec::new();
    let mut planned = Vec::new();
    for p in all.iter().filter(|p| is_candidate(p, policy, &cids)) {
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
    let mut rewritten = render(original, &planned, tree, policy, eol);
    if prove && !proves(raw, &rewritten, &planned) {
        // The fast path's layout guess did not regenerate the bytes exactly:
        // keep every original body whole and prove again.
        for pl in &mut planned {
            force_raw(pl);
        }
        rewritten = render(original, &planned, tree, policy, eol);
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

/// Is this part one the policy wants detached (before decoding)?
fn is_candidate(p: &Part, policy: &Policy, cids: &HashSet<String>) -> bool {
    let info = &p.info;
    if !p.children.is_empty() || info.is_multipart() {
        return false;
    }
    if ((p.end - p.body_start) as u64) < policy.min_size.max(1) {
        // Decoding never makes a body larger, so this part is too small.
        return false;
    }
    if matches!(info.cte(), Cte::Other(_)) {
        return false;
    }
    let is_message = matches!(
        info.content_type.as_str(),
        "message/rfc822" | "message/global"
    );
    let wanted = if p.path.is_empty() {
        // A whole single-part message: only when it is an attachment itself.
        !is_message && is_attachment(p)
    } else {
        is_message || is_attachment(p)
    };
    if !wanted {
        return false;
    }
    if let Some(cid) = &info.content_id {
        if cids.contains(cid) {
            return false;
        }
    }
    type_allowed(
        &info.content_type,
        &policy.include_types,
        &policy.exclude_types,
    )
}

fn is_attachment(p: &Part) -> bool {
    let info = &p.info;
    counts_as_attachment(
        &info.content_type,
        info.disposition.as_deref(),
        info.filename.is_some(),
        p.path.is_empty(),
    )
}

/// Does a leaf part count as an attachment, from its headers alone? The one
/// rule for the engine and for the server-side pre-selection.
///
/// `content_type` and `disposition` are lower-case; `named`: it has a file
/// name, from Content-Disposition `filename` or Content-Type `name`;
/// `whole_message`: the part is the message itself (a single-part message).
/// A part marked `attachment` counts; so does a named part that is not text.
/// A named text part counts only without a Content-Disposition (how older
/// mailers send a text file: `text/plain; name="log.txt"`) and inside a
/// multipart: the message's own text (no name, `inline`, or the whole
/// message) never does.
pub fn counts_as_attachment(
    content_type: &str,
    disposition: Option<&str>,
    named: bool,
    whole_message: bool,
) -> bool {
    let main = content_type.split('/').next().unwrap_or("");
    if disposition == Some("attachment") {
        return true;
    }
    if !named || main == "multipart" || main == "message" {
        return false;
    }
    main != "text" || (disposition.is_none() && !whole_message)
}

/// Does content type `t` (lower-case) match `pattern` (`*`, `image/*`,
/// `application/pdf`)?
pub fn type_matches(t: &str, pattern: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    pattern == "*"
        || pattern == t
        || pattern
            .strip_suffix("/*")
            .is_some_and(|main| t.split('/').next() == Some(main))
}

/// Do the include and exclude filters let content type `t` through?
pub fn type_allowed(t: &str, include: &[String], exclude: &[String]) -> bool {
    (include.is_empty() || include.iter().any(|p| type_matches(t, p)))
        && !exclude.iter().any(|p| type_matches(t, p))
}

/// Checks a content-type pattern before it is used: `*`, `type/*` or
/// `type/subtype`, the forms [`type_matches`] understands. Anything else
/// would silently match nothing; the error says what to write instead.
pub fn check_type_pattern(t: &str) -> Result<(), String> {
    let p = t.trim();
    if p == "*" {
        return Ok(());
    }
    let bad = || {
        format!(
            "{t:?} is not a content-type pattern; write \"type/subtype\" \
             (\"application/pdf\"), \"type/*\" (\"image/*\") or \"*\""
        )
    };
    let (main, sub) = p.split_once('/').ok_or_else(bad)?;
    // RFC 6838 restricted-name characters.
    let token_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    if token_ok(main) && (sub == "*" || token_ok(sub)) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Content-IDs that an HTML part refers to with `cid:`: those parts are the
/// message's own pictures and stay.
fn referenced_cids(raw: &[u8], parts: &[&Part]) -> HashSet<String> {
    let mut out = HashSet::new();
    for p in parts {
        if p.info.content_type != "text/html" || !p.children.is_empty() {
            continue;
        }
        let body = &raw[p.body_start..p.end];
        let html: Cow<[u8]> = match p.info.cte() {
            Cte::Base64 => match decode_base64(body) {
                Ok(d) => Cow::Owned(d.content),
                Err(_) => continue,
            },
            Cte::QuotedPrintable => Cow::Owned(decode_qp(body)),
            _ => Cow::Borrowed(body),
        };
        let lower = html.to_ascii_lowercase();
        for i in memchr::memmem::find_iter(&lower, b"cid:") {
            let rest = &html[i + 4..];
            let end = rest
                .iter()
                .position(|b| b"\"'<>() \t\r\n".contains(b))
                .unwrap_or(rest.len());
            let id = String::from_utf8_lossy(&rest[..end]).to_string();
            let decoded = percent_encoding::percent_decode_str(&id)
                .decode_utf8_lossy()
                .to_string();
            out.insert(id);
            out.insert(decoded);
        }
    }
    out
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

/// Builds the rewritten message: the mbox `From ` line if any, the marker,
/// then the message with each planned range replaced by its stub.
fn render(
    original: &Original,
    planned: &[Planned],
    tree: &Part,
    policy: &Policy,
    eol: Eol,
) -> Vec<u8> {
    let Original {
        from_line,
        msg: raw,
    } = *original;
    let bytes: u64 = planned.iter().map(|p| p.part.size).sum();
    let date = stub::marker_date(policy.now);
    let altered = stub::thunderbird_date(policy.now);
    let original_size = from_line.len() + raw.len();
    let mut out = from_line.to_vec();
    out.extend_from_slice(&stub::marker(
        planned.len(),
        bytes,
        original_size,
        &date,
        eol,
    ));
    let mut cursor = 0;
    for pl in planned {
        out.extend_from_slice(&raw[cursor..pl.range.start]);
        let (kept, part_eol) = if pl.part.path.is_empty() {
            let hdr = &raw[..tree.body_start];
            (stub::non_mime_fields(hdr), Eol::of(hdr))
        } else {
            (Vec::new(), Eol::of(&raw[pl.range.start..]))
        };
        let sha_hex = hex::encode(pl.part.sha256);
        let text = StubText {
            filename: &pl.part.filename,
            content_type: &pl.part.content_type,
            size: pl.part.size,
            sha256_hex: &sha_hex,
            link: &pl.part.link,
            message_id: tree.info.message_id.as_deref(),
            altered_date: &altered,
        };
        let stub = match policy.stub_format {
            StubFormat::Text => stub::render_stub(&text, &pl.recipe, &kept, part_eol),
            StubFormat::Html => stub::render_html_stub(&text, &pl.recipe, &kept, part_eol),
        };
        out.extend_from_slice(&stub);
        cursor = pl.range.end;
    }
    out.extend_from_slice(&raw[cursor..]);
    out
}

/// The proof: reattach over the rewritten message, with the objects in
/// memory, gives back `raw` exactly.
fn proves(raw: &[u8], rewritten: &[u8], planned: &[Planned]) -> bool {
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
    let (_, stubs) = find_stubs(rewritten)?;
    let mut out = Vec::new();
    for (_, path, r) in stubs {
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

type Stub = (std::ops::Range<usize>, String, Recipe);

/// Where the marker is, and the stubs (range in what follows the marker,
/// path, recipe).
fn find_stubs(rewritten: &[u8]) -> Result<(std::ops::Range<usize>, Vec<Stub>), ReattachError> {
    let marker = stub::marker_span(rewritten).ok_or(ReattachError::NotProcessed)?;
    let body = &rewritten[marker.end..];
    let tree = structure::scan(body).map_err(ReattachError::Structure)?;
    let mut all = Vec::new();
    tree.walk(&mut all);
    let mut stubs = Vec::new();
    for p in all {
        if !p.children.is_empty() {
            continue;
        }
        if let Some(v) = stub::find_recipe(&body[p.start..p.body_start]) {
            let recipe =
                Recipe::from_header_value(v).map_err(|reason| ReattachError::BadRecipe {
                    path: display_path(&p.path).to_string(),
                    reason,
                })?;
            let range = if p.path.is_empty() {
                0..body.len()
            } else {
                p.start..p.end
            };
            stubs.push((range, p.path.clone(), recipe));
        }
    }
    stubs.sort_by_key(|s| s.0.start);
    Ok((marker, stubs))
}

fn parse_hash(h: Option<&str>, path: &str) -> Result<Sha256, ReattachError> {
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
    let (marker, stubs) = find_stubs(rewritten)?;
    // What comes before the marker (an mbox `From ` line) is the original's.
    out.write(&rewritten[..marker.start]);
    let body = &rewritten[marker.end..];
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
    for (range, path, r) in &stubs {
        let bad = |reason: &str| ReattachError::BadRecipe {
            path: display_path(path).to_string(),
            reason: reason.to_string(),
        };
        if range.start < cursor {
            return Err(bad("stubs overlap"));
        }
        out.write(&body[cursor..range.start]);
        out.write(&r.header_block().map_err(|e| bad(&e))?);
        if let Some(body) = proven.and_then(|p| p(path, r)) {
            out.write(body);
            cursor = range.end;
            continue;
        }
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
        cursor = range.end;
    }
    out.write(&body[cursor..]);
    Ok(())
}

#[cfg(test)]
mod tests;
