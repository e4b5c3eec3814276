//! `slimbox reattach`: whole messages back into the mailbox.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use super::list::FilterArgs;
use super::print;
use crate::pipeline::ReattachOutcome;

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
    let service = print::open(config_path.as_deref())?;
    let mut filter = args.filter.to_filter();
    filter.message_id = args.message_id.clone();
    let outcomes = service.reattach(&filter).await?;
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
