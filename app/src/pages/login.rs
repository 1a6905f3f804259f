use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

use super::{CredentialsForm, ErrorAlert, form_error, go_after_success, landed_after};
use crate::api::Login;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    go_after_success(login, "/");
    let submit = Callback::new(move |(email, password)| {
        login.dispatch(Login { email, password });
    });
    let error = form_error(login);
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
