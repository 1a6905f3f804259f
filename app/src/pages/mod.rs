mod account;
mod activity;
mod alerts;
mod api_keys;
mod bots;
mod login;
mod register;
mod second_factor;

pub use account::AccountRoute;
pub use activity::ActivityRoute;
pub use api_keys::{ApiKeysPage, DeleteKeyPage, KeyActions, KeyHealthBanner};
pub use bots::{BotActions, BotsRoute, EmergencyStop};
pub use login::LoginPage;
pub use register::RegisterPage;

use leptos::prelude::*;

use crate::model::ErrorBody;

/// How precisely `utc` writes a time.
#[derive(Clone, Copy)]
pub enum Precision {
    Day,
    Second,
}

/// `2026-11-25` or `2026-11-25 14:05:09`, in UTC. Written out by hand
/// because chrono's strftime formatting would weigh on the WASM bundle for two patterns.
pub fn utc(at: &chrono::DateTime<chrono::Utc>, precision: Precision) -> String {
    use chrono::{Datelike, Timelike};
    let day = format!("{:04}-{:02}-{:02}", at.year(), at.month(), at.day());
    match precision {
        Precision::Day => day,
        Precision::Second => format!(
            "{day} {:02}:{:02}:{:02}",
            at.hour(),
            at.minute(),
            at.second()
        ),
    }
}

/// "just now", "3 minutes ago", "2 days ago"; "in 5 days" for a time ahead.
pub fn relative(at: &chrono::DateTime<chrono::Utc>, now: &chrono::DateTime<chrono::Utc>) -> String {
    let seconds = (*now - *at).num_seconds();
    let (ahead, seconds) = (seconds < 0, seconds.unsigned_abs());
    if seconds < 45 {
        return "just now".into();
    }
    let (count, unit) = match seconds {
        s if s < 3_600 => ((s + 30) / 60, "minute"),
        s if s < 86_400 => ((s + 1_800) / 3_600, "hour"),
        s if s < 86_400 * 60 => ((s + 43_200) / 86_400, "day"),
        s => ((s + 86_400 * 15) / (86_400 * 30), "month"),
    };
    let count = count.max(1);
    let plural = if count == 1 { "" } else { "s" };
    if ahead {
        format!("in {count} {unit}{plural}")
    } else {
        format!("{count} {unit}{plural} ago")
    }
}

/// A time as people read it ("3 minutes ago"), with the exact time in UTC on hover.
#[component]
pub fn Time(at: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let exact = format!("{} UTC", utc(&at, Precision::Second));
    view! {
        <time datetime=at.to_rfc3339() title=exact>
            {relative(&at, &chrono::Utc::now())}
        </time>
    }
}

/// `Time`, or "never" for a time that has not come (a key never checked, a token never used).
#[component]
pub fn TimeOrNever(at: Option<chrono::DateTime<chrono::Utc>>) -> impl IntoView {
    match at {
        Some(at) => view! { <Time at/> }.into_any(),
        None => "never".into_any(),
    }
}

/// A modal dialog: it takes focus when it opens and keeps it (the rest of the page is inert
/// while it is open), closes on Escape or on any button of a `<form method="dialog">` inside
/// it, and the browser then gives focus back to what had it. `on_close` runs once it closed.
#[component]
pub fn Modal(
    labelled_by: &'static str,
    #[prop(into)] on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get()
            && !dialog.open()
        {
            let _ = dialog.show_modal();
        }
    });
    view! {
        <dialog
            class="dialog"
            node_ref=dialog
            aria-labelledby=labelled_by
            on:close=move |_| on_close.run(())
            on:keydown=move |ev| keep_focus_inside(dialog, &ev)
        >
            {children()}
        </dialog>
    }
}

/// Tab from a modal dialog's last control goes to its first, and Shift+Tab from its first to
/// its last: the page behind is inert, but without this the focus would leave for the
/// browser's own controls.
fn keep_focus_inside(dialog: NodeRef<leptos::html::Dialog>, ev: &leptos::ev::KeyboardEvent) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        if ev.key() != "Tab" {
            return;
        }
        let Some(dialog) = dialog.get() else { return };
        let focusable = "button:not([disabled]), [href], input:not([disabled]), select, \
                         textarea, [tabindex]:not([tabindex='-1'])";
        let Ok(controls) = dialog.query_selector_all(focusable) else {
            return;
        };
        let count = controls.length();
        if count == 0 {
            return;
        }
        let (first, last) = (controls.item(0), controls.item(count - 1));
        let active: Option<leptos::web_sys::Node> = document().active_element().map(Into::into);
        let outside = !active
            .as_ref()
            .is_some_and(|node| dialog.contains(Some(node)));
        let target = match ev.shift_key() {
            true if outside || active == first => last,
            false if outside || active == last => first,
            _ => return,
        };
        if let Some(target) =
            target.and_then(|node| node.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            ev.prevent_default();
            let _ = target.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (dialog, ev);
}

/// The outcome of a page's last action, in words: each action's outcome, once it has one,
/// replaces the one shown, in a region screen readers announce (`Notice::view`).
#[derive(Clone, Copy)]
pub struct Notice(RwSignal<Option<Result<String, ErrorBody>>>);

impl Notice {
    pub fn new() -> Notice {
        Notice(RwSignal::new(None))
    }

    /// A notice that starts with what a plain form post came back with (`plain_post_error`).
    pub fn starting_with(outcome: Option<Result<String, ErrorBody>>) -> Notice {
        Notice(RwSignal::new(outcome))
    }

    /// Shows `outcome`, if the action has one yet.
    pub fn report(self, outcome: Option<Result<String, ErrorBody>>) {
        if outcome.is_some() {
            self.0.set(outcome);
        }
    }

    pub fn view(self) -> impl IntoView {
        view! {
            <div aria-live="polite">
                {move || self.0.get().map(|outcome| match outcome {
                    Ok(message) => view! { <p class="alert success" role="status">{message}</p> }.into_any(),
                    Err(error) => view! { <ErrorAlert error/> }.into_any(),
                })}
            </div>
        }
    }
}

/// The message of a failed server call, shown to the person in an alert.
#[component]
pub fn ErrorAlert(error: ErrorBody) -> impl IntoView {
    let next_step = match error.code.as_str() {
        "step_up_required" => Some(view! { <StepUpForm/> }.into_any()),
        "two_factor_setup_required" => Some(
            view! { <p><a href="/account#second-factor">"Set up a second factor"</a></p> }
                .into_any(),
        ),
        _ => None,
    };
    view! {
        <div class="alert error" role="alert">
            <p class="detail">{error.detail}</p>
            {error.hint.map(|hint| view! { <p class="hint">{hint}</p> })}
            {next_step}
        </div>
    }
}

/// Where a change asked for a recent code: prove one here, then make the change again.
#[component]
fn StepUpForm() -> impl IntoView {
    let step_up = ServerAction::<crate::api::StepUp>::new();
    let code = NodeRef::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        step_up.dispatch(crate::api::StepUp {
            code: input_value(code),
        });
    };
    view! {
        <form class="step-up" on:submit=submit>
            <label>"Code from your authenticator app (or a recovery code)"
                <input node_ref=code name="code" autocomplete="one-time-code" inputmode="numeric"
                    data-testid="step-up-code" required/>
            </label>
            <button type="submit" disabled=move || step_up.pending().get()>"Confirm"</button>
        </form>
        {move || step_up.value().get().map(|result| match result {
            Ok(()) => view! {
                <p class="alert success" role="status">"Confirmed. Now try again."</p>
            }.into_any(),
            Err(error) => view! { <p class="detail">{error.detail}</p> }.into_any(),
        })}
    }
}

/// The error a plain form post (sent before the page's script ran, or with JavaScript off) came
/// back with, if it was sent to one of `paths`: Leptos redirects such a post to the form's page
/// with the server function's path and its error in the query.
pub fn plain_post_error(paths: &[&str]) -> Option<ErrorBody> {
    use leptos::server_fn::error::ServerFnUrlError;
    let query = leptos_router::hooks::use_query_map();
    query.with_untracked(|query| {
        let path = query.get("__path")?;
        let error = query.get("__err")?;
        paths
            .contains(&path.as_str())
            .then(|| ServerFnUrlError::<ErrorBody>::decode_err(&error))
    })
}

/// The error to show for a form's action: the action's own once it ran, otherwise the one a
/// plain form post to the same server function came back with.
pub fn form_error<S>(action: ServerAction<S>) -> impl Fn() -> Option<ErrorBody> + Send + Sync
where
    S: leptos::server_fn::ServerFn<Error = ErrorBody> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let posted = plain_post_error(&[S::PATH]);
    move || match action.value().get() {
        Some(result) => result.err(),
        None => posted.clone(),
    }
}

/// Goes to `path` once `action` succeeded, as a plain form post to it is redirected there.
pub fn go_after_success<S>(action: ServerAction<S>, path: &'static str)
where
    S: leptos::server_fn::ServerFn<Error = ErrorBody> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            navigate(path, Default::default());
        }
    });
}

/// Whether the page was reached with `name` in its query (`/?deleted`): where a plain form
/// post lands once it succeeded.
pub fn landed_after(name: &str) -> bool {
    let query = leptos_router::hooks::use_query_map();
    query.with_untracked(|query| query.get(name).is_some())
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

/// A button that copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(label: &'static str, text: String) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = leptos::prelude::window().navigator().clipboard();
            let _ = clipboard.write_text(&text);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
        set_copied.set(true);
    };
    view! {
        <button type="button" on:click=copy>
            {move || if copied.get() { "Copied" } else { label }}
        </button>
    }
}

/// The current value of an input element.
pub fn input_value(node: NodeRef<leptos::html::Input>) -> String {
    node.get().map(|input| input.value()).unwrap_or_default()
}

/// Email and password fields with a submit button; hands the two values to `on_submit`.
/// Before hydration (or without JavaScript) the browser posts the form to `action`, the same
/// server function, in the body: credentials never land in a URL.
#[component]
pub fn CredentialsForm(
    action: &'static str,
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
        <form method="post" action=action on:submit=submit>
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
    use super::{Precision, relative, utc};

    #[test]
    fn times_read_relative_to_now() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .to_utc();
        let ago = |seconds: i64| relative(&(now - chrono::Duration::seconds(seconds)), &now);
        assert_eq!(ago(10), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(180), "3 minutes ago");
        assert_eq!(ago(3 * 3_600), "3 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(86_400 * 90), "3 months ago");
        assert_eq!(ago(-5 * 86_400), "in 5 days");
    }

    #[test]
    fn times_are_zero_padded_in_utc() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-05T05:04:09.5+02:00")
            .unwrap()
            .to_utc();
        assert_eq!(utc(&at, Precision::Day), "2026-01-05");
        assert_eq!(utc(&at, Precision::Second), "2026-01-05 03:04:09");
    }
}
