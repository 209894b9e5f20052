//! Where watchword may send an account's data on the account's say-so (audit streams, SSO
//! providers): public addresses, and loopback only for development — never the operator's internal network (private,
//! shared, link-local, unique-local, unspecified, multicast or documentation ranges), which an
//! account administrator must not reach through the server.

use std::net::IpAddr;

/// Whether the server may connect to `ip` for a tenant: a public address, or loopback when
/// `allow_loopback` (development). IPv6 forms that carry an IPv4 address (mapped, compatible,
/// NAT64, 6to4, Teredo) are refused outright, whatever they carry.
pub fn is_reachable(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            if v4.is_loopback() {
                return allow_loopback;
            }
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240 // reserved
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (18..20).contains(&b))) // benchmarking
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                return allow_loopback;
            }
            let s = v6.segments();
            let embeds_v4 = v6.to_ipv4().is_some() // mapped ::ffff:a.b.c.d and compatible ::a.b.c.d
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64
                || s[0] == 0x2002 // 6to4
                || (s[0] == 0x2001 && s[1] == 0); // Teredo
            !(embeds_v4
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

/// The host of an absolute URL (brackets of an IPv6 literal removed), when it has one.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_not_reachable() {
        for ok in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_reachable(ok.parse().unwrap(), false), "{ok}");
        }
        for lo in ["127.0.0.1", "127.9.9.9", "::1"] {
            assert!(!is_reachable(lo.parse().unwrap(), false), "{lo}");
            assert!(is_reachable(lo.parse().unwrap(), true), "{lo}");
        }
        for bad in [
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "192.0.2.7",
            "fd00::1",
            "fe80::1",
            "::",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_reachable(bad.parse().unwrap(), true), "{bad}");
        }
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            host_of("https://siem.example.com:8443/x?y"),
            Some("siem.example.com")
        );
        assert_eq!(host_of("http://[::1]:80/x"), Some("::1"));
        assert_eq!(host_of("https://u:p@10.0.0.1/"), Some("10.0.0.1"));
        assert_eq!(host_of("no-scheme"), None);
    }
}
