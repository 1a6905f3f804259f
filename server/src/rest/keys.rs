use app::model::{ApiKeyView, BalanceView, ErrorBody, KeyLabel, NewApiKey};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{ApiError, Authenticated, JsonBody};
use crate::AppState;

#[utoipa::path(post, path = "/api/v1/api-keys/", tag = "api-keys", security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, body = ApiKeyView),
        (status = 400, description = "Binance rejected the key (binance_code set), or the user already has one (api_key_exists)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, description = "Binance unreachable or answering garbage", body = ErrorBody),
        (status = 504, description = "Binance timed out", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    let key = state.keywarden.create_api_key(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[utoipa::path(get, path = "/api/v1/api-keys/me", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<ApiKeyView>, ApiError> {
    Ok(Json(state.keywarden.get_api_key(&caller).await?))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/me", tag = "api-keys", security(("bearer" = [])),
    responses((status = 204, description = "deleted with every bot config using it"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.keywarden.delete_api_key(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/api-keys/balance", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = BalanceView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn balance(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<BalanceView>, ApiError> {
    Ok(Json(state.keywarden.balance(&caller).await?))
}

#[utoipa::path(post, path = "/api/v1/api-keys/me/validate", tag = "api-keys", security(("bearer" = [])),
    responses(
        (status = 200, description = "checked now; `is_valid` false if Binance refuses the key", body = ApiKeyView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn validate(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<ApiKeyView>, ApiError> {
    Ok(Json(state.keywarden.validate_api_key(&caller).await?))
}

#[utoipa::path(put, path = "/api/v1/api-keys/me", tag = "api-keys", security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 200, description = "the new pair, checked with Binance; same id, same bot configs", body = ApiKeyView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn replace(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<NewApiKey>,
) -> Result<Json<ApiKeyView>, ApiError> {
    Ok(Json(state.keywarden.replace_api_key(&caller, body).await?))
}

#[utoipa::path(patch, path = "/api/v1/api-keys/me", tag = "api-keys", security(("bearer" = [])),
    request_body = KeyLabel,
    responses((status = 200, body = ApiKeyView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<KeyLabel>,
) -> Result<Json<ApiKeyView>, ApiError> {
    Ok(Json(state.keywarden.rename_api_key(&caller, body).await?))
}
