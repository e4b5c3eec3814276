//! `slimbox reattach`: whole messages back into the mailbox.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use super::job;
use super::list::FilterArgs;
use crate::config::Config;
use crate::index::Index;
use crate::pipeline::{reattach_account, ReattachOutcome, ReattachTarget};
use crate::store::Store;

/// Put whole messages back: each stub is replaced by the original, rebuilt
/// byte for byte from the store.
///
/// The original goes into the same folder with the stub's flags and the
/// original INTERNALDATE; it is verified on the server before the stub is
/// removed (by UID). Choose one message with --message-id, or --all with
/// the filters of `slimbox list`.
///
/// Like `slimbox run`, it claims each account's mailbox first and holds it
/// to the end: a mailbox another slimbox is working on is skipped, its
/// messages reported as not put back with the process that holds it (exit
/// status 1, as for any message not put back).
#[derive(Debug, Args)]
pub struct ReattachArgs {
    /// The Message-ID of the message to put back.
    #[arg(long)]
    message_id: Option<String>,
    /// Every processed message the filters match.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// The outcome of a message that could not be tried.
fn failed(target: ReattachTarget, why: String) -> ReattachOutcome {
    ReattachOutcome {
        target,
        uid: None,
        note: None,
        error: Some(why),
    }
}

/// One line of JSON output per message.
#[derive(serde::Serialize)]
struct Outcome<'a> {
    account: &'a str,
    folder: &'a str,
    message_id: Option<&'a str>,
    uid: Option<u32>,
    note: Option<&'a str>,
    error: Option<&'a str>,
}

impl<'a> From<&'a ReattachOutcome> for Outcome<'a> {
    fn from(o: &'a ReattachOutcome) -> Self {
        Outcome {
            account: &o.target.account,
            folder: &o.target.folder,
            message_id: o.target.message_id.as_deref(),
            uid: o.uid,
            note: o.note.as_deref(),
            error: o.error.as_deref(),
        }
    }
}

pub async fn run(args: ReattachArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if args.message_id.is_none() && !args.all {
        bail!("say which messages: --message-id ID, or --all (with filters such as --name or --since)");
    }
    let config = job::load_config(config_path.as_deref())?;
    let store = job::open_store(&config)?;
    let mut index = Index::open(&config.index.path)?;
    index.bind_store(&store.identity())?;
    let mut filter = args.filter.to_filter();
    filter.message_id = args.message_id.clone();
    let targets = ReattachTarget::by_account(index.find_parts(&filter)?);
    if targets.is_empty() {
        bail!("no processed message matches (already reattached ones are not listed); `slimbox list` shows what there is");
    }
    let mut outcomes = Vec::new();
    for (account_name, list) in targets {
        outcomes.extend(put_back(&config, &store, &mut index, &account_name, list).await);
    }
    let failed = outcomes.iter().any(|o| o.error.is_some());
    if args.json {
        let out: Vec<Outcome> = outcomes.iter().map(Outcome::from).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_outcomes(&outcomes);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Puts `list` (all of `account_name`) back: claims the mailbox (at once,
/// or each message's outcome says who holds it), then the safety order.
/// `slimbox serve`'s page puts one message back through here too.
pub(super) async fn put_back(
    config: &Config,
    store: &Store,
    index: &mut Index,
    account_name: &str,
    list: Vec<ReattachTarget>,
) -> Vec<ReattachOutcome> {
    let Some(account) = config.accounts.iter().find(|a| a.name == account_name) else {
        let why = format!("account {account_name} is not in the config any more");
        return list.into_iter().map(|t| failed(t, why.clone())).collect();
    };
    let _claim = match job::claim(config, account, "reattach", false).await {
        Ok(claim) => claim,
        Err(e) => {
            let why = e.to_string();
            return list.into_iter().map(|t| failed(t, why.clone())).collect();
        }
    };
    let policy = job::job_policy(config, store, account);
    let imap = match job::imap_config(account) {
        Ok(imap) => imap,
        Err(e) => {
            let why = format!("{e:#}");
            return list.into_iter().map(|t| failed(t, why.clone())).collect();
        }
    };
    let result = reattach_account(&imap, store, index, &account.name, &policy, list.clone()).await;
    match result {
        Ok(done) => done,
        Err(e) => list.into_iter().map(|t| failed(t, e.to_string())).collect(),
    }
}

fn print_outcomes(outcomes: &[ReattachOutcome]) {
    for o in outcomes.iter().map(Outcome::from) {
        let id = o.message_id.unwrap_or("(no Message-ID)");
        match (o.error, o.uid) {
            (None, Some(uid)) => println!(
                "{} {}: {id} is whole again (UID {uid})",
                o.account, o.folder
            ),
            (Some(e), _) => println!("{} {}: {id}: {e}", o.account, o.folder),
            _ => {}
        }
        if let Some(n) = o.note {
            println!("{} {}: {id}: {n}", o.account, o.folder);
        }
    }
}
