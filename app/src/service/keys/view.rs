//! A stored key as its owner sees it: masked, with what Binance lets it do and what the owner
//! should know about it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::exchange::KeyCheck;
use crate::model::{ApiKeyView, Environment, Permissions, Warning};
use crate::store::{ApiKeyRow, Validation};

impl crate::service::Keywarden {
    pub(super) fn key_view(&self, row: ApiKeyRow) -> ApiKeyView {
        api_key_view(row, &self.inner.egress_ips)
    }
}

/// `egress_ips`: where Binance sees this service's calls come from, for the IP restriction
/// the user is asked to set.
fn api_key_view(row: ApiKeyRow, egress_ips: &[IpAddr]) -> ApiKeyView {
    ApiKeyView {
        warnings: warnings(
            row.environment,
            &row.permissions,
            row.trading_expires_at,
            egress_ips,
        ),
        id: row.id,
        label: row.label,
        api_key_masked: row.api_key_masked,
        is_valid: row.is_valid,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_validated_at: row.last_validated_at,
        key_type: row.key_type,
        environment: row.environment,
        permissions: row.permissions,
        trading_expires_at: row.trading_expires_at,
        bot_config_count: row.bot_config_count,
    }
}

/// What Binance's answer says the key may do. Without `apiRestrictions` (the testnet) only
/// reading is known: the signed account read that proved the key worked needs it.
pub(super) fn permissions(check: &KeyCheck) -> Permissions {
    match &check.restrictions {
        Some(restrictions) => Permissions {
            reading: Some(restrictions.enable_reading),
            spot_trading: Some(restrictions.enable_spot_and_margin_trading),
            withdrawals: Some(restrictions.enable_withdrawals),
            futures: Some(restrictions.enable_futures),
            margin: Some(restrictions.enable_margin),
            ip_restricted: Some(restrictions.ip_restrict),
            internal_transfer: Some(restrictions.enable_internal_transfer),
            universal_transfer: Some(restrictions.permits_universal_transfer),
            vanilla_options: Some(restrictions.enable_vanilla_options),
        },
        None => Permissions {
            reading: Some(true),
            ..Permissions::default()
        },
    }
}

/// What a check that Binance answered found.
pub(super) fn validation(check: &KeyCheck) -> Validation {
    Validation {
        is_valid: true,
        permissions: permissions(check),
        trading_expires_at: check
            .restrictions
            .as_ref()
            .and_then(|restrictions| restrictions.trading_expires_at()),
    }
}

/// What the user should know about an accepted key. Nothing is said of what Binance does not
/// report.
fn warnings(
    environment: Environment,
    permissions: &Permissions,
    trading_expires_at: Option<DateTime<Utc>>,
    egress_ips: &[IpAddr],
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if environment == Environment::Mainnet && permissions.ip_restricted == Some(false) {
        let addresses = match egress_ips {
            [] => "this server's addresses".to_owned(),
            ips => {
                let list: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
                format!("exactly {}", list.join(", "))
            }
        };
        warnings.push(Warning {
            code: "no_ip_restriction".into(),
            detail: format!(
                "This key works from any IP address: Binance takes trading away from such keys \
                 and may delete them, and a leaked copy works anywhere. In Binance's API \
                 management, restrict it to {addresses} (where Keywarden calls Binance from; \
                 your bots trade through Keywarden and need no address of their own), then \
                 check it again."
            ),
        });
    }
    if permissions.spot_trading == Some(false) {
        warnings.push(Warning {
            code: "no_spot_trading".into(),
            detail: "This key cannot trade: bots using it can read balances but place no \
                     orders. Enable spot trading for it in Binance's API management."
                .into(),
        });
    }
    if let Some(at) = trading_expires_at {
        warnings.push(Warning {
            code: "trading_expires".into(),
            detail: format!(
                "Binance removes spot trading from this key on {} because it has no IP \
                 restriction.",
                at.date_naive()
            ),
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_permissions_raise_no_warning() {
        let unknown = Permissions {
            reading: Some(true),
            ..Permissions::default()
        };
        assert!(warnings(Environment::Testnet, &unknown, None, &[]).is_empty());
        assert!(warnings(Environment::Mainnet, &unknown, None, &[]).is_empty());
        let open = Permissions {
            ip_restricted: Some(false),
            spot_trading: Some(false),
            ..unknown
        };
        let codes: Vec<String> = warnings(Environment::Mainnet, &open, None, &[])
            .into_iter()
            .map(|w| w.code)
            .collect();
        assert_eq!(codes, ["no_ip_restriction", "no_spot_trading"]);
        let egress = [
            "203.0.113.7".parse().unwrap(),
            "2001:db8::7".parse().unwrap(),
        ];
        let restrict = &warnings(Environment::Mainnet, &open, None, &egress)[0].detail;
        assert!(
            restrict.contains("restrict it to exactly 203.0.113.7, 2001:db8::7 "),
            "{restrict}"
        );
    }
}
