mod account;
mod activity;
mod api_keys;
mod login;
mod register;

pub use account::AccountPage;
pub use activity::ActivityPage;
pub use api_keys::ApiKeysPage;
pub use login::LoginPage;
pub use register::RegisterPage;

use leptos::prelude::*;

use crate::model::ErrorBody;

/// How precisely `utc` writes a time.
#[derive(Clone, Copy)]
pub enum Precision {
    Day,
    Minute,
    Second,
}

/// `2026-11-25`, `2026-11-25 14:05` or `2026-11-25 14:05:09`, in UTC. Written out by hand
/// because chrono's strftime formatting would weigh on the WASM bundle for three patterns.
pub fn utc(at: &chrono::DateTime<chrono::Utc>, precision: Precision) -> String {
    use chrono::{Datelike, Timelike};
    let day = format!("{:04}-{:02}-{:02}", at.year(), at.month(), at.day());
    match precision {
        Precision::Day => day,
        Precision::Minute => format!("{day} {:02}:{:02}", at.hour(), at.minute()),
        Precision::Second => format!(
            "{day} {:02}:{:02}:{:02}",
            at.hour(),
            at.minute(),
            at.second()
        ),
    }
}

/// The message of a failed server call, shown to the person in an alert.
#[component]
pub fn ErrorAlert(error: ErrorBody) -> impl IntoView {
    view! {
        <div class="alert error" role="alert">
            <p class="detail">{error.detail}</p>
            {error.hint.map(|hint| view! { <p class="hint">{hint}</p> })}
        </div>
    }
}

/// What a page shows when its data failed to load: a signed-out visitor goes to sign in,
/// anything else is shown.
pub fn load_error(error: ErrorBody) -> AnyView {
    if error.code == "not_authenticated" {
        view! { <leptos_router::components::Redirect path="/login"/> }.into_any()
    } else {
        view! { <ErrorAlert error/> }.into_any()
    }
}

/// The current value of an input element.
pub fn input_value(node: NodeRef<leptos::html::Input>) -> String {
    node.get().map(|input| input.value()).unwrap_or_default()
}

/// Email and password fields with a submit button; hands the two values to `on_submit`.
/// The form posts nowhere useful before hydration, so credentials never land in a URL.
#[component]
pub fn CredentialsForm(
    submit_label: &'static str,
    /// A new password: say its limits and let the browser offer to generate one.
    new_password: bool,
    #[prop(into)] pending: Signal<bool>,
    on_submit: Callback<(String, String)>,
) -> impl IntoView {
    let email = NodeRef::new();
    let password = NodeRef::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        on_submit.run((input_value(email), input_value(password)));
    };
    let (password_label, autocomplete) = if new_password {
        ("Password (8 to 128 characters)", "new-password")
    } else {
        ("Password", "current-password")
    };
    view! {
        <form method="post" on:submit=submit>
            <label>"Email" <input type="email" name="email" node_ref=email autocomplete="email" required/></label>
            <label>
                {password_label}
                <input
                    type="password"
                    name="password"
                    node_ref=password
                    autocomplete=autocomplete
                    minlength=if new_password { "8" } else { "1" }
                    maxlength="128"
                    required
                />
            </label>
            <button type="submit" disabled=move || pending.get()>{submit_label}</button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::{Precision, utc};

    #[test]
    fn times_are_zero_padded_in_utc() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-05T05:04:09.5+02:00")
            .unwrap()
            .to_utc();
        assert_eq!(utc(&at, Precision::Day), "2026-01-05");
        assert_eq!(utc(&at, Precision::Minute), "2026-01-05 03:04");
        assert_eq!(utc(&at, Precision::Second), "2026-01-05 03:04:09");
    }
}
