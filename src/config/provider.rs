//! `provider = "gmail" | "microsoft365" | "outlook.com" | "generic"`: presets
//! for the big mail providers, as data.
//!
//! A preset only fills in what an account did not say: the server's host,
//! port and TLS, the sign-in method to use by default, and the names of
//! the folders the server does not mark with SPECIAL-USE (RFC 6154). It
//! never decides how slimbox behaves on the server: that follows the
//! server's capabilities (Gmail's rules follow `X-GM-EXT-1`, a size limit
//! follows `APPENDLIMIT`), so a preset that is wrong or missing costs a
//! line of config, never a message. The one exception is a note for the
//! user: Microsoft's mailboxes keep deleted mail out of sight for weeks
//! (see [`keeps_deleted_mail`]), which no capability tells.

use serde::Deserialize;

use super::TlsSetting;

/// Which provider an account is with (`provider = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Provider {
    /// Any IMAP server: no preset, nothing filled in.
    #[default]
    #[serde(rename = "generic")]
    Generic,
    /// Gmail and Google Workspace.
    #[serde(rename = "gmail")]
    Gmail,
    /// Microsoft 365 / Exchange Online.
    #[serde(rename = "microsoft365")]
    Microsoft365,
    /// Outlook.com (Hotmail, Live): the same servers as Microsoft 365.
    #[serde(rename = "outlook.com")]
    OutlookCom,
}

/// How a preset signs in by default, until the account says otherwise.
/// Kept as data here; the account's `auth` key chooses the real method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetAuth {
    /// LOGIN with a password (or an app password).
    Password,
    /// SASL XOAUTH2 with an OAuth2 access token: Microsoft accepts nothing
    /// else, and Google only app passwords besides.
    Xoauth2,
}

impl PresetAuth {
    /// The value of the `auth` key that means the same.
    pub fn as_str(self) -> &'static str {
        match self {
            PresetAuth::Password => "password",
            PresetAuth::Xoauth2 => "xoauth2",
        }
    }
}

/// Microsoft's IMAP server, for Microsoft 365 and Outlook.com alike.
pub const MICROSOFT_HOST: &str = "outlook.office365.com";

impl Provider {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Generic => "generic",
            Provider::Gmail => "gmail",
            Provider::Microsoft365 => "microsoft365",
            Provider::OutlookCom => "outlook.com",
        }
    }

    /// The IMAP server to use when the account names none.
    pub fn host(self) -> Option<&'static str> {
        match self {
            Provider::Generic => None,
            Provider::Gmail => Some("imap.gmail.com"),
            Provider::Microsoft365 | Provider::OutlookCom => Some(MICROSOFT_HOST),
        }
    }

    /// The TLS mode when the account sets none: every preset uses
    /// implicit TLS (IMAPS), which is also slimbox's own default.
    pub fn tls(self) -> TlsSetting {
        TlsSetting::Implicit
    }

    /// The port when the account sets none: the usual one for `tls`
    /// (993 for the presets' implicit TLS).
    pub fn port(self, tls: TlsSetting) -> u16 {
        tls.default_port()
    }

    /// The sign-in method when the account sets none.
    pub fn default_auth(self) -> PresetAuth {
        match self {
            Provider::Generic => PresetAuth::Password,
            Provider::Gmail | Provider::Microsoft365 | Provider::OutlookCom => PresetAuth::Xoauth2,
        }
    }

    /// Whether this is one of Microsoft's services.
    pub fn is_microsoft(self) -> bool {
        matches!(self, Provider::Microsoft365 | Provider::OutlookCom)
    }

    /// The folder names that stand for special use `special` (`"\\Sent"`)
    /// on a server that marks no folder with it, most likely first: this
    /// provider's own names, then the common English ones every provider
    /// may have. Empty for uses slimbox never looks up by name.
    pub fn folder_names(self, special: &str) -> Vec<&'static str> {
        // Microsoft announces no SPECIAL-USE at all: its folders are
        // "Sent Items", "Archive" and "Deleted Items" in English mailboxes.
        // Gmail marks its folders, but an old client setting can hide the
        // marks; its English names come first there.
        let own: &[&str] = match (self, special.to_ascii_lowercase().as_str()) {
            (Provider::Gmail, "\\sent") => &["[Gmail]/Sent Mail", "[Google Mail]/Sent Mail"],
            (Provider::Gmail, "\\trash") => &["[Gmail]/Trash", "[Google Mail]/Bin"],
            (p, "\\sent") if p.is_microsoft() => &["Sent Items"],
            (p, "\\archive") if p.is_microsoft() => &["Archive"],
            (p, "\\trash") if p.is_microsoft() => &["Deleted Items"],
            _ => &[],
        };
        let common: &[&str] = match special.to_ascii_lowercase().as_str() {
            "\\sent" => &["Sent", "Sent Items", "Sent Messages", "Sent Mail"],
            "\\archive" => &["Archive", "Archives"],
            "\\trash" => &["Trash", "Deleted Items", "Deleted Messages"],
            _ => &[],
        };
        let mut out: Vec<&'static str> = Vec::new();
        for n in own.iter().chain(common) {
            if !out.contains(n) {
                out.push(n);
            }
        }
        out
    }
}

/// Whether an account's mailbox keeps deleted mail out of sight for weeks
/// before it frees the space: Microsoft 365 and Outlook.com move what an
/// IMAP client expunges to "Recoverable Items" for 14 days by default (up
/// to 30). Said from the preset or the host, since no IMAP capability
/// tells; it only decides a note to the user, never what slimbox does.
pub fn keeps_deleted_mail(provider: Provider, host: &str) -> bool {
    provider.is_microsoft()
        || host
            .trim_end_matches('.')
            .eq_ignore_ascii_case(MICROSOFT_HOST)
}

/// The note `scan` and `run` print once for the accounts
/// [`keeps_deleted_mail`] says of.
pub fn recoverable_items_note(accounts: &[&str]) -> String {
    format!(
        "account(s) {} are on Microsoft 365 / Outlook.com: the originals slimbox removes \
         stay in the mailbox's hidden \"Recoverable Items\" folder for 14 days (up to 30 if \
         your administrator set it so) and count against the quota until then, so the \
         mailbox shrinks only after that",
        accounts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fill_host_port_tls_and_auth() {
        assert_eq!(Provider::Gmail.host(), Some("imap.gmail.com"));
        assert_eq!(Provider::Microsoft365.host(), Some(MICROSOFT_HOST));
        assert_eq!(Provider::OutlookCom.host(), Some(MICROSOFT_HOST));
        assert_eq!(Provider::Generic.host(), None);
        for p in [
            Provider::Gmail,
            Provider::Microsoft365,
            Provider::OutlookCom,
        ] {
            assert_eq!(p.tls(), TlsSetting::Implicit);
            assert_eq!(p.port(p.tls()), 993);
            assert_eq!(p.default_auth().as_str(), "xoauth2");
        }
        assert_eq!(Provider::Generic.default_auth(), PresetAuth::Password);
    }

    #[test]
    fn issue10_microsoft_names_come_first_then_common_english_ones() {
        let sent = Provider::Microsoft365.folder_names("\\Sent");
        assert_eq!(sent[0], "Sent Items");
        assert!(sent.contains(&"Sent") && sent.contains(&"Sent Messages"));
        assert_eq!(
            sent.iter().filter(|n| **n == "Sent Items").count(),
            1,
            "{sent:?}"
        );
        assert_eq!(Provider::OutlookCom.folder_names("\\archive")[0], "Archive");
        assert_eq!(
            Provider::OutlookCom.folder_names("\\Trash")[0],
            "Deleted Items"
        );
        assert_eq!(
            Provider::Gmail.folder_names("\\Sent")[0],
            "[Gmail]/Sent Mail"
        );
        assert_eq!(Provider::Generic.folder_names("\\Sent")[0], "Sent");
        assert!(Provider::Generic.folder_names("\\Drafts").is_empty());
    }

    #[test]
    fn issue10_microsoft_note_keys_on_preset_or_host() {
        assert!(keeps_deleted_mail(Provider::Microsoft365, "x"));
        assert!(keeps_deleted_mail(Provider::OutlookCom, "x"));
        assert!(keeps_deleted_mail(
            Provider::Generic,
            "Outlook.Office365.com."
        ));
        assert!(!keeps_deleted_mail(Provider::Gmail, "imap.gmail.com"));
        let note = recoverable_items_note(&["work"]);
        assert!(note.contains("work") && note.contains("Recoverable Items"));
        assert!(note.contains("14") && note.contains("30"));
    }
}
