//! Step 0 of the safety order: what the job will do, chosen on the server
//! without changing anything (EXAMINE, SEARCH, BODYSTRUCTURE; nothing is
//! downloaded). `slimbox scan` prints the plan; `run` executes it. The cut
//! to a `quota_target` comes after, in `target_plan`; the pipeline's `plan`
//! joins the two.

use std::time::Duration;

use serde::Serialize;

use super::folders::choose_folders_with;
use super::report::PipelineError;
use super::rules::{decide, Addresses, Rule, Scope};
use super::select::{append_limit_verdict, judge, SelectPolicy, Verdict};
use crate::config::Provider;
use crate::imap::{Folder, MessageMeta, Session};
use crate::index::Index;

/// What the job does, from the config.
#[derive(Debug, Clone)]
pub struct JobPolicy {
    pub select: SelectPolicy,
    pub older_than: Option<Duration>,
    pub folders: Vec<String>,
    pub link_template: String,
    /// Where stub links come from: the template, or signed links.
    pub links: crate::mime::Links,
    /// `[links] stub_format`.
    pub stub_format: crate::mime::StubFormat,
    /// `[links] note`: insert the note listing the moved files.
    pub note: bool,
    /// `[links] entries`: how each stub's attachment entry looks.
    pub entries: crate::mime::Entries,
    /// Link each stub to a readable copy `files/<account>/<YYYY>/<MM>/<name>`
    /// of a local store (made before the original is removed) instead of
    /// `link_template`.
    pub readable_copies: bool,
    /// Folder for the no-UIDPLUS fallback (MOVE) and Gmail's removal;
    /// default the one with SPECIAL-USE `\Trash`.
    pub trash: Option<String>,
    /// The account's provider preset: only the folder names to look for
    /// where the server marks no folder with SPECIAL-USE.
    pub provider: Provider,
    /// `[[account.rule]]` then `[[rule]]`, tried in this order before the
    /// policy (see `super::rules`).
    pub rules: Vec<Rule>,
    /// The least fetch-ahead budget in bytes (see `super::ahead::Budget`):
    /// [`super::AHEAD_MIN_BUDGET`] for one mailbox at a time; 0 where many
    /// run at once (`run --all`), whose other mailboxes keep the network
    /// busy, so that each holds no more than its largest message.
    pub ahead_floor: u64,
    /// Download the next message on a second, read-only connection while
    /// one is converted. Off where many mailboxes run at once (see
    /// `crate::fleet::decide::fetch_ahead`).
    pub fetch_ahead: bool,
    /// `quota_target` of the account, else of `[policy]` (issue 25), in
    /// percent; a rule's own wins for its messages.
    pub quota_target: Option<u8>,
    /// The account's `quota` in bytes: what 100 % is where the server has
    /// no QUOTA.
    pub quota_limit: Option<u64>,
}

impl JobPolicy {
    /// The policy itself as the last rule: it takes every message in its
    /// folders that no rule took.
    fn base_rule(&self) -> Rule {
        Rule {
            name: "policy".into(),
            folders: self.folders.clone(),
            from: Vec::new(),
            to: Vec::new(),
            select: self.select.clone(),
            older_than: self.older_than,
            quota_target: None,
        }
    }
}

/// One planned message.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub uid: u32,
    pub size: u64,
    pub parts: usize,
    pub attachment_bytes: u64,
    /// The rule that applies (`rule[0]`, `account[0].rule[1]`, or
    /// `policy`).
    pub rule: String,
    /// Its values, for the detach engine.
    #[serde(skip)]
    pub select: SelectPolicy,
    #[serde(skip)]
    pub meta: MessageMeta,
    /// The `quota_target` that applies to it, in percent (issue 25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_target: Option<u8>,
}

/// What one folder holds for the job.
#[derive(Debug, Clone, Serialize)]
pub struct FolderPlan {
    pub folder: String,
    #[serde(skip)]
    pub handle: Folder,
    pub uidvalidity: u32,
    pub candidates: Vec<Candidate>,
    /// Messages the server search returned that are left alone, and why.
    pub skipped: Vec<(u32, String)>,
    /// The skipped UIDs whose reason lasts (signed or encrypted mail): the
    /// index remembers them so later runs do not look at them again.
    #[serde(skip)]
    pub lasting_skips: Vec<u32>,
    /// The largest message the server takes in one APPEND (APPENDLIMIT),
    /// if it says; a copy larger than that is left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_limit: Option<u64>,
}

/// The plan for one account.
#[derive(Debug, Clone, Serialize)]
pub struct AccountPlan {
    pub account: String,
    pub folders: Vec<FolderPlan>,
    /// How full the mailbox is (filled in by `scan`; `None` when the
    /// server does not say).
    pub quota: Option<super::quota::QuotaReport>,
    /// What the user should hear about the choice of folders (one found by
    /// its name for want of SPECIAL-USE, say).
    pub notes: Vec<String>,
    /// With a `quota_target`: usage now, the target, usage after, and what
    /// moves (issue 25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<super::target::TargetReport>,
}

impl AccountPlan {
    /// How many candidates, and their total size.
    pub fn totals(&self) -> (usize, u64) {
        let all = self.folders.iter().flat_map(|f| &f.candidates);
        (all.clone().count(), all.map(|c| c.size).sum())
    }
}

/// Chooses folders and candidates for one account; changes nothing on the
/// server (EXAMINE, PEEK only). Returns the server's folders with the
/// plan: the `quota_target` cut (`target_plan`, called by the pipeline's
/// `plan`) needs them, and this file stays below it.
pub(super) async fn plan_untargeted(
    session: &mut Session,
    index: &Index,
    account: &str,
    policy: &JobPolicy,
) -> Result<(AccountPlan, Vec<Folder>), PipelineError> {
    let all = session.list_folders().await?;
    let names = |special: &str| policy.provider.folder_names(special);
    let base = policy.base_rule();
    let every: Vec<&Rule> = policy.rules.iter().chain([&base]).collect();
    // The folders of the policy and of every rule, each pattern once.
    let mut patterns: Vec<String> = Vec::new();
    for p in every.iter().flat_map(|r| &r.folders) {
        if !patterns.contains(p) {
            patterns.push(p.clone());
        }
    }
    let choice = choose_folders_with(&all, &patterns, &names);
    let chosen: Vec<Folder> = choice.folders.into_iter().cloned().collect();
    let notes = choice.notes;
    // Which folders each rule (and the policy) picks.
    let picks: Vec<Vec<String>> = every
        .iter()
        .map(|r| {
            let c = choose_folders_with(&all, &r.folders, &names);
            c.folders.iter().map(|f| f.name.clone()).collect()
        })
        .collect();
    let mut folders = Vec::new();
    for f in chosen {
        let scope = Scope {
            rules: every
                .iter()
                .zip(&picks)
                .filter(|(_, p)| p.contains(&f.name))
                .map(|(r, _)| *r)
                .collect(),
        };
        folders.push(plan_folder(session, index, account, &scope, f, policy).await?);
    }
    let plan = AccountPlan {
        account: account.to_string(),
        folders,
        quota: None,
        notes,
        target: None,
    };
    Ok((plan, all))
}

async fn plan_folder(
    session: &mut Session,
    index: &Index,
    account: &str,
    scope: &Scope<'_>,
    f: Folder,
    policy: &JobPolicy,
) -> Result<FolderPlan, PipelineError> {
    let status = session.examine(&f).await?;
    let now = crate::dates::now_unix();
    // The loosest of what may apply here; each message is decided below.
    let (min_size, age) = scope.search();
    let before = age.map(|d| now - d.as_secs() as i64);
    let uids = session.search_candidates(min_size.max(1), before).await?;
    let skipped_before = index.skipped_uids(account, &f.name, status.uidvalidity)?;
    let uids: Vec<u32> = uids
        .into_iter()
        .filter(|u| !skipped_before.contains(u))
        .collect();
    let metas = if uids.is_empty() {
        Vec::new()
    } else {
        session.fetch_meta(&uids).await?
    };
    // Senders and recipients, only where a rule asks about them.
    let mut addrs = std::collections::HashMap::new();
    if scope.needs_addresses() && !uids.is_empty() {
        for h in session.fetch_headers(&uids, &["FROM", "TO", "CC"]).await? {
            addrs.insert(h.uid, Addresses::from_header(&h.header));
        }
    }
    let nobody = Addresses::default();
    let mut fp = FolderPlan {
        folder: f.name.clone(),
        handle: f,
        uidvalidity: status.uidvalidity,
        candidates: Vec::new(),
        skipped: Vec::new(),
        lasting_skips: Vec::new(),
        append_limit: session.append_limit(),
    };
    for m in metas {
        let who = addrs.get(&m.uid).unwrap_or(&nobody);
        let (mut verdict, rule) = match decide(scope, who, m.internal_ts, age, now) {
            Ok(rule) => (judge(&m, &rule.select), Some(rule)),
            Err(why) => (Verdict::Skip(why), None),
        };
        // Even the copy could not go in: left alone before it is fetched.
        if let Verdict::Candidate { bytes, .. } = verdict {
            if let Some(why) = append_limit_verdict(m.size, bytes, fp.append_limit) {
                verdict = Verdict::Skip(why);
            }
        }
        match verdict {
            Verdict::Candidate { parts, bytes } => {
                // A candidate always has a rule: a skip is all there is without.
                let Some(rule) = rule else { continue };
                fp.candidates.push(Candidate {
                    uid: m.uid,
                    size: m.size,
                    parts,
                    attachment_bytes: bytes,
                    rule: rule.name.clone(),
                    select: rule.select.clone(),
                    meta: m,
                    quota_target: rule.quota_target.or(policy.quota_target),
                })
            }
            Verdict::Skip(why) => {
                if why.lasts() {
                    fp.lasting_skips.push(m.uid);
                }
                fp.skipped.push((m.uid, why.to_string()));
            }
        }
    }
    Ok(fp)
}
