use app::model::{BotConfigView, ErrorBody, NewBotConfig};
use app::service::ServiceError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, Authenticated, JsonBody};
use crate::AppState;

#[utoipa::path(post, path = "/api/v1/bot-configs", tag = "bot-configs", security(("bearer" = [])),
    request_body = NewBotConfig,
    responses((status = 201, body = BotConfigView),
        (status = 400, description = "no API key (no_api_key)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<NewBotConfig>,
) -> Result<(StatusCode, Json<BotConfigView>), ApiError> {
    let config = state.keywarden.create_bot_config(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(config)))
}

#[utoipa::path(get, path = "/api/v1/bot-configs", tag = "bot-configs", security(("bearer" = [])),
    responses((status = 200, body = Vec<BotConfigView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<BotConfigView>>, ApiError> {
    Ok(Json(state.keywarden.list_bot_configs(&caller).await?))
}

#[utoipa::path(delete, path = "/api/v1/bot-configs/{id}", tag = "bot-configs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the bot config's id")),
    responses((status = 204, description = "deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such config of yours", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // An id that is not a number (or beyond i64) names no config: the same 404 as any other.
    let id = id.parse().map_err(|_| ServiceError::BotConfigNotFound)?;
    state.keywarden.delete_bot_config(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
