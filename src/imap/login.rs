//! Logging in on a connected [`Session`]: LOGIN, AUTHENTICATE PLAIN
//! (also as a master user acting for the mailbox), or a bearer token
//! (`oauth`); a refusal told apart from throttling or unavailability.

use super::command::Command;
use super::conn::{login_refusal, Completion};
use super::oauth::{authenticate, Credentials, Target};
use super::{ImapConfig, ImapError, Session};

impl Session {
    pub(super) async fn log_in(
        &mut self,
        cfg: &ImapConfig,
        creds: Credentials<'_>,
    ) -> Result<(), ImapError> {
        match creds {
            Credentials::Password(password) => self.login(&cfg.user, password).await,
            Credentials::PlainAs { authcid, password } => {
                let cmd = self.plain(&cfg.user, authcid, password)?;
                self.finish_login(cmd, authcid).await
            }
            Credentials::Token {
                mechanism,
                tokens,
                token,
            } => {
                let target = Target {
                    host: &cfg.host,
                    port: cfg.port,
                    user: &cfg.user,
                };
                authenticate(&mut self.conn, &target, mechanism, tokens, token).await
            }
        }
    }

    async fn login(&mut self, user: &str, password: &str) -> Result<(), ImapError> {
        let cmd = if self.conn.has("LOGINDISABLED") {
            self.plain("", user, password)?
        } else {
            // The label keeps the credentials out of logs and errors.
            let mut c = Command::new("LOGIN")
                .raw(" ")
                .string(user)
                .raw(" ")
                .string(password);
            c.label = "LOGIN".into();
            c
        };
        self.finish_login(cmd, user).await
    }

    /// AUTHENTICATE PLAIN (RFC 4616): `authzid` (empty: the same as
    /// `authcid`) is the mailbox, `authcid` who logs in with `password`.
    fn plain<'a>(
        &self,
        authzid: &str,
        authcid: &str,
        password: &str,
    ) -> Result<Command<'a>, ImapError> {
        if !self.conn.has("AUTH=PLAIN") {
            return Err(ImapError::Auth {
                user: authcid.to_string(),
                text: if self.conn.has("LOGINDISABLED") {
                    "the server disables LOGIN and offers no AUTH=PLAIN".into()
                } else {
                    "the server offers no AUTH=PLAIN; use auth = \"master\" instead".into()
                },
            });
        }
        if [authzid, authcid, password]
            .iter()
            .any(|s| s.contains('\0'))
        {
            return Err(ImapError::Config(
                "user name or password contains a NUL character".into(),
            ));
        }
        let b64 =
            base64_simd::STANDARD.encode_to_string(format!("{authzid}\0{authcid}\0{password}"));
        Ok(if self.conn.has("SASL-IR") {
            // The label (from `new`) does not include the credentials.
            Command::new("AUTHENTICATE PLAIN").raw(" ").raw(&b64)
        } else {
            Command::new("AUTHENTICATE PLAIN").continuation(b64)
        })
    }

    /// Sends a LOGIN or AUTHENTICATE PLAIN and reads its answer: a
    /// throttling or unavailability code is told apart from a refusal.
    async fn finish_login(&mut self, cmd: Command<'_>, user: &str) -> Result<(), ImapError> {
        // Forget the pre-login list: the server announces a new one with the
        // completion (Dovecot does), or we ask below.
        let before = std::mem::take(&mut self.conn.caps);
        let done = self.conn.run(cmd, |_| {}).await?;
        match done.completion {
            Completion::Ok => {}
            _ => {
                self.conn.caps = before;
                return Err(login_refusal(user, done.text));
            }
        }
        if self.conn.caps.is_empty() {
            self.conn.refresh_capabilities().await?;
        }
        Ok(())
    }
}
