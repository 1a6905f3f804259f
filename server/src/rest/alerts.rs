use app::model::{
    EmailAlerts, EmailAlertsChange, ErrorBody, NewWebhook, WebhookCreated, WebhookDeliveryView,
    WebhookTestQueued, WebhookView,
};
use app::service::ServiceError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, Authenticated, JsonBody, path_id};
use crate::AppState;

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = NewWebhook,
    responses((status = 201, description = "added; the signing secret is shown this once", body = WebhookCreated),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the account has 5 webhooks already (webhook_limit)", body = ErrorBody),
        (status = 422, description = "a malformed URL or event type (validation_error), or a URL that aims at a loopback, private, link-local or metadata address (webhook_url_refused)", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let webhook = state.keywarden.create_webhook(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(webhook)))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    Ok(Json(state.keywarden.webhooks(&caller).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the webhook's id")),
    responses((status = 204, description = "deleted, with its queued deliveries"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such webhook of yours", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(webhook): Path<String>,
) -> Result<StatusCode, ApiError> {
    let webhook = path_id(&webhook, ServiceError::WebhookNotFound)?;
    state.keywarden.delete_webhook(&caller, webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the webhook's id")),
    responses((status = 202, description = "a webhook.test alert is queued for this webhook alone", body = WebhookTestQueued),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such webhook of yours", body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(webhook): Path<String>,
) -> Result<(StatusCode, Json<WebhookTestQueued>), ApiError> {
    let webhook = path_id(&webhook, ServiceError::WebhookNotFound)?;
    let event_id = state.keywarden.test_webhook(&caller, webhook).await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookTestQueued { event_id })))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the webhook's id")),
    responses((status = 200, description = "every try of the last 100, newest first", body = Vec<WebhookDeliveryView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such webhook of yours", body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(webhook): Path<String>,
) -> Result<Json<Vec<WebhookDeliveryView>>, ApiError> {
    let webhook = path_id(&webhook, ServiceError::WebhookNotFound)?;
    Ok(Json(
        state.keywarden.webhook_deliveries(&caller, webhook).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/alerts/email", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "whether alerts also go to the account's email", body = EmailAlerts),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn email(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<EmailAlerts>, ApiError> {
    Ok(Json(state.keywarden.email_alerts(&caller, None).await?))
}

#[utoipa::path(put, path = "/api/v1/alerts/email", tag = "webhooks", security(("bearer" = [])),
    request_body = EmailAlertsChange,
    responses((status = 200, description = "turned on or off", body = EmailAlerts),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_email(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(change): JsonBody<EmailAlertsChange>,
) -> Result<Json<EmailAlerts>, ApiError> {
    Ok(Json(
        state.keywarden.email_alerts(&caller, Some(change)).await?,
    ))
}
