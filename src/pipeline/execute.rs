//! The scheduler: runs the safety order for every planned message, with
//! its two halves overlapping across messages. While message k is
//! committed on the server (steps 5 to 9, [`super::commit`]), message k+1,
//! downloaded ahead on a second read-only connection ([`super::ahead`]), is
//! detached, stored and proven (steps 2 to 4, [`super::prepare`]). No
//! server step of a message starts before its own local steps are done;
//! the order of steps within a message is never changed here.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::ahead;
use super::commit::{commit, finish_batch, Committed};
use super::owner::Verified;
use super::plan::{AccountPlan, Candidate, FolderPlan, JobPolicy};
use super::prepare::{prepare, Prepared};
use super::remove::trash_of;
use super::report::{Converted, FolderReport, Laps, Observer, PipelineError};
use crate::imap::{Folder, Session};
use crate::index::Index;
use crate::store::Store;

/// How many prepared messages may wait for the server. They are small (the
/// raw message is dropped once prepared); the bound keeps the objects that
/// are stored ahead of their journal entries to a few messages' worth.
const PREPARED_AHEAD: usize = 4;

/// How many verified messages wait for their originals to be removed
/// together. Each removal is a round of commands the server fsyncs, so
/// one per message doubled the server's share of the time.
const REMOVE_BATCH: usize = 16;

/// How long the oldest verified message of a batch may wait for its
/// original's removal. With [`REMOVE_BATCH`] this bounds the window in
/// which a crash leaves both copies of a message on the server (until the
/// next run's recovery removes the original).
pub(super) const BATCH_WAIT: Duration = Duration::from_secs(2);

/// Whether a batch of `len` verified messages, the oldest verified `oldest`
/// ago, goes now: when it is full, or its oldest has waited long enough.
fn batch_due(len: usize, oldest: Option<Duration>) -> bool {
    len >= REMOVE_BATCH || oldest.is_some_and(|age| age >= BATCH_WAIT)
}

const GONE: &str = "gone from the server before it was fetched";

/// What one run of [`execute`] sees: the job's shared parts.
pub(super) struct Job<'a> {
    pub store: &'a Store,
    pub plan: &'a AccountPlan,
    pub policy: &'a JobPolicy,
    pub observer: &'a dyn Observer,
    /// Count the messages the plan leaves alone (the first pass over the
    /// folders does; a pass after a reconnect does not count them twice).
    pub count_skipped: bool,
}

/// Converts every planned message; each folder is selected read-write on
/// `session`. With `ahead`, a second session of the same account, messages
/// are downloaded on it while others are prepared and committed; without
/// it (or once it fails) each message is fetched on `session`. The folders'
/// reports go to `reports` as they end, also when an error stops the job.
pub(super) async fn execute(
    session: &mut Session,
    ahead: Option<Session>,
    index: &mut Index,
    job: &Job<'_>,
    reports: &mut Vec<FolderReport>,
) -> Result<(), PipelineError> {
    let budget = ahead::Budget::for_plan(job.plan, job.policy.ahead_floor);
    let (fetched_tx, fetched_rx) = mpsc::unbounded_channel();
    let (prepared_tx, prepared_rx) = mpsc::channel(PREPARED_AHEAD);
    let (fetcher, preparer) = match ahead {
        Some(s) => (
            Some(ahead::fetch_ahead(
                s,
                ahead::folders_of(job.plan),
                &budget,
                fetched_tx,
            )),
            Some(prepare_all(
                ahead::Ahead::new(Some(fetched_rx)),
                job,
                prepared_tx,
            )),
        ),
        None => {
            // No sender: the committer fetches everything itself.
            drop(prepared_tx);
            (None, None)
        }
    };
    let trash = trash_of(&session.list_folders().await?, job.policy);
    let committer = Committer {
        session,
        index,
        job,
        prepared: Some(prepared_rx),
        trash,
    };
    let (_, _, result) = tokio::join!(
        async {
            if let Some(f) = fetcher {
                f.await
            }
        },
        async {
            if let Some(p) = preparer {
                p.await
            }
        },
        committer.all(reports)
    );
    result
}

/// One candidate as [`prepare_all`] hands it over.
struct Item {
    uid: u32,
    /// Bytes downloaded for it.
    fetched: u64,
    outcome: Result<Result<Prepared, String>, PipelineError>,
}

/// Steps 2 to 4 for every candidate in plan order, on messages fetched
/// ahead. Stops (and the committer fetches the rest itself) when a message
/// was not fetched ahead or the receiver is gone.
async fn prepare_all(mut ahead: ahead::Ahead, job: &Job<'_>, tx: mpsc::Sender<Item>) {
    for (folder_no, fp) in job.plan.folders.iter().enumerate() {
        for c in &fp.candidates {
            let mut lap = Laps::new(c.uid);
            // 1. Fetched ahead; holds its share of the memory budget until
            // prepared.
            let Some(fetched) = ahead.take(folder_no, c.uid).await else {
                return;
            };
            lap.mark("fetch");
            let raw = fetched.body.as_ref().ok().cloned().flatten();
            let item = prepare_item(job, fp, c, raw, lap).await;
            drop(fetched);
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }
}

async fn prepare_item(
    job: &Job<'_>,
    fp: &FolderPlan,
    c: &Candidate,
    raw: Option<(Bytes, Vec<String>)>,
    lap: Laps,
) -> Item {
    match raw {
        Some((raw, flags)) => Item {
            uid: c.uid,
            fetched: raw.len() as u64,
            outcome: prepare(
                job.store,
                &job.plan.account,
                fp,
                &fetched_meta(c, flags),
                raw,
                job.policy,
                &c.select,
                lap,
            )
            .await,
        },
        None => Item {
            uid: c.uid,
            fetched: 0,
            outcome: Ok(Err(GONE.to_string())),
        },
    }
}

/// A candidate's metadata with the flags it had when it was fetched: the
/// copy carries those, not the ones seen when the run was planned.
fn fetched_meta(c: &Candidate, flags: Vec<String>) -> crate::imap::MessageMeta {
    crate::imap::MessageMeta {
        flags,
        ..c.meta.clone()
    }
}

/// Steps 5 to 9 for every candidate in plan order, on the job's own
/// connection.
struct Committer<'s, 'j> {
    session: &'s mut Session,
    index: &'s mut Index,
    job: &'s Job<'j>,
    /// Prepared messages from [`prepare_all`]; `None` once the committer
    /// fetches and prepares by itself.
    prepared: Option<mpsc::Receiver<Item>>,
    trash: Option<Folder>,
}

/// One folder's work in progress.
struct FolderRun<'p> {
    fp: &'p FolderPlan,
    report: FolderReport,
    /// Verified copies whose originals wait to be removed in one batch.
    batch: Vec<(&'p Candidate, Verified)>,
    verify_bytes: u64,
}

impl Committer<'_, '_> {
    /// Takes `self`: whatever ends it, the receiver of prepared messages
    /// goes with it, so [`prepare_all`] stops instead of waiting to send.
    async fn all(mut self, reports: &mut Vec<FolderReport>) -> Result<(), PipelineError> {
        let plan = self.job.plan;
        for fp in &plan.folders {
            let mut run = FolderRun {
                fp,
                report: FolderReport {
                    folder: fp.folder.clone(),
                    candidates: fp.candidates.len(),
                    ..FolderReport::default()
                },
                batch: Vec::new(),
                verify_bytes: 0,
            };
            if self.job.count_skipped {
                run.report.skipped = fp.skipped.len();
            }
            let result = self.folder(&mut run).await;
            run.report.bytes_fetched += run.verify_bytes;
            reports.push(run.report);
            result?;
        }
        Ok(())
    }

    async fn folder<'p>(&mut self, run: &mut FolderRun<'p>) -> Result<(), PipelineError> {
        let fp = run.fp;
        for &uid in &fp.lasting_skips {
            // Signed mail stays signed: later runs need not look again.
            let why = fp.skipped.iter().find(|(u, _)| *u == uid);
            let why = why.map_or("left alone", |(_, w)| w.as_str());
            let plan = self.job.plan;
            self.index
                .record_skip(&plan.account, &fp.folder, fp.uidvalidity, uid, why)?;
        }
        if fp.candidates.is_empty() {
            return Ok(());
        }
        let status = self.session.select(&fp.handle).await?;
        if status.uidvalidity != fp.uidvalidity {
            return Err(PipelineError::UidValidity {
                folder: fp.folder.clone(),
                was: fp.uidvalidity,
                now: status.uidvalidity,
            });
        }
        let result = self.candidates(run).await;
        // Whatever else ended the loop, originals whose copies are verified
        // go now rather than wait for the next run. After a lost connection
        // recovery removes them, on the new one.
        if result.as_ref().is_err_and(PipelineError::is_transient) {
            return result;
        }
        let flushed = self.flush(run).await;
        result.and(flushed)
    }

    async fn candidates<'p>(&mut self, run: &mut FolderRun<'p>) -> Result<(), PipelineError> {
        let fp = run.fp;
        for c in &fp.candidates {
            let (len, outcome) = self.next_prepared(run, c).await?;
            run.report.bytes_fetched += len;
            let r = match outcome {
                Ok(Ok(p)) => self.commit_one(run, c, p).await,
                Ok(Err(why)) => Some(Ok(Converted::SkippedForGood(why))),
                Err(e) => Some(Err(e)),
            };
            if let Some(r) = r {
                self.tally(run, c, r)?;
            }
            let oldest = run.batch.first().map(|(_, v)| v.at.elapsed());
            if batch_due(run.batch.len(), oldest) {
                self.flush(run).await?;
            }
        }
        Ok(())
    }

    /// Steps 5 to 7; `None` when the message waits for its batch.
    async fn commit_one<'p>(
        &mut self,
        run: &mut FolderRun<'p>,
        c: &'p Candidate,
        p: Prepared,
    ) -> Option<Result<Converted, PipelineError>> {
        let fp = run.fp;
        let trash = self.trash.as_ref();
        let committed = commit(
            self.session,
            self.index,
            fp,
            &c.meta,
            p,
            trash,
            &mut run.verify_bytes,
        )
        .await;
        match committed {
            Ok(Committed::Verified(v)) => {
                run.batch.push((c, *v));
                None
            }
            Ok(Committed::Done(r)) => Some(Ok(r)),
            Ok(Committed::LeftAlone(why)) => Some(Ok(Converted::SkippedForGood(why))),
            Err(e) => {
                if e.is_unfaithful_copy() {
                    // This server cannot hold a faithful copy: do not try
                    // again on every run (each try would leave one more
                    // rejected copy where nothing can expunge it).
                    let plan = self.job.plan;
                    let why = e.to_string();
                    if let Err(ie) = self.index.record_skip(
                        &plan.account,
                        &fp.folder,
                        fp.uidvalidity,
                        c.uid,
                        &why,
                    ) {
                        return Some(Err(ie.into()));
                    }
                }
                Some(Err(e))
            }
        }
    }

    /// The next candidate, prepared: from [`prepare_all`] when it has it,
    /// else fetched (step 1) and prepared here. While it waits, a batch
    /// whose time is up is flushed.
    async fn next_prepared<'p>(
        &mut self,
        run: &mut FolderRun<'p>,
        c: &Candidate,
    ) -> Result<(u64, Result<Result<Prepared, String>, PipelineError>), PipelineError> {
        if let Some(mut rx) = self.prepared.take() {
            let item = loop {
                let deadline = run.batch.first().map(|(_, v)| v.at + BATCH_WAIT);
                let Some(deadline) = deadline else {
                    break rx.recv().await;
                };
                tokio::select! {
                    item = rx.recv() => break item,
                    _ = tokio::time::sleep_until(deadline.into()) => self.flush(run).await?,
                }
            };
            if let Some(item) = item.filter(|item| item.uid == c.uid) {
                self.prepared = Some(rx);
                return Ok((item.fetched, item.outcome));
            }
            // From here on every message is fetched on this connection
            // (dropping the receiver stops the other).
        }
        let mut lap = Laps::new(c.uid);
        // 1. Fetch (BODY.PEEK[]: \Seen is not set), with its flags now.
        Ok(match self.session.fetch_original(c.uid).await {
            Ok(Some((raw, flags))) => {
                lap.mark("fetch");
                let len = raw.len() as u64;
                let job = self.job;
                let r = prepare(
                    job.store,
                    &job.plan.account,
                    run.fp,
                    &fetched_meta(c, flags),
                    raw,
                    job.policy,
                    &c.select,
                    lap,
                )
                .await;
                (len, r)
            }
            Ok(None) => (0, Ok(Err(GONE.to_string()))),
            Err(e) => (0, Err(e.into())),
        })
    }

    /// Steps 8 and 9 for the waiting batch, counted in the folder's report.
    async fn flush<'p>(&mut self, run: &mut FolderRun<'p>) -> Result<(), PipelineError> {
        let (cs, batch): (Vec<_>, Vec<_>) = run.batch.drain(..).unzip();
        let trash = self.trash.as_ref();
        let results = finish_batch(self.session, self.index, &run.fp.folder, batch, trash).await;
        for (c, r) in cs.into_iter().zip(results) {
            self.tally(run, c, r)?;
        }
        Ok(())
    }

    /// Counts one message's outcome in its folder's report. A transient
    /// error (the connection is gone) stops the pass: the job reconnects,
    /// recovers what was in flight and goes on.
    fn tally(
        &mut self,
        run: &mut FolderRun<'_>,
        c: &Candidate,
        r: Result<Converted, PipelineError>,
    ) -> Result<(), PipelineError> {
        let observer = self.job.observer;
        observer.message_done(c.size);
        // Whatever the command said, a connection that failed takes no
        // more: the pass stops, and the job reconnects and recovers.
        let r = match r {
            Err(e) if !e.is_transient() && self.session.is_broken() => {
                Err(PipelineError::ConnectionLost { why: e.to_string() })
            }
            r => r,
        };
        let report = &mut run.report;
        match r {
            Ok(Converted::Done {
                before,
                after,
                note,
            }) => {
                report.converted += 1;
                report.bytes_before += before;
                report.bytes_after += after;
                if let Some(n) = note {
                    observer.note(&n);
                    report.notes.push(n);
                }
            }
            Ok(Converted::OwnerChanged(why)) => {
                report.skipped += 1;
                let n = format!("UID {}: {why}", c.uid);
                observer.note(&n);
                report.notes.push(n);
            }
            Ok(Converted::SkippedForGood(why)) => {
                report.skipped += 1;
                let (plan, fp) = (self.job.plan, run.fp);
                self.index
                    .record_skip(&plan.account, &fp.folder, fp.uidvalidity, c.uid, &why)?;
            }
            // Not counted as failed: after the reconnect, recovery settles
            // this message (the account report counts the reconnect).
            Err(e) if e.is_transient() => return Err(e),
            // Tried again at the end of the run, when more space is free.
            Err(e) if e.is_waiting_for_room() => {
                report.waiting += 1;
                tracing::info!("UID {}: {e}", c.uid);
            }
            Err(e) => {
                report.failed += 1;
                let n = format!("UID {}: {e}", c.uid);
                observer.note(&n);
                report.notes.push(n);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue8_a_batch_goes_when_full_or_after_two_seconds() {
        let ms = Duration::from_millis;
        assert!(!batch_due(0, None));
        assert!(!batch_due(1, Some(ms(100))));
        assert!(!batch_due(REMOVE_BATCH - 1, Some(ms(1999))));
        assert!(batch_due(REMOVE_BATCH, Some(ms(0))));
        assert!(batch_due(1, Some(ms(2000))));
    }
}
