//! The Bots page's doors: bot configs, their tokens, and the account's emergency stop.

use leptos::prelude::*;
use leptos::server_fn::codec::{DeleteUrl, GetUrl, Json, PatchJson};

use crate::model::{
    BotConfigChange, BotConfigView, BotTokenView, BotsPauseView, ErrorBody, IssuedBotToken,
    NewBotConfig, NewBotToken,
};

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs", input = GetUrl, output = Json)]
pub async fn list_bot_configs() -> Result<Vec<BotConfigView>, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.list_bot_configs(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/create", input = Json, output = Json)]
pub async fn create_bot_config(config: NewBotConfig) -> Result<BotConfigView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    let view = keywarden
        .create_bot_config(&caller, config)
        .await
        .map_err(fail)?;
    set_status(axum::http::StatusCode::CREATED);
    Ok(view)
}

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/update", input = PatchJson, output = Json)]
pub async fn update_bot_config(
    id: i64,
    change: BotConfigChange,
) -> Result<BotConfigView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden
        .update_bot_config(&caller, id, change)
        .await
        .map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/delete", input = DeleteUrl, output = Json)]
pub async fn delete_bot_config(id: i64) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.delete_bot_config(&caller, id).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/tokens", input = GetUrl, output = Json)]
pub async fn list_bot_tokens(bot: i64) -> Result<Vec<BotTokenView>, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.list_bot_tokens(&caller, bot).await.map_err(fail)
}

/// Issues a token; the answer is the only time its secret is shown.
#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/tokens/create", input = Json, output = Json)]
pub async fn create_bot_token(bot: i64, token: NewBotToken) -> Result<IssuedBotToken, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    let token = keywarden
        .create_bot_token(&caller, bot, token)
        .await
        .map_err(fail)?;
    set_status(axum::http::StatusCode::CREATED);
    Ok(IssuedBotToken {
        token,
        gateway_url: keywarden.gateway_url(),
    })
}

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/tokens/revoke", input = DeleteUrl, output = Json)]
pub async fn revoke_bot_token(bot: i64, token: i64) -> Result<(), ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden
        .revoke_bot_token(&caller, bot, token)
        .await
        .map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/pause-all", input = Json, output = Json)]
pub async fn pause_all_bots() -> Result<BotsPauseView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.pause_all_bots(&caller).await.map_err(fail)
}

#[server(prefix = "/api/v1/ui", endpoint = "bot-configs/resume-all", input = Json, output = Json)]
pub async fn resume_all_bots() -> Result<BotsPauseView, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden.resume_all_bots(&caller).await.map_err(fail)
}
