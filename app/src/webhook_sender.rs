//! Sending a webhook delivery: one signed POST to an address a user gave.
//!
//! A webhook URL is the user's input, so it could aim this server at its own network (the
//! database, a cloud metadata service). Every address a URL's host resolves to is checked
//! before connecting, on every redirect too: the resolver refuses a host with any address in a
//! special-purpose range, and a redirect to an address written literally is refused before it
//! is followed. The operator may open private networks for receivers inside them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use crate::network::IpNetwork;

/// The header a delivery's signature travels in.
pub const SIGNATURE_HEADER: &str = "Keywarden-Signature";

const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_REDIRECTS: usize = 3;
const MAX_URL_CHARS: usize = 2048;

/// Which special-purpose addresses webhooks may reach (`KEYWARDEN_WEBHOOK_ALLOW_PRIVATE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PrivateAddresses {
    /// Only public addresses.
    #[default]
    Refused,
    /// Every address but the cloud metadata services'.
    Allowed,
    /// Public addresses and these networks.
    AllowedIn(Vec<IpNetwork>),
}

/// The address ranges no receiver on the public internet has, named as the refusal says.
fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) => {
            "metadata"
        }
        (0, ..) => "unspecified",
        (127, ..) => "loopback",
        (10, ..) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) | (198, 18..=19, _) => "reserved",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return special_v4(v4);
    }
    let first = ip.segments()[0];
    Some(match first {
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => "metadata",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        0xfc00..=0xfdff => "private",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "private",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4
/// (`2002::/16`) address: a connection to one of those reaches that IPv4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(from(hi, lo)),
        [0x2002, hi, lo, ..] => Some(from(hi, lo)),
        _ => None,
    }
}

/// Why a webhook may not reach an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusedAddress {
    pub range: &'static str,
}

impl PrivateAddresses {
    pub fn check(&self, ip: IpAddr) -> Result<(), RefusedAddress> {
        let Some(range) = special_range(ip) else {
            return Ok(());
        };
        let allowed = match self {
            PrivateAddresses::Refused => false,
            PrivateAddresses::Allowed => range != "metadata",
            PrivateAddresses::AllowedIn(networks) => networks.iter().any(|n| n.contains(ip)),
        };
        if allowed {
            Ok(())
        } else {
            Err(RefusedAddress { range })
        }
    }
}

/// Why a URL is not one a webhook may have, or a delivery did not arrive.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    InvalidUrl(&'static str),
    #[error("the webhook's host resolves to a {} address, which webhooks may not reach", .0.range)]
    Refused(RefusedAddress),
    #[error("the webhook's host could not be resolved")]
    Unresolvable,
    #[error("the receiver did not answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    #[error("the receiver could not be reached")]
    Unreachable,
    #[error("a redirect was refused: {0}")]
    Redirect(String),
}

/// The resolver every delivery's connections go through: a host with any refused address is
/// not resolved at all.
struct CheckedResolver {
    private: Arc<PrivateAddresses>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let private = Arc::clone(&self.private);
        Box::pin(async move {
            let addresses = resolve(&private, name.as_str()).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

async fn resolve(private: &PrivateAddresses, host: &str) -> Result<Vec<SocketAddr>, SendError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| SendError::Unresolvable)?
        .collect();
    if addresses.is_empty() {
        return Err(SendError::Unresolvable);
    }
    for address in &addresses {
        private.check(address.ip()).map_err(SendError::Refused)?;
    }
    Ok(addresses)
}

/// The host of `url` when it is written as an IP address (the resolver never sees those).
fn literal_address(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// `Keywarden-Signature`'s value for `body` sent at `timestamp` (unix seconds): Stripe's scheme,
/// an HMAC-SHA256 of `"<timestamp>.<body>"` under the webhook's secret.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    private: Arc<PrivateAddresses>,
}

impl WebhookSender {
    pub fn new(private: PrivateAddresses) -> Result<Self, reqwest::Error> {
        let private = Arc::new(private);
        let redirects = {
            let private = Arc::clone(&private);
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                if !matches!(attempt.url().scheme(), "http" | "https") {
                    return attempt.error("to a URL that is not http or https");
                }
                match literal_address(attempt.url()).map(|ip| private.check(ip)) {
                    Some(Err(refused)) => attempt.error(format!("to a {} address", refused.range)),
                    _ => attempt.follow(),
                }
            })
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirects)
            .dns_resolver(Arc::new(CheckedResolver {
                private: Arc::clone(&private),
            }))
            .user_agent("Keywarden-Webhooks/1")
            .build()?;
        Ok(WebhookSender { client, private })
    }

    /// Whether `url` may be a webhook's: http or https, no credentials, and every address its
    /// host has now allowed. Returns it written canonically.
    pub async fn check_url(&self, url: &str) -> Result<String, SendError> {
        let url = self.parse(url)?;
        let host = url
            .host_str()
            .ok_or(SendError::InvalidUrl("url: needs a host"))?;
        match literal_address(&url) {
            Some(ip) => self.private.check(ip).map_err(SendError::Refused)?,
            None => {
                resolve(&self.private, host).await?;
            }
        }
        Ok(url.to_string())
    }

    fn parse(&self, url: &str) -> Result<Url, SendError> {
        if url.chars().count() > MAX_URL_CHARS {
            return Err(SendError::InvalidUrl("url: at most 2048 characters"));
        }
        let url = Url::parse(url.trim())
            .map_err(|_| SendError::InvalidUrl("url: must be an absolute http or https URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SendError::InvalidUrl("url: must be an http or https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SendError::InvalidUrl(
                "url: must not hold a user name or password",
            ));
        }
        Ok(url)
    }

    /// POSTs `body` to `url`, signed at `timestamp`. Answers the receiver's status, whatever
    /// it is; an error when none came.
    pub async fn send(
        &self,
        url: &str,
        secret: &str,
        timestamp: i64,
        body: String,
    ) -> Result<u16, SendError> {
        let url = self.parse(url)?;
        if let Some(ip) = literal_address(&url) {
            self.private.check(ip).map_err(SendError::Refused)?;
        }
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => Ok(response.status().as_u16()),
            Err(err) => Err(Self::failure(err)),
        }
    }

    fn failure(err: reqwest::Error) -> SendError {
        if err.is_timeout() {
            return SendError::Timeout;
        }
        if err.is_redirect() {
            let why = std::error::Error::source(&err)
                .map(ToString::to_string)
                .unwrap_or_else(|| "redirect".into());
            return SendError::Redirect(why);
        }
        // A refusal by the resolver comes back wrapped in a connect error: find it.
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<SendError>() {
                return match refused {
                    SendError::Refused(range) => SendError::Refused(*range),
                    _ => SendError::Unresolvable,
                };
            }
            source = cause.source();
        }
        SendError::Unreachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(ip: &str) -> Option<&'static str> {
        special_range(ip.parse().unwrap())
    }

    #[test]
    fn every_special_range_is_named() {
        for (ip, name) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("fd12:3456::1", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("169.254.169.254", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("100.100.100.200", "metadata"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:101::1", "private"),
        ] {
            assert_eq!(range(ip), Some(name), "{ip}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "203.0.113.7",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(range(public), None, "{public}");
        }
    }

    #[test]
    fn the_operator_opens_private_networks_but_never_metadata_by_default() {
        let loopback: IpAddr = "127.0.0.2".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        let public: IpAddr = "8.8.8.8".parse().unwrap();
        let refused = PrivateAddresses::Refused;
        assert_eq!(refused.check(public), Ok(()));
        assert!(refused.check(loopback).is_err());
        assert_eq!(PrivateAddresses::Allowed.check(loopback), Ok(()));
        assert!(PrivateAddresses::Allowed.check(metadata).is_err());
        let one = PrivateAddresses::AllowedIn(vec!["127.0.0.2/32".parse().unwrap()]);
        assert_eq!(one.check(loopback), Ok(()));
        assert!(one.check("127.0.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn signatures_follow_the_documented_scheme() {
        // Worked out with Python's hmac module, independently of this code.
        assert_eq!(
            signature("whsec_test", 1_700_000_000, "{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[tokio::test]
    async fn urls_are_checked_before_they_are_stored() {
        let sender = WebhookSender::new(PrivateAddresses::Refused).unwrap();
        for (url, problem) in [
            ("ftp://example.com/", "http or https"),
            ("not a url", "absolute"),
            ("https://user:pw@example.com/", "user name or password"),
            ("http://127.0.0.1:9/hook", "loopback"),
            ("http://[::1]/hook", "loopback"),
            ("http://169.254.169.254/latest/meta-data", "metadata"),
            ("http://10.0.0.1/", "private"),
            ("http://localhost:9/hook", "loopback"),
        ] {
            let err = sender.check_url(url).await.unwrap_err().to_string();
            assert!(err.contains(problem), "{url}: {err}");
        }
        let open = WebhookSender::new(PrivateAddresses::Allowed).unwrap();
        assert_eq!(
            open.check_url("http://127.0.0.1:9/hook").await.unwrap(),
            "http://127.0.0.1:9/hook"
        );
    }
}
