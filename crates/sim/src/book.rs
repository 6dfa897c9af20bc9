//! A broker-neutral book: the truth of each account (cash, positions, marks) plus the breaks
//! planted on purpose (a reported account value that is off, a P&L row that is missing). Each
//! broker module renders it in its own dialect, so one book exercises every connector.

use chrono::NaiveDate;
use recon_model::contracts::{self, ArchitectProduct, ContractSpec, architect_product};
use recon_model::{AccountKind, AccountStatus, Broker, occ::OccSymbol};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The demo book shipped in the binary, so `recon demo` needs no files.
pub const DEMO_BOOK: &str = include_str!("../../../fixtures/demo/book.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimBook {
    /// The business date the book describes.
    pub as_of: NaiveDate,
    #[serde(default, rename = "account")]
    pub accounts: Vec<SimAccount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAccount {
    pub broker: Broker,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: AccountKind,
    #[serde(default = "active")]
    pub status: AccountStatus,
    #[serde(default)]
    pub options_level: Option<u8>,
    pub cash: Decimal,
    /// Buying power as the broker reports it; defaults to cash (× 4 on margin accounts).
    #[serde(default)]
    pub buying_power: Option<Decimal>,
    /// Planted break: what the broker reports as account value minus the true value
    /// (cash + Σ market value). 0 for an honest account.
    #[serde(default)]
    pub net_liq_adjust: Decimal,
    /// Realized P&L of lots closed today; they still show in P&L feeds with exposure 0.
    #[serde(default, rename = "closed_today")]
    pub closed_today: Vec<ClosedLot>,
    /// Planted break: P&L rows with exposure for lots the position feed does not have.
    #[serde(default, rename = "orphan_pnl")]
    pub orphan_pnl: Vec<OrphanPnl>,
    #[serde(default, rename = "position")]
    pub positions: Vec<SimPosition>,
}

fn active() -> AccountStatus {
    AccountStatus::Active
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimPosition {
    pub id: String,
    /// A ticker, or an OCC option symbol in any of its forms.
    pub symbol: String,
    /// Signed: long > 0, short < 0.
    pub quantity: Decimal,
    pub avg_price: Decimal,
    pub mark: Decimal,
    /// Planted break: the broker's P&L feed has no row for this lot.
    #[serde(default)]
    pub pnl_missing: bool,
    /// Planted break: the broker sends this position with its direction or size in a form
    /// nobody can read (`Sideways`, `"n/a"`), so recon must quarantine it.
    #[serde(default)]
    pub malformed: bool,
    /// Day P&L of the lot (informational).
    #[serde(default)]
    pub day_pnl: Decimal,
    #[serde(default)]
    pub maintenance_requirement: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedLot {
    pub id: String,
    pub symbol: String,
    pub realized_pnl: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrphanPnl {
    pub id: String,
    pub symbol: String,
    pub exposure: Decimal,
    #[serde(default)]
    pub unrealized_pnl: Decimal,
}

impl SimPosition {
    /// The option symbol, if `symbol` is one.
    pub fn option(&self) -> Option<OccSymbol> {
        OccSymbol::parse(&self.symbol).ok()
    }

    /// The futures contract spec, if `symbol` is a future (Architect's `ES 20261218 CME
    /// Future` or tastytrade's `/ESZ6`) of a known root.
    pub fn future(&self) -> Option<&'static ContractSpec> {
        match architect_product(&self.symbol) {
            ArchitectProduct::Future { root, .. } => contracts::spec(&root),
            _ => contracts::tastytrade_root(&self.symbol).and_then(contracts::spec),
        }
    }

    /// A tastytrade futures option (`./ESZ6 EW4Z6 261218P6000`): the future's spec, valued
    /// like any option (premium × multiplier), not by open P&L.
    pub fn is_future_option(&self) -> bool {
        self.symbol.starts_with("./") && self.future().is_some()
    }

    /// The expiry of a futures option, from its `YYMMDD` token.
    pub fn future_option_expiry(&self) -> Option<chrono::NaiveDate> {
        let last = self.symbol.split_whitespace().last()?;
        chrono::NaiveDate::parse_from_str(last.get(..6)?, "%y%m%d").ok()
    }

    pub fn multiplier(&self) -> Decimal {
        if self.option().is_some() {
            Decimal::ONE_HUNDRED
        } else if let Some(spec) = self.future() {
            spec.multiplier()
        } else {
            Decimal::ONE
        }
    }

    /// Signed notional: quantity × mark × multiplier.
    pub fn market_value(&self) -> Decimal {
        self.quantity * self.mark * self.multiplier()
    }

    /// What the position adds to account value: its market value, except for futures,
    /// which settle daily and add their open-trade P&L.
    pub fn net_liq_value(&self) -> Decimal {
        if self.future().is_some() && !self.is_future_option() {
            self.unrealized_pnl()
        } else {
            self.market_value()
        }
    }

    pub fn unrealized_pnl(&self) -> Decimal {
        (self.mark - self.avg_price) * self.quantity * self.multiplier()
    }
}

impl SimAccount {
    /// Cash + Σ position value: what an honest broker reports as account value.
    pub fn true_net_liq(&self) -> Decimal {
        self.cash
            + self
                .positions
                .iter()
                .map(SimPosition::net_liq_value)
                .sum::<Decimal>()
    }

    /// The account value the broker reports, planted break included.
    pub fn reported_net_liq(&self) -> Decimal {
        self.true_net_liq() + self.net_liq_adjust
    }

    /// Σ maintenance requirement of the positions.
    pub fn maintenance_requirement(&self) -> Decimal {
        self.positions
            .iter()
            .map(|p| p.maintenance_requirement)
            .sum()
    }

    /// Maintenance excess: reported account value minus the requirement (negative is a
    /// margin call). Brokers send it for margin accounts only.
    pub fn margin_excess(&self) -> Decimal {
        self.reported_net_liq() - self.maintenance_requirement()
    }

    pub fn is_margin(&self) -> bool {
        matches!(
            self.kind,
            AccountKind::Margin | AccountKind::IraMargin | AccountKind::Futures
        )
    }

    /// Σ market value of long (positive) and of short (negative) positions.
    pub fn long_short_value(&self) -> (Decimal, Decimal) {
        let mut long = Decimal::ZERO;
        let mut short = Decimal::ZERO;
        for p in &self.positions {
            let v = p.market_value();
            if v.is_sign_negative() {
                short += v;
            } else {
                long += v;
            }
        }
        (long, short)
    }

    pub fn reported_buying_power(&self) -> Decimal {
        self.buying_power.unwrap_or(match self.kind {
            AccountKind::Margin | AccountKind::IraMargin => self.cash * Decimal::from(4),
            _ => self.cash,
        })
    }
}

impl SimBook {
    pub fn accounts_of(&self, broker: Broker) -> impl Iterator<Item = &SimAccount> {
        self.accounts.iter().filter(move |a| a.broker == broker)
    }

    /// The built-in demo book.
    pub fn demo() -> SimBook {
        parse_book(DEMO_BOOK, "fixtures/demo/book.toml").expect("the shipped demo book is valid")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("cannot read book {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("book {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

/// Reads a book from a TOML file.
pub fn load_book(path: &Path) -> Result<SimBook, BookError> {
    let text = std::fs::read_to_string(path).map_err(|source| BookError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_book(&text, &path.display().to_string())
}

fn parse_book(text: &str, path: &str) -> Result<SimBook, BookError> {
    let book: SimBook = toml::from_str(text).map_err(|e| BookError::Invalid {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    for account in &book.accounts {
        for p in &account.positions {
            let futures_like =
                p.symbol.starts_with('/') || p.symbol.trim_end().ends_with(" Future");
            if (p.symbol.len() > 6 || futures_like) && p.option().is_none() && p.future().is_none()
            {
                return Err(BookError::Invalid {
                    path: path.to_string(),
                    message: format!(
                        "account {} position {}: `{}` is neither a ticker, an OCC symbol nor a future of a known root",
                        account.id, p.id, p.symbol
                    ),
                });
            }
        }
    }
    Ok(book)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_book_loads_and_plants_its_breaks() {
        let book = SimBook::demo();
        assert!(book.accounts_of(Broker::Tradezero).count() >= 4);
        assert!(book.accounts.iter().any(|a| !a.net_liq_adjust.is_zero()));
        assert!(
            book.accounts
                .iter()
                .flat_map(|a| &a.positions)
                .any(|p| p.pnl_missing)
        );
    }

    #[test]
    fn a_bad_symbol_names_account_and_position() {
        let text = r#"as_of = "2026-11-20"
[[account]]
broker = "tradezero"
id = "TZ1"
kind = "margin"
cash = "1"
[[account.position]]
id = "p1"
symbol = "NOTANOPTIONSYMBOL"
quantity = "1"
avg_price = "1"
mark = "1"
"#;
        let err = parse_book(text, "b.toml").unwrap_err().to_string();
        assert!(err.contains("TZ1") && err.contains("p1"), "{err}");
    }
}
