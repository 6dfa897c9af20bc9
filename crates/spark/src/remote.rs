//! Spark Connect endpoints as every Spark Connect client spells them:
//! `sc://host[:port][/;key=value;key=value…]` (default port 15002).
//!
//! Keys recon understands: `use_ssl` (`true` for TLS), `user_id`, `session_id` (a UUID, to
//! share a server-side session) and `user_agent`. Any other key (Databricks'
//! `x-databricks-cluster-id`, say) is sent as a gRPC header on every call. A `token` in the
//! address is refused: a bearer token comes from the environment (`RECON_SPARK_TOKEN`), so it
//! never sits in a config file, a shell history or a log line that prints the address.

use secrecy::SecretString;
use std::fmt;

/// The environment variable a bearer token for a managed cluster is read from.
pub const TOKEN_ENV: &str = "RECON_SPARK_TOKEN";

/// Spark Connect's default port.
pub const DEFAULT_PORT: u16 = 15002;

/// A parsed `sc://` address.
#[derive(Clone)]
pub struct Remote {
    pub host: String,
    pub port: u16,
    pub use_ssl: bool,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub user_agent: Option<String>,
    /// Other `key=value` pairs, sent as gRPC headers.
    pub headers: Vec<(String, String)>,
    /// A bearer token (from `RECON_SPARK_TOKEN`); implies TLS.
    pub token: Option<SecretString>,
}

impl fmt::Debug for Remote {
    // The address without its token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sc://{}:{}", self.host, self.port)?;
        if self.tls() {
            write!(f, " (TLS)")?;
        }
        if self.token.is_some() {
            write!(f, " with a token")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Spark Connect address `{address}`: {reason}")]
pub struct RemoteError {
    pub address: String,
    pub reason: String,
}

impl Remote {
    /// Parses `address`; the token, if any, is given separately (from the environment).
    pub fn parse(address: &str, token: Option<SecretString>) -> Result<Remote, RemoteError> {
        let fail = |reason: String| RemoteError {
            // Never echo a token the user put in the address by mistake.
            address: address.split(";token=").next().unwrap_or("").to_string(),
            reason,
        };
        let rest = address
            .strip_prefix("sc://")
            .ok_or_else(|| fail("must start with sc://".into()))?;
        let (authority, params) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| fail(format!("`{p}` is not a port number")))?,
            ),
            None => (authority, DEFAULT_PORT),
        };
        if host.is_empty() {
            return Err(fail("has no host".into()));
        }
        let mut remote = Remote {
            host: host.to_string(),
            port,
            use_ssl: false,
            user_id: None,
            session_id: None,
            user_agent: None,
            headers: Vec::new(),
            token,
        };
        for pair in params.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| fail(format!("`{pair}` is not key=value")))?;
            match key {
                "token" => {
                    return Err(fail(format!(
                        "a token does not belong in the address; set {TOKEN_ENV} instead"
                    )));
                }
                "use_ssl" => {
                    remote.use_ssl = value.parse().map_err(|_| {
                        fail(format!("use_ssl must be true or false, not `{value}`"))
                    })?
                }
                "user_id" => remote.user_id = Some(value.to_string()),
                "session_id" => remote.session_id = Some(value.to_string()),
                "user_agent" => remote.user_agent = Some(value.to_string()),
                _ => remote.headers.push((key.to_string(), value.to_string())),
            }
        }
        Ok(remote)
    }

    /// TLS when asked for, and always with a token: a bearer token is never sent in clear.
    pub fn tls(&self) -> bool {
        self.use_ssl || self.token.is_some()
    }

    /// The HTTP/2 endpoint tonic connects to.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spark_connect_address_forms() {
        let r = Remote::parse("sc://127.0.0.1:15003", None).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.tls()),
            ("127.0.0.1", 15003, false)
        );
        assert_eq!(r.endpoint(), "http://127.0.0.1:15003");

        let r = Remote::parse("sc://spark.example", None).unwrap();
        assert_eq!(r.port, DEFAULT_PORT);

        let r = Remote::parse(
            "sc://dbc-1.cloud.databricks.com:443/;use_ssl=true;x-databricks-cluster-id=0123;user_id=ops",
            None,
        )
        .unwrap();
        assert!(r.tls());
        assert_eq!(r.endpoint(), "https://dbc-1.cloud.databricks.com:443");
        assert_eq!(r.user_id.as_deref(), Some("ops"));
        assert_eq!(
            r.headers,
            vec![("x-databricks-cluster-id".to_string(), "0123".to_string())]
        );
    }

    #[test]
    fn a_token_in_the_address_is_refused_without_echoing_it() {
        let e = Remote::parse("sc://h:443/;token=s3cr3t", None).unwrap_err();
        assert!(e.to_string().contains(TOKEN_ENV), "{e}");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }

    #[test]
    fn a_token_forces_tls_and_never_prints() {
        let r = Remote::parse("sc://h:443", Some(SecretString::from("s3cr3t"))).unwrap();
        assert!(r.tls());
        assert!(!format!("{r:?} {r}").contains("s3cr3t"));
    }

    #[test]
    fn bad_addresses_say_why() {
        for (address, why) in [
            ("http://h:1", "sc://"),
            ("sc://h:port", "port number"),
            ("sc://:15002", "no host"),
            ("sc://h/;use_ssl=yes", "use_ssl"),
            ("sc://h/;flag", "key=value"),
        ] {
            let e = Remote::parse(address, None).unwrap_err();
            assert!(e.to_string().contains(why), "{address}: {e}");
        }
    }
}
