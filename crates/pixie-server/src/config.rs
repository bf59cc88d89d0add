//! `pixie serve` configuration: flag, then environment variable, then the TOML file,
//! then the default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings as given by one source (flags and variables, or the TOML file); `None` is unset.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `listen` / `--listen`.
    #[serde(alias = "listen-addr")]
    pub listen: Option<String>,
    /// `public_url` / `--public-url`.
    #[serde(alias = "public-url")]
    pub public_url: Option<String>,
    /// `data_dir` / `--data-dir`.
    #[serde(alias = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// `database_url` / `--database-url`.
    #[serde(alias = "database-url")]
    pub database_url: Option<String>,
    /// `admin_token` / `--admin-token`.
    #[serde(alias = "admin-token")]
    pub admin_token: Option<String>,
    /// `master_key` / `PIXIE_MASTER_KEY`.
    #[serde(alias = "master-key")]
    pub master_key: Option<String>,
    /// `admin_token_file` / `--admin-token-file`: the admin token, read from a file (so
    /// it shows in no process listing).
    #[serde(alias = "admin-token-file")]
    pub admin_token_file: Option<PathBuf>,
    /// `master_key_file` / `--master-key-file`: the master key, read from a file.
    #[serde(alias = "master-key-file")]
    pub master_key_file: Option<PathBuf>,
    /// `audit_log` / `--audit-log`: `off`, `stdout`, or a file.
    #[serde(alias = "audit-log")]
    pub audit_log: Option<String>,
    /// `tls_cert` / `--tls-cert`: a PEM certificate chain; with `tls_key`, serve https.
    #[serde(alias = "tls-cert")]
    pub tls_cert: Option<PathBuf>,
    /// `tls_key` / `--tls-key`: the PEM private key.
    #[serde(alias = "tls-key")]
    pub tls_key: Option<PathBuf>,
    /// `trusted_proxies` / `--trusted-proxies`: addresses or networks whose
    /// `X-Forwarded-For` is believed.
    #[serde(alias = "trusted-proxies")]
    pub trusted_proxies: Option<String>,
    /// `header_timeout` / `--header-timeout`: seconds for a TLS handshake and a request head.
    #[serde(alias = "header-timeout")]
    pub header_timeout: Option<u64>,
    /// `idle_timeout` / `--idle-timeout`: seconds a connection may stay open with no request.
    #[serde(alias = "idle-timeout")]
    pub idle_timeout: Option<u64>,
    /// `request_timeout` / `--request-timeout`: seconds for a whole request, body included.
    #[serde(alias = "request-timeout")]
    pub request_timeout: Option<u64>,
    /// `insecure_cimd_loopback` / `--insecure-cimd-loopback`: also fetch client metadata
    /// documents from `http://127.0.0.1:<port>/…` (development and tests only).
    #[serde(alias = "insecure-cimd-loopback")]
    pub insecure_cimd_loopback: Option<bool>,
    /// `key_rotation_days` / `--key-rotation-days`: rotate every environment's signing
    /// keys once the newest is this many days old.
    #[serde(alias = "key-rotation-days")]
    pub key_rotation_days: Option<u32>,
    /// `console_env` / `--console-env`: serve the admin console at `/console/`, its
    /// operators signing in to this environment (users with the `admin` role).
    #[serde(alias = "console-env")]
    pub console_env: Option<String>,
    /// `sqlite_durability` / `--sqlite-durability`: `full` (a commit is on disk before
    /// the answer) or `normal` (it survives a killed process, not a power loss).
    #[serde(alias = "sqlite-durability")]
    pub sqlite_durability: Option<pixie_store::Durability>,
}

impl Settings {
    /// Reads a TOML file of settings.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads the secrets given as files (`admin_token_file`, `master_key_file`) where
    /// the secret itself is not given.
    pub fn read_secret_files(mut self) -> Result<Settings, String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| format!("{}: {e}", path.display()))
        };
        if self.admin_token.is_none() {
            if let Some(p) = &self.admin_token_file {
                self.admin_token = Some(read(p)?);
            }
        }
        if self.master_key.is_none() {
            if let Some(p) = &self.master_key_file {
                self.master_key = Some(read(p)?);
            }
        }
        Ok(self)
    }

    /// Fills what `self` leaves unset from `other`.
    pub fn or(self, other: Settings) -> Settings {
        Settings {
            listen: self.listen.or(other.listen),
            public_url: self.public_url.or(other.public_url),
            data_dir: self.data_dir.or(other.data_dir),
            database_url: self.database_url.or(other.database_url),
            admin_token: self.admin_token.or(other.admin_token),
            master_key: self.master_key.or(other.master_key),
            admin_token_file: self.admin_token_file.or(other.admin_token_file),
            master_key_file: self.master_key_file.or(other.master_key_file),
            audit_log: self.audit_log.or(other.audit_log),
            tls_cert: self.tls_cert.or(other.tls_cert),
            tls_key: self.tls_key.or(other.tls_key),
            trusted_proxies: self.trusted_proxies.or(other.trusted_proxies),
            header_timeout: self.header_timeout.or(other.header_timeout),
            idle_timeout: self.idle_timeout.or(other.idle_timeout),
            request_timeout: self.request_timeout.or(other.request_timeout),
            insecure_cimd_loopback: self.insecure_cimd_loopback.or(other.insecure_cimd_loopback),
            key_rotation_days: self.key_rotation_days.or(other.key_rotation_days),
            console_env: self.console_env.or(other.console_env),
            sqlite_durability: self.sqlite_durability.or(other.sqlite_durability),
        }
    }
}

/// The resolved configuration of a server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The address to listen on.
    pub listen: String,
    /// The public URL; `None` means `http://` + the bound address.
    pub public_url: Option<String>,
    /// Where the embedded store, master key and admin token live.
    pub data_dir: PathBuf,
    /// The store URL.
    pub database_url: String,
    /// The admin token, if configured (else read from or written to the data dir).
    pub admin_token: Option<String>,
    /// The master key, if configured (else `<data-dir>/master.key`).
    pub master_key: Option<String>,
    /// Where audit events go.
    pub audit: crate::observe::AuditTarget,
    /// Certificate chain and key (PEM) to serve https.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Trusted proxies, as configured.
    pub trusted_proxies: String,
    /// How long a client may take for a TLS handshake and a request head, and how long
    /// a new connection may send nothing (slow clients are cut off).
    pub header_read_timeout: std::time::Duration,
    /// How long a connection may stay open with no request in flight.
    pub idle_timeout: std::time::Duration,
    /// How long a whole request may take, body included; then 408.
    pub request_timeout: std::time::Duration,
    /// Also fetch what clients point at from `http://127.0.0.1:<port>/…` (off by default;
    /// development and tests only, warned about at start).
    pub insecure_cimd_loopback: bool,
    /// Rotate signing keys once the newest is this many days old (off when `None`).
    pub key_rotation_days: Option<u32>,
    /// The console's environment (no console when `None`).
    pub console_env: Option<String>,
    /// How far a SQLite commit is on disk before the answer.
    pub sqlite_durability: pixie_store::Durability,
}

/// The default listen address: 7636, as in RFC 7636.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7636";

impl ServeConfig {
    /// Resolves settings against the defaults.
    pub fn from_settings(s: Settings) -> Self {
        let data_dir = s.data_dir.unwrap_or_else(|| PathBuf::from("./pixie-data"));
        let database_url = s
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("pixie.db").display()));
        Self {
            listen: s.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            public_url: s.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            data_dir,
            database_url,
            admin_token: s.admin_token,
            master_key: s.master_key,
            audit: crate::observe::AuditTarget::parse(s.audit_log.as_deref().unwrap_or("off")),
            tls: s.tls_cert.zip(s.tls_key),
            trusted_proxies: s.trusted_proxies.unwrap_or_default(),
            header_read_timeout: std::time::Duration::from_secs(s.header_timeout.unwrap_or(10).max(1)),
            idle_timeout: std::time::Duration::from_secs(s.idle_timeout.unwrap_or(30).max(1)),
            request_timeout: std::time::Duration::from_secs(s.request_timeout.unwrap_or(30).max(1)),
            insecure_cimd_loopback: s.insecure_cimd_loopback.unwrap_or(false),
            key_rotation_days: s.key_rotation_days,
            console_env: s.console_env,
            sqlite_durability: s.sqlite_durability.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod sample_file {
    use super::Settings;

    /// The repository's `pixie.example.toml` names every key, and with its comments
    /// taken away it is a valid configuration that sets each one.
    #[test]
    fn the_sample_file_names_every_key() {
        let sample = include_str!("../../../pixie.example.toml");
        let uncommented: String = sample
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.split_once(" = ")
                    .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let s: Settings = toml::from_str(&uncommented).unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("None"),
            "a key is missing from pixie.example.toml: {shown}"
        );
    }
}
