//! The person's desktop: starting their web browser on a URL (`slimbox
//! login`'s sign-in page, `slimbox page`'s self-service page). Nothing else
//! belongs here.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the desktop's browser on `url`; false when there is no desktop
/// (no `DISPLAY` or `WAYLAND_DISPLAY` on Linux), or the opener is missing or
/// failed. Callers print the URL either way.
pub fn open_browser(url: &str) -> bool {
    let mut cmd = if cfg!(target_os = "macos") {
        Command::new("open")
    } else if cfg!(windows) {
        let mut c = Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if !desktop {
            return false;
        }
        Command::new("xdg-open")
    };
    let Ok(mut child) = cmd
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    // Some openers run the browser in the foreground: one still running
    // after a moment has found a browser; one that exits says how it went.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return false,
        }
    }
    true
}
