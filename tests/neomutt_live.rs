//! issue 19 in neomutt: Debian's neomutt in a tmux window 80 columns wide
//! (then 150), reading alice's Sent over IMAP from the test Dovecot after
//! `slimbox run` converted a report with a PDF and a scan that is only a
//! PDF (signed http links to a running `slimbox serve`). The open message is read screen by screen
//! with `tmux capture-pane -p` (no `-J`: a line neomutt wrapped must show
//! as wrapped): the note's text is shown (not "text/html is unsupported")
//! and every link of the note stands whole on one screen line. Its
//! attachment menu lists the stub as a text/plain (never as the PDF), and
//! saving it proposes `<name>.detached.txt`. The report's first screen at
//! 80 columns is rendered to docs/neomutt.png.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::clients::{self, Converted, Mail};

const ROWS: u16 = 40;

/// A private tmux server (its own socket, no user config) running one
/// command in a window of a fixed size; killed when dropped.
struct Tmux {
    sock: PathBuf,
    /// The command's process: a neomutt left at a prompt outlives
    /// `kill-server`'s SIGHUP, so dropping kills it by this id too.
    pane_pid: Option<u32>,
}

impl Tmux {
    fn start(dir: &Path, cols: u16, cmd: &[&str]) -> Tmux {
        let sock = dir.join(format!("tmux-{cols}.sock"));
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "slimbox"])
            .args(["-x", &cols.to_string(), "-y", &ROWS.to_string(), "--"])
            .args(cmd)
            .env("HOME", dir)
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("TMUX")
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut t = Tmux {
            sock,
            pane_pid: None,
        };
        let pid = t
            .tmux()
            .args(["display-message", "-p", "-t", "slimbox", "#{pane_pid}"])
            .output()
            .expect("tmux display-message");
        t.pane_pid = String::from_utf8_lossy(&pid.stdout).trim().parse().ok();
        t
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.sock);
        c
    }

    /// The screen, one string a row, as drawn (wrapped rows stay apart).
    fn screen(&self) -> Vec<String> {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "slimbox"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Types `text` as it is (no key names).
    fn type_text(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "slimbox", "-l", text])
            .status()
            .expect("tmux send-keys");
        assert!(ok.success(), "tmux send-keys -l {text}");
    }

    fn keys(&self, keys: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "slimbox", keys])
            .status()
            .expect("tmux send-keys");
        assert!(ok.success(), "tmux send-keys {keys}");
    }

    /// Waits (at most 20 s) for a screen that satisfies `done`.
    fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "neomutt never showed {what}; the screen:\n{}",
                s.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
        if let Some(pid) = self.pane_pid {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// A muttrc for alice's Sent over plain IMAP on loopback, nothing else:
/// Debian's header list, no mailcap (so no html viewer), no caches.
fn muttrc(c: &Converted, dir: &Path) -> PathBuf {
    let mailcap = dir.join("mailcap");
    std::fs::write(&mailcap, "").expect("mailcap");
    let text = format!(
        "set folder=\"imap://alice@127.0.0.1:{port}/\"\n\
         set spoolfile=\"+Sent\"\n\
         set imap_user=alice\nset imap_pass=alicepw\n\
         set ssl_starttls=no\nset ssl_force_tls=no\n\
         set mailcap_path=\"{mailcap}\"\n\
         set tmpdir=\"{dir}\"\n\
         set wait_key=no\nset sort=date\nset pager_stop=yes\n\
         ignore *\nunignore from: date subject to cc\n",
        port = c.d.imap_port,
        mailcap = mailcap.display(),
        dir = dir.display(),
    );
    let p = dir.join("muttrc");
    std::fs::write(&p, text).expect("muttrc");
    p
}

/// Is this the pager's last screen? Its status line says `(all)` or `(end)`.
fn at_end(screen: &[String]) -> bool {
    screen
        .iter()
        .any(|l| l.contains("-- (all)") || l.contains("-- (end)"))
}

/// The pager's text rows: without the help line above and the status and
/// message lines below.
fn body(screen: &[String]) -> &[String] {
    screen
        .get(1..screen.len().saturating_sub(2))
        .unwrap_or_default()
}

/// What neomutt showed of the report.
struct Read {
    /// Every screen of the open message, top to bottom.
    pages: Vec<Vec<String>>,
    /// Its attachment menu.
    entries: Vec<String>,
    /// The file name neomutt proposes to save the last entry (the stub) as.
    save_as: String,
}

/// Opens message `m` in neomutt at `cols` columns (found in the index by
/// a search for its subject) and reads it.
fn read_message(c: &Converted, m: &Mail, dir: &Path, cols: u16) -> Read {
    let rc = muttrc(c, dir);
    let rc = rc.to_str().expect("utf-8 path");
    let t = Tmux::start(dir, cols, &["neomutt", "-n", "-F", rc]);
    t.wait_for("the Sent folder's index", |s| {
        s.iter().any(|l| l.contains(m.subject))
    });
    t.keys("/");
    t.type_text(m.subject);
    t.keys("Enter");
    t.keys("Enter");
    let subject = format!("Subject: {}", m.subject);
    let mut screen = t.wait_for("the open message", |s| {
        s.iter().any(|l| l.starts_with(&subject))
    });
    let mut pages = vec![screen.clone()];
    while !at_end(&screen) {
        assert!(
            pages.len() < 20,
            "more than 20 screens; the last:\n{}",
            screen.join("\n")
        );
        t.keys("Space");
        let before = screen.clone();
        // On the last screen neomutt only says so on its message line.
        screen = t.wait_for("the next screen", |s| s != before.as_slice());
        if body(&screen) == body(&before) {
            break;
        }
        pages.push(screen.clone());
    }
    // The attachment menu ('v'): the entries neomutt lists for the message.
    t.keys("v");
    let entries = t.wait_for("the attachment menu", |s| {
        // Its help line (the pager's has no Pipe).
        s.first().is_some_and(|l| l.contains("|:Pipe"))
    });
    // Saving the last entry (the stub): the name neomutt proposes.
    t.keys("*");
    t.keys("s");
    let prompt = t.wait_for("the save prompt", |s| {
        s.last().is_some_and(|l| l.starts_with("Save to file:"))
    });
    // It proposes the name in the current directory (`./NAME`).
    let save_as = prompt.last().map(|l| {
        let name = l["Save to file:".len()..].trim();
        name.strip_prefix("./").unwrap_or(name).to_string()
    });
    t.keys("C-g");
    t.keys("q");
    t.keys("q");
    t.keys("q");
    Read {
        pages,
        entries,
        save_as: save_as.unwrap_or_default(),
    }
}

/// Renders a screen to a PNG with ImageMagick, one `-annotate` a row in
/// DejaVu Sans Mono (`%` and `\` are ImageMagick's escapes there, a
/// leading `@` would read a file). Its `label:` coder fails on a screenful.
fn render_png(screen: &[String], cols: u16, png: &Path) {
    const CHAR_W: usize = 9;
    const LINE_H: usize = 18;
    let size = format!(
        "{}x{}",
        cols as usize * CHAR_W + 24,
        screen.len() * LINE_H + 24
    );
    let mut c = Command::new("convert");
    c.args(["-size", &size, "xc:#101418", "-fill", "#e8e8e8"])
        .args([
            "-font",
            "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
        ])
        .args(["-pointsize", "15"]);
    for (i, line) in screen.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // ImageMagick drops leading spaces; no-break spaces keep the indent.
        let indent = line.len() - line.trim_start_matches(' ').len();
        let line = format!("{}{}", "\u{a0}".repeat(indent), &line[indent..]);
        let text = line.replace('\\', "\\\\").replace('%', "%%");
        let text = match text.strip_prefix('@') {
            Some(rest) => format!("\\@{rest}"),
            None => text,
        };
        c.arg("-annotate")
            .arg(format!("+12+{}", 12 + 14 + i * LINE_H))
            .arg(text);
    }
    let out = c.arg(png).output().expect("run ImageMagick's convert");
    assert!(
        out.status.success(),
        "convert failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What neomutt lists for `m`: the stub as the small text it is, saved
/// under `<name>.detached.txt`, never as the PDF.
fn assert_entries_honest(m: &Mail, read: &Read, cols: u16) {
    let menu = read.entries.join("\n");
    eprintln!("neomutt's attachment menu at {cols} columns:\n{menu}");
    assert_eq!(
        read.save_as,
        format!("{}.detached.txt", m.name),
        "{cols} columns: saving the stub"
    );
    let rows: Vec<&String> = read.entries.iter().filter(|l| l.contains(m.name)).collect();
    assert!(
        !rows.is_empty(),
        "{cols} columns: the stub is listed:\n{menu}"
    );
    for row in rows {
        assert!(
            row.contains("[text/plain") && !row.contains("application/pdf"),
            "{cols} columns: an entry for {} that is not plainly a text: {row}",
            m.name
        );
    }
}

/// What neomutt shows of `m`: the note's text (not "unsupported"), the
/// file's name, and each of the note's links whole within one screen row.
fn assert_note_shown(m: &Mail, read: &Read, cols: u16) {
    let links = clients::note_links(&m.raw);
    let note = clients::note_plain(&m.raw).expect("the note's text");
    // The start of its first line: a long line may wrap, its first 40
    // characters not.
    let first_line: String = note
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .expect("the note says something")
        .chars()
        .take(40)
        .collect();
    let all: Vec<&String> = read.pages.iter().flatten().collect();
    let shown = read
        .pages
        .iter()
        .map(|p| p.join("\n"))
        .collect::<Vec<_>>()
        .join("\n----- next screen -----\n");
    eprintln!("neomutt at {cols} columns:\n{shown}");
    let on_screen = |text: &str| all.iter().any(|l| l.contains(text));
    assert!(
        !on_screen("unsupported"),
        "{cols} columns: a part neomutt cannot show:\n{shown}"
    );
    assert!(
        on_screen(&first_line),
        "{cols} columns: the note's text ({first_line:?}) is shown:\n{shown}"
    );
    assert!(
        on_screen(m.name),
        "{cols} columns: the note names the file:\n{shown}"
    );
    for link in &links {
        assert!(
            on_screen(link),
            "{cols} columns: {link} ({} characters) is not whole on one line:\n{shown}",
            link.len()
        );
    }
}

#[test]
fn issue19_neomutt_shows_the_note_with_each_link_whole_on_one_line() {
    if !clients::require("neomutt-harness") {
        return;
    }
    let c = clients::converted_report();
    for cols in [80u16, 150] {
        for (i, m) in c.mails.iter().enumerate() {
            let dir = tempfile::tempdir().expect("tempdir");
            let read = read_message(&c, m, dir.path(), cols);
            if cols == 80 && i == 0 {
                render_png(&read.pages[0], cols, &clients::docs_png("neomutt.png"));
            }
            assert_note_shown(m, &read, cols);
            assert_entries_honest(m, &read, cols);
        }
    }
}
