//! Runs the fake exchange as a process, for the browser tests and the benchmarks:
//! `fake-exchange [ADDR] [--unmetered]` (default 127.0.0.1:3900). `--unmetered` reports no
//! request weight, neither counts nor limits orders, and gives the HMAC demo account a
//! benchmark's balances, so a benchmark measures Keywarden rather than Binance's budgets.
//! Ctrl-C stops it.

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("127.0.0.1:3900", String::as_str)
        .parse()
        .expect("usage: fake-exchange [HOST:PORT] [--unmetered]");
    let exchange = fake_exchange::FakeExchange::start_on(addr)
        .await
        .expect("cannot bind the fake exchange");
    if args.iter().any(|a| a == "--unmetered") {
        let account = fake_exchange::Account::hmac(fake_exchange::DEMO_SECRET_KEY)
            .with_balances([("BTC", "1000000"), ("USDT", "100000000000")]);
        exchange.add_account(fake_exchange::DEMO_API_KEY, account);
        exchange.set_unmetered();
    }
    println!("fake exchange listening on {}", exchange.url());
    let _ = tokio::signal::ctrl_c().await;
}
