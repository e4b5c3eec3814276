//! A minimal HTTP/1.0 client for loopback test servers (the OpenID provider
//! of tests/support/oidc.rs): GET and form POSTs, a cookie jar, no TLS.
//!
//! Enough to drive sign-in pages as a browser would, without a dependency:
//! cookies are kept by name and all sent back (paths and expiry ignored,
//! except that a cookie set to expire in 1970 is dropped).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use url::Url;

/// One HTTP response, read to the end.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The URL that was asked for (to resolve a relative Location).
    pub url: Url,
}

impl Response {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The redirect target, resolved against the request URL.
    pub fn location(&self) -> Option<Url> {
        if !(300..400).contains(&self.status) {
            return None;
        }
        let loc = self.header("location")?;
        Some(
            self.url
                .join(loc)
                .unwrap_or_else(|e| panic!("bad Location {loc:?}: {e}")),
        )
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answered {} with a body that is not JSON ({e}): {}",
                self.url, self.status, self.body
            )
        })
    }

    /// The value of the first `<input ... name="NAME" value="...">` in the page.
    pub fn input_value(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\"");
        let at = self.body.find(&needle)?;
        let tag_end = self.body[at..].find('>')? + at;
        let tag_start = self.body[..at].rfind('<')?;
        let tag = &self.body[tag_start..tag_end];
        let v = tag.find("value=\"")? + "value=\"".len();
        let len = tag[v..].find('"')?;
        Some(tag[v..v + len].to_string())
    }
}

/// A client with a cookie jar (one per simulated browser).
#[derive(Debug, Default)]
pub struct Http {
    cookies: BTreeMap<String, String>,
}

impl Http {
    pub fn new() -> Http {
        Http::default()
    }

    pub fn get(&mut self, url: &str) -> Response {
        self.request("GET", url, None, None)
    }

    /// POSTs `form` as application/x-www-form-urlencoded, with HTTP Basic
    /// authentication when `basic` is given.
    pub fn post_form(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.request("POST", url, Some(body), basic)
    }

    fn request(
        &mut self,
        method: &str,
        url: &str,
        body: Option<String>,
        basic: Option<(&str, &str)>,
    ) -> Response {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url:?}: {e}"));
        assert_eq!(url.scheme(), "http", "only plain http on loopback: {url}");
        let host = url.host_str().unwrap_or_default().to_string();
        assert!(
            host == "127.0.0.1" || host == "[::1]" || host == "localhost",
            "tests talk to loopback only, not {url}"
        );
        let port = url.port_or_known_default().unwrap_or(80);
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target = format!("{target}?{q}");
        }
        let mut head = format!("{method} {target} HTTP/1.0\r\nHost: {host}:{port}\r\n");
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            head.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        if let Some((user, password)) = basic {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let creds = format!("{}:{}", enc(user), enc(password));
            let b64 = base64_simd::STANDARD.encode_to_string(creds.as_bytes());
            head.push_str(&format!("Authorization: Basic {b64}\r\n"));
        }
        let body = body.unwrap_or_default();
        if method == "POST" {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");

        let addr = format!("{}:{port}", host.trim_matches(['[', ']']));
        let raw = exchange(&addr, head.as_bytes(), body.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let resp = parse(&raw, url.clone()).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        self.keep_cookies(&resp);
        resp
    }

    fn keep_cookies(&mut self, resp: &Response) {
        for (name, value) in &resp.headers {
            if name != "set-cookie" {
                continue;
            }
            let Some((k, v)) = value.split(';').next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            if value.contains("1970") || v.is_empty() {
                self.cookies.remove(k.trim());
            } else {
                self.cookies
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
}

fn exchange(addr: &str, head: &[u8], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(head)?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

fn parse(raw: &[u8], url: Url) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete HTTP header in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        url,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line without CRLF")?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|e| format!("bad chunk size {size_hex:?}: {e}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("chunk shorter than its size")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("chunk without trailing CRLF")?;
    }
}
