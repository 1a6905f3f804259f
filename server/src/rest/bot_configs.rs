use app::model::{
    BotConfigChange, BotConfigView, BotTokenCreated, BotTokenView, BotsPauseView, ErrorBody,
    NewBotConfig, NewBotToken,
};
use app::service::ServiceError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, Authenticated, JsonBody, path_id as id};
use crate::AppState;

#[utoipa::path(post, path = "/api/v1/bot-configs", tag = "bot-configs", security(("bearer" = [])),
    request_body = NewBotConfig,
    responses((status = 201, body = BotConfigView),
        (status = 400, description = "no API key (no_api_key)", body = ErrorBody),
        (status = 409, description = "the account has 100 bot configs (bot_config_limit)", body = ErrorBody),
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

#[utoipa::path(patch, path = "/api/v1/bot-configs/{id}", tag = "bot-configs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the bot config's id")),
    request_body = BotConfigChange,
    responses((status = 200, body = BotConfigView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such config of yours", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(config): Path<String>,
    JsonBody(change): JsonBody<BotConfigChange>,
) -> Result<Json<BotConfigView>, ApiError> {
    let config = id(&config, ServiceError::BotConfigNotFound)?;
    let view = state
        .keywarden
        .update_bot_config(&caller, config, change)
        .await?;
    Ok(Json(view))
}

#[utoipa::path(delete, path = "/api/v1/bot-configs/{id}", tag = "bot-configs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the bot config's id")),
    responses((status = 204, description = "deleted, with its tokens"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such config of yours", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(config): Path<String>,
) -> Result<StatusCode, ApiError> {
    let config = id(&config, ServiceError::BotConfigNotFound)?;
    state.keywarden.delete_bot_config(&caller, config).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/bot-configs/pause-all", tag = "bot-configs", security(("bearer" = [])),
    responses((status = 200, description = "every bot of the account is paused", body = BotsPauseView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn pause_all(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<BotsPauseView>, ApiError> {
    Ok(Json(state.keywarden.pause_all_bots(&caller).await?))
}

#[utoipa::path(post, path = "/api/v1/bot-configs/resume-all", tag = "bot-configs", security(("bearer" = [])),
    responses((status = 200, description = "the account's bots may trade again", body = BotsPauseView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn resume_all(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<BotsPauseView>, ApiError> {
    Ok(Json(state.keywarden.resume_all_bots(&caller).await?))
}

#[utoipa::path(post, path = "/api/v1/bot-configs/{id}/tokens", tag = "bot-configs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the bot config's id")),
    request_body = NewBotToken,
    responses((status = 201, description = "the token, shown this once", body = BotTokenCreated),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such config of yours", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(config): Path<String>,
    JsonBody(body): JsonBody<NewBotToken>,
) -> Result<(StatusCode, Json<BotTokenCreated>), ApiError> {
    let config = id(&config, ServiceError::BotConfigNotFound)?;
    let token = state
        .keywarden
        .create_bot_token(&caller, config, body)
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[utoipa::path(get, path = "/api/v1/bot-configs/{id}/tokens", tag = "bot-configs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the bot config's id")),
    responses((status = 200, body = Vec<BotTokenView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such config of yours", body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(config): Path<String>,
) -> Result<Json<Vec<BotTokenView>>, ApiError> {
    let config = id(&config, ServiceError::BotConfigNotFound)?;
    Ok(Json(
        state.keywarden.list_bot_tokens(&caller, config).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/bot-configs/{id}/tokens/{token_id}", tag = "bot-configs",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "the bot config's id"),
        ("token_id" = i64, Path, description = "the token's id")),
    responses((status = 204, description = "revoked: its next request is refused"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such live token of this config of yours", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((config, token)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let config = id(&config, ServiceError::BotConfigNotFound)?;
    let token = id(&token, ServiceError::BotTokenNotFound)?;
    state
        .keywarden
        .revoke_bot_token(&caller, config, token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
