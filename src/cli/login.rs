//! `slimbox login`: sign an account in with its provider (OAuth2).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::job;
use crate::signin::{self, IdentityProvider, LoginOptions, LoginOutcome, LoginUi};

/// Sign ACCOUNT in with its provider (Google, Microsoft or the one in
/// [account.oauth]) and keep the refresh token in the token file (readable
/// only by you; default: tokens/ACCOUNT.json beside the index), so later
/// commands get access tokens without asking again.
///
/// Two ways to sign in:
///
/// - In a browser (the default): slimbox prints the provider's sign-in
///   address and opens it in your browser if it can; you sign in and accept,
///   and the browser brings the answer back to slimbox on 127.0.0.1
///   (authorization code with PKCE). Use --no-browser to only print the
///   address, e.g. to open it yourself in another browser on this machine.
///
/// - With --device, for a machine without a browser (Microsoft, and
///   providers with the device flow): slimbox prints a short code and an
///   address; open it on any other device, enter the code and sign in there.
///   slimbox waits until you have.
///
/// Accounts with app_only (Microsoft 365 client credentials) or
/// service_account_file (Google Workspace) have nobody to sign in: login
/// checks that they get a token and stores nothing.
///
/// Changes nothing in any mailbox. See README "Signing in" for registering
/// the app at Google or Microsoft.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The account to sign in (its name in the config).
    account: String,
    /// Sign in on another device with a code (device flow), for machines
    /// without a browser.
    #[arg(long)]
    device: bool,
    /// Do not start a browser; only print the address to open.
    #[arg(long, conflicts_with = "device")]
    no_browser: bool,
}

pub async fn run(args: LoginArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let account = config.account(Some(&args.account))?[0].clone();
    let provider = IdentityProvider::of_account(&account);
    let options = LoginOptions {
        device: args.device,
        open_browser: !args.no_browser,
        ..LoginOptions::default()
    };
    let ui = Printer {
        account: &account.name,
    };
    match signin::login(&account, provider, &options, &ui).await? {
        LoginOutcome::SignedIn {
            token_file,
            lifetime,
        } => println!(
            "Signed in: account {}. The refresh token is kept in {} (readable only by you); \
             access tokens (this one valid {}) are renewed from it as needed.",
            account.name,
            token_file.display(),
            minutes(lifetime)
        ),
        LoginOutcome::AppAccess { what, lifetime } => println!(
            "account {}: {what} works: the provider gave a token valid {}. Nothing is stored; \
             slimbox asks for a new one whenever it needs one.",
            account.name,
            minutes(lifetime)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn minutes(secs: u64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs / 60)
    }
}

/// Tells the user what to do, on stdout.
struct Printer<'a> {
    account: &'a str,
}

impl LoginUi for Printer<'_> {
    fn visit(&self, url: &str, opened: bool) {
        println!(
            "To sign in account {}, open this address:\n\n  {url}\n",
            self.account
        );
        if opened {
            println!("(Your browser should show it now.)");
        } else {
            println!("Open it in a browser on this machine: the answer comes back to 127.0.0.1.");
        }
        println!("Waiting for the sign-in to complete...");
    }

    fn enter_code(&self, uri: &str, user_code: &str, complete: Option<&str>, expires_in: Duration) {
        println!(
            "To sign in account {}, open on any device:\n\n  {uri}\n\nand enter the code:\n\n  {user_code}\n",
            self.account
        );
        if let Some(c) = complete {
            println!("(Or open {c}, which carries the code.)");
        }
        println!(
            "Waiting for the sign-in to complete (the code is valid {})...",
            minutes(expires_in.as_secs())
        );
    }
}
