//! Many mailboxes on one server: the `[server]` template the accounts
//! share, `accounts_file` (CSV or TOML) with one mailbox per row, the
//! master-user keys, `max_connections`, each mailbox's policy overrides,
//! and the rule that no name and no mailbox is configured twice.
//!
//! Merging is on the raw tables, before any check, so a key from
//! `[server]` is checked exactly as if the account had written it. The
//! login keys (`auth`, `master_user`, the password and token keys,
//! `[oauth]`) go as one: an account that says anything about how it logs
//! in takes none of them from `[server]`, so one mailbox with its own
//! password never mixes with the template's master user.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::Ctx;
use crate::config::raw::{RawAccount, RawAccountsFile, RawServer};
use crate::config::DEFAULT_MAX_CONNECTIONS;
use crate::config::{AccountConfig, AuthSetting, ConfigError, PolicyOverrides};

/// The columns an accounts CSV may have; `name` and `user` are required.
const CSV_COLUMNS: [&str; 10] = [
    "name",
    "user",
    "folders",
    "min_size",
    "older_than",
    "trash",
    "master_user",
    "email",
    "quota_target",
    "quota",
];

/// Fills what `a` leaves out from `[server]`.
pub(super) fn merge_server(server: &RawServer, a: &mut RawAccount) {
    let s = server.clone();
    a.provider = a.provider.or(s.provider);
    a.host = a.host.take().or(s.host);
    a.port = a.port.or(s.port);
    a.tls = a.tls.or(s.tls);
    a.ca_file = a.ca_file.take().or(s.ca_file);
    a.trash = a.trash.take().or(s.trash);
    a.max_connections = a.max_connections.or(s.max_connections);
    let own_login = a.auth.is_some()
        || a.master_user.is_some()
        || a.password_env.is_some()
        || a.password_command.is_some()
        || a.password.is_some()
        || a.token_command.is_some()
        || a.oauth.is_some();
    if !own_login {
        a.auth = s.auth;
        a.master_user = s.master_user;
        a.password_env = s.password_env;
        a.password_command = s.password_command;
        a.password = s.password;
        a.token_command = s.token_command;
        a.oauth = s.oauth;
    }
}

/// `master_user`: needed by `auth = "master"`, optional for `"plain"`
/// (without it PLAIN logs in as the user itself), wrong anywhere else.
pub(super) fn master_user(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    auth: AuthSetting,
    raw: Option<String>,
) -> Result<Option<String>, ConfigError> {
    let raw = raw.map(|m| m.trim().to_string());
    match (auth, raw) {
        (_, Some(m)) if m.is_empty() || m.contains(['*', '\0']) => Err(ctx.err(
            key("master_user"),
            format!("{m:?} is not a user name; write the administrator's login, e.g. \"admin\""),
        )),
        (AuthSetting::Master, None) => Err(ctx.err(
            key("master_user"),
            "is missing: auth = \"master\" logs in as user*master_user with the master \
             user's password; write master_user = \"admin\"",
        )),
        (AuthSetting::Master | AuthSetting::Plain, m) => Ok(m),
        (_, Some(_)) => Err(ctx.err(
            key("master_user"),
            format!(
                "is only used with auth = \"master\" or \"plain\", but this account has auth = \
                 \"{}\"; set auth, or remove master_user",
                auth.as_str()
            ),
        )),
        (_, None) => Ok(None),
    }
}

/// `max_connections`: 1 to 1000, default [`DEFAULT_MAX_CONNECTIONS`].
pub(super) fn max_connections(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    raw: Option<i64>,
) -> Result<u32, ConfigError> {
    match raw {
        None => Ok(DEFAULT_MAX_CONNECTIONS),
        Some(n @ 1..=1000) => Ok(n as u32),
        Some(n) => Err(ctx.err(
            key("max_connections"),
            format!(
                "{n} is out of range; write how many connections to this server may be open \
                 at once, 1 to 1000 (default {DEFAULT_MAX_CONNECTIONS})"
            ),
        )),
    }
}

/// One mailbox's own folders, min_size and older_than.
pub(super) fn overrides(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    folders: Option<Vec<String>>,
    min_size: Option<toml::Value>,
    older_than: Option<toml::Value>,
) -> Result<PolicyOverrides, ConfigError> {
    let folders = match folders {
        Some(list) if list.is_empty() => {
            return Err(ctx.err(
                key("folders"),
                "is empty; name at least one folder, or remove the key to use policy.folders",
            ))
        }
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, f)| super::policy::check_folder(ctx, &key(&format!("folders[{i}]")), f))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let min_size = match min_size {
        None => None,
        Some(toml::Value::String(s)) => Some(
            crate::units::parse_size(&s).map_err(|e| ctx.err(key("min_size"), e.to_string()))?,
        ),
        Some(toml::Value::Integer(n)) if n >= 0 => Some(n as u64),
        Some(other) => {
            return Err(ctx.err(
                key("min_size"),
                format!("{other} is not a size; write e.g. \"5MiB\" or a number of bytes"),
            ))
        }
    };
    let older_than: Option<Duration> = match older_than {
        None => None,
        Some(toml::Value::String(s)) => {
            Some(super::policy::parse_age(&s).map_err(|e| ctx.err(key("older_than"), e))?)
        }
        Some(other) => {
            return Err(ctx.err(
                key("older_than"),
                format!("{other} is not an age; write e.g. \"90d\""),
            ))
        }
    };
    Ok(PolicyOverrides {
        folders,
        min_size,
        older_than,
        ..PolicyOverrides::default()
    })
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads `accounts_file`: `.csv` (a header row, then one mailbox per row)
/// or `.toml` (`[[account]]` tables); each account knows its line.
pub(super) fn accounts_file(ctx: &Ctx, raw: &str) -> Result<Vec<RawAccount>, ConfigError> {
    let path = ctx.resolve_path("accounts_file", raw)?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ctx.err(
            "accounts_file",
            format!("cannot read {}: {e}; check the path (relative paths are relative to the config file)", path.display()),
        )
    })?;
    let shown = path.display().to_string();
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => csv_accounts(ctx, &shown, &text),
        Some(e) if e.eq_ignore_ascii_case("toml") => toml_accounts(ctx, &shown, &text),
        _ => Err(ctx.err(
            "accounts_file",
            format!("{shown}: name a .csv or a .toml file"),
        )),
    }
}

fn toml_accounts(ctx: &Ctx, shown: &str, text: &str) -> Result<Vec<RawAccount>, ConfigError> {
    let file: RawAccountsFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: shown.to_string(),
        message: e.to_string(),
    })?;
    if file.accounts.is_empty() {
        return Err(ctx.err("accounts_file", format!("{shown} has no [[account]] table")));
    }
    Ok(file
        .accounts
        .into_iter()
        .map(|mut a| {
            a.origin = Some((shown.to_string(), line_of(text, a.name.span().start)));
            a
        })
        .collect())
}

fn csv_accounts(ctx: &Ctx, shown: &str, text: &str) -> Result<Vec<RawAccount>, ConfigError> {
    let bad = |line: usize, problem: String| {
        ctx.err("accounts_file", format!("{shown} line {line}: {problem}"))
    };
    let rows = csv_rows(text).map_err(|(line, p)| bad(line, p))?;
    let Some(((at, header), rows)) = rows.split_first() else {
        return Err(bad(
            1,
            "is empty; write a header row such as `name,user`".into(),
        ));
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for h in &header {
        if !CSV_COLUMNS.contains(&h.as_str()) {
            return Err(bad(
                *at,
                format!(
                    "unknown column {h:?}; the columns are {}",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for need in ["name", "user"] {
        if !header.iter().any(|h| h == need) {
            return Err(bad(
                *at,
                format!("no {need:?} column; the header needs name and user"),
            ));
        }
    }
    let mut out = Vec::new();
    for (line, row) in rows {
        if row.len() != header.len() {
            return Err(bad(
                *line,
                format!("has {} fields but the header {}", row.len(), header.len()),
            ));
        }
        let mut a = RawAccount::named(String::new());
        for (h, v) in header.iter().zip(row) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let s = || Some(v.to_string());
            match h.as_str() {
                "name" => a.name = toml::Spanned::new(0..0, v.to_string()),
                "user" => a.user = v.to_string(),
                // Folder names may hold spaces and commas, not `;`.
                "folders" => a.folders = Some(v.split(';').map(|f| f.trim().to_string()).collect()),
                "min_size" => a.min_size = Some(toml::Value::String(v.to_string())),
                "older_than" => a.older_than = Some(toml::Value::String(v.to_string())),
                "trash" => a.trash = s(),
                "email" => a.email = s(),
                // Issue 25: this mailbox's target, and its quota where the
                // server has no QUOTA.
                "quota_target" => a.quota_target = Some(toml::Value::String(v.to_string())),
                "quota" => a.quota = Some(toml::Value::String(v.to_string())),
                _ => a.master_user = s(),
            }
        }
        a.origin = Some((shown.to_string(), *line));
        out.push(a);
    }
    Ok(out)
}

/// A CSV row: its first line and its fields.
pub(super) type CsvRow = (usize, Vec<String>);

/// Splits CSV text (RFC 4180: `"` quotes, `""` inside quotes) into rows
/// with their first line; blank lines and lines starting with `#` are
/// skipped. An error says the line and what is wrong.
pub(super) fn csv_rows(text: &str) -> Result<Vec<CsvRow>, (usize, String)> {
    let mut rows = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let start = line;
        if matches!(chars.peek(), Some('#') | Some('\n') | Some('\r')) {
            for c in chars.by_ref() {
                if c == '\n' {
                    line += 1;
                    break;
                }
            }
            continue;
        }
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        loop {
            match (chars.next(), quoted) {
                (None, true) => return Err((start, "a quoted field is never closed".into())),
                (None, false) => break,
                (Some('"'), true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (Some('"'), true) => quoted = false,
                (Some('"'), false) if field.trim().is_empty() => {
                    field.clear();
                    quoted = true;
                }
                (Some(','), false) => row.push(std::mem::take(&mut field)),
                (Some('\r'), false) => {}
                (Some('\n'), false) => {
                    line += 1;
                    break;
                }
                (Some(c), _) => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
        }
        row.push(field);
        rows.push((start, row));
    }
    Ok(rows)
}

/// No two accounts with one name and, where `[server]` or an
/// accounts_file is used (IT's many mailboxes), no mailbox (server and
/// user) twice: two workers on one mailbox would only wait for each other.
/// (Plain `[[account]]` tables may still give one mailbox two names.) The
/// error names both places.
pub(super) fn check_duplicates(
    ctx: &Ctx,
    accounts: &[AccountConfig],
    fleet: bool,
) -> Result<(), ConfigError> {
    let mut names: HashMap<&str, &AccountConfig> = HashMap::new();
    let mut users: HashMap<(String, u16, String), &AccountConfig> = HashMap::new();
    for (i, a) in accounts.iter().enumerate() {
        if let Some(first) = names.insert(&a.name, a) {
            return Err(ctx.err(
                format!("account[{i}].name"),
                format!(
                    "{:?} is defined twice, at {} and at {}; give each account its own name \
                     (it is what --account selects)",
                    a.name, first.origin, a.origin
                ),
            ));
        }
        let key = (a.host.to_lowercase(), a.port, a.user.to_lowercase());
        if let (true, Some(first)) = (fleet, users.insert(key, a)) {
            return Err(ctx.err(
                format!("account[{i}].user"),
                format!(
                    "mailbox {:?} on {} is configured twice, as account {:?} at {} and as {:?} \
                     at {}; keep one",
                    a.user, a.host, first.name, first.origin, a.name, a.origin
                ),
            ));
        }
    }
    Ok(())
}

/// `config.toml line 12`.
pub(super) fn origin(file: &Path, line: usize) -> String {
    format!("{} line {line}", file.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_csv_rows_quotes_comments_and_lines() {
        let text = "name,user\n# a comment\n\nalice,\"a,\"\"b\"\"\"\r\nbob,\"two\nlines\"\ncarol,c";
        let rows = csv_rows(text).expect("valid");
        assert_eq!(rows[0], (1, vec!["name".into(), "user".into()]));
        assert_eq!(rows[1], (4, vec!["alice".into(), "a,\"b\"".into()]));
        assert_eq!(rows[2], (5, vec!["bob".into(), "two\nlines".into()]));
        assert_eq!(rows[3], (7, vec!["carol".into(), "c".into()]));
        assert_eq!(csv_rows("a,\"b\n").expect_err("open").0, 1);
    }

    const FLEET: &str = r#"
[store]
url = "store"
[server]
host = "127.0.0.1"
tls = "none"
port = 1143
auth = "master"
master_user = "admin"
password_env = "MASTER_PW"
max_connections = 4

[[account]]
name = "odd"
user = "odd"
auth = "password"
password = "wrong"
"#;

    fn parse_in(dir: &Path, config: &str, csv: &str) -> Result<crate::config::Config, String> {
        std::fs::write(dir.join("people.csv"), csv).expect("csv");
        let path = dir.join("fleet.toml");
        crate::config::parse(config, Some(&path)).map_err(|e| e.to_string())
    }

    #[test]
    fn issue13_server_template_and_accounts_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = "name,user,folders,min_size,older_than\nalice,alice,,,\nbob,bob,INBOX;Archive/*,5MiB,30d\n";
        // accounts_file is a top-level key: before [server] in the text.
        let text = format!("accounts_file = \"people.csv\"\n{FLEET}");
        let c = parse_in(dir.path(), &text, csv).expect("valid");
        let names: Vec<&str> = c.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["odd", "alice", "bob"]);
        let odd = &c.accounts[0];
        assert_eq!(odd.auth, AuthSetting::Password);
        assert_eq!((odd.master_user.as_deref(), odd.port), (None, 1143));
        assert!(odd.origin.ends_with("fleet.toml line 15"), "{}", odd.origin);
        let alice = &c.accounts[1];
        assert_eq!(alice.auth, AuthSetting::Master);
        assert_eq!(alice.login_name(), "alice*admin");
        assert_eq!(
            (alice.max_connections, alice.host.as_str()),
            (4, "127.0.0.1")
        );
        assert!(
            alice.origin.ends_with("people.csv line 2"),
            "{}",
            alice.origin
        );
        let bob = &c.accounts[2];
        assert_eq!(bob.overrides.min_size, Some(5 * 1024 * 1024));
        assert_eq!(
            bob.overrides.folders.as_deref(),
            Some(&["INBOX".to_string(), "Archive/*".to_string()][..])
        );
        assert_eq!(
            bob.overrides.older_than,
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(alice.overrides, PolicyOverrides::default());
    }

    #[test]
    fn issue25_quota_target_and_quota_per_mailbox_in_the_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("accounts_file = \"people.csv\"\n{FLEET}");
        let csv = "name,user,quota_target,quota\nalice,alice,75%,50GB\nbob,bob,,\n";
        let c = parse_in(dir.path(), &text, csv).expect("valid");
        let alice = &c.accounts[1].overrides;
        assert_eq!(
            (alice.quota_target, alice.quota),
            (Some(75), Some(50_000_000_000))
        );
        assert_eq!(c.accounts[2].overrides, PolicyOverrides::default());
        let e = parse_in(dir.path(), &text, "name,user,quota_target\na,u,75\n").expect_err("%");
        assert!(
            e.contains("quota_target") && e.contains("people.csv line 2"),
            "{e}"
        );
    }

    #[test]
    fn issue13_duplicates_and_bad_rows_name_their_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("accounts_file = \"people.csv\"\n{FLEET}");
        let e = parse_in(dir.path(), &text, "name,user\nodd,x\n").expect_err("dup name");
        assert!(
            e.contains("fleet.toml line 15") && e.contains("people.csv line 2"),
            "{e}"
        );
        let e = parse_in(dir.path(), &text, "name,user\na,u\n\nb,U\n").expect_err("dup user");
        assert!(
            e.contains("people.csv line 2") && e.contains("people.csv line 4"),
            "{e}"
        );
        let e = parse_in(dir.path(), &text, "name,mailbox\na,u\n").expect_err("column");
        assert!(e.contains("mailbox") && e.contains("line 1"), "{e}");
        let e = parse_in(dir.path(), &text, "name,user,min_size\na,u,huge\n").expect_err("size");
        assert!(
            e.contains("min_size") && e.contains("people.csv line 2"),
            "{e}"
        );
        let e = parse_in(
            dir.path(),
            &text.replace("master_user = \"admin\"\n", ""),
            "name,user\na,u\n",
        )
        .expect_err("no master");
        assert!(e.contains("master_user"), "{e}");
        let e =
            parse_in(dir.path(), &text.replace("= 4", "= 0"), "name,user\na,u\n").expect_err("max");
        assert!(e.contains("max_connections"), "{e}");
    }

    #[test]
    fn issue13_server_oauth_app_only_serves_every_account() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = r#"
accounts_file = "people.csv"
[store]
url = "store"
[server]
provider = "microsoft365"
auth = "xoauth2"
[server.oauth]
app_only = true
client_id = "app"
client_secret_env = "APP_SECRET"
tenant = "contoso.onmicrosoft.com"
"#;
        let c = parse_in(
            dir.path(),
            text,
            "name,user\na,a@contoso.com\nb,b@contoso.com\n",
        )
        .expect("valid");
        assert_eq!(c.accounts.len(), 2);
        for a in &c.accounts {
            let o = a.oauth.as_ref().expect("oauth from [server]");
            assert!(o.app_only && o.tenant == "contoso.onmicrosoft.com", "{o:?}");
            assert_eq!(a.auth, AuthSetting::XOAuth2);
        }
    }

    #[test]
    fn issue13_line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
