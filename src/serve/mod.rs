//! `slimbox serve`: the HTTP server behind the links in stubs.
//!
//! What belongs here: the router (one file per kind of route: `files` for
//! `/f/…`; the self-service pages under `/m/<account>` go in their own file
//! beside it), listening (plain or TLS with rustls), the limits on what a
//! connection may cost (`limits`), the access log and graceful shutdown.
//! Link formats and their checks are `links`'; reading objects is
//! `store`'s. Anything the router does not name is a bare 404:
//! the store is never listed.

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
pub use page::{Pages, PutBackFn};

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
        .layer(middleware::from_fn(access_log))
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
/// left): method, path (never the query, which holds the signature),
/// status, bytes sent and time taken.
async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
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
