//! Futures contract specs (multiplier, tick, exchange per root) as a data table, and the
//! futures symbology recon reads: month codes, tastytrade contracts (`/MESZ6`) and Architect
//! product names (`ES 20261218 CME Future`). Brokers that send no multiplier (Architect,
//! Clear Street) are valued from this table; a root that is not in it is never guessed.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

/// One futures root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractSpec {
    pub root: &'static str,
    /// Currency units per point of price.
    pub multiplier: &'static str,
    pub tick: &'static str,
    pub exchange: &'static str,
}

impl ContractSpec {
    pub fn multiplier(&self) -> Decimal {
        Decimal::from_str(self.multiplier).unwrap_or_default()
    }

    pub fn tick(&self) -> Decimal {
        Decimal::from_str(self.tick).unwrap_or_default()
    }
}

macro_rules! specs {
    ($($root:literal => $mult:literal, $tick:literal, $exchange:literal;)+) => {
        /// Every root recon knows, from the exchanges' contract specifications.
        pub const CONTRACTS: &[ContractSpec] = &[
            $(ContractSpec { root: $root, multiplier: $mult, tick: $tick, exchange: $exchange }),+
        ];
    };
}

specs! {
    "ES" => "50", "0.25", "CME";
    "MES" => "5", "0.25", "CME";
    "NQ" => "20", "0.25", "CME";
    "MNQ" => "2", "0.25", "CME";
    "RTY" => "50", "0.1", "CME";
    "M2K" => "5", "0.1", "CME";
    "YM" => "5", "1", "CBOT";
    "MYM" => "0.5", "1", "CBOT";
    "CL" => "1000", "0.01", "NYMEX";
    "MCL" => "100", "0.01", "NYMEX";
    "NG" => "10000", "0.001", "NYMEX";
    "GC" => "100", "0.1", "COMEX";
    "MGC" => "10", "0.1", "COMEX";
    "SI" => "5000", "0.005", "COMEX";
    "HG" => "25000", "0.0005", "COMEX";
    "ZN" => "1000", "0.015625", "CBOT";
    "ZB" => "1000", "0.03125", "CBOT";
    "ZF" => "1000", "0.0078125", "CBOT";
    "ZT" => "2000", "0.00390625", "CBOT";
    "6E" => "125000", "0.00005", "CME";
    "6J" => "12500000", "0.0000005", "CME";
    "6B" => "62500", "0.0001", "CME";
    "BTC" => "5", "5", "CME";
    "MBT" => "0.1", "5", "CME";
}

/// The spec of `root` (case-insensitive), if recon knows it.
pub fn spec(root: &str) -> Option<&'static ContractSpec> {
    CONTRACTS
        .iter()
        .find(|c| c.root.eq_ignore_ascii_case(root.trim()))
}

/// The month of a futures month code (`F` = January … `Z` = December).
pub fn month_of_code(code: char) -> Option<u32> {
    "FGHJKMNQUVXZ"
        .find(code.to_ascii_uppercase())
        .map(|i| i as u32 + 1)
}

/// The root of a tastytrade futures contract: `/MESZ6` → `MES`, `/6EZ6` → `6E`, `/ESZ26` → `ES`.
pub fn tastytrade_root(symbol: &str) -> Option<&str> {
    let s = symbol
        .trim()
        .trim_start_matches('.')
        .trim_start_matches('/');
    let s = s.split_whitespace().next()?;
    let digits = s.chars().rev().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 2 || s.len() < digits + 2 {
        return None;
    }
    let code = s[..s.len() - digits].chars().last()?;
    month_of_code(code)?;
    Some(&s[..s.len() - digits - 1])
}

/// What an Architect product name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchitectProduct {
    /// `ES 20261218 CME Future`.
    Future {
        root: String,
        expiry: NaiveDate,
        venue: String,
    },
    /// `AAPL US Equity`.
    Equity { symbol: String },
    /// `AAPL  241227C00300000 Option` (padded OSI).
    Option { osi: String },
    /// `USD`, perpetuals, spreads and the rest.
    Other { name: String },
}

/// Parses a tradable product (`<base>/<quote>`, or a bare base) as Architect names it.
pub fn architect_product(name: &str) -> ArchitectProduct {
    let base = name.rsplit_once('/').map_or(name, |(b, _)| b).trim();
    let words: Vec<&str> = base.split_whitespace().collect();
    match words.as_slice() {
        [root, date, venue, "Future"] => match NaiveDate::parse_from_str(date, "%Y%m%d") {
            Ok(expiry) => ArchitectProduct::Future {
                root: root.to_ascii_uppercase(),
                expiry,
                venue: venue.to_string(),
            },
            Err(_) => ArchitectProduct::Other {
                name: base.to_string(),
            },
        },
        [symbol, _, "Equity"] => ArchitectProduct::Equity {
            symbol: symbol.to_ascii_uppercase(),
        },
        [.., "Option"] if base.len() > " Option".len() => ArchitectProduct::Option {
            osi: base[..base.len() - " Option".len()].to_string(),
        },
        _ => ArchitectProduct::Other {
            name: base.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_table_has_every_root_the_issue_names_with_exact_multipliers() {
        for root in [
            "ES", "MES", "NQ", "MNQ", "RTY", "M2K", "YM", "MYM", "CL", "MCL", "NG", "GC", "MGC",
            "SI", "HG", "ZN", "ZB", "ZF", "ZT", "6E", "6J", "6B", "BTC", "MBT",
        ] {
            let s = spec(root).unwrap_or_else(|| panic!("{root}"));
            assert!(
                s.multiplier() > Decimal::ZERO && s.tick() > Decimal::ZERO,
                "{root}"
            );
        }
        assert_eq!(spec("mes").unwrap().multiplier(), dec!(5));
        assert_eq!(spec("6E").unwrap().multiplier(), dec!(125000));
        assert_eq!(spec("MYM").unwrap().multiplier(), dec!(0.5));
        assert!(spec("XX").is_none());
    }

    #[test]
    fn futures_symbols_give_their_root() {
        assert_eq!(tastytrade_root("/MESZ6"), Some("MES"));
        assert_eq!(tastytrade_root("/6EZ6"), Some("6E"));
        assert_eq!(tastytrade_root("./ESZ6 EW4Z6 261218P6000"), Some("ES"));
        assert_eq!(tastytrade_root("/ESZ26"), Some("ES"));
        assert_eq!(tastytrade_root("AAPL"), None);
        assert_eq!(tastytrade_root("/Z6"), None);
        assert_eq!(month_of_code('Z'), Some(12));
        assert_eq!(month_of_code('A'), None);
    }

    #[test]
    fn architect_product_names_parse() {
        assert_eq!(
            architect_product("ES 20261218 CME Future/USD"),
            ArchitectProduct::Future {
                root: "ES".into(),
                expiry: NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
                venue: "CME".into()
            }
        );
        assert_eq!(
            architect_product("AAPL US Equity/USD"),
            ArchitectProduct::Equity {
                symbol: "AAPL".into()
            }
        );
        assert_eq!(
            architect_product("AAPL  241227C00300000 Option/USD"),
            ArchitectProduct::Option {
                osi: "AAPL  241227C00300000".into()
            }
        );
        assert!(matches!(
            architect_product("ES 2026x CME Future"),
            ArchitectProduct::Other { .. }
        ));
        assert!(matches!(
            architect_product("USD"),
            ArchitectProduct::Other { .. }
        ));
    }
}
