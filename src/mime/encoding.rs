//! Content transfer encodings: decoding bodies to their content, and the exact
//! re-encoding that reattach uses to give back the original bytes.
//!
//! A base64 body is described by a [`Base64Layout`]: lines of `width` characters
//! joined by one line ending, then a tail of white space. Decoding finds that
//! layout while it decodes; when a body does not fit it (ragged lines, mixed
//! line endings) the caller keeps the original body as an object of its own.

use sha2::{Digest, Sha256};

use super::Sink;

/// Base64 characters handled per step: large enough to amortise the SIMD
/// set-up, small enough to stay in the L2 cache while hashing.
const CHUNK_CHARS: usize = 64 * 1024;

/// Line ending of an encoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eol {
    CrLf,
    Lf,
}

impl Eol {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Eol::CrLf => b"\r\n",
            Eol::Lf => b"\n",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Eol::CrLf => "crlf",
            Eol::Lf => "lf",
        }
    }
    pub fn from_name(s: &str) -> Option<Eol> {
        match s {
            "crlf" => Some(Eol::CrLf),
            "lf" => Some(Eol::Lf),
            _ => None,
        }
    }
    /// The line ending a header block uses (its first line's).
    pub fn of(block: &[u8]) -> Eol {
        match memchr::memchr(b'\n', block) {
            Some(i) if i > 0 && block[i - 1] == b'\r' => Eol::CrLf,
            Some(_) => Eol::Lf,
            None => Eol::CrLf,
        }
    }
}

/// How a base64 body is laid out, enough to regenerate it from its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Base64Layout {
    pub width: usize,
    pub eol: Eol,
    /// White space after the last base64 character, kept verbatim.
    pub tail: Vec<u8>,
}

/// A decoded body: the content, its SHA-256, and the layout when the body is
/// regular enough to regenerate.
pub(crate) struct Decoded {
    pub content: Vec<u8>,
    pub sha256: [u8; 32],
    pub layout: Option<Base64Layout>,
}

/// The longest tail of white space we record in a recipe; more is not a tail
/// but a body we keep whole.
const MAX_TAIL: usize = 256;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Decodes a base64 body. `Err` when it is not valid base64 at all.
pub(crate) fn decode_base64(body: &[u8]) -> Result<Decoded, String> {
    decode_base64_checked(body, true)
}

/// [`decode_base64`]; with `check` false a regular body's layout is taken
/// from its line structure without re-encoding each chunk to prove it, for
/// a caller that proves the whole round trip itself.
pub(crate) fn decode_base64_checked(body: &[u8], check: bool) -> Result<Decoded, String> {
    let core_len = body.iter().rposition(|&b| !is_ws(b)).map_or(0, |p| p + 1);
    let (core, tail) = body.split_at(core_len);
    if let Some(d) = decode_regular(core, tail, check) {
        return Ok(d);
    }
    // Irregular: drop all white space and decode what remains.
    let mut chars: Vec<u8> = body.iter().copied().filter(|&b| !is_ws(b)).collect();
    let content = base64_simd::STANDARD
        .decode_inplace(&mut chars)
        .map_err(|_| "invalid base64".to_string())?
        .to_vec();
    let sha256 = Sha256::digest(&content).into();
    Ok(Decoded {
        content,
        sha256,
        layout: None,
    })
}

/// Bodies at least this large are hashed on a second thread while the first
/// decodes: SHA-256 is the slowest step, and overlapping it with decoding is
/// what brings detach close to the speed of hashing alone.
const PARALLEL_MIN: usize = 1 << 20;

/// The fast path: lines of one width and one line ending. Decodes in
/// cache-sized chunks straight into the content, proves each chunk by
/// re-encoding it and comparing with the original characters, and hashes
/// each chunk as it comes. `None` when the body is not regular (or not valid,
/// or not canonical), so the caller takes the general path.
fn decode_regular(core: &[u8], tail: &[u8], check: bool) -> Option<Decoded> {
    if core.is_empty() || tail.len() > MAX_TAIL {
        return None;
    }
    let (width, eol) = match memchr::memchr(b'\n', core) {
        Some(nl) if nl > 0 && core[nl - 1] == b'\r' => (nl - 1, Eol::CrLf),
        Some(nl) => (nl, Eol::Lf),
        None => (core.len(), Eol::Lf),
    };
    if width == 0 {
        return None;
    }
    let stride = width + eol.bytes().len();
    // Exact decoded size, from the line count and the padding.
    let full_lines = (core.len() - 1) / stride;
    let last_len = core.len() - full_lines * stride;
    if last_len > width {
        return None;
    }
    let chars = full_lines * width + last_len;
    if !chars.is_multiple_of(4) {
        return None;
    }
    let pad = core
        .iter()
        .rev()
        .filter(|&&b| !is_ws(b))
        .take(2)
        .filter(|&&b| b == b'=')
        .count();
    let mut content = vec![0u8; chars / 4 * 3 - pad];
    let sha256 = if core.len() < PARALLEL_MIN {
        let mut hasher = Sha256::new();
        decode_lines(core, width, eol, check, &mut content, &mut |chunk| {
            hasher.update(chunk);
            Some(())
        })?;
        hasher.finalize().into()
    } else {
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<&[u8]>(16);
            let hasher = s.spawn(move || {
                let mut hasher = Sha256::new();
                for chunk in rx {
                    hasher.update(chunk);
                }
                <[u8; 32]>::from(hasher.finalize())
            });
            let decoded = decode_lines(core, width, eol, check, &mut content, &mut |chunk| {
                tx.send(chunk).ok()
            });
            drop(tx);
            let hash = hasher.join().ok();
            decoded.and(hash)
        })?
    };
    Some(Decoded {
        content,
        sha256,
        layout: Some(Base64Layout {
            width,
            eol,
            tail: tail.to_vec(),
        }),
    })
}

/// Walks lines of exactly `width` characters joined by `eol` (the last line
/// may be shorter), decodes them chunk by chunk into `content` (sized
/// exactly), re-encodes each decoded chunk and compares it with the original
/// characters (the exactness proof, unless `check` is false), and hands each
/// chunk to `sink`. `None` as soon as the body is not regular, not valid or
/// (when checked) not canonical.
fn decode_lines<'c>(
    core: &[u8],
    width: usize,
    eol: Eol,
    check: bool,
    content: &'c mut [u8],
    sink: &mut dyn FnMut(&'c [u8]) -> Option<()>,
) -> Option<()> {
    use base64_simd::AsOut;
    let eol_b = eol.bytes();
    let stride = width + eol_b.len();
    let mut scratch: Vec<u8> = Vec::with_capacity(CHUNK_CHARS + stride);
    let mut checked = vec![0u8; if check { CHUNK_CHARS } else { 0 }];
    let mut out_chunks = content.chunks_mut(CHUNK_CHARS / 4 * 3);
    let mut pos = 0;
    loop {
        let rest = core.len() - pos;
        let last = rest <= width;
        let line = if last {
            // A line break or white space inside the last line: not regular.
            if core[pos..].iter().any(|&b| is_ws(b)) {
                return None;
            }
            &core[pos..]
        } else {
            if rest < stride || &core[pos + width..pos + stride] != eol_b {
                return None;
            }
            &core[pos..pos + width]
        };
        scratch.extend_from_slice(line);
        while scratch.len() >= CHUNK_CHARS || (last && !scratch.is_empty()) {
            let take = scratch.len().min(CHUNK_CHARS);
            let src = &scratch[..take];
            let dst = out_chunks.next()?;
            let decoded = base64_simd::STANDARD.decode(src, dst.as_out()).ok()?;
            if decoded.len() != dst.len() {
                return None;
            }
            // The proof: the decoded bytes encode back to the very same
            // characters (this also rejects non-canonical padding bits).
            if check {
                let again = base64_simd::STANDARD.encode(dst, checked[..].as_out());
                if again != src {
                    return None;
                }
            }
            sink(dst)?;
            scratch.drain(..take);
        }
        if last {
            return out_chunks.next().is_none().then_some(());
        }
        pos += stride;
    }
}

/// Writes `content` base64-encoded in `layout` to `out`: the inverse of
/// [`decode_base64`] for a regular body.
pub(crate) fn encode_base64(content: &[u8], layout: &Base64Layout, out: &mut dyn Sink) {
    let width = layout.width.max(1);
    let eol = layout.eol.bytes();
    // 3 * width bytes encode to exactly 4 full lines, so every chunk but the
    // last ends on a line boundary whatever the width.
    let lines_per_chunk = (CHUNK_CHARS / (4 * width)).max(1) * 4;
    let bytes_per_chunk = lines_per_chunk / 4 * 3 * width;
    let mut chars = Vec::with_capacity(lines_per_chunk * width + 4);
    let mut first = true;
    for chunk in content.chunks(bytes_per_chunk) {
        chars.clear();
        base64_simd::STANDARD.encode_append(chunk, &mut chars);
        for line in chars.chunks(width) {
            if !first {
                out.write(eol);
            }
            first = false;
            out.write(line);
        }
    }
    out.write(&layout.tail);
}

/// Decodes a quoted-printable body (RFC 2045 6.7): soft breaks removed, white
/// space at line ends dropped, hard breaks as CRLF, malformed `=` kept as is.
pub(crate) fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(mut line) = lines.next() {
        let has_break = lines.peek().is_some();
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        while let Some((&last, rest)) = line.split_last() {
            if last == b' ' || last == b'\t' {
                line = rest;
            } else {
                break;
            }
        }
        let soft = line.last() == Some(&b'=');
        if soft {
            line = &line[..line.len() - 1];
        }
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if b == b'=' {
                if let (Some(h), Some(l)) = (
                    line.get(i + 1).and_then(|c| hex_val(*c)),
                    line.get(i + 2).and_then(|c| hex_val(*c)),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(b);
            i += 1;
        }
        if has_break && !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A text body as slimbox writes it (stubs, the note): `7bit` when it is
/// ASCII with every line at most 998 bytes and none starting with `-` (no
/// line may look like a boundary delimiter of the message around it), else
/// quoted-printable. `\n` in `text` becomes `eol`. Returns the
/// Content-Transfer-Encoding and the body.
pub(crate) fn text_body(text: &str, eol: Eol) -> (&'static str, Vec<u8>) {
    let plain = text.is_ascii()
        && text
            .split('\n')
            .all(|l| l.len() <= 998 && !l.starts_with('-'));
    if plain {
        let e = std::str::from_utf8(eol.bytes()).unwrap_or("\r\n");
        ("7bit", text.replace('\n', e).into_bytes())
    } else {
        ("quoted-printable", encode_qp_text(text, eol))
    }
}

/// Encodes UTF-8 text as quoted-printable with lines of at most 76 characters,
/// for the stubs we write. `\n` in `text` becomes `eol`.
pub(crate) fn encode_qp_text(text: &str, eol: Eol) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.extend_from_slice(eol.bytes());
        }
        let bytes = line.as_bytes();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let at_end = i + 1 == bytes.len();
            // A line never starts with '-': no stub line may look like a
            // boundary delimiter of the message around it.
            let literal = ((b == b' ' || b == b'\t') && !at_end
                || (b.is_ascii_graphic() && b != b'='))
                && !(col == 0 && b == b'-');
            let width = if literal { 1 } else { 3 };
            // Leave room for the soft-break "=".
            if col + width > 75 {
                out.push(b'=');
                out.extend_from_slice(eol.bytes());
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
            col += width;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_to_vec(content: &[u8], layout: &Base64Layout) -> Vec<u8> {
        let mut v = Vec::new();
        encode_base64(content, layout, &mut v);
        v
    }

    #[test]
    fn regular_base64_round_trips_at_odd_widths() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for width in [1, 4, 57, 64, 72, 76, 77, 998] {
            for eol in [Eol::CrLf, Eol::Lf] {
                let layout = Base64Layout {
                    width,
                    eol,
                    tail: eol.bytes().to_vec(),
                };
                let body = encode_to_vec(&data, &layout);
                let d = decode_base64(&body).unwrap();
                assert_eq!(d.content, data);
                assert_eq!(d.layout.as_ref(), Some(&layout), "width {width}");
            }
        }
    }

    #[test]
    fn ragged_base64_decodes_without_layout() {
        let d = decode_base64(b"aGVs\r\nbG8gd29y\r\nbGQ=\r\n").unwrap();
        assert_eq!(d.content, b"hello world");
        assert!(d.layout.is_none());
    }

    #[test]
    fn invalid_base64_is_an_error() {
        assert!(decode_base64(b"@@@@\r\n").is_err());
    }

    #[test]
    fn qp_decodes_soft_breaks_and_escapes() {
        assert_eq!(decode_qp(b"a=3Db =\r\nc  \r\nd"), b"a=b c\r\nd");
    }

    #[test]
    fn qp_text_lines_stay_short() {
        let text = "é".repeat(100);
        let enc = encode_qp_text(&text, Eol::CrLf);
        for line in enc.split(|&b| b == b'\n') {
            assert!(line.len() <= 77, "{}", line.len());
        }
        assert_eq!(decode_qp(&enc), text.as_bytes());
    }
}
