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

/// The credentials the simulator accepts, per broker. They are the simulator's own (it plays
/// the broker), so printing them is its job: `recon sim` writes them on its first line.
#[derive(Debug, Clone, Serialize)]
pub struct SimCredentials {
    pub tradezero: tradezero::Credentials,
    pub clearstreet: clearstreet::Credentials,
    pub tastytrade: tastytrade::Credentials,
    pub etrade: etrade::Credentials,
    pub architect: architect::Credentials,
}

impl SimCredentials {
    /// Fresh random credentials, so a test can prove that none of them leaks to disk.
    pub fn random() -> Self {
        SimCredentials {
            tradezero: tradezero::Credentials {
                api_key_id: format!("tzk-{}", token(16)),
                api_secret_key: format!("tzs-{}", token(32)),
            },
            clearstreet: clearstreet::Credentials {
                api_key: format!("csk-{}", token(40)),
            },
            tastytrade: tastytrade::Credentials {
                client_secret: format!("ttc-{}", token(32)),
                refresh_token: format!("ttr-{}", token(48)),
            },
            etrade: etrade::Credentials {
                consumer_key: format!("etck-{}", token(32)),
                consumer_secret: format!("etcs-{}", token(32)),
                access_token: format!("etat-{}", token(32)),
                access_token_secret: format!("etas-{}", token(32)),
            },
            architect: architect::Credentials {
                api_key: format!("ark-{}", token(24)),
                api_secret: format!("ars-{}", token(40)),
            },
        }
    }
}

impl SimCredentials {
    /// Per broker, each credential by its recon config key (`brokers.<broker>.<key>`).
    pub fn by_broker(&self) -> Vec<(Broker, Vec<(&'static str, String)>)> {
        vec![
            (
                Broker::Tradezero,
                vec![
                    ("api_key_id", self.tradezero.api_key_id.clone()),
                    ("api_secret_key", self.tradezero.api_secret_key.clone()),
                ],
            ),
            (
                Broker::Clearstreet,
                vec![("api_key", self.clearstreet.api_key.clone())],
            ),
            (
                Broker::Tastytrade,
                vec![
                    ("client_secret", self.tastytrade.client_secret.clone()),
                    ("refresh_token", self.tastytrade.refresh_token.clone()),
                ],
            ),
            (
                Broker::Etrade,
                vec![
                    ("consumer_key", self.etrade.consumer_key.clone()),
                    ("consumer_secret", self.etrade.consumer_secret.clone()),
                    ("access_token", self.etrade.access_token.clone()),
                    (
                        "access_token_secret",
                        self.etrade.access_token_secret.clone(),
                    ),
                ],
            ),
            (
                Broker::Architect,
                vec![
                    ("api_key", self.architect.api_key.clone()),
                    ("api_secret", self.architect.api_secret.clone()),
                ],
            ),
        ]
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

/// Starts every broker on its own free port on 127.0.0.1.
/// Each broker's routes over the one book, with the dialect options and faults asked for.
fn routers(
    book: &Arc<SimBook>,
    credentials: &SimCredentials,
    options: &SimOptions,
) -> [(Broker, axum::Router); 5] {
    [
        (
            Broker::Etrade,
            etrade::router(
                book.clone(),
                credentials.etrade.clone(),
                etrade::Dialect {
                    paging_loop: options.etrade.paging_loop || options.faults.paging_loop,
                    ..options.etrade
                },
            ),
        ),
        (
            Broker::Tastytrade,
            tastytrade::router(
                book.clone(),
                credentials.tastytrade.clone(),
                tastytrade::Dialect {
                    token_uses: options.tastytrade.token_uses.or(options.faults.token_uses),
                },
            ),
        ),
        (
            Broker::Tradezero,
            tradezero::router(
                book.clone(),
                credentials.tradezero.clone(),
                options.tradezero,
            ),
        ),
        (
            Broker::Architect,
            architect::router(book.clone(), credentials.architect.clone()),
        ),
        (
            Broker::Clearstreet,
            clearstreet::router(
                book.clone(),
                credentials.clearstreet.clone(),
                clearstreet::Dialect {
                    paging_loop: options.clearstreet.paging_loop || options.faults.paging_loop,
                    ..options.clearstreet
                },
            ),
        ),
    ]
}

pub async fn start(
    book: SimBook,
    credentials: SimCredentials,
    options: SimOptions,
) -> std::io::Result<RunningSim> {
    let book = Arc::new(book);
    let (stop, stopped) = watch::channel(false);
    let mut urls = BTreeMap::new();
    let mut tasks = Vec::new();

    let routers = routers(&book, &credentials, &options);
    for (broker, router) in routers {
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
