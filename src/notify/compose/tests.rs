use super::*;

fn part(name: &str, size: u64, date: i64) -> PartRow {
    PartRow {
        message: 1,
        account: "alice".into(),
        folder: "Sent".into(),
        uidvalidity: 1,
        uid: Some(7),
        message_id: Some("m1@example.com".into()),
        date: Some(date),
        from: Some("alice@example.com".into()),
        subject: Some("Q3 numbers".into()),
        filename: name.into(),
        content_type: "application/pdf".into(),
        size,
        sha256: "ab".repeat(32),
        part_path: "2".into(),
        reattached: false,
    }
}

fn report<'a>(moved: &'a [PartRow], way: &'a WayBack) -> OwnerReport<'a> {
    OwnerReport {
        to: "Alice <alice@example.com>",
        from: "alice@example.com",
        moved,
        saved: 5 * 1024 * 1024,
        way_back: way,
        now: 1_764_460_800,
        target: None,
    }
}

fn parsed(bytes: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default().parse(bytes).unwrap()
}

#[test]
fn issue13_the_report_says_what_moved_and_how_to_get_it_back() {
    let moved = [part("report.pdf", 3 * 1024 * 1024, 1_700_000_000)];
    let way = WayBack::Page("https://files.example.com/m/alice?sig=x".into());
    let bytes = compose(&report(&moved, &way)).unwrap();
    assert!(bytes.starts_with(b"Auto-Submitted: auto-generated\r\n"));
    let m = parsed(&bytes);
    assert_eq!(
        m.subject(),
        Some("Your mailbox is 5.0 MiB smaller: 1 attachment moved to file storage")
    );
    assert_eq!(m.from().unwrap().first().unwrap().name(), Some("slimbox"));
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("alice@example.com")
    );
    let text = m.body_text(0).unwrap();
    for want in [
        "2023-11-14",
        "3.0 MiB",
        "report.pdf",
        "from \"Q3 numbers\" in Sent",
        "Nothing is lost",
        "https://files.example.com/m/alice?sig=x",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
}

#[test]
fn without_a_page_it_names_the_commands() {
    let moved = [part("a.pdf", 10, 1_700_000_000)];
    let way = WayBack::Commands {
        account: "Alice's mail".into(),
    };
    let bytes = compose(&report(&moved, &way)).unwrap();
    let text = parsed(&bytes).body_text(0).unwrap().into_owned();
    assert!(
        text.contains("slimbox restore --account 'Alice'\\''s mail'"),
        "{text}"
    );
    assert!(text.contains("slimbox reattach --message-id"), "{text}");
}

#[test]
fn a_long_list_is_cut_and_counted() {
    let moved: Vec<PartRow> = (0..45).map(|i| part(&format!("f{i}.pdf"), 10, 0)).collect();
    let way = WayBack::Commands {
        account: "alice".into(),
    };
    let bytes = compose(&report(&moved, &way)).unwrap();
    let text = parsed(&bytes).body_text(0).unwrap().into_owned();
    assert!(
        text.contains("f39.pdf") && !text.contains("f40.pdf"),
        "{text}"
    );
    assert!(text.contains("... and 5 more"), "{text}");
    assert!(parsed(&bytes).subject().unwrap().contains("45 attachments"));
}

#[test]
fn names_from_mail_cannot_break_lines_or_headers() {
    let mut p = part("evil\r\nBcc: x@example.com.pdf", 10, 0);
    p.subject = Some("line\nbreak".into());
    let way = WayBack::Commands {
        account: "alice".into(),
    };
    let bytes = compose(&report(&[p], &way)).unwrap();
    let m = parsed(&bytes);
    assert!(m.bcc().is_none());
    let text = m.body_text(0).unwrap();
    assert!(text.contains("evil  Bcc: x@example.com.pdf"), "{text}");
    assert!(text.contains("\"line break\""), "{text}");
}

#[test]
fn a_bad_address_is_named() {
    let way = WayBack::Commands {
        account: "alice".into(),
    };
    let mut r = report(&[], &way);
    r.to = "alice";
    match compose(&r) {
        Err(NotifyError::Address { address }) => assert_eq!(address, "alice"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn issue25_the_report_says_where_the_mailbox_ended_against_its_target() {
    let moved = [part("report.pdf", 3 * 1024 * 1024, 1_700_000_000)];
    let way = WayBack::Commands {
        account: "alice".into(),
    };
    let mut end = crate::pipeline::target::TargetEnd {
        target_percent: 80,
        target_bytes: 80 * 1024 * 1024,
        limit_bytes: 100 * 1024 * 1024,
        limit_from: "server".into(),
        usage_before_bytes: 120 * 1024 * 1024,
        usage_after_bytes: None,
        reached: None,
    };
    end.ended_at(75 * 1024 * 1024);
    let mut r = report(&moved, &way);
    r.target = Some(&end);
    let bytes = compose(&r).expect("compose");
    let text = parsed(&bytes).body_text(0).expect("text").to_string();
    assert!(
        text.contains("It now uses 75.0 MiB of its 100.0 MiB quota (75%); the aim is 80% or less."),
        "{text}"
    );
}
