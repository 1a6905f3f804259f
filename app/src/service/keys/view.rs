//! A stored key as its owner sees it: masked, with what Binance lets it do and what the owner
//! should know about it.

use chrono::{DateTime, Utc};

use crate::exchange::KeyCheck;
use crate::model::{ApiKeyView, Environment, Permissions, Warning};
use crate::store::{ApiKeyRow, Validation};

pub(super) fn api_key_view(row: ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        warnings: warnings(row.environment, &row.permissions, row.trading_expires_at),
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
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if environment == Environment::Mainnet && permissions.ip_restricted == Some(false) {
        warnings.push(Warning {
            code: "no_ip_restriction".into(),
            detail: "This key works from any IP address. Restrict it to this server's IP in \
                     Binance's API management: a leaked key is then useless elsewhere, and \
                     Binance keeps its trading permission."
                .into(),
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
        assert!(warnings(Environment::Testnet, &unknown, None).is_empty());
        assert!(warnings(Environment::Mainnet, &unknown, None).is_empty());
        let open = Permissions {
            ip_restricted: Some(false),
            spot_trading: Some(false),
            ..unknown
        };
        let codes: Vec<String> = warnings(Environment::Mainnet, &open, None)
            .into_iter()
            .map(|w| w.code)
            .collect();
        assert_eq!(codes, ["no_ip_restriction", "no_spot_trading"]);
    }
}
