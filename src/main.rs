//! The `slimbox` binary: parses the command line, runs it, and maps errors to
//! exit codes (0 success, 1 failure, 2 usage error from clap).
use std::process::ExitCode;

use clap::Parser;

// mimalloc gives freed message buffers back to the system promptly; glibc's
// malloc keeps them (docs/allocator.md).
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

/// Starts the process once more with [`SETTINGS`] in its environment, unless
/// they are set (a value of the user's is kept): mimalloc reads them only as
/// the process loads, before `main`. If that fails, it goes on as it is.
/// Why these values: docs/allocator.md, with the benchmark figures.
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
