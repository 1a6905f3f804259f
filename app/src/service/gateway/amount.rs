//! Order sizes as Binance writes them (decimal strings, at most 8 decimals), compared exactly:
//! no floating point near money.

use std::cmp::Ordering;

/// A non-negative decimal, held as an integer count of 10⁻⁸.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(u128);

const SCALE: u128 = 100_000_000;
const DECIMALS: usize = 8;

impl Amount {
    /// `12.5`, `0.00100000`, `100`; `None` for anything else (signs, exponents, more than 8
    /// decimals that are not zeros, or a number too large to be an order).
    pub fn parse(text: &str) -> Option<Amount> {
        let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || whole.len() > 20 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !decimals.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (kept, dropped) = decimals.split_at(decimals.len().min(DECIMALS));
        if !dropped.bytes().all(|b| b == b'0') {
            return None;
        }
        let whole: u128 = whole.parse().ok()?;
        let fraction: u128 = format!("{kept:0<DECIMALS$}").parse().ok()?;
        whole.checked_mul(SCALE)?.checked_add(fraction).map(Amount)
    }

    /// `self × other`, compared with `limit` exactly (products carry 16 decimals).
    pub fn product_cmp(self, other: Amount, limit: Amount) -> Ordering {
        match self.0.checked_mul(other.0) {
            Some(product) => match limit.0.checked_mul(SCALE) {
                Some(limit) => product.cmp(&limit),
                None => Ordering::Less,
            },
            None => Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(Amount::parse("1"), Some(Amount(SCALE)));
        assert_eq!(Amount::parse("0.00000001"), Some(Amount(1)));
        assert_eq!(Amount::parse("12.50000000000"), Amount::parse("12.5"));
        for bad in ["", "-1", "1e3", ".5", "1.000000001", "1,5", " 1", "NaN"] {
            assert_eq!(Amount::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn products_compare_with_a_limit_exactly() {
        let amount = |t| Amount::parse(t).unwrap();
        // 0.1 × 3 is exactly 0.3, where floating point says 0.30000000000000004.
        assert_eq!(
            amount("0.1").product_cmp(amount("3"), amount("0.3")),
            Ordering::Equal
        );
        assert_eq!(
            amount("65000").product_cmp(amount("0.002"), amount("130")),
            Ordering::Equal
        );
        assert_eq!(
            amount("65000").product_cmp(amount("0.00200001"), amount("130")),
            Ordering::Greater
        );
        let huge = amount("99999999999999999999");
        assert_eq!(huge.product_cmp(huge, amount("1")), Ordering::Greater);
    }
}
