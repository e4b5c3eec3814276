//! The owner report as a message: plain text, short, in the owner's terms.

use lettre::message::{header::ContentType, Mailbox};
use lettre::Message;

use super::NotifyError;
use crate::dates;
use crate::index::PartRow;
use crate::units::human_size;

/// At most this many files are listed one by one; the rest are counted, so
/// a first run over years of mail still gives a message one can read.
const LISTED: usize = 40;

/// How the owner gets files back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WayBack {
    /// Their self-service page (`slimbox serve` with `[links] base_url`).
    Page(String),
    /// No page: the commands IT (or they) run, for this account.
    Commands { account: String },
}

/// Everything one report says.
#[derive(Debug, Clone)]
pub struct OwnerReport<'a> {
    /// The owner's address (`To`).
    pub to: &'a str,
    /// `From`; the owner's own address when the config names none.
    pub from: &'a str,
    /// What this run moved, newest first (`Index::find_parts`).
    pub moved: &'a [PartRow],
    /// Bytes the mailbox shrank by in this run.
    pub saved: u64,
    pub way_back: &'a WayBack,
    /// Unix seconds: the report's date.
    pub now: i64,
    /// With a `quota_target`: where the mailbox ended against it.
    pub target: Option<&'a crate::pipeline::target::TargetEnd>,
}

/// The report as RFC 5322 bytes, ready to APPEND.
pub fn compose(r: &OwnerReport) -> Result<Vec<u8>, NotifyError> {
    let mailbox = |a: &str| {
        a.parse::<Mailbox>().map_err(|_| NotifyError::Address {
            address: a.to_string(),
        })
    };
    let to = mailbox(r.to)?;
    let mut from = mailbox(r.from)?;
    if from.name.is_none() {
        from.name = Some("slimbox".to_string());
    }
    let date = std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.now.max(0) as u64);
    let text = body(r, to.email.as_ref());
    // A Message-ID of its own, as every message should have (clients thread
    // and deduplicate by it); derived from the content, so composing stays pure.
    let digest = hex::encode(&crate::store::sha256(text.as_bytes())[..8]);
    let id = format!(
        "<slimbox-report.{}.{digest}@{}>",
        r.now,
        from.email.domain()
    );
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject(r))
        .date(date)
        .message_id(Some(id))
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|e| NotifyError::Build(e.to_string()))?;
    // RFC 3834: no vacation responder answers a machine's report.
    let mut bytes = b"Auto-Submitted: auto-generated\r\n".to_vec();
    bytes.extend_from_slice(&message.formatted());
    Ok(bytes)
}

fn files(n: usize) -> String {
    if n == 1 {
        "1 attachment".to_string()
    } else {
        format!("{n} attachments")
    }
}

fn subject(r: &OwnerReport) -> String {
    format!(
        "Your mailbox is {} smaller: {} moved to file storage",
        human_size(r.saved),
        files(r.moved.len())
    )
}

fn body(r: &OwnerReport, mailbox: &str) -> String {
    let mut t = format!(
        "Hello,\n\n\
         to keep your mailbox {} under its quota, slimbox moved {}\n\
         out of your messages into file storage. Your mailbox is {} smaller.\n\n\
         Nothing is lost. Each message is still there, with a link in place of each\n\
         file, and every file can be had back exactly as it was, at any time.\n\n\
         What moved, newest first:\n\n",
        mailbox,
        files(r.moved.len()),
        human_size(r.saved),
    );
    // Issue 25: where the mailbox ended against its quota target.
    if let Some((goal, after)) = r.target.and_then(|g| Some((g, g.usage_after_bytes?))) {
        t.push_str(&format!(
            "It now uses {} of its {} quota ({}%); the aim is {}% or less.\n\n",
            human_size(after),
            human_size(goal.limit_bytes),
            after.saturating_mul(100) / goal.limit_bytes.max(1),
            goal.target_percent,
        ));
    }
    for p in r.moved.iter().take(LISTED) {
        t.push_str(&line(p));
    }
    if r.moved.len() > LISTED {
        t.push_str(&format!("  ... and {} more\n", r.moved.len() - LISTED));
    }
    t.push_str("\nTo get a file back:\n\n");
    t.push_str(&way_back(r.way_back));
    t.push_str("\n-- \nslimbox, on behalf of your mail administrator\n");
    t
}

/// One file: date, size, name, then the message it came from.
fn line(p: &PartRow) -> String {
    let day = p
        .date
        .map_or_else(|| "----------".to_string(), dates::format_day);
    let subject = p.subject.as_deref().unwrap_or("(no subject)");
    format!(
        "  {day}  {:>10}  {}\n              from \"{}\" in {}\n",
        human_size(p.size),
        one_line(&p.filename),
        one_line(subject),
        one_line(&p.folder)
    )
}

fn way_back(w: &WayBack) -> String {
    match w {
        WayBack::Page(url) => format!(
            "  - click the link in the message where the file was, or\n\
             \x20 - open your page, where you can search your files, download them and put\n\
             \x20   a whole message back into your mailbox:\n\n\
             \x20   {url}\n"
        ),
        WayBack::Commands { account } => {
            let account = shell_word(account);
            format!(
                "  - click the link in the message where the file was, or\n\
             \x20 - ask your mail administrator, who can run\n\
             \x20     slimbox restore --account {account} --name \"FILE NAME\" --to FOLDER\n\
             \x20   for a file, or\n\
             \x20     slimbox reattach --message-id ID\n\
             \x20   to put a whole message back into your mailbox as it was.\n"
            )
        }
    }
}

/// An account name as one shell word, quoted only when it must be.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._-+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Names and subjects come from mail: no line breaks or control characters
/// may reach the report, and a bidirectional override or other invisible
/// format character is written out (`[U+202E]`), never obeyed.
fn one_line(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::mime::display::shown(&spaced)
}

#[cfg(test)]
mod tests;
