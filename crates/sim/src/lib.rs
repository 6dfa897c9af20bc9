//! The broker simulator: each broker's API served on 127.0.0.1 from one broker-neutral book,
//! so recon is tested and demonstrated end to end without reaching a real broker.
//!
//! It owns the book format (`book`) and its seeded generator (`generate`), one module per
//! broker that renders the book in that broker's wire dialect (paths, auth, envelopes, field
//! names, quirks, error bodies), fault injection (`faults`), and the server that binds them to
//! loopback ports. It must not know about snapshots, frames or
//! rules: what recon does with the responses is none of its business.

pub mod architect;
pub mod book;
pub mod clearstreet;
pub mod etrade;
pub mod faults;
pub mod generate;
pub mod record;
pub mod server;
pub mod tastytrade;
pub mod tradezero;
pub mod wire;

pub use book::{SimBook, load_book};
pub use faults::Faults;
pub use server::{RunningSim, SimCredentials, SimOptions, start};

/// The position id recon reads back for `position` of `account` from its broker's wire
/// format: what ground truth (`expected.json`) names.
pub fn position_id(account: &book::SimAccount, position: &book::SimPosition) -> String {
    use recon_model::Broker;
    match account.broker {
        Broker::Tastytrade => tastytrade::position_id(account, position),
        Broker::Tradezero => tradezero::position_id(account, position),
        Broker::Clearstreet => clearstreet::position_id(account, position),
        Broker::Etrade => etrade::position_id(account, position),
        Broker::Architect => architect::position_id(account, position),
    }
}
