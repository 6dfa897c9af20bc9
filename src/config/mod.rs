//! Configuration (DESIGN.md "Config"): `recon.toml` (or `--config`, or `RECON_CONFIG`),
//! overlaid by `RECON_*` environment variables with `__` for nesting
//! (`RECON_BROKERS__TRADEZERO__API_SECRET_KEY`), and a `.env` file if present. The structs
//! mirror the pipeline: brokers (fetch), then rules. An unknown key, a bad type or a missing
//! credential for an enabled broker is a usage error naming the key and where it came from
//! (file and line, or environment variable). Credentials are `SecretString`s: they never
//! print, and `recon config check` shows them as `[redacted]`.
//!
//! This module loads (file, environment, `.env`); `schema` is the shape, `validate` what a
//! config must satisfy beyond it, `errors` maps figment's errors to where a key was set, and
//! `settings` turns a config into what a run uses.

mod errors;
mod schema;
mod settings;
mod validate;

pub use errors::ConfigError;
use errors::{describe, err};
pub use schema::*;
use validate::validate;

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
        || BrokerConfig::credential_keys()
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
    fn a_section_for_a_broker_recon_does_not_know_is_refused_with_the_choices() {
        Jail::expect_with(|jail| {
            jail.create_file("recon.toml", "[brokers.ibkr]\napi_key = \"k\"\n")?;
            let e = load_offline(None).unwrap_err().to_string();
            assert!(e.contains("`brokers.ibkr` in recon.toml line 1"), "{e}");
            assert!(e.contains("found `ibkr`"), "{e}");
            for broker in Broker::ALL {
                assert!(e.contains(&format!("`{broker}`")), "{e}");
            }
            Ok(())
        });
    }

    #[test]
    fn every_credential_of_the_broker_table_is_a_field_and_no_field_is_unknown_to_it() {
        let mut fields = BrokerConfig::credential_keys().to_vec();
        let mut table = recon_model::brokers::all_credential_keys();
        fields.sort_unstable();
        table.sort_unstable();
        assert_eq!(fields, table);
        for key in BrokerConfig::credential_keys() {
            let mut b = BrokerConfig::default();
            b.set_secret(key, "s3cret");
            assert_eq!(
                b.secret(key).map(|s| s.expose_secret()),
                Some("s3cret"),
                "{key}"
            );
            b.clear_secret(key);
            assert!(b.secret(key).is_none(), "{key}");
        }
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
        Jail::expect_with(|jail| {
            jail.create_file("recon.toml", "[books.oms]\nsource = \"pg\"\n")?;
            let e = load(None).unwrap_err().to_string();
            assert!(
                e.contains("books.oms.source") && e.contains("line 2"),
                "{e}"
            );
            assert!(e.contains("`file`") && e.contains("`postgres`"), "{e}");
            Ok(())
        });
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
            let key = config
                .brokers
                .get(Broker::Clearstreet)
                .unwrap()
                .api_key
                .clone()
                .unwrap();
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
