//! Configuration (DESIGN.md "Config"): `recon.toml` (or `--config`, or `RECON_CONFIG`),
//! overlaid by `RECON_*` environment variables with `__` for nesting
//! (`RECON_BROKERS__TRADEZERO__API_SECRET_KEY`), and a `.env` file if present. The structs
//! mirror the pipeline: brokers (fetch), then rules. An unknown key, a bad type or a missing
//! credential for an enabled broker is a usage error naming the key and where it came from
//! (file and line, or environment variable). Credentials are `SecretString`s: they never
//! print, and `recon config check` shows them as `[redacted]`.

use chrono::NaiveDate;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use figment::value::magic::RelativePathBuf;
use recon_model::Broker;
use recon_report::email::Security;
use recon_rules::Severity;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "RECON_CONFIG";
/// The file read from the working directory when no other is named.
pub const DEFAULT_FILE: &str = "recon.toml";
/// Where runs go when neither `out_dir` nor `--out` says.
pub const DEFAULT_OUT_DIR: &str = "./recon-out";
/// Environment variables under the `RECON_` prefix that are not config keys.
const NOT_KEYS: [&str; 3] = ["config", "log", "failpoints"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The business date; today in `timezone` when not set.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Relative to the config file that set it (or to the working directory).
    #[serde(default = "default_out_dir", serialize_with = "as_path")]
    pub out_dir: RelativePathBuf,
    #[serde(default = "default_fail_on")]
    pub fail_on: Severity,
    #[serde(default)]
    pub brokers: Brokers,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub report: ReportConfig,
    #[serde(default)]
    pub email: EmailConfig,
    /// The firm's books of record (`[books.<name>]`), compared by the `books` pack.
    #[serde(default)]
    pub books: BTreeMap<String, BookConfig>,
}

/// One book of record: where its positions (and cash) are and how its columns are named.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BookConfig {
    /// `file` (CSV or Parquet files) or `postgres` (queries).
    #[serde(default = "file_source")]
    pub source: String,
    /// file: a CSV or Parquet path or glob, relative to the config file.
    #[serde(
        default,
        serialize_with = "as_opt_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub positions: Option<RelativePathBuf>,
    /// postgres: the connection string, from RECON_BOOKS__<NAME>__URL (it holds a password).
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<SecretString>,
    /// postgres: SQL returning the positions (`$1` is the business date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positions_query: Option<String>,
    /// postgres: SQL returning the cash, optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_query: Option<String>,
    #[serde(
        default,
        serialize_with = "as_opt_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub cash: Option<RelativePathBuf>,
    /// Canonical column → the file's column, where they differ.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub cash_columns: BTreeMap<String, String>,
    /// The book's account → `broker:account_id`.
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
}

fn file_source() -> String {
    "file".into()
}

impl BookConfig {
    /// A book held in files: its positions, and its cash if any.
    pub fn files(positions: PathBuf, cash: Option<PathBuf>) -> BookConfig {
        BookConfig {
            source: file_source(),
            positions: Some(RelativePathBuf::from(positions)),
            cash: cash.map(RelativePathBuf::from),
            url: None,
            positions_query: None,
            cash_query: None,
            columns: BTreeMap::new(),
            cash_columns: BTreeMap::new(),
            accounts: BTreeMap::new(),
        }
    }
}

fn as_opt_path<S: Serializer>(value: &Option<RelativePathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => as_path(v, s),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Mask account numbers in emails (`TZ****0002`).
    #[serde(default = "yes")]
    pub mask_accounts: bool,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            mask_accounts: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub enabled: bool,
    /// `smtp`, or `file` (an .eml file in the run's outbox/).
    #[serde(default)]
    pub transport: Transport,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls`, `tls`, or `none` (refused unless the host is this machine).
    #[serde(default = "default_security")]
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, serialize_with = "redact")]
    pub password: Option<SecretString>,
    /// PEM certificates to trust besides the system's roots, for a relay behind an
    /// internal CA (starttls and tls only).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_from")]
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    /// Extra recipients per severity present (`critical = ["cro@…"]`).
    #[serde(default)]
    pub routes: BTreeMap<Severity, Vec<String>>,
    /// Attach findings.csv.
    #[serde(default = "yes")]
    pub attach: bool,
    /// `findings` (only when there is something to say) or `always`.
    #[serde(default)]
    pub only_when: OnlyWhen,
}

/// How the email leaves: an SMTP relay, or an `.eml` file in the run's `outbox/`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    File,
    Smtp,
}

/// When a run sends its email: only when it has something to say, or every run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnlyWhen {
    #[default]
    Findings,
    Always,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            enabled: false,
            transport: Transport::default(),
            host: None,
            port: default_smtp_port(),
            security: default_security(),
            username: None,
            password: None,
            ca_file: None,
            from: default_from(),
            to: Vec::new(),
            routes: BTreeMap::new(),
            attach: true,
            only_when: OnlyWhen::default(),
        }
    }
}

fn default_smtp_port() -> u16 {
    587
}
fn default_security() -> Security {
    Security::StartTls
}
fn default_from() -> String {
    "recon@localhost".into()
}

fn default_timezone() -> String {
    "America/New_York".into()
}
fn default_out_dir() -> RelativePathBuf {
    RelativePathBuf::from(PathBuf::from(DEFAULT_OUT_DIR))
}
fn default_fail_on() -> Severity {
    Severity::Error
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Brokers {
    #[serde(default)]
    pub tastytrade: Option<BrokerConfig>,
    #[serde(default)]
    pub tradezero: Option<BrokerConfig>,
    #[serde(default)]
    pub clearstreet: Option<BrokerConfig>,
    #[serde(default)]
    pub etrade: Option<BrokerConfig>,
    #[serde(default)]
    pub architect: Option<BrokerConfig>,
}

impl Brokers {
    /// Every configured broker, enabled or not, in a stable order.
    pub fn configured(&self) -> impl Iterator<Item = (Broker, &BrokerConfig)> {
        [
            (Broker::Tastytrade, &self.tastytrade),
            (Broker::Tradezero, &self.tradezero),
            (Broker::Clearstreet, &self.clearstreet),
            (Broker::Etrade, &self.etrade),
            (Broker::Architect, &self.architect),
        ]
        .into_iter()
        .filter_map(|(b, c)| c.as_ref().map(|c| (b, c)))
    }

    /// The brokers a run fetches.
    pub fn enabled(&self) -> impl Iterator<Item = (Broker, &BrokerConfig)> {
        self.configured().filter(|(_, c)| c.enabled)
    }

    pub fn get_mut(&mut self, broker: Broker) -> &mut Option<BrokerConfig> {
        match broker {
            Broker::Tastytrade => &mut self.tastytrade,
            Broker::Tradezero => &mut self.tradezero,
            Broker::Clearstreet => &mut self.clearstreet,
            Broker::Etrade => &mut self.etrade,
            Broker::Architect => &mut self.architect,
        }
    }
}

/// The credential keys each broker takes (DESIGN.md "Config"); any other credential key in
/// its section is refused, so a key pasted under the wrong broker is caught.
pub fn credential_keys(broker: Broker) -> &'static [&'static str] {
    match broker {
        Broker::Tastytrade => &["client_secret", "refresh_token"],
        Broker::Tradezero => &["api_key_id", "api_secret_key"],
        Broker::Clearstreet => &["api_key"],
        Broker::Etrade => &[
            "consumer_key",
            "consumer_secret",
            "access_token",
            "access_token_secret",
        ],
        Broker::Architect => &["api_key", "api_secret"],
    }
}

/// The production API of each broker; Architect's gRPC endpoint is found by DNS SRV, which
/// recon does not do, so it must be configured.
fn default_base_url(broker: Broker) -> Option<&'static str> {
    match broker {
        Broker::Tastytrade => Some("https://api.tastyworks.com"),
        Broker::Tradezero => Some("https://webapi.tradezero.com"),
        Broker::Clearstreet => Some("https://api.clearstreet.com"),
        Broker::Etrade => Some("https://api.etrade.com"),
        Broker::Architect => None,
    }
}

/// One broker's section: its endpoint, credentials, account allow list and limits. The same
/// shape for every broker; which credential keys apply is [`credential_keys`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The API's base URL; each broker's production URL when unset (Architect: required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_key_id: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_secret_key: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_key: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_secret: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub consumer_key: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub consumer_secret: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_token: Option<SecretString>,
    #[serde(
        default,
        serialize_with = "redact",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_token_secret: Option<SecretString>,
    /// Only these accounts (case-insensitive); every account the broker lists when unset.
    #[serde(default)]
    pub accounts: Option<Vec<String>>,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// At most this many requests a second (retries included); unlimited when unset.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Retries of a request that failed in a way worth retrying (timeouts, 429, 5xx).
    #[serde(default = "default_retries")]
    pub retries: usize,
    /// The broker's whole fetch ends within this many seconds; what is not fetched by then
    /// is recorded as such and the run is incomplete.
    #[serde(default = "default_deadline")]
    pub deadline_secs: u64,
}

impl BrokerConfig {
    /// A section with the defaults every broker shares (for code that builds a config).
    pub fn new(base_url: impl Into<String>) -> Self {
        BrokerConfig {
            enabled: true,
            base_url: Some(base_url.into()),
            concurrency: default_concurrency(),
            timeout_secs: default_timeout(),
            retries: default_retries(),
            deadline_secs: default_deadline(),
            ..BrokerConfig::default()
        }
    }

    /// The credential named `key` (one of [`credential_keys`]).
    pub fn secret(&self, key: &str) -> Option<&SecretString> {
        match key {
            "client_secret" => self.client_secret.as_ref(),
            "refresh_token" => self.refresh_token.as_ref(),
            "api_key_id" => self.api_key_id.as_ref(),
            "api_secret_key" => self.api_secret_key.as_ref(),
            "api_key" => self.api_key.as_ref(),
            "api_secret" => self.api_secret.as_ref(),
            "consumer_key" => self.consumer_key.as_ref(),
            "consumer_secret" => self.consumer_secret.as_ref(),
            "access_token" => self.access_token.as_ref(),
            "access_token_secret" => self.access_token_secret.as_ref(),
            _ => None,
        }
    }

    /// Removes the credential named `key`.
    pub fn clear_secret(&mut self, key: &str) {
        match key {
            "client_secret" => self.client_secret = None,
            "refresh_token" => self.refresh_token = None,
            "api_key_id" => self.api_key_id = None,
            "api_secret_key" => self.api_secret_key = None,
            "api_key" => self.api_key = None,
            "api_secret" => self.api_secret = None,
            "consumer_key" => self.consumer_key = None,
            "consumer_secret" => self.consumer_secret = None,
            "access_token" => self.access_token = None,
            "access_token_secret" => self.access_token_secret = None,
            _ => {}
        }
    }

    /// Sets the credential named `key`.
    pub fn set_secret(&mut self, key: &str, value: impl Into<String>) {
        let value = Some(SecretString::from(value.into()));
        match key {
            "client_secret" => self.client_secret = value,
            "refresh_token" => self.refresh_token = value,
            "api_key_id" => self.api_key_id = value,
            "api_secret_key" => self.api_secret_key = value,
            "api_key" => self.api_key = value,
            "api_secret" => self.api_secret = value,
            "consumer_key" => self.consumer_key = value,
            "consumer_secret" => self.consumer_secret = value,
            "access_token" => self.access_token = value,
            "access_token_secret" => self.access_token_secret = value,
            _ => {}
        }
    }

    /// The configured URL, else the broker's production URL.
    pub fn url(&self, broker: Broker) -> Option<String> {
        self.base_url
            .clone()
            .or_else(|| default_base_url(broker).map(str::to_string))
    }
}

/// Every credential key any broker takes.
const ALL_CREDENTIAL_KEYS: [&str; 10] = recon_fetch::CREDENTIAL_KEYS;

fn yes() -> bool {
    true
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> u64 {
    30
}
fn default_retries() -> usize {
    3
}
fn default_deadline() -> u64 {
    1800
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Built-in pack ids (`core`, `risk`, `data-quality`) and globs of rule-pack files;
    /// the built-in core pack when empty.
    #[serde(default)]
    pub packs: Vec<String>,
    /// A waivers file (`[[waiver]]` rule, broker, account, symbol, reason, owner, expires).
    #[serde(default)]
    pub waivers: Option<PathBuf>,
    /// Parameter overrides: `name = value` for every account, `<broker>.name` per broker,
    /// `<broker>.<account>.name` per account (checked against the packs when a run starts).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// The resolved path, not figment's bookkeeping around it.
fn as_path<S: Serializer>(value: &RelativePathBuf, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.relative().display().to_string())
}

/// Secrets print as `[redacted]` (or null when unset), never as themselves.
fn redact<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config: {message}")]
pub struct ConfigError {
    pub message: String,
}

fn err(message: impl Into<String>) -> ConfigError {
    ConfigError {
        message: message.into(),
    }
}

/// The host of a URL's remainder after `scheme://` (`[::1]:8080/x` → `::1`).
fn url_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    }
}

/// 127.0.0.0/8, ::1 or localhost.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The config file to read: `--config`, else `RECON_CONFIG`, else `./recon.toml` if present.
fn config_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    let named = explicit
        .map(|p| (p.to_path_buf(), "--config"))
        .or_else(|| std::env::var_os(CONFIG_ENV).map(|p| (PathBuf::from(p), CONFIG_ENV)));
    match named {
        Some((path, from)) if !path.is_file() => Err(err(format!(
            "{} (named by {from}) does not exist or is not a file",
            path.display()
        ))),
        Some((path, _)) => Ok(Some(path)),
        None => Ok(Path::new(DEFAULT_FILE)
            .is_file()
            .then(|| PathBuf::from(DEFAULT_FILE))),
    }
}

/// The figment: defaults < file < environment (with `.env` loaded into it first).
pub fn figment(explicit: Option<&Path>) -> Result<Figment, ConfigError> {
    // A missing .env is fine; a malformed one is an error worth naming.
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => return Err(err(format!(".env: {e}"))),
    }
    let mut figment = Figment::new();
    if let Some(path) = config_file(explicit)? {
        figment = figment.merge(Toml::file_exact(path));
    }
    let env = Env::prefixed("RECON_")
        .filter(|key| {
            !NOT_KEYS
                .iter()
                .any(|k| key.as_str().eq_ignore_ascii_case(k))
        })
        .split("__");
    // Secrets are strings whatever they look like: figment's Env would read an all-digit key
    // as a number (and `007` as 7). Those variables are merged as raw strings instead.
    let mut secrets = Vec::new();
    for (key, value) in env.iter() {
        if is_secret_key(key.as_str()) {
            secrets.push((key.to_string(), value));
        }
    }
    figment = figment.merge(env.filter(|key| !is_secret_key(key.as_str())));
    for (key, value) in secrets {
        figment = figment.merge(figment::providers::Serialized::default(&key, value));
    }
    Ok(figment)
}

/// Whether a dotted key (`brokers.tradezero.api_secret_key`, `email.password`) holds a
/// secret: its value is never parsed, printed or echoed in an error.
fn is_secret_key(dotted: &str) -> bool {
    let last = dotted.rsplit('.').next().unwrap_or(dotted);
    // A book's PostgreSQL connection string holds its password.
    let book_url =
        dotted.to_ascii_lowercase().starts_with("books.") && last.eq_ignore_ascii_case("url");
    book_url
        || last.eq_ignore_ascii_case("password")
        || ALL_CREDENTIAL_KEYS
            .iter()
            .any(|k| last.eq_ignore_ascii_case(k))
}

/// Loads and validates the config for a run that fetches: every enabled broker needs its
/// credentials and endpoint.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    load_for(explicit, true)
}

/// Loads and validates the config for work that fetches nothing (`recon check` of a
/// snapshot, `recon report send`): the same keys and checks, but no broker credential is
/// needed.
pub fn load_offline(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    load_for(explicit, false)
}

/// Whether there is a config to read: a file (`--config`, `RECON_CONFIG` or `./recon.toml`)
/// or settings in `RECON_*` environment variables.
pub fn is_present(explicit: Option<&Path>) -> bool {
    explicit.is_some()
        || std::env::var_os(CONFIG_ENV).is_some()
        || Path::new(DEFAULT_FILE).is_file()
        // Settings may come from the environment alone.
        || std::env::vars_os().any(|(k, _)| {
            k.to_str()
                .and_then(|k| k.strip_prefix("RECON_"))
                .is_some_and(|k| !NOT_KEYS.iter().any(|n| k.eq_ignore_ascii_case(n)))
        })
}

fn load_for(explicit: Option<&Path>, fetching: bool) -> Result<Config, ConfigError> {
    let figment = figment(explicit)?;
    let config: Config = figment.extract().map_err(|e| describe(&figment, e))?;
    validate(&config, fetching)?;
    Ok(config)
}

fn validate(config: &Config, fetching: bool) -> Result<(), ConfigError> {
    let email = &config.email;
    if email.enabled {
        if email.transport == Transport::Smtp {
            let Some(host) = email.host.as_deref().filter(|h| !h.trim().is_empty()) else {
                return Err(err("email.host is missing for transport = \"smtp\""));
            };
            if email.security == Security::None && !is_loopback(host) {
                return Err(err(format!(
                    "email.security = \"none\" sends mail in plain text: only to a server on this machine, not `{host}`"
                )));
            }
            if email.username.is_some() != email.password.is_some() {
                return Err(err(
                    "email.username and email.password go together (RECON_EMAIL__PASSWORD for the password)",
                ));
            }
            if let Some(path) = &email.ca_file {
                if email.security == Security::None {
                    return Err(err(
                        "email.ca_file is for security = \"starttls\" or \"tls\"; with \"none\" nothing is verified",
                    ));
                }
                // Refused now, not at the end of a run whose report then cannot be sent.
                recon_report::email::read_ca(path).map_err(err)?;
            }
        }
        if email.to.is_empty() {
            return Err(err("email.to is empty for an enabled email"));
        }
    }
    for (name, book) in &config.books {
        match book.source.as_str() {
            "file" if book.positions.is_none() => {
                return Err(err(format!(
                    "books.{name}.positions is missing: the CSV or Parquet file (or glob) of the book's positions"
                )));
            }
            "postgres" if book.positions_query.is_none() => {
                return Err(err(format!(
                    "books.{name}.positions_query is missing: the SQL that returns the book's positions"
                )));
            }
            "file" | "postgres" => {}
            other => {
                return Err(err(format!(
                    "books.{name}.source `{other}` is neither \"file\" nor \"postgres\""
                )));
            }
        }
        if book.source == "file" && book.url.is_some() {
            return Err(err(format!(
                "books.{name}.url is for source = \"postgres\""
            )));
        }
        for (account, target) in &book.accounts {
            let broker = target.split_once(':').map(|(b, _)| b);
            if broker.and_then(|b| b.parse::<Broker>().ok()).is_none() {
                return Err(err(format!(
                    "books.{name}.accounts.\"{account}\" = `{target}` is not `<broker>:<account_id>`"
                )));
            }
        }
    }
    if config.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(err(format!(
            "timezone `{}` is not an IANA time zone (like America/New_York)",
            config.timezone
        )));
    }
    for (broker, b) in config.brokers.enabled() {
        let keys = credential_keys(broker);
        for key in ALL_CREDENTIAL_KEYS {
            if keys.contains(&key) {
                // An empty value (`KEY=` left in a .env template) is missing too.
                let missing = b
                    .secret(key)
                    .is_none_or(|v| v.expose_secret().trim().is_empty());
                if missing && fetching {
                    return Err(err(format!(
                        "brokers.{broker}.{key} is missing for an enabled broker: set it in the config file or in RECON_BROKERS__{}__{}",
                        broker.as_str().to_ascii_uppercase(),
                        key.to_ascii_uppercase()
                    )));
                }
            } else if b.secret(key).is_some() {
                return Err(err(format!(
                    "brokers.{broker}.{key} is not a {broker} credential: {broker} takes {}",
                    keys.join(", ")
                )));
            }
        }
        let Some(url) = b.url(broker) else {
            if !fetching {
                // Checking a snapshot reads no broker: its endpoint does not matter.
                continue;
            }
            return Err(err(format!(
                "brokers.{broker}.base_url is missing: {broker} has no default endpoint (its gRPC port is found by DNS SRV); set it, e.g. https://app.architect.co:10081 (the port is in Architect's SRV record)"
            )));
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(err(format!(
                "brokers.{broker}.base_url `{url}` is not an http(s) URL"
            )));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            // Credentials in plain text: only to this machine (a simulator, a local proxy),
            // as for SMTP's security = "none".
            let host = url_host(rest);
            if !is_loopback(host) {
                return Err(err(format!(
                    "brokers.{broker}.base_url `{url}` is plain http: credentials would cross the network unencrypted; use https:// (http:// is only for this machine)"
                )));
            }
        }
        if b.concurrency == 0 {
            return Err(err(format!(
                "brokers.{broker}.concurrency must be at least 1"
            )));
        }
    }
    Ok(())
}

impl Config {
    /// The business date: `as_of`, else today in `timezone`.
    pub fn business_date(&self) -> NaiveDate {
        self.as_of.unwrap_or_else(|| {
            let tz: chrono_tz::Tz = self
                .timezone
                .parse()
                .unwrap_or(chrono_tz::America::New_York);
            chrono::Utc::now().with_timezone(&tz).date_naive()
        })
    }

    /// Rule-pack files named by `rules.packs`, globs expanded, in a stable order.
    pub fn pack_files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = Vec::new();
        for pattern in &self.rules.packs {
            // A built-in pack by id (`risk`), unless a file of that name is meant.
            if recon_rules::pack::names_builtin(pattern) {
                files.push(PathBuf::from(pattern));
                continue;
            }
            let matches = glob::glob(pattern)
                .map_err(|e| err(format!("rules.packs: `{pattern}` is not a valid glob: {e}")))?;
            let mut found: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
            if found.is_empty() {
                return Err(err(format!("rules.packs: `{pattern}` matches no file")));
            }
            found.sort();
            files.extend(found);
        }
        Ok(files)
    }

    /// The books of record, as the reader takes them.
    pub fn book_specs(&self) -> Vec<recon_normalize::books::BookSpec> {
        self.books
            .iter()
            .map(|(name, b)| recon_normalize::books::BookSpec {
                postgres: (b.source == "postgres").then(|| recon_normalize::books::PgSpec {
                    url: b
                        .url
                        .as_ref()
                        .map(|u| u.expose_secret().to_string())
                        .unwrap_or_default(),
                    positions_query: b.positions_query.clone().unwrap_or_default(),
                    cash_query: b.cash_query.clone(),
                }),
                name: name.clone(),
                positions: b
                    .positions
                    .as_ref()
                    .map(|p| p.relative().display().to_string())
                    .unwrap_or_default(),
                cash: b.cash.as_ref().map(|c| c.relative().display().to_string()),
                columns: b.columns.clone(),
                cash_columns: b.cash_columns.clone(),
                accounts: b.accounts.clone(),
            })
            .collect()
    }

    /// The email settings, when email is enabled.
    pub fn email_settings(&self) -> Option<recon_report::email::EmailSettings> {
        use recon_report::email::{Delivery, SmtpSettings};
        let e = &self.email;
        let delivery = match e.transport {
            Transport::Smtp => Delivery::Smtp(SmtpSettings {
                host: e.host.clone().unwrap_or_default(),
                port: e.port,
                security: e.security,
                username: e.username.clone(),
                password: e.password.clone(),
                ca_file: e.ca_file.clone(),
            }),
            Transport::File => Delivery::File,
        };
        e.enabled.then(|| recon_report::email::EmailSettings {
            delivery,
            from: e.from.clone(),
            to: e.to.clone(),
            routes: e.routes.clone(),
            attach: e.attach,
            mask_accounts: self.report.mask_accounts,
            always: e.only_when == OnlyWhen::Always,
            resend: false,
        })
    }

    /// The effective config as TOML, secrets redacted.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// sha256 of the effective config with secrets redacted (summary.json's
    /// `config_sha256`): two runs with the same digest ran under the same settings.
    ///
    /// Credentials are left out, not only redacted: a replay reads no broker, so it runs
    /// without them, and the settings it shares with the run must still digest the same.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut settings = self.clone();
        for broker in recon_model::Broker::ALL {
            if let Some(b) = settings.brokers.get_mut(*broker).as_mut() {
                for key in ALL_CREDENTIAL_KEYS {
                    b.clear_secret(key);
                }
            }
        }
        settings.email.password = None;
        for book in settings.books.values_mut() {
            book.url = None;
        }
        hex::encode(sha2::Sha256::digest(settings.redacted_toml().as_bytes()))
    }
}

/// Turns a figment error into one that names the key and where it came from.
fn describe(figment: &Figment, e: figment::Error) -> ConfigError {
    // figment's path already ends with the unknown field's name.
    let key = e.path.clone();
    let what = match &e.kind {
        figment::error::Kind::UnknownField(_, expected) => {
            if expected.is_empty() {
                "unknown key".to_string()
            } else {
                format!("unknown key (expected one of: {})", expected.join(", "))
            }
        }
        // Never echo a secret's value ("found unsigned int `987654321012`").
        figment::error::Kind::InvalidType(actual, expected) if is_secret_key(&key.join(".")) => {
            format!(
                "invalid type: found {}, expected {expected}",
                type_name(actual)
            )
        }
        other if is_secret_key(&key.join(".")) => {
            format!("invalid value ({})", kind_name(other))
        }
        other => other.to_string(),
    };
    let dotted = key.join(".");
    let source = figment
        .find_metadata(&dotted)
        .or(e.metadata.as_ref())
        .map(|m| where_from(m, &key))
        .unwrap_or_default();
    err(format!("`{dotted}`{source}: {what}"))
}

/// The type of a value figment found, without the value.
fn type_name(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a bool",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another type",
    }
}

/// What went wrong with a secret's value, without the value.
fn kind_name(kind: &figment::error::Kind) -> &'static str {
    use figment::error::Kind;
    match kind {
        Kind::InvalidType(..) => "wrong type",
        Kind::InvalidValue(..) => "not accepted",
        Kind::InvalidLength(..) => "wrong length",
        _ => "not readable",
    }
}

/// " in recon.toml line 7" or " from environment variable RECON_X__Y".
fn where_from(metadata: &figment::Metadata, key: &[String]) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => {
            let line = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| line_of(&text, key));
            match line {
                Some(n) => format!(" in {} line {n}", path.display()),
                None => format!(" in {}", path.display()),
            }
        }
        // figment's own interpolation drops the prefix and the `__` split: spell the
        // variable as the user wrote it.
        _ => {
            let name: Vec<String> = key.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!(" from environment variable RECON_{}", name.join("__"))
        }
    }
}

/// The 1-based line of a dotted key in TOML text: `[a.b]` headers and `c = …` lines (dotted
/// keys included). Good enough to point at a typo; `None` when it cannot tell.
fn line_of(text: &str, key: &[String]) -> Option<usize> {
    let want = key.join(".");
    let mut table = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            table = header.trim_matches(['[', ' ']).to_string();
            if table == want {
                return Some(i + 1);
            }
            continue;
        }
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        let name: String = name.split('.').map(str::trim).collect::<Vec<_>>().join(".");
        let full = if table.is_empty() {
            name
        } else {
            format!("{table}.{name}")
        };
        if full == want {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
// figment's Jail closures return figment's own (large) error type; not ours to shrink.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn an_unknown_key_names_file_and_line() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "recon.toml",
                "fail_on = \"warning\"\n\n[brokers.tradezero]\napi_key_id = \"k\"\napi_kye = \"s\"\n",
            )?;
            let e = load(None).unwrap_err().to_string();
            assert!(e.contains("`brokers.tradezero.api_kye`"), "{e}");
            assert!(e.contains("recon.toml line 5"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn a_value_outside_a_closed_set_names_the_key_the_line_and_the_choices() {
        for (key, value, choices) in [
            ("transport", "smpt", &["file", "smtp"][..]),
            ("security", "ssl", &["starttls", "tls", "none"]),
            ("only_when", "sometimes", &["findings", "always"]),
        ] {
            Jail::expect_with(|jail| {
                jail.create_file(
                    "recon.toml",
                    &format!("[email]\nenabled = true\n{key} = \"{value}\"\n"),
                )?;
                let e = load(None).unwrap_err().to_string();
                assert!(e.contains(&format!("email.{key}")), "{e}");
                assert!(e.contains("recon.toml line 3"), "{e}");
                assert!(e.contains(&format!("found `{value}`")), "{e}");
                for choice in choices {
                    assert!(e.contains(&format!("`{choice}`")), "{e}");
                }
                Ok(())
            });
        }
    }

    #[test]
    fn an_unknown_key_from_the_environment_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("RECON_BROKERS__TRADEZERO__API_KYE", "x");
            let e = load(None).unwrap_err().to_string();
            assert!(e.contains("RECON_BROKERS__TRADEZERO__API_KYE"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn credentials_come_from_the_environment_and_never_print() {
        Jail::expect_with(|jail| {
            jail.create_file("recon.toml", "[brokers.tradezero]\naccounts = [\"TZ1\"]\n")?;
            jail.set_env("RECON_BROKERS__TRADEZERO__API_KEY_ID", "key-id-123");
            jail.set_env("RECON_BROKERS__TRADEZERO__API_SECRET_KEY", "secret-456");
            let config = load(None).unwrap();
            let shown = format!("{} {config:?}", config.redacted_toml());
            assert!(
                !shown.contains("key-id-123") && !shown.contains("secret-456"),
                "{shown}"
            );
            assert!(shown.contains("[redacted]"));
            Ok(())
        });
    }

    #[test]
    fn an_all_digit_secret_from_the_environment_is_a_string() {
        Jail::expect_with(|jail| {
            jail.create_file("recon.toml", "[brokers.clearstreet]\n")?;
            jail.set_env("RECON_BROKERS__CLEARSTREET__API_KEY", "007654321012");
            jail.set_env("RECON_EMAIL__PASSWORD", "12345");
            let config = load(None).unwrap();
            let key = config.brokers.clearstreet.unwrap().api_key.unwrap();
            assert_eq!(key.expose_secret(), "007654321012");
            let password = config.email.password.unwrap();
            assert_eq!(password.expose_secret(), "12345");
            Ok(())
        });
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_named_but_never_echoed() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "recon.toml",
                "[brokers.clearstreet]\napi_key = 987654321012\n",
            )?;
            let e = load(None).unwrap_err().to_string();
            assert!(e.contains("brokers.clearstreet.api_key"), "{e}");
            assert!(e.contains("an integer"), "{e}");
            assert!(!e.contains("987654321012"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn plain_http_broker_urls_are_refused_off_this_machine() {
        Jail::expect_with(|jail| {
            jail.set_env("RECON_BROKERS__CLEARSTREET__API_KEY", "k");
            for (url, ok) in [
                ("http://api.clearstreet.com", false),
                ("http://10.0.0.5:8080/v1", false),
                ("http://user@evil.example:80", false),
                ("http://127.0.0.1:9000", true),
                ("http://localhost:9000/api", true),
                ("http://[::1]:9000", true),
                ("https://api.clearstreet.com", true),
            ] {
                jail.create_file(
                    "recon.toml",
                    &format!("[brokers.clearstreet]\nbase_url = \"{url}\"\n"),
                )?;
                let result = load(None);
                assert_eq!(
                    result.is_ok(),
                    ok,
                    "{url}: {:?}",
                    result.err().map(|e| e.message)
                );
                if let Err(e) = result {
                    assert!(e.message.contains("plain http"), "{}", e.message);
                }
            }
            Ok(())
        });
    }

    #[test]
    fn checking_a_snapshot_needs_no_broker_endpoint_or_credential() {
        Jail::expect_with(|jail| {
            // The cron job's environment, reused to replay a snapshot: Architect has no
            // default endpoint, and nothing is fetched, so that is not an error offline.
            jail.set_env("RECON_BROKERS__ARCHITECT__API_KEY", "k");
            jail.set_env("RECON_BROKERS__ARCHITECT__API_SECRET", "s");
            assert!(load(None).unwrap_err().message.contains("base_url"));
            assert!(load_offline(None).is_ok());
            assert!(is_present(None));
            Ok(())
        });
    }

    #[test]
    fn an_empty_credential_is_missing() {
        Jail::expect_with(|jail| {
            jail.create_file("recon.toml", "[brokers.clearstreet]\n")?;
            jail.set_env("RECON_BROKERS__CLEARSTREET__API_KEY", "");
            let e = load(None).unwrap_err().to_string();
            assert!(e.contains("brokers.clearstreet.api_key is missing"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_credential_and_a_bad_type_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file("recon.toml", "[brokers.tradezero]\napi_key_id = \"k\"\n")?;
            let e = load(None).unwrap_err().to_string();
            assert!(e.contains("brokers.tradezero.api_secret_key"), "{e}");
            assert!(
                e.contains("RECON_BROKERS__TRADEZERO__API_SECRET_KEY"),
                "{e}"
            );
            jail.create_file(
                "recon.toml",
                "[brokers.tradezero]\nconcurrency = \"many\"\n",
            )?;
            let e = load(None).unwrap_err().to_string();
            assert!(
                e.contains("brokers.tradezero.concurrency") && e.contains("recon.toml"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_credential_under_the_wrong_broker_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "recon.toml",
                "[brokers.clearstreet]\napi_key = \"k\"\napi_key_id = \"oops\"\n",
            )?;
            let e = load(None).unwrap_err().to_string();
            assert!(
                e.contains("brokers.clearstreet.api_key_id is not a clearstreet credential")
                    && e.contains("takes api_key"),
                "{e}"
            );
            jail.create_file(
                "recon.toml",
                "[brokers.architect]\napi_key = \"k\"\napi_secret = \"s\"\n",
            )?;
            let e = load(None).unwrap_err().to_string();
            assert!(e.contains("brokers.architect.base_url is missing"), "{e}");
            jail.create_file(
                "recon.toml",
                "[brokers.tastytrade]\nclient_secret = \"c\"\n",
            )?;
            let e = load(None).unwrap_err().to_string();
            assert!(
                e.contains("RECON_BROKERS__TASTYTRADE__REFRESH_TOKEN"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn an_explicit_file_must_exist() {
        Jail::expect_with(|_| {
            let e = load(Some(Path::new("nope.toml"))).unwrap_err().to_string();
            assert!(e.contains("nope.toml") && e.contains("--config"), "{e}");
            Ok(())
        });
    }
}

#[cfg(test)]
mod example {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => keys(&key, t, out),
                _ => {
                    out.insert(key);
                }
            }
        }
    }

    /// recon.example.toml loads, and names exactly the keys the config structs know.
    #[test]
    fn the_example_names_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("recon.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config: Config = Figment::new()
            .merge(Toml::file_exact(&path))
            .extract()
            .unwrap();
        let mut documented = BTreeSet::new();
        keys("", &toml::from_str(&text).unwrap(), &mut documented);
        let mut known = BTreeSet::new();
        keys(
            "",
            &toml::from_str(&config.redacted_toml()).unwrap(),
            &mut known,
        );
        assert_eq!(documented, known);
    }
}
