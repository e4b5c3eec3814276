//! The `slimbox` binary: parses the command line, runs it, and maps errors to
//! exit codes (0 success, 1 failure, 2 usage error from clap).
use std::process::ExitCode;

use clap::Parser;

// mimalloc gives freed message buffers back to the system promptly; glibc's
// malloc keeps them (peak RSS of `slimbox run` was 2.3x the heap it used).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = slimbox::cli::Cli::parse();
    match slimbox::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("slimbox: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
