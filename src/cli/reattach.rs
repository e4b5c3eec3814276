//! `slimbox reattach`: whole messages back into the mailbox.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use super::job;
use super::list::FilterArgs;
use crate::index::Index;
use crate::pipeline::{reattach_message, ReattachTarget};

/// Put whole messages back: each stub is replaced by the original, rebuilt
/// byte for byte from the store.
///
/// The original goes into the same folder with the stub's flags and the
/// original INTERNALDATE; it is verified on the server before the stub is
/// removed (by UID). Choose one message with --message-id, or --all with
/// the filters of `slimbox list`.
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

#[derive(serde::Serialize)]
struct Outcome {
    account: String,
    folder: String,
    message_id: Option<String>,
    uid: Option<u32>,
    error: Option<String>,
}

pub async fn run(args: ReattachArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if args.message_id.is_none() && !args.all {
        bail!("say which messages: --message-id ID, or --all (with filters such as --name or --since)");
    }
    let config = job::load_config(config_path.as_deref())?;
    let store = job::open_store(&config)?;
    let mut index = Index::open(&config.index.path)?;
    let mut filter = args.filter.to_filter();
    filter.message_id = args.message_id.clone();
    let rows = index.find_parts(&filter)?;
    // One target per message, grouped by account.
    let mut targets: BTreeMap<String, Vec<ReattachTarget>> = BTreeMap::new();
    for r in rows {
        let list = targets.entry(r.account.clone()).or_default();
        if list.iter().all(|t| t.message != r.message) {
            list.push(ReattachTarget {
                message: r.message,
                account: r.account,
                folder: r.folder,
                uidvalidity: r.uidvalidity,
                uid: r.uid,
                message_id: r.message_id,
            });
        }
    }
    if targets.is_empty() {
        bail!("no processed message matches (already reattached ones are not listed); `slimbox list` shows what there is");
    }
    let mut outcomes = Vec::new();
    for (account_name, list) in targets {
        let Some(account) = config.accounts.iter().find(|a| a.name == account_name) else {
            for t in list {
                outcomes.push(Outcome {
                    account: t.account,
                    folder: t.folder,
                    message_id: t.message_id,
                    uid: None,
                    error: Some(format!(
                        "account {account_name} is not in the config any more"
                    )),
                });
            }
            continue;
        };
        let policy = job::job_policy(&config, &store, account);
        let mut session = job::connect(account).await?;
        crate::pipeline::recover_account(&mut session, &store, &mut index, &account.name, &policy)
            .await?;
        let trash = session
            .list_folders()
            .await?
            .into_iter()
            .find(|f| f.has_special_use("\\Trash"));
        for t in list {
            let r = reattach_message(&mut session, &store, &mut index, &t, trash.as_ref()).await;
            outcomes.push(Outcome {
                account: t.account.clone(),
                folder: t.folder.clone(),
                message_id: t.message_id.clone(),
                uid: r.as_ref().ok().copied(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        let _ = session.logout().await;
    }
    let failed = outcomes.iter().any(|o| o.error.is_some());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        for o in &outcomes {
            let id = o.message_id.as_deref().unwrap_or("(no Message-ID)");
            match (&o.error, o.uid) {
                (None, Some(uid)) => println!(
                    "{} {}: {id} is whole again (UID {uid})",
                    o.account, o.folder
                ),
                (Some(e), _) => println!("{} {}: {id}: {e}", o.account, o.folder),
                _ => {}
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
