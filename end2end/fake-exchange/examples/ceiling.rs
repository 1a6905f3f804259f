//! The benchmark's ceiling: the smallest axum JSON handler, served the way Keywarden is
//! (tokio, axum, one route), so `make bench` can say how close each endpoint comes to what the
//! stack allows on this machine. Not part of the product. `ceiling [ADDR]`.

use axum::Json;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3999".into());
    let app = axum::Router::new().route(
        "/",
        get(|| async { Json(serde_json::json!({"id": 1, "label": "ceiling", "is_valid": true})) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
