//! Parameter overrides from config: `[rules.params]` (every account),
//! `[rules.params.<broker>]` and `[rules.params.<broker>.<account>]` (most specific wins).
//!
//! A parameter overridden for some brokers or accounts becomes a per-row column
//! (`__param_<name>`) of the view a rule runs on, built as one `when … then … otherwise`
//! expression, so one compiled rule serves every account and the values stay exact Decimals.
//! A parameter overridden for everyone simply replaces the pack's default.

use crate::literals::text_literal;
use crate::pack::{Pack, Param, nearest};
use polars::prelude::*;
use recon_model::Broker;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub global: BTreeMap<String, Param>,
    pub brokers: BTreeMap<String, BTreeMap<String, Param>>,
    /// Keyed by (broker, account as written in config).
    pub accounts: BTreeMap<(String, String), BTreeMap<String, Param>>,
}

fn scalar(key: &str, v: &serde_json::Value) -> Result<Param, String> {
    match v {
        serde_json::Value::String(s) => Ok(match Decimal::from_str(s.trim()) {
            Ok(d) => Param::Decimal(d),
            Err(_) => match crate::pack::parse_duration(s) {
                Some(seconds) => Param::Duration(seconds),
                None => Param::Text(s.clone()),
            },
        }),
        serde_json::Value::Number(n) if n.is_i64() => Ok(Param::Integer(n.as_i64().unwrap_or(0))),
        serde_json::Value::Number(n) => Err(format!(
            "rules.params.{key} = {n} is a float; write decimals as strings (\"{n}\") so they stay exact"
        )),
        other => Err(format!(
            "rules.params.{key} = {other} is not a parameter value"
        )),
    }
}

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";

/// `value` as a value of `default`'s kind (an integer stands for a decimal), or why an
/// override of `name` cannot be used.
fn as_kind_of(name: &str, value: &Param, default: &Param) -> Result<Param, String> {
    match (value, default) {
        (Param::Integer(i), Param::Decimal(_)) => Ok(Param::Decimal(Decimal::from(*i))),
        (Param::Decimal(_), Param::Decimal(_))
        | (Param::Integer(_), Param::Integer(_))
        | (Param::Duration(_), Param::Duration(_))
        | (Param::Text(_), Param::Text(_)) => Ok(value.clone()),
        _ => Err(format!(
            "rules.params: `{name}` is overridden with a value of another type than its default"
        )),
    }
}

/// The column a per-row parameter becomes.
pub fn column_name(name: &str) -> String {
    format!("__param_{name}")
}

impl Overrides {
    /// Reads `rules.params` and checks every name against the packs' parameters.
    pub fn from_config(
        params: &BTreeMap<String, serde_json::Value>,
        packs: &[Pack],
    ) -> Result<Overrides, String> {
        let known: BTreeSet<&str> = packs
            .iter()
            .flat_map(|p| p.params.keys().map(String::as_str))
            .collect();
        let check = |path: &str, name: &str| -> Result<(), String> {
            if known.contains(name) {
                Ok(())
            } else {
                let hint = nearest(name, known.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                Err(format!(
                    "rules.params.{path}: no pack has a parameter `{name}`{hint}"
                ))
            }
        };
        let mut out = Overrides::default();
        for (key, value) in params {
            let serde_json::Value::Object(inner) = value else {
                check(key, key)?;
                out.global.insert(key.clone(), scalar(key, value)?);
                continue;
            };
            let broker = Broker::from_str(key)
                .map_err(|_| format!("rules.params.{key}: neither a parameter nor a broker"))?
                .to_string();
            for (k2, v2) in inner {
                let path = format!("{key}.{k2}");
                let serde_json::Value::Object(account) = v2 else {
                    check(&path, k2)?;
                    out.brokers
                        .entry(broker.clone())
                        .or_default()
                        .insert(k2.clone(), scalar(&path, v2)?);
                    continue;
                };
                for (name, v3) in account {
                    let path = format!("{key}.{k2}.{name}");
                    check(&path, name)?;
                    out.accounts
                        .entry((broker.clone(), k2.clone()))
                        .or_default()
                        .insert(name.clone(), scalar(&path, v3)?);
                }
            }
        }
        Ok(out)
    }

    /// Names overridden for some brokers or accounts only: these become columns.
    pub fn per_row(&self) -> BTreeSet<String> {
        self.brokers
            .values()
            .chain(self.accounts.values())
            .flat_map(|m| m.keys().cloned())
            .collect()
    }

    /// A pack's parameters with the global overrides applied.
    pub fn effective(&self, pack: &Pack) -> BTreeMap<String, Param> {
        let mut params = pack.params.clone();
        for (name, value) in &self.global {
            if params.contains_key(name) {
                params.insert(name.clone(), value.clone());
            }
        }
        params
    }

    /// The per-row value of `name` as one SQL expression over the row's `broker` and
    /// `account_id`, for engines that run SQL (Spark): the same choice as [`Self::column`]
    /// (an account's value over its broker's, over `default`), each decimal written by
    /// `decimal`. Account keys match ignoring ASCII case, as `column` matches them.
    pub fn sql_value(
        &self,
        name: &str,
        default: &Param,
        decimal: fn(Decimal) -> String,
    ) -> Result<String, String> {
        let literal = |p: &Param| -> Result<String, String> {
            Ok(match as_kind_of(name, p, default)? {
                Param::Decimal(d) => decimal(d),
                Param::Integer(i) | Param::Duration(i) => i.to_string(),
                Param::Text(t) => text_literal(&t),
            })
        };
        // The first WHEN that holds wins, so the most specific come first, and within one
        // level the order `column` lets win (the last applied).
        let mut whens = Vec::new();
        for ((broker, account), m) in self.accounts.iter().rev() {
            if let Some(v) = m.get(name) {
                whens.push(format!(
                    "WHEN broker = {} AND translate(account_id, '{UPPER}', '{LOWER}') = {} THEN {}",
                    text_literal(broker),
                    text_literal(&account.to_ascii_lowercase()),
                    literal(v)?
                ));
            }
        }
        for (broker, m) in self.brokers.iter().rev() {
            if let Some(v) = m.get(name) {
                whens.push(format!(
                    "WHEN broker = {} THEN {}",
                    text_literal(broker),
                    literal(v)?
                ));
            }
        }
        let default = literal(default)?;
        if whens.is_empty() {
            return Ok(default);
        }
        Ok(format!("(CASE {} ELSE {default} END)", whens.join(" ")))
    }

    /// The per-row column of `name`, whose default is `default`. `accounts` are the view's
    /// account ids, so config keys match them case-insensitively (environment variables
    /// arrive lower-cased).
    pub fn column(
        &self,
        name: &str,
        default: &Param,
        accounts: &BTreeSet<(String, String)>,
    ) -> Result<Expr, String> {
        let values: Vec<&Param> = std::iter::once(default)
            .chain(self.brokers.values().filter_map(|m| m.get(name)))
            .chain(self.accounts.values().filter_map(|m| m.get(name)))
            .collect();
        let scale = values
            .iter()
            .map(|v| match v {
                Param::Decimal(d) => d.scale(),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
            .min(8)
            // As `literals::decimal_literal`: 8 more decimals, so a product with an amount
            // keeps every digit (polars multiplies at the larger scale).
            + 8;
        let literal = |p: &Param| -> Result<Expr, String> {
            Ok(match as_kind_of(name, p, default)? {
                Param::Decimal(d) => lit(d.to_string()).cast(DataType::Decimal(38, scale as usize)),
                Param::Integer(i) | Param::Duration(i) => lit(i),
                Param::Text(t) => lit(t),
            })
        };
        let mut expr = literal(default)?;
        for (broker, m) in &self.brokers {
            if let Some(v) = m.get(name) {
                expr = when(col("broker").eq(lit(broker.clone())))
                    .then(literal(v)?)
                    .otherwise(expr);
            }
        }
        for ((broker, account), m) in &self.accounts {
            let Some(v) = m.get(name) else { continue };
            for (b, a) in accounts {
                if b == broker && a.eq_ignore_ascii_case(account) {
                    expr = when(
                        col("broker")
                            .eq(lit(b.clone()))
                            .and(col("account_id").eq(lit(a.clone()))),
                    )
                    .then(literal(v)?)
                    .otherwise(expr);
                }
            }
        }
        Ok(expr.alias(column_name(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literals::narrow_decimal_literal;
    use rust_decimal_macros::dec;

    fn overrides() -> Overrides {
        let mut o = Overrides::default();
        o.brokers.insert(
            "tradezero".into(),
            BTreeMap::from([("tol".into(), Param::Decimal(dec!(2.5)))]),
        );
        o.accounts.insert(
            ("tradezero".into(), "tz1".into()),
            BTreeMap::from([("tol".into(), Param::Integer(7))]),
        );
        o
    }

    #[test]
    fn a_per_row_value_in_sql_prefers_the_account_then_the_broker_then_the_default() {
        let sql = overrides()
            .sql_value("tol", &Param::Decimal(dec!(0.01)), narrow_decimal_literal)
            .unwrap();
        let account = sql.find("account_id").unwrap();
        let broker_only = sql.rfind("WHEN broker = 'tradezero' THEN").unwrap();
        assert!(account < broker_only, "{sql}");
        // The key matches the id ignoring ASCII case only, as `column` matches it.
        assert!(sql.contains("translate(account_id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = 'tz1'"), "{sql}");
        assert!(
            sql.ends_with("ELSE CAST('0.01' AS DECIMAL(3, 2)) END)"),
            "{sql}"
        );
        // A name nobody overrides per row is the default itself.
        assert_eq!(
            Overrides::default()
                .sql_value("tol", &Param::Integer(3), narrow_decimal_literal)
                .unwrap(),
            "3"
        );
    }

    #[test]
    fn a_per_row_value_of_another_type_is_refused_by_name() {
        let err = overrides()
            .sql_value("tol", &Param::Text("x".into()), narrow_decimal_literal)
            .unwrap_err();
        assert!(err.contains("`tol`"), "{err}");
    }
}
