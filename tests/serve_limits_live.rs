//! Issue 20: what one connection may cost `slimbox serve`, whatever its
//! client does. Each limit and refusal against the real binary on
//! loopback, with the timeouts shortened by `[serve]` settings: the
//! connection limit's quick 503, the header, idle, body and write
//! timeouts, a request body that is too large or not yet checked, and
//! Range requests on a compressed object (decompressed as a stream).
//! No timing is asserted beyond "before a much longer timeout could".

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use slimbox::links::Secret;
use slimbox::store::{sha256, to_hex, Compression, PutOptions, Store};
use support::serve::Serve;

/// A store, a config with `serve_toml` as its `[serve]` table, and its
/// link secret.
struct Setup {
    dir: tempfile::TempDir,
    store: Store,
    config: PathBuf,
    secret: Secret,
}

fn setup(serve_toml: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy())
        .unwrap()
        .with_compression(Compression::from_zstd_level(Some(3)));
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{d}/store\"\ncompress = \"zstd\"\n[index]\npath = \"{d}/index.sqlite\"\n\
             [links]\nsecret_file = \"{d}/links.key\"\n[serve]\n{serve_toml}\n\
             [[account]]\nname = \"me\"\nhost = \"127.0.0.1\"\nuser = \"me\"\n\
             password_env = \"UNUSED\"\n"
        ),
    )
    .unwrap();
    let secret = Secret::load_or_create(&dir.path().join("links.key")).unwrap();
    Setup {
        dir,
        store,
        config,
        secret,
    }
}

fn addr(serve: &Serve) -> String {
    serve.base.strip_prefix("http://").unwrap().to_string()
}

fn connect(serve: &Serve) -> TcpStream {
    let s = TcpStream::connect(addr(serve)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Everything the server sends until it closes (or resets) the connection.
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("the server neither answered nor closed: {e}"),
        }
    }
}

fn status_of(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Whether the server closes `s` (with no answer) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn get_once(serve: &Serve, target: &str) -> Vec<u8> {
    let mut s = connect(serve);
    let a = addr(serve);
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_until_closed(&mut s)
}

fn csv(len: usize) -> Bytes {
    let line = b"a line of a CSV file, 1234, 5678\n";
    Bytes::from(line.iter().copied().cycle().take(len).collect::<Vec<u8>>())
}

fn path_of(link: &str, serve: &Serve) -> String {
    link[serve.base.len()..].to_string()
}

#[test]
fn issue20_connections_past_max_connections_get_a_quick_503() {
    let s = setup("max_connections = 2\nheader_timeout = \"30s\"");
    let serve = Serve::start(&s.config);
    // Two connections that say nothing hold both slots.
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(&serve)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let answer = get_once(&serve, "/m/");
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status_of(&answer), 503, "{text}");
    assert!(text.contains("\r\nRetry-After: 5\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(text.ends_with("Service Unavailable\n"), "{text}");
    assert!(serve.log().contains("max_connections"), "{}", serve.log());
    // A slot freed is a slot served again.
    held.pop();
    let started = Instant::now();
    loop {
        let answer = get_once(&serve, "/nothing-here");
        if status_of(&answer) == 404 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never served again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn issue20_a_slow_or_missing_request_head_is_cut_at_header_timeout() {
    let s = setup("header_timeout = \"1s\"\nidle_timeout = \"30s\"");
    let serve = Serve::start(&s.config);
    // Says nothing at all.
    let mut silent = connect(&serve);
    assert!(closed_within(&mut silent, Duration::from_secs(15)));
    // A head dribbled a line every 200 ms: always progressing, never done.
    let mut slow = connect(&serve);
    write!(slow, "GET /m/ HTTP/1.1\r\n").unwrap();
    let mut writer = slow.try_clone().unwrap();
    let dribble = std::thread::spawn(move || {
        for i in 0..75 {
            std::thread::sleep(Duration::from_millis(200));
            if write!(writer, "X-Slow-{i}: y\r\n").is_err() {
                return;
            }
        }
    });
    assert!(
        closed_within(&mut slow, Duration::from_secs(15)),
        "a head dribbled for 15 s was never cut"
    );
    let _ = slow.shutdown(std::net::Shutdown::Both);
    dribble.join().unwrap();
}

#[test]
fn issue20_an_idle_kept_alive_connection_is_closed_at_idle_timeout() {
    let s = setup("header_timeout = \"30s\"\nidle_timeout = \"1s\"");
    let serve = Serve::start(&s.config);
    let mut c = connect(&serve);
    let a = addr(&serve);
    write!(c, "GET /nothing-here HTTP/1.1\r\nHost: {a}\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).unwrap();
    assert_eq!(status_of(&buf[..n]), 404);
    // Kept alive, then idle: closed long before the 30 s header timeout.
    assert!(closed_within(&mut c, Duration::from_secs(15)));
}

/// A "put back" POST's head, its body still to come.
fn post_head(serve: &Serve, target: &str, length: usize, extra: &str) -> TcpStream {
    let mut c = connect(serve);
    let a = addr(serve);
    write!(
        c,
        "POST {target} HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {length}\r\n{extra}\r\n"
    )
    .unwrap();
    c
}

#[test]
fn issue20_a_slow_request_body_gets_408_at_body_timeout() {
    let s = setup("body_timeout = \"1s\"");
    let serve = Serve::start(&s.config);
    let link = s.secret.page_link(&serve.base, "me", None);
    let target = format!("/m/me/put-back?{}", link.split_once('?').unwrap().1);
    let mut c = post_head(&serve, &target, 200, "");
    let started = Instant::now();
    // One byte every 300 ms: always progressing, never done in time.
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(15) {
        if c.write_all(b"t").is_err() {
            break;
        }
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1024];
        match c.read(&mut buf) {
            Ok(n) if n > 0 => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Ok(_) => break,
            Err(_) => {}
        }
    }
    assert_eq!(
        status_of(&answer),
        408,
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn issue20_a_large_body_gets_413_and_none_is_read_before_the_link_check() {
    let s = setup("body_timeout = \"60s\"");
    let serve = Serve::start(&s.config);
    let link = s.secret.page_link(&serve.base, "me", None);
    let query = link.split_once('?').unwrap().1.to_string();
    let target = format!("/m/me/put-back?{query}");
    // Said too large: refused before a byte of it is sent.
    let mut c = post_head(&serve, &target, 17 * 1024, "");
    assert_eq!(status_of(&read_until_closed(&mut c)), 413);
    // Too large without saying so (chunked): refused once past 16 KiB.
    let mut c = connect(&serve);
    let a = addr(&serve);
    write!(
        c,
        "POST {target} HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = "a".repeat(4096);
    for _ in 0..5 {
        if write!(c, "1000\r\n{chunk}\r\n").is_err() {
            break;
        }
    }
    assert_eq!(status_of(&read_until_closed(&mut c)), 413);
    // No credential (401, through a proxy), a tampered one, or
    // another mailbox's: refused at once though the body never comes (the
    // 60 s body timeout would answer 408 much later).
    let proxied = "X-Forwarded-For: 192.0.2.7\r\n";
    let tampered = format!("/m/me/put-back?{}", query.replacen("sig=", "sig=A", 1));
    for (target, extra, want) in [
        ("/m/me/put-back".to_string(), proxied, 401),
        (tampered, proxied, 403),
        (tampered_other(&s, &serve), "", 403),
        ("/m/nobody/put-back".to_string(), "", 401),
    ] {
        let mut c = post_head(&serve, &target, 200, extra);
        let started = Instant::now();
        let answer = read_until_closed(&mut c);
        assert_eq!(status_of(&answer), want, "{target}");
        assert!(started.elapsed() < Duration::from_secs(30), "{target}");
    }
}

/// `/m/me/put-back` with a link signed for another mailbox.
fn tampered_other(s: &Setup, serve: &Serve) -> String {
    let other = s.secret.page_link(&serve.base, "other", None);
    format!("/m/me/put-back?{}", other.split_once('?').unwrap().1)
}

#[tokio::test]
async fn issue20_a_client_that_never_reads_is_dropped_at_write_timeout() {
    let s = setup("write_timeout = \"1s\"");
    let d = csv(24 * 1024 * 1024);
    let h = sha256(&d);
    // Stored plain: noise-like for the kernel, not for this test.
    s.store.put(&h, d.clone(), PutOptions::new()).await.unwrap();
    let serve = Serve::start(&s.config);
    let link = s
        .secret
        .file_link(&serve.base, &to_hex(&h), "big.bin", None);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small window, so that the kernel holds little of the response.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut c = socket.connect(addr(&serve).parse().unwrap()).await.unwrap();
    let a = addr(&serve);
    let path = path_of(&link, &serve);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // The server's log line for the request is written when it gives up.
    let started = Instant::now();
    let line = loop {
        let log = serve.log();
        if let Some(l) = log.lines().find(|l| l.contains("GET /f/")) {
            break l.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stalled download was never dropped:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let sent: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_suffix('B').and_then(|n| n.parse().ok()))
        .unwrap();
    assert!(sent < d.len() as u64, "{line}");
    // What the client gets is cut short of Content-Length.
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got).await;
    assert!(got.len() < d.len(), "{}", got.len());
    // And the server still serves others.
    let answer = get_once(&serve, &path);
    assert_eq!(status_of(&answer), 200);
    assert!(answer.len() > d.len());
}

#[tokio::test]
async fn issue20_ranges_of_a_compressed_object_are_exact() {
    let s = setup("");
    let d = csv(5 * 1024 * 1024 + 11);
    let h = sha256(&d);
    let put = s
        .store
        .put(
            &h,
            d.clone(),
            PutOptions::new()
                .compress_as(Some("text/csv"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .unwrap();
    assert!(put.compressed_size.is_some(), "not stored compressed");
    let serve = Serve::start(&s.config);
    let link = s.secret.file_link(&serve.base, &to_hex(&h), "t.csv", None);
    let n = d.len();
    let client = reqwest::Client::new();
    for (range, want) in [
        ("bytes=0-0", 0..1),
        ("bytes=1000000-1000099", 1_000_000..1_000_100),
        ("bytes=65535-65536", 65_535..65_537),
        ("bytes=-5", n - 5..n),
        ("bytes=4000000-", 4_000_000..n),
    ] {
        let res = client
            .get(&link)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206, "{range}");
        let body = res.bytes().await.unwrap();
        assert!(body[..] == d[want.clone()], "{range}");
    }
    // Damaged: the range is cut short, never sent whole.
    let file = Path::new(&s.dir.path().join("store"))
        .join("sha256")
        .join(&to_hex(&h)[..2])
        .join(format!("{}.zst", to_hex(&h)));
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();
    let res = client
        .get(&link)
        .header("range", "bytes=0-0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert!(
        res.bytes().await.is_err(),
        "a damaged object's range was sent"
    );
}
