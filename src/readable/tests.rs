use super::*;

fn sha(data: &[u8]) -> Sha256 {
    crate::store::sha256(data)
}

#[test]
fn issue12_year_month_from_internaldate() {
    assert_eq!(year_month("23-Nov-2026 12:00:00 +0100", 0), (2026, 11));
    assert_eq!(year_month(" 1-Jan-2024 00:30:00 +0200", 0), (2024, 1));
    // Unreadable: the instant, in UTC (2024-02-29 12:00 UTC).
    assert_eq!(year_month("", 1_709_208_000), (2024, 2));
}

#[test]
fn issue12_names_are_safe_numbered_and_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Readable {
        store_root: dir.path().to_path_buf(),
    };
    let month = r.month_dir("me/../x", 2026, 3);
    assert!(month.starts_with(dir.path().join("files")));
    assert!(month.ends_with("2026/03"));
    std::fs::create_dir_all(&month).expect("mkdir");
    std::fs::write(month.join("report.pdf"), b"old report").expect("write");

    let (a, b) = (sha(b"new report"), sha(b"old report"));
    let got = r
        .allocate(
            &month,
            &[
                (a, "report.pdf".into()),
                (b, "report.pdf".into()),
                (a, "report.pdf".into()),
                (sha(b"c"), "../../evil.sh".into()),
                (sha(b"d"), "Report.pdf".into()),
            ],
        )
        .expect("allocate");
    let names: Vec<String> = got
        .iter()
        .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "report (2).pdf",
            "report.pdf",
            "_.._evil.sh",
            "Report (3).pdf"
        ]
    );
    assert_eq!(
        got.iter().map(|e| e.exists).collect::<Vec<_>>(),
        [false, true, false, false]
    );
    assert!(got[0].url.starts_with("file:///") && got[0].url.ends_with("report%20(2).pdf"));
}

#[test]
fn issue12_copies_are_checked_and_never_replace_another_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("a/b.txt");
    let at = At {
        root: dir.path().to_path_buf(),
        modes: Modes::PRIVATE,
    };
    write_copy(&at, &p, b"hello", &sha(b"hello")).expect("write");
    assert_eq!(std::fs::read(&p).expect("read"), b"hello");
    assert!(std::fs::metadata(&p)
        .expect("meta")
        .permissions()
        .readonly());
    // The same file again: fine; another file under that name: refused.
    write_copy(&at, &p, b"hello", &sha(b"hello")).expect("same again");
    assert!(matches!(
        write_copy(&at, &p, b"other", &sha(b"other")),
        Err(ReadableError::Mismatch { .. })
    ));
    // Data that does not hash to the claimed SHA-256 is never written.
    let q = dir.path().join("c.txt");
    assert!(write_copy(&at, &q, b"x", &sha(b"y")).is_err());
    assert!(!q.exists());
    // Private whatever the umask: read-only for the owner and group.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o440);
        assert_eq!(mode(p.parent().unwrap()), 0o750);
    }
}
