//! The Account page's alert doors: webhooks, their delivery logs, and email alerts.

use leptos::prelude::*;
use leptos::server_fn::codec::{DeleteUrl, GetUrl, Json, PutJson};

use crate::model::{
    EmailAlerts, EmailAlertsChange, ErrorBody, NewWebhook, WebhookCreated, WebhookDeliveryView,
    WebhookTestQueued, WebhookView,
};

#[server(prefix = "/api/v1/ui", endpoint = "webhooks", input = GetUrl, output = Json)]
pub async fn list_webhooks() -> Result<Vec<WebhookView>, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.webhooks(&caller).await.map_err(fail)
}

/// Adds a webhook; the answer is the only time its signing secret is shown.
#[server(prefix = "/api/v1/ui", endpoint = "webhooks/create", input = Json, output = Json)]
pub async fn create_webhook(webhook: NewWebhook) -> Result<WebhookCreated, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    let created = keywarden
        .create_webhook(&caller, webhook)
        .await
        .map_err(fail)?;
    set_status(axum::http::StatusCode::CREATED);
    Ok(created)
}

#[server(prefix = "/api/v1/ui", endpoint = "webhooks/delete", input = DeleteUrl, output = Json)]
pub async fn delete_webhook(id: i64) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.delete_webhook(&caller, id).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "webhooks/test", input = Json, output = Json)]
pub async fn test_webhook(id: i64) -> Result<WebhookTestQueued, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    let event_id = keywarden.test_webhook(&caller, id).await.map_err(fail)?;
    set_status(axum::http::StatusCode::ACCEPTED);
    Ok(WebhookTestQueued { event_id })
}

#[server(prefix = "/api/v1/ui", endpoint = "webhooks/deliveries", input = GetUrl, output = Json)]
pub async fn webhook_deliveries(id: i64) -> Result<Vec<WebhookDeliveryView>, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden
        .webhook_deliveries(&caller, id)
        .await
        .map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "alerts/email", input = GetUrl, output = Json)]
pub async fn get_email_alerts() -> Result<EmailAlerts, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.email_alerts(&caller, None).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "alerts/email/set", input = PutJson, output = Json)]
pub async fn set_email_alerts(change: EmailAlertsChange) -> Result<EmailAlerts, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden
        .email_alerts(&caller, Some(change))
        .await
        .map_err(fail)
}
