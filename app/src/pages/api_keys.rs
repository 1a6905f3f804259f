use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_navigate;

use super::{ErrorAlert, input_value};
use crate::api::{CreateApiKey, DeleteApiKey, Logout, ValidateApiKey, get_api_key, get_balance};
use crate::model::{ApiKeyView, BalanceView, Environment, ErrorBody, KeyType, Permissions};

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let delete = ServerAction::<DeleteApiKey>::new();
    let logout = ServerAction::<Logout>::new();
    let validate = ServerAction::<ValidateApiKey>::new();
    let key = Resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                validate.version().get(),
            )
        },
        |_| get_api_key(),
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            navigate("/login", Default::default());
        }
    });

    view! {
        <section class="card">
            <div class="card-head">
                <h1>"Your Binance API key"</h1>
                <button class="link" on:click=move |_| { logout.dispatch(Logout {}); }>
                    "Sign out"
                </button>
            </div>
            <Outcome create delete validate/>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match key.await {
                        Ok(key) => view! { <StoredKey key delete validate/> }.into_any(),
                        Err(error) if error.code == "api_key_not_found" => {
                            view! { <AddKeyForm create/> }.into_any()
                        }
                        Err(error) if error.code == "not_authenticated" => {
                            view! { <Redirect path="/login"/> }.into_any()
                        }
                        Err(error) => view! { <ErrorAlert error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// What the last add or delete did, in words.
#[component]
fn Outcome(
    create: ServerAction<CreateApiKey>,
    delete: ServerAction<DeleteApiKey>,
    validate: ServerAction<ValidateApiKey>,
) -> impl IntoView {
    let notice = RwSignal::new(None::<Result<&'static str, ErrorBody>>);
    Effect::new(move |_| {
        if let Some(result) = validate.value().get() {
            notice.set(Some(result.map(|key| {
                if key.is_valid {
                    "Binance accepts the key."
                } else {
                    "Binance no longer accepts this key. Replace it with a working one."
                }
            })));
        }
    });
    Effect::new(move |_| {
        if let Some(result) = create.value().get() {
            notice.set(Some(
                result.map(|_| "Key verified with Binance and stored encrypted."),
            ));
        }
    });
    Effect::new(move |_| {
        if let Some(result) = delete.value().get() {
            notice.set(Some(
                result.map(|_| "Key deleted, together with its bot configurations."),
            ));
        }
    });
    move || {
        notice.get().map(|outcome| match outcome {
            Ok(message) => {
                view! { <p class="alert success" role="status">{message}</p> }.into_any()
            }
            Err(error) => view! { <ErrorAlert error/> }.into_any(),
        })
    }
}

#[component]
fn AddKeyForm(create: ServerAction<CreateApiKey>) -> impl IntoView {
    let api_key = NodeRef::new();
    let secret_key = NodeRef::new();
    let label = NodeRef::new();
    let environment = NodeRef::<leptos::html::Select>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let label = Some(input_value(label)).filter(|l| !l.trim().is_empty());
        let environment = environment
            .get()
            .and_then(|select| Environment::parse(&select.value()));
        create.dispatch(CreateApiKey {
            api_key: input_value(api_key),
            secret_key: input_value(secret_key),
            label,
            environment,
        });
    };
    view! {
        <form class="add-key" method="post" on:submit=submit>
            <p>"Add the API key pair Binance gave you. It is checked with Binance before it is stored."</p>
            <label>"API key" <input name="api_key" node_ref=api_key autocomplete="off" required/></label>
            <label>
                "Secret key (HMAC secret, or Ed25519/RSA private key PEM)"
                <input type="password" name="secret_key" node_ref=secret_key autocomplete="off" required/>
            </label>
            <label>"Label (optional)" <input name="label" node_ref=label maxlength="100"/></label>
            <label>
                "Binance environment"
                <select name="environment" node_ref=environment>
                    <option value="mainnet" selected>"Mainnet (real funds)"</option>
                    <option value="testnet">"Spot testnet"</option>
                </select>
            </label>
            <button type="submit" disabled=move || create.pending().get()>
                {move || if create.pending().get() { "Checking with Binance…" } else { "Add key" }}
            </button>
        </form>
    }
}

#[component]
fn StoredKey(
    key: ApiKeyView,
    delete: ServerAction<DeleteApiKey>,
    validate: ServerAction<ValidateApiKey>,
) -> impl IntoView {
    let (confirming, set_confirming) = signal(false);
    let validity = if key.is_valid {
        "valid"
    } else {
        "rejected by Binance"
    };
    let key_type = match key.key_type {
        KeyType::Hmac => "HMAC",
        KeyType::Ed25519 => "Ed25519",
        KeyType::Rsa => "RSA",
    };
    let expiry = key.trading_expires_at.map(|at| {
        let days = (at - chrono::Utc::now()).num_days().max(0);
        format!(
            "trading permission expires in {days} days ({})",
            at.format("%Y-%m-%d")
        )
    });
    let warnings = key.warnings.clone();
    view! {
        <dl class="key" data-testid="stored-key">
            <dt>"API key"</dt>
            <dd><code data-testid="masked-key">{key.api_key_masked}</code></dd>
            <dt>"Label"</dt>
            <dd>{key.label.unwrap_or_else(|| "—".into())}</dd>
            <dt>"Status"</dt>
            <dd data-testid="validity">{validity}</dd>
            <dt>"Type"</dt>
            <dd data-testid="key-type">{key_type} " · " {key.environment.as_str()}</dd>
            <dt>"Permissions"</dt>
            <dd data-testid="permissions">{permission_list(&key.permissions)}</dd>
            <dt>"Added"</dt>
            <dd>{key.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</dd>
            <dt>"Updated"</dt>
            <dd>{key.updated_at.format("%Y-%m-%d %H:%M UTC").to_string()}</dd>
            <dt>"Last checked"</dt>
            <dd data-testid="last-checked">
                {key
                    .last_validated_at
                    .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| "never".into())}
            </dd>
        </dl>
        {expiry.map(|text| view! { <p class="note" data-testid="trading-expiry">{text}</p> })}
        <ul class="warnings" data-testid="warnings">
            {warnings
                .into_iter()
                .map(|w| view! { <li class="alert warning" data-code=w.code>{w.detail}</li> })
                .collect_view()}
        </ul>
        <div class="actions">
            <button
                on:click=move |_| { validate.dispatch(ValidateApiKey {}); }
                disabled=move || validate.pending().get()
            >
                "Check again"
            </button>
            <button class="danger" on:click=move |_| set_confirming.set(true)>"Delete key"</button>
        </div>
        <Balances/>
        <Show when=move || confirming.get()>
            <div class="backdrop">
                <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="delete-title">
                    <h2 id="delete-title">"Delete this API key?"</h2>
                    <p>"Every bot configuration that uses it is deleted with it. This cannot be undone."</p>
                    <div class="actions">
                        <button on:click=move |_| set_confirming.set(false)>"Cancel"</button>
                        <button
                            class="danger"
                            on:click=move |_| {
                                set_confirming.set(false);
                                delete.dispatch(DeleteApiKey {});
                            }
                        >
                            "Delete"
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// "reading, spot trading" and so on, or "none".
fn permission_list(permissions: &Permissions) -> String {
    let names: Vec<&str> = [
        (permissions.reading, "reading"),
        (permissions.spot_trading, "spot trading"),
        (permissions.margin, "margin"),
        (permissions.futures, "futures"),
        (permissions.withdrawals, "withdrawals"),
        (permissions.ip_restricted, "IP-restricted"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The account's balances, read from Binance when asked for.
#[component]
fn Balances() -> impl IntoView {
    let load = Action::new(|_: &()| get_balance());
    view! {
        <div class="balances">
            <button on:click=move |_| { load.dispatch(()); } disabled=move || load.pending().get()>
                "Show balances"
            </button>
            {move || load.value().get().map(|result| match result {
                Ok(balance) => view! { <BalanceTable balance/> }.into_any(),
                Err(error) => view! { <ErrorAlert error/> }.into_any(),
            })}
        </div>
    }
}

#[component]
fn BalanceTable(balance: BalanceView) -> impl IntoView {
    if balance.balances.is_empty() {
        return view! { <p>"No assets with a balance."</p> }.into_any();
    }
    view! {
        <table>
            <thead><tr><th>"Asset"</th><th>"Free"</th><th>"Locked"</th></tr></thead>
            <tbody>
                {balance.balances.into_iter().map(|b| view! {
                    <tr><td>{b.asset}</td><td>{b.free}</td><td>{b.locked}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
