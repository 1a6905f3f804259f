use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use super::{ErrorAlert, input_value};
use crate::api::Login;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let email = NodeRef::new();
    let password = NodeRef::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = login.value().get() {
            navigate("/", Default::default());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        login.dispatch(Login {
            email: input_value(email),
            password: input_value(password),
        });
    };
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <form method="post" on:submit=submit>
                <label>"Email" <input type="email" name="email" node_ref=email required/></label>
                <label>
                    "Password"
                    <input type="password" name="password" node_ref=password required/>
                </label>
                <button type="submit" disabled=move || login.pending().get()>"Sign in"</button>
            </form>
            {move || login.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error/> })}
            <p>"No account yet? " <A href="/register">"Register"</A></p>
        </section>
    }
}
