//! The self-service page of one mailbox: its detached files, newest first,
//! searchable by file name, sender, date and size, each with a download
//! link and a button that puts the original message back.
//!
//! Routes: `GET /m/` (the mailboxes, only where access is open by opt-in;
//! `/` itself stays a bare 404 like every path the router does not name),
//! `GET /m/<account>?sig=S[&exp=E]` (the page) and
//! `POST /m/<account>/put-back?sig=S[&exp=E]` (one message back, the
//! result shown; its body is read only once the link is checked). Who may
//! see what is `access`'s decision; a request without a page link gets a
//! 401 page saying how to get one, every other refusal a bare 403 or 404.
//! A put back that fails shows an error id, never the error: the detail
//! goes to the log under that id.
//! Putting back is not done here: the service does it
//! (`Service::put_back_one`: `slimbox reattach`'s own claim and safety
//! order), and reads the index for the page.

mod access;
mod html;
mod search;

pub(super) use html::style_hash;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use serde::Deserialize;

use super::{bare, AppState, MAX_BODY};
use crate::index::{PartFilter, PartRow};
use crate::pipeline::{ReattachOutcome, ReattachTarget};
use crate::service::{Service, ServiceError};
use search::PageQuery;

/// What the pages need besides the store and the secret.
#[derive(Clone)]
pub struct Pages {
    /// The mailboxes served: the config's accounts.
    pub accounts: Vec<String>,
    /// `[links] base_url` for the download links; without it they are
    /// relative (`/f/…`), good on whatever address the page was opened.
    pub base_url: Option<String>,
    /// `[links] expires` for the download links.
    pub link_expires: Option<Duration>,
    /// The server listens on a loopback address (see `access::is_open`).
    pub listen_loopback: bool,
    /// `[serve] open_on_loopback`: pages open without a link to loopback
    /// requests (see `access`); off unless the config says so.
    pub open_on_loopback: bool,
    /// `[serve] form_token_max_age`: how long a page's "put back" forms
    /// stay good.
    pub form_token_max_age: Duration,
    /// `[serve] body_timeout`: for the "put back" form's body.
    pub body_timeout: Duration,
    /// Reads the index for the page, and puts messages back.
    pub service: Service,
}

/// The page routes, for the router to merge.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/", get(home))
        .route("/m/{account}", get(page))
        .route("/m/{account}/put-back", post(put_back))
}

/// Who asks and how: what every handler decides access on.
struct Asker<'a> {
    app: &'a AppState,
    pages: &'a Pages,
    parts: &'a Parts,
}

impl Asker<'_> {
    fn open(&self) -> bool {
        let peer = self
            .parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        self.pages.open_on_loopback
            && access::is_open(self.pages.listen_loopback, peer, &self.parts.headers)
    }

    /// The mailbox this request may see, from its path and `sig`/`exp`.
    fn account(&self, sig: Option<&str>, exp: Option<&str>) -> Result<String, StatusCode> {
        let raw = self
            .parts
            .uri
            .path()
            .strip_prefix("/m/")
            .and_then(|rest| rest.split('/').next())
            .ok_or(StatusCode::NOT_FOUND)?;
        let accounts = &self.pages.accounts;
        access::page_account(
            &self.app.secret,
            self.open(),
            raw,
            sig,
            exp,
            now(),
            accounts,
        )
    }
}

async fn home(State(app): State<AppState>, req: Request) -> Response {
    let Some(pages) = app.pages.clone() else {
        return bare(StatusCode::NOT_FOUND);
    };
    let (parts, _) = req.into_parts();
    let asker = Asker {
        app: &app,
        pages: &pages,
        parts: &parts,
    };
    if !asker.open() {
        return bare(StatusCode::NOT_FOUND);
    }
    Html(html::home(&pages.accounts).into_string()).into_response()
}

async fn page(State(app): State<AppState>, req: Request) -> Response {
    let Some(pages) = app.pages.clone() else {
        return bare(StatusCode::NOT_FOUND);
    };
    let (parts, _) = req.into_parts();
    let Ok(Query(query)) = Query::<PageQuery>::try_from_uri(&parts.uri) else {
        return bare(StatusCode::BAD_REQUEST);
    };
    let asker = Asker {
        app: &app,
        pages: &pages,
        parts: &parts,
    };
    let account = match asker.account(query.sig.as_deref(), query.exp.as_deref()) {
        Ok(a) => a,
        Err(status) => return refused(status),
    };
    let (rows, problem) = match query.filter(&account) {
        Ok(filter) => match find(&pages, filter).await {
            Ok(rows) => (rows, None),
            Err(res) => return res,
        },
        Err(why) => (Vec::new(), Some(why)),
    };
    let view = html::PageView {
        account: &account,
        query: &query,
        rows: &rows,
        problem: problem.as_deref(),
        token: app
            .secret
            .form_token(&account, query.sig.as_deref().unwrap_or(""), now()),
        link: &|row: &PartRow| download_link(&app, &pages, row),
    };
    Html(html::page(&view).into_string()).into_response()
}

/// The signed link to one file, as `/f/…` under `base_url` or relative.
fn download_link(app: &AppState, pages: &Pages, row: &PartRow) -> String {
    let exp = crate::links::expires_after(pages.link_expires);
    let base = pages.base_url.as_deref().unwrap_or("");
    let name = crate::mime::safe_name(&row.filename);
    app.secret.file_link(base, &row.sha256, &name, exp)
}

/// The "put back" form, read within `timeout` and [`MAX_BODY`] bytes: a
/// larger one is 413 (unread when it says its length), a slow one 408.
async fn read_form(
    parts: &Parts,
    body: Body,
    timeout: Duration,
) -> Result<PutBackForm, StatusCode> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(StatusCode::BAD_REQUEST);
    }
    let read = async {
        let mut chunks = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| StatusCode::REQUEST_TIMEOUT)??;
    serde_urlencoded::from_bytes(&bytes).map_err(|_| StatusCode::BAD_REQUEST)
}

/// Rows of the index, read on a blocking thread (SQLite); a failure is
/// answered with an error page ([`trouble`]).
async fn find(pages: &Pages, filter: PartFilter) -> Result<Vec<PartRow>, Response> {
    match pages.service.find_parts_blocking(filter).await {
        Ok(rows) => Ok(rows),
        Err(ServiceError::Thread(e)) => Err(trouble(StatusCode::INTERNAL_SERVER_ERROR, &e)),
        Err(e) => Err(trouble(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the page cannot read the index: {e}"),
        )),
    }
}

/// The fields of a "put back" form.
#[derive(Debug, Deserialize)]
struct PutBackForm {
    token: String,
    /// The message's row in the index, and one of its files' hash (to find
    /// it by an indexed column).
    message: i64,
    sha256: String,
}

/// `sig` and `exp` of a "put back" POST's own address.
#[derive(Debug, Deserialize)]
struct LinkQuery {
    sig: Option<String>,
    exp: Option<String>,
}

async fn put_back(State(app): State<AppState>, req: Request) -> Response {
    let Some(pages) = app.pages.clone() else {
        return bare(StatusCode::NOT_FOUND);
    };
    let (parts, body) = req.into_parts();
    let asker = Asker {
        app: &app,
        pages: &pages,
        parts: &parts,
    };
    // Who may post is decided before the body is read (issue 20): on the
    // link in the form's action, or open access.
    let Ok(Query(link)) = Query::<LinkQuery>::try_from_uri(&parts.uri) else {
        return bare(StatusCode::BAD_REQUEST);
    };
    let account = match asker.account(link.sig.as_deref(), link.exp.as_deref()) {
        Ok(a) => a,
        Err(status) => return refused(status),
    };
    let form = match read_form(&parts, body, pages.body_timeout).await {
        Ok(form) => form,
        Err(status) => return bare(status),
    };
    // The token is bound to the page link the form's address carries (a
    // body field of that name, from pages before issue 20, is ignored: its
    // token could not pass anyway).
    let (sig, exp) = (link.sig, link.exp);
    let token = access::TokenCheck {
        account: &account,
        page_sig: sig.as_deref().unwrap_or(""),
        now: now(),
        max_age: pages.form_token_max_age.as_secs(),
    };
    if !access::post_is_ours(&app.secret, &parts.headers, &token, &form.token) {
        return bare(StatusCode::FORBIDDEN);
    }
    let Some(hash) = crate::store::parse_hex(&form.sha256) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let filter = PartFilter {
        account: Some(account.clone()),
        sha256_prefix: Some(hex::encode(hash)),
        ..PartFilter::default()
    };
    let rows = match find(&pages, filter).await {
        Ok(rows) => rows,
        Err(res) => return res,
    };
    // Only a message of this mailbox not yet put back.
    let mine: Vec<PartRow> = rows
        .into_iter()
        .filter(|r| r.message == form.message)
        .collect();
    let Some(target) = ReattachTarget::by_account(mine)
        .remove(&account)
        .and_then(|list| list.into_iter().next())
    else {
        return bare(StatusCode::NOT_FOUND);
    };
    let outcome = pages.service.put_back_one(target).await;
    put_back_result(&account, (sig.as_deref(), exp.as_deref()), &outcome)
}

/// The page after a put back. Its error names internals (a password
/// variable, a server's answer): the log gets it, the page an id to quote.
fn put_back_result(
    account: &str,
    (sig, exp): (Option<&str>, Option<&str>),
    outcome: &ReattachOutcome,
) -> Response {
    let error_id = outcome.error.as_ref().map(|e| {
        let id = error_id();
        tracing::warn!(
            "put back failed, error id {id}: account {account}, message {:?}: {e}",
            outcome.target.message_id
        );
        id
    });
    let back = html::page_href(account, sig, exp);
    let view = html::PutBackView {
        account,
        outcome,
        error_id: error_id.as_deref(),
        back: &back,
    };
    Html(html::put_back(&view).into_string()).into_response()
}

/// A refusal: 401 (no page link) is a page saying how to get one; the
/// rest stay bare.
fn refused(status: StatusCode) -> Response {
    if status != StatusCode::UNAUTHORIZED {
        return bare(status);
    }
    let mut res = Html(html::link_needed().into_string()).into_response();
    *res.status_mut() = status;
    // 401 needs a challenge (RFC 9110 §11.6.1); a scheme no browser knows
    // shows this page rather than a password prompt.
    res.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("SignedLink realm=\"slimbox\""),
    );
    res
}

/// A failure of the server itself: the detail to the log under a fresh
/// id, the page says what to do and shows the id.
fn trouble(status: StatusCode, detail: &str) -> Response {
    let id = error_id();
    tracing::warn!("error id {id}: {detail}");
    let mut res = Html(html::trouble(&id).into_string()).into_response();
    *res.status_mut() = status;
    res
}

fn now() -> u64 {
    crate::dates::now_unix().max(0) as u64
}

/// A short random id tying an error page to its log line.
fn error_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        // No randomness: the time still tells log lines apart.
        b = (crate::dates::now_unix() as u32).to_be_bytes();
    }
    hex::encode(b)
}
