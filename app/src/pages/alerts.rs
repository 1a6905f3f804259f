//! The Account page's alerts: where Keywarden tells the user what happened (email, webhooks),
//! each webhook's delivery log, and its signing secret shown once.

use leptos::prelude::*;

use super::{CopyButton, ErrorAlert, Modal, Notice, Time, input_value, load_error};
use crate::api::{
    CreateWebhook, DeleteWebhook, SetEmailAlerts, TestWebhook, get_email_alerts, list_webhooks,
    webhook_deliveries,
};
use crate::model::{
    ALERT_TYPES, EmailAlerts, EmailAlertsChange, NewWebhook, WebhookCreated, WebhookDeliveryView,
    WebhookView,
};

/// An alert type as the owner reads it.
fn alert_in_words(kind: &str) -> &'static str {
    match kind {
        "key.invalid" => "Binance refuses the key",
        "key.trading_expiring" => "the key is about to lose trading",
        "key.funds_permission" => "the key can move funds (bots paused)",
        "bot.refusals" => "a bot keeps being refused",
        "bots.paused" => "every bot was paused",
        "login.new_address" => "a sign-in from a new address",
        "login.blocked" => "failed sign-ins stopped at a new address",
        "password.changed" => "the password was changed",
        "webhook.test" => "a test",
        _ => "another alert",
    }
}

#[component]
pub fn AlertsSection() -> impl IntoView {
    let notice = Notice::new();
    let create = ServerAction::<CreateWebhook>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let test = ServerAction::<TestWebhook>::new();
    let set_email = ServerAction::<SetEmailAlerts>::new();
    let webhooks = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_webhooks(),
    );
    let email = Resource::new(move || set_email.version().get(), |_| get_email_alerts());
    let (created, set_created) = signal(None::<WebhookCreated>);
    Effect::new(move |_| match create.value().get() {
        Some(Ok(webhook)) => set_created.set(Some(webhook)),
        Some(Err(error)) => notice.report(Some(Err(error))),
        None => {}
    });
    Effect::new(move |_| {
        let outcome = delete.value().get();
        notice.report(outcome.map(|r| r.map(|()| "Webhook deleted.".to_owned())));
    });
    Effect::new(move |_| {
        let outcome = test.value().get();
        notice.report(
            outcome.map(|r| r.map(|queued| format!("Test alert {} queued.", queued.event_id))),
        );
    });
    Effect::new(move |_| {
        let outcome = set_email.value().get();
        notice.report(outcome.map(|r| {
            r.map(|email| match email.enabled {
                true => "Alerts are emailed to you again.".to_owned(),
                false => "Alerts are no longer emailed to you.".to_owned(),
            })
        }));
    });

    view! {
        <h2>"Alerts"</h2>
        <p class="note">
            "Keywarden tells you when your key stops working, is about to lose trading or can move \
             funds, when a bot keeps being refused or every bot is paused, and about sign-ins from \
             new addresses and password changes."
        </p>
        {notice.view()}
        <h3>"By email"</h3>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match email.await {
                    Ok(email) => view! { <EmailChoice email set_email/> }.into_any(),
                    Err(error) => load_error(error),
                }
            })}
        </Transition>
        <h3>"Webhooks"</h3>
        <p class="note">
            "Each alert is POSTed as JSON, signed in the " <code>"Keywarden-Signature"</code>
            " header with the webhook's secret, and retried for a day if your receiver fails."
        </p>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match webhooks.await {
                    Ok(list) if list.is_empty() => view! { <p>"No webhook yet."</p> }.into_any(),
                    Ok(list) => view! { <WebhookList list delete test/> }.into_any(),
                    Err(error) => view! { <ErrorAlert error/> }.into_any(),
                }
            })}
        </Transition>
        <WebhookForm create/>
        {move || created.get().map(|webhook| view! {
            <SecretDialog webhook close=move || set_created.set(None)/>
        })}
    }
}

#[component]
fn EmailChoice(email: EmailAlerts, set_email: ServerAction<SetEmailAlerts>) -> impl IntoView {
    if !email.available {
        return view! { <p data-testid="email-alerts">"This server does not send email."</p> }
            .into_any();
    }
    let enabled = email.enabled;
    let (said, label) = if enabled {
        ("Alerts are emailed to ", "Stop emailing alerts")
    } else {
        ("Alerts are not emailed to ", "Email alerts to me")
    };
    view! {
        <p data-testid="email-alerts">{said} <strong>{email.address}</strong> "."</p>
        <button
            on:click=move |_| {
                set_email.dispatch(SetEmailAlerts { change: EmailAlertsChange { enabled: !enabled } });
            }
            disabled=move || set_email.pending().get()
        >
            {label}
        </button>
    }
    .into_any()
}

#[component]
fn WebhookList(
    list: Vec<WebhookView>,
    delete: ServerAction<DeleteWebhook>,
    test: ServerAction<TestWebhook>,
) -> impl IntoView {
    view! {
        <ul class="webhooks" data-testid="webhooks">
            {list.into_iter().map(|webhook| view! { <WebhookItem webhook delete test/> }).collect_view()}
        </ul>
    }
}

#[component]
fn WebhookItem(
    webhook: WebhookView,
    delete: ServerAction<DeleteWebhook>,
    test: ServerAction<TestWebhook>,
) -> impl IntoView {
    let id = webhook.id;
    let (log_open, set_log_open) = signal(false);
    let (confirming, set_confirming) = signal(false);
    let listens = if webhook.events.len() == ALERT_TYPES.len() {
        "every alert".to_owned()
    } else {
        webhook
            .events
            .iter()
            .map(|kind| alert_in_words(kind))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let url = StoredValue::new(webhook.url.clone());
    view! {
        <li>
            <p><code class="url">{webhook.url}</code></p>
            <p class="note">"Sends " {listens} " · added " <Time at=webhook.created_at/></p>
            <div class="actions">
                <button
                    on:click=move |_| { test.dispatch(TestWebhook { id }); set_log_open.set(true); }
                    disabled=move || test.pending().get()
                >
                    "Send a test"
                </button>
                <button aria-expanded=move || log_open.get().to_string() on:click=move |_| set_log_open.update(|open| *open = !*open)>
                    "Delivery log"
                </button>
                <button class="danger" on:click=move |_| set_confirming.set(true)>"Delete"</button>
            </div>
            <Show when=move || log_open.get()>
                <DeliveryLog id test/>
            </Show>
            <Show when=move || confirming.get()>
                <Modal labelled_by="delete-webhook-title" on_close=move |_| set_confirming.set(false)>
                    <h2 id="delete-webhook-title">"Delete this webhook?"</h2>
                    <p><code class="url">{url.get_value()}</code> " receives no more alerts; what is queued for it is dropped."</p>
                    <form method="dialog" class="actions">
                        <button value="cancel">"Cancel"</button>
                        <button class="danger" value="delete" on:click=move |_| { delete.dispatch(DeleteWebhook { id }); }>
                            "Delete webhook"
                        </button>
                    </form>
                </Modal>
            </Show>
        </li>
    }
}

/// A webhook's tries, newest first, read again after each test and on request.
#[component]
fn DeliveryLog(id: i64, test: ServerAction<TestWebhook>) -> impl IntoView {
    let (refreshed, set_refreshed) = signal(0u32);
    let tries = Resource::new(
        move || (test.version().get(), refreshed.get()),
        move |_| webhook_deliveries(id),
    );
    view! {
        <div class="delivery-log">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match tries.await {
                        Ok(list) if list.is_empty() => view! { <p>"Nothing sent yet."</p> }.into_any(),
                        Ok(list) => view! { <DeliveryTable list/> }.into_any(),
                        Err(error) => view! { <ErrorAlert error/> }.into_any(),
                    }
                })}
            </Transition>
            <button class="link" on:click=move |_| set_refreshed.update(|n| *n += 1)>"Refresh"</button>
        </div>
    }
}

#[component]
fn DeliveryTable(list: Vec<WebhookDeliveryView>) -> impl IntoView {
    view! {
        <table data-testid="deliveries">
            <thead><tr><th>"When"</th><th>"Alert"</th><th>"Outcome"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|attempt| {
                    let outcome = match (attempt.status.as_str(), attempt.response_code) {
                        ("delivered", Some(code)) => format!("delivered ({code})"),
                        (status, _) => {
                            let why = attempt.error.clone().unwrap_or_default();
                            let status = match status {
                                "retrying" => "failed, will retry",
                                "failed" => "given up",
                                other => other,
                            };
                            format!("{status}: {why}")
                        }
                    };
                    view! {
                        <tr class=if attempt.status == "delivered" { "" } else { "failed" }>
                            <td><Time at=attempt.attempted_at/></td>
                            <td>{alert_in_words(&attempt.kind)}<br/><span class="note">{attempt.event_id}</span></td>
                            <td>{outcome}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn WebhookForm(create: ServerAction<CreateWebhook>) -> impl IntoView {
    let url = NodeRef::new();
    let chosen = RwSignal::new(
        ALERT_TYPES
            .iter()
            .map(|t| (*t).to_owned())
            .collect::<Vec<_>>(),
    );
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let events = chosen.get();
        let events = (events.len() < ALERT_TYPES.len()).then_some(events);
        create.dispatch(CreateWebhook {
            webhook: NewWebhook {
                url: input_value(url),
                events,
            },
        });
    };
    view! {
        <form method="post" on:submit=submit data-testid="webhook-form">
            <label>"Webhook URL"
                <input type="url" node_ref=url placeholder="https://alerts.example.com/keywarden" required/>
            </label>
            <fieldset class="choices">
                <legend>"Alerts to send"</legend>
                {ALERT_TYPES.iter().map(|kind| {
                    let kind = *kind;
                    view! {
                        <label class="check">
                            <input
                                type="checkbox"
                                prop:checked=move || chosen.with(|c| c.iter().any(|k| k == kind))
                                on:change=move |_| chosen.update(|c| {
                                    match c.iter().position(|k| k == kind) {
                                        Some(at) => { c.remove(at); }
                                        None => c.push(kind.to_owned()),
                                    }
                                })
                            />
                            {alert_in_words(kind)}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <button type="submit" disabled=move || create.pending().get()>"Add webhook"</button>
        </form>
    }
}

/// The webhook's signing secret, shown the one time there is.
#[component]
fn SecretDialog(
    webhook: WebhookCreated,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let secret = webhook.secret.clone();
    view! {
        <Modal labelled_by="secret-title" on_close=move |_| close()>
            <h2 id="secret-title">"Your webhook's signing secret"</h2>
            <p>
                "Copy it now: it is shown this once. Your receiver checks each alert's "
                <code>"Keywarden-Signature"</code> " with it before trusting it."
            </p>
            <p><code class="token" data-testid="webhook-secret">{secret.clone()}</code></p>
            <CopyButton label="Copy secret" text=secret/>
            <form method="dialog" class="actions">
                <button>"Done"</button>
            </form>
        </Modal>
    }
}
