//! Google Workspace domain-wide delegation: a service account signs a JWT
//! (RS256, with its key file's private key) naming the mailbox as `sub`,
//! and the token endpoint exchanges it for that user's access token
//! (RFC 7523). No user signs in, nothing is kept on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde::Deserialize;

use super::oauth::{chain, classify, http_client, refused, ProviderError, Refusal};
use super::token_file::{now_secs, MemoryToken};
use super::{OAuthError, SigninError, TokenFuture, TokenSource};
use crate::config::{AccountConfig, OAuthConfig};

const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
const GMAIL_SCOPE: &str = "https://mail.google.com/";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The longest assertion Google accepts.
const ASSERTION_LIFETIME: u64 = 3600;

/// The fields of a service account's JSON key file that are used.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key_id: Option<String>,
    private_key: String,
    token_uri: Option<String>,
}

/// A service account's signing key.
#[derive(Debug)]
pub(super) struct ServiceKey {
    email: String,
    key_id: Option<String>,
    pair: RsaKeyPair,
    token_uri: Option<String>,
}

impl ServiceKey {
    /// Reads and checks a JSON key file.
    pub(super) fn load(path: &Path) -> Result<ServiceKey, OAuthError> {
        let bad = |reason: String| OAuthError::ServiceAccountKey {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let file: KeyFile = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("not a service account's JSON key ({e})")))?;
        if file.kind != "service_account" {
            return Err(bad(format!(
                "its type is {:?}, not \"service_account\"",
                file.kind
            )));
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(file.private_key.as_bytes())
            .map_err(|e| bad(format!("its private_key is not a PKCS#8 PEM key ({e})")))?;
        let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| bad(format!("its private_key is not a usable RSA key ({e})")))?;
        Ok(ServiceKey {
            email: file.client_email,
            key_id: file.private_key_id,
            pair,
            token_uri: file.token_uri,
        })
    }

    /// The signed JWT asking for `scopes` on behalf of `user`, for the
    /// token endpoint `audience`, issued at `now`.
    pub(super) fn assertion(
        &self,
        user: &str,
        scopes: &[String],
        audience: &str,
        now: u64,
    ) -> Result<String, String> {
        let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": self.email,
            "sub": user,
            "scope": scopes.join(" "),
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let b64 = |v: &[u8]| base64_simd::URL_SAFE_NO_PAD.encode_to_string(v);
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing failed".to_string())?;
        Ok(format!("{input}.{}", b64(&sig)))
    }
}

/// The token source of an account with `service_account_file`.
#[derive(Debug)]
pub struct ServiceAccountSource {
    account: String,
    /// The mailbox: the JWT's `sub`.
    user: String,
    key: Arc<ServiceKey>,
    key_path: PathBuf,
    token_url: String,
    scopes: Vec<String>,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Option<MemoryToken>>,
}

/// A token endpoint's success answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

impl ServiceAccountSource {
    pub fn new(
        account: &AccountConfig,
        oauth: &OAuthConfig,
    ) -> Result<ServiceAccountSource, SigninError> {
        let Some(path) = &oauth.service_account_file else {
            return Err(OAuthError::Setup {
                account: account.name.clone(),
                problem: "[account.oauth] has no service_account_file".to_string(),
            }
            .into());
        };
        let key = ServiceKey::load(path)?;
        let token_url = oauth
            .token_url
            .clone()
            .or_else(|| key.token_uri.clone())
            .unwrap_or_else(|| GOOGLE_TOKEN.to_string());
        Ok(ServiceAccountSource {
            account: account.name.clone(),
            user: account.user.clone(),
            key: Arc::new(key),
            key_path: path.clone(),
            token_url,
            scopes: oauth
                .scopes
                .clone()
                .unwrap_or_else(|| vec![GMAIL_SCOPE.to_string()]),
            http: http_client()?,
            cache: tokio::sync::Mutex::new(None),
        })
    }

    async fn get(&self, force_new: bool) -> Result<MemoryToken, OAuthError> {
        let mut cache = self.cache.lock().await;
        if let (false, Some(t)) = (force_new, cache.as_ref()) {
            if t.fresh(now_secs()).is_some() {
                return Ok(t.clone());
            }
        }
        let now = now_secs();
        let assertion = self
            .key
            .assertion(&self.user, &self.scopes, &self.token_url, now)
            .map_err(|reason| OAuthError::ServiceAccountKey {
                path: self.key_path.clone(),
                reason,
            })?;
        let answer = self.exchange(&assertion).await?;
        let fresh = MemoryToken::new(
            answer.access_token,
            now,
            answer.expires_in.map(std::time::Duration::from_secs),
        );
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// Trades the assertion for an access token.
    async fn exchange(&self, assertion: &str) -> Result<TokenAnswer, OAuthError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER)
            .append_pair("assertion", assertion)
            .finish();
        let unreachable = |e: reqwest::Error| OAuthError::Unreachable {
            account: self.account.clone(),
            url: self.token_url.clone(),
            reason: chain(&e),
        };
        let response = self
            .http
            .post(&self.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let ok = response.status().is_success();
        let bytes = response.bytes().await.map_err(unreachable)?;
        let bad = |e: serde_json::Error| OAuthError::BadResponse {
            account: self.account.clone(),
            url: self.token_url.clone(),
            reason: e.to_string(),
        };
        if ok {
            return serde_json::from_slice(&bytes).map_err(bad);
        }
        let e: ProviderError = serde_json::from_slice(&bytes).map_err(bad)?;
        Err(match classify(&e) {
            // Not the user's sign-in to renew: this service account may not
            // act for this user (or the key or clock is off).
            Refusal::LoginAgain => OAuthError::ServiceAccountRefused {
                account: self.account.clone(),
                user: self.user.clone(),
                code: e.error,
            },
            _ => refused(&self.account, &self.scopes, &e),
        })
    }

    /// A token and its lifetime in seconds (for `slimbox login`'s report).
    pub(super) async fn fetch(&self) -> Result<u64, SigninError> {
        Ok(self.get(true).await?.lifetime)
    }
}

impl TokenSource for ServiceAccountSource {
    fn token(&self, force_new: bool) -> TokenFuture<'_> {
        Box::pin(async move {
            self.get(force_new)
                .await
                .map(|t| t.token)
                .map_err(SigninError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    /// A key made for these tests only (`openssl genpkey -algorithm RSA`),
    /// with its public half exported by openssl, not by the code under test.
    const KEY_FILE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/signin/testdata/service_account.json"
    );
    const PUBLIC_KEY: &str = include_str!("testdata/sa_test_key.pub.pem");

    fn b64d(s: &str) -> Vec<u8> {
        base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(s)
            .expect("base64url")
    }

    fn public_key_der() -> Vec<u8> {
        let body: String = PUBLIC_KEY
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64_simd::STANDARD.decode_to_vec(body).expect("pem")
    }

    #[test]
    fn assertion_claims_and_signature() {
        let key = ServiceKey::load(Path::new(KEY_FILE)).expect("key file");
        let scopes = vec!["https://mail.google.com/".to_string()];
        let jwt = key
            .assertion("alice@example.com", &scopes, GOOGLE_TOKEN, 1_700_000_000)
            .expect("sign");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "{jwt}");

        let header: serde_json::Value = serde_json::from_slice(&b64d(parts[0])).expect("header");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], "test-key-1");
        let claims: serde_json::Value = serde_json::from_slice(&b64d(parts[1])).expect("claims");
        assert_eq!(
            claims["iss"],
            "slimbox@slimbox-test.iam.gserviceaccount.com"
        );
        assert_eq!(claims["sub"], "alice@example.com");
        assert_eq!(claims["scope"], "https://mail.google.com/");
        assert_eq!(claims["aud"], GOOGLE_TOKEN);
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_003_600u64);

        let signed = format!("{}.{}", parts[0], parts[1]);
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der());
        public
            .verify(signed.as_bytes(), &b64d(parts[2]))
            .expect("signature verifies with the public key");
        // Another subject does not verify under this signature.
        let forged = signed.replace(
            parts[1],
            &base64_simd::URL_SAFE_NO_PAD
                .encode_to_string(claims.to_string().replace("alice", "mallory").as_bytes()),
        );
        assert!(public.verify(forged.as_bytes(), &b64d(parts[2])).is_err());
    }

    #[test]
    fn bad_key_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.json");
        for (text, want) in [
            ("{}", "not a service account's JSON key"),
            (
                r#"{"type":"authorized_user","client_email":"a","private_key":"x"}"#,
                "authorized_user",
            ),
            (
                r#"{"type":"service_account","client_email":"a","private_key":"x"}"#,
                "PKCS#8",
            ),
        ] {
            std::fs::write(&path, text).expect("write");
            let msg = ServiceKey::load(&path).expect_err(text).to_string();
            assert!(msg.contains(want) && msg.contains("k.json"), "{msg}");
        }
        let msg = ServiceKey::load(&dir.path().join("none.json"))
            .expect_err("missing")
            .to_string();
        assert!(msg.contains("cannot read"), "{msg}");
    }
}
