//! What a config must satisfy beyond its shape: email and book settings that go together,
//! plain-text transports only on this machine, credentials for the brokers being fetched.

use super::*;

/// The host of a URL's remainder after `scheme://` (`[::1]:8080/x` → `::1`).
pub(super) fn url_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    }
}

/// 127.0.0.0/8, ::1 or localhost.
pub(super) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn validate(config: &Config, fetching: bool) -> Result<(), ConfigError> {
    email(&config.email)?;
    for (name, book) in &config.books {
        book_of_record(name, book)?;
    }
    if config.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(err(format!(
            "timezone `{}` is not an IANA time zone (like America/New_York)",
            config.timezone
        )));
    }
    for (broker, b) in config.brokers.enabled() {
        broker_settings(broker, b, fetching)?;
    }
    Ok(())
}

/// An enabled email can be delivered: an SMTP host, no plain text off this machine,
/// username and password together, a readable CA file, and someone to send to.
fn email(email: &EmailConfig) -> Result<(), ConfigError> {
    if !email.enabled {
        return Ok(());
    }
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
    Ok(())
}

/// A book names where it is read from, in the way its source needs, and aliases name a
/// known broker.
fn book_of_record(name: &str, book: &BookConfig) -> Result<(), ConfigError> {
    match book.source {
        BookSource::File if book.positions.is_none() => {
            return Err(err(format!(
                "books.{name}.positions is missing: the CSV or Parquet file (or glob) of the book's positions"
            )));
        }
        BookSource::Postgres if book.positions_query.is_none() => {
            return Err(err(format!(
                "books.{name}.positions_query is missing: the SQL that returns the book's positions"
            )));
        }
        BookSource::File if book.url.is_some() => {
            return Err(err(format!(
                "books.{name}.url is for source = \"postgres\""
            )));
        }
        BookSource::File | BookSource::Postgres => {}
    }
    for (account, target) in &book.accounts {
        let broker = target.split_once(':').map(|(b, _)| b);
        if broker.and_then(|b| b.parse::<Broker>().ok()).is_none() {
            return Err(err(format!(
                "books.{name}.accounts.\"{account}\" = `{target}` is not `<broker>:<account_id>`"
            )));
        }
    }
    Ok(())
}

/// An enabled broker's credentials (when fetching), and an endpoint that keeps them
/// encrypted off this machine.
fn broker_settings(broker: Broker, b: &BrokerConfig, fetching: bool) -> Result<(), ConfigError> {
    let keys = credential_keys(broker);
    for key in BrokerConfig::credential_keys() {
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
            return Ok(());
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
    Ok(())
}
