//! The simulated TradeZero answers as BROKERS.md §2 says the real one does, over real HTTP.

use recon_model::Broker;
use recon_sim::{SimBook, SimCredentials, SimOptions, start, tradezero};
use serde_json::Value;

struct Client {
    base: String,
    creds: tradezero::Credentials,
    http: reqwest::Client,
}

impl Client {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("TZ-API-KEY-ID", &self.creds.api_key_id)
            .header("tz-api-secret-key", &self.creds.api_secret_key)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

async fn sim(options: SimOptions) -> (recon_sim::RunningSim, Client) {
    let sim = start(SimBook::demo(), SimCredentials::random(), options)
        .await
        .unwrap();
    let client = Client {
        base: sim.url(Broker::Tradezero).unwrap().to_string(),
        creds: tradezero::Credentials::from_sim(&sim.credentials),
        http: reqwest::Client::new(),
    };
    (sim, client)
}

#[tokio::test]
async fn binds_loopback_only() {
    let (sim, c) = sim(SimOptions::default()).await;
    assert!(c.base.starts_with("http://127.0.0.1:"), "{}", c.base);
    sim.shutdown().await;
}

#[tokio::test]
async fn lists_accounts_and_serves_each_endpoint() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let r = c.get("/v1/api/accounts").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    let accounts = body["accounts"].as_array().unwrap();
    assert!(accounts.len() >= 4);
    let id = accounts[0]["account"].as_str().unwrap().to_string();

    let details: Value = c.json(&format!("/v1/api/account/{id}")).await;
    assert!(details["buyingPower"].is_number());
    assert!(details.get("bp").is_none());

    let positions: Value = c.json(&format!("/v1/api/accounts/{id}/positions")).await;
    assert!(!positions["positions"].as_array().unwrap().is_empty());

    let pnl: Value = c.json(&format!("/v1/api/accounts/{id}/pnl")).await;
    assert!(pnl["accountValue"].is_number());
    let row = &pnl["pnl"][0];
    assert!(row.get("unrealizedPnL").is_some() && row.get("realizedPnl").is_some());
}

#[tokio::test]
async fn numbers_are_exact_json_numbers() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let text = c.get("/v1/api/accounts").await.text().await.unwrap();
    // The demo's first account holds 52340.15 in cash, written as a bare number.
    assert!(text.contains(r#""availableCash":52340.15"#), "{text}");
}

#[tokio::test]
async fn ids_are_case_insensitive_and_trailing_slashes_tolerated() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let id = SimBook::demo()
        .accounts_of(Broker::Tradezero)
        .next()
        .unwrap()
        .id
        .to_ascii_lowercase();
    assert_eq!(
        c.get(&format!("/v1/api/accounts/{id}/positions/"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn auth_failures_and_unknown_accounts_are_plain_text_404s() {
    let (_sim, c) = sim(SimOptions::default()).await;
    // Wrong secret.
    let r = c
        .http
        .get(format!("{}/v1/api/accounts", c.base))
        .header("TZ-API-KEY-ID", &c.creds.api_key_id)
        .header("TZ-API-SECRET-KEY", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(r.text().await.unwrap(), "Not found\n");
    // No headers at all.
    let r = c
        .http
        .get(format!("{}/v1/api/accounts", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Unknown account with good credentials: indistinguishable from an auth failure.
    let r = c.get("/v1/api/accounts/TZP99999X/positions").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "Not found\n");
    // Empty id: the Go router's own 404.
    let r = c.get("/v1/api/accounts//positions").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "404 page not found");
}

#[tokio::test]
async fn writes_are_refused_and_options_is_a_preflight() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let url = format!("{}/v1/api/accounts/TZ10000001/positions", c.base);
    let r = c.http.post(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_other_documented_shapes_can_be_served() {
    let options = SimOptions {
        tradezero: tradezero::Dialect {
            slim_account_list: true,
            bp_field: true,
            bare_positions: true,
        },
        ..SimOptions::default()
    };
    let (_sim, c) = sim(options).await;
    let list: Value = c.json("/v1/api/accounts").await;
    let id = list[0]["accountId"].as_str().unwrap().to_string();
    let details: Value = c.json(&format!("/v1/api/account/{id}")).await;
    assert!(details["bp"].is_number() && details.get("buyingPower").is_none());
    let positions: Value = c.json(&format!("/v1/api/accounts/{id}/positions")).await;
    assert!(positions.is_array());
}

#[tokio::test]
async fn short_options_come_with_negative_shares_and_missing_pnl_rows_are_absent() {
    let book = SimBook::demo();
    let (_sim, c) = sim(SimOptions::default()).await;
    for account in book.accounts_of(Broker::Tradezero) {
        let pnl: Value = c
            .json(&format!("/v1/api/accounts/{}/pnl", account.id))
            .await;
        let ids: Vec<&str> = pnl["pnl"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["positionId"].as_str().unwrap())
            .collect();
        for p in &account.positions {
            assert_eq!(ids.contains(&p.id.as_str()), !p.pnl_missing, "{}", p.id);
        }
    }
}
