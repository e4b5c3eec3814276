//! A private object-store server on 127.0.0.1 for the remote-store tests:
//! moto's S3 server, Azurite (blob service) or fake-gcs-server (behind
//! scripts/objstore/gcs-xml-shim.py, which turns object_store's XML-API
//! writes into the emulator's JSON API; see that file).
//!
//! [`ObjStore::start`] runs `scripts/objstore-harness start KIND DIR` on a
//! fresh temporary directory (installing the servers first on a fresh
//! machine); dropping the [`ObjStore`] stops it. It panics with the log when
//! the server cannot start: these tests never skip. [`ObjStore::stop`] and
//! [`ObjStore::restart`] take the server away in the middle of a run and
//! bring it back on the same port with the same objects.
//!
//! What slimbox needs to use it: [`ObjStore::store_toml`] (the `[store]`
//! table) and [`ObjStore::env`] (the credentials, named by
//! `access_key_id_env` / `secret_access_key_env` in that table).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use object_store::ObjectStore;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    S3,
    Azure,
    Gcs,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::S3, Kind::Azure, Kind::Gcs];

    pub fn name(self) -> &'static str {
        match self {
            Kind::S3 => "s3",
            Kind::Azure => "azure",
            Kind::Gcs => "gcs",
        }
    }
}

/// A running server; stopped on drop.
pub struct ObjStore {
    pub kind: Kind,
    /// data/, server.log, server.pid, env.
    pub dir: tempfile::TempDir,
    /// The store URL for `[store] url`, e.g. `s3://slimbox-test/store`.
    pub url: String,
    /// For `[store] endpoint`.
    pub endpoint: String,
    /// Everything the harness printed (OBJSTORE_*, credentials).
    pub vars: BTreeMap<String, String>,
    running: bool,
}

/// `scripts/objstore-harness` in this checkout.
pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/objstore-harness")
}

impl ObjStore {
    /// Starts a fresh server with an empty bucket. Panics (never skips) with
    /// the harness output and the log when it cannot.
    pub fn start(kind: Kind) -> ObjStore {
        let dir = tempfile::Builder::new()
            .prefix(&format!("slimbox-objstore-{}-", kind.name()))
            .tempdir()
            .expect("cannot create a temporary directory for the object-store server");
        let vars = run_start(kind, dir.path());
        let get = |k: &str| {
            vars.get(k)
                .unwrap_or_else(|| panic!("objstore-harness printed no {k}: {vars:?}"))
                .clone()
        };
        ObjStore {
            kind,
            url: get("OBJSTORE_URL"),
            endpoint: get("OBJSTORE_ENDPOINT"),
            vars,
            dir,
            running: true,
        }
    }

    /// Stops the server (its objects are kept for [`ObjStore::restart`]).
    pub fn stop(&mut self) {
        run_stop(self.dir.path());
        self.running = false;
        let port = self.vars.get("OBJSTORE_PORT").cloned().unwrap_or_default();
        assert!(
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
            "the {} server still answers on port {port} after stop:\n{}",
            self.kind.name(),
            self.log()
        );
    }

    /// Starts the server again on the same port with the same objects.
    pub fn restart(&mut self) {
        assert!(!self.running, "restart() wants a stopped server");
        run_start(self.kind, self.dir.path());
        self.running = true;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Environment variables slimbox needs: the credentials, under the
    /// names the [`ObjStore::store_toml`] table points at.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |name: &str, from: &str| {
            if let Some(v) = self.vars.get(from) {
                out.push((name.to_string(), v.clone()));
            }
        };
        put("SLIMBOX_TEST_KEY_ID", "AWS_ACCESS_KEY_ID");
        put("SLIMBOX_TEST_SECRET", "AWS_SECRET_ACCESS_KEY");
        put("SLIMBOX_TEST_SECRET", "AZURE_STORAGE_ACCOUNT_KEY");
        out
    }

    /// The `[store]` table for slimbox's config, `url` included.
    pub fn store_toml(&self) -> String {
        let mut t = format!(
            "[store]\nurl = \"{}\"\nendpoint = \"{}\"\nallow_http = true\n",
            self.url, self.endpoint
        );
        match self.kind {
            Kind::S3 => t.push_str(
                "path_style = true\nregion = \"us-east-1\"\n\
                 access_key_id_env = \"SLIMBOX_TEST_KEY_ID\"\n\
                 secret_access_key_env = \"SLIMBOX_TEST_SECRET\"\n",
            ),
            Kind::Azure => t.push_str(&format!(
                "account = \"{}\"\nsecret_access_key_env = \"SLIMBOX_TEST_SECRET\"\n",
                self.vars["OBJSTORE_ACCOUNT"]
            )),
            Kind::Gcs => {}
        }
        t
    }

    /// slimbox's settings for this server, for opening it from a test: as
    /// [`ObjStore::store_toml`] says, except that the credentials come from
    /// `credentials_command` (a test must not change its own environment).
    pub fn remote_options(&self) -> slimbox::store::RemoteOptions {
        let mut o = slimbox::store::RemoteOptions {
            endpoint: Some(self.endpoint.clone()),
            allow_http: true,
            ..Default::default()
        };
        let mut lines = String::new();
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AZURE_STORAGE_ACCOUNT_KEY",
        ] {
            if let Some(v) = self.vars.get(k) {
                lines.push_str(&format!("{k}={v}\n"));
            }
        }
        if !lines.is_empty() {
            o.credentials_command = Some(format!("printf '{lines}'"));
        }
        match self.kind {
            Kind::S3 => {
                o.path_style = Some(true);
                o.region = Some("us-east-1".into());
            }
            Kind::Azure => o.account = Some(self.vars["OBJSTORE_ACCOUNT"].clone()),
            Kind::Gcs => {}
        }
        o
    }

    /// The store through slimbox.
    pub fn open(&self) -> slimbox::store::Store {
        slimbox::store::Store::open_with(&self.url, &self.remote_options())
            .unwrap_or_else(|e| panic!("cannot open {}: {e}\n{}", self.url, self.log()))
    }

    /// The bucket itself (no prefix), straight through object_store, for a
    /// test that changes objects behind slimbox's back.
    pub fn raw(&self) -> Arc<dyn ObjectStore> {
        let bucket_url = url::Url::parse(&self.url).expect("store URL");
        let root = format!(
            "{}://{}",
            bucket_url.scheme(),
            bucket_url.host_str().unwrap_or("")
        );
        let store = slimbox::store::Store::open_with(&root, &self.remote_options())
            .unwrap_or_else(|e| panic!("cannot open {root}: {e}"));
        store.object_store()
    }

    /// Where objects live inside the bucket: the URL's path, e.g. `store`.
    pub fn prefix(&self) -> String {
        url::Url::parse(&self.url)
            .expect("store URL")
            .path()
            .trim_matches('/')
            .to_string()
    }
}

impl Drop for ObjStore {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new("bash")
                .arg(harness_script())
                .arg("stop")
                .arg(self.dir.path())
                .status();
        }
    }
}

fn run_start(kind: Kind, dir: &Path) -> BTreeMap<String, String> {
    let out = Command::new("bash")
        .arg(harness_script())
        .arg("start")
        .arg(kind.name())
        .arg(dir)
        .arg("--watch-pid")
        .arg(std::process::id().to_string())
        .output()
        .expect("cannot run scripts/objstore-harness");
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "scripts/objstore-harness start {} failed ({}):\n{}\n{}\n--- server.log ---\n{log}",
        kind.name(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run_stop(dir: &Path) {
    let out = Command::new("bash")
        .arg(harness_script())
        .arg("stop")
        .arg(dir)
        .output()
        .expect("cannot run scripts/objstore-harness");
    assert!(
        out.status.success(),
        "scripts/objstore-harness stop failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
