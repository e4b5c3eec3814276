//! Recovery and reattach against the scripted IMAP server of
//! `crate::imap::mock_tests`, with a real detach, a real store on disk and a
//! real index: the safety order holds where a server misbehaves in ways the
//! live Dovecot never does (a copy altered or gone after APPEND, Gmail's
//! Trash, no UIDPLUS and no MOVE). Each script lists every command the
//! client may send: one touching a message not in it fails the test.

use bytes::Bytes;

use super::recover::recover_account;
use super::select::SelectPolicy;
use super::{reattach_account, JobPolicy, PipelineError, ReattachOutcome, ReattachTarget};
use crate::imap::mock_tests::{body_reply, cfg, meta_reply, start, Step};
use crate::imap::Session;
use crate::index::{Index, JournalEntry, JournalState, MessageRecord};
use crate::mime;
use crate::store::{PutOptions, Store};

const ACCOUNT: &str = "alice@example.com";
const GREETING: &str = "* OK [CAPABILITY IMAP4rev1] fake ready";
/// The original's INTERNALDATE, and the same instant as the server tells it.
const DATE: &str = "01-Feb-2024 10:00:00 +0100";
const DATE_UTC: &str = "01-Feb-2024 09:00:00 +0000";
/// UIDVALIDITY of INBOX and the original's (or stub's) UID in it.
const UIDVALIDITY: u32 = 7;
const OLD_UID: u32 = 5;
/// Where the server says the APPENDed message went.
const NEW_UID: u32 = 21;

/// A message, its rewritten copy with the attachment's object in a store
/// on disk, and an empty index.
pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    index: Index,
    pub(super) original: Vec<u8>,
    pub(super) rewritten: Vec<u8>,
}

/// A text part and a 5000-byte PDF attachment, CRLF line ends.
fn message_with_attachment() -> Vec<u8> {
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let b64 = base64_simd::STANDARD.encode_to_string(&data);
    let lines: Vec<_> = b64
        .as_bytes()
        .chunks(76)
        .map(String::from_utf8_lossy)
        .collect();
    format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: report\r\n\
         Message-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n\
         --XYZ\r\nContent-Type: text/plain\r\n\r\nHello\r\n\
         --XYZ\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--XYZ--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

pub(super) async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("UTF-8 path")).expect("store");
    let original = message_with_attachment();
    let policy = mime::Policy {
        min_size: 1000,
        now: 1_706_778_000,
        ..mime::Policy::default()
    };
    let (rewritten, objects) = {
        let d = mime::detach(&original, &policy);
        let objects: Vec<(mime::Sha256, Bytes)> = d
            .objects
            .into_iter()
            .map(|o| (o.sha256, Bytes::from(o.data.into_owned())))
            .collect();
        (d.rewritten.expect("the attachment is detached"), objects)
    };
    for (sha256, data) in objects {
        store
            .put(&sha256, data, PutOptions::new())
            .await
            .expect("put");
    }
    Fixture {
        _dir: dir,
        store,
        index: Index::open_in_memory().expect("index"),
        original,
        rewritten,
    }
}

impl Fixture {
    /// The index record of the conversion of the original at [`OLD_UID`].
    fn record(&self) -> MessageRecord {
        MessageRecord {
            account: ACCOUNT.into(),
            folder: "INBOX".into(),
            uidvalidity: UIDVALIDITY,
            old_uid: OLD_UID,
            new_uid: None,
            message_id: Some("m1@example.com".into()),
            date: None,
            from: None,
            to: None,
            subject: None,
            internal_date: DATE.into(),
            flags: vec!["\\Seen".into()],
            size_before: self.original.len() as u64,
            size_after: self.rewritten.len() as u64,
            parts: Vec::new(),
        }
    }

    /// A detach in flight, as an interrupted run leaves it.
    pub(super) fn journal(&self, state: JournalState, new_uid: Option<u32>) {
        let jid = self
            .index
            .journal_begin(&self.record(), &self.rewritten)
            .expect("journal");
        self.index
            .journal_set(jid, state, new_uid)
            .expect("journal state");
    }

    /// The rewritten message as a server that changes it returns it.
    fn altered(&self) -> Vec<u8> {
        let mut bytes = self.rewritten.clone();
        bytes.extend_from_slice(b"\r\n");
        bytes
    }

    /// The journal entry is closed: nothing is left in flight.
    pub(super) fn assert_nothing_pending(&self) {
        let pending = self.index.journal_pending(ACCOUNT).expect("pending");
        assert!(pending.is_empty(), "{pending:?}");
    }

    /// The journal entry is still open, at Appended, and holds the
    /// rewritten message for the next run.
    fn assert_pending_appended(&self) -> JournalEntry {
        let mut pending = self.index.journal_pending(ACCOUNT).expect("pending");
        assert_eq!(pending.len(), 1);
        let entry = pending.remove(0);
        assert_eq!(entry.state, JournalState::Appended);
        assert_eq!(entry.rewritten, self.rewritten);
        entry
    }
}

fn policy() -> JobPolicy {
    JobPolicy {
        select: SelectPolicy {
            min_size: 1000,
            include_types: Vec::new(),
            exclude_types: Vec::new(),
            detach_signed: false,
        },
        older_than: None,
        folders: Vec::new(),
        link_template: "slimbox:sha256/{sha256}".into(),
        links: mime::Links::Template,
        stub_format: mime::StubFormat::Text,
        note: true,
        entries: mime::DEFAULT_ENTRIES,
        readable_copies: false,
        trash: None,
        provider: crate::config::Provider::Generic,
        rules: Vec::new(),
        ahead_floor: super::AHEAD_MIN_BUDGET,
        fetch_ahead: true,
        quota_target: None,
        quota_limit: None,
    }
}

// The script's steps, one for each command of the session.

pub(super) fn login(caps: &str) -> Step {
    Step::new(
        "LOGIN \"alice\" \"pw\"",
        &format!("{{tag}} OK [CAPABILITY {caps}] Logged in"),
    )
}

/// LIST: INBOX and a trash folder with SPECIAL-USE `\Trash`.
pub(super) fn list(trash: &str) -> Step {
    Step::new(
        "LIST \"\" \"*\"",
        &format!(
            "* LIST (\\HasNoChildren) \"/\" INBOX\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" \"{trash}\"\n{{tag}} OK List completed."
        ),
    )
}

pub(super) fn select_inbox() -> Step {
    Step::new(
        "SELECT \"INBOX\"",
        &format!(
            "* 3 EXISTS\n* OK [UIDVALIDITY {UIDVALIDITY}] ok\n* OK [UIDNEXT 20] ok\n\
             {{tag}} OK [READ-WRITE] Select completed."
        ),
    )
}

/// A metadata FETCH of `uid`, which is `message` with `\Seen` at [`DATE_UTC`].
fn meta(uid: u32, message: &[u8]) -> Step {
    Step::new(
        meta_command(uid),
        &meta_reply(uid, message.len(), "\\Seen", DATE_UTC),
    )
}

/// A metadata FETCH of a UID that is not there.
fn no_meta(uid: u32) -> Step {
    Step::new(meta_command(uid), "{tag} OK Fetch completed.")
}

fn meta_command(uid: u32) -> String {
    format!("UID FETCH {uid} (UID RFC822.SIZE FLAGS INTERNALDATE BODYSTRUCTURE)")
}

pub(super) fn body(uid: u32, message: &[u8]) -> Step {
    Step::bytes(
        format!("UID FETCH {uid} BODY.PEEK[]"),
        body_reply(uid, message),
    )
}

fn no_body(uid: u32) -> Step {
    Step::new(
        format!("UID FETCH {uid} BODY.PEEK[]"),
        "{tag} OK Fetch completed.",
    )
}

/// The search for a rewritten copy by its marker header, finding nothing,
/// then (the folder selected anew) again nothing.
fn no_marked_copy() -> Vec<Step> {
    let miss = || {
        Step::new(
            format!("UID SEARCH HEADER \"{}\" ", mime::MARKER_HEADER),
            "* SEARCH\n{tag} OK Search completed.",
        )
        .prefix()
    };
    vec![miss(), select_inbox(), miss()]
}

/// APPEND of `message` to INBOX with `\Seen` and `date`; the server says
/// where it went when `uid` is given (UIDPLUS).
fn append(message: &[u8], date: &str, uid: Option<u32>) -> Step {
    let code = uid.map_or(String::new(), |u| format!("[APPENDUID {UIDVALIDITY} {u}] "));
    Step::new(
        format!("APPEND \"INBOX\" (\\Seen) \"{date}\" {{{}}}", message.len()),
        &format!("{{tag}} OK {code}Append completed."),
    )
    .literal()
}

/// A command answered with a plain OK.
fn ok(command: &str) -> Step {
    Step::new(command, "{tag} OK done")
}

/// The steps of removing `uid` with UIDPLUS.
fn expunge(uid: u32) -> [Step; 2] {
    [
        ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)")),
        Step::new(
            format!("UID EXPUNGE {uid}"),
            "* 4 EXPUNGE\n{tag} OK Expunge completed.",
        ),
    ]
}

fn logout() -> Step {
    Step::new("LOGOUT", "* BYE Logging out\n{tag} OK Logout completed.")
}

/// Recovery of an entry whose state is OriginalRemoved, the original still
/// there and no copy: up to and including the APPEND beside the original
/// (the proof that the store still rebuilds the original comes first).
fn append_beside_original(f: &Fixture, appenduid: Option<u32>) -> Vec<Step> {
    let mut script = vec![
        login("IMAP4rev1 UIDPLUS"),
        list("Trash"),
        select_inbox(),
        meta(OLD_UID, &f.original),
    ];
    script.extend(no_marked_copy());
    script.extend([
        body(OLD_UID, &f.original),
        append(&f.rewritten, DATE, appenduid),
    ]);
    script
}

/// Runs recovery for [`ACCOUNT`] against `script` (then LOGOUT); returns
/// its result and the literals the server took in. Panics when the client
/// strayed from the script.
pub(super) async fn recover_against(
    f: &mut Fixture,
    mut script: Vec<Step>,
) -> (Result<usize, PipelineError>, Vec<Vec<u8>>) {
    script.push(logout());
    let (port, server) = start(GREETING, script).await;
    let mut session = Session::connect(&cfg(port, "pw")).await.expect("connect");
    let result = recover_account(&mut session, &f.store, &mut f.index, ACCOUNT, &policy()).await;
    let _ = session.logout().await;
    let literals = server.await.expect("join").expect("script");
    (result, literals)
}

#[tokio::test]
async fn issue8_recovery_takes_an_altered_copy_away_and_keeps_the_original() {
    let mut f = fixture().await;
    f.journal(JournalState::OriginalRemoved, None);
    let mut script = append_beside_original(&f, Some(NEW_UID));
    script.extend([meta(NEW_UID, &f.rewritten), body(NEW_UID, &f.altered())]);
    // The altered copy goes by its own UID; no step touches OLD_UID.
    script.extend(expunge(NEW_UID));
    let (result, literals) = recover_against(&mut f, script).await;
    assert!(
        matches!(result, Err(PipelineError::CopyAltered { uid: NEW_UID, .. })),
        "{result:?}"
    );
    assert_eq!(literals, std::slice::from_ref(&f.rewritten));
    // The original is intact, so there is nothing left in flight.
    f.assert_nothing_pending();
}

/// A metadata FETCH of `uid` (`message`) carrying `flags`.
pub(super) fn meta_with(uid: u32, message: &[u8], flags: &str) -> Step {
    Step::new(
        meta_command(uid),
        &meta_reply(uid, message.len(), flags, DATE_UTC),
    )
}

#[tokio::test]
async fn issue8_recovery_keeps_the_flags_the_owner_set_on_either_copy() {
    let mut f = fixture().await;
    // Crashed with both on the server; meanwhile the owner flagged the
    // original and gave the copy a keyword (the journal recorded \Seen).
    f.journal(JournalState::Appended, Some(NEW_UID));
    let mut script = vec![
        login("IMAP4rev1 UIDPLUS"),
        list("Trash"),
        select_inbox(),
        meta_with(OLD_UID, &f.original, "\\Seen \\Flagged"),
        body(NEW_UID, &f.rewritten),
        // The store still rebuilds the original.
        body(OLD_UID, &f.original),
        // Verification: the copy gets both changes, then is checked.
        meta_with(NEW_UID, &f.rewritten, "\\Seen $Later"),
        ok(&format!(
            "UID STORE {NEW_UID} FLAGS.SILENT (\\Seen \\Flagged $Later)"
        )),
        meta_with(NEW_UID, &f.rewritten, "\\Seen \\Flagged $Later"),
        body(NEW_UID, &f.rewritten),
    ];
    // Only then does the original go.
    script.extend(expunge(OLD_UID));
    let (result, _) = recover_against(&mut f, script).await;
    assert_eq!(result.expect("recovered"), 1);
    f.assert_nothing_pending();
}

#[tokio::test]
async fn issue8_recovery_keeps_the_original_when_the_copy_vanishes() {
    let mut f = fixture().await;
    f.journal(JournalState::OriginalRemoved, None);
    let mut script = append_beside_original(&f, Some(NEW_UID));
    // The server named a UID, but nothing is there: whatever it was goes
    // by that UID; the original stays.
    script.push(no_meta(NEW_UID));
    script.extend(expunge(NEW_UID));
    let (result, _) = recover_against(&mut f, script).await;
    assert!(
        matches!(
            result,
            Err(PipelineError::CopyVanished { uid: NEW_UID, .. })
        ),
        "{result:?}"
    );
    f.assert_nothing_pending();
}

#[tokio::test]
async fn issue8_recovery_keeps_the_original_when_the_copy_cannot_be_found() {
    let mut f = fixture().await;
    f.journal(JournalState::OriginalRemoved, None);
    // No APPENDUID and no copy found by its marker: nothing is removed and
    // the journal keeps the entry, now Appended; with the original still
    // there the next recovery abandons it.
    let mut script = append_beside_original(&f, None);
    script.extend(no_marked_copy());
    let (result, _) = recover_against(&mut f, script).await;
    assert!(
        matches!(result, Err(PipelineError::CopyNotFound { .. })),
        "{result:?}"
    );
    f.assert_pending_appended();
}

#[tokio::test]
async fn issue8_recovery_without_original_keeps_the_journal_when_the_copy_is_altered() {
    let mut f = fixture().await;
    // The copy had been appended at UID 12 and the original removed; now
    // both are gone.
    f.journal(JournalState::Appended, Some(12));
    let mut script = vec![
        login("IMAP4rev1 UIDPLUS"),
        list("Trash"),
        select_inbox(),
        no_meta(OLD_UID),
        no_body(12),
    ];
    script.extend(no_marked_copy());
    script.extend([
        append(&f.rewritten, DATE, Some(NEW_UID)),
        meta(NEW_UID, &f.rewritten),
        body(NEW_UID, &f.altered()),
        // Nothing is removed: the altered copy is all the server has.
    ]);
    let (result, literals) = recover_against(&mut f, script).await;
    assert!(
        matches!(result, Err(PipelineError::CopyAltered { uid: NEW_UID, .. })),
        "{result:?}"
    );
    assert_eq!(literals, std::slice::from_ref(&f.rewritten));
    // The journal still holds the message for the next run.
    assert_eq!(f.assert_pending_appended().new_uid, Some(NEW_UID));
}

/// A converted message in the index, its stub at [`OLD_UID`]; the target
/// that puts it back.
fn converted(f: &mut Fixture) -> ReattachTarget {
    let mut record = f.record();
    let jid = f
        .index
        .journal_begin(&record, &f.rewritten)
        .expect("journal");
    record.new_uid = Some(OLD_UID);
    let message = f.index.journal_finish(jid, &record).expect("finish");
    ReattachTarget {
        message,
        account: ACCOUNT.into(),
        folder: "INBOX".into(),
        uidvalidity: UIDVALIDITY,
        uid: Some(OLD_UID),
        message_id: record.message_id,
    }
}

/// The opening of a reattach of the stub at [`OLD_UID`]: up to and
/// including the APPEND of the rebuilt original.
fn reattach_opening(f: &Fixture, caps: &str, trash: &str, appenduid: Option<u32>) -> Vec<Step> {
    vec![
        login(caps),
        list(trash),
        select_inbox(),
        body(OLD_UID, &f.rewritten),
        meta(OLD_UID, &f.rewritten),
        append(&f.original, DATE_UTC, appenduid),
    ]
}

/// Puts the message of `target` back against `script` (then LOGOUT),
/// checks that it is whole again at [`NEW_UID`], exactly as rebuilt, and
/// returns the note on the stub's removal.
async fn reattach_against(
    f: &mut Fixture,
    target: ReattachTarget,
    mut script: Vec<Step>,
) -> String {
    script.push(logout());
    let message = target.message;
    let (port, server) = start(GREETING, script).await;
    let outcomes = reattach_account(
        &cfg(port, "pw"),
        &f.store,
        &mut f.index,
        ACCOUNT,
        &policy(),
        vec![target],
    )
    .await;
    let literals = server.await.expect("join").expect("script");
    let outcomes = outcomes.expect("reattach");
    let [ReattachOutcome {
        uid, note, error, ..
    }] = &outcomes[..]
    else {
        panic!("one outcome expected: {outcomes:?}");
    };
    assert_eq!(*error, None);
    assert_eq!(*uid, Some(NEW_UID));
    assert_eq!(literals, std::slice::from_ref(&f.original));
    f.assert_nothing_pending();
    let reattached = f
        .index
        .is_reattached(message)
        .expect("the index")
        .expect("the message's row");
    assert!(reattached, "the index records it as whole again");
    note.clone().expect("a note on the stub's removal")
}

#[tokio::test]
async fn issue8_reattach_on_gmail_moves_the_stub_to_its_trash() {
    let mut f = fixture().await;
    let target = converted(&mut f);
    let mut script = reattach_opening(
        &f,
        "IMAP4rev1 X-GM-EXT-1 MOVE UIDPLUS",
        "[Gmail]/Trash",
        Some(NEW_UID),
    );
    script.extend([
        meta(NEW_UID, &f.original),
        body(NEW_UID, &f.original),
        // Not UID EXPUNGE, which on Gmail only drops the INBOX label.
        Step::new(
            format!("UID MOVE {OLD_UID} \"[Gmail]/Trash\""),
            "* 3 EXPUNGE\n{tag} OK Move completed.",
        ),
    ]);
    let note = reattach_against(&mut f, target, script).await;
    assert!(note.contains("[Gmail]/Trash"), "{note}");
}

#[tokio::test]
async fn issue8_reattach_reports_a_stub_that_can_only_be_flagged() {
    let mut f = fixture().await;
    let target = converted(&mut f);
    // Neither UIDPLUS nor MOVE: no APPENDUID, so the original is found by
    // its Message-ID (the stub shares it), and the stub is only flagged.
    let mut script = reattach_opening(&f, "IMAP4rev1", "Trash", None);
    script.extend([
        Step::new(
            "UID SEARCH HEADER \"Message-ID\" \"m1@example.com\"",
            &format!("* SEARCH {OLD_UID} {NEW_UID}\n{{tag}} OK Search completed."),
        ),
        body(OLD_UID, &f.rewritten),
        body(NEW_UID, &f.original),
        meta(NEW_UID, &f.original),
        body(NEW_UID, &f.original),
        ok(&format!("UID STORE {OLD_UID} +FLAGS.SILENT (\\Deleted)")),
    ]);
    let note = reattach_against(&mut f, target, script).await;
    assert!(note.contains("flagged"), "{note}");
}
