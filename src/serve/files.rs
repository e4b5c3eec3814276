//! `GET|HEAD /f/<sha256>/<name>?sig=S[&exp=E]`: one detached file, by a
//! signed link.
//!
//! The path is taken as it arrived (still percent-encoded) and must be
//! exactly those two segments; the link's signature is checked before the
//! store is asked anything, so an unsigned request learns nothing, not even
//! whether an object exists. Every refusal is a bare 403 or 404.

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
    let link = match check(&app, &uri) {
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
fn check(app: &AppState, uri: &Uri) -> Result<crate::links::FileLink, StatusCode> {
    let rest = uri
        .path()
        .strip_prefix("/f/")
        .ok_or(StatusCode::NOT_FOUND)?;
    // Exactly two segments: a third (`a/b`), an empty one (`//`) or a
    // backslash is never something a link names.
    let (hash, raw_name) = rest.split_once('/').ok_or(StatusCode::NOT_FOUND)?;
    if raw_name.contains('/') || raw_name.contains('\\') {
        return Err(StatusCode::NOT_FOUND);
    }
    let (sig, exp) = query(uri.query().unwrap_or(""))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    app.secret
        .check_file(hash, raw_name, sig.as_deref(), exp.as_deref(), now)
        .map_err(|why| {
            tracing::info!("refused a link: {why:?}");
            match why {
                Refused::BadHash | Refused::BadName => StatusCode::NOT_FOUND,
                Refused::BadSignature | Refused::Expired => StatusCode::FORBIDDEN,
            }
        })
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
