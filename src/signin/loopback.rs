//! The loopback redirect of RFC 8252: a listener on 127.0.0.1 (and ::1 on
//! the same port, for browsers that resolve `localhost` to it) on a free
//! port, waiting for the browser to bring back the authorization code.
//!
//! Each connection is served on its own, since browsers open spare ones
//! that never send a request. Only `GET /?…` carrying a `code` or an
//! `error` ends the wait; the `state` must be the one sent.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the browser's visit ended the wait.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Redirect {
    /// The authorization code, with the state checked.
    Code(String),
    /// The provider's `error` code (`access_denied`, …).
    Refused(String),
    /// A `state` other than the one sent.
    StateMismatch,
}

/// The listener, bound until dropped.
pub(super) struct Loopback {
    v4: TcpListener,
    v6: Option<TcpListener>,
    port: u16,
}

/// The longest a request head may be, and the wait for it.
const MAX_HEAD: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

impl Loopback {
    pub(super) async fn bind() -> std::io::Result<Loopback> {
        let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let port = v4.local_addr()?.port();
        // Best effort: a machine without IPv6 still works over 127.0.0.1.
        let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
            .await
            .ok();
        Ok(Loopback { v4, v6, port })
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// Serves visits until one brings a code or an error for `state`.
    pub(super) async fn wait(&self, state: &str) -> Redirect {
        let mut visits = FuturesUnordered::new();
        loop {
            tokio::select! {
                Ok((stream, _)) = self.v4.accept() => visits.push(visit(stream, state)),
                Ok((stream, _)) = accept(self.v6.as_ref()) => visits.push(visit(stream, state)),
                Some(done) = visits.next(), if !visits.is_empty() => {
                    if let Some(r) = done {
                        return r;
                    }
                }
            }
        }
    }
}

async fn accept(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// One connection: reads its request, answers the browser, and says
/// whether it ended the wait.
async fn visit(mut stream: TcpStream, state: &str) -> Option<Redirect> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream))
        .await
        .ok()??;
    let (status, page, outcome) = judge(&head, state);
    let body =
        format!("<!doctype html><meta charset=\"utf-8\"><title>slimbox</title><p>{page}</p>\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    outcome
}

async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > MAX_HEAD {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).ok()
}

/// The answer to a request head: status line, page text, and how it ends
/// the wait (`None`: keep waiting).
fn judge(head: &str, state: &str) -> (&'static str, &'static str, Option<Redirect>) {
    let keep = |status, page| (status, page, None);
    let Some(target) = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
    else {
        return keep(
            "405 Method Not Allowed",
            "slimbox waits for a sign-in here.",
        );
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/" {
        return keep("404 Not Found", "Not found.");
    }
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if !params.contains_key("code") && !params.contains_key("error") {
        return keep("400 Bad Request", "slimbox waits for a sign-in here.");
    }
    if params.get("state").map(String::as_str) != Some(state) {
        return (
            "400 Bad Request",
            "This answer does not belong to the sign-in slimbox started. Nothing was \
             changed; run slimbox login again.",
            Some(Redirect::StateMismatch),
        );
    }
    if let Some(error) = params.get("error") {
        return (
            "200 OK",
            "The sign-in did not complete. slimbox says why in the terminal.",
            Some(Redirect::Refused(error.clone())),
        );
    }
    let code = params.get("code").cloned().unwrap_or_default();
    (
        "200 OK",
        "Signed in. You can close this tab and go back to slimbox.",
        Some(Redirect::Code(code)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> String {
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    }

    #[test]
    fn judging_requests() {
        let s = "st4te";
        assert_eq!(
            judge(&get("/?code=abc%2F1&state=st4te"), s).2,
            Some(Redirect::Code("abc/1".into()))
        );
        assert_eq!(
            judge(&get("/?error=access_denied&state=st4te"), s).2,
            Some(Redirect::Refused("access_denied".into()))
        );
        assert_eq!(
            judge(&get("/?code=abc&state=other"), s).2,
            Some(Redirect::StateMismatch)
        );
        assert_eq!(
            judge(&get("/?code=abc"), s).2,
            Some(Redirect::StateMismatch)
        );
        // Not the redirect: keep waiting.
        assert_eq!(judge(&get("/favicon.ico"), s).2, None);
        assert_eq!(judge(&get("/"), s).2, None);
        assert_eq!(judge(&get("/x?code=abc&state=st4te"), s).2, None);
        assert_eq!(judge("POST / HTTP/1.1\r\n\r\n", s).2, None);
        assert_eq!(judge("", s).2, None);
    }

    #[tokio::test]
    async fn waits_past_idle_and_stray_connections() {
        let l = Loopback::bind().await.expect("bind");
        let port = l.port();
        let browser = async move {
            // A spare connection that never sends anything, then a stray
            // request, then the redirect.
            let _idle = TcpStream::connect(("127.0.0.1", port)).await.expect("idle");
            for target in ["/favicon.ico", "/?code=c0de&state=s"] {
                let mut c = TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connect");
                c.write_all(get(target).as_bytes()).await.expect("send");
                let mut page = String::new();
                c.read_to_string(&mut page).await.expect("read");
                assert!(page.starts_with("HTTP/1.1 "), "{page}");
            }
        };
        let (got, ()) = tokio::join!(l.wait("s"), browser);
        assert_eq!(got, Redirect::Code("c0de".into()));
    }
}
