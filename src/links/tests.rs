use super::*;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const BASE: &str = "https://files.example.com/";

fn secret() -> Secret {
    Secret::from_bytes(&[7u8; 32])
}

/// Splits a long link the way a server would: the two path segments and
/// the query. (The tests down to `the_secret_file…` are the long form's,
/// which old mail still carries; the short form's follow.)
fn parts(url: &str) -> (String, String, Option<String>, Option<String>) {
    let u = url::Url::parse(url).unwrap();
    let segs: Vec<String> = u.path_segments().unwrap().map(String::from).collect();
    let q = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    (segs[1].clone(), segs[2].clone(), q("sig"), q("exp"))
}

#[test]
fn a_file_link_checks_and_names_the_file() {
    let s = secret();
    let url = s.legacy_file_link(BASE, SHA, "Q3 report (final).pdf", None);
    assert!(url.starts_with("https://files.example.com/f/"), "{url}");
    let (sha, name, sig, exp) = parts(&url);
    let got = s
        .check_file(&sha, &name, sig.as_deref(), exp.as_deref(), 1)
        .unwrap();
    assert_eq!(got.name, "Q3 report (final).pdf");
    assert_eq!(got.sha256, SHA);
}

#[test]
fn unicode_and_slashy_names_stay_one_segment() {
    let s = secret();
    let url = s.legacy_file_link(BASE, SHA, "Prüfung ü/../x?.pdf", None);
    assert!(!url.contains("/../"), "{url}");
    let (sha, name, sig, _) = parts(&url);
    // A name with a slash can be signed but is never served.
    assert_eq!(
        s.check_file(&sha, &name, sig.as_deref(), None, 1),
        Err(Refused::BadName)
    );
    let url = s.legacy_file_link(BASE, SHA, "Prüfung ü.pdf", None);
    let (sha, name, sig, _) = parts(&url);
    assert_eq!(
        s.check_file(&sha, &name, sig.as_deref(), None, 1)
            .unwrap()
            .name,
        "Prüfung ü.pdf"
    );
}

#[test]
fn tampering_is_refused() {
    let s = secret();
    let url = s.legacy_file_link(BASE, SHA, "a.pdf", Some(2000));
    let (sha, name, sig, exp) = parts(&url);
    let other_sha = SHA.replace('9', "8");
    let check = |sha: &str, name: &str, sig: Option<&str>, exp: Option<&str>| {
        s.check_file(sha, name, sig, exp, 1000)
    };
    assert!(check(&sha, &name, sig.as_deref(), exp.as_deref()).is_ok());
    assert_eq!(
        check(&other_sha, &name, sig.as_deref(), exp.as_deref()),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&sha, "b.pdf", sig.as_deref(), exp.as_deref()),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&sha, &name, sig.as_deref(), Some("3000")),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&sha, &name, sig.as_deref(), None),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&sha, &name, None, exp.as_deref()),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&sha, &name, Some("AAAA"), exp.as_deref()),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&sha, &name, Some("!!"), exp.as_deref()),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check(&sha, &name, sig.as_deref(), Some("+2000")),
        Err(Refused::BadSignature)
    );
    let other = Secret::from_bytes(&[8u8; 32]);
    assert_eq!(
        other.check_file(&sha, &name, sig.as_deref(), exp.as_deref(), 1000),
        Err(Refused::BadSignature)
    );
}

#[test]
fn expired_links_are_refused() {
    let s = secret();
    let url = s.legacy_file_link(BASE, SHA, "a.pdf", Some(2000));
    let (sha, name, sig, exp) = parts(&url);
    assert_eq!(
        s.check_file(&sha, &name, sig.as_deref(), exp.as_deref(), 2000),
        Err(Refused::Expired)
    );
}

#[test]
fn bad_hashes_and_names_are_refused_before_the_signature() {
    let s = secret();
    for sha in [
        "",
        "abc",
        &SHA.to_uppercase(),
        &format!("{}/..", &SHA[..61]),
    ] {
        assert_eq!(
            s.check_file(sha, "a", Some("x"), None, 1),
            Err(Refused::BadHash),
            "{sha}"
        );
    }
    for name in [
        "", ".", "..", "%2e%2e", "a%2Fb", "a%5Cb", "a\\b", "a%0Ab", "%ff",
    ] {
        assert_eq!(
            s.check_file(SHA, name, Some("x"), None, 1),
            Err(Refused::BadName),
            "{name}"
        );
    }
}

#[test]
fn a_page_link_is_good_for_its_mailbox_only() {
    let s = secret();
    let url = s.legacy_page_link(BASE, "alice@example.com", None);
    let u = url::Url::parse(&url).unwrap();
    let acct = u.path_segments().unwrap().nth(1).unwrap().to_string();
    let sig = u
        .query_pairs()
        .find(|(k, _)| k == "sig")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        s.check_page(&acct, Some(&sig), None, 1).unwrap(),
        "alice@example.com"
    );
    assert_eq!(
        s.check_page("bob%40example.com", Some(&sig), None, 1),
        Err(Refused::BadSignature)
    );
}

#[test]
fn a_page_signature_is_no_file_signature() {
    let s = secret();
    // An account named like a hash, and a file named like nothing: the kinds differ.
    let page = s.legacy_page_link(BASE, SHA, None);
    let sig = url::Url::parse(&page)
        .unwrap()
        .query_pairs()
        .next()
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        s.check_file(SHA, "x", Some(&sig), None, 1),
        Err(Refused::BadSignature)
    );
}

#[test]
fn the_secret_file_is_made_once_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/links.key");
    let a = Secret::load_or_create(&path).unwrap();
    let b = Secret::load_or_create(&path).unwrap();
    assert_eq!(a.sign(b"x"), b.sign(b"x"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(&path, b"short").unwrap();
    assert!(matches!(
        Secret::load(&path),
        Err(LinkError::TooShort { len: 5, .. })
    ));
}

// The short form (issue 19).

const NOW: u64 = 1_800_000_000;

fn hash() -> [u8; 32] {
    crate::store::parse_hex(SHA).unwrap()
}

/// The path and query of a link, as a request names it.
fn target(url: &str) -> &str {
    let at = url.find("/f/").or_else(|| url.find("/m/")).unwrap();
    &url[at..]
}

#[test]
fn issue19_a_short_link_checks_and_names_the_file() {
    let s = secret();
    for exp in [None, Some(NOW + 3600)] {
        let url = s.file_link(BASE, SHA, "Q3 report (final).pdf", exp);
        assert!(url.starts_with("https://files.example.com/f/"), "{url}");
        assert!(!url.contains('?') && !url.contains(SHA), "{url}");
        let got = s.check_file_target(target(&url), &[hash()], NOW).unwrap();
        assert_eq!(got.name, "Q3 report (final).pdf");
        assert_eq!(got.sha256, SHA);
        let key = target(&url).split('/').nth(2).unwrap();
        assert!(!is_long_form(key));
        assert_eq!(key.len(), if exp.is_some() { 34 } else { 27 }, "{key}");
        assert_eq!(
            parse_short_file(key, "a", NOW).unwrap().prefix(),
            &hash()[..8]
        );
    }
}

#[test]
fn issue19_the_readme_example_is_at_most_100_characters() {
    let s = secret();
    let exp = Some(NOW + 30 * 86_400);
    let url = s.file_link("https://files.example.com", SHA, "Q3-report.pdf", exp);
    assert!(url.len() <= LINK_MAX, "{} {url}", url.len());
    assert!(url.ends_with("/Q3-report.pdf"), "{url}");
    let page = s.page_link("https://files.example.com", "alice@example.com", exp);
    assert!(page.len() <= LINK_MAX, "{} {page}", page.len());
    // The old forms did not fit.
    let old = s.legacy_file_link("https://files.example.com", SHA, "Q3-report.pdf", exp);
    assert!(old.len() > LINK_MAX, "{old}");
}

#[test]
fn issue19_long_names_are_cut_to_fit_keeping_the_extension() {
    let s = secret();
    let name = "Quarterly-financial-report-for-the-board-2026-final.pdf";
    let exp = Some(NOW + 86_400);
    for base in [
        "https://files.example.com",
        "https://f.example.org/attachments",
    ] {
        assert!(base.len() <= 36);
        let url = s.file_link(base, SHA, name, exp);
        if base.len() <= 30 {
            assert!(url.len() <= LINK_MAX, "{} {url}", url.len());
        }
        let got = s.check_file_target(target(&url), &[hash()], NOW).unwrap();
        assert!(got.name.ends_with("~.pdf"), "{}", got.name);
        assert!(got.name.starts_with("Quarterly-financia"), "{}", got.name);
        assert!(url.ends_with(&format!("/{}", got.name)), "{url}");
    }
    // The whole name where it fits, and a cut one signs only as cut.
    let url = s.file_link("", SHA, "Q3-report.pdf", None);
    assert!(url.ends_with("/Q3-report.pdf"));
    let url = s.file_link(BASE, SHA, name, exp);
    let whole = target(&url).rsplit_once('/').unwrap().0.to_string() + "/" + name;
    assert_eq!(
        s.check_file_target(&whole, &[hash()], NOW),
        Err(Refused::BadSignature)
    );
    // No extension (or none worth keeping): the end of the name is cut.
    let url = s.file_link(BASE, SHA, &"x".repeat(120), None);
    assert!(url.len() <= LINK_MAX && url.ends_with("x~"), "{url}");
    let url = s.file_link(BASE, SHA, &format!("notes.{}", "y".repeat(90)), None);
    assert!(url.len() <= LINK_MAX && url.ends_with('~'), "{url}");
}

#[test]
fn issue19_non_ascii_names_count_their_encoded_length() {
    let s = secret();
    let name = "Prüfungsergebnisse für das Wintersemester ÄÖÜ.pdf";
    let url = s.file_link(BASE, SHA, name, Some(NOW + 60));
    assert!(url.len() <= LINK_MAX, "{} {url}", url.len());
    let got = s.check_file_target(target(&url), &[hash()], NOW).unwrap();
    assert!(
        got.name.starts_with("Prüfung") && got.name.ends_with("~.pdf"),
        "{}",
        got.name
    );
    // A character is never split, and each link checks.
    for n in 1..40 {
        let name = format!("{}.txt", "ü".repeat(n));
        let url = s.file_link(BASE, SHA, &name, None);
        assert!(url.len() <= LINK_MAX, "{url}");
        assert!(
            s.check_file_target(target(&url), &[hash()], NOW).is_ok(),
            "{url}"
        );
    }
    let url = s.file_link(BASE, SHA, "Größe ü.pdf", None);
    let got = s.check_file_target(target(&url), &[hash()], NOW).unwrap();
    assert_eq!(got.name, "Größe ü.pdf");
}

#[test]
fn issue19_tampered_short_links_are_refused() {
    let s = secret();
    let url = s.file_link(BASE, SHA, "a.pdf", Some(NOW + 100));
    let t = target(&url).to_string();
    let key = t.split('/').nth(2).unwrap().to_string();
    let check = |t: &str| s.check_file_target(t, &[hash()], NOW);
    assert!(check(&t).is_ok());
    let flip = |at: usize| {
        let mut k = key.clone().into_bytes();
        k[at] = if k[at] == b'A' { b'B' } else { b'A' };
        t.replace(&key, std::str::from_utf8(&k).unwrap())
    };
    // The prefix (another object's, or none), the tag, the expiry.
    assert_eq!(check(&flip(0)), Err(Refused::BadSignature));
    assert_eq!(check(&flip(15)), Err(Refused::BadSignature));
    let (stem, exp36) = key.split_once('.').unwrap();
    let later = format!("{stem}.{}", short::tests_base36(NOW + 10_000));
    assert_eq!(check(&t.replace(&key, &later)), Err(Refused::BadSignature));
    assert_eq!(check(&t.replace(&key, stem)), Err(Refused::BadSignature));
    assert!(!exp36.is_empty());
    // The name.
    assert_eq!(
        check(&t.replace("a.pdf", "b.pdf")),
        Err(Refused::BadSignature)
    );
    // Another secret.
    let other = Secret::from_bytes(&[8u8; 32]);
    assert_eq!(
        other.check_file_target(&t, &[hash()], NOW),
        Err(Refused::BadSignature)
    );
    // A long link's signature or a page's never passes for a short one.
    let page = s.page_link(BASE, SHA, None);
    let page_sig = page.split("sig=").nth(1).unwrap();
    let forged = format!("/f/{}{page_sig}/x", &key[..11]);
    assert_eq!(check(&forged), Err(Refused::BadSignature));
    // Shapes refused before any lookup: short, long, bad base64, bad expiry.
    for bad in [
        "abc".to_string(),
        format!("{stem}x"),
        format!("{}!{}", &key[..11], &key[12..]),
        format!("{stem}.0a"),
        format!("{stem}.A"),
        format!("{stem}."),
        format!("{}é", &key[..32]),
    ] {
        assert!(
            matches!(
                parse_short_file(&bad, "a.pdf", NOW),
                Err(Refused::BadHash | Refused::BadSignature)
            ),
            "{bad}"
        );
    }
    for name in ["", "..", "a%2Fb", "%ff"] {
        assert_eq!(parse_short_file(&key, name, NOW), Err(Refused::BadName));
    }
}

#[test]
fn issue19_an_expired_short_link_is_refused_before_any_lookup() {
    let s = secret();
    let url = s.file_link(BASE, SHA, "a.pdf", Some(NOW));
    let t = target(&url);
    let key = t.split('/').nth(2).unwrap();
    assert_eq!(parse_short_file(key, "a.pdf", NOW), Err(Refused::Expired));
    assert!(s.check_file_target(t, &[hash()], NOW - 1).is_ok());
}

#[test]
fn issue19_objects_sharing_the_prefix_are_told_apart() {
    let s = secret();
    let mut twin = hash();
    twin[31] ^= 0xff;
    let twin_hex = hex::encode(twin);
    let url = s.file_link(BASE, &twin_hex, "a.pdf", None);
    for candidates in [vec![hash(), twin], vec![twin, hash()]] {
        let got = s.check_file_target(target(&url), &candidates, NOW).unwrap();
        assert_eq!(got.sha256, twin_hex);
    }
    assert_eq!(
        s.check_file_target(target(&url), &[hash()], NOW),
        Err(Refused::BadSignature)
    );
    // No candidate at all: the same refusal as a bad signature.
    assert_eq!(
        s.check_file_target(target(&url), &[], NOW),
        Err(Refused::BadSignature)
    );
}

#[test]
fn issue19_old_long_links_still_check() {
    let s = secret();
    let url = s.legacy_file_link(BASE, SHA, "a b.pdf", Some(NOW + 5));
    let got = s.check_file_target(target(&url), &[], NOW).unwrap();
    assert_eq!((got.sha256.as_str(), got.name.as_str()), (SHA, "a b.pdf"));
    let page = s.legacy_page_link(BASE, "alice", Some(NOW + 5));
    let u = url::Url::parse(&page).unwrap();
    let q = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(
        s.check_page("alice", q("sig").as_deref(), q("exp").as_deref(), NOW),
        Ok("alice".to_string())
    );
}

#[test]
fn issue19_a_short_page_link_is_good_for_its_mailbox_until_it_expires() {
    let s = secret();
    let url = s.page_link(BASE, "alice@example.com", Some(NOW + 60));
    assert!(!url.contains("exp="), "{url}");
    let sig = url.split("sig=").nth(1).unwrap();
    assert_eq!(sig.len(), 16 + 1 + 6, "{sig}");
    let check =
        |acct: &str, sig: &str, exp: Option<&str>, now| s.check_page(acct, Some(sig), exp, now);
    assert_eq!(
        check("alice%40example.com", sig, None, NOW),
        Ok("alice@example.com".to_string())
    );
    assert_eq!(
        check("bob%40example.com", sig, None, NOW),
        Err(Refused::BadSignature)
    );
    assert_eq!(
        check("alice%40example.com", sig, None, NOW + 60),
        Err(Refused::Expired)
    );
    // An `exp` beside a short sig, a dropped or changed expiry, a file's tag.
    let e = (NOW + 60).to_string();
    assert_eq!(
        check("alice%40example.com", sig, Some(&e), NOW),
        Err(Refused::BadSignature)
    );
    let tag = &sig[..16];
    assert_eq!(
        check("alice%40example.com", tag, None, NOW),
        Err(Refused::BadSignature)
    );
    let file = s.file_link(BASE, SHA, "alice@example.com", None);
    let file_tag = &target(&file)[3 + 11..3 + 27];
    assert_eq!(
        check("alice%40example.com", file_tag, None, NOW),
        Err(Refused::BadSignature)
    );
    let lasting = s.page_link(BASE, "alice", None);
    assert_eq!(lasting.split("sig=").nth(1).unwrap().len(), 16);
}

#[test]
fn issue19_the_access_log_never_holds_a_short_tag() {
    let s = secret();
    let url = s.file_link(BASE, SHA, "a.pdf", Some(NOW + 60));
    let t = target(&url);
    let logged = loggable_path(t);
    let key = t.split('/').nth(2).unwrap();
    assert!(!logged.contains(&key[11..27]), "{logged}");
    assert!(
        logged.starts_with(&format!("/f/{}-.", &key[..11])),
        "{logged}"
    );
    assert!(logged.ends_with("/a.pdf"));
    for same in ["/m/alice", "/f/x/y", &format!("/f/{SHA}/a.pdf"), "/"] {
        assert_eq!(loggable_path(same), same);
    }
}

proptest::proptest! {
    /// Whatever a request carries, the parsers answer and never panic.
    #[test]
    fn issue19_any_key_name_or_sig_is_answered(key in "\\PC{0,60}", name in "\\PC{0,20}", sig in "\\PC{0,50}") {
        let s = secret();
        let _ = parse_short_file(&key, &name, NOW);
        let _ = s.check_page(&name, Some(&sig), None, NOW);
        let _ = loggable_path(&format!("/f/{key}/{name}"));
        let _ = s.check_file_target(&format!("/f/{key}/{name}?sig={sig}"), &[hash()], NOW);
    }
}
