//! A loaded config turned into what the run uses: the business date, the pack files, the
//! book specs, the email settings, and the redacted text and digest a report records.

use super::*;

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
    pub fn book_specs(&self) -> Vec<recon_frames::books::BookSpec> {
        self.books
            .iter()
            .map(|(name, b)| recon_frames::books::BookSpec {
                postgres: (b.source == BookSource::Postgres).then(|| recon_frames::books::PgSpec {
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
        for b in settings.brokers.0.values_mut() {
            for key in BrokerConfig::credential_keys() {
                b.clear_secret(key);
            }
        }
        settings.email.password = None;
        for book in settings.books.values_mut() {
            book.url = None;
        }
        hex::encode(sha2::Sha256::digest(settings.redacted_toml().as_bytes()))
    }
}
