//! The simulated E*TRADE answers as BROKERS.md §4 says the real one does, over real HTTP,
//! to requests signed with OAuth 1.0a.

use recon_model::{Broker, oauth1};
use recon_sim::{SimBook, SimCredentials, SimOptions, etrade, start};
use serde_json::Value;

struct Client {
    base: String,
    creds: etrade::Credentials,
    http: reqwest::Client,
}

impl Client {
    fn header(&self, path: &str, query: &[(&str, String)], token_secret: &str, ts: u64) -> String {
        let keys = oauth1::Keys {
            consumer_key: &self.creds.consumer_key,
            consumer_secret: &self.creds.consumer_secret,
            token: &self.creds.access_token,
            token_secret,
        };
        oauth1::authorization(
            "GET",
            &format!("{}{path}", self.base),
            query,
            &keys,
            "nonce1",
            ts,
        )
    }

    async fn get_with(
        &self,
        path: &str,
        query: &[(&str, String)],
        auth: Option<String>,
    ) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.base)).query(query);
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send().await.unwrap()
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> reqwest::Response {
        let auth = self.header(path, query, &self.creds.access_token_secret, now());
        self.get_with(path, query, Some(auth)).await
    }

    async fn json(&self, path: &str, query: &[(&str, String)]) -> Value {
        let r = self.get(path, query).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn sim(options: SimOptions) -> (recon_sim::RunningSim, Client) {
    let sim = start(SimBook::demo(), SimCredentials::random(), options)
        .await
        .unwrap();
    let c = Client {
        base: sim.url(Broker::Etrade).unwrap().to_string(),
        creds: etrade::Credentials::from_sim(&sim.credentials),
        http: reqwest::Client::new(),
    };
    (sim, c)
}

const KEY: &str = "vQMsebA1H5WltUfDkJP4yA";

#[tokio::test]
async fn signed_requests_get_json_or_xml_in_the_documented_shapes() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let list = c.json("/v1/accounts/list.json", &[]).await;
    let accounts = list["AccountListResponse"]["Accounts"]["Account"]
        .as_array()
        .unwrap();
    assert_eq!(accounts.len(), 3);
    assert!(
        accounts
            .iter()
            .all(|a| a["accountIdKey"].is_string() && a["accountId"].is_string())
    );
    // XML without the suffix.
    let xml = c.get("/v1/accounts/list", &[]).await;
    assert_eq!(xml.headers()["content-type"], "application/xml");
    let body = xml.text().await.unwrap();
    assert!(
        body.contains("<AccountListResponse><Accounts><Account><accountId>"),
        "{body}"
    );

    let q = [
        ("instType", "BROKERAGE".to_string()),
        ("realTimeNAV", "true".to_string()),
    ];
    let b = c
        .json(&format!("/v1/accounts/{KEY}/balance.json"), &q)
        .await;
    assert_eq!(b["BalanceResponse"]["Computed"]["cashBalance"], 3310);
    assert!(b["BalanceResponse"]["Computed"]["RealTimeValues"]["totalAccountValue"].is_number());
    assert!(b["BalanceResponse"]["asOfDate"].is_i64());
    // instType is required.
    let r = c
        .get(&format!("/v1/accounts/{KEY}/balance.json"), &[])
        .await;
    assert_eq!(r.status(), 400);

    // One position: an object, not an array; casing of Product drifts; dashed osiKey.
    let one = c
        .json("/v1/accounts/dBZOKt9xDrtRSAOl4MSiiA/portfolio.json", &[])
        .await;
    let p = &one["PortfolioResponse"]["AccountPortfolio"]["Position"];
    assert!(p.is_object(), "{p}");
    assert_eq!(p["Product"]["securityType"], "EQ");
    let two = c
        .json(&format!("/v1/accounts/{KEY}/portfolio.json"), &[])
        .await;
    let rows = two["PortfolioResponse"]["AccountPortfolio"]["Position"]
        .as_array()
        .unwrap();
    assert_eq!(rows[1]["product"]["securityType"], "OPTN");
    assert_eq!(rows[1]["osiKey"], "IWM---261113P00210000");
}

#[tokio::test]
async fn bad_oauth_answers_401_with_the_oauth_problem() {
    let (_sim, c) = sim(SimOptions::default()).await;
    let path = "/v1/accounts/list.json";
    let r = c.get_with(path, &[], None).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("oauth_problem=parameter_absent")
    );
    let bad_sig = c.header(path, &[], "wrong-secret", now());
    let r = c.get_with(path, &[], Some(bad_sig)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "oauth_problem=signature_invalid");
    let stale = c.header(path, &[], &c.creds.access_token_secret, now() - 3600);
    let r = c.get_with(path, &[], Some(stale)).await;
    assert_eq!(r.text().await.unwrap(), "oauth_problem=timestamp_refused");
    let r = c.get_with(path, &[], Some("Bearer x".into())).await;
    assert_eq!(r.status(), 401);
    // A query the signature does not cover is a bad signature.
    let signed_without = c.header(path, &[], &c.creds.access_token_secret, now());
    let r = c
        .get_with(path, &[("extra", "1".into())], Some(signed_without))
        .await;
    assert_eq!(r.text().await.unwrap(), "oauth_problem=signature_invalid");
}

#[tokio::test]
async fn pages_by_page_number_loop_under_the_fault_and_repeat_byte_for_byte() {
    let small = SimOptions {
        etrade: etrade::Dialect {
            page_size_cap: Some(1),
            paging_loop: false,
        },
        ..SimOptions::default()
    };
    let (_sim, c) = sim(small).await;
    let path = format!("/v1/accounts/{KEY}/portfolio.json");
    let p1 = c.json(&path, &[("pageNumber", "1".into())]).await;
    assert_eq!(p1["PortfolioResponse"]["AccountPortfolio"]["nextPageNo"], 2);
    let p2 = c.json(&path, &[("pageNumber", "2".into())]).await;
    assert!(
        p2["PortfolioResponse"]["AccountPortfolio"]
            .get("nextPageNo")
            .is_none()
    );

    let looping = SimOptions {
        etrade: etrade::Dialect {
            page_size_cap: Some(1),
            paging_loop: true,
        },
        ..SimOptions::default()
    };
    let (_sim2, c2) = sim(looping).await;
    let again = c2.json(&path, &[("pageNumber", "2".into())]).await;
    assert_eq!(
        again["PortfolioResponse"]["AccountPortfolio"]["nextPageNo"],
        2
    );

    // Same book, other credentials and nonces: the same bytes.
    let (_sim3, c3) = sim(SimOptions::default()).await;
    let (_sim4, c4) = sim(SimOptions::default()).await;
    let q = [("instType", "BROKERAGE".to_string())];
    for (p, q) in [
        (format!("/v1/accounts/{KEY}/balance.json"), &q[..]),
        (path.clone(), &[][..]),
    ] {
        let a = c3.get(&p, q).await.bytes().await.unwrap();
        let b = c4.get(&p, q).await.bytes().await.unwrap();
        assert_eq!(a, b, "{p}");
    }
}
