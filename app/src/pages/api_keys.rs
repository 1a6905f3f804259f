use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

use super::{
    ErrorAlert, Modal, Notice, Precision, Time, TimeOrNever, form_error, go_after_success,
    input_value, landed_after, load_error, plain_post_error, utc,
};
use crate::api::{
    CreateApiKey, DeleteApiKey, Logout, RenameApiKey, ReplaceApiKey, ValidateApiKey, get_api_key,
    get_balance, list_bot_configs,
};
use crate::model::{ApiKeyView, BalanceView, Environment, KeyType, Permissions};

/// Everything the page can do to the key; each finished action refreshes the key shown, here
/// and in the banner every page carries.
#[derive(Clone, Copy)]
pub struct KeyActions {
    create: ServerAction<CreateApiKey>,
    replace: ServerAction<ReplaceApiKey>,
    rename: ServerAction<RenameApiKey>,
    validate: ServerAction<ValidateApiKey>,
    delete: ServerAction<DeleteApiKey>,
}

impl KeyActions {
    /// Shared through the context the app provides.
    pub fn provide() {
        provide_context(KeyActions {
            create: ServerAction::new(),
            replace: ServerAction::new(),
            rename: ServerAction::new(),
            validate: ServerAction::new(),
            delete: ServerAction::new(),
        });
    }

    fn get() -> KeyActions {
        expect_context::<KeyActions>()
    }

    fn versions(&self) -> [usize; 5] {
        [
            self.create.version().get(),
            self.replace.version().get(),
            self.rename.version().get(),
            self.validate.version().get(),
            self.delete.version().get(),
        ]
    }
}

/// On every page, while something is wrong with the key: what, and where to see it.
#[component]
pub fn KeyHealthBanner() -> impl IntoView {
    let actions = KeyActions::get();
    let key = Resource::new(move || actions.versions(), |_| get_api_key());
    view! {
        <Transition fallback=|| ()>
            {move || {
                key.get()
                    .and_then(Result::ok)
                    .and_then(|key| key_trouble(&key, chrono::Utc::now()))
                    .map(|trouble| view! {
                        <div class="banner warning" data-testid="key-banner">
                            {trouble} " " <A href="/">"See your key"</A>
                        </div>
                    })
            }}
        </Transition>
    }
}

/// The most urgent thing wrong with the key, in words: refused by Binance, able to move funds,
/// about to lose trading (within a week), or usable from any address.
fn key_trouble(key: &ApiKeyView, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let restrict = "restrict it to Keywarden's addresses in Binance's API management";
    if !key.is_valid {
        return Some(
            "Binance refuses your API key: your bots cannot trade until you replace it.".into(),
        );
    }
    let moving = key.permissions.moving_funds();
    if !moving.is_empty() {
        return Some(format!(
            "Your API key can move funds out of your account ({}): switch that off in Binance's \
             API management, then check the key again.",
            moving.join(", ")
        ));
    }
    if let Some(at) = key.trading_expires_at
        && at - now <= chrono::Duration::days(7)
    {
        return Some(format!(
            "Binance removes trading from your API key on {}: {restrict}.",
            at.date_naive()
        ));
    }
    key.warnings
        .iter()
        .any(|w| w.code == "no_ip_restriction")
        .then(|| format!("Your API key works from any IP address: {restrict}."))
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let actions = KeyActions::get();
    let logout = ServerAction::<Logout>::new();
    let key = Resource::new(move || actions.versions(), |_| get_api_key());
    go_after_success(logout, "/login");

    view! {
        <section class="card">
            <div class="card-head">
                <h1>"Your Binance API key"</h1>
                <button class="link" on:click=move |_| { logout.dispatch(Logout {}); }>
                    "Sign out"
                </button>
            </div>
            <Outcome actions/>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match key.await {
                        Ok(key) => view! { <StoredKey key actions/> }.into_any(),
                        Err(error) if error.code == "api_key_not_found" => {
                            let create = actions.create;
                            let submit = Callback::new(move |fields: KeyFields| {
                                create.dispatch(CreateApiKey {
                                    api_key: fields.api_key,
                                    secret_key: fields.secret_key,
                                    label: fields.label,
                                    environment: fields.environment,
                                });
                            });
                            view! {
                                <p>"Add the API key pair Binance gave you. It is checked with Binance before it is stored."</p>
                                <KeyForm
                                    action=CreateApiKey::PATH
                                    submit
                                    pending=create.pending()
                                    submit_label="Add key"
                                />
                            }
                                .into_any()
                        }
                        Err(error) => load_error(error),
                    }
                })}
            </Transition>
        </section>
    }
}

/// An action's success, in the same words whatever it answered.
fn said<T>(words: &'static str) -> impl Fn(T) -> String {
    move |_| words.to_owned()
}

/// What the last action did, in words.
#[component]
fn Outcome(actions: KeyActions) -> impl IntoView {
    let notice = Notice::starting_with(plain_post_outcome());
    Effect::new(move |_| {
        let said = said("Key verified with Binance and stored encrypted.");
        notice.report(actions.create.value().get().map(|r| r.map(said)))
    });
    Effect::new(move |_| {
        let said = said("New key verified with Binance; it replaces the old one for every bot.");
        notice.report(actions.replace.value().get().map(|r| r.map(said)))
    });
    Effect::new(move |_| {
        notice.report(
            actions
                .rename
                .value()
                .get()
                .map(|r| r.map(said("Label saved."))),
        )
    });
    Effect::new(move |_| {
        notice.report(actions.validate.value().get().map(|r| {
            r.map(|key| match key.is_valid {
                true => "Binance accepts the key.".to_owned(),
                false => {
                    "Binance no longer accepts this key. Replace it with a working one.".to_owned()
                }
            })
        }))
    });
    Effect::new(move |_| {
        notice.report(
            actions
                .delete
                .value()
                .get()
                .map(|r| r.map(said(KEY_DELETED))),
        )
    });
    notice.view()
}

const KEY_DELETED: &str = "Key deleted, together with its bot configurations.";

/// What the key's plain form posts (sent before the page's script ran) came back with.
fn plain_post_outcome() -> Option<Result<String, crate::model::ErrorBody>> {
    let failed = plain_post_error(&[CreateApiKey::PATH, ValidateApiKey::PATH, DeleteApiKey::PATH]);
    match failed {
        Some(error) => Some(Err(error)),
        None => landed_after("deleted").then(|| Ok(KEY_DELETED.to_owned())),
    }
}

/// A key pair as typed into the form.
#[derive(Clone)]
struct KeyFields {
    api_key: String,
    secret_key: String,
    label: Option<String>,
    environment: Option<Environment>,
}

/// `action` is where the browser posts the form before the page's script runs.
#[component]
fn KeyForm(
    action: &'static str,
    submit: Callback<KeyFields>,
    #[prop(into)] pending: Signal<bool>,
    submit_label: &'static str,
) -> impl IntoView {
    let api_key = NodeRef::new();
    let secret_key = NodeRef::new();
    let label = NodeRef::new();
    let environment = NodeRef::<leptos::html::Select>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit.run(KeyFields {
            api_key: input_value(api_key),
            secret_key: input_value(secret_key),
            label: Some(input_value(label)).filter(|l| !l.trim().is_empty()),
            environment: environment
                .get()
                .and_then(|select| Environment::parse(&select.value())),
        });
    };
    view! {
        <form class="add-key" method="post" action=action on:submit=on_submit>
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
            <button type="submit" disabled=move || pending.get()>
                {move || if pending.get() { "Checking with Binance…" } else { submit_label }}
            </button>
        </form>
    }
}

#[component]
fn StoredKey(key: ApiKeyView, actions: KeyActions) -> impl IntoView {
    let (confirming, set_confirming) = signal(false);
    let (replacing, set_replacing) = signal(false);
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
            utc(&at, Precision::Day)
        )
    });
    let warnings = key.warnings.clone();
    let label_input = NodeRef::new();
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let label = Some(input_value(label_input)).filter(|l| !l.trim().is_empty());
        actions.rename.dispatch(RenameApiKey { label });
    };
    let replace = actions.replace;
    let submit_replacement = Callback::new(move |fields: KeyFields| {
        replace.dispatch(ReplaceApiKey {
            api_key: fields.api_key,
            secret_key: fields.secret_key,
            label: fields.label,
            environment: fields.environment,
        });
    });
    view! {
        <dl class="key" data-testid="stored-key">
            <dt>"API key"</dt>
            <dd><code data-testid="masked-key">{key.api_key_masked}</code></dd>
            <dt>"Label"</dt>
            <dd>
                <form class="inline" method="post" on:submit=rename>
                    <input
                        name="label"
                        aria-label="Label"
                        node_ref=label_input
                        maxlength="100"
                        value=key.label.unwrap_or_default()
                    />
                    <button type="submit" disabled=move || actions.rename.pending().get()>"Rename"</button>
                </form>
            </dd>
            <dt>"Status"</dt>
            <dd data-testid="validity">{validity}</dd>
            <dt>"Type"</dt>
            <dd data-testid="key-type">{key_type} " · " {key.environment.as_str()}</dd>
            <dt>"Permissions"</dt>
            <dd data-testid="permissions">{permission_list(&key.permissions)}</dd>
            <dt>"Bot configurations"</dt>
            <dd data-testid="bot-config-count">{key.bot_config_count}</dd>
            <dt>"Added"</dt>
            <dd><Time at=key.created_at/></dd>
            <dt>"Updated"</dt>
            <dd><Time at=key.updated_at/></dd>
            <dt>"Last checked"</dt>
            <dd data-testid="last-checked">
                <TimeOrNever at=key.last_validated_at/>
            </dd>
        </dl>
        {expiry.map(|text| view! { <p class="note" data-testid="trading-expiry">{text}</p> })}
        <ul class="warnings" data-testid="warnings">
            {warnings
                .into_iter()
                .map(|w| {
                    // Binance takes trading from a key usable anywhere, and may delete it.
                    let class = match w.code.as_str() {
                        "no_ip_restriction" => "alert error",
                        _ => "alert warning",
                    };
                    view! { <li class=class data-code=w.code>{w.detail}</li> }
                })
                .collect_view()}
        </ul>
        // The check and the delete are forms, so that they work before the page's script runs:
        // the check posts to its server function, the delete opens its confirmation page.
        <div class="actions">
            <form
                method="post"
                action=ValidateApiKey::PATH
                on:submit=move |ev| {
                    ev.prevent_default();
                    actions.validate.dispatch(ValidateApiKey {});
                }
            >
                <button type="submit" disabled=move || actions.validate.pending().get()>
                    "Check again"
                </button>
            </form>
            <button on:click=move |_| set_replacing.update(|open| *open = !*open)>"Replace key"</button>
            <form
                method="get"
                action=DELETE_KEY_PAGE
                on:submit=move |ev| {
                    ev.prevent_default();
                    set_confirming.set(true);
                }
            >
                <button type="submit" class="danger">"Delete key"</button>
            </form>
        </div>
        <Show when=move || replacing.get()>
            <p>"The new pair is checked with Binance first; the key keeps its bot configurations."</p>
            <KeyForm
                action=ReplaceApiKey::PATH
                submit=submit_replacement
                pending=actions.replace.pending()
                submit_label="Replace key"
            />
        </Show>
        <Balances/>
        <Show when=move || confirming.get()>
            <DeleteDialog delete=actions.delete close=move || set_confirming.set(false)/>
        </Show>
    }
}

/// Confirms a delete, naming the bot configs that go with the key.
#[component]
fn DeleteDialog(
    delete: ServerAction<DeleteApiKey>,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <Modal labelled_by="delete-title" on_close=move |_| close()>
            <h2 id="delete-title">"Delete this API key?"</h2>
            <DoomedConfigs/>
            <form method="dialog" class="actions">
                <button value="cancel">"Cancel"</button>
                <button class="danger" value="delete" on:click=move |_| { delete.dispatch(DeleteApiKey {}); }>
                    "Delete"
                </button>
            </form>
        </Modal>
    }
}

/// The delete's confirmation as a page of its own, for a browser without the page's script:
/// its form posts to the same server function as the dialog.
const DELETE_KEY_PAGE: &str = "/key/delete";

#[component]
pub fn DeleteKeyPage() -> impl IntoView {
    let delete = ServerAction::<DeleteApiKey>::new();
    go_after_success(delete, "/?deleted");
    let error = form_error(delete);
    view! {
        <section class="card narrow">
            <h1>"Delete this API key?"</h1>
            <DoomedConfigs/>
            <form
                method="post"
                action=DeleteApiKey::PATH
                class="actions"
                on:submit=move |ev| {
                    ev.prevent_default();
                    delete.dispatch(DeleteApiKey {});
                }
            >
                <A href="/">"Cancel"</A>
                <button type="submit" class="danger" disabled=move || delete.pending().get()>
                    "Delete"
                </button>
            </form>
            {move || error().map(|error| view! { <ErrorAlert error/> })}
        </section>
    }
}

/// The bot configs deleted with the key, named, and that it cannot be undone.
#[component]
fn DoomedConfigs() -> impl IntoView {
    let configs = Resource::new(|| (), |_| list_bot_configs());
    view! {
            <Suspense fallback=|| view! { <p>"Looking for bot configurations…"</p> }>
                {move || Suspend::new(async move {
                    match configs.await {
                        Ok(list) if !list.is_empty() => {
                            view! {
                                <p>"These bot configurations use it and are deleted with it:"</p>
                                <ul data-testid="doomed-configs">
                                    {list
                                        .into_iter()
                                        .map(|c| view! { <li>{c.name} " (" {c.symbol} ")"</li> })
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                        Ok(_) => view! { <p>"No bot configuration uses this key."</p> }.into_any(),
                        Err(error) => load_error(error),
                    }
                })}
            </Suspense>
            <p>"This cannot be undone."</p>
    }
}

/// "reading, spot trading" and so on, or "none"; what Binance does not report (the testnet
/// reports only that the key can read) is said to be unknown.
fn permission_list(permissions: &Permissions) -> String {
    let named = [
        (permissions.reading, "reading"),
        (permissions.spot_trading, "spot trading"),
        (permissions.margin, "margin"),
        (permissions.futures, "futures"),
        (permissions.withdrawals, "withdrawals"),
        (permissions.internal_transfer, "internal transfer"),
        (permissions.universal_transfer, "universal transfer"),
        (permissions.vanilla_options, "options"),
        (permissions.ip_restricted, "IP-restricted"),
    ];
    let granted: Vec<&str> = named
        .iter()
        .filter_map(|(on, name)| (*on == Some(true)).then_some(*name))
        .collect();
    let mut list = if granted.is_empty() {
        "none".to_owned()
    } else {
        granted.join(", ")
    };
    if named.iter().any(|(on, _)| on.is_none()) {
        list.push_str(" (Binance does not report the others)");
    }
    list
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
