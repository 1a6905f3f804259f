use leptos::prelude::*;

use super::{ErrorAlert, Time, load_error};
use crate::api::audit_events;
use crate::model::{AuditEventView, AuditPage};

/// The route to `ActivityPage`, whose code is fetched when the page is first shown.
#[derive(Debug)]
pub struct ActivityRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for ActivityRoute {
    fn data() -> Self {
        ActivityRoute
    }

    fn view(_route: Self) -> AnyView {
        view! { <ActivityPage/> <crate::Hydrated/> }.into_any()
    }
}

/// The account's audit trail, newest first, a page at a time.
#[component]
fn ActivityPage() -> impl IntoView {
    let first = Resource::new(|| (), |_| audit_events(None, None, None));
    view! {
        <section class="card">
            <h1>"Activity"</h1>
            <p class="note">
                "Everything that happened to your account and its key, newest first. \
                 Failed sign-ins with your email appear here too."
            </p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Ok(page) => view! { <EventList page/> }.into_any(),
                        Err(error) => load_error(error),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn EventList(page: AuditPage) -> impl IntoView {
    let events = RwSignal::new(page.events);
    let next_before = RwSignal::new(page.next_before);
    let older = Action::new(|before: &i64| audit_events(None, Some(*before), None));
    Effect::new(move |_| {
        if let Some(Ok(page)) = older.value().get() {
            events.update(|shown| shown.extend(page.events));
            next_before.set(page.next_before);
        }
    });
    view! {
        <table class="activity" data-testid="activity">
            <thead>
                <tr><th>"When"</th><th>"What"</th><th>"Outcome"</th><th>"From"</th></tr>
            </thead>
            <tbody>
                <For each=move || events.get() key=|event| event.id let:event>
                    <EventRow event/>
                </For>
            </tbody>
        </table>
        <Show when=move || events.with(Vec::is_empty)>
            <p>"Nothing yet."</p>
        </Show>
        <Show when=move || next_before.get().is_some()>
            <button
                on:click=move |_| {
                    if let Some(before) = next_before.get() {
                        older.dispatch(before);
                    }
                }
                disabled=move || older.pending().get()
            >
                "Show older"
            </button>
        </Show>
        {move || older.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error/> })}
    }
}

#[component]
fn EventRow(event: AuditEventView) -> impl IntoView {
    let outcome = match (event.outcome.as_str(), event.error_code) {
        ("success", _) => "succeeded".to_owned(),
        ("attempt", _) => "sent to Binance".to_owned(),
        ("unknown", _) => "no answer from Binance in time".to_owned(),
        (_, Some(code)) if event.action.starts_with("order.") => {
            format!("refused: {}", refusal_in_words(&code))
        }
        (_, Some(code)) => format!("failed: {}", code.replace('_', " ")),
        _ => "failed".to_owned(),
    };
    let what = match event.detail.as_ref().and_then(order_summary) {
        Some(order) => format!("{}: {order}", describe(&event.action)),
        None => describe(&event.action),
    };
    let from = match (event.ip, event.client.or(event.user_agent)) {
        (Some(ip), Some(agent)) => format!("{ip} · {agent}"),
        (Some(ip), None) => ip,
        (None, Some(agent)) => agent,
        (None, None) => String::new(),
    };
    view! {
        <tr class=if matches!(event.outcome.as_str(), "success" | "attempt") { "" } else { "failed" }>
            <td><Time at=event.created_at/></td>
            <td>{what}</td>
            <td>{outcome}</td>
            <td class="from">{from}</td>
        </tr>
    }
}

/// An event's action in words.
pub(super) fn describe(action: &str) -> String {
    match action {
        "user.register" => "Account created",
        "user.login" => "Sign-in",
        "key.create" => "API key added",
        "key.validate" => "API key checked with Binance",
        "key.use" => "Balances read with the API key",
        "key.replace" => "API key replaced",
        "key.rename" => "API key renamed",
        "key.delete" => "API key deleted",
        "key.rotate" => "API key re-encrypted (key rotation)",
        "bot_config.create" => "Bot configuration added",
        "bot_config.update" => "Bot configuration changed",
        "bot_config.delete" => "Bot configuration deleted",
        "bot_token.create" => "Bot token issued",
        "bot_token.revoke" => "Bot token revoked",
        "bots.pause" => "Every bot paused",
        "bots.resume" => "Bots resumed",
        "order.place" => "Order",
        "order.cancel" => "Cancel",
        "user.deactivate" => "Account deactivated by the operator",
        "user.password_change" => "Password changed",
        "user.two_factor_enable" => "Second factor turned on",
        "user.two_factor_disable" => "Second factor turned off",
        "session.step_up" => "Confirmed with a second-factor code",
        "session.logout" => "Signed out",
        "session.logout_everywhere" => "Signed out everywhere",
        "session.revoke" => "A session was ended",
        "session.refresh_reuse" => "A used refresh token came back: its session was ended",
        other => other,
    }
    .to_owned()
}

/// A gateway refusal's code, as the bot's owner reads it.
pub(super) fn refusal_in_words(code: &str) -> String {
    match code {
        "token_revoked" => "its token was revoked",
        "token_expired" => "its token has expired",
        "address_not_allowed" => "sent from an address its token does not allow",
        "account_inactive" => "the account is inactive",
        "key_unusable" => "the account's key cannot be used",
        "bot_disabled" => "the bot is disabled",
        "bots_paused" => "every bot was paused",
        "symbol_not_allowed" => "another symbol than the bot's",
        "order_type_not_allowed" => "an order type the bot may not place",
        "order_too_large" => "larger than the bot's largest order",
        "order_size_unknown" => "its size could not be told",
        "duplicate_parameter" => "a parameter was sent twice",
        "order_rate_limited" => "more orders a minute than the bot may place",
        "exchange_busy" => "the account was at Binance's order limit",
        "exchange_unavailable" => "Binance could not be reached",
        "binance_rejected" => "by Binance",
        "internal_error" => "Keywarden could not record it",
        other => return other.replace('_', " "),
    }
    .to_owned()
}

/// One field of an order event's detail as text: a string as it is, a number written out.
pub(super) fn detail_field(detail: &serde_json::Value, name: &str) -> Option<String> {
    match &detail[name] {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// "bot grid: BUY LIMIT 0.001 BTCUSDT at 60000, order 42", from an order event's detail.
fn order_summary(detail: &serde_json::Value) -> Option<String> {
    let field = |name: &str| detail_field(detail, name);
    let mut words = vec![format!("bot {}", field("bot")?)];
    for name in ["side", "type", "quantity", "symbol"] {
        words.extend(field(name));
    }
    let mut summary = words.join(" ");
    if let Some(price) = field("price") {
        summary.push_str(&format!(" at {price}"));
    }
    if let Some(order) = field("order_id") {
        summary.push_str(&format!(", order {order}"));
    }
    if let Some(code) = field("binance_code") {
        summary.push_str(&format!(", Binance code {code}"));
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_events_read_as_a_sentence() {
        let detail = serde_json::json!({"bot": "grid", "symbol": "BTCUSDT", "side": "BUY",
            "type": "LIMIT", "quantity": "0.001", "price": "60000", "order_id": 42});
        assert_eq!(
            order_summary(&detail).unwrap(),
            "bot grid BUY LIMIT 0.001 BTCUSDT at 60000, order 42"
        );
        let refused = serde_json::json!({"bot": "dca", "symbol": "BTCUSDT", "binance_code": -1013});
        assert_eq!(
            order_summary(&refused).unwrap(),
            "bot dca BTCUSDT, Binance code -1013"
        );
        assert_eq!(order_summary(&serde_json::json!({})), None);
    }

    #[test]
    fn refusals_read_alike_on_every_page() {
        assert_eq!(
            refusal_in_words("order_too_large"),
            "larger than the bot's largest order"
        );
        assert_eq!(refusal_in_words("binance_rejected"), "by Binance");
        assert_eq!(refusal_in_words("some_new_code"), "some new code");
    }
}
