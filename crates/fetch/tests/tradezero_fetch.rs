//! The TradeZero connector against the simulator, over real HTTP on loopback.

use recon_fetch::tradezero::{Credentials, TradeZero};
use recon_fetch::{Connector, FetchOptions, SnapshotWriter, fetch_all};
use recon_model::Broker;
use recon_model::manifest::FetchStatus;
use recon_sim::{SimBook, SimCredentials, SimOptions, start};
use secrecy::SecretString;
use std::path::Path;

fn tradezero(url: &str, key: &str, secret: &str, options: FetchOptions) -> Box<dyn Connector> {
    let credentials = Credentials {
        api_key_id: SecretString::from(key),
        api_secret_key: SecretString::from(secret),
    };
    Box::new(TradeZero::new(url, credentials, options).unwrap())
}

fn connector(sim: &recon_sim::RunningSim, options: FetchOptions) -> Box<dyn Connector> {
    let c = &sim.credentials.tradezero;
    let url = sim.url(Broker::Tradezero).unwrap();
    tradezero(url, &c.api_key_id, &c.api_secret_key, options)
}

fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn fetches_every_account_and_endpoint_and_leaks_no_credential() {
    let book = SimBook::demo();
    let sim = start(
        book.clone(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path().join("snapshot")).unwrap();
    let manifest = fetch_all(
        &[connector(&sim, FetchOptions::default())],
        &out,
        book.as_of,
    )
    .await
    .unwrap();

    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.status, FetchStatus::Complete, "{:?}", tz.errors);
    let want: Vec<String> = book
        .accounts_of(Broker::Tradezero)
        .map(|a| a.id.clone())
        .collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(tz.accounts, want_sorted);
    let requests = tz.requests.as_ref().unwrap();
    assert_eq!(requests.len(), 1 + 3 * want.len());
    assert!(
        requests
            .iter()
            .all(|r| r.status == Some(200) && r.file.is_some())
    );

    for id in &want {
        for endpoint in ["account", "positions", "pnl"] {
            let path = out.root().join(format!("tradezero/{id}/{endpoint}.json"));
            assert!(path.is_file(), "{}", path.display());
        }
    }

    // Bodies are stored byte for byte: the file equals what the broker sends.
    let first = &want[0];
    let direct = reqwest::Client::new()
        .get(format!(
            "{}/v1/api/accounts/{first}/positions",
            sim.url(Broker::Tradezero).unwrap()
        ))
        .header("TZ-API-KEY-ID", &sim.credentials.tradezero.api_key_id)
        .header(
            "TZ-API-SECRET-KEY",
            &sim.credentials.tradezero.api_secret_key,
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stored =
        std::fs::read(out.root().join(format!("tradezero/{first}/positions.json"))).unwrap();
    assert_eq!(stored, direct.to_vec());

    // No credential anywhere on disk.
    let secrets = [
        sim.credentials.tradezero.api_key_id.as_str(),
        sim.credentials.tradezero.api_secret_key.as_str(),
    ];
    for file in all_files(out.root()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for s in secrets {
            assert!(!text.contains(s), "{} holds a credential", file.display());
        }
    }
}

#[tokio::test]
async fn bad_credentials_fail_the_broker_with_a_reason() {
    let book = SimBook::demo();
    let sim = start(
        book.clone(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let bad = tradezero(
        sim.url(Broker::Tradezero).unwrap(),
        "nope",
        "nope",
        FetchOptions::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(&[bad], &out, book.as_of).await.unwrap();
    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.status, FetchStatus::Failed);
    assert_eq!(tz.errors.len(), 1);
    assert!(tz.errors[0].account.is_none());
    assert!(tz.errors[0].error.contains("404"), "{}", tz.errors[0].error);
    assert!(tz.accounts.is_empty());
}

#[tokio::test]
async fn the_allow_list_limits_accounts_and_reports_missing_ones() {
    let book = SimBook::demo();
    let sim = start(
        book.clone(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let options = FetchOptions {
        accounts: Some(vec!["tz10000002".into(), "TZ404".into()]),
        ..FetchOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(&[connector(&sim, options)], &out, book.as_of)
        .await
        .unwrap();
    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.accounts, vec!["TZ10000002"]);
    assert_eq!(tz.status, FetchStatus::Partial);
    assert_eq!(tz.errors.len(), 1);
    assert_eq!(tz.errors[0].account.as_deref(), Some("TZ404"));
}

#[tokio::test]
async fn an_unreachable_broker_is_recorded_not_fatal() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = tradezero(&url, "k", "s", FetchOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(
        &[c],
        &out,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    )
    .await
    .unwrap();
    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.status, FetchStatus::Failed);
    assert!(
        tz.errors[0].error.contains("connect"),
        "{}",
        tz.errors[0].error
    );
    assert!(out.root().join("manifest.json").is_file());
}
