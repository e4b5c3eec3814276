//! The `slimbox` binary: parses the command line, runs it, and maps errors to
//! exit codes (0 success, 1 failure, 2 usage error from clap).
use std::process::ExitCode;

use clap::Parser;

// mimalloc gives freed message buffers back to the system promptly; glibc's
// malloc keeps them (peak RSS of `slimbox run` was 2.3x the heap it used).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's environment variable for how long freed memory is kept
/// before it goes back to the system.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

fn main() -> ExitCode {
    allocator_settings();
    let cli = slimbox::cli::Cli::parse();
    match slimbox::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("slimbox: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// mimalloc keeps freed memory for a second by default, and reads its
/// settings from the environment only as the process loads, before `main`.
/// A run frees a message-sized buffer every few tens of milliseconds, so a
/// second of them showed in the peak RSS (scripts/bench-imap: 150-160 MiB
/// with the default, about 105 MiB at 100 ms, at the same speed). A run
/// into S3 frees more of them in less time (the object as sent, and as read
/// back by the proof, beside the message): at 100 ms its peak was 130-149
/// MiB, over the bound of 142 MiB, at 10 ms 115-128 MiB, and with no delay
/// 112-128 MiB, no slower (local runs too). So the process starts itself
/// once more with no delay, unless the variable is set (a value of the
/// user's is kept). If that fails, it goes on as it is.
fn allocator_settings() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os(PURGE_DELAY).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut cmd = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        // exec only returns when it failed.
        let _ = cmd.args(args).env(PURGE_DELAY, "0").exec();
    }
}
