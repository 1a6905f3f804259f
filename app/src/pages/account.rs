use leptos::prelude::*;

use super::alerts::AlertsSection;
use super::second_factor::SecondFactorSection;
use super::{ErrorAlert, Time, go_after_success, input_value, load_error};
use crate::api::{ChangePassword, LogoutEverywhere, RevokeSession, current_user, list_sessions};
use crate::model::{SessionKind, SessionView};

/// The route to `AccountPage`, whose code is fetched when the page is first shown.
#[derive(Debug)]
pub struct AccountRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for AccountRoute {
    fn data() -> Self {
        AccountRoute
    }

    fn view(_route: Self) -> AnyView {
        view! { <AccountPage/> <crate::Hydrated/> }.into_any()
    }
}

/// The account: its sessions (each can be ended), sign-out everywhere, and the password.
#[component]
fn AccountPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let change = ServerAction::<ChangePassword>::new();
    let everywhere = ServerAction::<LogoutEverywhere>::new();
    let user = Resource::new(|| (), |_| current_user());
    let sessions = Resource::new(
        move || (revoke.version().get(), change.version().get()),
        |_| list_sessions(),
    );
    go_after_success(everywhere, "/login");

    view! {
        <section class="card">
            <h1>"Your account"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(user) => view! {
                            <p>"Signed in as " <strong data-testid="account-email">{user.email}</strong></p>
                        }.into_any(),
                        Err(error) => load_error(error),
                    }
                })}
            </Transition>

            <h2>"Sessions"</h2>
            <p class="note">"Every place your account is signed in. End any you do not recognise."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => view! { <SessionTable list revoke/> }.into_any(),
                        Err(error) => view! { <ErrorAlert error/> }.into_any(),
                    }
                })}
            </Transition>
            <button
                class="danger"
                on:click=move |_| { everywhere.dispatch(LogoutEverywhere {}); }
                disabled=move || everywhere.pending().get()
            >
                "Sign out everywhere"
            </button>
            {move || everywhere.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error/> })}

            <SecondFactorSection/>

            <AlertsSection/>

            <h2>"Change password"</h2>
            <PasswordForm change/>
        </section>
    }
}

#[component]
fn SessionTable(list: Vec<SessionView>, revoke: ServerAction<RevokeSession>) -> impl IntoView {
    view! {
        <table data-testid="sessions">
            <thead>
                <tr><th>"Where"</th><th>"Signed in"</th><th>"Last seen"</th><th></th></tr>
            </thead>
            <tbody>
                {list.into_iter().map(|session| {
                    let id = session.id.clone();
                    let kind = match session.kind {
                        SessionKind::Browser => "Browser",
                        SessionKind::Api => "API client",
                    };
                    let from = [session.ip.clone(), session.client.clone().or(session.user_agent.clone())]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · ");
                    view! {
                        <tr>
                            <td>{kind}<br/><span class="note">{from}</span></td>
                            <td><Time at=session.created_at/></td>
                            <td><Time at=session.last_seen_at/></td>
                            <td>
                                {if session.current {
                                    view! { <span data-testid="current-session">"This session"</span> }.into_any()
                                } else {
                                    view! {
                                        <button class="link" on:click=move |_| { revoke.dispatch(RevokeSession { id: id.clone() }); }>
                                            "End"
                                        </button>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn PasswordForm(change: ServerAction<ChangePassword>) -> impl IntoView {
    let current = NodeRef::new();
    let new = NodeRef::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        change.dispatch(ChangePassword {
            current_password: input_value(current),
            new_password: input_value(new),
        });
    };
    view! {
        <form method="post" on:submit=submit>
            <label>"Current password"
                <input type="password" node_ref=current autocomplete="current-password" required/>
            </label>
            <label>"New password (8 to 128 characters)"
                <input type="password" node_ref=new autocomplete="new-password" minlength="8" maxlength="128" required/>
            </label>
            <button type="submit" disabled=move || change.pending().get()>"Change password"</button>
        </form>
        {move || change.value().get().map(|result| match result {
            Ok(()) => view! {
                <p class="alert success" role="status">"Password changed. Your other sessions have ended."</p>
            }.into_any(),
            Err(error) => view! { <ErrorAlert error/> }.into_any(),
        })}
    }
}
