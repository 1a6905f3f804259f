use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, Json, PatchJson, PutJson};

use super::JsonOrForm;
use crate::model::{ApiKeyView, BalanceView, Environment, ErrorBody};

#[server(prefix = "/api/v1/ui", endpoint = "api-keys/me", input = GetUrl, output = Json)]
pub async fn get_api_key() -> Result<ApiKeyView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.get_api_key(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "api-keys", input = JsonOrForm, output = Json)]
pub async fn create_api_key(
    api_key: String,
    secret_key: String,
    label: Option<String>,
    environment: Option<Environment>,
) -> Result<ApiKeyView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    let input = key_pair(api_key, secret_key, label, environment);
    let key = keywarden
        .create_api_key(&caller, input)
        .await
        .map_err(fail)?;
    set_status(axum::http::StatusCode::CREATED);
    Ok(key)
}

/// A POST, not a DELETE, so that the page's plain form can send it too.
#[server(prefix = "/api/v1/ui", endpoint = "api-keys/me/delete", input = JsonOrForm, output = Json)]
pub async fn delete_api_key() -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.delete_api_key(&caller).await.map_err(fail)?;
    form_post_lands_on("/?deleted");
    Ok(())
}

#[server(prefix = "/api/v1/ui", endpoint = "api-keys/me/validate", input = JsonOrForm, output = Json)]
pub async fn validate_api_key() -> Result<ApiKeyView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.validate_api_key(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "api-keys/balance", input = GetUrl, output = Json)]
pub async fn get_balance() -> Result<BalanceView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.balance(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "api-keys/me", input = PutJson, output = Json)]
pub async fn replace_api_key(
    api_key: String,
    secret_key: String,
    label: Option<String>,
    environment: Option<Environment>,
) -> Result<ApiKeyView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    let input = key_pair(api_key, secret_key, label, environment);
    keywarden
        .replace_api_key(&caller, input)
        .await
        .map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "api-keys/me", input = PatchJson, output = Json)]
pub async fn rename_api_key(label: Option<String>) -> Result<ApiKeyView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    let input = crate::model::KeyLabel { label };
    keywarden.rename_api_key(&caller, input).await.map_err(fail)
}
