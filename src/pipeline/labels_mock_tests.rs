//! Issue 25: Gmail labels at step 8, against the scripted server of
//! `crate::imap::mock_tests` (no Gmail emulator exists; Dovecot knows no
//! X-GM-LABELS). Each script lists every command the client may send, so a
//! label taken away (`-X-GM-LABELS`) or an original removed where it must
//! stay fails the test.

use std::time::Instant;

use super::owner::{settle_batch, Fate, Verified};
use super::report::Laps;
use crate::imap::mock_tests::{cfg, start, Step};
use crate::imap::{Folder, Session};
use crate::index::{Index, JournalState, MessageRecord};

const GMAIL: &str = "IMAP4rev1 X-GM-EXT-1 MOVE UIDPLUS";
const OLD_UID: u32 = 5;
const NEW_UID: u32 = 21;
const TRASH: &str = "[Gmail]/Trash";

fn record() -> MessageRecord {
    MessageRecord {
        account: "alice@gmail.com".into(),
        folder: "INBOX".into(),
        uidvalidity: 7,
        old_uid: OLD_UID,
        new_uid: Some(NEW_UID),
        message_id: None,
        date: None,
        from: None,
        to: None,
        subject: None,
        internal_date: "01-Feb-2024 10:00:00 +0100".into(),
        flags: vec!["\\Seen".into()],
        size_before: 9000,
        size_after: 900,
        parts: Vec::new(),
    }
}

/// The opening: login, INBOX selected, both messages' flags as given at
/// APPEND (the look before the removal).
fn opening() -> Vec<Step> {
    vec![
        Step::new(
            "LOGIN \"alice\" \"pw\"",
            &format!("{{tag}} OK [CAPABILITY {GMAIL}] Logged in"),
        ),
        Step::new(
            "SELECT \"INBOX\"",
            "* 3 EXISTS\n* OK [UIDVALIDITY 7] ok\n* OK [UIDNEXT 22] ok\n\
             {tag} OK [READ-WRITE] Select completed.",
        ),
        flags_of(&[OLD_UID, NEW_UID]),
    ]
}

fn flags_of(uids: &[u32]) -> Step {
    let set: Vec<String> = uids.iter().map(u32::to_string).collect();
    let set = set.join(",");
    let lines: String = uids
        .iter()
        .enumerate()
        .map(|(i, u)| format!("* {} FETCH (UID {u} FLAGS (\\Seen))\n", i + 1))
        .collect();
    Step::new(
        format!("UID FETCH {set} (UID FLAGS)"),
        &format!("{lines}{{tag}} OK Fetch completed."),
    )
}

/// The look after the removal: the original is gone.
fn original_gone() -> Step {
    Step::new(
        format!("UID FETCH {OLD_UID},{NEW_UID} (UID FLAGS)"),
        &format!("* 2 FETCH (UID {NEW_UID} FLAGS (\\Seen))\n{{tag}} OK Fetch completed."),
    )
}

/// The labels of the original and of the copy, as the server has them.
fn labels(original: &str, copy: &str) -> Step {
    Step::new(
        format!("UID FETCH {OLD_UID},{NEW_UID} (UID X-GM-LABELS)"),
        &format!(
            "* 1 FETCH (UID {OLD_UID} X-GM-LABELS ({original}))\n\
             * 2 FETCH (UID {NEW_UID} X-GM-LABELS ({copy}))\n{{tag}} OK Fetch completed."
        ),
    )
}

fn copy_labels(copy: &str) -> Step {
    Step::new(
        format!("UID FETCH {NEW_UID} (UID X-GM-LABELS)"),
        &format!("* 2 FETCH (UID {NEW_UID} X-GM-LABELS ({copy}))\n{{tag}} OK Fetch completed."),
    )
}

fn store_labels(list: &str, reply: &str) -> Step {
    Step::new(
        format!("UID STORE {NEW_UID} +X-GM-LABELS.SILENT ({list})"),
        reply,
    )
}

/// Gmail's removal of `uid`: a move to its Trash (no COPYUID: nothing to
/// expunge there).
fn trash(uid: u32) -> Step {
    Step::new(
        format!("UID MOVE {uid} \"{TRASH}\""),
        "* 1 EXPUNGE\n{tag} OK Move completed.",
    )
}

/// Settles one verified message against `script`; returns its fate and
/// the index (its journal).
async fn settle(mut script: Vec<Step>) -> (Fate, Index) {
    script.push(Step::new(
        "LOGOUT",
        "* BYE Logging out\n{tag} OK Logout completed.",
    ));
    let (port, server) = start("* OK [CAPABILITY IMAP4rev1] fake ready", script).await;
    let mut session = Session::connect(&cfg(port, "pw")).await.expect("connect");
    session
        .select(&Folder::from_name("INBOX"))
        .await
        .expect("select");
    let mut index = Index::open_in_memory().expect("index");
    let rec = record();
    let jid = index.journal_begin(&rec, b"copy").expect("journal");
    index
        .journal_set(jid, JournalState::Appended, Some(NEW_UID))
        .expect("appended");
    let v = Verified {
        jid,
        record: rec,
        lap: Laps::new(OLD_UID),
        at: Instant::now(),
    };
    let trash = Folder::from_name(TRASH);
    let (mut fates, _) = settle_batch(&mut session, &mut index, &[v], Some(&trash))
        .await
        .expect("settled");
    let _ = session.logout().await;
    server
        .await
        .expect("join")
        .expect("the client kept to the script");
    (fates.remove(0), index)
}

#[tokio::test]
async fn issue25_a_message_with_three_labels_keeps_all_three_on_its_copy() {
    let mut script = opening();
    script.extend([
        labels("\\Inbox Work \"Muy Importante\"", ""),
        store_labels(
            "\\Inbox \"Work\" \"Muy Importante\"",
            "{tag} OK Store completed.",
        ),
        copy_labels("\\Inbox Work \"Muy Importante\""),
        trash(OLD_UID),
        original_gone(),
    ]);
    let (fate, index) = settle(script).await;
    assert!(matches!(fate, Fate::Replaced { .. }), "{fate:?}");
    assert!(index.journal_pending("alice@gmail.com").unwrap().len() == 1);
}

#[tokio::test]
async fn issue25_a_label_added_meanwhile_is_kept_and_none_is_taken_away() {
    // Since the fetch the owner labelled the original "Later" (another
    // client) and gave the copy "Mine": the copy gets "Later" too, and
    // keeps "Mine" (no command takes a label away).
    let mut script = opening();
    script.extend([
        labels("\\Inbox Work Later", "Work Mine"),
        store_labels("\\Inbox \"Later\"", "{tag} OK Store completed."),
        copy_labels("\\Inbox Work Mine Later"),
        trash(OLD_UID),
        original_gone(),
    ]);
    let (fate, _) = settle(script).await;
    assert!(matches!(fate, Fate::Replaced { .. }), "{fate:?}");
}

#[tokio::test]
async fn issue25_a_server_refusing_the_labels_leaves_the_original_in_place() {
    let mut script = opening();
    script.extend([
        labels("\\Inbox Work", ""),
        store_labels("\\Inbox \"Work\"", "{tag} NO [CANNOT] labels cannot be set"),
        // The copy goes; the original (UID 5) is never touched.
        trash(NEW_UID),
    ]);
    let (fate, index) = settle(script).await;
    let Fate::LabelsRefused(why) = fate else {
        panic!("{fate:?}")
    };
    assert!(why.contains("refused its labels"), "{why}");
    assert!(why.contains("original stays"), "{why}");
    // Nothing in flight: the original is as it was.
    assert!(index.journal_pending("alice@gmail.com").unwrap().is_empty());
}

#[tokio::test]
async fn issue25_a_copy_that_does_not_take_the_labels_leaves_the_original() {
    let mut script = opening();
    script.extend([
        labels("\\Inbox Work", ""),
        store_labels("\\Inbox \"Work\"", "{tag} OK Store completed."),
        copy_labels("\\Inbox"),
        trash(NEW_UID),
    ]);
    let (fate, _) = settle(script).await;
    let Fate::LabelsRefused(why) = fate else {
        panic!("{fate:?}")
    };
    assert!(why.contains("lacks the labels Work"), "{why}");
}

/// Recovery on Gmail: both were left on the server by a crash; the copy
/// gets the original's labels (checked) before the original goes.
#[tokio::test]
async fn issue25_recovery_on_gmail_carries_the_labels_before_the_original_goes() {
    use super::mock_tests::{body, fixture, list, login, meta_with, recover_against, select_inbox};
    let mut f = fixture().await;
    f.journal(JournalState::Appended, Some(NEW_UID));
    let script = vec![
        login(GMAIL),
        list(TRASH),
        select_inbox(),
        meta_with(OLD_UID, &f.original, "\\Seen"),
        body(NEW_UID, &f.rewritten),
        // The store still rebuilds the original.
        body(OLD_UID, &f.original),
        meta_with(NEW_UID, &f.rewritten, "\\Seen"),
        body(NEW_UID, &f.rewritten),
        labels("\\Inbox Work Family", "Work"),
        store_labels("\\Inbox \"Family\"", "{tag} OK Store completed."),
        copy_labels("Work \\Inbox Family"),
        trash(OLD_UID),
    ];
    let (result, _) = recover_against(&mut f, script).await;
    assert_eq!(result.expect("recovered"), 1);
    f.assert_nothing_pending();
}
