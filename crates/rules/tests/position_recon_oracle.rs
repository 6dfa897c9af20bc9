//! `position_recon` sums each side's lots by hand (`lot_sums`). This holds it to the frame
//! polars' stable group-by of the two sides stacked gave (the view's definition until
//! session 10, kept here as the oracle): the same columns, types, rows, order and nulls, for
//! generated broker positions and books with shared and one-sided instruments, several lots,
//! unvalued lots, null prices, accounts the book does not cover, accounts only the book
//! names, and rows that do not come account by account.

use chrono::NaiveDate;
use polars::prelude::*;
use proptest::prelude::*;
use recon_frames::books::{BookFrames, instrument_keys};
use recon_frames::schema::{money_dtype, money_units, text};
use recon_rules::book_views::position_recon;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

const ACCOUNTS: [(&str, &str); 4] = [
    ("tastytrade", "5WT001"),
    ("tastytrade", "5WT002"),
    ("etrade", "K1"),
    ("clearstreet", "100001"),
];
const SYMBOLS: [&str; 8] = [
    "AAPL",
    "BRK.B",
    "BRK/B",
    "MSFT",
    "AAPL  261218C00150000",
    "AAPL261218C00150000",
    "/ESZ6",
    "not a symbol",
];

/// One lot: account, symbol, quantity, price and value in the frames' units (a value or a
/// price may be missing). Symbol number `SYMBOLS.len()` is a broker position without a
/// symbol (its key is null, a group of its own); the book always states one.
type Lot = (usize, usize, i128, Option<i128>, Option<i128>);

fn symbol(n: usize) -> Option<&'static str> {
    SYMBOLS.get(n).copied()
}

fn lot() -> impl Strategy<Value = Lot> {
    (
        0..ACCOUNTS.len(),
        0..=SYMBOLS.len(),
        -5_000_000_000i128..5_000_000_000,
        proptest::option::weighted(0.9, 0i128..50_000_000_000),
        proptest::option::weighted(0.9, -9_000_000_000_000i128..9_000_000_000_000),
    )
}

fn positions(lots: &[Lot]) -> DataFrame {
    DataFrame::new(
        lots.len(),
        vec![
            text("broker", lots.iter().map(|l| Some(ACCOUNTS[l.0].0))),
            text("account_id", lots.iter().map(|l| Some(ACCOUNTS[l.0].1))),
            text("symbol", lots.iter().map(|l| symbol(l.1))),
            money_units("quantity", lots.iter().map(|l| Some(l.2))),
            money_units("mark", lots.iter().map(|l| l.3)),
            money_units("market_value", lots.iter().map(|l| l.4)),
            text("cusip", lots.iter().map(|_| None)),
        ],
    )
    .unwrap()
}

fn books(lots: &[Lot], cash_accounts: &[usize]) -> BookFrames {
    let symbols = || lots.iter().map(|l| Some(SYMBOLS[l.1 % SYMBOLS.len()]));
    let positions = DataFrame::new(
        lots.len(),
        vec![
            text(
                "book",
                lots.iter()
                    .map(|l| Some(if l.2 % 2 == 0 { "oms" } else { "admin" })),
            ),
            text("broker", lots.iter().map(|l| Some(ACCOUNTS[l.0].0))),
            text("account_id", lots.iter().map(|l| Some(ACCOUNTS[l.0].1))),
            instrument_keys(symbols(), as_of())
                .expect("keyed")
                .into_column(),
            text("symbol", symbols()),
            money_units("quantity", lots.iter().map(|l| Some(l.2))),
            money_units("price", lots.iter().map(|l| l.3)),
            money_units("market_value", lots.iter().map(|l| l.4)),
            text("cusip", lots.iter().map(|_| None)),
        ],
    )
    .unwrap();
    let cash = DataFrame::new(
        cash_accounts.len(),
        vec![
            text("book", cash_accounts.iter().map(|_| Some("oms"))),
            text("broker", cash_accounts.iter().map(|a| Some(ACCOUNTS[*a].0))),
            text(
                "account_id",
                cash_accounts.iter().map(|a| Some(ACCOUNTS[*a].1)),
            ),
        ],
    )
    .unwrap();
    let empty = BookFrames::empty().unwrap();
    BookFrames {
        positions,
        cash,
        quarantine: empty.quarantine,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn lots_summed_by_hand_give_the_frame_polars_grouping_gave(
        broker_lots in proptest::collection::vec(lot(), 0..40),
        book_lots in proptest::collection::vec(lot(), 0..40),
        cash_accounts in proptest::collection::vec(0..ACCOUNTS.len(), 0..3),
    ) {
        let positions = positions(&broker_lots);
        let books = books(&book_lots, &cash_accounts);
        let got = position_recon(&positions, &books, as_of()).unwrap();
        let want = oracle::position_recon(&positions, &books, as_of()).unwrap();
        prop_assert_eq!(got.schema(), want.schema());
        prop_assert!(got.equals_missing(&want), "got {got}\nwant {want}");
    }
}

/// The view as polars computed it: both sides stacked, grouped once with a stable group-by.
mod oracle {
    use super::*;

    pub fn position_recon(
        positions: &DataFrame,
        books: &BookFrames,
        as_of: NaiveDate,
    ) -> PolarsResult<DataFrame> {
        let ids = [col("broker"), col("account_id")];
        let no_book = books.positions.height() == 0 && books.cash.height() == 0;
        let keyed = if no_book {
            positions.head(Some(0))
        } else {
            positions.clone()
        };
        let symbols = keyed.column("symbol")?.str()?;
        let mut broker = keyed.clone();
        broker.with_column(instrument_keys(symbols.iter(), as_of)?.into_column())?;
        let covered = concat(
            [&books.positions, &books.cash]
                .map(|f| f.clone().lazy().select([col("broker"), col("account_id")])),
            UnionArgs::default(),
        )?
        .unique(None, UniqueKeepStrategy::First);
        let broker = broker
            .lazy()
            .join(covered, ids.clone(), ids, JoinArgs::new(JoinType::Semi))
            .select(stacked(true));
        let book = books.positions.clone().lazy().select(stacked(false));
        concat([broker, book], UnionArgs::default())?
            .group_by_stable([col("broker"), col("account_id"), col("instrument_key")])
            .agg(summed_lots())
            .with_columns(side_totals())
            .with_columns([
                side(),
                (col("broker_quantity") - col("book_quantity")).alias("quantity_diff"),
                col("instrument_key").alias("position_id"),
                coalesce(&[col("broker_symbol"), col("booked_symbol")]).alias("symbol"),
            ])
            .drop(by_name(
                ["__broker_unvalued", "__book_unvalued"],
                true,
                false,
            ))
            .collect()
    }

    fn stacked(on_broker: bool) -> Vec<Expr> {
        let of = |mine: bool| move |name: &str| if mine { col(name) } else { lit(NULL) };
        let (broker, book) = (of(on_broker), of(!on_broker));
        vec![
            col("broker"),
            col("account_id"),
            col("instrument_key"),
            lit(u32::from(on_broker)).alias("__broker_lot"),
            lit(u32::from(!on_broker)).alias("__book_lot"),
            broker("quantity")
                .cast(money_dtype())
                .alias("__broker_quantity"),
            broker("mark").cast(money_dtype()).alias("__broker_price"),
            broker("market_value")
                .cast(money_dtype())
                .alias("__broker_value"),
            broker("market_value")
                .is_null()
                .and(lit(on_broker))
                .alias("__broker_unvalued"),
            broker("symbol")
                .cast(DataType::String)
                .alias("__broker_symbol"),
            book("quantity")
                .cast(money_dtype())
                .alias("__book_quantity"),
            book("price").cast(money_dtype()).alias("__book_price"),
            book("market_value")
                .cast(money_dtype())
                .alias("__book_value"),
            book("market_value")
                .is_null()
                .and(lit(!on_broker))
                .alias("__book_unvalued"),
            book("symbol").cast(DataType::String).alias("__book_symbol"),
            book("book").cast(DataType::String).alias("__book"),
        ]
    }

    fn summed_lots() -> Vec<Expr> {
        let first_book = |name: &str| col(name).filter(col("__book_lot").eq(lit(1u32))).first();
        vec![
            col("__broker_quantity").sum().alias("broker_quantity"),
            col("__broker_price").first().alias("broker_price"),
            col("__broker_value").sum().alias("broker_market_value"),
            col("__broker_unvalued").sum(),
            col("__broker_symbol").first().alias("broker_symbol"),
            col("__broker_lot").sum().alias("broker_lots"),
            col("__book_quantity").sum().alias("book_quantity"),
            first_book("__book_price").alias("book_price"),
            col("__book_value").sum().alias("book_market_value"),
            col("__book_unvalued").sum(),
            first_book("__book_symbol").alias("booked_symbol"),
            first_book("__book").alias("book"),
            col("__book_lot").sum().alias("book_lots"),
        ]
    }

    fn side_totals() -> Vec<Expr> {
        let value = |side: &str| {
            when(
                col(format!("{side}_lots"))
                    .gt(lit(0))
                    .and(col(format!("__{side}_unvalued")).eq(lit(0))),
            )
            .then(col(format!("{side}_market_value")))
            .otherwise(lit(NULL).cast(money_dtype()))
            .alias(format!("{side}_market_value"))
        };
        let lots_or_null = |name: &str| {
            when(col(name).gt(lit(0)))
                .then(col(name))
                .otherwise(lit(NULL))
                .cast(IDX_DTYPE)
                .alias(name)
        };
        let key = || col("instrument_key").str();
        vec![
            value("broker"),
            value("book"),
            lots_or_null("broker_lots"),
            lots_or_null("book_lots"),
            when(key().starts_with(lit("EQ:")))
                .then(lit("equity"))
                .when(key().starts_with(lit("OPT:")))
                .then(lit("option"))
                .when(
                    key()
                        .starts_with(lit("FUT:"))
                        .or(key().starts_with(lit("FOP:"))),
                )
                .then(lit("future"))
                .otherwise(lit("other"))
                .alias("instrument_class"),
        ]
    }

    fn side() -> Expr {
        let (on_broker, in_book) = (
            col("broker_lots").is_not_null(),
            col("book_lots").is_not_null(),
        );
        when(on_broker.clone().and(in_book))
            .then(lit("both"))
            .when(on_broker)
            .then(lit("broker_only"))
            .otherwise(lit("book_only"))
            .alias("side")
    }
}
