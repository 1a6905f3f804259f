use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

use super::{CredentialsForm, ErrorAlert, plain_post_error};
use crate::api::Register;

#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let submit = Callback::new(move |(email, password)| {
        register.dispatch(Register { email, password });
    });
    let posted_error = plain_post_error(&[Register::PATH]);
    view! {
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <CredentialsForm
                action=Register::PATH
                submit_label="Register"
                new_password=true
                pending=register.pending()
                on_submit=submit
            />
            {move || {
                register
                    .value()
                    .get()
                    .or_else(|| posted_error.clone().map(Err))
                    .map(|result| match result {
                        Ok(user) => {
                            view! {
                                <p class="alert success" role="status">
                                    "Account created for " {user.email} ". "
                                    <A href="/login">"Sign in"</A>
                                </p>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorAlert error/> }.into_any(),
                    })
            }}
            <p>"Already registered? " <A href="/login">"Sign in"</A></p>
        </section>
    }
}
