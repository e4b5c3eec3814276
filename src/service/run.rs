//! Running one mailbox: the one sequence `run` and `run --all` share.
//! Claim the mailbox, build its policy, connect, run the job
//! (`pipeline::run_account`), tell the owner (`notify`), record the
//! result.
//!
//! One rule for recording: a run without trouble (nothing failed or
//! waits, no reconnect, the owner report delivered) is noted in the index
//! as the mailbox's last success, whichever command ran it and whether or
//! not metrics are written.

use serde::Serialize;

use super::{account, policy, ClaimError, Service, ServiceError, Tuning};
use crate::config::AccountConfig;
use crate::imap::{Connector, ImapConfig};
use crate::notify::OwnerNote;
use crate::pipeline::{AccountReport, Observer};

/// The claim a run takes, under this command's name.
const COMMAND: &str = "run";

/// How a mailbox's run goes.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Wait while another process holds the mailbox (else it is skipped).
    pub wait: bool,
    pub tuning: Tuning,
}

/// What a mailbox's run did: the job's report and, beside it, what the
/// owner was told.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub job: AccountReport,
    /// `[owner_report]`: what the owner was told after this run, if
    /// anything.
    pub owner_report: Option<OwnerNote>,
}

/// The JSON of `run` and `run --all`, as it has always been: the job's
/// fields, then `owner_report`, then the job's `quota_target` (which the
/// job's own serialisation leaves out for this).
impl Serialize for RunReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            job: &'a AccountReport,
            #[serde(skip_serializing_if = "Option::is_none")]
            owner_report: Option<&'a OwnerNote>,
            #[serde(skip_serializing_if = "Option::is_none")]
            quota_target: Option<&'a crate::pipeline::target::TargetEnd>,
        }
        Json {
            job: &self.job,
            owner_report: self.owner_report.as_ref(),
            quota_target: self.job.quota_target.as_ref(),
        }
        .serialize(s)
    }
}

impl RunReport {
    /// The report of a run of `account` that stopped on `error`.
    pub fn failed(account: &str, error: String) -> RunReport {
        RunReport {
            job: AccountReport {
                error: Some(error),
                ..AccountReport::new(account)
            },
            owner_report: None,
        }
    }

    /// Anything failed or waits, or the owner was not told.
    pub fn had_trouble(&self) -> bool {
        self.job.had_trouble()
            || self
                .owner_report
                .as_ref()
                .is_some_and(|n| n.error.is_some())
    }

    /// The warning of a run that reconnected on the way and still did
    /// everything (see `AccountReport::reconnect_warning`); `None` when
    /// something is left undone, the owner report included.
    pub fn reconnect_warning(&self) -> Option<String> {
        if self.had_trouble() {
            return None;
        }
        self.job.reconnect_warning()
    }
}

/// How a mailbox's run ended.
#[derive(Debug)]
pub enum Ran {
    /// The job ran (its report says how well).
    Done(Box<RunReport>),
    /// The mailbox could not be claimed: busy ([`ClaimError::is_busy`]),
    /// or the claim itself failed.
    Unclaimed(ClaimError),
    /// Claimed, but the job could not start (no password, no secret, no
    /// index).
    NotStarted(ServiceError),
}

/// One mailbox's outcome as `run` shows it: its report, and whether it was
/// skipped because another slimbox had its mailbox (its `error` then says
/// who).
#[derive(Debug, Serialize)]
pub struct MailboxRun {
    #[serde(flatten)]
    pub report: RunReport,
    pub busy: bool,
}

impl Ran {
    /// The outcome of `account`'s run as a report.
    pub fn into_mailbox_run(self, account: &str) -> MailboxRun {
        match self {
            Ran::Done(report) => MailboxRun {
                report: *report,
                busy: false,
            },
            Ran::Unclaimed(e) => MailboxRun {
                busy: e.is_busy(),
                report: RunReport::failed(account, e.to_string()),
            },
            Ran::NotStarted(e) => MailboxRun {
                report: RunReport::failed(account, e.text()),
                busy: false,
            },
        }
    }
}

impl Service {
    /// Runs the mailbox of account `name`: claim, policy, connect (through
    /// `via`: the fleet puts its connection gate there), the job, the
    /// owner report, the result recorded. The claim is held to the end.
    pub async fn run_mailbox<C: Connector>(
        &self,
        name: &str,
        opts: RunOptions,
        via: impl FnOnce(ImapConfig) -> C,
        observer: &dyn Observer,
    ) -> Ran {
        let account = match self.account(name) {
            Ok(a) => a,
            Err(e) => return Ran::NotStarted(e),
        };
        let _claim = match self.claim_for_run(account, opts.wait, observer).await {
            Ok(claim) => claim,
            Err(e) => return Ran::Unclaimed(e),
        };
        match self.run_claimed(account, opts.tuning, via, observer).await {
            Ok(report) => Ran::Done(Box::new(report)),
            Err(e) => Ran::NotStarted(e),
        }
    }

    async fn claim_for_run(
        &self,
        account: &AccountConfig,
        wait: bool,
        observer: &dyn Observer,
    ) -> Result<super::Held, ClaimError> {
        let mailbox = account::mailbox(account);
        let claims = self.claims();
        if !wait {
            return claims.try_claim(&mailbox, &account.name, COMMAND);
        }
        let tell = Box::new(|e: String| {
            observer.note(&format!(
                "account {}: {e}; waiting for it (--wait)",
                account.name
            ))
        });
        claims
            .claim_waiting(&mailbox, &account.name, COMMAND, tell)
            .await
    }

    /// The job of a claimed mailbox; an error means it could not start.
    async fn run_claimed<C: Connector>(
        &self,
        account: &AccountConfig,
        tuning: Tuning,
        via: impl FnOnce(ImapConfig) -> C,
        observer: &dyn Observer,
    ) -> Result<RunReport, ServiceError> {
        let config = self.config();
        let store = self.store()?;
        let mut policy = policy::job_policy(config, store, account);
        policy.ahead_floor = tuning.ahead_floor;
        policy.fetch_ahead = tuning.fetch_ahead;
        if let Some(links) = self.signed_links()? {
            policy.links = crate::mime::Links::Signed(links);
        }
        let conn = via(account::imap_config(account)?);
        let mut index = self.store_index()?;
        // What this run adds to the index comes after this row.
        // Without the mark no report: it could list what earlier runs moved.
        let mark = index.last_message().ok();
        let job = crate::pipeline::run_account(
            &conn,
            store,
            &mut index,
            &account.name,
            &policy,
            observer,
        )
        .await;
        let owner_report = match (&config.owner_report, mark) {
            (Some(cfg), Some(mark)) => {
                let way_back = policy::way_back(config, self.page_secret(), account);
                crate::notify::after_run(&conn, &index, account, cfg, &way_back, mark, &job).await
            }
            _ => None,
        };
        let report = RunReport { job, owner_report };
        if !report.had_trouble() {
            // So that the time of the last success outlives runs that fail
            // (the metrics show it).
            if let Err(e) = index.record_success(&account.name, crate::dates::now_unix()) {
                tracing::warn!(
                    "account {}: cannot note the run's success in the index: {e}",
                    account.name
                );
            }
        }
        Ok(report)
    }

    /// The figures of one mailbox's run for the metrics file, with the
    /// time of its last success from the index.
    pub fn figures(&self, report: &AccountReport, seconds: f64) -> crate::metrics::MailboxFigures {
        let account = &report.account;
        let last = self
            .index()
            .and_then(|i| Ok(i.last_success(account)?))
            .unwrap_or_else(|e| {
                tracing::warn!(
                    "account {account}: cannot read the last success from the index: {e}"
                );
                None
            });
        crate::metrics::MailboxFigures::of(report, seconds, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of a JSON object, in order.
    fn keys(v: &impl Serialize) -> Vec<String> {
        let text = serde_json::to_string(v).expect("json");
        let mut de = serde_json::Deserializer::from_str(&text);
        let map: order::Keys = serde::Deserialize::deserialize(&mut de).expect("keys");
        map.0
    }

    /// Collects an object's keys in the order they come.
    mod order {
        pub struct Keys(pub Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> Result<Keys, A::Error> {
                        let mut out = Vec::new();
                        while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                            out.push(k);
                        }
                        Ok(Keys(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
    }

    #[test]
    fn issue21_the_run_json_keeps_its_fields_and_their_order() {
        let job = AccountReport::new("alice");
        let mut report = RunReport {
            job: job.clone(),
            owner_report: None,
        };
        // As before issue 21: the job's fields, then owner_report when
        // there is one, then quota_target when there is one, then busy.
        let plain = keys(&job);
        assert_eq!(keys(&report), plain);
        report.owner_report = Some(OwnerNote {
            files: 2,
            error: None,
        });
        let mut with_note = plain.clone();
        with_note.push("owner_report".into());
        assert_eq!(keys(&report), with_note);
        // issue 25's quota_target came after owner_report.
        report.job.quota_target = Some(crate::pipeline::target::TargetEnd {
            target_percent: 80,
            target_bytes: 80,
            limit_bytes: 100,
            limit_from: "QUOTA".into(),
            usage_before_bytes: 90,
            usage_after_bytes: Some(70),
            reached: Some(true),
        });
        with_note.push("quota_target".into());
        assert_eq!(keys(&report), with_note);
        let run = MailboxRun {
            report,
            busy: false,
        };
        with_note.push("busy".into());
        assert_eq!(keys(&run), with_note);
        assert_eq!(
            plain,
            [
                "account",
                "recovered",
                "reconnects",
                "folders",
                "waiting",
                "error",
                "quota_before",
                "quota_after"
            ]
        );
    }
}
