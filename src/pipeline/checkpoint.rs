//! A test hook into the safety order: a test can stop the job at a named
//! step and SIGKILL it, cut its connection or restart the server there.

use std::time::Duration;

/// Test hook: with `SLIMBOX_TEST_PAUSE_AT=<step>` the process says so on
/// stderr and waits (for `SLIMBOX_TEST_PAUSE_FILE` to appear, at most a
/// minute) so a test can SIGKILL it, cut its connection or restart the
/// server at that exact point of the safety order.
pub(super) async fn checkpoint(step: &str) {
    if std::env::var("SLIMBOX_TEST_PAUSE_AT").ok().as_deref() != Some(step) {
        return;
    }
    eprintln!("slimbox-test: paused at {step}");
    let file = std::env::var("SLIMBOX_TEST_PAUSE_FILE").ok();
    for _ in 0..600 {
        if file
            .as_deref()
            .is_some_and(|f| std::path::Path::new(f).exists())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
