//! issue 12, the self-service page of `slimbox serve` on a real run on
//! Dovecot: who may see a page (a signed page link for that mailbox only;
//! since issue 20 not even loopback without one), search by name, sender,
//! date and size, and "put back", which must carry the page's signature
//! and token and puts the original back byte for byte.

mod support;

use std::path::Path;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, ok, slimbox};
use support::serve::{hidden, Serve};

const DATE: &str = "14-Mar-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A message from `from`, dated `date` (RFC 5322), with one attachment.
fn mail(id: &str, name: &str, from: &str, date: &str, data: Vec<u8>) -> Vec<u8> {
    let m = mailbox::with_attachment(id, &format!("About {name}"), name, "application/pdf", data);
    let text = String::from_utf8(m).expect("ascii");
    let (head, body) = text.split_once("\r\n\r\n").expect("header");
    let head: Vec<String> = head
        .split("\r\n")
        .map(|l| match l {
            l if l.starts_with("From: ") => format!("From: {from}"),
            l if l.starts_with("Date: ") => format!("Date: {date}"),
            l => l.to_string(),
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

async fn seed_as(d: &Dovecot, user: &str, msg: &[u8], date: &str) {
    let mut s =
        slimbox::imap::Session::connect(&mailbox::imap_config(d, user, &format!("{user}pw")))
            .await
            .expect("connect");
    let f = mailbox::folder(&mut s, "Sent").await;
    s.append(&f, &["\\Seen".to_string()], date, msg)
        .await
        .expect("append");
    let _ = s.logout().await;
}

/// GET with optional extra headers: status and body.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    rt().block_on(async {
        let mut r = reqwest::Client::new().get(url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let res = r.send().await.expect("GET");
        (res.status().as_u16(), res.text().await.expect("body"))
    })
}

fn post(url: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, String) {
    rt().block_on(async {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut r = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let res = r.send().await.expect("POST");
        (res.status().as_u16(), res.text().await.expect("body"))
    })
}

fn add_to_config(config: &Path, text: &str) {
    let t = std::fs::read_to_string(config).expect("config");
    std::fs::write(config, format!("{t}\n{text}")).expect("config");
}

#[test]
fn issue12_page_access_search_and_put_back() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let serve = Serve::start(&config);
    let base = serve.base.clone();
    // A second mailbox; the [links] table last, so the account is whole.
    let port = d.imaps_port;
    let ca = d.ca_pem.display();
    add_to_config(
        &config,
        &format!(
            "[[account]]\nname = \"bob\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"implicit\"\n\
             ca_file = \"{ca}\"\nuser = \"bob\"\npassword_env = \"BOB_PW\"\n\
             [links]\nbase_url = \"{base}\"\n"
        ),
    );
    let report = mail(
        "p1",
        "Q1 Report.pdf",
        "Carl <carl@example.org>",
        "Thu, 14 Mar 2024 10:00:00 +0100",
        mailbox::noise(300_000, 1),
    );
    let photos = mail(
        "p2",
        "holiday.pdf",
        "Ada <ada@example.com>",
        "Sat, 14 Jan 2023 10:00:00 +0100",
        mailbox::noise(150_000, 2),
    );
    let bobs = mail(
        "p3",
        "bob-only.pdf",
        "Ada <ada@example.com>",
        "Thu, 14 Mar 2024 10:00:00 +0100",
        mailbox::noise(200_000, 3),
    );
    rt().block_on(async {
        seed_as(&d, "alice", &report, DATE).await;
        seed_as(&d, "alice", &photos, "14-Jan-2023 10:00:00 +0100").await;
        seed_as(&d, "bob", &bobs, DATE).await;
    });
    ok(slimbox(&config).env("BOB_PW", "bobpw").arg("run"));
    // serve started before [[account]] bob was written: start it again.
    drop(serve);
    let serve = Serve::start(&config);
    let base = serve.base.clone();

    let alice = ok(slimbox(&config).args(["link", "--page", "alice"]));
    let bob = ok(slimbox(&config).args(["link", "--page", "bob"]));
    assert!(alice.contains("/m/alice?sig="), "{alice}");
    let at_server = |link: &str| link.replacen(link.split("/m/").next().unwrap(), &base, 1);
    let (alice, bob) = (at_server(&alice), at_server(&bob));

    // The page: this mailbox's files only, newest first.
    let (status, page) = get(&alice, &[]);
    assert_eq!(status, 200, "{page}\n{}", serve.log());
    assert!(page.contains("name=\"viewport\""));
    let (r, h) = (page.find("Q1 Report.pdf"), page.find("holiday.pdf"));
    assert!(r.is_some() && h.is_some() && r < h, "{page}");
    assert!(!page.contains("bob-only"), "{page}");
    let (_, bob_page) = get(&bob, &[]);
    assert!(bob_page.contains("bob-only.pdf") && !bob_page.contains("holiday"));
    // Its download links are short links (issue 19) the server answers.
    let href = page
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|h| h.contains("/f/"))
        .expect("a download link");
    let href = &href[href.find("/f/").unwrap()..];
    assert!(!href.contains('?') && href.len() <= 100, "{href}");
    let (status, _) = get(&format!("{base}{href}"), &[]);
    assert_eq!(status, 200, "{href}\n{}", serve.log());

    // Refusals, bare: another mailbox's link, tampered, expired, unknown.
    let sig = alice.split("sig=").nth(1).unwrap().to_string();
    let bare = |(s, body): (u16, String)| (s, body.contains("<html"));
    assert_eq!(
        bare(get(&format!("{base}/m/bob?sig={sig}"), &[])),
        (403, false)
    );
    let tampered = format!("{base}/m/alice?sig=A{}", &sig[1..]);
    let tampered = if tampered == alice {
        format!("{base}/m/alice?sig=B{}", &sig[1..])
    } else {
        tampered
    };
    assert_eq!(bare(get(&tampered, &[])), (403, false));
    assert_eq!(bare(get(&format!("{alice}&exp=1"), &[])), (403, false));
    let old = ok(slimbox(&config).args(["link", "--page", "alice", "--expires", "1s"]));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(bare(get(&at_server(&old), &[])), (403, false));
    // Issue 20: no page without its link, not even on loopback: a 401 that
    // says how to get in, for any mailbox (served here or not). The open
    // loopback mode is an opt-in now, tested in serve_access_live.rs.
    let (status, how) = get(&format!("{base}/m/carol"), &[]);
    assert!(status == 401 && how.contains("slimbox page"), "{how}");
    let (status, how) = get(&format!("{base}/m/alice"), &[]);
    assert!(status == 401 && !how.contains("holiday.pdf"), "{how}");
    assert_eq!(get(&format!("{base}/m/"), &[]).0, 404);
    let proxied = [("x-forwarded-for", "192.0.2.7")];
    assert_eq!(get(&format!("{base}/m/alice"), &proxied).0, 401);
    assert_eq!(get(&format!("{base}/m/"), &proxied).0, 404);
    assert_eq!(get(&alice, &proxied).0, 200);

    // Search: by name (any case), sender, date, size; a bad date is named.
    let search = |q: &str| get(&format!("{alice}&{q}"), &[]).1;
    let s = search("name=q1+report");
    assert!(
        s.contains("Q1 Report.pdf") && !s.contains("holiday.pdf"),
        "{s}"
    );
    let s = search("from=carl");
    assert!(s.contains("Q1 Report.pdf") && !s.contains("holiday.pdf"));
    let s = search("until=2023-12-31");
    assert!(!s.contains("Q1 Report.pdf") && s.contains("holiday.pdf"));
    let s = search("since=2024-03-14&larger=200KB");
    assert!(s.contains("Q1 Report.pdf") && !s.contains("holiday.pdf"));
    assert!(search("name=nothing-like-it").contains("No files found"));
    assert!(search("since=yesterday").contains("YYYY-MM-DD"));
    let s = search("rows=1");
    assert!(s.contains("Show more") && !s.contains("holiday.pdf"), "{s}");

    // The POST guard. The form of the report's row:
    let s = search("name=q1");
    let form = |token: &str| {
        vec![
            ("sig", sig.clone()),
            ("token", token.to_string()),
            ("message", hidden(&s, "message")),
            ("sha256", hidden(&s, "sha256")),
        ]
    };
    let token = hidden(&s, "token");
    let pairs = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
    // The page's form posts to its own address, which carries the page
    // link's signature (checked before the body is read, issue 20).
    let send = |f: Vec<(&str, String)>, acct: &str, h: &[(&str, &str)]| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sig = f.iter().find(|(k, _)| *k == "sig").map_or("", |(_, v)| *v);
        post(&format!("{base}/m/{acct}/put-back?sig={sig}"), &f, h)
    };
    let origin = [("origin", base.as_str())];
    assert_eq!(
        send(
            pairs(&form(&token)),
            "alice",
            &[("origin", "https://evil.example")]
        )
        .0,
        403
    );
    assert_eq!(send(pairs(&form("forged")), "alice", &origin).0, 403);
    // Alice's signature and token for Bob's mailbox; Bob's page, Alice's message.
    assert_eq!(send(pairs(&form(&token)), "bob", &origin).0, 403);
    let (_, bp) = get(&bob, &[]);
    let bob_form = vec![
        ("sig", bob.split("sig=").nth(1).unwrap().to_string()),
        ("token", hidden(&bp, "token")),
        ("message", hidden(&s, "message")),
        ("sha256", hidden(&s, "sha256")),
    ];
    assert_eq!(send(bob_form, "bob", &origin).0, 404);
    let before = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(
        before.values().all(|m| m.bytes != report),
        "the report is a stub"
    );

    // Put back: the original, byte for byte, and the row is gone.
    let (status, done) = send(pairs(&form(&token)), "alice", &origin);
    assert_eq!(status, 200, "{done}\n{}", serve.log());
    assert!(done.contains("Put back:"), "{done}");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(
        after.values().any(|m| m.bytes == report),
        "the original is back"
    );
    assert_eq!(after.len(), before.len(), "the stub is gone");
    assert!(!get(&alice, &[]).1.contains("Q1 Report.pdf"));
    // Twice: nothing left to put back.
    assert_eq!(send(pairs(&form(&token)), "alice", &origin).0, 404);
}
