//! The rule-pack format (DESIGN.md "Rule packs"): `[pack]`, `[params]`, `[[rule]]`. Parsing
//! refuses unknown keys, bad severities and duplicate ids, and every error names the file and
//! the rule at fault.

use crate::finding::Severity;
use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// The core pack, built into the binary so recon runs with no files around it.
pub const CORE_PACK: &str = include_str!("../../../rules/core.toml");
/// The name errors give the built-in core pack.
pub const CORE_PACK_FILE: &str = "rules/core.toml";

/// Every pack shipped in the binary: (id, file it was built from, text). `core` runs when
/// no pack is configured; the others are named in `rules.packs` (or `--packs`) by id.
pub const BUILTIN_PACKS: [(&str, &str, &str); 4] = [
    ("core", CORE_PACK_FILE, CORE_PACK),
    (
        "risk",
        "rules/risk.toml",
        include_str!("../../../rules/risk.toml"),
    ),
    (
        "data-quality",
        "rules/data-quality.toml",
        include_str!("../../../rules/data-quality.toml"),
    ),
    (
        "books",
        "rules/books.toml",
        include_str!("../../../rules/books.toml"),
    ),
];

/// Whether `name` in `rules.packs` or `--pack` means a built-in pack: its id, and no file
/// of that name (a file wins).
pub fn names_builtin(name: &str) -> bool {
    BUILTIN_PACKS.iter().any(|(id, _, _)| *id == name) && !Path::new(name).exists()
}

/// The built-in pack with this id. A shipped rule without its four doc sections is an
/// error: the docs are a contract for the packs recon ships.
pub fn builtin_pack(id: &str) -> Option<Result<Pack, PackError>> {
    BUILTIN_PACKS
        .iter()
        .find(|(name, _, _)| *name == id)
        .map(|(_, file, text)| parse_pack(text, file).and_then(documented))
}

/// The sections every rule's `doc` has, each opening a line: what it checks, why it
/// matters, an example that fails and one that passes (the examples are the rule's case
/// file, `rules/tests/<pack>/<rule-id>.toml`, run by `recon rules test`).
pub const DOC_SECTIONS: [&str; 4] = ["What it checks:", "Why it matters:", "Fails:", "Passes:"];

/// `pack` if every rule has every doc section; otherwise the first rule that lacks one.
pub fn documented(pack: Pack) -> Result<Pack, PackError> {
    for rule in &pack.rules {
        let missing = rule.missing_doc_sections();
        if !missing.is_empty() {
            return Err(PackError::Rule {
                file: pack.file.clone(),
                rule: rule.id.clone(),
                message: format!("its doc lacks {}", missing.join(", ")),
                suggestion: None,
            });
        }
    }
    Ok(pack)
}

impl Rule {
    /// The `DOC_SECTIONS` this rule's `doc` does not have.
    pub fn missing_doc_sections(&self) -> Vec<&'static str> {
        DOC_SECTIONS
            .into_iter()
            .filter(|section| {
                !self
                    .doc
                    .lines()
                    .any(|l| l.trim_start().starts_with(section))
            })
            .collect()
    }

    /// Every `:param` the rule's expressions name, once each, in the order first named:
    /// read from the SQL tokens, so `:value_tol` never matches `:value_tol_abs`.
    pub fn param_names(&self) -> Vec<String> {
        let expressions = self
            .scope
            .iter()
            .chain([&self.check])
            .chain(self.query.iter())
            .chain(self.evidence.values())
            .chain(self.severity_when.iter().map(|w| &w.when));
        let mut names: Vec<String> = Vec::new();
        for name in expressions.flat_map(|e| crate::literals::param_names(e)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// A typed parameter. Decimals stay exact; they reach SQL as Decimal literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Decimal(Decimal),
    Integer(i64),
    Text(String),
    /// A duration (`"36h"`, `"2d"`, `"1d12h"`, `"90m"`), in whole seconds: in an
    /// expression it is that many seconds, compared with `*_age` columns (seconds).
    Duration(i64),
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Decimal(d) => write!(f, "{d}"),
            Param::Integer(i) => write!(f, "{i}"),
            Param::Text(t) => write!(f, "'{t}'"),
            Param::Duration(s) => write!(f, "{} ({s} s)", show_duration(*s)),
        }
    }
}

/// Reads `"36h"`, `"2d"`, `"1d12h"`, `"90m"`, `"45s"`: whole numbers of days, hours,
/// minutes and seconds, largest unit first. `None` for anything else.
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_unit = i64::MAX;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        if digits.is_empty() || unit >= last_unit {
            return None;
        }
        total = total.checked_add(digits.parse::<i64>().ok()?.checked_mul(unit)?)?;
        digits.clear();
        last_unit = unit;
    }
    (digits.is_empty() && last_unit != i64::MAX).then_some(total)
}

/// `129600` → `"1d12h"`.
pub fn show_duration(mut seconds: i64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if seconds >= unit {
            out.push_str(&format!("{}{name}", seconds / unit));
            seconds %= unit;
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct Pack {
    /// Where it came from, for error messages.
    pub file: String,
    pub id: String,
    pub version: String,
    pub description: String,
    pub params: BTreeMap<String, Param>,
    pub rules: Vec<Rule>,
    /// sha256 of the pack text, so a report says exactly which pack ran.
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub title: String,
    #[serde(deserialize_with = "severity")]
    pub severity: Severity,
    /// Raise or lower the severity where a condition holds; the first that holds wins.
    #[serde(default)]
    pub severity_when: Vec<SeverityWhen>,
    /// The view or frame a predicate rule runs on (for a `query` rule: `query`).
    #[serde(default)]
    pub on: String,
    #[serde(default, rename = "where")]
    pub scope: Option<String>,
    /// The predicate: a row fails when false, is unknown when null.
    #[serde(default)]
    pub check: String,
    /// Or a whole SQL statement over the views that returns the failing rows (set rules a
    /// row predicate cannot say). Its key columns (broker, account_id, position_id, symbol)
    /// identify each finding; every other column is evidence.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub evidence: BTreeMap<String, String>,
    pub message: String,
    /// What it checks, why it matters, an example that fails and one that passes.
    #[serde(default)]
    pub doc: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityWhen {
    pub when: String,
    #[serde(deserialize_with = "severity")]
    pub severity: Severity,
}

fn severity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
    let s = String::deserialize(d)?;
    Severity::from_str(&s).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    pack: PackHeader,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "rule")]
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackHeader {
    id: String,
    version: String,
    #[serde(default)]
    description: String,
}

/// Why a pack was refused. Every variant names the file; rule-level ones the rule id too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("{file}: cannot read: {message}")]
    Io { file: String, message: String },
    #[error("{file}: not a valid rule pack: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: parameter `{name}`: {message}")]
    Param {
        file: String,
        name: String,
        message: String,
    },
    #[error("{file}: rule id `{rule}` is also defined in {other}")]
    DuplicateRule {
        file: String,
        rule: String,
        other: String,
    },
    #[error("{file}: rule `{rule}`: {message}{}", suggest(suggestion))]
    Rule {
        file: String,
        rule: String,
        message: String,
        suggestion: Option<String>,
    },
}

fn suggest(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// Reads a pack from a file.
pub fn load_pack_file(path: &Path) -> Result<Pack, PackError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PackError::Io {
        file: file.clone(),
        message: e.to_string(),
    })?;
    parse_pack(&text, &file)
}

/// Parses a pack; `file` names it in errors.
pub fn parse_pack(text: &str, file: &str) -> Result<Pack, PackError> {
    let raw: PackFile = toml::from_str(text).map_err(|e| PackError::Syntax {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut params = BTreeMap::new();
    for (name, value) in raw.params {
        params.insert(name.clone(), param(file, &name, value)?);
    }
    let mut rules = raw.rules;
    for rule in &mut rules {
        let shape = |message: &str| PackError::Rule {
            file: file.to_string(),
            rule: rule.id.clone(),
            message: message.into(),
            suggestion: None,
        };
        if rule.query.is_some() {
            if !rule.check.is_empty()
                || rule.scope.is_some()
                || !rule.evidence.is_empty()
                || !rule.severity_when.is_empty()
            {
                return Err(shape(
                    "a `query` rule has no `check`, `where`, `evidence` or `severity_when`: its rows are the failures and its columns the evidence",
                ));
            }
            if rule.on.is_empty() {
                rule.on = "query".into();
            }
        } else if rule.on.is_empty() || rule.check.is_empty() {
            return Err(shape("a rule needs `on` and `check`, or a `query`"));
        }
    }
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    for rule in &rules {
        if seen.insert(&rule.id, ()).is_some() {
            return Err(PackError::DuplicateRule {
                file: file.to_string(),
                rule: rule.id.clone(),
                other: file.to_string(),
            });
        }
        if !valid_id(&rule.id) {
            return Err(PackError::Rule {
                file: file.to_string(),
                rule: rule.id.clone(),
                message: "a rule id is lowercase letters, digits and dashes".into(),
                suggestion: None,
            });
        }
    }
    Ok(Pack {
        file: file.to_string(),
        id: raw.pack.id,
        version: raw.pack.version,
        description: raw.pack.description,
        params,
        rules,
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// TOML integers are integers; strings that read as decimals are exact decimals; other
/// strings are text. Floats are refused: `0.1` in TOML is already a binary float.
fn param(file: &str, name: &str, value: toml::Value) -> Result<Param, PackError> {
    let err = |message: String| PackError::Param {
        file: file.to_string(),
        name: name.to_string(),
        message,
    };
    match value {
        toml::Value::Integer(i) => Ok(Param::Integer(i)),
        toml::Value::String(s) => Ok(match Decimal::from_str(s.trim()) {
            Ok(d) => Param::Decimal(d),
            Err(_) => match parse_duration(&s) {
                Some(seconds) => Param::Duration(seconds),
                None => Param::Text(s),
            },
        }),
        toml::Value::Float(f) => Err(err(format!(
            "{f} is a float; write decimals as strings (\"{f}\") so they stay exact"
        ))),
        other => Err(err(format!(
            "{} values are not parameters (use an integer or a string)",
            other.type_str()
        ))),
    }
}

/// Refuses a rule id defined by two packs.
pub fn check_unique_ids(packs: &[Pack]) -> Result<(), PackError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for pack in packs {
        for rule in &pack.rules {
            if let Some(other) = seen.insert(&rule.id, &pack.file) {
                return Err(PackError::DuplicateRule {
                    file: pack.file.clone(),
                    rule: rule.id.clone(),
                    other: other.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_rule_is_documented_and_an_undocumented_one_is_refused_by_name() {
        for (id, _, _) in BUILTIN_PACKS {
            let pack = builtin_pack(id).unwrap().unwrap_or_else(|e| panic!("{e}"));
            assert!(!pack.rules.is_empty(), "{id}");
        }
        let (_, file, text) = BUILTIN_PACKS[0];
        let mut pack = parse_pack(text, file).unwrap();
        pack.rules[1].doc = pack.rules[1].doc.replace("Passes:", "Passing:");
        let e = documented(pack.clone()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("rule `{}`", pack.rules[1].id)) && e.ends_with("lacks Passes:"),
            "{e}"
        );
    }

    #[test]
    fn a_rule_names_its_params_by_token_not_by_substring() {
        let (_, file, text) = BUILTIN_PACKS[3];
        let pack = parse_pack(text, file).unwrap();
        let value = pack
            .rules
            .iter()
            .find(|r| r.id == "book-value-break")
            .unwrap();
        assert_eq!(value.param_names(), ["value_tol_abs", "value_tol_rel"]);
        let price = pack
            .rules
            .iter()
            .find(|r| r.id == "book-price-break")
            .unwrap();
        assert_eq!(
            price.param_names(),
            [
                "price_tol_equity",
                "price_tol_option",
                "price_tol_future",
                "price_tol_other"
            ]
        );
    }

    #[test]
    fn durations_read_whole_units_largest_first() {
        assert_eq!(parse_duration("36h"), Some(129_600));
        assert_eq!(parse_duration("1d12h"), Some(129_600));
        assert_eq!(parse_duration("90m"), Some(5_400));
        assert_eq!(parse_duration(" 2d "), Some(172_800));
        assert_eq!(parse_duration("45s"), Some(45));
        for bad in ["", "h", "36", "1.5h", "12h1d", "1h1h", "3w", "-1h", "1 h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(show_duration(129_600), "1d12h");
        assert_eq!(Param::Duration(5_400).to_string(), "1h30m (5400 s)");
    }

    #[test]
    fn the_core_pack_parses() {
        let pack = parse_pack(CORE_PACK, CORE_PACK_FILE).unwrap();
        assert_eq!(pack.id, "core");
        assert!(pack.rules.iter().any(|r| r.id == "account-value-identity"));
        assert!(pack.rules.iter().any(|r| r.id == "pnl-coverage"));
        assert_eq!(
            pack.params["value_tol_abs"],
            Param::Decimal(Decimal::from_str("5.00").unwrap())
        );
    }

    const MINIMAL: &str = r#"
[pack]
id = "p"
version = "1"
[[rule]]
id = "r"
title = "t"
severity = "error"
on = "account_view"
check = "cash >= 0"
message = "m"
"#;

    #[test]
    fn float_params_are_refused() {
        let text = format!("{MINIMAL}\n[params]\ntol = 0.001\n");
        let err = parse_pack(&text, "x.toml").unwrap_err().to_string();
        assert!(
            err.contains("x.toml") && err.contains("tol") && err.contains("float"),
            "{err}"
        );
    }

    #[test]
    fn bad_severity_and_unknown_keys_name_the_file() {
        let bad = MINIMAL.replace("severity = \"error\"", "severity = \"fatal\"");
        let err = parse_pack(&bad, "x.toml").unwrap_err().to_string();
        assert!(err.contains("x.toml") && err.contains("fatal"), "{err}");
        let bad = MINIMAL.replace("check =", "chekc = \"x\"\ncheck =");
        let err = parse_pack(&bad, "x.toml").unwrap_err().to_string();
        assert!(err.contains("chekc"), "{err}");
    }

    #[test]
    fn duplicate_ids_across_packs_are_refused() {
        let a = parse_pack(MINIMAL, "a.toml").unwrap();
        let b = parse_pack(MINIMAL, "b.toml").unwrap();
        let err = check_unique_ids(&[a, b]).unwrap_err().to_string();
        assert!(
            err.contains("a.toml") && err.contains("b.toml") && err.contains("`r`"),
            "{err}"
        );
    }

    #[test]
    fn nearest_suggests_typos_only() {
        let names = ["net_liq", "cash", "position_value"];
        assert_eq!(nearest("net_lq", names).as_deref(), Some("net_liq"));
        assert_eq!(
            nearest("postion_value", names).as_deref(),
            Some("position_value")
        );
        assert_eq!(nearest("zebra", names), None);
    }
}
