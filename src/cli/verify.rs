//! `slimbox verify`: check that everything slimbox moved can come back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::job;
use crate::config::AccountConfig;
use crate::imap::{ImapError, Session};
use crate::index::Index;
use crate::store::{object_key, parse_hex, to_hex, Sha256, Store, StoreError};

/// Check the index, the store and the server agree: every detached part has
/// its object; with --read-data every object is read and its SHA-256
/// checked; every processed message still on the server resolves to stored
/// objects; orphans are listed. Exits non-zero on any problem, saying what
/// is wrong and how to repair it.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Read every object and check its SHA-256 (slower: reads the whole store).
    #[arg(long)]
    read_data: bool,
    /// Only this account's messages on the server.
    #[arg(long)]
    account: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

/// Objects looked up at once (metadata only).
const HEAD_CONCURRENCY: usize = 16;
/// Objects read at once with --read-data (each is held in memory whole).
const READ_CONCURRENCY: usize = 4;

/// A message that uses an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
struct MessageRef {
    account: String,
    folder: String,
    /// Without angle brackets.
    message_id: Option<String>,
    uid: Option<u32>,
}

impl MessageRef {
    fn show(&self) -> String {
        let id = match &self.message_id {
            Some(id) => format!("<{id}>"),
            None => "(no Message-ID)".to_string(),
        };
        match self.uid {
            Some(uid) => format!("{} {} {id} (UID {uid})", self.account, self.folder),
            None => format!("{} {} {id}", self.account, self.folder),
        }
    }
}

/// One thing that is wrong.
#[derive(Debug, Clone, serde::Serialize)]
struct Problem {
    /// `missing`, `corrupt`, `size-mismatch`, `unreadable`, `bad-hash`,
    /// `damaged-message`, `server`.
    kind: &'static str,
    sha256: Option<String>,
    key: Option<String>,
    messages: Vec<MessageRef>,
    /// What is wrong.
    detail: String,
    /// How to repair it.
    repair: String,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Orphan {
    sha256: String,
    key: String,
    size: Option<u64>,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    store: String,
    objects_checked: u64,
    bytes_read: u64,
    messages_checked: u64,
    problems: Vec<Problem>,
    orphans: Vec<Orphan>,
    /// Messages an interrupted run left half-way (per account); the next
    /// `slimbox run` finishes them. Their objects are in the store but not
    /// yet in the index, so they may show up as orphans until then.
    in_flight: BTreeMap<String, usize>,
}

/// What the store holds under one hash.
#[derive(Debug, Clone)]
enum ObjectState {
    Good,
    Missing,
    /// Stored size differs from the size the index knows.
    WrongSize {
        actual: u64,
        expected: u64,
    },
    /// Content hashes to something else (the hex of what it hashes to).
    Corrupt {
        actual: String,
    },
    /// The store could not be asked.
    Unreadable(String),
}

/// Problems about objects, keyed by hash so that every message using an
/// object ends up under one entry.
#[derive(Default)]
struct Findings {
    objects: BTreeMap<String, (ObjectState, Vec<MessageRef>)>,
    other: Vec<Problem>,
}

impl Findings {
    fn object(&mut self, hex: &str, state: ObjectState, users: Vec<MessageRef>) {
        let entry = self
            .objects
            .entry(hex.to_string())
            .or_insert_with(|| (state, Vec::new()));
        for u in users {
            add_user(&mut entry.1, u);
        }
    }
}

/// Adds `u` unless the same message is already listed; a UID learnt from
/// the server fills in an index entry that lacked it.
fn add_user(list: &mut Vec<MessageRef>, u: MessageRef) {
    let same = |m: &MessageRef| {
        m.account == u.account
            && m.folder == u.folder
            && match (&m.message_id, &u.message_id) {
                (Some(a), Some(b)) => a == b,
                _ => m.uid.is_some() && m.uid == u.uid,
            }
    };
    match list.iter_mut().find(|m| same(m)) {
        Some(m) => {
            if m.uid.is_none() {
                m.uid = u.uid;
            }
        }
        None => list.push(u),
    }
}

/// The index names a user as Message-ID or `UID n`.
fn index_user(account: String, folder: String, who: String) -> MessageRef {
    let uid = who.strip_prefix("UID ").and_then(|n| n.parse::<u32>().ok());
    MessageRef {
        account,
        folder,
        message_id: if uid.is_some() { None } else { Some(who) },
        uid,
    }
}

pub async fn run(args: VerifyArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let accounts: Vec<AccountConfig> = config
        .account(args.account.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let store = job::open_store(&config)?;
    let index = Index::open(&config.index.path)?;

    let mut findings = Findings::default();
    let mut report = Report {
        store: store.url().to_string(),
        objects_checked: 0,
        bytes_read: 0,
        messages_checked: 0,
        problems: Vec::new(),
        orphans: Vec::new(),
        in_flight: BTreeMap::new(),
    };
    for a in &config.accounts {
        let n = index.journal_pending(&a.name)?.len();
        if n > 0 {
            report.in_flight.insert(a.name.clone(), n);
        }
    }

    // a. Every object the index references is in the store (and intact).
    let refs = index.object_refs()?;
    let mut referenced: BTreeSet<Sha256> = BTreeSet::new();
    let mut known: HashMap<Sha256, ObjectState> = HashMap::new();
    let mut todo: Vec<(Sha256, u64, Vec<MessageRef>)> = Vec::new();
    for r in refs {
        let users: Vec<MessageRef> = r
            .users
            .into_iter()
            .map(|(a, f, w)| index_user(a, f, w))
            .collect();
        match parse_hex(&r.sha256) {
            Some(h) => {
                referenced.insert(h);
                todo.push((h, r.size, users));
            }
            None => findings.other.push(Problem {
                kind: "bad-hash",
                sha256: Some(r.sha256.clone()),
                key: None,
                messages: users,
                detail: format!("the index holds a damaged SHA-256 {:?}", r.sha256),
                repair: "this index row is damaged, so `slimbox list` and `slimbox restore` \
                         cannot use it; the message's stubs on the server still name its objects, \
                         and this run checked those against the store (see the other findings)"
                    .to_string(),
            }),
        }
    }
    let bar = progress(&todo, args.read_data);
    let checks = futures::stream::iter(todo.into_iter().map(|(h, size, users)| {
        let store = &store;
        let read = args.read_data;
        async move {
            let (state, read_bytes) = check_object(store, &h, size, read).await;
            (h, size, users, state, read_bytes)
        }
    }))
    .buffer_unordered(if args.read_data {
        READ_CONCURRENCY
    } else {
        HEAD_CONCURRENCY
    });
    futures::pin_mut!(checks);
    while let Some((h, size, users, state, read_bytes)) = checks.next().await {
        report.objects_checked += 1;
        report.bytes_read += read_bytes;
        bar.inc(if args.read_data {
            size.max(read_bytes)
        } else {
            1
        });
        if !matches!(state, ObjectState::Good) {
            findings.object(&to_hex(&h), state.clone(), users);
        }
        known.insert(h, state);
    }
    bar.finish_and_clear();

    // b. Every processed message on the server resolves to stored objects.
    let mut used_on_server: BTreeSet<Sha256> = BTreeSet::new();
    for account in &accounts {
        check_account(
            account,
            &store,
            args.read_data,
            &mut known,
            &mut used_on_server,
            &mut findings,
            &mut report,
        )
        .await;
    }

    // c. Objects nobody knows of.
    match store.list_hashes().await {
        Ok(all) => {
            let orphans: Vec<Sha256> = all
                .into_iter()
                .filter(|h| !referenced.contains(h) && !used_on_server.contains(h))
                .collect();
            let sizes = futures::stream::iter(orphans.into_iter().map(|h| {
                let store = &store;
                async move { (h, store.size(&h).await.ok().flatten()) }
            }))
            .buffered(HEAD_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
            report.orphans = sizes
                .into_iter()
                .map(|(h, size)| Orphan {
                    sha256: to_hex(&h),
                    key: object_key(&h).to_string(),
                    size,
                })
                .collect();
        }
        Err(e) => findings.other.push(Problem {
            kind: "unreadable",
            sha256: None,
            key: None,
            messages: Vec::new(),
            detail: format!("cannot list the objects in the store: {e}"),
            repair: "orphans were not looked for; check the store is reachable and readable, \
                     then run verify again"
                .to_string(),
        }),
    }

    for (hex, (state, mut users)) in findings.objects {
        users.sort();
        report
            .problems
            .push(object_problem(&store, &hex, &state, users));
    }
    report.problems.extend(findings.other);

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &store, &accounts, args.read_data);
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn progress(todo: &[(Sha256, u64, Vec<MessageRef>)], read_data: bool) -> ProgressBar {
    if read_data {
        let total: u64 = todo.iter().map(|t| t.1).sum();
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} reading objects [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        let bar = ProgressBar::new(todo.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} checking objects [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    }
}

/// Looks at one object: present and of the known size, or (with `read`)
/// read whole and hashed. Returns the state and the bytes read.
async fn check_object(store: &Store, h: &Sha256, size: u64, read: bool) -> (ObjectState, u64) {
    if read {
        return match store.get(h).await {
            // The content hashes right: the object is good whatever size
            // the index noted.
            Ok(data) => (ObjectState::Good, data.len() as u64),
            Err(StoreError::NotFound { .. }) => (ObjectState::Missing, 0),
            Err(StoreError::Corrupt { actual, .. }) => (ObjectState::Corrupt { actual }, 0),
            Err(e) => (ObjectState::Unreadable(e.to_string()), 0),
        };
    }
    match store.size(h).await {
        Ok(None) => (ObjectState::Missing, 0),
        // Size 0 in the index means "not known" (objects holding a raw
        // encoded body are recorded without one).
        Ok(Some(actual)) if size > 0 && actual != size => (
            ObjectState::WrongSize {
                actual,
                expected: size,
            },
            0,
        ),
        Ok(Some(_)) => (ObjectState::Good, 0),
        Err(e) => (ObjectState::Unreadable(e.to_string()), 0),
    }
}

/// Whether an IMAP error leaves the session usable for the next folder.
fn session_survives(e: &ImapError) -> bool {
    matches!(e, ImapError::No { .. } | ImapError::Bad { .. })
}

/// An error and its causes, each said once (an error often repeats its
/// source in its own text).
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cause = c.source();
    }
    s
}

fn server_problem(account: &str, folder: Option<&str>, e: &str) -> Problem {
    let e = e.strip_prefix(&format!("account {account}: ")).unwrap_or(e);
    let (what, repair) = match folder {
        Some(f) => (
            format!("account {account}: cannot check folder {f} on the server: {e}"),
            "the processed mail in that folder was not checked; run verify again once the \
             server answers",
        ),
        None => (
            format!("account {account}: cannot check the mail on the server: {e}"),
            "the processed mail of this account was not checked; check the server is \
             reachable and the account's settings in the config, then run verify again",
        ),
    };
    Problem {
        kind: "server",
        sha256: None,
        key: None,
        messages: Vec::new(),
        detail: what,
        repair: repair.to_string(),
    }
}

/// b. for one account: every processed message in every folder.
async fn check_account(
    account: &AccountConfig,
    store: &Store,
    read_data: bool,
    known: &mut HashMap<Sha256, ObjectState>,
    used: &mut BTreeSet<Sha256>,
    findings: &mut Findings,
    report: &mut Report,
) {
    let mut session = match job::connect(account).await {
        Ok(s) => s,
        Err(e) => {
            let text = error_text(e.as_ref());
            findings
                .other
                .push(server_problem(&account.name, None, &text));
            return;
        }
    };
    let folders = match session.list_folders().await {
        Ok(f) => f,
        Err(e) => {
            findings
                .other
                .push(server_problem(&account.name, None, &error_text(&e)));
            return;
        }
    };
    for folder in folders {
        let r = check_folder(
            &mut session,
            account,
            &folder,
            store,
            read_data,
            known,
            used,
            findings,
            report,
        )
        .await;
        if let Err(e) = r {
            findings.other.push(server_problem(
                &account.name,
                Some(&folder.name),
                &error_text(&e),
            ));
            if !session_survives(&e) {
                return;
            }
        }
    }
    let _ = session.logout().await;
}

#[allow(clippy::too_many_arguments)]
async fn check_folder(
    session: &mut Session,
    account: &AccountConfig,
    folder: &crate::imap::Folder,
    store: &Store,
    read_data: bool,
    known: &mut HashMap<Sha256, ObjectState>,
    used: &mut BTreeSet<Sha256>,
    findings: &mut Findings,
    report: &mut Report,
) -> Result<(), ImapError> {
    session.examine(folder).await?;
    let uids = session.search_header("X-Slimbox", "").await?;
    for uid in uids {
        let Some(raw) = session.fetch_message(uid).await? else {
            continue; // expunged meanwhile
        };
        if !crate::mime::is_processed(&raw) {
            continue;
        }
        report.messages_checked += 1;
        let who = MessageRef {
            account: account.name.clone(),
            folder: folder.name.clone(),
            message_id: mail_parser::MessageParser::new()
                .parse_headers(&raw[..])
                .and_then(|m| m.message_id().map(str::to_string)),
            uid: Some(uid),
        };
        let needed = match crate::mime::objects_needed(&raw) {
            Ok(n) => n,
            Err(e) => {
                findings.other.push(Problem {
                    kind: "damaged-message",
                    sha256: None,
                    key: None,
                    messages: vec![who],
                    detail: format!("the slimbox stubs in this message cannot be read: {e}"),
                    repair: "slimbox reattach cannot rebuild this message; its attachments \
                             can still be written out with `slimbox restore --message-id ID` \
                             when the index knows them. Keep the message: do not delete it"
                        .to_string(),
                });
                continue;
            }
        };
        for h in needed {
            used.insert(h);
            let state = match known.get(&h) {
                Some(s) => s.clone(),
                None => {
                    // Not in the index: ask the store directly.
                    let (s, n) = check_object(store, &h, 0, read_data).await;
                    report.objects_checked += 1;
                    report.bytes_read += n;
                    known.insert(h, s.clone());
                    s
                }
            };
            if !matches!(state, ObjectState::Good) {
                findings.object(&to_hex(&h), state, vec![who.clone()]);
            }
        }
    }
    Ok(())
}

fn object_problem(
    store: &Store,
    hex: &str,
    state: &ObjectState,
    users: Vec<MessageRef>,
) -> Problem {
    let key = parse_hex(hex).map_or_else(
        || format!("sha256/{}/{hex}", hex.get(..2).unwrap_or("")),
        |h| object_key(&h).to_string(),
    );
    let place = match store.local_root() {
        Some(root) => root.join(&key).display().to_string(),
        None => format!("{}/{key}", store.url()),
    };
    let restore = format!(
        "restore the object from a backup into the store at {place} (any copy of the file whose \
         SHA-256 is {hex} will do, e.g. the attachment from a backup of the mail); until then \
         `slimbox reattach` cannot rebuild the messages that use it and `slimbox restore` cannot \
         write it out. Never delete those messages: their stubs are what names the file"
    );
    let (kind, detail, repair) = match state {
        ObjectState::Good => ("ok", String::new(), String::new()),
        ObjectState::Missing => (
            "missing",
            "the object is not in the store".to_string(),
            restore,
        ),
        ObjectState::Corrupt { actual } => (
            "corrupt",
            format!("the object's content hashes to {actual}, not to {hex}"),
            format!(
                "move the damaged file aside (keep it, e.g. as {place}.corrupt), then {restore}"
            ),
        ),
        ObjectState::WrongSize { actual, expected } => (
            "size-mismatch",
            format!(
                "the object is {actual} bytes; the index says {expected}: it is probably damaged"
            ),
            format!(
                "run `slimbox verify --read-data` to check its content; if it is corrupt, move \
                 the damaged file aside (keep it, e.g. as {place}.corrupt), then {restore}"
            ),
        ),
        ObjectState::Unreadable(e) => (
            "unreadable",
            format!("the store could not be asked about the object: {e}"),
            "check that the store is reachable and readable by this user, then run verify again"
                .to_string(),
        ),
    };
    Problem {
        kind,
        sha256: Some(hex.to_string()),
        key: Some(key),
        messages: users,
        detail,
        repair,
    }
}

fn print_report(report: &Report, store: &Store, accounts: &[AccountConfig], read_data: bool) {
    for p in &report.problems {
        match &p.sha256 {
            Some(h) => println!("PROBLEM ({}): object {h}", p.kind),
            None => println!("PROBLEM ({})", p.kind),
        }
        if let Some(k) = &p.key {
            println!("  key:     {k}");
        }
        println!("  what:    {}", p.detail);
        if !p.messages.is_empty() {
            println!("  used by:");
            for m in &p.messages {
                println!("    {}", m.show());
            }
        }
        println!("  repair:  {}", p.repair);
        println!();
    }
    if !report.orphans.is_empty() {
        println!(
            "note: {} object(s) in the store {} are not used by any message slimbox knows of:",
            report.orphans.len(),
            store.url()
        );
        for o in &report.orphans {
            let size = o.size.map_or_else(String::new, |s| {
                format!(" ({})", crate::units::human_size(s))
            });
            println!("  {}  {}{size}", o.sha256, o.key);
        }
        println!(
            "  They are harmless (an attachment of a message put back with `slimbox reattach`, \
             or left from an interrupted run). An object is unused when verify, run without \
             --account and with every server reachable, lists it here: no index entry and no \
             processed message in any configured account links to it. Copies of stubs outside \
             those mailboxes (forwarded mail, a local archive) may still link to it: search \
             them for the SHA-256 before moving it out of the store."
        );
        println!();
    }
    for (account, n) in &report.in_flight {
        println!(
            "note: account {account}: {n} message(s) are in flight from an interrupted run; \
             the next `slimbox run` (or `slimbox reattach`) finishes them. Until then their \
             objects may be listed as orphans above."
        );
        println!();
    }
    let how = if read_data {
        format!(
            "{} objects read and hashed ({})",
            report.objects_checked,
            crate::units::human_size(report.bytes_read)
        )
    } else {
        format!(
            "{} objects present (not read: --read-data checks their content)",
            report.objects_checked
        )
    };
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    println!(
        "verify: {how}; {} processed messages on the server checked ({}); {}",
        report.messages_checked,
        if names.is_empty() {
            "no accounts".to_string()
        } else {
            names.join(", ")
        },
        match report.problems.len() {
            0 => "all is well".to_string(),
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        }
    );
}
