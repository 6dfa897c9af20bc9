//! Canonical row types. Field names are the frame column names of DESIGN.md; they are the
//! contract rule packs are written against. A value the broker does not send is `None`, never 0.

use chrono::{DateTime, NaiveDate, Utc};
pub use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a closed set of lowercase names with `as_str`, `Display`, `FromStr` and serde.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { kind: stringify!($name), name: s.to_string() }),
                }
            }
        }
    };
}

/// A name outside a closed set (a broker, an account kind…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

names!(
    /// The brokers recon reads. The names are the snapshot folder names.
    Broker {
        Tastytrade = "tastytrade",
        Tradezero = "tradezero",
        Clearstreet = "clearstreet",
        Etrade = "etrade",
        Architect = "architect",
    }
);

names!(AccountKind {
    Cash = "cash",
    Margin = "margin",
    IraCash = "ira_cash",
    IraMargin = "ira_margin",
    Futures = "futures",
    Paper = "paper",
    Unknown = "unknown",
});

names!(AccountStatus {
    Active = "active",
    Closed = "closed",
    Restricted = "restricted",
    Unknown = "unknown",
});

names!(Instrument {
    Equity = "equity",
    EquityOption = "equity_option",
    Future = "future",
    FutureOption = "future_option",
    Crypto = "crypto",
    Index = "index",
    Bond = "bond",
    Fund = "fund",
    Cash = "cash",
    Other = "other",
});

names!(PutCall { Put = "put", Call = "call" });

names!(
    /// The direction a broker states beside a position's quantity (`side`, `positionType`,
    /// `quantity-direction`, `position_type`).
    Side {
        Long = "long",
        Short = "short",
        Zero = "zero",
    }
);

impl Side {
    /// A broker's direction word, any case: `Long`, `SHORT`, Clear Street's older
    /// `LONG_CALL`/`SHORT_PUT`, `Zero`. `None` for anything else.
    pub fn from_broker(word: &str) -> Option<Side> {
        let w = word.trim().to_ascii_lowercase();
        if w.starts_with("long") {
            Some(Side::Long)
        } else if w.starts_with("short") {
            Some(Side::Short)
        } else if w == "zero" || w == "flat" {
            Some(Side::Zero)
        } else {
            None
        }
    }
}

/// One row of the `accounts` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    pub broker: Broker,
    /// The id the broker's API paths use (TradeZero: the account, upper-cased).
    pub account_id: String,
    /// The human label, where the broker sends one.
    pub account_name: Option<String>,
    pub account_kind: AccountKind,
    pub status: AccountStatus,
    pub options_level: Option<String>,
    pub is_paper: bool,
    pub as_of: NaiveDate,
}

/// One row of the `balances` frame: one account in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceRow {
    pub broker: Broker,
    pub account_id: String,
    pub currency: String,
    /// Trade-date cash where the broker distinguishes it.
    pub cash: Option<Decimal>,
    pub net_liq: Option<Decimal>,
    pub buying_power: Option<Decimal>,
    pub maintenance_requirement: Option<Decimal>,
    pub margin_excess: Option<Decimal>,
    pub withdrawable_cash: Option<Decimal>,
    pub long_market_value: Option<Decimal>,
    pub short_market_value: Option<Decimal>,
    pub reported_exposure: Option<Decimal>,
    pub unrealized_pnl: Option<Decimal>,
    pub day_pnl: Option<Decimal>,
    pub used_leverage: Option<Decimal>,
    pub allowed_leverage: Option<Decimal>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl BalanceRow {
    /// A balance row with every amount unknown.
    pub fn empty(
        broker: Broker,
        account_id: impl Into<String>,
        currency: impl Into<String>,
    ) -> Self {
        BalanceRow {
            broker,
            account_id: account_id.into(),
            currency: currency.into(),
            cash: None,
            net_liq: None,
            buying_power: None,
            maintenance_requirement: None,
            margin_excess: None,
            withdrawable_cash: None,
            long_market_value: None,
            short_market_value: None,
            reported_exposure: None,
            unrealized_pnl: None,
            day_pnl: None,
            used_leverage: None,
            allowed_leverage: None,
            updated_at: None,
        }
    }
}

/// One row of the `positions` frame. Its texts are `CompactString`s: kept inline up to 24
/// bytes (every id and symbol but the longest account ids), so a million rows are not five
/// million allocations, each made while parsing and freed after the frames are built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionRow {
    pub broker: Broker,
    pub account_id: CompactString,
    /// The broker's id, or one derived from the symbol when it has none.
    pub position_id: CompactString,
    /// Ticker, or the compact OCC form for options.
    pub symbol: CompactString,
    /// The root or the future contract.
    pub underlying: CompactString,
    pub instrument: Instrument,
    pub put_call: Option<PutCall>,
    pub strike: Option<Decimal>,
    pub expires_at: Option<NaiveDate>,
    /// Signed: long > 0, short < 0.
    pub quantity: Decimal,
    /// The direction the broker stated beside the quantity, if it states one (data-quality
    /// compares it with the sign of `quantity`).
    #[serde(default)]
    pub side: Option<Side>,
    pub multiplier: Decimal,
    pub avg_price: Option<Decimal>,
    pub mark: Option<Decimal>,
    pub close_price: Option<Decimal>,
    /// Signed notional: quantity × mark × multiplier.
    pub market_value: Option<Decimal>,
    /// What the position adds to net liq (market value; open-trade P&L for futures).
    pub net_liq_value: Option<Decimal>,
    pub cost_basis: Option<Decimal>,
    pub unrealized_pnl: Option<Decimal>,
    /// True where the broker publishes P&L in a separate feed that should cover this position.
    pub pnl_expected: bool,
    pub updated_at: Option<DateTime<Utc>>,
    /// The CUSIP the broker states for the instrument (check digit verified), if any: what
    /// a book of record is matched on where both sides state one.
    #[serde(default)]
    pub cusip: Option<CompactString>,
}

/// One row of the `pnl` frame: per-position P&L from a separate feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PnlRow {
    pub broker: Broker,
    pub account_id: CompactString,
    pub position_id: Option<CompactString>,
    pub symbol: CompactString,
    pub exposure: Option<Decimal>,
    pub realized_pnl: Option<Decimal>,
    pub unrealized_pnl: Option<Decimal>,
    pub day_realized_pnl: Option<Decimal>,
    pub day_unrealized_pnl: Option<Decimal>,
}

/// A record normalize could not read, with where it was and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRow {
    pub broker: Broker,
    pub account_id: Option<String>,
    /// The snapshot file, relative to the snapshot root.
    pub source: String,
    /// JSON pointer to the record inside the file (`""` for the whole file).
    pub pointer: String,
    pub reason: String,
}

/// A position as the firm's own book of record holds it (DESIGN.md "Book of record"): one
/// row per line of the book, lots not yet summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookPositionRow {
    /// The book's name (`[books.<name>]`).
    pub book: String,
    pub broker: Broker,
    pub account_id: String,
    /// `instrument_key::instrument_key` of the symbol as booked.
    pub instrument_key: String,
    /// The symbol as the book spells it.
    pub symbol: String,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub market_value: Option<Decimal>,
    pub cost_basis: Option<Decimal>,
    pub currency: String,
    pub as_of: NaiveDate,
    /// The CUSIP the book states (or the one inside its US or Canadian ISIN), if any.
    #[serde(default)]
    pub cusip: Option<String>,
}

/// Cash as the book of record holds it, per account and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookCashRow {
    pub book: String,
    pub broker: Broker,
    pub account_id: String,
    pub currency: String,
    pub amount: Decimal,
    pub as_of: NaiveDate,
}

/// A line of a book that could not be read: where (file, line, column) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookProblem {
    pub book: String,
    /// The row's broker and account as written, when it has them (findings name them).
    pub broker: Option<String>,
    pub account_id: Option<String>,
    pub source: String,
    /// 1-based line of a CSV file (the header is line 1), or row number of a Parquet file.
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
}

/// The canonical rows of one snapshot, before they become frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Book {
    pub accounts: Vec<AccountRow>,
    pub balances: Vec<BalanceRow>,
    pub positions: Vec<PositionRow>,
    pub pnl: Vec<PnlRow>,
    pub quarantine: Vec<QuarantineRow>,
}

impl Book {
    /// The rows of one account read from its files (no separate P&L feed).
    pub fn of_account(
        account: AccountRow,
        balance: BalanceRow,
        positions: Vec<PositionRow>,
        quarantine: Vec<QuarantineRow>,
    ) -> Book {
        Book {
            accounts: vec![account],
            balances: vec![balance],
            positions,
            pnl: Vec::new(),
            quarantine,
        }
    }

    pub fn extend(&mut self, other: Book) {
        self.accounts.extend(other.accounts);
        self.balances.extend(other.balances);
        self.positions.extend(other.positions);
        self.pnl.extend(other.pnl);
        self.quarantine.extend(other.quarantine);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text() {
        for b in Broker::ALL {
            assert_eq!(b.as_str().parse::<Broker>().unwrap(), *b);
        }
        for k in AccountKind::ALL {
            assert_eq!(k.to_string().parse::<AccountKind>().unwrap(), *k);
        }
        let err = "robinhood".parse::<Broker>().unwrap_err();
        assert_eq!(err.to_string(), "unknown Broker `robinhood`");
    }
}
