//! IP addresses and networks as users and operators write them (`203.0.113.7`,
//! `10.0.0.0/8`): a bot token's allowed addresses, the private networks webhooks may reach.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address, or a network in CIDR notation; an address is its own /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    bits: Option<u8>,
}

impl IpNetwork {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let Some(bits) = self.bits else {
            return self.address == ip;
        };
        match (self.address, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (address, bits) = match text.trim().split_once('/') {
            Some((address, bits)) => (address, Some(bits.parse::<u8>().map_err(|_| ())?)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| ())?;
        let max_bits = if address.is_ipv4() { 32 } else { 128 };
        if bits.is_some_and(|bits| bits > max_bits) {
            return Err(());
        }
        Ok(IpNetwork { address, bits })
    }
}

/// Canonically: `2001:db8::/32`, `203.0.113.7`.
impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bits {
            Some(bits) => write!(f, "{}/{bits}", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

/// The client an address stands for when attempts are counted: an IPv6 address's /64 (one
/// subscriber's network, where every address is theirs to use), an IPv4 address as it is
/// (IPv4-mapped ones too). Text that is not an address stands for itself.
pub fn counted_as(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !(u128::MAX >> 64);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
        },
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// Whether `ip` is in any network of a comma-separated list (as stored).
pub fn listed(list: &str, ip: IpAddr) -> bool {
    list.split(',')
        .filter_map(|entry| entry.parse::<IpNetwork>().ok())
        .any(|network| network.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_parsed_and_written_canonically() {
        let canonical = |text: &str| text.parse::<IpNetwork>().map(|n| n.to_string());
        assert_eq!(canonical("203.0.113.7").unwrap(), "203.0.113.7");
        assert_eq!(canonical(" 10.0.0.0/8 ").unwrap(), "10.0.0.0/8");
        assert_eq!(canonical("2001:DB8::/32").unwrap(), "2001:db8::/32");
        for bad in [
            "",
            "example.com",
            "10.0.0.0/33",
            "::/129",
            "1.2.3.4/x",
            "1.2.3",
        ] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        assert_eq!(counted_as("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            counted_as("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(counted_as("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(counted_as("::ffff:203.0.113.5"), "203.0.113.5");
        assert_eq!(counted_as("203.0.113.5"), "203.0.113.5");
    }

    #[test]
    fn addresses_match_exactly_or_by_network() {
        let list = "203.0.113.7,10.0.0.0/8,2001:db8::/32";
        for ip in ["203.0.113.7", "10.1.2.3", "2001:db8::1"] {
            assert!(listed(list, ip.parse().unwrap()), "{ip}");
        }
        for ip in ["203.0.113.8", "11.0.0.1", "2001:db9::1", "::ffff:10.1.2.3"] {
            assert!(!listed(list, ip.parse().unwrap()), "{ip}");
        }
        assert!(listed("0.0.0.0/0", "198.51.100.1".parse().unwrap()));
    }
}
