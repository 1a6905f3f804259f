//! The audit trail: what happened to each account and its key, by whom (IP, user agent), with
//! what outcome. Changes write their event in their own transaction (see `store`); attempts
//! that change nothing (a failed login, a refused key, a balance read) append one here.

use super::{Caller, Keywarden, ServiceError};
use crate::model::{AuditEventView, AuditPage, AuditQuery};
use crate::store::{AuditEventRow, NewAuditEvent};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;
const MAX_USER_AGENT_CHARS: usize = 256;

/// Where a request came from, as the adapter saw it.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        Self {
            ip,
            user_agent: user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        }
    }

    /// The browser and system, in words ("Chrome 156 on Linux").
    pub fn in_words(&self) -> Option<String> {
        self.user_agent
            .as_deref()
            .and_then(super::user_agent::in_words)
    }

    /// Keywarden itself: scheduled checks, the ops CLI.
    pub fn keywarden(task: &str) -> Self {
        Self {
            ip: None,
            user_agent: Some(format!("keywarden {task}")),
        }
    }
}

/// Events younger than this are never deleted (the migration's trigger says the same).
pub const MIN_AUDIT_RETENTION_DAYS: i64 = 90;

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Register,
    Login,
    KeyCreate,
    KeyValidate,
    KeyUse,
    KeyReplace,
    KeyRename,
    KeyDelete,
    KeyRotate,
    BotConfigCreate,
    BotConfigUpdate,
    BotConfigDelete,
    BotTokenCreate,
    BotTokenRevoke,
    BotsPause,
    BotsResume,
    OrderPlace,
    OrderCancel,
    Logout,
    LogoutEverywhere,
    SessionRevoke,
    RefreshReuse,
    PasswordChange,
    Deactivate,
    WebhookCreate,
    WebhookDelete,
    TwoFactorEnable,
    TwoFactorDisable,
    StepUp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Register => "user.register",
            Action::Login => "user.login",
            Action::KeyCreate => "key.create",
            Action::KeyValidate => "key.validate",
            Action::KeyUse => "key.use",
            Action::KeyReplace => "key.replace",
            Action::KeyRename => "key.rename",
            Action::KeyDelete => "key.delete",
            Action::KeyRotate => "key.rotate",
            Action::BotConfigCreate => "bot_config.create",
            Action::BotConfigUpdate => "bot_config.update",
            Action::BotConfigDelete => "bot_config.delete",
            Action::BotTokenCreate => "bot_token.create",
            Action::BotTokenRevoke => "bot_token.revoke",
            Action::BotsPause => "bots.pause",
            Action::BotsResume => "bots.resume",
            Action::OrderPlace => "order.place",
            Action::OrderCancel => "order.cancel",
            Action::Logout => "session.logout",
            Action::LogoutEverywhere => "session.logout_everywhere",
            Action::SessionRevoke => "session.revoke",
            Action::RefreshReuse => "session.refresh_reuse",
            Action::PasswordChange => "user.password_change",
            Action::Deactivate => "user.deactivate",
            Action::WebhookCreate => "webhook.create",
            Action::WebhookDelete => "webhook.delete",
            Action::TwoFactorEnable => "user.two_factor_enable",
            Action::TwoFactorDisable => "user.two_factor_disable",
            Action::StepUp => "session.step_up",
        }
    }
}

impl ServiceError {
    /// Whether the failure is the outcome of a real attempt with the account's credentials or
    /// key (worth an event), rather than bad input or a missing resource.
    fn is_attempt_outcome(&self) -> bool {
        matches!(
            self,
            ServiceError::InvalidCredentials
                | ServiceError::EmailTaken
                | ServiceError::InactiveUser
                | ServiceError::TooManyAttempts { .. }
                | ServiceError::WrongPassword
                | ServiceError::InvalidCode
                | ServiceError::BinanceRejected { .. }
                | ServiceError::MovesFunds { .. }
                | ServiceError::WrongEnvironment { .. }
                | ServiceError::ExchangeUnavailable
                | ServiceError::ExchangeTimeout
                | ServiceError::ExchangeRateLimited { .. }
                | ServiceError::ExchangeBanned { .. }
        )
    }
}

fn audit_event_view(row: AuditEventRow) -> AuditEventView {
    AuditEventView {
        id: row.id,
        action: row.action,
        api_key_id: row.api_key_id,
        bot_config_id: row.bot_config_id,
        outcome: row.outcome,
        detail: row.detail.and_then(|json| serde_json::from_str(&json).ok()),
        error_code: row.error_code,
        ip: row.ip,
        client: row
            .user_agent
            .as_deref()
            .and_then(super::user_agent::in_words),
        user_agent: row.user_agent,
        created_at: row.created_at,
    }
}

impl Keywarden {
    /// A successful `action` by `client`, now.
    pub(super) fn event<'a>(&self, client: &'a ClientInfo, action: Action) -> NewAuditEvent<'a> {
        NewAuditEvent {
            action: action.as_str(),
            outcome: "success",
            error_code: None,
            ip: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
            at: self.now(),
            bot_config_id: None,
            detail: None,
        }
    }

    /// Appends an event that changes nothing else: a success such as a balance read, or the
    /// failure of an attempt. A failure to write it is logged, not passed on: the caller
    /// already has its answer.
    pub(super) async fn record(
        &self,
        client: &ClientInfo,
        user_id: Option<i64>,
        api_key_id: Option<i64>,
        action: Action,
        outcome: Result<(), &ServiceError>,
    ) {
        let mut event = self.event(client, action);
        if let Err(err) = outcome {
            if !err.is_attempt_outcome() {
                return;
            }
            event.outcome = "failure";
            event.error_code = Some(err.code());
        }
        if let Err(err) = self
            .inner
            .store
            .append_audit_event(user_id, api_key_id, &event)
            .await
        {
            tracing::error!(
                action = action.as_str(),
                "cannot write an audit event: {err}"
            );
        }
    }

    /// Records the failure of `caller`'s attempt, if it is one worth recording.
    pub(super) async fn record_failure<T>(
        &self,
        caller: &Caller,
        action: Action,
        result: &Result<T, ServiceError>,
    ) {
        if let Err(err) = result {
            self.record(&caller.client, Some(caller.user_id), None, action, Err(err))
                .await;
        }
    }

    /// Deletes the audit events older than `keep` (the operator's `keywarden prune-audit`); at
    /// least `MIN_AUDIT_RETENTION_DAYS`, which the database enforces too.
    pub async fn prune_audit(&self, keep: chrono::Duration) -> Result<u64, ServiceError> {
        if keep < chrono::Duration::days(MIN_AUDIT_RETENTION_DAYS) {
            return Err(ServiceError::Invalid(format!(
                "the audit trail keeps at least {MIN_AUDIT_RETENTION_DAYS} days"
            )));
        }
        let before = self.now() - keep;
        let pruned = self.inner.store.prune_audit_events(before).await?;
        tracing::info!(pruned, %before, "audit events pruned");
        Ok(pruned)
    }

    /// The caller's own events, newest first; pass the page's `next_before` for the next.
    pub async fn audit_events(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<AuditPage, ServiceError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ServiceError::Invalid(format!(
                "limit: must be 1 to {MAX_PAGE}"
            )));
        }
        if query.before.is_some_and(|before| before < 1) {
            return Err(ServiceError::Invalid(
                "before: must be a positive event id".into(),
            ));
        }
        // An order's outcome is written behind its answer: whoever saw the answer sees it here.
        self.inner.store.writes_behind_settled().await;
        // One more than asked tells whether another page follows.
        let mut rows = self
            .inner
            .store
            .audit_events_of_user(
                caller.user_id,
                query.before,
                query.bot,
                i64::from(limit) + 1,
            )
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_before = more.then(|| rows.last().map(|r| r.id)).flatten();
        Ok(AuditPage {
            events: rows.into_iter().map(audit_event_view).collect(),
            next_before,
        })
    }
}
