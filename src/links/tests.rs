use super::*;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const BASE: &str = "https://files.example.com/";

fn secret() -> Secret {
    Secret::from_bytes(&[7u8; 32])
}

/// Splits a link the way a server would: the two path segments and the query.
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
    let url = s.file_link(BASE, SHA, "Q3 report (final).pdf", None);
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
    let url = s.file_link(BASE, SHA, "Prüfung ü/../x?.pdf", None);
    assert!(!url.contains("/../"), "{url}");
    let (sha, name, sig, _) = parts(&url);
    // A name with a slash can be signed but is never served.
    assert_eq!(
        s.check_file(&sha, &name, sig.as_deref(), None, 1),
        Err(Refused::BadName)
    );
    let url = s.file_link(BASE, SHA, "Prüfung ü.pdf", None);
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
    let url = s.file_link(BASE, SHA, "a.pdf", Some(2000));
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
    let url = s.file_link(BASE, SHA, "a.pdf", Some(2000));
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
    let url = s.page_link(BASE, "alice@example.com", None);
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
    let page = s.page_link(BASE, SHA, None);
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
