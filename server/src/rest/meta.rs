use app::model::{ErrorBody, ServiceMeta};
use axum::Json;
use axum::extract::State;

use super::Authenticated;
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/meta", tag = "meta", security(("bearer" = [])),
    responses(
        (status = 200, description = "where Keywarden calls Binance from, and the gateway's URL", body = ServiceMeta),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn meta(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Json<ServiceMeta> {
    Json(state.keywarden.meta(&caller))
}
