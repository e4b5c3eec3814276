//! What the `slimbox serve` benchmarks (`bench_serve`, `bench_serve_load`)
//! share: starting the server under test, and the links they ask it for.
//! Not an example of its own (no `main`): each includes it with `#[path]`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use slimbox::links::Secret;

/// `slimbox serve` from `bin` with `config` on a free loopback port, and
/// its base URL once it says it listens.
pub fn start(bin: &str, config: &Path) -> (Child, String) {
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slimbox serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    (child, base)
}

/// A signed file link; the long form written before issue 19 with
/// `BENCH_LONG_LINKS=1`, for a server built from an older commit.
pub fn file_link(secret: &Secret, base: &str, sha256: &str, name: &str) -> String {
    if long_links() {
        secret.legacy_file_link(base, sha256, name, None)
    } else {
        secret.file_link(base, sha256, name, None)
    }
}

/// A signed page link, in the long form with `BENCH_LONG_LINKS=1`.
#[allow(dead_code)] // bench_serve asks for no page
pub fn page_link(secret: &Secret, base: &str, account: &str) -> String {
    if long_links() {
        secret.legacy_page_link(base, account, None)
    } else {
        secret.page_link(base, account, None)
    }
}

fn long_links() -> bool {
    std::env::var_os("BENCH_LONG_LINKS").is_some()
}
