//! The config file's shape: every section and key, their defaults, and how secrets and
//! paths are written back out (redacted, relative).

use super::*;

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
    /// The peak memory a check aims at (`"1GiB"`, `"512MiB"`): the snapshot is checked in
    /// chunks of accounts sized to it (DESIGN.md "Scale"). Default 1 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_budget: Option<bytesize::ByteSize>,
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
    #[serde(default)]
    pub source: BookSource,
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

/// Where a book of record is read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BookSource {
    /// CSV or Parquet files.
    #[default]
    File,
    /// Queries against a PostgreSQL server.
    Postgres,
}

impl BookConfig {
    /// A book held in files: its positions, and its cash if any.
    pub fn files(positions: PathBuf, cash: Option<PathBuf>) -> BookConfig {
        BookConfig {
            source: BookSource::File,
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

pub(super) fn as_opt_path<S: Serializer>(
    value: &Option<RelativePathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
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

pub(super) fn default_smtp_port() -> u16 {
    587
}
pub(super) fn default_security() -> Security {
    Security::StartTls
}
pub(super) fn default_from() -> String {
    "recon@localhost".into()
}

pub(super) fn default_timezone() -> String {
    "America/New_York".into()
}
pub(super) fn default_out_dir() -> RelativePathBuf {
    RelativePathBuf::from(PathBuf::from(DEFAULT_OUT_DIR))
}
pub(super) fn default_fail_on() -> Severity {
    Severity::Error
}

/// `[brokers.<name>]`: each broker's section, keyed by the broker (a name outside
/// `recon_model::Broker` is refused by serde, naming the choices). A map, not a field per
/// broker, so a new broker needs no line here: its name and credential keys come from the
/// broker table in `recon_model::brokers`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Brokers(pub BTreeMap<Broker, BrokerConfig>);

impl Brokers {
    /// Every configured broker, enabled or not, in the broker table's order.
    pub fn configured(&self) -> impl Iterator<Item = (Broker, &BrokerConfig)> {
        self.0.iter().map(|(b, c)| (*b, c))
    }

    /// The brokers a run fetches.
    pub fn enabled(&self) -> impl Iterator<Item = (Broker, &BrokerConfig)> {
        self.configured().filter(|(_, c)| c.enabled)
    }

    pub fn get(&self, broker: Broker) -> Option<&BrokerConfig> {
        self.0.get(&broker)
    }

    pub fn insert(&mut self, broker: Broker, section: BrokerConfig) {
        self.0.insert(broker, section);
    }
}

/// The credential keys each broker takes (DESIGN.md "Config", the table in
/// `recon_model::brokers`); any other credential key in its section is refused, so a key
/// pasted under the wrong broker is caught.
pub fn credential_keys(broker: Broker) -> &'static [&'static str] {
    recon_model::brokers::spec(broker).credentials
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

    /// Every credential field by its key: the one list of them (a test keeps it equal to
    /// the keys of the broker table in `recon_model::brokers`).
    fn credential_slots(&mut self) -> [(&'static str, &mut Option<SecretString>); 10] {
        [
            ("client_secret", &mut self.client_secret),
            ("refresh_token", &mut self.refresh_token),
            ("api_key_id", &mut self.api_key_id),
            ("api_secret_key", &mut self.api_secret_key),
            ("api_key", &mut self.api_key),
            ("api_secret", &mut self.api_secret),
            ("consumer_key", &mut self.consumer_key),
            ("consumer_secret", &mut self.consumer_secret),
            ("access_token", &mut self.access_token),
            ("access_token_secret", &mut self.access_token_secret),
        ]
    }

    /// The credential named `key` (one of [`credential_keys`]).
    pub fn secret(&self, key: &str) -> Option<&SecretString> {
        let field = match key {
            "client_secret" => &self.client_secret,
            "refresh_token" => &self.refresh_token,
            "api_key_id" => &self.api_key_id,
            "api_secret_key" => &self.api_secret_key,
            "api_key" => &self.api_key,
            "api_secret" => &self.api_secret,
            "consumer_key" => &self.consumer_key,
            "consumer_secret" => &self.consumer_secret,
            "access_token" => &self.access_token,
            "access_token_secret" => &self.access_token_secret,
            _ => return None,
        };
        field.as_ref()
    }

    /// Removes the credential named `key`.
    pub fn clear_secret(&mut self, key: &str) {
        if let Some((_, slot)) = self.credential_slots().into_iter().find(|(k, _)| *k == key) {
            *slot = None;
        }
    }

    /// Sets the credential named `key`.
    pub fn set_secret(&mut self, key: &str, value: impl Into<String>) {
        if let Some((_, slot)) = self.credential_slots().into_iter().find(|(k, _)| *k == key) {
            *slot = Some(SecretString::from(value.into()));
        }
    }

    /// Every credential key a broker section can hold.
    pub fn credential_keys() -> [&'static str; 10] {
        BrokerConfig::default().credential_slots().map(|(k, _)| k)
    }

    /// The configured URL, else the broker's production URL.
    pub fn url(&self, broker: Broker) -> Option<String> {
        self.base_url.clone().or_else(|| {
            recon_model::brokers::spec(broker)
                .default_url
                .map(str::to_string)
        })
    }
}

pub(super) fn yes() -> bool {
    true
}
pub(super) fn default_concurrency() -> usize {
    4
}
pub(super) fn default_timeout() -> u64 {
    30
}
pub(super) fn default_retries() -> usize {
    3
}
pub(super) fn default_deadline() -> u64 {
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
pub(super) fn as_path<S: Serializer>(value: &RelativePathBuf, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.relative().display().to_string())
}

/// Secrets print as `[redacted]` (or null when unset), never as themselves.
pub(super) fn redact<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}
