//! Config errors, and figment's errors mapped to the file and line (or environment
//! variable) that set the key at fault.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config: {message}")]
pub struct ConfigError {
    pub message: String,
}

pub(super) fn err(message: impl Into<String>) -> ConfigError {
    ConfigError {
        message: message.into(),
    }
}

/// Turns a figment error into one that names the key and where it came from.
pub(super) fn describe(figment: &Figment, e: figment::Error) -> ConfigError {
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
pub(super) fn type_name(actual: &figment::error::Actual) -> &'static str {
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
pub(super) fn kind_name(kind: &figment::error::Kind) -> &'static str {
    use figment::error::Kind;
    match kind {
        Kind::InvalidType(..) => "wrong type",
        Kind::InvalidValue(..) => "not accepted",
        Kind::InvalidLength(..) => "wrong length",
        _ => "not readable",
    }
}

/// " in recon.toml line 7" or " from environment variable RECON_X__Y".
pub(super) fn where_from(metadata: &figment::Metadata, key: &[String]) -> String {
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
pub(super) fn line_of(text: &str, key: &[String]) -> Option<usize> {
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
