//! Fixed-point amounts for prices, quantities and balances: a count of 1e-8 units in an i128,
//! the precision Binance prints amounts with. Binary floats would not add up exactly.

use std::fmt;
use std::str::FromStr;

/// Digits after the point that an amount keeps (and that Binance prints).
const DECIMALS: u32 = 8;
const SCALE: i128 = 10i128.pow(DECIMALS);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i128);

/// Why a parameter is not an amount, as Binance tells the two apart.
#[derive(Debug, PartialEq, Eq)]
pub enum AmountError {
    /// Not `digits[.digits]` (Binance: -1100 illegal characters).
    Malformed,
    /// Non-zero digits past the eighth decimal (Binance: -1111 too much precision).
    TooPrecise,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// Parses a non-negative decimal as Binance accepts it: `^([0-9]{1,20})(\.[0-9]{1,20})?$`.
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 20
            || fraction.len() > 20
            || (text.contains('.') && fraction.is_empty())
            || !digits(whole)
            || !digits(fraction)
        {
            return Err(AmountError::Malformed);
        }
        let kept = &fraction[..fraction.len().min(DECIMALS as usize)];
        if fraction[kept.len()..].bytes().any(|b| b != b'0') {
            return Err(AmountError::TooPrecise);
        }
        let whole: i128 = whole.parse().map_err(|_| AmountError::Malformed)?;
        let fraction_units: i128 = format!("{kept:0<8}").parse().unwrap_or(0);
        Ok(Amount(whole * SCALE + fraction_units))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The product, truncated to 8 decimals.
    pub fn times(self, other: Amount) -> Amount {
        Amount(self.0 * other.0 / SCALE)
    }

    /// The quotient, truncated to 8 decimals; zero when dividing by zero.
    pub fn divided_by(self, other: Amount) -> Amount {
        if other.0 == 0 {
            return Amount::ZERO;
        }
        Amount(self.0 * SCALE / other.0)
    }

    /// Whether this is a whole number of `step`s; a zero step allows anything, as in filters.
    pub fn is_multiple_of(self, step: Amount) -> bool {
        step.0 == 0 || self.0 % step.0 == 0
    }

    /// Rounded down to a whole number of `step`s (unchanged for a zero step).
    pub fn floor_to(self, step: Amount) -> Amount {
        if step.0 == 0 {
            return self;
        }
        Amount(self.0 - self.0 % step.0)
    }

    /// `self` rate-scaled: `self * basis_points / 10_000`, truncated.
    pub fn basis_points(self, basis_points: i128) -> Amount {
        Amount(self.0 * basis_points / 10_000)
    }

    pub(crate) fn whole(units: i128) -> Amount {
        Amount(units * SCALE)
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, other: Amount) -> Amount {
        Amount(self.0 + other.0)
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, other: Amount) -> Amount {
        Amount(self.0 - other.0)
    }
}

impl std::ops::AddAssign for Amount {
    fn add_assign(&mut self, other: Amount) {
        self.0 += other.0;
    }
}

impl std::ops::SubAssign for Amount {
    fn sub_assign(&mut self, other: Amount) {
        self.0 -= other.0;
    }
}

impl std::ops::Mul<i128> for Amount {
    type Output = Amount;
    fn mul(self, factor: i128) -> Amount {
        Amount(self.0 * factor)
    }
}

/// Always 8 decimals, as Binance prints amounts: `65000.00000000`.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let units = self.0.unsigned_abs();
        let scale = SCALE as u128;
        write!(f, "{sign}{}.{:08}", units / scale, units % scale)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(text: &str) -> Result<Amount, AmountError> {
        Amount::parse(text)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Amount {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_with_eight_decimals() {
        assert_eq!(amount("65000").to_string(), "65000.00000000");
        assert_eq!(amount("0.1").to_string(), "0.10000000");
        assert_eq!(amount("0.00000001").to_string(), "0.00000001");
        assert_eq!(amount("1.500000000000").to_string(), "1.50000000");
        assert_eq!((amount("0") - amount("0.5")).to_string(), "-0.50000000");
    }

    #[test]
    fn refuses_what_binance_refuses() {
        for bad in ["", ".5", "1.", "-1", "1e5", "1,5", " 1", "0x10"] {
            assert_eq!(Amount::parse(bad), Err(AmountError::Malformed), "{bad:?}");
        }
        assert_eq!(Amount::parse("0.000000001"), Err(AmountError::TooPrecise));
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(amount("0.1") + amount("0.2"), amount("0.3"));
        assert_eq!(amount("0.001").times(amount("65000")), amount("65"));
        assert_eq!(
            amount("100").divided_by(amount("65000")),
            amount("0.00153846")
        );
        assert_eq!(
            amount("0.00153846").floor_to(amount("0.00001")),
            amount("0.00153")
        );
        assert!(amount("0.003").is_multiple_of(amount("0.001")));
        assert!(!amount("0.0035").is_multiple_of(amount("0.001")));
        assert_eq!(amount("65").basis_points(10), amount("0.065"));
    }
}
