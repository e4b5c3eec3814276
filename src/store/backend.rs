//! Building object_store's own cloud backends (S3, Azure Blob, Google Cloud
//! Storage) from a store URL and the `[store]` settings: endpoint, region,
//! path style, plain HTTP (loopback only), credentials and the retry policy.
//!
//! Everything here happens once, when a store is opened; reading and writing
//! objects is `Store`'s job. Whatever the settings leave out, object_store
//! takes from the environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`) and, failing
//! that, from the platform's identity (EC2 instance profile, Azure managed or
//! workload identity, GCE / GKE metadata server).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use super::credentials::{run_credentials_command, CommandCredentials};
use super::StoreError;

/// The `[store]` settings for remote stores (all optional); see the README.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOptions {
    /// Base URL of an S3-compatible server, Azurite or a fake GCS server.
    pub endpoint: Option<String>,
    /// S3 region (object_store's default: `us-east-1`).
    pub region: Option<String>,
    /// S3 addressing: `true` path-style (`endpoint/bucket/key`), `false`
    /// virtual-hosted (`bucket.endpoint/key`); unset: object_store's default.
    pub path_style: Option<bool>,
    /// Plain `http://` to the endpoint; only for a loopback endpoint.
    pub allow_http: bool,
    /// Azure storage account name (else `AZURE_STORAGE_ACCOUNT_NAME`).
    pub account: Option<String>,
    /// Name of the environment variable holding the S3 access key id.
    pub access_key_id_env: Option<String>,
    /// Name of the environment variable holding the secret: the S3 secret
    /// access key, the Azure account key, or a GCS service-account key (JSON).
    pub secret_access_key_env: Option<String>,
    /// A shell command printing credentials (see
    /// [`parse_credentials`](super::parse_credentials)).
    pub credentials_command: Option<String>,
}

/// Transient failures (timeouts, connection errors, 5xx, throttling) are
/// retried by object_store itself: 5 times, waiting 0.25 s doubling up to
/// 8 s (jittered), at most 60 s per request. After that the error reaches
/// the pipeline, which leaves the message untouched for the next run.
pub fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            base: 2.0,
        },
        max_retries: 5,
        retry_timeout: Duration::from_secs(60),
    }
}

/// Which cloud backend a URL scheme names, if any of ours.
pub(super) fn is_cloud_scheme(scheme: &str) -> bool {
    matches!(
        scheme,
        "s3" | "s3a" | "az" | "adl" | "azure" | "abfs" | "abfss" | "gs"
    )
}

/// Builds the backend for `url` (an `s3://`, `az://` or `gs://` URL); the
/// URL's path is the prefix, applied by the caller.
pub(super) fn build(url: &Url, opts: &RemoteOptions) -> Result<Arc<dyn ObjectStore>, StoreError> {
    match (&opts.endpoint, env_endpoint(url.scheme(), std::env::vars())) {
        (None, Some((var, endpoint))) => check_env_http(opts, &var, &endpoint)?,
        _ => check_http(opts)?,
    }
    let creds = credentials(opts, url.scheme())?;
    if creds.expires.is_some() && !matches!(url.scheme(), "s3" | "s3a") {
        tracing::warn!(
            "store.credentials_command printed an expiry; it is run again as that nears only \
             for s3:// stores, so a run on {} past it may fail",
            url.scheme()
        );
    }
    let client = ClientOptions::new().with_allow_http(opts.allow_http);
    let built = |e: object_store::Error| StoreError::BadLocation {
        location: url.to_string(),
        reason: e.to_string(),
    };
    match url.scheme() {
        "s3" | "s3a" => s3(url, opts, creds, client).map_err(built),
        "gs" => gcs(url, opts, creds, client).map_err(built),
        _ => azure(url, opts, creds, client).map_err(built),
    }
}

fn s3(
    url: &Url,
    opts: &RemoteOptions,
    creds: Creds,
    client: ClientOptions,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    let mut b = AmazonS3Builder::from_env()
        .with_url(url.as_str())
        .with_client_options(client)
        .with_retry(retry_config())
        // Create-only puts as `If-None-Match: *` (S3 since 2024, MinIO,
        // Ceph, moto): a second put of a key is refused, never an overwrite.
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    if let Some(e) = &opts.endpoint {
        b = b.with_endpoint(e.trim_end_matches('/'));
    }
    if let Some(r) = &opts.region {
        b = b.with_region(r);
    }
    if let Some(p) = opts.path_style {
        b = b.with_virtual_hosted_style_request(!p);
    }
    for (k, v) in creds.settings {
        b = b.with_config(k.parse::<AmazonS3ConfigKey>()?, v);
    }
    // Temporary credentials: renewed by running the command again.
    if let Some(renewing) = creds.renewing {
        b = b.with_credentials(Arc::new(renewing));
    }
    Ok(Arc::new(b.build()?))
}

fn azure(
    url: &Url,
    opts: &RemoteOptions,
    creds: Creds,
    client: ClientOptions,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_url(url.as_str())
        .with_client_options(client)
        .with_retry(retry_config());
    if let Some(e) = &opts.endpoint {
        // Azurite and other path-style endpoints: http://host:port/account.
        b = b.with_endpoint(e.trim_end_matches('/').to_string());
    }
    if let Some(a) = &opts.account {
        b = b.with_account(a);
    }
    for (k, v) in creds.settings {
        b = b.with_config(k.parse::<AzureConfigKey>()?, v);
    }
    Ok(Arc::new(b.build()?))
}

fn gcs(
    url: &Url,
    opts: &RemoteOptions,
    creds: Creds,
    client: ClientOptions,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    let mut b = GoogleCloudStorageBuilder::from_env()
        .with_url(url.as_str())
        .with_client_options(client)
        .with_retry(retry_config());
    let mut have_key = false;
    for (k, v) in creds.settings {
        let key = k.parse::<GoogleConfigKey>()?;
        have_key |= matches!(key, GoogleConfigKey::ServiceAccountKey);
        b = b.with_config(key, v);
    }
    if let (Some(e), false) = (&opts.endpoint, have_key) {
        // object_store's gcp backend takes a custom base URL only from a
        // service-account key; for a test server (fake-gcs-server) that
        // key carries no secret and turns OAuth off.
        let key = serde_json::json!({
            "gcs_base_url": e.trim_end_matches('/'),
            "disable_oauth": true,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        });
        b = b.with_service_account_key(key.to_string());
    }
    Ok(Arc::new(b.build()?))
}

/// `allow_http` is for test and on-premises servers on this machine only:
/// credentials and mail attachments must never cross a network in clear.
fn check_http(opts: &RemoteOptions) -> Result<(), StoreError> {
    let endpoint = opts.endpoint.as_deref();
    let parsed = endpoint.map(Url::parse);
    if let Some(Err(e)) = &parsed {
        return Err(setting(
            "store.endpoint",
            format!(
                "{:?} is not a URL ({e}); write e.g. https://s3.example.com",
                endpoint.unwrap_or_default()
            ),
        ));
    }
    let url = parsed.and_then(Result::ok);
    let is_http = url.as_ref().is_some_and(|u| u.scheme() == "http");
    if opts.allow_http {
        let loopback = url.as_ref().is_some_and(is_loopback);
        if !loopback {
            return Err(setting(
                "store.allow_http",
                "is only allowed when store.endpoint is on this machine (127.0.0.1, [::1] \
                 or localhost); remove it and use an https:// endpoint"
                    .to_string(),
            ));
        }
    } else if is_http {
        return Err(setting(
            "store.endpoint",
            "is a plain http:// URL; use https://, or for a server on this machine set \
             allow_http = true in [store]"
                .to_string(),
        ));
    }
    Ok(())
}

/// The endpoint object_store takes from the environment for `scheme` when
/// `[store] endpoint` is not set (`AWS_ENDPOINT`, `AWS_ENDPOINT_URL`,
/// `AZURE_STORAGE_ENDPOINT`, …: what its `from_env` reads), as (variable,
/// value).
fn env_endpoint(
    scheme: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Option<(String, String)> {
    let is_endpoint = |name: &str| match scheme {
        "s3" | "s3a" => {
            name.starts_with("AWS_")
                && matches!(
                    name.to_ascii_lowercase().parse(),
                    Ok(AmazonS3ConfigKey::Endpoint)
                )
        }
        "gs" => false,
        _ => {
            name.starts_with("AZURE_")
                && matches!(
                    name.to_ascii_lowercase().parse(),
                    Ok(AzureConfigKey::Endpoint)
                )
        }
    };
    // Of several, object_store keeps the last it reads; name them all alike.
    vars.into_iter()
        .filter(|(name, _)| is_endpoint(name))
        .max_by(|a, b| a.0.cmp(&b.0))
}

/// [`check_http`] for an endpoint set by the environment variable `var`:
/// a plain http:// one without `allow_http` would otherwise fail at the
/// first request with object_store's "builder error", naming neither.
fn check_env_http(opts: &RemoteOptions, var: &str, endpoint: &str) -> Result<(), StoreError> {
    // Not a URL: object_store says so when it builds the backend.
    let Ok(url) = Url::parse(endpoint) else {
        return Ok(());
    };
    if opts.allow_http {
        if !is_loopback(&url) {
            return Err(setting(
                "store.allow_http",
                format!(
                    "is only allowed when the endpoint is on this machine (127.0.0.1, [::1] \
                     or localhost), and the environment variable {var} sets it to {endpoint}; \
                     remove allow_http and use an https:// endpoint"
                ),
            ));
        }
    } else if url.scheme() == "http" {
        return Err(StoreError::PlainHttpEndpoint {
            origin: format!("the environment variable {var}"),
            endpoint: endpoint.to_string(),
        });
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn setting(key: &'static str, reason: String) -> StoreError {
    StoreError::Setting { key, reason }
}

/// The credential settings, and for an S3 store whose command printed an
/// expiry the provider that renews them.
#[derive(Debug)]
struct Creds {
    /// object_store config keys (`AWS_…`, `AZURE_…`, `GOOGLE_…`), in the
    /// order they apply (later wins).
    settings: Vec<(String, String)>,
    /// When the command's credentials expire, if it said.
    expires: Option<jiff::Timestamp>,
    renewing: Option<CommandCredentials>,
}

fn credentials(opts: &RemoteOptions, scheme: &str) -> Result<Creds, StoreError> {
    let mut out = Vec::new();
    let (id_key, secret_key) = match scheme {
        "s3" | "s3a" => (Some("aws_access_key_id"), "aws_secret_access_key"),
        "gs" => (None, "google_service_account_key"),
        _ => (None, "azure_storage_account_key"),
    };
    if let Some(var) = &opts.access_key_id_env {
        let Some(id_key) = id_key else {
            return Err(setting(
                "store.access_key_id_env",
                "only applies to s3:// stores; for Azure set account (the storage account \
                 name) and secret_access_key_env (its key)"
                    .to_string(),
            ));
        };
        out.push((
            id_key.to_string(),
            env_value("store.access_key_id_env", var)?,
        ));
    }
    if let Some(var) = &opts.secret_access_key_env {
        out.push((
            secret_key.to_string(),
            env_value("store.secret_access_key_env", var)?,
        ));
    }
    let (mut expires, mut renewing) = (None, None);
    if let Some(cmd) = &opts.credentials_command {
        let printed = run_credentials_command(cmd)?;
        expires = printed.expires;
        if let (Some(at), "s3" | "s3a") = (expires, scheme) {
            renewing = Some(CommandCredentials::new(cmd, &printed.settings, at)?);
        }
        out.extend(printed.settings);
    }
    Ok(Creds {
        settings: out,
        expires,
        renewing,
    })
}

fn env_value(key: &'static str, var: &str) -> Result<String, StoreError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(setting(
            key,
            format!("names the environment variable {var}, which is not set or empty; export it before running slimbox"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(endpoint: Option<&str>, allow_http: bool) -> RemoteOptions {
        RemoteOptions {
            endpoint: endpoint.map(str::to_string),
            allow_http,
            ..RemoteOptions::default()
        }
    }

    fn setting_key(r: Result<(), StoreError>) -> &'static str {
        match r {
            Err(StoreError::Setting { key, .. }) => key,
            other => panic!("expected a setting error, got {other:?}"),
        }
    }

    #[test]
    fn allow_http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://[::1]:9000/",
            "http://localhost:1",
            "http://127.3.4.5",
        ] {
            check_http(&opts(Some(ok), true)).unwrap();
        }
        for bad in [
            Some("http://10.0.0.1:9000"),
            Some("http://s3.example.com"),
            None,
        ] {
            assert_eq!(
                setting_key(check_http(&opts(bad, true))),
                "store.allow_http",
                "{bad:?}"
            );
        }
        let e = check_http(&opts(Some("http://example.com"), true)).unwrap_err();
        assert!(e.to_string().contains("store.allow_http"), "{e}");
        assert!(!e.is_transient());
    }

    #[test]
    fn http_endpoint_needs_allow_http() {
        check_http(&opts(Some("https://s3.example.com"), false)).unwrap();
        check_http(&opts(None, false)).unwrap();
        assert_eq!(
            setting_key(check_http(&opts(Some("http://127.0.0.1:9000"), false))),
            "store.endpoint"
        );
        assert_eq!(
            setting_key(check_http(&opts(Some("not a url"), false))),
            "store.endpoint"
        );
    }

    #[test]
    fn issue21_endpoint_from_the_environment_is_found() {
        let vars = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let env = vars(&[
            ("HOME", "/root"),
            ("AWS_ENDPOINT", "http://127.0.0.1:9000"),
            ("AZURE_STORAGE_ENDPOINT", "http://127.0.0.1:10000/a"),
        ]);
        assert_eq!(
            env_endpoint("s3", env.clone()),
            Some(("AWS_ENDPOINT".into(), "http://127.0.0.1:9000".into()))
        );
        assert_eq!(
            env_endpoint("az", env.clone()).map(|e| e.0),
            Some("AZURE_STORAGE_ENDPOINT".into())
        );
        assert_eq!(env_endpoint("gs", env), None);
        let url = vars(&[("AWS_ENDPOINT_URL", "https://s3.example.com")]);
        assert_eq!(
            env_endpoint("s3", url).map(|e| e.0),
            Some("AWS_ENDPOINT_URL".into())
        );
        assert_eq!(env_endpoint("s3", vars(&[("AWS_REGION", "x")])), None);
    }

    #[test]
    fn issue21_plain_http_endpoint_from_the_environment_names_it_and_allow_http() {
        let e = check_env_http(&opts(None, false), "AWS_ENDPOINT", "http://127.0.0.1:9000")
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::PlainHttpEndpoint { origin, endpoint }
                if origin.contains("AWS_ENDPOINT") && endpoint == "http://127.0.0.1:9000"),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("AWS_ENDPOINT")
                && text.contains("http://127.0.0.1:9000")
                && text.contains("allow_http = true"),
            "{text}"
        );
        assert!(!e.is_transient());
        check_env_http(&opts(None, true), "AWS_ENDPOINT", "http://127.0.0.1:9000").unwrap();
        check_env_http(&opts(None, false), "AWS_ENDPOINT", "https://s3.example.com").unwrap();
        assert_eq!(
            setting_key(check_env_http(
                &opts(None, true),
                "AWS_ENDPOINT",
                "http://10.0.0.1:9000"
            )),
            "store.allow_http"
        );
    }

    #[test]
    fn command_credentials_and_env_names() {
        let o = RemoteOptions {
            credentials_command: Some(
                "printf 'AWS_ACCESS_KEY_ID=a\\nAWS_SECRET_ACCESS_KEY=b\\n'".into(),
            ),
            ..RemoteOptions::default()
        };
        assert_eq!(credentials(&o, "s3").unwrap().settings.len(), 2);
        let o = RemoteOptions {
            credentials_command: Some("echo oops >&2; exit 3".into()),
            ..RemoteOptions::default()
        };
        let e = credentials(&o, "s3").unwrap_err().to_string();
        assert!(
            e.contains("oops") && e.contains("credentials_command"),
            "{e}"
        );
        let o = RemoteOptions {
            access_key_id_env: Some("SLIMBOX_TEST_SURELY_UNSET_VAR".into()),
            ..RemoteOptions::default()
        };
        let e = credentials(&o, "s3").unwrap_err().to_string();
        assert!(
            e.contains("SLIMBOX_TEST_SURELY_UNSET_VAR") && e.contains("store.access_key_id_env"),
            "{e}"
        );
        assert!(credentials(&o, "az").is_err());
    }

    #[test]
    fn issue11_expiring_command_credentials_are_renewed_on_s3() {
        let o = RemoteOptions {
            credentials_command: Some(
                "printf 'export AWS_ACCESS_KEY_ID=a\\nexport AWS_SECRET_ACCESS_KEY=b\\n\
                 export AWS_SESSION_TOKEN=c\\nexport AWS_CREDENTIAL_EXPIRATION=2030-01-01T00:00:00+00:00\\n'"
                    .into(),
            ),
            ..RemoteOptions::default()
        };
        let c = credentials(&o, "s3").unwrap();
        assert_eq!(c.settings.len(), 3, "{c:?}");
        assert!(c.expires.is_some() && c.renewing.is_some());
        assert!(credentials(&o, "az").unwrap().renewing.is_none());
        build(&Url::parse("s3://bucket/p").unwrap(), &o).unwrap();
    }

    #[test]
    fn unknown_credential_key_is_refused() {
        let url = Url::parse("s3://bucket/p").unwrap();
        let o = RemoteOptions {
            credentials_command: Some("echo NOT_A_KEY=1".into()),
            ..RemoteOptions::default()
        };
        let e = build(&url, &o).unwrap_err().to_string();
        assert!(e.to_ascii_lowercase().contains("not_a_key"), "{e}");
    }

    #[test]
    fn cloud_urls_build_without_network() {
        for url in ["s3://bucket/prefix", "gs://bucket/p", "az://container/p"] {
            let o = RemoteOptions {
                account: Some("acct".into()),
                ..RemoteOptions::default()
            };
            build(&Url::parse(url).unwrap(), &o).unwrap();
        }
    }
}
