//! A raw IMAP connection that logs in with SASL XOAUTH2 or OAUTHBEARER
//! (RFC 7628), for tests that check tokens against Dovecot without going
//! through slimbox's own IMAP client. Plain TCP to the harness's plain port
//! (Dovecot there allows logins without TLS).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The XOAUTH2 initial response, base64: `user=U^Aauth=Bearer T^A^A`.
pub fn xoauth2(user: &str, token: &str) -> String {
    let raw = format!("user={user}\x01auth=Bearer {token}\x01\x01");
    base64_simd::STANDARD.encode_to_string(raw.as_bytes())
}

/// The OAUTHBEARER initial response, base64: `n,a=U,^Aauth=Bearer T^A^A`.
pub fn oauthbearer(user: &str, token: &str) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    let raw = format!("n,a={user},\x01auth=Bearer {token}\x01\x01");
    base64_simd::STANDARD.encode_to_string(raw.as_bytes())
}

/// What an AUTHENTICATE came to.
#[derive(Debug, Clone)]
pub struct AuthOutcome {
    /// The tagged answer was OK.
    pub ok: bool,
    /// The tagged line, e.g. `a1 NO [AUTHENTICATIONFAILED] Authentication failed.`
    pub tagged: String,
    /// The server's error challenge (`+ base64`), decoded: Dovecot sends JSON
    /// such as `{"status":"401","schemes":"bearer","scope":"mail",...}` for
    /// XOAUTH2 or `{"status":"invalid_token",...}` for OAUTHBEARER, and the
    /// client answers it with an empty line.
    pub challenge: Option<String>,
}

/// One IMAP connection, line based (no literals in answers).
pub struct RawImap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
    /// The greeting line.
    pub greeting: String,
}

impl RawImap {
    /// Connects to 127.0.0.1:`port` and reads the greeting.
    pub fn connect(port: u16) -> RawImap {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to IMAP on 127.0.0.1:{port}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set timeout");
        let writer = stream.try_clone().expect("clone the socket");
        let mut imap = RawImap {
            reader: BufReader::new(stream),
            writer,
            next_tag: 1,
            greeting: String::new(),
        };
        imap.greeting = imap.read_line();
        imap
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("read from the IMAP server");
        assert!(n > 0, "the IMAP server closed the connection");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write to the IMAP server");
    }

    fn tag(&mut self) -> String {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// `AUTHENTICATE MECH`, with the initial response on the same line
    /// (SASL-IR) or after the server's empty `+` when `sasl_ir` is false.
    pub fn authenticate(&mut self, mechanism: &str, initial: &str, sasl_ir: bool) -> AuthOutcome {
        let tag = self.tag();
        if sasl_ir {
            self.send(&format!("{tag} AUTHENTICATE {mechanism} {initial}"));
        } else {
            self.send(&format!("{tag} AUTHENTICATE {mechanism}"));
            let go = self.read_line();
            assert!(go.starts_with('+'), "expected a continuation, got {go:?}");
            self.send(initial);
        }
        let mut challenge = None;
        loop {
            let line = self.read_line();
            if let Some(b64) = line.strip_prefix("+ ").or(line.strip_prefix("+")) {
                let raw = base64_simd::STANDARD
                    .decode_to_vec(b64.trim().as_bytes())
                    .unwrap_or_default();
                challenge = Some(String::from_utf8_lossy(&raw).into_owned());
                // The client's answer to an error challenge is an empty response.
                self.send("");
            } else if line.starts_with(&format!("{tag} ")) {
                let ok = line.split(' ').nth(1) == Some("OK");
                return AuthOutcome {
                    ok,
                    tagged: line,
                    challenge,
                };
            }
        }
    }

    /// Sends a command; returns (untagged lines, tagged line). Panics unless OK.
    pub fn command_ok(&mut self, command: &str) -> (Vec<String>, String) {
        let (untagged, tagged) = self.command(command);
        assert_eq!(tagged.split(' ').nth(1), Some("OK"), "{command}: {tagged}");
        (untagged, tagged)
    }

    /// Sends a command; returns (untagged lines, tagged line).
    pub fn command(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = self.tag();
        self.send(&format!("{tag} {command}"));
        let mut untagged = Vec::new();
        loop {
            let line = self.read_line();
            if line.starts_with(&format!("{tag} ")) {
                return (untagged, line);
            }
            untagged.push(line);
        }
    }

    /// `APPEND mailbox {n}` with the message as a synchronizing literal;
    /// returns the tagged line (the server may refuse before the literal).
    pub fn append(&mut self, mailbox: &str, message: &[u8]) -> String {
        let tag = self.tag();
        self.send(&format!("{tag} APPEND \"{mailbox}\" {{{}}}", message.len()));
        let go = self.read_line();
        if !go.starts_with('+') {
            return go;
        }
        self.writer.write_all(message).expect("write the literal");
        self.send("");
        loop {
            let line = self.read_line();
            if line.starts_with(&format!("{tag} ")) {
                return line;
            }
        }
    }

    /// The capabilities from `CAPABILITY`, upper case.
    pub fn capabilities(&mut self) -> Vec<String> {
        let (untagged, _) = self.command_ok("CAPABILITY");
        untagged
            .iter()
            .filter_map(|l| l.strip_prefix("* CAPABILITY "))
            .flat_map(|l| l.split(' ').map(|c| c.to_ascii_uppercase()))
            .collect()
    }
}

/// Connects to `port` and authenticates `user` with `token` by `mechanism`
/// ("XOAUTH2" or "OAUTHBEARER"), SASL-IR.
pub fn login(port: u16, mechanism: &str, user: &str, token: &str) -> (RawImap, AuthOutcome) {
    let initial = match mechanism {
        "XOAUTH2" => xoauth2(user, token),
        "OAUTHBEARER" => oauthbearer(user, token),
        other => panic!("no such SASL mechanism here: {other}"),
    };
    let mut imap = RawImap::connect(port);
    let outcome = imap.authenticate(mechanism, &initial, true);
    (imap, outcome)
}
