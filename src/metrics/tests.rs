use super::parse::parse;
use super::*;

fn quota(used: u64, limit: u64) -> QuotaReport {
    QuotaReport::from_usage(&crate::imap::QuotaUsage {
        root: "User quota".into(),
        storage: Some((used, limit)),
        messages: None,
    })
}

fn figures(name: &str) -> MailboxFigures {
    MailboxFigures {
        mailbox: name.into(),
        bytes_saved: 3_000_000,
        converted: 4,
        failures: 1,
        duration_seconds: 2.5,
        last_success: Some(1_764_460_800),
        quota_before: Some(quota(9_000_000, 10_000_000)),
        quota_after: Some(quota(6_000_000, 10_000_000)),
        reconnects: 0,
        quota_target: None,
    }
}

#[test]
fn issue13_render_has_help_type_and_a_sample_per_mailbox() {
    let text = render(&[figures("alice"), figures("bob")]);
    for family in [
        "slimbox_last_run_bytes_saved",
        "slimbox_last_run_messages_converted",
        "slimbox_last_run_failures",
        "slimbox_last_run_duration_seconds",
        "slimbox_last_success_timestamp_seconds",
        "slimbox_quota_used_bytes",
        "slimbox_quota_limit_bytes",
    ] {
        assert_eq!(
            text.matches(&format!("# HELP {family} ")).count(),
            1,
            "{text}"
        );
        assert!(text.contains(&format!("# TYPE {family} gauge\n")), "{text}");
    }
    assert!(text.contains("slimbox_last_run_bytes_saved{mailbox=\"alice\"} 3000000\n"));
    assert!(text.contains("slimbox_last_run_duration_seconds{mailbox=\"bob\"} 2.5\n"));
    assert!(text.contains("slimbox_quota_used_bytes{mailbox=\"alice\",phase=\"before\"} 9000000\n"));
    assert!(text.contains("slimbox_quota_used_bytes{mailbox=\"bob\",phase=\"after\"} 6000000\n"));
    let samples = parse(&text).expect("parses");
    assert_eq!(samples.len(), 2 * 8);
}

#[test]
fn issue13_no_quota_and_no_success_leave_their_lines_out() {
    let mut m = figures("alice");
    m.quota_before = None;
    m.quota_after = None;
    m.last_success = None;
    let text = render(&[m]);
    assert!(!text.contains("quota"), "{text}");
    assert!(!text.contains("last_success"), "{text}");
    assert_eq!(parse(&text).expect("parses").len(), 4);
    assert_eq!(render(&[]), "");
}

#[test]
fn issue13_label_values_are_escaped_and_read_back() {
    let odd = "a \"quoted\" back\\slash\nnew line";
    let text = render(&[figures(odd)]);
    assert!(
        text.contains(r#"{mailbox="a \"quoted\" back\\slash\nnew line"}"#),
        "{text}"
    );
    let samples = parse(&text).expect("parses");
    assert!(samples.iter().all(|s| s.labels["mailbox"] == odd));
}

#[test]
fn issue13_the_parser_refuses_what_collectors_refuse() {
    for bad in [
        "x 1\n",                                                    // no TYPE
        "# TYPE x gauge\nx{a=\"1} 2\n",                             // label not closed
        "# TYPE x gauge\nx{a=\"\\q\"} 2\n",                         // bad escape
        "# TYPE x gauge\nx 1\nx 2\n",                               // series twice
        "# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"b\"} 1\n", // not together
        "# TYPE x gauge\nx one\n",                                  // not a number
        "# TYPE 1x gauge\n",                                        // bad name
        "# TYPE x gauge\nx 1",                                      // no final line feed
    ] {
        assert!(parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn issue13_figures_of_a_report() {
    let mut r = AccountReport::new("alice");
    r.folders.push(crate::pipeline::FolderReport {
        folder: "Sent".into(),
        converted: 2,
        failed: 1,
        bytes_before: 5_000,
        bytes_after: 1_000,
        ..Default::default()
    });
    r.error = Some("lost".into());
    let f = MailboxFigures::of(&r, 1.0, None);
    assert_eq!((f.bytes_saved, f.converted, f.failures), (4_000, 2, 2));
}

#[test]
fn issue13_write_file_replaces_the_file_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("slimbox.prom");
    std::fs::write(&path, "old").expect("write");
    write_file(&path, "# TYPE x gauge\nx 1\n").expect("write metrics");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "# TYPE x gauge\nx 1\n"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert_eq!(left.len(), 1, "no temporary file left behind");
    let missing = dir.path().join("nope").join("slimbox.prom");
    let e = write_file(&missing, "").expect_err("no folder");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn issue25_reconnects_are_a_gauge_where_the_run_reconnected() {
    let mut m = figures("alice");
    assert!(!render(std::slice::from_ref(&m)).contains("reconnects"));
    m.reconnects = 2;
    let text = render(&[m, figures("bob")]);
    assert!(
        text.contains("# TYPE slimbox_last_run_reconnects gauge\n"),
        "{text}"
    );
    assert!(
        text.contains("slimbox_last_run_reconnects{mailbox=\"alice\"} 2\n"),
        "{text}"
    );
    assert!(
        !text.contains("slimbox_last_run_reconnects{mailbox=\"bob\"}"),
        "{text}"
    );
    parse(&text).expect("parses");
    let mut r = AccountReport::new("alice");
    r.reconnects = 3;
    assert_eq!(MailboxFigures::of(&r, 1.0, None).reconnects, 3);
}
