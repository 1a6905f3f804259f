mod api_keys;
mod login;
mod register;

pub use api_keys::ApiKeysPage;
pub use login::LoginPage;
pub use register::RegisterPage;

use leptos::prelude::*;

use crate::model::ErrorBody;

/// The message of a failed server call, shown to the person in an alert.
#[component]
pub fn ErrorAlert(error: ErrorBody) -> impl IntoView {
    view! { <p class="alert error" role="alert">{error.detail}</p> }
}

/// The current value of an input element.
pub fn input_value(node: NodeRef<leptos::html::Input>) -> String {
    node.get().map(|input| input.value()).unwrap_or_default()
}
