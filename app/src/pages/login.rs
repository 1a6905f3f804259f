use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

use super::{CredentialsForm, ErrorAlert, form_error, go_after_success, input_value, landed_after};
use crate::api::{Login, LoginSecondFactor};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let second = ServerAction::<LoginSecondFactor>::new();
    go_after_success(second, "/");
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(step)) = login.value().get()
            && !step.two_factor_required
        {
            navigate("/", Default::default());
        }
    });
    // A plain form post that needs a code lands on `/login?second_factor`.
    let posted_for_code = landed_after("second_factor");
    let asks_for_code = move || {
        posted_for_code
            || login
                .value()
                .get()
                .is_some_and(|result| result.is_ok_and(|step| step.two_factor_required))
    };
    let submit = Callback::new(move |(email, password)| {
        login.dispatch(Login { email, password });
    });
    let error = Signal::derive(form_error(login));
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            {landed_after("registered").then(|| view! {
                <p class="alert success" role="status">"Account created. Sign in with it."</p>
            })}
            <Show
                when=asks_for_code
                fallback=move || view! {
                    <CredentialsForm
                        action=Login::PATH
                        submit_label="Sign in"
                        new_password=false
                        pending=login.pending()
                        on_submit=submit
                    />
                    {move || error.get().map(|error| view! { <ErrorAlert error/> })}
                }
            >
                <CodeForm second/>
            </Show>
            <p>"No account yet? " <A href="/register">"Register"</A></p>
        </section>
    }
}

/// The sign-in's second step: a code from the authenticator app, or a recovery code.
#[component]
fn CodeForm(second: ServerAction<LoginSecondFactor>) -> impl IntoView {
    let code = NodeRef::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        second.dispatch(LoginSecondFactor {
            code: input_value(code),
        });
    };
    let error = form_error(second);
    view! {
        <form method="post" action=LoginSecondFactor::PATH on:submit=submit>
            <label>"Code from your authenticator app"
                <input node_ref=code name="code" autocomplete="one-time-code" inputmode="numeric"
                    data-testid="sign-in-code" required autofocus/>
            </label>
            <p class="note">"Lost your phone? Type one of your recovery codes instead."</p>
            <button type="submit" disabled=move || second.pending().get()>"Confirm"</button>
        </form>
        <div aria-live="polite">{move || error().map(|error| view! { <ErrorAlert error/> })}</div>
    }
}
