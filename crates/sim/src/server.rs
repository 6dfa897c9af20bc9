//! Binds each broker's router to its own port on 127.0.0.1 and keeps it serving until the
//! [`RunningSim`] is dropped or shut down.

use crate::book::SimBook;
use crate::faults::{self, FaultState, Faults};
use crate::{architect, clearstreet, etrade, tastytrade, tradezero};
use rand::Rng;
use rand::distr::Alphanumeric;
use recon_model::Broker;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The credentials the simulator accepts, per broker, by their recon config key
/// (`brokers.<broker>.<key>`): one random value for each key of the broker's row in
/// `recon_model::brokers`, so a new broker's keys need no line here. They are the
/// simulator's own (it plays the broker), so printing them is its job: `recon sim` writes
/// them on its first line.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SimCredentials(BTreeMap<Broker, BTreeMap<&'static str, String>>);

impl SimCredentials {
    /// Fresh random credentials, so a test can prove that none of them leaks to disk.
    pub fn random() -> Self {
        SimCredentials(
            Broker::ALL
                .iter()
                .map(|&broker| {
                    let keys = recon_model::brokers::spec(broker).credentials;
                    let values = keys
                        .iter()
                        .map(|&key| (key, format!("{broker}-{key}-{}", token(32))))
                        .collect();
                    (broker, values)
                })
                .collect(),
        )
    }

    /// The value the simulated `broker` accepts for its credential `key` (empty for a key
    /// the broker does not take).
    pub fn get(&self, broker: Broker, key: &str) -> &str {
        self.0
            .get(&broker)
            .and_then(|keys| keys.get(key))
            .map_or("", String::as_str)
    }

    /// Per broker, each credential by its recon config key.
    pub fn by_broker(
        &self,
    ) -> impl Iterator<Item = (Broker, impl Iterator<Item = (&'static str, &str)>)> {
        self.0
            .iter()
            .map(|(b, keys)| (*b, keys.iter().map(|(k, v)| (*k, v.as_str()))))
    }
}

fn token(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Options that change how the brokers answer.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    pub tradezero: tradezero::Dialect,
    pub clearstreet: clearstreet::Dialect,
    pub tastytrade: tastytrade::Dialect,
    pub etrade: etrade::Dialect,
    /// Faults injected in front of every broker (each broker counts its own attempts).
    pub faults: Faults,
    /// Brokers that are down: their URL is announced, but nothing listens on its port
    /// (connections are refused), as when a broker's API is unreachable.
    pub unreachable: Vec<Broker>,
}

/// A simulator serving on loopback. Dropping it stops the servers.
pub struct RunningSim {
    urls: BTreeMap<Broker, String>,
    pub credentials: SimCredentials,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningSim {
    /// The base URL of a broker's API, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self, broker: Broker) -> Option<&str> {
        self.urls.get(&broker).map(String::as_str)
    }

    pub fn urls(&self) -> &BTreeMap<Broker, String> {
        &self.urls
    }

    /// The line `recon sim` prints once it listens: every base URL and the credentials.
    pub fn announcement(&self) -> serde_json::Value {
        let mut line = serde_json::Map::new();
        for (broker, url) in &self.urls {
            line.insert(broker.to_string(), url.clone().into());
        }
        line.insert(
            "credentials".into(),
            serde_json::to_value(&self.credentials).unwrap_or_default(),
        );
        line.into()
    }

    /// Stops every server and waits for them to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// `broker`'s routes over the one book, with the dialect options and faults asked for.
fn router(
    broker: Broker,
    book: &Arc<SimBook>,
    credentials: &SimCredentials,
    options: &SimOptions,
) -> axum::Router {
    let book = book.clone();
    match broker {
        Broker::Etrade => etrade::router(
            book,
            etrade::Credentials::from_sim(credentials),
            etrade::Dialect {
                paging_loop: options.etrade.paging_loop || options.faults.paging_loop,
                ..options.etrade
            },
        ),
        Broker::Tastytrade => tastytrade::router(
            book,
            tastytrade::Credentials::from_sim(credentials),
            tastytrade::Dialect {
                token_uses: options.tastytrade.token_uses.or(options.faults.token_uses),
            },
        ),
        Broker::Tradezero => tradezero::router(
            book,
            tradezero::Credentials::from_sim(credentials),
            options.tradezero,
        ),
        Broker::Architect => architect::router(book, architect::Credentials::from_sim(credentials)),
        Broker::Clearstreet => clearstreet::router(
            book,
            clearstreet::Credentials::from_sim(credentials),
            clearstreet::Dialect {
                paging_loop: options.clearstreet.paging_loop || options.faults.paging_loop,
                ..options.clearstreet
            },
        ),
    }
}

/// Starts every broker on its own free port on 127.0.0.1.
pub async fn start(
    book: SimBook,
    credentials: SimCredentials,
    options: SimOptions,
) -> std::io::Result<RunningSim> {
    let book = Arc::new(book);
    let (stop, stopped) = watch::channel(false);
    let mut urls = BTreeMap::new();
    let mut tasks = Vec::new();

    for &broker in Broker::ALL {
        let router = router(broker, &book, &credentials, &options);
        let router = if options.faults.is_none() {
            router
        } else {
            let state = FaultState::new(options.faults.clone());
            router.layer(axum::middleware::from_fn_with_state(state, faults::inject))
        };
        if options.unreachable.contains(&broker) {
            // Port 1 (tcpmux): nothing listens there. (A port bound and freed here could be
            // taken at once by another simulator on this machine, which would answer.)
            urls.insert(broker, "http://127.0.0.1:1".to_string());
            continue;
        }
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        urls.insert(broker, format!("http://{addr}"));
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let served = if broker == Broker::Architect {
                // gRPC wants HTTP/2: tonic's server, with the axum routes behind it.
                tonic::transport::Server::builder()
                    .add_routes(tonic::service::Routes::from(router))
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(listener),
                        shutdown,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(|e| e.to_string())
            };
            if let Err(e) = served {
                tracing::error!(%broker, error = %e, "simulator server stopped");
            }
        }));
    }
    Ok(RunningSim {
        urls,
        credentials,
        stop,
        tasks,
    })
}
