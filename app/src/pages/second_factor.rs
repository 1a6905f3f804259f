//! The Account page's second factor: set up with a QR code, confirm with a first code, keep
//! the recovery codes, turn off.

use leptos::prelude::*;

use super::{CopyButton, ErrorAlert, Time, input_value};
use crate::api::{DisableTwoFactor, EnableTwoFactor, SetUpTwoFactor, second_factor};
use crate::model::TwoFactorStatus;

#[component]
pub fn SecondFactorSection() -> impl IntoView {
    let set_up = ServerAction::<SetUpTwoFactor>::new();
    let enable = ServerAction::<EnableTwoFactor>::new();
    let disable = ServerAction::<DisableTwoFactor>::new();
    let status = Resource::new(
        move || (enable.version().get(), disable.version().get()),
        |_| second_factor(),
    );
    view! {
        <h2 id="second-factor">"Second factor"</h2>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(status) => view! { <SecondFactorState status set_up enable disable/> }.into_any(),
                    Err(error) => view! { <ErrorAlert error/> }.into_any(),
                }
            })}
        </Transition>
        <div aria-live="polite">
            {move || enable.value().get().map(|result| match result {
                Ok(codes) => view! { <RecoveryCodeList codes=codes.recovery_codes/> }.into_any(),
                Err(error) => view! { <ErrorAlert error/> }.into_any(),
            })}
            {move || disable.value().get().map(|result| match result {
                Ok(()) => view! {
                    <p class="alert success" role="status">"Second factor turned off."</p>
                }.into_any(),
                Err(error) => view! { <ErrorAlert error/> }.into_any(),
            })}
        </div>
    }
}

#[component]
fn SecondFactorState(
    status: TwoFactorStatus,
    set_up: ServerAction<SetUpTwoFactor>,
    enable: ServerAction<EnableTwoFactor>,
    disable: ServerAction<DisableTwoFactor>,
) -> impl IntoView {
    if let (true, Some(since)) = (status.enabled, status.enabled_at) {
        return view! {
            <p data-testid="second-factor-on">
                "On since " <Time at=since/> ". "
                {status.recovery_codes_left} " recovery codes left."
            </p>
            <p class="note">
                "Deleting or replacing your key, issuing a bot token and changing alerts ask for a code."
            </p>
            <button
                class="danger"
                on:click=move |_| { disable.dispatch(DisableTwoFactor {}); }
                disabled=move || disable.pending().get()
            >
                "Turn off the second factor"
            </button>
        }
        .into_any();
    }
    let code = NodeRef::new();
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        enable.dispatch(EnableTwoFactor {
            code: input_value(code),
        });
    };
    view! {
        {status.required.then(|| view! {
            <p class="alert warning" role="status">
                "This server requires a second factor on every account: set it up to go on."
            </p>
        })}
        <p class="note">
            "A code from an authenticator app on your phone, asked for at sign-in and before the changes that matter most."
        </p>
        <button
            on:click=move |_| { set_up.dispatch(SetUpTwoFactor {}); }
            disabled=move || set_up.pending().get()
        >
            "Set up a second factor"
        </button>
        {move || set_up.value().get().map(|result| match result {
            Ok(setup) => view! {
                <div class="two-factor-setup">
                    <p>"Scan this with your authenticator app, or type the key by hand:"</p>
                    <div class="qr" inner_html=setup.qr_svg></div>
                    <p><code data-testid="totp-secret">{setup.secret}</code></p>
                    <form on:submit=confirm>
                        <label>"Then the code the app shows"
                            <input node_ref=code name="code" autocomplete="one-time-code"
                                inputmode="numeric" data-testid="totp-confirm-code" required/>
                        </label>
                        <button type="submit" disabled=move || enable.pending().get()>"Turn on"</button>
                    </form>
                </div>
            }.into_any(),
            Err(error) => view! { <ErrorAlert error/> }.into_any(),
        })}
    }
    .into_any()
}

/// The recovery codes, shown this once.
#[component]
fn RecoveryCodeList(codes: Vec<String>) -> impl IntoView {
    let all = codes.join("\n");
    view! {
        <div class="alert success" role="status">
            <p>"Second factor on. Keep these recovery codes somewhere safe: each signs in once without your phone, and they are not shown again."</p>
            <ul class="recovery-codes" data-testid="recovery-codes">
                {codes.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
            </ul>
            <CopyButton label="Copy the codes" text=all/>
        </div>
    }
}
