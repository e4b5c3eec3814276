//! Step 0 with a `quota_target` (issue 25): the plan cut down to what
//! takes the mailbox to its target, by the pure choice of
//! [`super::target`]. Usage and limit come from the server's QUOTA
//! (GETQUOTAROOT of INBOX); where it has none, the account's `quota` is
//! the limit and usage the sum of every folder's message sizes.
//! Candidates the target does not need are left alone for this run (not
//! remembered: a later run, fuller, may take them).

use super::plan::{AccountPlan, JobPolicy};
use super::report::{AccountReport, PipelineError};
use super::target::{choose, saving, target_bytes, Item, TargetReport};
use crate::imap::{Folder, Session};

/// Cuts `plan` down to what its targets need and says so; `None` when no
/// candidate has a target, or when nothing says what 100 % is (then a note
/// says every candidate moves, as without a target).
pub(super) async fn apply(
    session: &mut Session,
    all: &[Folder],
    policy: &JobPolicy,
    plan: &mut AccountPlan,
) -> Result<Option<TargetReport>, PipelineError> {
    let candidates = plan.folders.iter().flat_map(|f| &f.candidates);
    let Some(percent) = candidates.filter_map(|c| c.quota_target).min() else {
        return Ok(None);
    };
    let Some((usage, limit, from)) = usage_and_limit(session, all, policy).await? else {
        plan.notes.push(
            "quota_target is set, but the server reports no quota (QUOTA) and the account sets \
             no `quota`: every candidate moves, as without a target. Set `quota = \"50GB\"` (the \
             mailbox's quota) in the account"
                .to_string(),
        );
        return Ok(None);
    };
    let items: Vec<Item> = plan
        .folders
        .iter()
        .flat_map(|f| &f.candidates)
        .map(|c| Item {
            saving: saving(c.attachment_bytes, c.parts),
            date: c.meta.internal_ts,
            target: c.quota_target,
        })
        .collect();
    let choice = choose(usage, limit, &items);
    let mut report = TargetReport {
        limit_bytes: limit,
        limit_from: from.to_string(),
        target_percent: percent,
        target_bytes: target_bytes(limit, percent),
        usage_bytes: usage,
        usage_after_bytes: choice.after,
        moving: 0,
        moving_saving: 0,
        left: 0,
    };
    let mut moves = choice.moves.iter().zip(&items);
    for f in &mut plan.folders {
        let mut kept = Vec::with_capacity(f.candidates.len());
        for c in f.candidates.drain(..) {
            let Some((&go, item)) = moves.next() else {
                break;
            };
            if go {
                report.moving += 1;
                report.moving_saving += item.saving;
                kept.push(c);
            } else {
                report.left += 1;
                let why = format!(
                    "not needed: the mailbox reaches its quota target ({}%) without it",
                    c.quota_target.unwrap_or(percent)
                );
                f.skipped.push((c.uid, why));
            }
        }
        f.candidates = kept;
    }
    Ok(Some(report))
}

/// Where the run left the mailbox against its target: the server's usage
/// (just read into `quota_after`), or the folders' sizes summed again.
pub(super) async fn ended(
    session: &mut Session,
    policy: &JobPolicy,
    report: &mut AccountReport,
) -> Result<(), PipelineError> {
    let Some(t) = &mut report.quota_target else {
        return Ok(());
    };
    let server = report.quota_after.as_ref().and_then(|q| q.used_bytes);
    let usage = match (t.limit_from.as_str(), server) {
        ("server", Some(used)) => Some(used),
        _ => {
            let all = session.list_folders().await?;
            usage_and_limit(session, &all, policy).await?.map(|u| u.0)
        }
    };
    if let Some(u) = usage {
        t.ended_at(u);
    }
    Ok(())
}

/// Usage now, the limit, and whence the limit: the server's quota where
/// it has one with a storage limit, else the account's `quota` with the
/// usage summed over `all` folders.
pub(super) async fn usage_and_limit(
    session: &mut Session,
    all: &[Folder],
    policy: &JobPolicy,
) -> Result<Option<(u64, u64, &'static str)>, PipelineError> {
    let q = super::quota::quota_report(session).await?;
    if let Some((Some(used), Some(limit))) = q.map(|q| (q.used_bytes, q.limit_bytes)) {
        return Ok(Some((used, limit, "server")));
    }
    let Some(limit) = policy.quota_limit else {
        return Ok(None);
    };
    let mut used: u64 = 0;
    for f in all {
        match session.folder_bytes(f).await {
            Ok(n) => used = used.saturating_add(n),
            // A folder that cannot be opened (\Noselect) holds no mail.
            Err(e) if !session.is_broken() => {
                tracing::debug!("{}: no size ({e})", f.name);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some((used, limit, "config")))
}
