//! `slimbox serve`: the HTTP server behind the links in stubs.
//!
//! What belongs here: the router (one file per kind of route: `files` for
//! `/f/…`; the self-service pages under `/m/<account>` go in their own file
//! beside it), listening (plain or TLS with rustls), the limits on what a
//! connection may cost (`limits`), the access log and graceful shutdown.
//! Link formats and their checks are `links`'; reading objects is
//! `store`'s. Anything the router does not name is a bare 404: the store is
//! never listed. One layer ([`framing`]) gives every answer its security
//! headers, so no route can forget them.

mod body;
mod error;
mod files;
mod headers;
mod limits;
mod listen;
mod page;

pub use error::ServeError;
pub use limits::{Limits, MAX_BODY};
pub use listen::{serve, Options};
pub use page::Pages;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;

use crate::links::Secret;
use crate::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub secret: Arc<Secret>,
    /// The self-service pages; `None`: `/` and `/m/…` are 404.
    pub pages: Option<Arc<Pages>>,
}

/// All routes. `get` answers HEAD too; the file handler sends HEAD's
/// headers without reading the object.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/f/{*rest}", get(files::file))
        .merge(page::routes())
        .fallback(|| async { bare(StatusCode::NOT_FOUND) })
        .with_state(state)
        .layer(middleware::from_fn(framing))
        .layer(middleware::from_fn(access_log))
}

/// The Content-Security-Policy of a page (and of every answer that is not
/// a file): nothing loads but the pages' own style sheet (by its hash),
/// forms post only here, no site may frame it, no `<base>`.
fn page_csp() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        format!(
            "default-src 'none'; style-src {}; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
            page::style_hash()
        )
    })
}

/// The Content-Security-Policy of a file shown in the tab (an image, a
/// PDF, text): it may show itself and nothing else; no script, no form.
const FILE_CSP: &str = "default-src 'none'; img-src 'self'; media-src 'self'; \
                        style-src 'unsafe-inline'; form-action 'none'; \
                        frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every answer: no framing (clickjacking), no
/// sniffing, a CSP, and a referrer policy. Files get `no-referrer`: a page
/// or file opened from a signed link never hands the link on. Pages get
/// `same-origin`, which sends nothing to another site either, and keeps
/// the `Origin` of the page's own "put back" POST (`no-referrer` would make
/// browsers send `Origin: null`, which the POST guard refuses).
async fn framing(req: Request, next: Next) -> Response {
    let file = req.uri().path().starts_with("/f/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = if file { FILE_CSP } else { page_csp() };
    if let Ok(v) = header::HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    let referrer = if file { "no-referrer" } else { "same-origin" };
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static(referrer),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    res
}

/// A status with its reason as the body and nothing else: no detail of why.
pub(crate) fn bare(status: StatusCode) -> Response {
    let text = format!("{}\n", status.canonical_reason().unwrap_or("error"));
    let len = text.len();
    let mut res = Response::new(Body::from(text));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    res
}

/// One log line per request, written when its body is done (or the client
/// left): method, path (never the query, which holds a long link's
/// signature; a short file link's tag is cut out of its path), status,
/// bytes sent and time taken.
async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = crate::links::loggable_path(req.uri().path()).into_owned();
    let res = next.run(req).await;
    let (parts, body) = res.into_parts();
    let mut line = Line {
        method,
        path,
        status: parts.status.as_u16(),
        bytes: 0,
        started,
    };
    let stream = body.into_data_stream().map(move |chunk| {
        // The whole line moves in (not just its counter), so that it is
        // logged when the body is dropped.
        let line = &mut line;
        if let Ok(c) = &chunk {
            line.bytes += c.len() as u64;
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

struct Line {
    method: axum::http::Method,
    path: String,
    status: u16,
    bytes: u64,
    started: Instant,
}

impl Drop for Line {
    fn drop(&mut self) {
        tracing::info!(
            target: "slimbox::serve::access",
            "{} {} {} {}B {}ms",
            self.method,
            self.path,
            self.status,
            self.bytes,
            self.started.elapsed().as_millis()
        );
    }
}
