//! Architect (StoneX FCM futures, BROKERS.md §5): unary gRPC over HTTP/2 with JSON message
//! bodies, as Architect's SDKs speak it — `json.architect.Auth/CreateJwt`,
//! `json.architect.Accounts/Accounts`, `json.architect.Folio/AccountSummary` and
//! `AccountSummaries`.
//!
//! Faithful to what a connector must survive: an api key and secret traded for a one-hour
//! JWT sent as `authorization: Bearer` metadata; errors as gRPC status codes with a message
//! (UNAUTHENTICATED, NOT_FOUND, INVALID_ARGUMENT), never a JSON body; accounts referenced by
//! UUID or by name; decimals as strings and absent optionals omitted; positions as a map
//! keyed by tradable product (`ES 20261218 CME Future/USD`) with a list of lots each; no
//! multiplier anywhere; and the 2026-03 schema drift — `purchasing_power` on some accounts,
//! `available_margin` + `excess_liquidity` on others.

use crate::book::{SimAccount, SimBook, SimPosition};
use crate::wire::{stable_hash, stable_uuid};
use bytes::Bytes;
use recon_grpc_json::{JsonCodec, routes};
use recon_model::{AccountKind, Broker};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json as j};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// The api key pair the simulated Architect accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub api_key: String,
    pub api_secret: String,
}

impl Credentials {
    /// This broker's values among the simulator's credentials.
    pub fn from_sim(sim: &crate::SimCredentials) -> Self {
        Credentials {
            api_key: sim.get(Broker::Architect, "api_key").to_string(),
            api_secret: sim.get(Broker::Architect, "api_secret").to_string(),
        }
    }
}

/// How long a JWT lives.
pub const JWT_TTL: Duration = Duration::from_secs(3600);

struct Arch {
    book: Arc<SimBook>,
    credentials: Credentials,
    /// Architect accounts by UUID and by name → index in the book.
    index: HashMap<String, usize>,
    order: Vec<usize>,
    jwts: Mutex<HashMap<String, Instant>>,
    issued: Mutex<u64>,
}

/// An axum router serving the gRPC routes (tonic's server speaks HTTP/2 in front of it).
pub fn router(book: Arc<SimBook>, credentials: Credentials) -> axum::Router {
    let mut index = HashMap::new();
    let mut order = Vec::new();
    for (i, a) in book.accounts.iter().enumerate() {
        if a.broker == Broker::Architect {
            index.insert(a.id.to_ascii_lowercase(), i);
            if let Some(name) = &a.name {
                index.insert(name.to_ascii_lowercase(), i);
            }
            order.push(i);
        }
    }
    let state = Arc::new(Arch {
        book,
        credentials,
        index,
        order,
        jwts: Mutex::new(HashMap::new()),
        issued: Mutex::new(0),
    });
    let mut app = axum::Router::new();
    for route in [
        routes::CREATE_JWT,
        routes::ACCOUNTS,
        routes::ACCOUNT_SUMMARY,
        routes::ACCOUNT_SUMMARIES,
    ] {
        let state = state.clone();
        app = app.route(
            route,
            axum::routing::post(move |req: axum::extract::Request| {
                let handler = Handler {
                    state: state.clone(),
                    route,
                };
                async move {
                    tonic::server::Grpc::new(JsonCodec)
                        .unary(handler, req)
                        .await
                        .map(axum::body::Body::new)
                }
            }),
        );
    }
    app
}

#[derive(Clone)]
struct Handler {
    state: Arc<Arch>,
    route: &'static str,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Bytes>, Status>> + Send>>;

impl tonic::server::UnaryService<Bytes> for Handler {
    type Response = Bytes;
    type Future = Answer;

    fn call(&mut self, request: Request<Bytes>) -> Answer {
        let state = self.state.clone();
        let route = self.route;
        Box::pin(async move {
            let value = state.answer(route, &request)?;
            let bytes = serde_json::to_vec(&value).map_err(|e| Status::internal(e.to_string()))?;
            Ok(Response::new(Bytes::from(bytes)))
        })
    }
}

fn body<T: for<'de> Deserialize<'de>>(request: &Request<Bytes>) -> Result<T, Status> {
    serde_json::from_slice(request.get_ref())
        .map_err(|e| Status::invalid_argument(format!("request is not valid JSON: {e}")))
}

fn dec(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

impl Arch {
    fn answer(&self, route: &str, request: &Request<Bytes>) -> Result<Value, Status> {
        if route == routes::CREATE_JWT {
            return self.create_jwt(request);
        }
        self.check_jwt(request)?;
        match route {
            routes::ACCOUNTS => Ok(self.accounts(request)),
            routes::ACCOUNT_SUMMARY => {
                #[derive(Deserialize)]
                struct Req {
                    account: Option<String>,
                }
                let req: Req = body(request)?;
                let id = req
                    .account
                    .ok_or_else(|| Status::invalid_argument("account is required"))?;
                let (i, a) = self.account(&id)?;
                Ok(self.summary(i, a))
            }
            routes::ACCOUNT_SUMMARIES => {
                #[derive(Deserialize, Default)]
                struct Req {
                    accounts: Option<Vec<String>>,
                }
                let req: Req = if request.get_ref().is_empty() {
                    Req::default()
                } else {
                    body(request)?
                };
                let mut out = Vec::new();
                match req.accounts {
                    Some(ids) => {
                        for id in ids {
                            let (i, a) = self.account(&id)?;
                            out.push(self.summary(i, a));
                        }
                    }
                    None => {
                        for &i in &self.order {
                            if let Some(a) = self.book.accounts.get(i) {
                                out.push(self.summary(i, a));
                            }
                        }
                    }
                }
                Ok(j!({ "account_summaries": out }))
            }
            _ => Err(Status::unimplemented(route.to_string())),
        }
    }

    fn create_jwt(&self, request: &Request<Bytes>) -> Result<Value, Status> {
        #[derive(Deserialize)]
        struct Req {
            api_key: Option<String>,
            api_secret: Option<String>,
        }
        let req: Req = body(request)?;
        if req.api_key.as_deref() != Some(self.credentials.api_key.as_str())
            || req.api_secret.as_deref() != Some(self.credentials.api_secret.as_str())
        {
            return Err(Status::unauthenticated("invalid api key or secret"));
        }
        let n = {
            let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
            *issued += 1;
            *issued
        };
        let jwt = format!(
            "eyJhbGciOiJIUzI1NiJ9.arch-{:016x}.{n}",
            stable_hash(&[&self.credentials.api_key, &n.to_string()])
        );
        self.jwts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(jwt.clone(), Instant::now() + JWT_TTL);
        Ok(j!({ "jwt": jwt }))
    }

    fn check_jwt(&self, request: &Request<Bytes>) -> Result<(), Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing authorization metadata"))?;
        let jwts = self.jwts.lock().unwrap_or_else(|e| e.into_inner());
        match jwts.get(token) {
            Some(expiry) if *expiry > Instant::now() => Ok(()),
            Some(_) => Err(Status::unauthenticated("jwt expired")),
            None => Err(Status::unauthenticated("invalid jwt")),
        }
    }

    /// An account by UUID or by name.
    fn account(&self, id: &str) -> Result<(usize, &SimAccount), Status> {
        self.index
            .get(&id.trim().to_ascii_lowercase())
            .and_then(|&i| self.book.accounts.get(i).map(|a| (i, a)))
            .ok_or_else(|| Status::not_found(format!("account {id} not found")))
    }

    fn accounts(&self, request: &Request<Bytes>) -> Value {
        #[derive(Deserialize, Default)]
        struct Req {
            paper: Option<bool>,
        }
        let req: Req = serde_json::from_slice(request.get_ref()).unwrap_or_default();
        // One trader (the key's user) for the whole book: a fixed id, so that the same book
        // gives the same bytes whatever credentials a simulator was started with.
        let trader = stable_uuid(&["architect", "trader"]);
        let accounts: Vec<Value> = self
            .order
            .iter()
            .filter_map(|&i| self.book.accounts.get(i))
            .filter(|a| req.paper.is_none_or(|p| p == (a.kind == AccountKind::Paper)))
            .map(|a| {
                j!({
                    "account": {"id": a.id, "name": a.name.clone().unwrap_or_else(|| a.id.clone())},
                    "permissions": {"list": true, "view": true, "trade": true, "reduce_or_close": true, "set_limits": false},
                    "trader": trader,
                    "trading_enabled": a.status != recon_model::AccountStatus::Closed,
                })
            })
            .collect();
        j!({ "accounts": accounts })
    }

    fn summary(&self, i: usize, a: &SimAccount) -> Value {
        let mut lots: Map<String, Value> = Map::new();
        for p in &a.positions {
            let key = format!("{}/USD", p.symbol.trim());
            let lot = lot_json(p, &self.book.as_of.to_string());
            match lots.get_mut(&key) {
                Some(Value::Array(list)) => list.push(lot),
                _ => {
                    lots.insert(key, Value::Array(vec![lot]));
                }
            }
        }
        let equity = a.reported_net_liq();
        let margin = a.maintenance_requirement();
        let unrealized: Decimal = a.positions.iter().map(SimPosition::unrealized_pnl).sum();
        let day: Decimal = a.positions.iter().map(|p| p.day_pnl).sum();
        let realized: Decimal = a.closed_today.iter().map(|l| l.realized_pnl).sum();
        let mut summary = j!({
            "account": a.id,
            "timestamp": format!("{}T21:00:00.000000Z", self.book.as_of),
            "balances": {"USD": dec(a.cash)},
            "positions": lots,
            "equity": dec(equity),
            "cash_excess": dec(a.cash.max(Decimal::ZERO)),
            "total_margin": dec(margin),
            "position_margin": dec(margin),
            "realized_pnl": dec(realized),
            "unrealized_pnl": dec(unrealized),
            "yesterday_equity": dec(equity - day - realized),
        });
        if let Some(obj) = summary.as_object_mut() {
            // The 2026-03 schema change: older accounts still answer the old field.
            if i.is_multiple_of(2) {
                obj.insert(
                    "available_margin".into(),
                    dec((equity - margin).max(Decimal::ZERO)),
                );
                obj.insert(
                    "excess_liquidity".into(),
                    dec((equity - margin).max(Decimal::ZERO)),
                );
            } else {
                obj.insert("purchasing_power".into(), dec(a.reported_buying_power()));
            }
        }
        summary
    }
}

fn lot_json(p: &SimPosition, as_of: &str) -> Value {
    j!({
        "quantity": if p.malformed { Value::String("n/a".into()) } else { dec(p.quantity) },
        // Both public examples carry the entry price here, not a notional (BROKERS.md §5.5).
        "cost_basis": dec(p.avg_price),
        "break_even_price": dec(p.avg_price),
        "unrealized_pnl": dec(p.unrealized_pnl()),
        "trade_time": format!("{as_of}T14:30:00.000000Z"),
    })
}

/// The position id recon reads back for `p`: the tradable product it is keyed by.
pub fn position_id(_a: &SimAccount, p: &SimPosition) -> String {
    format!("{}/USD", p.symbol.trim())
}
