use app::model::{AuditPage, AuditQuery, ErrorBody};
use axum::Json;
use axum::extract::State;

use super::{ApiError, Authenticated, QueryParams};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "the caller's own events, newest first", body = AuditPage),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, description = "limit outside 1-200 or a bad cursor", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(state.keywarden.audit_events(&caller, query).await?))
}
