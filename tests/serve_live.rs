//! Issue 12: `slimbox serve`, started as a child process on loopback (port
//! 0; it prints the address it bound), answering signed file links from a
//! local store, a compressed object and S3 on moto
//! (`scripts/objstore-harness`), with everything else refused. Issue 19:
//! the short links, objects sharing their 64-bit prefix, and the long
//! links written before them.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use slimbox::links::Secret;
use slimbox::store::{sha256, to_hex, Compression, PutOptions, Store};
use support::cli::slimbox_with;
use support::objstore::{Kind, ObjStore};

/// A running `slimbox serve` and what signs its links.
struct Server {
    child: Child,
    base: String,
    secret: Secret,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server on `store_toml` (a `[store]` table) with `env`.
    fn start(store_toml: &str, env: &[(String, String)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let config = format!(
            "{store_toml}\n[index]\npath = \"{d}/index.sqlite\"\n\
             [links]\nsecret_file = \"{d}/links.key\"\n\
             [[account]]\nname = \"me\"\nhost = \"127.0.0.1\"\nuser = \"me\"\n\
             password_env = \"UNUSED\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let secret = Secret::load_or_create(&dir.path().join("links.key")).unwrap();
        let mut child = slimbox_with(&dir.path().join("config.toml"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("serve.log")).unwrap(),
            ))
            .spawn()
            .expect("cannot start slimbox serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
            panic!("slimbox serve did not start: {line:?}\n{log}");
        };
        Server {
            base: base.to_string(),
            child,
            secret,
            dir,
        }
    }

    fn local(store: &Path) -> Server {
        Server::start(&format!("[store]\nurl = \"{}\"\n", store.display()), &[])
    }

    fn link(&self, data_hash: &str, name: &str, exp: Option<u64>) -> String {
        self.secret.file_link(&self.base, data_hash, name, exp)
    }

    /// A link in the long form written before issue 19.
    fn long_link(&self, data_hash: &str, name: &str, exp: Option<u64>) -> String {
        self.secret
            .legacy_file_link(&self.base, data_hash, name, exp)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// A request sent byte for byte (reqwest would normalise `..` and
    /// percent-encoded dots away): the status code and the body.
    fn raw_status(&self, method: &str, target: &str) -> (u16, String) {
        let addr = self.base.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let out = String::from_utf8_lossy(&out);
        let status = out[9..12].parse().unwrap();
        let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        (status, body.to_string())
    }

    /// Stops the server with SIGTERM and waits: it must exit cleanly.
    fn stop(self) {
        self.term();
        self.exits_cleanly();
    }

    fn term(&self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
    }

    fn exits_cleanly(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited {status}\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn data(len: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

async fn put(store: &Store, d: &Bytes) -> String {
    let h = sha256(d);
    store.put(&h, d.clone(), PutOptions::new()).await.unwrap();
    to_hex(&h)
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let (status, h) = (res.status(), res.headers().clone());
    (status, h, res.bytes().await.unwrap())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map_or("", |v| v.to_str().unwrap())
}

/// The whole object, its headers, and the same headers for HEAD.
async fn whole_file_checks(server: &Server, url: &str, d: &Bytes, name_type: &str) {
    let (status, h, body) = get(url, &[]).await;
    assert_eq!(status, StatusCode::OK, "{}", server.log());
    assert_eq!(body.len(), d.len());
    assert_eq!(sha256(&body), sha256(d), "served bytes differ");
    assert_eq!(header(&h, "content-length"), d.len().to_string());
    assert_eq!(header(&h, "content-type"), name_type);
    assert_eq!(header(&h, "etag"), format!("\"{}\"", to_hex(&sha256(d))));
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert!(header(&h, "cache-control").contains("private"));

    let head = reqwest::Client::new().head(url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    for name in [
        "content-length",
        "content-type",
        "content-disposition",
        "etag",
        "accept-ranges",
        "cache-control",
        "x-content-type-options",
    ] {
        assert_eq!(
            header(head.headers(), name),
            header(&h, name),
            "HEAD {name}"
        );
    }
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn issue12_a_signed_link_streams_the_exact_bytes_with_ranges_and_etags() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy()).unwrap();
    // Several of the store's 1 MiB read batches, and not a multiple of one.
    let d = data(3 * 1024 * 1024 + 17);
    let hash = put(&store, &d).await;
    let server = Server::local(&store_dir);
    let name = "Größe \"Q3\" report.pdf";
    let url = server.link(&hash, name, None);
    whole_file_checks(&server, &url, &d, "application/pdf").await;
    let (_, h, _) = get(&url, &[]).await;
    assert_eq!(
        header(&h, "content-disposition"),
        "inline; filename=\"Gr__e _Q3_ report.pdf\"; \
         filename*=UTF-8''Gr%C3%B6%C3%9Fe%20%22Q3%22%20report.pdf"
    );

    let n = d.len();
    for (range, want) in [
        ("bytes=0-9", 0..10),
        ("bytes=1048570-2097160", 1_048_570..2_097_161),
        ("bytes=-100", n - 100..n),
        ("bytes=3000000-", 3_000_000..n),
        ("bytes=5-5", 5..6),
    ] {
        let (status, h, body) = get(&url, &[("range", range)]).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(&body[..], &d[want.clone()], "{range}");
        assert_eq!(header(&h, "content-length"), want.len().to_string());
        assert_eq!(
            header(&h, "content-range"),
            format!("bytes {}-{}/{n}", want.start, want.end - 1)
        );
    }
    let (status, h, _) = get(&url, &[("range", &format!("bytes={n}-"))]).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&h, "content-range"), format!("bytes */{n}"));
    // Several ranges: the whole object, which a server may always send.
    let (status, _, body) = get(&url, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!((status, body.len()), (StatusCode::OK, n));

    let etag = format!("\"{hash}\"");
    let (status, h, body) = get(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&h, "etag"), etag);
    let (status, _, _) = get(&url, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(status, StatusCode::OK);

    // A download for a file type a browser could run is an attachment.
    let url = server.link(&hash, "page.html", None);
    let (_, h, _) = get(&url, &[]).await;
    assert!(header(&h, "content-disposition").starts_with("attachment; filename=\"page.html\""));
    assert!(
        server.log().contains("GET /f/"),
        "no access log:\n{}",
        server.log()
    );
    assert!(!server.log().contains("sig="), "the log holds a signature");
    let key = url[server.base.len() + 3..].split('/').next().unwrap();
    assert!(!server.log().contains(&key[11..27]), "the log holds a tag");
    server.stop();
}

#[tokio::test]
async fn issue12_a_compressed_object_is_served_decompressed() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy())
        .unwrap()
        .with_compression(Compression::from_zstd_level(Some(3)));
    let d = Bytes::from("a line of a CSV file, 1234, 5678\n".repeat(100_000));
    let h = sha256(&d);
    let put = store
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
    assert!(
        put.compressed_size.is_some(),
        "the object was not stored compressed"
    );
    let server = Server::local(&store_dir);
    let url = server.link(&to_hex(&h), "table.csv", None);
    whole_file_checks(&server, &url, &d, "text/csv").await;
    let (status, _, body) = get(&url, &[("range", "bytes=-33")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], &d[d.len() - 33..]);
}

#[tokio::test]
async fn issue12_a_signed_link_streams_from_s3() {
    let s3 = ObjStore::start(Kind::S3);
    let store = s3.open();
    let d = data(2 * 1024 * 1024 + 5);
    let hash = put(&store, &d).await;
    let server = Server::start(&s3.store_toml(), &s3.env());
    let url = server.link(&hash, "scan.tiff", None);
    whole_file_checks(&server, &url, &d, "image/tiff").await;
    let (status, _, body) = get(&url, &[("range", "bytes=100-199")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], &d[100..200]);
    // A long link too; one to an object not stored is 404 in the long
    // form, 403 in the short (which cannot tell it from a forgery).
    let long = server.long_link(&hash, "scan.tiff", None);
    whole_file_checks(&server, &long, &d, "image/tiff").await;
    let other = to_hex(&sha256(b"not stored"));
    let (status, _, _) = get(&server.long_link(&other, "x.bin", None), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&server.link(&other, "x.bin", None), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn issue12_bad_links_and_other_paths_are_refused_without_detail() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy()).unwrap();
    let d = data(5000);
    let hash = put(&store, &d).await;
    let other = put(&store, &data(6000)).await;
    let server = Server::local(&store_dir);
    let good = server.long_link(&hash, "a.pdf", None);
    let path_and_query = &good[server.base.len()..];
    let (_, query) = path_and_query.split_once('?').unwrap();
    let sig = query.strip_prefix("sig=").unwrap();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = server.long_link(&hash, "a.pdf", Some(now - 1));
    let later = server.long_link(&hash, "a.pdf", Some(now + 3600));
    let refused: Vec<String> = vec![
        format!("/f/{hash}/a.pdf?sig={flipped}"),
        format!("/f/{hash}/a.pdf"),
        format!("/f/{hash}/a.pdf?sig="),
        format!("/f/{other}/a.pdf?{query}"),
        format!("/f/{hash}/b.pdf?{query}"),
        format!("/f/{hash}/a.pdf?{query}&sig={sig}"),
        expired[server.base.len()..].to_string(),
        later[server.base.len()..].replace("&exp=", "&exp=1"),
        format!("/f/{hash}/a.pdf?{query}&exp={}", now + 3600),
        format!("/f/{hash}/..?{query}"),
        format!("/f/{hash}/%2e%2e?{query}"),
        format!("/f/{hash}/..%2Fetc%2Fpasswd?{query}"),
        format!("/f/{hash}/..%2fa.pdf?{query}"),
        format!("/f/{hash}/..%5Ca.pdf?{query}"),
        format!("/f/{hash}/..\\a.pdf?{query}"),
        format!("/f/{hash}//a.pdf?{query}"),
        format!("/f//{hash}/a.pdf?{query}"),
        format!("//f/{hash}/a.pdf?{query}"),
        format!("/f/{hash}/a.pdf/?{query}"),
        format!("/f/{hash}/x/../a.pdf?{query}"),
        format!("/f/../f/{hash}/a.pdf?{query}"),
        format!("/f/%2e%2e/sha256/{}?{query}", &hash[..2]),
        format!("/f/{}/a.pdf?{query}", hash.to_uppercase()),
        format!("/f/{hash}?{query}"),
        "/".to_string(),
        "/f/".to_string(),
        format!("/sha256/{}/{hash}", &hash[..2]),
        "/index.sqlite".to_string(),
        "/links.key".to_string(),
    ];
    // The good link works, so each refusal below is the change it makes.
    assert_eq!(server.raw_status("GET", path_and_query).0, 200);
    assert_eq!(server.raw_status("GET", &later[server.base.len()..]).0, 200);
    for target in &refused {
        let (status, body) = server.raw_status("GET", target);
        assert!(
            status == 403 || status == 404,
            "{target} answered {status}\n{}",
            server.log()
        );
        assert!(
            body == "Forbidden\n" || body == "Not Found\n",
            "{target}: the body says more than its status: {body:?}"
        );
        let (status, _) = server.raw_status("HEAD", target);
        assert!(status == 403 || status == 404, "HEAD {target}: {status}");
    }
    // A signed link to an object that is not (or no longer) stored.
    let gone = to_hex(&sha256(b"never stored"));
    let (status, _, _) = get(&server.long_link(&gone, "a.pdf", None), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Only GET and HEAD.
    assert!(server.raw_status("POST", path_and_query).0 >= 400);
    assert!(server.raw_status("DELETE", path_and_query).0 >= 400);
}

/// Issue 19: short links from a local store, a plain and a compressed
/// object, each found by its 64-bit prefix among files sharing it; the long
/// link to the same object still works; refusals stay bare.
#[tokio::test]
async fn issue19_short_links_find_their_object_among_prefix_twins() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy())
        .unwrap()
        .with_compression(Compression::from_zstd_level(Some(3)));
    let plain = data(200_000);
    let plain_hash = put(&store, &plain).await;
    let csv = Bytes::from("a line of a CSV file, 1234, 5678\n".repeat(50_000));
    let h = sha256(&csv);
    let put_csv = store
        .put(
            &h,
            csv.clone(),
            PutOptions::new()
                .compress_as(Some("text/csv"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .unwrap();
    assert!(put_csv.compressed_size.is_some(), "not stored compressed");
    let csv_hash = to_hex(&h);
    // Files whose names share each object's first 8 bytes, sorting before
    // and after it (their content is not theirs: only a link signed for
    // that very name would ever read one).
    for real in [&plain_hash, &csv_hash] {
        let fan = store_dir.join("sha256").join(&real[..2]);
        for tail in [
            "0".repeat(48),
            "f".repeat(48),
            format!("{}0", &"e".repeat(47)),
        ] {
            let twin = format!("{}{tail}", &real[..16]);
            assert_ne!(&twin, real);
            std::fs::write(fan.join(&twin), b"not this one").unwrap();
        }
    }
    let server = Server::local(&store_dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let url = server.link(&plain_hash, "Q3-report.pdf", Some(now + 3600));
    assert!(!url.contains(&plain_hash) && !url.contains('?'), "{url}");
    whole_file_checks(&server, &url, &plain, "application/pdf").await;
    let (_, h, _) = get(&url, &[]).await;
    assert_eq!(
        header(&h, "content-disposition"),
        "inline; filename=\"Q3-report.pdf\"; filename*=UTF-8''Q3-report.pdf"
    );
    let url = server.link(&csv_hash, "table.csv", None);
    whole_file_checks(&server, &url, &csv, "text/csv").await;
    let (status, _, body) = get(&url, &[("range", "bytes=-33")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], &csv[csv.len() - 33..]);
    // A long name is cut in the link and downloads under the cut name.
    let long = "Quarterly-financial-report-for-the-board-2026-final.pdf";
    let url = server.link(&plain_hash, long, Some(now + 3600));
    assert!(url.len() <= 100, "{url}");
    let (status, h, _) = get(&url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let cut = url.rsplit('/').next().unwrap();
    assert!(cut.ends_with("~.pdf"), "{url}");
    assert!(header(&h, "content-disposition").contains(&format!("filename=\"{cut}\"")));
    // The long link written before issue 19 still works.
    let old = server.long_link(&plain_hash, "Q3-report.pdf", None);
    whole_file_checks(&server, &old, &plain, "application/pdf").await;

    let good = server.link(&plain_hash, "a.pdf", None);
    let target = good[server.base.len()..].to_string();
    let key = target[3..].split('/').next().unwrap().to_string();
    let flip = |at: usize| {
        let mut k = key.clone().into_bytes();
        k[at] = if k[at] == b'A' { b'B' } else { b'A' };
        target.replace(&key, std::str::from_utf8(&k).unwrap())
    };
    let gone = server.link(&to_hex(&sha256(b"never stored")), "a.pdf", None);
    let expired = server.link(&plain_hash, "a.pdf", Some(now - 1));
    let twin = format!("{}{}", &plain_hash[..16], "0".repeat(48));
    let refused: Vec<(String, u16)> = vec![
        (flip(2), 403),  // another prefix
        (flip(20), 403), // the tag
        (target.replace("a.pdf", "b.pdf"), 403),
        (gone[server.base.len()..].to_string(), 403),
        (expired[server.base.len()..].to_string(), 403),
        (format!("/f/{}/a.pdf", &key[..key.len() - 1]), 404),
        (format!("/f/{key}x/a.pdf"), 404),
        (format!("/f/{key}/.."), 404),
        (format!("/f/{key}/a%2Fb.pdf"), 404),
        (format!("/f/{key}/x/a.pdf"), 404),
        // A twin's name with the real object's tag.
        (format!("/f/{twin}/a.pdf"), 403),
    ];
    assert_eq!(server.raw_status("GET", &target).0, 200);
    for (t, want) in &refused {
        let (status, body) = server.raw_status("GET", t);
        assert_eq!(status, *want, "{t}\n{}", server.log());
        assert!(
            body == "Forbidden\n" || body == "Not Found\n",
            "{t}: the body says more than its status: {body:?}"
        );
    }
    server.stop();
}

/// A damaged object is never handed out as if whole: the transfer stops
/// short of its Content-Length, and the log says why.
#[tokio::test]
async fn issue12_a_damaged_object_ends_the_transfer_short() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy()).unwrap();
    let d = data(3 * 1024 * 1024);
    let hash = put(&store, &d).await;
    let file: PathBuf = store_dir.join("sha256").join(&hash[..2]).join(&hash);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[2 * 1024 * 1024 + 3] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let server = Server::local(&store_dir);
    let res = reqwest::get(server.link(&hash, "a.bin", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.bytes().await.is_err(),
        "a damaged object was sent whole"
    );
    assert!(server.log().contains("DAMAGED"), "{}", server.log());
}

/// SIGTERM lets a download in flight finish, then the server exits 0.
#[tokio::test]
async fn issue12_sigterm_finishes_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy()).unwrap();
    let d = data(8 * 1024 * 1024);
    let hash = put(&store, &d).await;
    let server = Server::local(&store_dir);
    let mut res = reqwest::get(server.link(&hash, "a.bin", None))
        .await
        .unwrap();
    let mut got = res.chunk().await.unwrap().unwrap().to_vec();
    server.term();
    while let Some(c) = res.chunk().await.unwrap() {
        got.extend_from_slice(&c);
    }
    assert_eq!(sha256(&got), sha256(&d));
    server.exits_cleanly();
}

/// With `[serve] tls_cert` and `tls_key` the server speaks HTTPS (rustls);
/// the certificate is a fresh self-signed one from `openssl` (installed by
/// scripts/test-deps).
#[tokio::test]
async fn issue12_tls_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // A self-signed end-entity certificate (rustls refuses a CA one for a
    // server), as scripts/dovecot-harness makes it.
    let cnf = dir.path().join("openssl.cnf");
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n\
         [dn]\nCN = localhost\n[v3]\nbasicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n\
         subjectAltName = IP:127.0.0.1\n",
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-config",
        ])
        .arg(&cnf)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (installed by scripts/test-deps)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy()).unwrap();
    let d = data(100_000);
    let hash = put(&store, &d).await;
    let server = Server::start(
        &format!(
            "[store]\nurl = \"{}\"\n[serve]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            store_dir.display(),
            cert.display(),
            key.display()
        ),
        &[],
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let res = client
        .get(server.link(&hash, "a.bin", None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(sha256(&res.bytes().await.unwrap()), sha256(&d));
    server.stop();
}
