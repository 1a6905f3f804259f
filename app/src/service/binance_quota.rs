//! Each account's share of this instance's Binance budget: Binance limits request weight per
//! IP address, which every account of the instance shares, so one account may make at most
//! `per_minute` calls a minute (key checks, balances, the gateway's requests), and no more.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub struct BinanceQuota {
    per_minute: u32,
    /// By user: the minute (Unix minutes) of their last call, and their calls in it.
    used: Mutex<HashMap<i64, (i64, u32)>>,
}

impl BinanceQuota {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            used: Mutex::default(),
        }
    }

    /// Takes one call of the user's quota; past it, the seconds until the next minute.
    pub fn take(&self, user_id: i64, now: DateTime<Utc>) -> Result<(), u64> {
        let minute = now.timestamp().div_euclid(60);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() > 10_000 {
            used.retain(|_, (at, _)| *at == minute);
        }
        let entry = used.entry(user_id).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= self.per_minute {
            return Err((60 - now.timestamp().rem_euclid(60)).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_their_own_calls_a_minute() {
        let quota = BinanceQuota::new(2);
        let now = DateTime::from_timestamp(600, 0).unwrap();
        assert!(quota.take(1, now).is_ok());
        assert!(quota.take(1, now).is_ok());
        assert_eq!(quota.take(1, now), Err(60));
        assert!(quota.take(2, now).is_ok());
        let next_minute = now + chrono::Duration::seconds(60);
        assert!(quota.take(1, next_minute).is_ok());
    }
}
