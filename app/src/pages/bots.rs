use leptos::prelude::*;

use super::{CopyButton, ErrorAlert, Modal, Notice, Time, TimeOrNever, input_value, load_error};
use crate::api::{
    CreateBotConfig, CreateBotToken, DeleteBotConfig, PauseAllBots, ResumeAllBots, RevokeBotToken,
    UpdateBotConfig, audit_events, list_bot_configs, list_bot_tokens,
};
use crate::model::{
    AuditEventView, BotConfigChange, BotConfigView, BotTokenView, IssuedBotToken, NewBotConfig,
    NewBotToken, OrderType,
};

/// Everything the Bots page and the header's emergency stop can change; each finished action
/// reloads what shows bots.
#[derive(Clone, Copy)]
pub struct BotActions {
    create: ServerAction<CreateBotConfig>,
    update: ServerAction<UpdateBotConfig>,
    delete: ServerAction<DeleteBotConfig>,
    issue: ServerAction<CreateBotToken>,
    revoke: ServerAction<RevokeBotToken>,
    pause: ServerAction<PauseAllBots>,
    resume: ServerAction<ResumeAllBots>,
}

impl BotActions {
    /// The page's actions, shared through the context the app provides.
    pub fn provide() {
        provide_context(BotActions {
            create: ServerAction::new(),
            update: ServerAction::new(),
            delete: ServerAction::new(),
            issue: ServerAction::new(),
            revoke: ServerAction::new(),
            pause: ServerAction::new(),
            resume: ServerAction::new(),
        });
    }

    fn get() -> BotActions {
        expect_context::<BotActions>()
    }

    /// Changes whenever the list of bots may have changed.
    fn versions(&self) -> [usize; 5] {
        [
            self.create.version().get(),
            self.update.version().get(),
            self.delete.version().get(),
            self.pause.version().get(),
            self.resume.version().get(),
        ]
    }
}

/// The route to `BotsPage`, whose code is fetched when the page is first shown.
#[derive(Debug)]
pub struct BotsRoute;

#[leptos_router::lazy_route]
impl leptos_router::LazyRoute for BotsRoute {
    fn data() -> Self {
        BotsRoute
    }

    fn view(_route: Self) -> AnyView {
        view! { <BotsPage/> <crate::Hydrated/> }.into_any()
    }
}

#[component]
fn BotsPage() -> impl IntoView {
    let actions = BotActions::get();
    let bots = Resource::new(move || actions.versions(), |_| list_bot_configs());
    view! {
        <section class="card">
            <h1>"Bots"</h1>
            <p class="note">
                "A bot trades through Keywarden's gateway with a token of its own, inside the \
                 limits you set here; it never holds your key."
            </p>
            <Outcome actions/>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match bots.await {
                        Ok(list) => view! { <BotList list/> }.into_any(),
                        Err(error) if error.code == "no_api_key" => view! {
                            <p>"Add your Binance API key first: bots trade with it."</p>
                        }
                            .into_any(),
                        Err(error) => load_error(error),
                    }
                })}
            </Transition>
            <h2>"New bot"</h2>
            <NewBotForm/>
        </section>
    }
}

/// What the last action on the page did, in words.
#[component]
fn Outcome(actions: BotActions) -> impl IntoView {
    let notice = Notice::new();
    Effect::new(move |_| {
        let said = |bot: BotConfigView| format!("Bot {} added.", bot.name);
        notice.report(actions.create.value().get().map(|r| r.map(said)))
    });
    Effect::new(move |_| {
        let said = |bot: BotConfigView| match bot.enabled {
            true => format!("Bot {} saved; it may trade.", bot.name),
            false => format!("Bot {} saved; it is disabled.", bot.name),
        };
        notice.report(actions.update.value().get().map(|r| r.map(said)))
    });
    Effect::new(move |_| {
        let said = |_| "Bot deleted, with its tokens.".to_owned();
        notice.report(actions.delete.value().get().map(|r| r.map(said)))
    });
    Effect::new(move |_| {
        let said = |_| "Token revoked: its next request is refused.".to_owned();
        notice.report(actions.revoke.value().get().map(|r| r.map(said)))
    });
    Effect::new(move |_| notice.report(actions.issue.value().get().and_then(Result::err).map(Err)));
    notice.view()
}

#[component]
fn BotList(list: Vec<BotConfigView>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p>"No bots yet."</p> }.into_any();
    }
    view! {
        <ul class="bots">
            {list.into_iter().map(|bot| view! { <BotCard bot/> }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn BotCard(bot: BotConfigView) -> impl IntoView {
    let actions = BotActions::get();
    let (editing, set_editing) = signal(false);
    let (deleting, set_deleting) = signal(false);
    let (showing_activity, set_showing_activity) = signal(false);
    let id = bot.id;
    let status = match (bot.paused, bot.enabled) {
        (true, _) => "paused (every bot)",
        (false, true) => "enabled",
        (false, false) => "disabled",
    };
    let toggle_to = !bot.enabled;
    let toggle = move |_| {
        actions.update.dispatch(UpdateBotConfig {
            id,
            change: BotConfigChange {
                enabled: Some(toggle_to),
                ..BotConfigChange::default()
            },
        });
    };
    let order_types: Vec<&str> = bot.order_types.iter().map(|t| t.as_str()).collect();
    let heading = format!("bot-{id}-name");
    let labelled_by = heading.clone();
    let editable = bot.clone();
    view! {
        <li class="bot" data-testid="bot" aria-labelledby=labelled_by>
            <div class="card-head">
                <h2 id=heading>{bot.name.clone()} " · " {bot.symbol.clone()}</h2>
                <span class=format!("badge {}", status.split(' ').next().unwrap_or_default()) data-testid="bot-status">
                    {status}
                </span>
            </div>
            <dl class="key">
                <dt>"Order types"</dt>
                <dd data-testid="bot-order-types">{order_types.join(", ")}</dd>
                <dt>"Largest order"</dt>
                <dd data-testid="bot-max-notional">
                    {bot.max_order_notional.clone().unwrap_or_else(|| "no limit".into())}
                </dd>
                <dt>"Orders per minute"</dt>
                <dd>{bot.orders_per_minute}</dd>
                <dt>"Last used"</dt>
                <dd><TimeOrNever at=bot.last_used_at/></dd>
                <dt>"Today (UTC)"</dt>
                <dd data-testid="bot-today">
                    {format!("{} sent, {} refused", bot.orders_today, bot.refusals_today)}
                </dd>
            </dl>
            <ul class="warnings">
                {bot.warnings.iter().map(|w| view! { <li class="alert warning">{w.detail.clone()}</li> }).collect_view()}
            </ul>
            <div class="actions">
                <button on:click=toggle disabled=move || actions.update.pending().get()>
                    {if bot.enabled { "Disable" } else { "Enable" }}
                </button>
                <button
                    aria-expanded=move || editing.get().to_string()
                    on:click=move |_| set_editing.update(|open| *open = !*open)
                >
                    "Edit"
                </button>
                <button
                    aria-expanded=move || showing_activity.get().to_string()
                    on:click=move |_| set_showing_activity.update(|open| *open = !*open)
                >
                    "Activity"
                </button>
                <button class="danger" on:click=move |_| set_deleting.set(true)>"Delete"</button>
            </div>
            <Show when=move || editing.get()>
                <PolicyForm bot=editable.clone() done=move || set_editing.set(false)/>
            </Show>
            <Tokens bot=bot.clone()/>
            <Show when=move || showing_activity.get()>
                <BotActivity id/>
            </Show>
            <Show when=move || deleting.get()>
                <DeleteBotDialog bot=bot.clone() close=move || set_deleting.set(false)/>
            </Show>
        </li>
    }
}

/// The policy fields, as typed.
struct PolicyFields {
    max_order_notional: Option<String>,
    orders_per_minute: Option<i64>,
    order_types: Vec<OrderType>,
}

/// The order type checkboxes and the two limits, shared by the new-bot and edit forms.
#[component]
fn PolicyFieldset(
    prefix: String,
    max_order_notional: Option<String>,
    orders_per_minute: i64,
    order_types: Vec<OrderType>,
    notional: NodeRef<leptos::html::Input>,
    rate: NodeRef<leptos::html::Input>,
) -> impl IntoView {
    view! {
        <label>
            "Largest order, in the symbol's quote asset (empty: no limit)"
            <input name="max_order_notional" node_ref=notional inputmode="decimal"
                value=max_order_notional.unwrap_or_default()/>
        </label>
        <label>
            "Orders per minute (1 to 600)"
            <input name="orders_per_minute" type="number" min="1" max="600" node_ref=rate
                value=orders_per_minute.to_string()/>
        </label>
        <fieldset class="order-types">
            <legend>"Order types it may place"</legend>
            {OrderType::ALL.into_iter().map(|t| {
                let id = format!("{prefix}-type-{}", t.as_str());
                let label_for = id.clone();
                view! {
                    <label class="check" for=label_for>
                        <input type="checkbox" id=id name="order_types" value=t.as_str()
                            checked=order_types.contains(&t)/>
                        {t.as_str()}
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// Reads the policy fields of the form the event came from.
fn policy_fields(
    form: &leptos::web_sys::HtmlFormElement,
    notional: NodeRef<leptos::html::Input>,
    rate: NodeRef<leptos::html::Input>,
) -> PolicyFields {
    use leptos::wasm_bindgen::JsCast;
    let notional = input_value(notional);
    let checked = |t: &OrderType| {
        form.query_selector(&format!("input[name=order_types][value={}]", t.as_str()))
            .ok()
            .flatten()
            .and_then(|node| node.dyn_into::<leptos::web_sys::HtmlInputElement>().ok())
            .is_some_and(|input| input.checked())
    };
    let order_types = OrderType::ALL.into_iter().filter(checked).collect();
    PolicyFields {
        max_order_notional: Some(notional.trim().to_owned()).filter(|n| !n.is_empty()),
        orders_per_minute: input_value(rate).trim().parse().ok(),
        order_types,
    }
}

/// Keeps the browser from posting the form, and reads its policy fields for the page to send.
fn submitted_policy(
    ev: &leptos::ev::SubmitEvent,
    notional: NodeRef<leptos::html::Input>,
    rate: NodeRef<leptos::html::Input>,
) -> Option<PolicyFields> {
    use leptos::wasm_bindgen::JsCast;
    ev.prevent_default();
    let form = ev.target()?.dyn_into().ok()?;
    Some(policy_fields(&form, notional, rate))
}

#[component]
fn NewBotForm() -> impl IntoView {
    let actions = BotActions::get();
    let name = NodeRef::new();
    let symbol = NodeRef::new();
    let notional = NodeRef::new();
    let rate = NodeRef::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        let Some(policy) = submitted_policy(&ev, notional, rate) else {
            return;
        };
        actions.create.dispatch(CreateBotConfig {
            config: NewBotConfig {
                name: input_value(name),
                symbol: input_value(symbol),
                enabled: None,
                max_order_notional: policy.max_order_notional,
                order_types: Some(policy.order_types),
                orders_per_minute: policy.orders_per_minute,
            },
        });
    };
    view! {
        <form class="new-bot" method="post" on:submit=submit>
            <label>"Name" <input name="name" node_ref=name maxlength="100" required/></label>
            <label>"Symbol" <input name="symbol" node_ref=symbol placeholder="BTCUSDT" maxlength="20" required/></label>
            <PolicyFieldset
                prefix="new".into()
                max_order_notional=None
                orders_per_minute=60
                order_types=OrderType::DEFAULT.to_vec()
                notional
                rate
            />
            <button type="submit" disabled=move || actions.create.pending().get()>
                {move || if actions.create.pending().get() { "Adding…" } else { "Add bot" }}
            </button>
        </form>
    }
}

#[component]
fn PolicyForm(bot: BotConfigView, done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let actions = BotActions::get();
    let id = bot.id;
    let name = NodeRef::new();
    let notional = NodeRef::new();
    let rate = NodeRef::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        let Some(policy) = submitted_policy(&ev, notional, rate) else {
            return;
        };
        actions.update.dispatch(UpdateBotConfig {
            id,
            change: BotConfigChange {
                name: Some(input_value(name)),
                enabled: None,
                max_order_notional: Some(policy.max_order_notional),
                order_types: Some(policy.order_types),
                orders_per_minute: policy.orders_per_minute,
            },
        });
        done();
    };
    view! {
        <form class="policy" method="post" on:submit=submit>
            <label>"Name" <input name="name" node_ref=name maxlength="100" required value=bot.name/></label>
            <PolicyFieldset
                prefix=format!("bot-{id}")
                max_order_notional=bot.max_order_notional
                orders_per_minute=bot.orders_per_minute
                order_types=bot.order_types
                notional
                rate
            />
            <div class="actions">
                <button type="button" on:click=move |_| done()>"Cancel"</button>
                <button type="submit">"Save"</button>
            </div>
        </form>
    }
}

/// The bot's live tokens, a button for a new one, and the dialog that shows it once.
#[component]
fn Tokens(bot: BotConfigView) -> impl IntoView {
    let actions = BotActions::get();
    let id = bot.id;
    let tokens = Resource::new(
        move || {
            (
                actions.issue.version().get(),
                actions.revoke.version().get(),
            )
        },
        move |_| list_bot_tokens(id),
    );
    let (shown, set_shown) = signal(None::<IssuedBotToken>);
    let issued_here = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(issued)) = actions.issue.value().get()
            && issued_here.get_untracked()
        {
            issued_here.set(false);
            set_shown.set(Some(issued));
        }
    });
    let issue = move |_| {
        // Marked busy rather than disabled while the token is issued: a disabled button would
        // drop the focus, which the dialog gives back to this button when it closes.
        if actions.issue.pending().get_untracked() {
            return;
        }
        issued_here.set(true);
        actions.issue.dispatch(CreateBotToken {
            bot: id,
            token: NewBotToken::default(),
        });
    };
    let symbol = bot.symbol.clone();
    view! {
        <div class="tokens">
            <h3>"Tokens"</h3>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) => view! { <TokenTable bot=id list/> }.into_any(),
                        Err(error) => view! { <ErrorAlert error/> }.into_any(),
                    }
                })}
            </Transition>
            <button on:click=issue aria-disabled=move || actions.issue.pending().get().to_string()>
                {move || if actions.issue.pending().get() { "Issuing…" } else { "New token" }}
            </button>
            {move || shown.get().map(|issued| {
                let symbol = symbol.clone();
                view! { <NewTokenDialog issued symbol close=move || set_shown.set(None)/> }
            })}
        </div>
    }
}

#[component]
fn TokenTable(bot: i64, list: Vec<BotTokenView>) -> impl IntoView {
    let (revoking, set_revoking) = signal(None::<BotTokenView>);
    if list.is_empty() {
        return view! { <p>"No tokens: this bot cannot trade yet."</p> }.into_any();
    }
    view! {
        <table data-testid="tokens">
            <thead>
                <tr><th>"Token"</th><th>"Created"</th><th>"Expires"</th><th>"Last used"</th><th><span class="visually-hidden">"Revoke"</span></th></tr>
            </thead>
            <tbody>
                {list.into_iter().map(|token| {
                    let for_dialog = token.clone();
                    view! {
                        <tr>
                            <td><code>{token.prefix.clone()} "…"</code> {token.name.clone().map(|n| format!(" {n}"))}</td>
                            <td><Time at=token.created_at/></td>
                            <td><TimeOrNever at=token.expires_at/></td>
                            <td><TimeOrNever at=token.last_used_at/></td>
                            <td>
                                <button class="link" on:click=move |_| set_revoking.set(Some(for_dialog.clone()))>
                                    "Revoke"
                                </button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {move || revoking.get().map(|token| view! {
            <RevokeDialog bot token close=move || set_revoking.set(None)/>
        })}
    }
    .into_any()
}

#[component]
fn RevokeDialog(
    bot: i64,
    token: BotTokenView,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let actions = BotActions::get();
    let token_id = token.id;
    view! {
        <Modal labelled_by="revoke-title" on_close=move |_| close()>
            <h2 id="revoke-title">"Revoke token " {token.prefix} "…?"</h2>
            <p>"A bot using it is refused from its next request. This cannot be undone."</p>
            <form method="dialog" class="actions">
                <button value="cancel">"Cancel"</button>
                <button
                    class="danger"
                    value="revoke"
                    on:click=move |_| {
                        actions.revoke.dispatch(RevokeBotToken { bot, token: token_id });
                    }
                >
                    "Revoke"
                </button>
            </form>
        </Modal>
    }
}

/// The quote assets a symbol may end with, longest first, for ccxt's `BASE/QUOTE` name.
const QUOTES: [&str; 12] = [
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "EUR", "TRY", "BRL", "BTC", "ETH", "BNB", "JPY",
];

/// `BTCUSDT` as ccxt names it, `BTC/USDT`; the symbol itself when its quote is not known.
fn ccxt_symbol(symbol: &str) -> String {
    QUOTES
        .iter()
        .find(|quote| symbol.len() > quote.len() && symbol.ends_with(*quote))
        .map(|quote| format!("{}/{quote}", &symbol[..symbol.len() - quote.len()]))
        .unwrap_or_else(|| symbol.to_owned())
}

fn ccxt_snippet(gateway: &str, token: &str, symbol: &str) -> String {
    format!(
        "import ccxt\n\
         exchange = ccxt.binance({{\n    \
             \"apiKey\": \"{token}\", \"secret\": \"unused\",\n    \
             \"headers\": {{\"X-MBX-APIKEY\": \"{token}\"}},\n    \
             \"urls\": {{\"api\": {{\"public\": \"{gateway}/api/v3\",\n                      \
             \"private\": \"{gateway}/api/v3\"}}}},\n    \
             \"options\": {{\"fetchMarkets\": [\"spot\"], \"fetchCurrencies\": False}},\n\
         }})\n\
         print(exchange.fetch_ticker(\"{}\"))\n",
        ccxt_symbol(symbol)
    )
}

fn python_binance_snippet(gateway: &str, token: &str, symbol: &str) -> String {
    format!(
        "from binance.client import Client\n\
         client = Client(\"{token}\", \"unused\", ping=False)\n\
         client.API_URL = \"{gateway}/api\"\n\
         print(client.get_symbol_ticker(symbol=\"{symbol}\"))\n"
    )
}

/// Copies `text` to the clipboard and says so.
#[component]
fn NewTokenDialog(
    issued: IssuedBotToken,
    symbol: String,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let token = issued.token.token.clone();
    let ccxt = ccxt_snippet(&issued.gateway_url, &token, &symbol);
    let python = python_binance_snippet(&issued.gateway_url, &token, &symbol);
    view! {
        <Modal labelled_by="token-title" on_close=move |_| close()>
            <h2 id="token-title">"Your bot's new token"</h2>
            <p>
                "Copy it now: it is shown this once. Your bot sends it as its Binance API key to "
                <code>{issued.gateway_url.clone()}</code> " (any secret will do)."
            </p>
            <p><code class="token" data-testid="new-token">{token.clone()}</code></p>
            <CopyButton label="Copy token" text=token/>
            <h3>"ccxt"</h3>
            <pre data-testid="ccxt-snippet" tabindex="0" aria-label="ccxt snippet">{ccxt.clone()}</pre>
            <CopyButton label="Copy ccxt snippet" text=ccxt/>
            <h3>"python-binance"</h3>
            <pre data-testid="python-binance-snippet" tabindex="0" aria-label="python-binance snippet">{python.clone()}</pre>
            <CopyButton label="Copy python-binance snippet" text=python/>
            <form method="dialog" class="actions">
                <button>"Done"</button>
            </form>
        </Modal>
    }
}

/// Confirms deleting a bot, naming the tokens that stop working with it.
#[component]
fn DeleteBotDialog(
    bot: BotConfigView,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let actions = BotActions::get();
    let id = bot.id;
    let tokens = Resource::new(|| (), move |_| list_bot_tokens(id));
    view! {
        <Modal labelled_by="delete-bot-title" on_close=move |_| close()>
            <h2 id="delete-bot-title">"Delete bot " {bot.name} "?"</h2>
            <Suspense fallback=|| view! { <p>"Looking for its tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if !list.is_empty() => view! {
                            <p>"These tokens stop working with it:"</p>
                            <ul data-testid="doomed-tokens">
                                {list.into_iter().map(|t| view! {
                                    <li><code>{t.prefix} "…"</code> {t.name.map(|n| format!(" {n}"))}</li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Ok(_) => view! { <p>"It has no tokens."</p> }.into_any(),
                        Err(error) => view! { <ErrorAlert error/> }.into_any(),
                    }
                })}
            </Suspense>
            <p>"Its activity stays in your audit trail. This cannot be undone."</p>
            <form method="dialog" class="actions">
                <button value="cancel">"Cancel"</button>
                <button
                    class="danger"
                    value="delete"
                    on:click=move |_| { actions.delete.dispatch(DeleteBotConfig { id }); }
                >
                    "Delete"
                </button>
            </form>
        </Modal>
    }
}

/// The bot's recent orders and refusals, newest first.
#[component]
fn BotActivity(id: i64) -> impl IntoView {
    let events = Resource::new(|| (), move |_| audit_events(Some(20), None, Some(id)));
    view! {
        <div class="bot-activity">
            <h3>"Recent activity"</h3>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(page) if page.events.is_empty() => view! { <p>"Nothing yet."</p> }.into_any(),
                        Ok(page) => view! {
                            <ul class="events" data-testid="bot-activity">
                                {page.events.into_iter().map(|event| view! { <BotEvent event/> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorAlert error/> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn BotEvent(event: AuditEventView) -> impl IntoView {
    let detail = event.detail.clone().unwrap_or_default();
    let text = |name: &str| super::activity::detail_field(&detail, name);
    let order: Vec<String> = ["side", "type", "quantity", "symbol"]
        .into_iter()
        .filter_map(text)
        .collect();
    let mut what = match event.action.as_str() {
        "order.place" => format!("Order {}", order.join(" ")),
        "order.cancel" => format!("Cancel {}", order.join(" ")),
        other => super::activity::describe(other),
    };
    if let Some(price) = text("price") {
        what.push_str(&format!(" at {price}"));
    }
    let outcome = match (event.outcome.as_str(), event.error_code.as_deref()) {
        ("success", _) => match text("order_id") {
            Some(order) => format!("placed: Binance order {order}"),
            None => "done".into(),
        },
        ("attempt", _) => "sent to Binance".into(),
        ("unknown", _) => "no answer from Binance in time: look the order up".into(),
        (_, Some("binance_rejected")) => match text("binance_code") {
            Some(code) => format!("Binance refused it (code {code})"),
            None => "Binance refused it".into(),
        },
        (_, Some(code)) => format!("refused: {}", super::activity::refusal_in_words(code)),
        _ => "failed".into(),
    };
    let failed = !matches!(event.outcome.as_str(), "success" | "attempt");
    view! {
        <li class=if failed { "failed" } else { "" }>
            <Time at=event.created_at/> " · " {what} " — " {outcome}
        </li>
    }
}

/// "Pause all bots" in the header once the account has a bot, and the banner that stays on
/// every page while they are paused.
#[component]
pub fn EmergencyStop() -> impl IntoView {
    let actions = BotActions::get();
    let bots = Resource::new(move || actions.versions(), |_| list_bot_configs());
    let (confirming, set_confirming) = signal(false);
    let state = move || {
        bots.get()
            .and_then(Result::ok)
            .filter(|list| !list.is_empty())
            .map(|list| list.iter().any(|bot| bot.paused))
    };
    // Why Keywarden itself paused them, if it did.
    let reason = move || {
        bots.get()
            .and_then(Result::ok)
            .and_then(|list| list.into_iter().find_map(|bot| bot.paused_reason))
    };
    view! {
        <Transition fallback=|| ()>
            {move || match state() {
                Some(false) => view! {
                    <button class="stop" on:click=move |_| set_confirming.set(true)>"Pause all bots"</button>
                }.into_any(),
                _ => ().into_any(),
            }}
        </Transition>
        <Show when=move || confirming.get()>
            <Modal labelled_by="pause-title" on_close=move |_| set_confirming.set(false)>
                <h2 id="pause-title">"Pause every bot?"</h2>
                <p>"Every bot of your account is refused from its next request until you resume."</p>
                <form method="dialog" class="actions">
                    <button value="cancel">"Cancel"</button>
                    <button class="danger" value="pause" on:click=move |_| { actions.pause.dispatch(PauseAllBots {}); }>
                        "Pause all bots"
                    </button>
                </form>
            </Modal>
        </Show>
        <Transition fallback=|| ()>
            {move || (state() == Some(true)).then(|| view! {
                <div class="banner" role="status" data-testid="paused-banner">
                    {move || match reason().as_deref() {
                        Some("key_moves_funds") => "Every bot is paused: your API key gained a \
                            permission that moves funds. Switch it off in Binance's API \
                            management and check the key again before you resume. ",
                        _ => "Every bot is paused: their requests are refused. ",
                    }}
                    <button
                        on:click=move |_| { actions.resume.dispatch(ResumeAllBots {}); }
                        disabled=move || actions.resume.pending().get()
                    >
                        "Resume"
                    </button>
                </div>
            })}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccxt_names_a_symbol_by_its_base_and_quote() {
        assert_eq!(ccxt_symbol("BTCUSDT"), "BTC/USDT");
        assert_eq!(ccxt_symbol("ETHBTC"), "ETH/BTC");
        assert_eq!(ccxt_symbol("BTCFDUSD"), "BTC/FDUSD");
        assert_eq!(ccxt_symbol("XYZABC"), "XYZABC");
    }

    #[test]
    fn snippets_carry_the_gateway_the_token_and_the_symbol() {
        let ccxt = ccxt_snippet("https://kw.example/gateway/binance", "kwb_x", "BTCUSDT");
        assert!(ccxt.contains("\"public\": \"https://kw.example/gateway/binance/api/v3\""));
        assert!(ccxt.contains("\"X-MBX-APIKEY\": \"kwb_x\""));
        assert!(ccxt.contains("fetch_ticker(\"BTC/USDT\")"));
        let python =
            python_binance_snippet("https://kw.example/gateway/binance", "kwb_x", "BTCUSDT");
        assert!(python.contains("client.API_URL = \"https://kw.example/gateway/binance/api\""));
        assert!(python.contains("symbol=\"BTCUSDT\""));
    }
}
