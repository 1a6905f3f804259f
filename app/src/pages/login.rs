use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use super::{CredentialsForm, ErrorAlert, landed_after, plain_post_error};
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
    let posted_error = plain_post_error(&[Login::PATH]);
    let error = move || match login.value().get() {
        Some(result) => result.err(),
        None => posted_error.clone(),
    };
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            {landed_after("registered").then(|| view! {
                <p class="alert success" role="status">"Account created. Sign in with it."</p>
            })}
            <CredentialsForm
                action=Login::PATH
                submit_label="Sign in"
                new_password=false
                pending=login.pending()
                on_submit=submit
            />
            {move || error().map(|error| view! { <ErrorAlert error/> })}
            <p>"No account yet? " <A href="/register">"Register"</A></p>
        </section>
    }
}
