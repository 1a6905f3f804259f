//! An alert as an email: a subject that says what happened, and a body that says what to do.

use serde_json::Value;

use crate::store::ClaimedDelivery;

/// The subject and plain-text body of `delivery`'s alert.
pub(super) fn message(delivery: &ClaimedDelivery, public_url: &str) -> (String, String) {
    let data: Value = serde_json::from_str(&delivery.data).unwrap_or(Value::Null);
    let text = |name: &str| data[name].as_str().unwrap_or("?").to_owned();
    let (subject, what) = match delivery.kind.as_str() {
        "key.invalid" => (
            "Binance refuses your API key".to_owned(),
            format!(
                "Binance refused your key {} at its last check ({}). Bots using it cannot \
                 trade until you replace it.",
                text("api_key_masked"),
                text("error_code")
            ),
        ),
        "key.trading_expiring" => (
            format!(
                "Binance removes trading from your API key within {} day(s)",
                data["within_days"]
            ),
            format!(
                "Binance takes spot trading away from your key {} on {}, because it has no IP \
                 restriction. Restrict it to Keywarden's addresses in Binance's API management \
                 to keep trading.",
                text("api_key_masked"),
                text("trading_expires_at")
            ),
        ),
        "key.funds_permission" => (
            "Your API key can move funds: your bots are paused".to_owned(),
            format!(
                "Your key {} can now move funds out of your account ({}). Every bot was paused \
                 at once. Switch that permission off in Binance's API management, check the \
                 key again, then resume your bots.",
                text("api_key_masked"),
                data["permissions"]
            ),
        ),
        "bot.refusals" => (
            format!("Bot {} keeps being refused", text("bot_name")),
            format!(
                "Keywarden refused {} requests of the bot {} ({}) within the last hour: its \
                 policy does not allow what it tries to do.",
                data["refusals"],
                text("bot_name"),
                text("symbol")
            ),
        ),
        "bots.paused" => (
            "Every bot was paused".to_owned(),
            format!(
                "Every bot of your account was paused from {}. They trade again once you \
                 resume them.",
                text("ip")
            ),
        ),
        "login.new_address" => (
            "New sign-in to Keywarden".to_owned(),
            format!(
                "Your account was signed in from {} ({}), an address it had not used before. \
                 If this was not you, change your password and sign out everywhere.",
                text("ip"),
                text("client")
            ),
        ),
        "login.blocked" => (
            "Failed sign-ins to Keywarden were stopped".to_owned(),
            format!(
                "Sign-ins to your account failed {} times from {} ({}), an address you have \
                 not signed in from, and it is stopped for {} seconds. Your own sign-ins from \
                 your usual addresses still work. If this keeps happening, choose a longer \
                 password and turn on a second factor.",
                data["failures"],
                text("ip"),
                text("client"),
                data["blocked_for_seconds"]
            ),
        ),
        "password.changed" => (
            "Your Keywarden password was changed".to_owned(),
            format!(
                "Your password was changed from {}. If this was not you, contact the operator \
                 at once.",
                text("ip")
            ),
        ),
        "webhook.failing" => (
            "A webhook has been failing".to_owned(),
            format!(
                "Keywarden gave up delivering an alert to your webhook {} after retrying it \
                 for {}; later alerts are still tried. Check the receiver and its delivery log.",
                text("url"),
                text("retried_for")
            ),
        ),
        other => (format!("Keywarden alert: {other}"), String::new()),
    };
    let body = format!(
        "{what}\n\n{public_url}\n\nEvent {} ({}) at {}.\n",
        delivery.public_id,
        delivery.kind,
        delivery.alert_created_at.to_rfc3339()
    );
    (format!("Keywarden: {subject}"), body)
}
