//! The token a self-service page puts in its "put back" forms: proof that
//! the POST comes from a page this server rendered, for that mailbox, from
//! that very page link, and not long ago. Signed like the links, under its
//! own kind.
//!
//! A token is `<issued>.<tag>`: the Unix second it was made, and the HMAC
//! of (account, the page link's signature, issued). So a token copied from
//! Alice's page is refused for Bob's, one made under one page link is
//! refused with another (a revoked or expired link cannot lend its tokens
//! to a fresh one), and any token is refused once older than the server's
//! limit (`[serve] form_token_max_age`).

use super::Secret;

/// Why a form token was refused (for the log and tests; the answer is the
/// same bare 403 whatever the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefused {
    /// Not `<digits>.<base64>`, or its tag does not match this account and
    /// page link.
    BadToken,
    /// Older than the limit (or made in the future).
    Expired,
}

/// Clock skew tolerated for a token "made in the future" (several servers
/// behind one name, clocks a little apart).
const SKEW: u64 = 60;

impl Secret {
    /// The form token for `account`'s page opened with the page link whose
    /// signature is `page_sig` (empty where pages are open on loopback),
    /// made at `now`.
    pub fn form_token(&self, account: &str, page_sig: &str, now: u64) -> String {
        let tag = self.sign(&token_message(account, page_sig, now));
        format!("{now}.{tag}")
    }

    /// Whether `token` is a form token of `account`'s page under `page_sig`
    /// no older than `max_age` seconds (the tag compared in constant time).
    pub fn check_form_token(
        &self,
        account: &str,
        page_sig: &str,
        token: &str,
        now: u64,
        max_age: u64,
    ) -> Result<(), TokenRefused> {
        let (issued, tag) = token.split_once('.').ok_or(TokenRefused::BadToken)?;
        // Only plain digits: "+5" would parse but sign differently.
        if issued.is_empty() || issued.len() > 20 || !issued.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenRefused::BadToken);
        }
        let issued: u64 = issued.parse().map_err(|_| TokenRefused::BadToken)?;
        let tag = base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(tag)
            .map_err(|_| TokenRefused::BadToken)?;
        if !self.verify(&token_message(account, page_sig, issued), &tag) {
            return Err(TokenRefused::BadToken);
        }
        if issued > now.saturating_add(SKEW) || now.saturating_sub(issued) > max_age {
            return Err(TokenRefused::Expired);
        }
        Ok(())
    }
}

/// Fields separated by a newline, which no account (names with one are
/// refused), base64 signature or number can hold.
fn token_message(account: &str, page_sig: &str, issued: u64) -> Vec<u8> {
    format!("slimbox-form\n{account}\n{page_sig}\n{issued}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::{Secret, TokenRefused};

    const HOUR: u64 = 3600;

    #[test]
    fn a_token_is_good_for_its_own_mailbox_and_page_link_only() {
        let s = Secret::from_bytes(&[7; 32]);
        let t = s.form_token("alice", "SIG", 1_000);
        assert_eq!(s.check_form_token("alice", "SIG", &t, 1_000, HOUR), Ok(()));
        let bad = Err(TokenRefused::BadToken);
        assert_eq!(s.check_form_token("bob", "SIG", &t, 1_000, HOUR), bad);
        assert_eq!(s.check_form_token("alice", "OTHER", &t, 1_000, HOUR), bad);
        assert_eq!(s.check_form_token("alice", "", &t, 1_000, HOUR), bad);
        for forged in ["x", "", "1000.", ".abc", "+1000.abc", "1000"] {
            assert_eq!(s.check_form_token("alice", "SIG", forged, 1_000, HOUR), bad);
        }
        // The issue time is signed: moving it forward breaks the tag.
        let (_, tag) = t.split_once('.').unwrap();
        let moved = format!("5000.{tag}");
        assert_eq!(s.check_form_token("alice", "SIG", &moved, 5_000, HOUR), bad);
        // Never the same as the page signature of that mailbox.
        assert!(!s.page_link("http://h", "alice", None).contains(tag));
        let other = Secret::from_bytes(&[8; 32]);
        assert_eq!(other.check_form_token("alice", "SIG", &t, 1_000, HOUR), bad);
    }

    #[test]
    fn issue20_a_token_expires() {
        let s = Secret::from_bytes(&[7; 32]);
        let t = s.form_token("alice", "SIG", 1_000);
        let check = |now| s.check_form_token("alice", "SIG", &t, now, HOUR);
        assert_eq!(check(1_000 + HOUR), Ok(()));
        assert_eq!(check(1_001 + HOUR), Err(TokenRefused::Expired));
        // Made in the future beyond the skew allowed.
        assert_eq!(check(1_000 - 30), Ok(()));
        assert_eq!(check(1_000 - 61), Err(TokenRefused::Expired));
    }
}
