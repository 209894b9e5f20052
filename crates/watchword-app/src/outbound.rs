//! Requests the server sends where a tenant pointed it (audit streams; an SSO connection's OIDC
//! discovery, keys and token endpoint): one client whose every connection goes to an address the
//! server may reach. The URL is read by the same parser the client dials with (WHATWG: `0`,
//! `0x0a000001`, `10.1` and decimal forms become the literal they mean), a literal is checked
//! as such, a host name only through a resolver that drops unreachable addresses, and redirects
//! are refused. Loopback only with `outbound_allow_loopback` (development and tests).

use std::sync::Arc;
use watchword_domain::endpoint::is_reachable;

/// Why an outbound URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not an absolute http(s) URL with a host.
    Invalid,
    /// An address of a private, reserved or (unless allowed) loopback network.
    Private,
}

/// Checks `url` as the client will dial it.
pub fn check(url: &str, allow_loopback: bool) -> Result<reqwest::Url, Refused> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Refused::Invalid)?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(Refused::Invalid);
    }
    let ok = match parsed.host().ok_or(Refused::Invalid)? {
        url::Host::Ipv4(ip) => is_reachable(ip.into(), allow_loopback),
        url::Host::Ipv6(ip) => is_reachable(ip.into(), allow_loopback),
        // Resolved by [`Guarded`] when connecting.
        url::Host::Domain(_) => true,
    };
    if ok {
        Ok(parsed)
    } else {
        Err(Refused::Private)
    }
}

/// The client: 10 s timeout, no redirects, host names resolved to reachable addresses only.
pub(crate) fn client(allow_loopback: bool) -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(Guarded { allow_loopback }))
        .build()
        .expect("an HTTP client with default TLS settings builds")
}

struct Guarded {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let ok: Vec<std::net::SocketAddr> = found
                .filter(|a| is_reachable(a.ip(), allow_loopback))
                .collect();
            if ok.is_empty() {
                return Err("the host resolves to no address the server may reach".into());
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_internal_address_is_refused() {
        for bad in [
            "https://0:8443/",
            "https://0x0:8443/",
            "https://0.0:8443/",
            "https://0.0.0.0:8443/",
            "https://10.1/",
            "https://0x0a000001/",
            "https://167772161/",
            "https://012.0.0.1/",
            "https://127.1/",
            "https://2130706433/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a00:1]/",
            "https://[::10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:a00:1::]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://240.0.0.1/",
            "https://255.255.255.255/",
            "https://224.0.0.1/",
        ] {
            assert_eq!(check(bad, false).err(), Some(Refused::Private), "{bad}");
        }
        for ok in [
            "https://siem.example.com/x",
            "https://8.8.8.8/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(check(ok, false).is_ok(), "{ok}");
        }
        assert!(check("https://127.0.0.1:9/", true).is_ok());
        assert!(check("https://[::1]:9/", true).is_ok());
        assert_eq!(
            check("https://10.0.0.1/", true).err(),
            Some(Refused::Private)
        );
        assert_eq!(
            check("file:///etc/passwd", true).err(),
            Some(Refused::Invalid)
        );
    }
}
