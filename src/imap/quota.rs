//! [`QuotaUsage`]: what GETQUOTAROOT (RFC 2087/9208) says about a mailbox's
//! storage and message limits, gathered from the untagged QUOTA responses;
//! and [`Session::quota`], which asks.

use async_imap::imap_proto::rfc2087::{Quota, QuotaResourceName};
use async_imap::imap_proto::Response;

use super::command::Command;
use super::{Folder, ImapError, Session};

/// Usage and limit of the quota root that governs a folder. A resource the
/// server does not limit is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUsage {
    /// The quota root's name ("" or "User quota" on Dovecot).
    pub root: String,
    /// Bytes used and allowed (STORAGE, which servers count in KiB).
    pub storage: Option<(u64, u64)>,
    /// Messages held and allowed (MESSAGE).
    pub messages: Option<(u64, u64)>,
}

impl QuotaUsage {
    /// The usage of the first root listed in `roots` that a QUOTA response
    /// describes (the root that applies, RFC 2087 5.2), or of the first
    /// QUOTA response when the QUOTAROOT response named none we have.
    /// `None` when no QUOTA response came: the folder has no quota.
    pub(crate) fn from_responses(roots: &[String], quotas: &[Quota<'_>]) -> Option<QuotaUsage> {
        let quota = roots
            .iter()
            .find_map(|r| quotas.iter().find(|q| q.root_name == r.as_str()))
            .or_else(|| quotas.first())?;
        let mut usage = QuotaUsage {
            root: quota.root_name.to_string(),
            storage: None,
            messages: None,
        };
        for r in &quota.resources {
            match r.name {
                QuotaResourceName::Storage => {
                    usage.storage =
                        Some((r.usage.saturating_mul(1024), r.limit.saturating_mul(1024)));
                }
                QuotaResourceName::Message => usage.messages = Some((r.usage, r.limit)),
                QuotaResourceName::Atom(_) => {}
            }
        }
        Some(usage)
    }

    /// The larger share of its limit used by any resource, in percent
    /// (a limit of 0 counts as full); `None` when nothing is limited.
    pub fn percent_used(&self) -> Option<u64> {
        [self.storage, self.messages]
            .into_iter()
            .flatten()
            .map(|(used, limit)| match limit {
                0 => 100,
                l => used.saturating_mul(100) / l,
            })
            .max()
    }
}

impl Session {
    /// The quota that governs `folder` (GETQUOTAROOT, RFC 2087): `None`
    /// when the server has no QUOTA capability or sets no limit there.
    pub async fn quota(&mut self, folder: &Folder) -> Result<Option<QuotaUsage>, ImapError> {
        if !self.conn.has("QUOTA") {
            return Ok(None);
        }
        let label = format!("GETQUOTAROOT {:?}", folder.name);
        let mut cmd = Command::new("GETQUOTAROOT")
            .raw(" ")
            .string(&folder.raw_name);
        cmd.label = label.clone();
        let mut roots: Vec<String> = Vec::new();
        let mut quotas = Vec::new();
        self.conn
            .run(cmd, |resp| match resp {
                Response::QuotaRoot(r) => {
                    roots.extend(r.quota_root_names.iter().map(|n| n.to_string()));
                }
                Response::Quota(q) => quotas.push(q.clone().into_owned()),
                _ => {}
            })
            .await?
            .check(&label)?;
        Ok(QuotaUsage::from_responses(&roots, &quotas))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::imap_proto::rfc2087::QuotaResource;
    use std::borrow::Cow;

    fn quota(root: &'static str, storage: (u64, u64)) -> Quota<'static> {
        Quota {
            root_name: Cow::Borrowed(root),
            resources: vec![QuotaResource {
                name: QuotaResourceName::Storage,
                usage: storage.0,
                limit: storage.1,
            }],
        }
    }

    #[test]
    fn storage_is_counted_in_kib() {
        let q = [quota("User quota", (2_900, 3_000))];
        let u = QuotaUsage::from_responses(&["User quota".into()], &q).expect("usage");
        assert_eq!(u.storage, Some((2_900 * 1024, 3_000 * 1024)));
        assert_eq!(u.messages, None);
        assert_eq!(u.percent_used(), Some(96));
    }

    #[test]
    fn the_named_root_wins_and_no_quota_is_none() {
        let q = [quota("other", (1, 10)), quota("", (9, 10))];
        let u = QuotaUsage::from_responses(&[String::new()], &q).expect("usage");
        assert_eq!((u.root.as_str(), u.percent_used()), ("", Some(90)));
        assert_eq!(QuotaUsage::from_responses(&[String::new()], &[]), None);
        let none = QuotaUsage {
            root: String::new(),
            storage: None,
            messages: Some((5, 0)),
        };
        assert_eq!(none.percent_used(), Some(100));
    }
}
