//! Runs the fake exchange as a process, for the browser tests:
//! `fake-exchange [ADDR]` (default 127.0.0.1:3900). Ctrl-C stops it.

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3900".into())
        .parse()
        .expect("usage: fake-exchange [HOST:PORT]");
    let exchange = fake_exchange::FakeExchange::start_on(addr)
        .await
        .expect("cannot bind the fake exchange");
    println!("fake exchange listening on {}", exchange.url());
    let _ = tokio::signal::ctrl_c().await;
}
