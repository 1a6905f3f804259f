//! The gateway's HTTP door: `/gateway/binance` + Binance's own path. A bot's client (ccxt,
//! python-binance, Binance's SDK) points its base URL here and sends its bot token as the API
//! key; the answer is Binance's own, or a refusal in Binance's error shape.

use app::service::{GatewayRequest, Refusal};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::AppState;

pub const PREFIX: &str = "/gateway/binance";

pub fn routes() -> Router<AppState> {
    Router::new().route(&format!("{PREFIX}/{{*path}}"), any(forward))
}

async fn forward(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let client = app::http::client_info(&parts);
    let body: Bytes = match axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let path = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let request = GatewayRequest {
        token: parts
            .headers
            .get("x-mbx-apikey")
            .and_then(|v| v.to_str().ok()),
        method: parts.method.as_str(),
        path,
        query: parts.uri.query().unwrap_or_default(),
        body: std::str::from_utf8(&body).unwrap_or_default(),
        client: &client,
    };
    match state.keywarden.gateway(request).await {
        Ok(forwarded) => {
            let status = StatusCode::from_u16(forwarded.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = (status, forwarded.body).into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.extend(forwarded.headers);
            response
        }
        Err(refusal) => refused(&refusal),
    }
}

fn refused(refusal: &Refusal) -> Response {
    let status =
        StatusCode::from_u16(refusal.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(refusal.body())).into_response();
    if let Some(seconds) = refusal.retry_after_secs {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use app::service::RefusalKind;

    /// README.md's table of refusals lists every code with its status, and nothing else.
    #[test]
    fn the_readme_lists_every_refusal() {
        let readme = include_str!("../../README.md");
        let rows: Vec<(i64, u16)> = readme
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells.get(1)?.parse::<i64>().ok()?;
                let status = cells.get(2)?.parse::<u16>().ok()?;
                (-7999..=-7001).contains(&code).then_some((code, status))
            })
            .collect();
        let declared: Vec<(i64, u16)> = RefusalKind::ALL
            .iter()
            .map(|kind| (kind.code(), kind.status()))
            .collect();
        assert_eq!(rows, declared);
    }
}
