//! The token a self-service page puts in its "put back" forms: proof that
//! the POST comes from a page this server rendered for that mailbox, not
//! from another site. Signed like the links, under its own kind.

use super::Secret;

impl Secret {
    /// The form token for `account`'s page.
    pub fn form_token(&self, account: &str) -> String {
        self.sign(&token_message(account))
    }

    /// Whether `token` is `account`'s form token (constant time).
    pub fn check_form_token(&self, account: &str, token: &str) -> bool {
        base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(token)
            .is_ok_and(|tag| self.verify(&token_message(account), &tag))
    }
}

fn token_message(account: &str) -> Vec<u8> {
    format!("slimbox-form\n{account}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn a_token_is_good_for_its_own_mailbox_only() {
        let s = Secret::from_bytes(&[7; 32]);
        let t = s.form_token("alice");
        assert!(s.check_form_token("alice", &t));
        assert!(!s.check_form_token("bob", &t));
        assert!(!s.check_form_token("alice", "x"));
        assert!(!s.check_form_token("alice", ""));
        // Never the same as the page signature of that mailbox.
        assert!(!s.page_link("http://h", "alice", None).contains(&t));
        assert!(!Secret::from_bytes(&[8; 32]).check_form_token("alice", &t));
    }
}
