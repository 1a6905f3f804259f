use leptos::prelude::*;
use leptos_router::components::A;

use super::{ErrorAlert, input_value};
use crate::api::Register;

#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let email = NodeRef::new();
    let password = NodeRef::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        register.dispatch(Register {
            email: input_value(email),
            password: input_value(password),
        });
    };
    view! {
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <form method="post" on:submit=submit>
                <label>"Email" <input type="email" name="email" node_ref=email required/></label>
                <label>
                    "Password (8 to 128 characters)"
                    <input type="password" name="password" node_ref=password minlength="8" maxlength="128" required/>
                </label>
                <button type="submit" disabled=move || register.pending().get()>"Register"</button>
            </form>
            {move || {
                register
                    .value()
                    .get()
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
