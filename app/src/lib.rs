//! Keywarden's shared crate: the pages and server functions (compiled to WASM and to native),
//! and, behind the `ssr` feature, the service layer and everything it needs on the server.

// The Bots page's views nest deeper than the compiler's default limit allows for in WASM.
#![recursion_limit = "256"]

pub mod api;
pub mod model;
mod pages;

#[cfg(feature = "ssr")]
pub mod email_sender;
#[cfg(feature = "ssr")]
pub mod exchange;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod network;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod vault;
#[cfg(feature = "ssr")]
pub mod webhook_sender;

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::{Lazy, SsrMode, path};

use pages::{
    AccountRoute, ActivityRoute, ApiKeysPage, BotActions, BotsRoute, DeleteKeyPage, EmergencyStop,
    KeyActions, KeyHealthBanner, LoginPage, RegisterPage,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Fixed for every page, so written here rather than by leptos_meta, which would
                // add its client code to the WASM bundle for a title that never changes.
                <title>"Keywarden"</title>
                <link rel="stylesheet" id="leptos" href="/pkg/keywarden.css"/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    // Set once the WASM has taken over the page shown (`Hydrated`); browser tests wait for it
    // before clicking.
    let (hydrated, set_hydrated) = signal(false);
    provide_context(HydrationFlag(set_hydrated));
    BotActions::provide();
    KeyActions::provide();
    view! {
        <Router>
            <div class="app" data-hydrated=move || hydrated.get().to_string()>
                <header class="topbar">
                    <A href="/">"Keywarden"</A>
                    <Navigation/>
                    <EmergencyStop/>
                </header>
                <main>
                    <KeyHealthBanner/>
                    <Routes fallback=|| view! { <p>"Page not found."</p> <Hydrated/> }>
                        <Route
                            path=path!("/")
                            view=|| view! { <ApiKeysPage/> <Hydrated/> }
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=path!("/key/delete")
                            view=|| view! { <DeleteKeyPage/> <Hydrated/> }
                            ssr=SsrMode::Async
                        />
                        // Each of these pages is its own piece of WebAssembly, fetched when it is
                        // first shown: the first page a person opens loads less.
                        <Route path=path!("/bots") view={Lazy::<BotsRoute>::new()} ssr=SsrMode::Async/>
                        <Route
                            path=path!("/activity")
                            view={Lazy::<ActivityRoute>::new()}
                            ssr=SsrMode::Async
                        />
                        <Route
                            path=path!("/account")
                            view={Lazy::<AccountRoute>::new()}
                            ssr=SsrMode::Async
                        />
                        <Route path=path!("/login") view=|| view! { <LoginPage/> <Hydrated/> }/>
                        <Route
                            path=path!("/register")
                            view=|| view! { <RegisterPage/> <Hydrated/> }
                        />
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

#[derive(Clone, Copy)]
struct HydrationFlag(WriteSignal<bool>);

/// Placed after each route's page. Its effect runs once that page has hydrated (a lazy route's
/// only once its WebAssembly arrived), where an effect of `App` could run before.
#[component]
fn Hydrated() -> impl IntoView {
    if let Some(HydrationFlag(set)) = use_context() {
        Effect::new(move |_| set.set(true));
    }
}

/// The header's links. A signed-out visitor only ever reaches the sign-in and registration
/// pages (every other page sends them to sign in), so those two link to each other and every
/// other page links to the app's pages.
#[component]
fn Navigation() -> impl IntoView {
    let location = use_location();
    let signing_in = move || matches!(location.pathname.get().as_str(), "/login" | "/register");
    view! {
        <nav aria-label="Main">
            {move || {
                if signing_in() {
                    view! {
                        <A href="/login">"Sign in"</A>
                        <A href="/register">"Register"</A>
                    }
                        .into_any()
                } else {
                    view! {
                        <A href="/">"API key"</A>
                        <A href="/bots">"Bots"</A>
                        <A href="/activity">"Activity"</A>
                        <A href="/account">"Account"</A>
                    }
                        .into_any()
                }
            }}
        </nav>
    }
}
