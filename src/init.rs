//! `recon init [DIR] --broker …`: a starting `recon.toml` for the brokers named, with each
//! key commented, and a `.env` template (mode 0600) listing exactly the credential
//! variables those brokers need. Once the variables are filled in, `recon config check`
//! passes; nothing is overwritten unless asked.

use crate::config::{self, credential_keys};
use recon_model::Broker;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What `recon init` wrote.
#[derive(Debug)]
pub struct Written {
    pub config: PathBuf,
    pub env: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} exists: pass --force to replace it", .0.display())]
    Exists(PathBuf),
    #[error("name at least one broker (--broker {})", broker_names())]
    NoBroker,
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn broker_names() -> String {
    Broker::ALL
        .iter()
        .map(|b| b.as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The environment variable that carries `key` of `broker` (figment's `__` nesting).
pub fn credential_var(broker: Broker, key: &str) -> String {
    format!(
        "RECON_BROKERS__{}__{}",
        broker.as_str().to_uppercase(),
        key.to_uppercase()
    )
}

/// How a broker authenticates, in one comment line, and its API's base URL line.
fn broker_notes(broker: Broker) -> (&'static str, &'static str) {
    let spec = recon_model::brokers::spec(broker);
    (spec.auth, spec.url_line)
}

/// The text of `recon.toml` for `brokers`.
pub fn config_text(brokers: &[Broker]) -> String {
    let mut out = String::from(
        "# recon.toml, written by `recon init`. Every key: recon.example.toml in the recon sources.\n\
         # Credentials are not in this file: they come from the environment, or from the .env\n\
         # beside it (readable only by the batch user). `recon config check` validates both.\n\n\
         # The business date defaults to today in this time zone.\n\
         timezone = \"America/New_York\"\n\
         # Runs are written to <out_dir>/<as_of>/<run_id>/.\n\
         out_dir = \"./recon-out\"\n\
         # The lowest severity that makes the exit code 1: info | warning | error | critical.\n\
         fail_on = \"error\"\n\
         # The peak memory a check aims at: big books are checked in chunks of accounts.\n\
         # memory_budget = \"1GiB\"\n",
    );
    for &broker in brokers {
        let (auth, url) = broker_notes(broker);
        let vars: Vec<String> = credential_keys(broker)
            .iter()
            .map(|k| credential_var(broker, k))
            .collect();
        let _ = write!(
            out,
            "\n[brokers.{name}]\n# {auth}\n# Credentials: {vars}.\n{url}\n\
             # accounts = [\"…\"]   # only these accounts; default: every account the credentials see\n",
            name = broker.as_str(),
            vars = vars.join(", "),
        );
    }
    out.push_str(
        "\n[rules]\n\
         # Built-in packs by id (core, risk, data-quality) and pack files or globs.\n\
         packs = [\"core\"]\n\n\
         [report]\n\
         # Account numbers are masked in emails (TZ****0002).\n\
         mask_accounts = true\n\n\
         [email]\n\
         # Set enabled = true and the SMTP keys (recon.example.toml) to mail the report.\n\
         enabled = false\n",
    );
    out
}

/// The text of the `.env` template for `brokers`: one empty assignment per credential.
pub fn env_text(brokers: &[Broker]) -> String {
    let mut out = String::from(
        "# Credentials for recon, read by `recon` from this folder (or export them).\n\
         # Keep this file readable only by the batch user (mode 0600).\n",
    );
    for &broker in brokers {
        let _ = writeln!(out, "\n# {}", broker.as_str());
        for key in credential_keys(broker) {
            let _ = writeln!(out, "{}=", credential_var(broker, key));
        }
    }
    out
}

/// Writes `recon.toml` and `.env` into `dir` (created if missing).
pub fn init(dir: &Path, brokers: &[Broker], force: bool) -> Result<Written, InitError> {
    if brokers.is_empty() {
        return Err(InitError::NoBroker);
    }
    let mut brokers = brokers.to_vec();
    brokers.sort();
    brokers.dedup();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let config = dir.join(config::DEFAULT_FILE);
    let env = dir.join(".env");
    for path in [&config, &env] {
        if path.exists() && !force {
            return Err(InitError::Exists(path.clone()));
        }
    }
    std::fs::write(&config, config_text(&brokers)).map_err(io(&config))?;
    write_private(&env, env_text(&brokers).as_bytes()).map_err(io(&env))?;
    Ok(Written { config, env })
}

/// Writes a file only its owner can read: created 0600, and a file replaced with --force is
/// set to 0600 before anything is written into it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_template_lists_exactly_the_named_brokers_credentials() {
        let text = env_text(&[Broker::Tastytrade, Broker::Etrade]);
        let vars: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(
            vars,
            [
                "RECON_BROKERS__TASTYTRADE__CLIENT_SECRET=",
                "RECON_BROKERS__TASTYTRADE__REFRESH_TOKEN=",
                "RECON_BROKERS__ETRADE__CONSUMER_KEY=",
                "RECON_BROKERS__ETRADE__CONSUMER_SECRET=",
                "RECON_BROKERS__ETRADE__ACCESS_TOKEN=",
                "RECON_BROKERS__ETRADE__ACCESS_TOKEN_SECRET=",
            ]
        );
    }

    #[test]
    fn init_refuses_to_overwrite_and_writes_a_private_env() {
        let dir = tempfile::tempdir().unwrap();
        let written = init(dir.path(), &[Broker::Clearstreet], false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&written.env)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = init(dir.path(), &[Broker::Clearstreet], false).unwrap_err();
        assert!(again.to_string().contains("--force"), "{again}");
        init(dir.path(), &[Broker::Tradezero], true).unwrap();
        let config = std::fs::read_to_string(&written.config).unwrap();
        assert!(config.contains("[brokers.tradezero]") && !config.contains("clearstreet"));
        assert!(matches!(
            init(dir.path(), &[], true),
            Err(InitError::NoBroker)
        ));
    }
}
