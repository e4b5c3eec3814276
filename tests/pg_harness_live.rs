//! The private PostgreSQL cluster of the shared-index tests starts, takes a
//! password login over TLS, and comes back after a stop with its data
//! (tests/support/pg.rs, scripts/pg-harness).

mod support;

use support::pg::Pg;

#[test]
fn issue22_private_cluster_starts_stops_and_keeps_its_data() {
    let mut pg = Pg::start();
    assert!(
        pg.url.starts_with("postgres://slimbox@127.0.0.1:"),
        "{}",
        pg.url
    );
    assert!(pg.ca.exists(), "no certificate at {}", pg.ca.display());
    pg.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)");
    pg.restart();
    assert_eq!(pg.psql("SELECT n FROM kept"), "42", "log:\n{}", pg.log());
    assert_eq!(pg.psql("SHOW ssl"), "on");
}
