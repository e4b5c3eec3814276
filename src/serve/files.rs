//! `GET|HEAD /f/<key>/<name>` (the short form) and
//! `/f/<sha256>/<name>?sig=S[&exp=E]` (the long one): one detached file, by
//! a signed link (formats: `links`).
//!
//! The path is taken as it arrived (still percent-encoded) and must be
//! exactly those two segments. A long link's signature is checked before
//! the store is asked anything. A short link carries only the hash's first
//! 8 bytes, and its signature covers the full hash, so the store is asked
//! which objects start with them first (see `short_link` for why that
//! tells an unsigned request nothing worth having). Every refusal is a bare
//! 403 or 404.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

use super::headers::{self, Wanted};
use super::{bare, body, AppState};
use crate::links::Refused;
use crate::store::parse_hex;

pub(super) async fn file(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    req: HeaderMap,
) -> Response {
    let link = match check(&app, &uri).await {
        Ok(link) => link,
        Err(status) => return bare(status),
    };
    let Some(hash) = parse_hex(&link.sha256) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let total = match app.store.size(&hash).await {
        Ok(Some(size)) => size,
        Ok(None) => return bare(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::warn!("cannot look up {}: {e}", link.sha256);
            return bare(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let etag = format!("\"{}\"", link.sha256);
    let content_type = headers::content_type(&link.name);
    let mut res = Response::builder()
        .header(header::ETAG, &etag)
        .header(
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::ACCEPT_RANGES, "bytes");
    if headers::none_match(text(&req, header::IF_NONE_MATCH), &etag) {
        return done(res.status(StatusCode::NOT_MODIFIED).body(Body::empty()));
    }
    res = res.header(header::CONTENT_TYPE, &content_type).header(
        header::CONTENT_DISPOSITION,
        headers::disposition(&link.name, &content_type),
    );
    // If-Range with another validator: the client's copy is stale, send all.
    let range_header = match text(&req, header::IF_RANGE) {
        Some(v) if v.trim() != etag => None,
        _ => text(&req, header::RANGE),
    };
    let range = match headers::wanted(range_header, total) {
        Wanted::Whole => 0..total,
        Wanted::Part(r) => {
            let last = r.end - 1;
            res = res.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {}-{last}/{total}", r.start),
            );
            r
        }
        Wanted::Unsatisfiable => {
            return done(
                res.status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                    .header(header::CONTENT_LENGTH, 0)
                    .body(Body::empty()),
            )
        }
    };
    res = res.header(header::CONTENT_LENGTH, range.end - range.start);
    if method == Method::HEAD || range.is_empty() {
        return done(res.body(Body::empty()));
    }
    done(res.body(body::checked(Arc::clone(&app.store), hash, range, total)))
}

/// The link in `uri`, checked; the status to refuse it with otherwise.
async fn check(app: &AppState, uri: &Uri) -> Result<crate::links::FileLink, StatusCode> {
    let rest = uri
        .path()
        .strip_prefix("/f/")
        .ok_or(StatusCode::NOT_FOUND)?;
    // Exactly two segments: a third (`a/b`), an empty one (`//`) or a
    // backslash is never something a link names.
    let (first, raw_name) = rest.split_once('/').ok_or(StatusCode::NOT_FOUND)?;
    if raw_name.contains('/') || raw_name.contains('\\') {
        return Err(StatusCode::NOT_FOUND);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if !crate::links::is_long_form(first) {
        return short_link(app, first, raw_name, now).await;
    }
    let (sig, exp) = query(uri.query().unwrap_or(""))?;
    app.secret
        .check_file(first, raw_name, sig.as_deref(), exp.as_deref(), now)
        .map_err(refusal)
}

/// Objects sharing a short link's 64-bit prefix that are checked at most.
/// Two share one only by chance (about 1 in 2^64 per pair) or by design
/// (a 64-bit collision costs about 2^32 hashes; more objects on one prefix
/// cost far more): the signature, over the full hash, picks the right one.
const CANDIDATES_MAX: usize = 4;

/// A short link: its shape, name and claimed expiry checked with no store
/// lookup (a malformed key is refused before any), then the objects with
/// its prefix looked up, then its signature checked against their full
/// hashes.
///
/// Why looking up before the signature is checked is safe: an attacker
/// without the secret can at most learn whether some object starts with a
/// prefix they chose. Guessing one blindly succeeds 1 time in 2^64 / (the
/// store's object count), so the only use is to confirm a file they
/// already hold ("did anyone here receive this document?"). That can
/// matter (a leaked document, a whistleblower's attachment), so "no such
/// object" and "bad signature" are answered alike: the same bare 403, after
/// the same work (the local store reads the same fan-out directory, a
/// remote one makes the same single listing, and one HMAC is checked even
/// when nothing matched). A signed link to an object no longer stored is
/// therefore 403 too, where a long one is 404.
async fn short_link(
    app: &AppState,
    key: &str,
    raw_name: &str,
    now: u64,
) -> Result<crate::links::FileLink, StatusCode> {
    let link = crate::links::parse_short_file(key, raw_name, now).map_err(refusal)?;
    let candidates = match app
        .store
        .find_by_prefix(link.prefix(), CANDIDATES_MAX)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("cannot look up a link's objects: {e}");
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    if candidates.is_empty() {
        tracing::info!("refused a link: no object has its prefix");
    }
    app.secret
        .check_short_file(&link, &candidates)
        .map_err(refusal)
}

/// The status for a refused link; the reason goes to the log only.
fn refusal(why: Refused) -> StatusCode {
    tracing::info!("refused a link: {why:?}");
    match why {
        Refused::BadHash | Refused::BadName => StatusCode::NOT_FOUND,
        Refused::BadSignature | Refused::Expired => StatusCode::FORBIDDEN,
    }
}

/// `sig` and `exp` from the query; a second `sig` or `exp` is refused
/// (which one a proxy or a check would read is anyone's guess).
type SigExp = (Option<String>, Option<String>);

fn query(q: &str) -> Result<SigExp, StatusCode> {
    let (mut sig, mut exp) = (None, None);
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        let slot = match k.as_ref() {
            "sig" => &mut sig,
            "exp" => &mut exp,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(StatusCode::FORBIDDEN);
        }
    }
    Ok((sig, exp))
}

fn text(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v: &HeaderValue| v.to_str().ok())
}

/// A built response; a header the builder refused (it cannot happen with
/// the values above, all ASCII) becomes a bare 500 rather than a panic.
fn done(res: Result<Response, axum::http::Error>) -> Response {
    res.unwrap_or_else(|e| {
        tracing::error!("cannot build a response: {e}");
        bare(StatusCode::INTERNAL_SERVER_ERROR)
    })
}
