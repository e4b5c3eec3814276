//! Issue 20, the access and header half: on a real run on Dovecot, files
//! made under `umask 022` are private anyway (index, secret, objects,
//! readable copies); no page opens without its signed link, loopback
//! included, unless `[serve] open_on_loopback` opts in; every page and file
//! answer carries the framing headers; a page's form token expires and is
//! good for its own mailbox and page link only; a failed put back shows an
//! error id, not internals; a name with U+202E is shown neutralised.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::cli::slimbox_with;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, ok, slimbox};
use support::serve::{hidden, Serve};

const DATE: &str = "14-Mar-2024 10:00:00 +0100";
const RLO_NAME: &str = "invoice\u{202E}fdp.exe";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn send(req: reqwest::RequestBuilder) -> Answer {
    rt().block_on(async {
        let res = req.send().await.expect("request");
        Answer {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap_or_default(),
        }
    })
}

fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut r = reqwest::Client::new().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    send(r)
}

fn post(url: &str, form: &[(&str, &str)], origin: &str) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    send(
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", origin)
            .body(body),
    )
}

/// The first `href` after `marker`.
fn href_after(page: &str, marker: &str) -> String {
    let at = page.find(marker).unwrap_or_else(|| panic!("no {marker}"));
    let from = page[..at].rfind("href=\"").expect("href") + 6;
    page[from..]
        .split('"')
        .next()
        .expect("href")
        .replace("&amp;", "&")
}

/// A page link's `sig` and `exp` (a short link carries its expiry in
/// `sig`, a long one in `exp`).
fn sig_exp(link: &str) -> (String, Option<String>) {
    let query = link.trim().split_once('?').map_or("", |(_, q)| q);
    let mut sig = String::new();
    let mut exp = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "sig" => sig = v.into_owned(),
            "exp" => exp = Some(v.into_owned()),
            _ => {}
        }
    }
    (sig, exp)
}

/// Where a page's put-back form posts: its own address, which carries the
/// page link's `sig` (and `exp`), checked before the body is read.
fn put_back_url(base: &str, acct: &str, (sig, exp): &(String, Option<String>)) -> String {
    let mut url = format!("{base}/m/{acct}/put-back?sig={sig}");
    if let Some(e) = exp {
        url.push_str(&format!("&exp={e}"));
    }
    url
}

/// The put-back form: the link's `sig` (and `exp`), token, message, hash.
fn put_back_form(
    (sig, exp): &(String, Option<String>),
    token: &str,
    message: &str,
    sha256: &str,
) -> Vec<(String, String)> {
    let mut f = vec![("sig".to_string(), sig.clone())];
    if let Some(e) = exp {
        f.push(("exp".to_string(), e.clone()));
    }
    for (k, v) in [("token", token), ("message", message), ("sha256", sha256)] {
        f.push((k.to_string(), v.to_string()));
    }
    f
}

/// `slimbox --config CONFIG ARGS` run by a shell under `umask 022`.
fn under_umask_022(config: &Path, args: &[&str]) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_slimbox"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("SLIMBOX_TEST_PASSWORD", "alicepw")
        .env("BOB_PW", "bobpw")
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "slimbox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file and folder under `dir`.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, bool)>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        let is_dir = p.is_dir();
        out.push((p.clone(), is_dir));
        if is_dir {
            walk(&p, out);
        }
    }
}

fn add_to_config(config: &Path, text: &str) {
    let t = std::fs::read_to_string(config).expect("config");
    std::fs::write(config, format!("{t}\n{text}")).expect("config");
}

/// The config of `write_config`, with the index and the secret in folders
/// slimbox has to create, a second mailbox, and put-back forms good for
/// 3 seconds.
fn config(d: &Dovecot, dir: &Path) -> PathBuf {
    let config = mailbox::write_config(d, dir, "100KiB");
    let t = std::fs::read_to_string(&config).expect("config");
    let index = dir.join("index.sqlite").display().to_string();
    let private = dir.join("private/index.sqlite").display().to_string();
    std::fs::write(&config, t.replace(&index, &private)).expect("config");
    let (port, ca) = (d.imaps_port, d.ca_pem.display());
    add_to_config(
        &config,
        &format!(
            "[[account]]\nname = \"bob\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"implicit\"\n\
             ca_file = \"{ca}\"\nuser = \"bob\"\npassword_env = \"BOB_PW\"\n\
             [serve]\nform_token_max_age = \"3s\"\n\
             [links]\nsecret_file = \"{}\"\n",
            dir.join("keys/links.key").display()
        ),
    );
    config
}

#[test]
fn issue20_private_files_signed_pages_framing_tokens_and_error_ids() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(&d, dir.path());
    let invoice = mailbox::with_attachment(
        "r1",
        "Pay \u{202E}won",
        RLO_NAME,
        "application/octet-stream",
        mailbox::noise(200_000, 7),
    );
    rt().block_on(mailbox::seed(&d, "Sent", &invoice, &["\\Seen"], DATE));

    // A run without [links] base_url (so with readable copies) and a page
    // link, both under umask 022.
    under_umask_022(&config, &["run"]);
    let printed = under_umask_022(&config, &["page", "alice", "--print"]);
    let link = printed.trim().to_string();
    assert!(
        link.starts_with("http://127.0.0.1:8025/m/alice?sig="),
        "{printed}"
    );
    private_files_are_private(dir.path());

    let serve = Serve::start(&config);
    let base = serve.base.clone();
    let alice = link.replacen("http://127.0.0.1:8025", &base, 1);
    let page = get(&alice, &[]);
    assert_eq!(page.status, 200, "{}\n{}", page.body, serve.log());
    framed(&page, "same-origin");
    assert!(page
        .header("content-security-policy")
        .contains("default-src 'none'"));
    assert!(page
        .header("content-security-policy")
        .contains("form-action 'self'"));
    assert!(page
        .header("content-security-policy")
        .contains("base-uri 'none'"));
    // The name and subject with U+202E, shown neutralised.
    assert!(
        page.body.contains("invoice[U+202E]fdp.exe"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Pay [U+202E]won"), "{}", page.body);
    assert!(!page.body.contains('\u{202E}'), "{}", page.body);

    // The file, by the page's download link: framed, no referrer.
    let download = href_after(&page.body, ">Download<");
    let file = get(&format!("{base}{download}"), &[]);
    assert_eq!(file.status, 200, "{download}");
    framed(&file, "no-referrer");
    assert!(file
        .header("content-disposition")
        .contains("invoice_fdp.exe"));
    // Refusals are framed too.
    framed(&get(&format!("{base}/f/00/x"), &[]), "no-referrer");
    framed(&get(&format!("{base}/m/alice"), &[]), "same-origin");

    // No page without its link: 401 saying how to get in; no listing.
    let how = get(&format!("{base}/m/alice"), &[]);
    assert_eq!(how.status, 401);
    assert!(how.header("www-authenticate").starts_with("SignedLink"));
    assert!(how.body.contains("slimbox page") && !how.body.contains("invoice"));
    assert_eq!(get(&format!("{base}/m/"), &[]).status, 404);

    tokens(&serve, &config, &alice, &page.body);
    drop(serve);
    error_ids(&config, &alice);
    open_on_loopback_by_opt_in(&config);
    index_trouble(&config, &dir.path().join("private/index.sqlite"), &alice);
}

/// An index the server cannot read: a page with an error id, not the
/// SQLite error, which is in the log under that id.
fn index_trouble(config: &Path, index: &Path, alice: &str) {
    std::fs::write(index, vec![b'x'; 4096]).expect("spoil the index");
    for side in ["-wal", "-shm"] {
        let mut p = index.as_os_str().to_owned();
        p.push(side);
        let _ = std::fs::remove_file(p);
    }
    let serve = Serve::start(config);
    let alice = alice.replacen(alice.split("/m/").next().unwrap(), &serve.base, 1);
    let page = get(&alice, &[]);
    assert_eq!(page.status, 503, "{}", page.body);
    framed(&page, "same-origin");
    let id = page
        .body
        .split("error id ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no error id: {}", page.body))
        .to_string();
    assert!(!page.body.contains("database"), "{}", page.body);
    let log = serve.log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("error id {id}")))
        .unwrap_or_else(|| panic!("no log line for {id}: {log}"));
    assert!(line.contains("index"), "{line}");
}

/// `X-Frame-Options`, `frame-ancestors`, `nosniff` and the referrer policy.
fn framed(a: &Answer, referrer: &str) {
    assert_eq!(a.header("x-frame-options"), "DENY");
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    assert_eq!(a.header("referrer-policy"), referrer);
    let csp = a.header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

fn private_files_are_private(dir: &Path) {
    assert_eq!(mode(&dir.join("private")), 0o700);
    assert_eq!(mode(&dir.join("private/index.sqlite")), 0o600);
    for side in ["-wal", "-shm"] {
        let p = dir.join(format!("private/index.sqlite{side}"));
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
    assert_eq!(mode(&dir.join("keys")), 0o700);
    assert_eq!(mode(&dir.join("keys/links.key")), 0o600);
    let mut all = Vec::new();
    walk(&dir.join("store"), &mut all);
    let objects = all
        .iter()
        .filter(|(p, d)| !d && p.starts_with(dir.join("store/sha256")));
    let copies = all
        .iter()
        .filter(|(p, d)| !d && p.starts_with(dir.join("store/files")));
    assert_eq!(objects.clone().count(), 1, "{all:?}");
    assert_eq!(copies.clone().count(), 1, "{all:?}");
    for (p, is_dir) in &all {
        let m = mode(p);
        if *is_dir {
            assert_eq!(m, 0o750, "{}", p.display());
        } else {
            // 0640, or 0440 once a readable copy is linked to it.
            assert!(m == 0o640 || m == 0o440, "{} is {m:o}", p.display());
        }
    }
}

/// The put-back form token: expired, another mailbox's, another page
/// link's, all 403; a good one goes through (404: no such message). Each
/// check takes a fresh token, so only the one meant to is refused for age.
fn tokens(serve: &Serve, config: &Path, alice: &str, page: &str) {
    let base = &serve.base;
    let fresh = || hidden(&get(alice, &[]).body, "token");
    let sha = hidden(page, "sha256");
    let send = |acct: &str, link: &(String, Option<String>), token: &str, message: &str| {
        let f = put_back_form(link, token, message, &sha);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        post(&put_back_url(base, acct, link), &f, base).status
    };
    let alice_link = sig_exp(alice);
    // Another message of this mailbox (none): the token itself passes.
    assert_eq!(send("alice", &alice_link, &fresh(), "999999"), 404);
    // Another mailbox: Bob's own link, Alice's token.
    let bob = sig_exp(&ok(slimbox(config).args(["page", "bob", "--print"])));
    assert_eq!(send("bob", &bob, &fresh(), "999999"), 403);
    // Another page link of Alice's (a later expiry): the token is not its.
    let other = ok(slimbox(config).args(["page", "alice", "--print", "--expires", "2h"]));
    assert_eq!(send("alice", &sig_exp(&other), &fresh(), "999999"), 403);
    // Expired: [serve] form_token_max_age = "3s".
    let token = fresh();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let message = hidden(page, "message");
    assert_eq!(send("alice", &alice_link, &token, &message), 403);
    assert!(
        !serve.log().contains("put back failed"),
        "nothing was tried: {}",
        serve.log()
    );
}

/// A put back that fails (the server has no password for the mailbox):
/// the page shows an error id, the log the detail under that id.
fn error_ids(config: &Path, alice: &str) {
    let mut cmd = slimbox(config);
    cmd.env_remove("SLIMBOX_TEST_PASSWORD");
    let serve = Serve::start_with(config, cmd);
    let alice = alice.replacen(alice.split("/m/").next().unwrap(), &serve.base, 1);
    let page = get(&alice, &[]).body;
    let link = sig_exp(&alice);
    let form = put_back_form(
        &link,
        &hidden(&page, "token"),
        &hidden(&page, "message"),
        &hidden(&page, "sha256"),
    );
    let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = post(&put_back_url(&serve.base, "alice", &link), &f, &serve.base);
    assert_eq!(done.status, 200, "{}", done.body);
    framed(&done, "same-origin");
    assert!(
        !done.body.contains("SLIMBOX_TEST_PASSWORD"),
        "{}",
        done.body
    );
    assert!(!done.body.contains("password_env"), "{}", done.body);
    let id = done
        .body
        .split("error id ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no error id: {}", done.body))
        .to_string();
    assert_eq!(id.len(), 8, "{id}");
    let log = serve.log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("error id {id}")))
        .unwrap_or_else(|| panic!("no log line for {id}: {log}"));
    assert!(line.contains("SLIMBOX_TEST_PASSWORD"), "{line}");
}

/// `[serve] open_on_loopback = true`: warned about at start; pages open
/// without a link to loopback, never through a proxy.
fn open_on_loopback_by_opt_in(config: &Path) {
    let t = std::fs::read_to_string(config).expect("config");
    let t = t.replace("[serve]\n", "[serve]\nopen_on_loopback = true\n");
    std::fs::write(config, t).expect("config");
    let serve = Serve::start(config);
    let base = &serve.base;
    let open = get(&format!("{base}/m/alice"), &[]);
    assert_eq!(open.status, 200, "{}", open.body);
    assert!(open.body.contains("invoice[U+202E]fdp.exe"));
    let home = get(&format!("{base}/m/"), &[]);
    assert!(home.status == 200 && home.body.contains("/m/alice") && home.body.contains("/m/bob"));
    assert_eq!(get(&format!("{base}/m/carol"), &[]).status, 404);
    let proxied = [("x-forwarded-for", "192.0.2.7")];
    assert_eq!(get(&format!("{base}/m/alice"), &proxied).status, 401);
    assert_eq!(get(&format!("{base}/m/"), &proxied).status, 404);
    let rebound = [("host", "evil.example")];
    assert_eq!(get(&format!("{base}/m/alice"), &rebound).status, 401);
    // A signature present is checked all the same.
    assert_eq!(get(&format!("{base}/m/alice?sig=AAAA"), &[]).status, 403);
    let log = serve.log();
    assert!(
        log.contains("open_on_loopback = true") && log.contains("WARN"),
        "{log}"
    );
}

/// `slimbox page`: the browser is started on a fresh signed link where
/// there is a display; without one (or with --print) the link is printed.
#[test]
fn issue20_slimbox_page_opens_the_browser_on_a_signed_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let config = d.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{0}/store\"\n[index]\npath = \"{0}/index.sqlite\"\n\
             [serve]\nlisten = \"0.0.0.0:8125\"\n\
             [[account]]\nname = \"alice\"\nhost = \"127.0.0.1\"\nuser = \"alice\"\n\
             password_env = \"UNUSED\"\n",
            d.display()
        ),
    )
    .expect("config");
    // A stand-in xdg-open that writes down what it was asked to open.
    let bin = d.join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let opener = bin.join("xdg-open");
    let opened = d.join("opened");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display()),
    )
    .expect("opener");
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let page = |display: Option<&str>, args: &[&str]| {
        let mut c = slimbox_with(&config);
        c.arg("page").args(args);
        c.env("PATH", &path).env_remove("WAYLAND_DISPLAY");
        match display {
            Some(v) => c.env("DISPLAY", v),
            None => c.env_remove("DISPLAY"),
        };
        let out = c.output().expect("slimbox page");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // One account: no name needed. With a display: opened, and printed.
    let said = page(Some(":99"), &[]);
    let link = std::fs::read_to_string(&opened).expect("the opener was run");
    assert!(
        link.starts_with("http://127.0.0.1:8125/m/alice?sig="),
        "{link}"
    );
    assert!(said.contains("opened") && said.contains(&link), "{said}");
    let secret = slimbox::links::Secret::load(&d.join("links.key")).expect("secret");
    let (sig, exp) = sig_exp(&link);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let check = |at: u64| secret.check_page("alice", Some(&sig), exp.as_deref(), at);
    assert_eq!(check(now), Ok("alice".to_string()));
    // Good for 12 hours by default, not longer.
    assert_eq!(check(now + 11 * 3600), Ok("alice".to_string()));
    assert!(check(now + 12 * 3600 + 5).is_err(), "12h by default");
    // No display, or --print: printed only.
    std::fs::remove_file(&opened).expect("rm");
    let said = page(None, &["alice"]);
    assert!(
        said.trim()
            .starts_with("http://127.0.0.1:8125/m/alice?sig="),
        "{said}"
    );
    assert!(!opened.exists());
    let said = page(Some(":99"), &["--print", "--expires", "30m"]);
    assert!(
        said.trim()
            .starts_with("http://127.0.0.1:8125/m/alice?sig="),
        "{said}"
    );
    assert!(!opened.exists());
    // An account the config does not have.
    let out = slimbox_with(&config)
        .args(["page", "carol", "--print"])
        .output()
        .expect("slimbox page");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account \"carol\""));
}
