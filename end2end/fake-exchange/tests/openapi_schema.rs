//! Keeps the fake honest: for every endpoint it serves, a success and (where Binance's OpenAPI
//! file defines one) an error answer validate against that file's response schema. The
//! answers are written to a temporary JSON file and checked by `openapi_schema.py` with the
//! repository's Python venv (`bash .ci/setup test` creates it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Client;
use fake_exchange::{Account, FakeExchange};
use reqwest::Method;
use serde_json::{Value, json};

const TRADER_KEY: &str = "SchemaTrader0000000000000000000000000000000000000000000000000001";
const TRADER_SECRET: &str = "schema-secret";

struct Answers(Vec<Value>);

impl Answers {
    fn add(&mut self, name: &str, method: Method, path: &str, answer: common::Answer) {
        self.add_variant(name, method, path, answer, None);
    }

    fn add_variant(
        &mut self,
        name: &str,
        method: Method,
        path: &str,
        answer: common::Answer,
        variant: Option<&str>,
    ) {
        self.0.push(json!({
            "name": name,
            "method": method.as_str(),
            "path": path,
            "status": answer.status.as_u16(),
            "body": answer.body,
            "variant": variant,
        }));
    }
}

fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run bash .ci/setup test (it installs the Python venv this test uses)",
        python.display()
    );
    python
}

#[tokio::test]
async fn answers_match_binance_openapi_schemas() {
    let python = python();
    let exchange = FakeExchange::start().await.unwrap();
    exchange.add_account(
        TRADER_KEY,
        Account::hmac(TRADER_SECRET).with_balances([("BTC", "2"), ("USDT", "200000")]),
    );
    let client = Client::hmac(&exchange, TRADER_KEY, TRADER_SECRET);
    let stranger = Client::hmac(
        &exchange,
        "Stranger00000000000000000000000000000000000000000000000000000001",
        "nobody",
    );
    let mut answers = Answers(Vec::new());
    let get = Method::GET;

    answers.add(
        "ping",
        get.clone(),
        "/api/v3/ping",
        client.public("/api/v3/ping", &[]).await,
    );
    answers.add(
        "time",
        get.clone(),
        "/api/v3/time",
        client.public("/api/v3/time", &[]).await,
    );
    for (path, ok, bad) in [
        ("/api/v3/exchangeInfo", vec![], vec![("symbol", "NOPE")]),
        (
            "/api/v3/exchangeInfo",
            vec![("symbol", "BNBBTC")],
            vec![("symbols", "BTCUSDT")],
        ),
        (
            "/api/v3/depth",
            vec![("symbol", "BTCUSDT"), ("limit", "5")],
            vec![("symbol", "NOPE")],
        ),
        ("/api/v3/trades", vec![("symbol", "ETHUSDT")], vec![]),
        (
            "/api/v3/klines",
            vec![("symbol", "BTCUSDT"), ("interval", "1h"), ("limit", "3")],
            vec![("symbol", "BTCUSDT"), ("interval", "7m")],
        ),
        (
            "/api/v3/avgPrice",
            vec![("symbol", "BTCUSDT")],
            vec![("symbol", "NOPE")],
        ),
        (
            "/api/v3/ticker/24hr",
            vec![("symbol", "BTCUSDT")],
            vec![("symbol", "BTCUSDT"), ("type", "HUGE")],
        ),
        (
            "/api/v3/ticker/24hr",
            vec![],
            vec![("symbols", r#"["BTCUSDT","NOPE"]"#)],
        ),
        (
            "/api/v3/ticker/price",
            vec![("symbol", "BTCUSDT")],
            vec![("symbol", "NOPE")],
        ),
        (
            "/api/v3/ticker/price",
            vec![("symbols", r#"["BTCUSDT","BNBBTC"]"#)],
            vec![("symbols", "[oops")],
        ),
        (
            "/api/v3/ticker/bookTicker",
            vec![("symbol", "BNBBTC")],
            vec![("symbol", "NOPE")],
        ),
        (
            "/api/v3/ticker/bookTicker",
            vec![],
            vec![("symbol", "BTCUSDT"), ("symbols", r#"["BTCUSDT"]"#)],
        ),
    ] {
        answers.add("public", get.clone(), path, client.public(path, &ok).await);
        answers.add(
            "public error",
            get.clone(),
            path,
            client.public(path, &bad).await,
        );
    }

    let account = "/api/v3/account";
    answers.add(
        "account",
        get.clone(),
        account,
        client.signed(get.clone(), account, &[], &[]).await,
    );
    answers.add(
        "unknown key",
        get.clone(),
        account,
        stranger.signed(get.clone(), account, &[], &[]).await,
    );
    let late = format!("timestamp={}", common::now_ms() - 120_000);
    let stale = client
        .send_raw(
            get.clone(),
            account,
            &format!("{late}&signature={}", client.sign(&late)),
            "",
        )
        .await;
    answers.add("stale timestamp", get.clone(), account, stale);

    let order = "/api/v3/order";
    let post = Method::POST;
    let limit = |price: &'static str, respond: &'static str| {
        vec![
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", price),
            ("newOrderRespType", respond),
        ]
    };
    let market = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.001"),
    ];
    answers.add_variant(
        "ACK",
        post.clone(),
        order,
        client.new_order(&limit("60000", "ACK")).await,
        Some("orderResponseAck"),
    );
    answers.add_variant(
        "RESULT",
        post.clone(),
        order,
        client.new_order(&limit("61000", "RESULT")).await,
        Some("orderResponseResult"),
    );
    let full = client.new_order(&limit("62000", "FULL")).await;
    let resting_id = full.body["orderId"].as_i64().unwrap().to_string();
    answers.add_variant(
        "FULL resting",
        post.clone(),
        order,
        full,
        Some("orderResponseFull"),
    );
    answers.add_variant(
        "FULL filled",
        post.clone(),
        order,
        client.new_order(&market).await,
        Some("orderResponseFull"),
    );
    answers.add(
        "filter failure",
        post.clone(),
        order,
        client.new_order(&limit("60000.001", "ACK")).await,
    );
    answers.add(
        "no trading key",
        post.clone(),
        order,
        stranger.new_order(&market).await,
    );

    let test = "/api/v3/order/test";
    answers.add(
        "test",
        post.clone(),
        test,
        client.signed(post.clone(), test, &[], &market).await,
    );
    let mut with_rates = market.to_vec();
    with_rates.push(("computeCommissionRates", "true"));
    answers.add(
        "test rates",
        post.clone(),
        test,
        client.signed(post.clone(), test, &[], &with_rates).await,
    );
    answers.add(
        "test refused",
        post.clone(),
        test,
        client.signed(post.clone(), test, &[], &market[..3]).await,
    );

    let by_id = [("symbol", "BTCUSDT"), ("orderId", resting_id.as_str())];
    let unknown = [("symbol", "BTCUSDT"), ("orderId", "999999")];
    answers.add(
        "query",
        get.clone(),
        order,
        client.signed(get.clone(), order, &by_id, &[]).await,
    );
    answers.add(
        "query unknown",
        get.clone(),
        order,
        client.signed(get.clone(), order, &unknown, &[]).await,
    );

    let open = "/api/v3/openOrders";
    answers.add(
        "open",
        get.clone(),
        open,
        client
            .signed(get.clone(), open, &[("symbol", "BTCUSDT")], &[])
            .await,
    );
    answers.add(
        "open bad symbol",
        get.clone(),
        open,
        client
            .signed(get.clone(), open, &[("symbol", "NOPE")], &[])
            .await,
    );
    for path in ["/api/v3/allOrders", "/api/v3/myTrades"] {
        answers.add(
            "history",
            get.clone(),
            path,
            client
                .signed(get.clone(), path, &[("symbol", "BTCUSDT")], &[])
                .await,
        );
        answers.add(
            "history no symbol",
            get.clone(),
            path,
            client.signed(get.clone(), path, &[], &[]).await,
        );
    }
    let usage = "/api/v3/rateLimit/order";
    answers.add(
        "order count",
        get.clone(),
        usage,
        client.signed(get.clone(), usage, &[], &[]).await,
    );
    answers.add(
        "order count unknown key",
        get.clone(),
        usage,
        stranger.signed(get.clone(), usage, &[], &[]).await,
    );

    let replace = "/api/v3/order/cancelReplace";
    let mut swap = limit("59000", "FULL");
    swap.extend([
        ("cancelReplaceMode", "STOP_ON_FAILURE"),
        ("cancelOrderId", resting_id.as_str()),
    ]);
    answers.add(
        "cancelReplace",
        post.clone(),
        replace,
        client.signed(post.clone(), replace, &[], &swap).await,
    );
    answers.add(
        "cancelReplace failed",
        post.clone(),
        replace,
        client.signed(post.clone(), replace, &[], &swap).await,
    );

    let delete = Method::DELETE;
    let first_id = "1".to_string();
    let first = [("symbol", "BTCUSDT"), ("orderId", first_id.as_str())];
    answers.add(
        "cancel",
        delete.clone(),
        order,
        client.signed(delete.clone(), order, &first, &[]).await,
    );
    answers.add(
        "cancel unknown",
        delete.clone(),
        order,
        client.signed(delete.clone(), order, &unknown, &[]).await,
    );
    let btc = [("symbol", "BTCUSDT")];
    answers.add(
        "cancel all",
        delete.clone(),
        open,
        client.signed(delete.clone(), open, &btc, &[]).await,
    );
    answers.add(
        "cancel all none open",
        delete.clone(),
        open,
        client.signed(delete.clone(), open, &btc, &[]).await,
    );

    let restrictions = "/sapi/v1/account/apiRestrictions";
    answers.add(
        "restrictions",
        get.clone(),
        restrictions,
        client.signed(get.clone(), restrictions, &[], &[]).await,
    );
    answers.add(
        "restrictions unknown key",
        get.clone(),
        restrictions,
        stranger.signed(get.clone(), restrictions, &[], &[]).await,
    );

    let file =
        std::env::temp_dir().join(format!("fake-exchange-answers-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec_pretty(&answers.0).unwrap()).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(&python)
        .arg(here.join("tests/openapi_schema.py"))
        .arg(here.join("fixtures/binance-spot-openapi.yaml"))
        .arg(&file)
        .output()
        .expect("runs the validator");
    let _ = std::fs::remove_file(&file);
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}\n{errors}");
    println!("{report}");
}
