use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use super::{CredentialsForm, ErrorAlert};
use crate::api::Login;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = login.value().get() {
            navigate("/", Default::default());
        }
    });
    let submit = Callback::new(move |(email, password)| {
        login.dispatch(Login { email, password });
    });
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <CredentialsForm
                submit_label="Sign in"
                new_password=false
                pending=login.pending()
                on_submit=submit
            />
            {move || login.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error/> })}
            <p>"No account yet? " <A href="/register">"Register"</A></p>
        </section>
    }
}
