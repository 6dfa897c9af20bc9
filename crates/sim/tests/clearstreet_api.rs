//! The simulated Clear Street answers as BROKERS.md §3 says the real one does, over real HTTP.

use recon_model::Broker;
use recon_sim::{SimBook, SimCredentials, SimOptions, clearstreet, start};
use serde_json::Value;

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
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
        base: sim.url(Broker::Clearstreet).unwrap().to_string(),
        token: sim
            .credentials
            .get(Broker::Clearstreet, "api_key")
            .to_string(),
        http: reqwest::Client::new(),
    };
    (sim, client)
}

#[tokio::test]
async fn every_answer_is_an_envelope_with_string_decimals_and_int64_ids() {
    let (sim, c) = sim(SimOptions::default()).await;
    assert!(c.base.starts_with("http://127.0.0.1:"), "{}", c.base);
    let list = c.json("/v1/accounts").await;
    assert!(list["error"].is_null());
    assert!(list["metadata"]["request_id"].is_string());
    let accounts = list["data"].as_array().unwrap();
    assert_eq!(accounts.len(), 5);
    assert!(accounts.iter().all(|a| a["id"].is_i64()));
    assert!(list["metadata"].get("next_page_token").is_none());
    let closed = accounts.iter().find(|a| a["id"] == 19820).unwrap();
    assert_eq!(closed["status"], "CLOSED");

    let b = c.json("/v1/accounts/19817/balances").await;
    assert_eq!(b["data"]["account_id"], 19817);
    assert_eq!(b["data"]["equity"], "16320.00");
    assert_eq!(b["data"]["trade_cash"], "-52000.00");
    assert_eq!(
        b["data"]["margin_details"]["maintenance_margin_excess"],
        "-17436.00"
    );
    // A cash account has no margin details, and no short_market_value without shorts.
    let cash = c.json("/v1/accounts/19818/balances").await;
    assert!(cash["data"].get("margin_details").is_none());
    assert!(cash["data"].get("short_market_value").is_none());

    let p = c.json("/v1/accounts/19816/positions").await;
    let rows = p["data"].as_array().unwrap();
    let tsla = rows.iter().find(|r| r["symbol"] == "TSLA").unwrap();
    assert_eq!(tsla["quantity"], "-50");
    assert_eq!(tsla["position_type"], "SHORT");
    assert_eq!(tsla["market_value"], "-8925.00");
    let call = rows
        .iter()
        .find(|r| r["instrument_type"] == "OPTION")
        .unwrap();
    assert_eq!(call["symbol"], "AAPL270115C00190000");
    // Already multiplied by 100.
    assert_eq!(call["market_value"], "2720.00");
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_and_bad_ids_answer_error_envelopes() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let none = c
        .http
        .get(format!("{}/v1/accounts", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    let wrong = Client {
        token: "wrong".into(),
        base: c.base.clone(),
        http: c.http.clone(),
    };
    let r = wrong.get("/v1/accounts").await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 403);
    assert_eq!(
        body["error"]["message"],
        "The caller does not have permission to execute the specified operation"
    );
    assert!(body.get("data").is_none());
    assert!(body["metadata"]["request_id"].is_string());

    let r = c.get("/v1/accounts/424242/balances").await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Some requested entity was not found"
    );
    assert_eq!(c.get("/v1/accounts/abc/positions").await.status(), 400);
    assert_eq!(c.get("/v1/accounts?page_size=0").await.status(), 400);
    assert_eq!(c.get("/v1/accounts?page_size=1001").await.status(), 400);
    assert_eq!(c.get("/v1/accounts?page_token=%21%21").await.status(), 400);
}

#[tokio::test]
async fn lists_page_by_token_and_the_same_book_gives_the_same_bytes() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let mut ids = Vec::new();
    let mut page = c.json("/v1/accounts?page_size=2").await;
    let mut pages = 1;
    loop {
        ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].clone()),
        );
        let Some(token) = page["metadata"]["next_page_token"].as_str() else {
            break;
        };
        // page_size is ignored once a token is given.
        page = c
            .json(&format!("/v1/accounts?page_token={token}&page_size=1"))
            .await;
        pages += 1;
    }
    assert_eq!((pages, ids.len()), (3, 5));
    assert_eq!(page["metadata"]["total_pages"], 3);

    // Byte-identical answers from a second simulator with other credentials.
    let (_sim2, c2) = sim(SimOptions::default()).await;
    for path in [
        "/v1/accounts?page_size=2",
        "/v1/accounts/19816/balances",
        "/v1/accounts/19816/positions",
    ] {
        let a = c.get(path).await.bytes().await.unwrap();
        let b = c2.get(path).await.bytes().await.unwrap();
        assert_eq!(a, b, "{path}");
    }
}

#[tokio::test]
async fn the_paging_loop_fault_repeats_a_token_and_old_enums_are_served() {
    let options = SimOptions {
        clearstreet: clearstreet::Dialect {
            page_size_cap: Some(1),
            old_enums: true,
            paging_loop: true,
        },
        ..SimOptions::default()
    };
    let (_sim, c) = sim(options).await;
    let first = c.json("/v1/accounts/19816/positions").await;
    let t2 = first["metadata"]["next_page_token"]
        .as_str()
        .unwrap()
        .to_string();
    let second = c
        .json(&format!("/v1/accounts/19816/positions?page_token={t2}"))
        .await;
    assert_eq!(
        second["metadata"]["next_page_token"].as_str(),
        Some(t2.as_str())
    );
    drop(c);
    let old = SimOptions {
        clearstreet: clearstreet::Dialect {
            old_enums: true,
            ..Default::default()
        },
        ..SimOptions::default()
    };
    let (_sim2, c2) = sim(old).await;
    let rows = c2.json("/v1/accounts/19816/positions").await;
    let types: Vec<&str> = rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["position_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["LONG", "SHORT", "LONG_CALL"]);
}
