use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, Json};

use crate::model::{AuditPage, ErrorBody};

/// The caller's audit trail, newest first; `before` is the previous page's `next_before`;
/// `bot` keeps one bot config's events.
#[server(prefix = "/api/v1/ui", endpoint = "audit", input = GetUrl, output = Json)]
pub async fn audit_events(
    limit: Option<u32>,
    before: Option<i64>,
    bot: Option<i64>,
) -> Result<AuditPage, ErrorBody> {
    use super::adapter::*;
    let (keywarden, caller) = caller().await?;
    keywarden
        .audit_events(&caller, crate::model::AuditQuery { limit, before, bot })
        .await
        .map_err(fail)
}
