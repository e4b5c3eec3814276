//! Putting whole messages back (`slimbox reattach`, and the "put back"
//! button of `serve`'s page): claim the mailbox, then the safety order of
//! `pipeline::reattach_account` for each message.

use super::{account, on_own_thread, policy, Service, ServiceError};
use crate::index::PartFilter;
use crate::pipeline::{reattach_account, ReattachOutcome, ReattachTarget};

/// The claim a put back takes, under this command's name.
const COMMAND: &str = "reattach";

/// The outcome of a message that could not be tried.
fn failed(target: ReattachTarget, why: String) -> ReattachOutcome {
    ReattachOutcome {
        target,
        uid: None,
        note: None,
        error: Some(why),
    }
}

impl Service {
    /// Puts back every processed message `filter` matches, account by
    /// account; each outcome says how it went. None matching is an error.
    pub async fn reattach(
        &self,
        filter: &PartFilter,
    ) -> Result<Vec<ReattachOutcome>, ServiceError> {
        let targets = ReattachTarget::by_account(self.store_index()?.find_parts(filter)?);
        if targets.is_empty() {
            return Err(ServiceError::NothingToReattach);
        }
        let mut outcomes = Vec::new();
        for (account, list) in targets {
            outcomes.extend(self.put_back(&account, list).await);
        }
        Ok(outcomes)
    }

    /// Puts `list` (all of account `name`) back: claims the mailbox (at
    /// once, or each message's outcome says who holds it), then the safety
    /// order.
    pub async fn put_back(&self, name: &str, list: Vec<ReattachTarget>) -> Vec<ReattachOutcome> {
        let all_fail = |list: Vec<ReattachTarget>, why: String| -> Vec<ReattachOutcome> {
            list.into_iter().map(|t| failed(t, why.clone())).collect()
        };
        let Some(account) = self.config().accounts.iter().find(|a| a.name == name) else {
            let why = format!("account {name} is not in the config any more");
            return all_fail(list, why);
        };
        let mailbox = account::mailbox(account);
        let _claim = match self.claims().try_claim(&mailbox, &account.name, COMMAND) {
            Ok(claim) => claim,
            Err(e) => return all_fail(list, e.to_string()),
        };
        let started = (|| {
            let store = self.store()?;
            let policy = policy::job_policy(self.config(), store, account);
            let imap = account::imap_config(account)?;
            Ok::<_, ServiceError>((store, policy, imap, self.store_index()?))
        })();
        let (store, policy, imap, mut index) = match started {
            Ok(s) => s,
            Err(e) => return all_fail(list, e.text()),
        };
        let result = reattach_account(
            &imap,
            store,
            &mut index,
            &account.name,
            &policy,
            list.clone(),
        )
        .await;
        match result {
            Ok(done) => done,
            Err(e) => all_fail(list, e.to_string()),
        }
    }

    /// Puts one message back on a thread of its own (the job holds the
    /// index across awaits): for callers that need a `Send` future, such
    /// as `serve`'s handlers.
    pub async fn put_back_one(&self, target: ReattachTarget) -> ReattachOutcome {
        let service = self.clone();
        let t = target.clone();
        let done = on_own_thread(move || async move {
            let account = t.account.clone();
            service.put_back(&account, vec![t]).await
        })
        .await;
        let why = match done {
            Ok(mut outcomes) if !outcomes.is_empty() => return outcomes.remove(0),
            Ok(_) => "nothing was tried".to_string(),
            Err(e) => format!("the put back stopped: {e}"),
        };
        failed(target, why)
    }
}
