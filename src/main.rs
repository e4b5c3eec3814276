//! The `slimbox` binary: parses the command line, runs it, and maps errors to
//! exit codes (0 success, 1 failure, 2 usage error from clap).
use std::process::ExitCode;

use clap::Parser;

// mimalloc gives freed message buffers back to the system promptly; glibc's
// malloc keeps them (peak RSS of `slimbox run` was 2.3x the heap it used).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's settings from the environment, and the values slimbox starts
/// with unless they are set: freed memory goes back to the system after 10
/// ms, and no transparent huge pages (see [`allocator_settings`]).
const SETTINGS: [(&str, &str); 2] = [("MIMALLOC_PURGE_DELAY", "10"), ("MIMALLOC_ALLOW_THP", "0")];

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
/// once more with a short delay, unless the variable is set (a value of the
/// user's is kept). If that fails, it goes on as it is.
///
/// mimalloc also asks for transparent huge pages for its memory: where the
/// system grants them on request (`madvise`, Debian's default), touching
/// any byte of a 2 MiB region made all of it resident, and with a mailbox
/// per thread (`run --all`) each thread's own pages did so too: peak RSS of
/// `scripts/bench-fleet` at concurrency 8 was 111-134 MiB with them and
/// 61-67 MiB without, at the same speed. Without them the delay is 10 ms,
/// not 0: memory given back at once is faulted in again for the next
/// message, which cost `run --all` a fifth of its CPU (bench-fleet at 8:
/// 3.7-3.9 CPU s and 61-67 MiB with none, 2.9-3.1 s and 77-80 MiB at 10
/// ms; bench-imap's runs at 10 ms: 99 MiB local and into S3, bound 142).
fn allocator_settings() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let unset: Vec<_> = SETTINGS
            .iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .collect();
        if unset.is_empty() {
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
        cmd.args(args);
        for (name, value) in unset {
            cmd.env(name, value);
        }
        // exec only returns when it failed.
        let _ = cmd.exec();
    }
}
