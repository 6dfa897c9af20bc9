//! Parameter overrides from config: `[rules.params]` (every account),
//! `[rules.params.<broker>]` and `[rules.params.<broker>.<account>]` (most specific wins).
//!
//! A parameter overridden for some brokers or accounts becomes a per-row column
//! (`__param_<name>`) of the view a rule runs on, built as one `when … then … otherwise`
//! expression, so one compiled rule serves every account and the values stay exact Decimals.
//! A parameter overridden for everyone simply replaces the pack's default.

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
            match (p, default) {
                (Param::Decimal(d), Param::Decimal(_)) => {
                    Ok(lit(d.to_string()).cast(DataType::Decimal(38, scale as usize)))
                }
                (Param::Integer(i), Param::Decimal(_)) => {
                    Ok(lit(i.to_string()).cast(DataType::Decimal(38, scale as usize)))
                }
                (Param::Integer(i), Param::Integer(_)) => Ok(lit(*i)),
                (Param::Duration(s), Param::Duration(_)) => Ok(lit(*s)),
                (Param::Text(t), Param::Text(_)) => Ok(lit(t.clone())),
                _ => Err(format!(
                    "rules.params: `{name}` is overridden with a value of another type than its default"
                )),
            }
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
