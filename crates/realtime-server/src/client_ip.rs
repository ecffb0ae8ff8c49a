//! Who the client is, by IP, for every per-IP limit.
//!
//! The TCP peer is the client unless it is one of `[server] trusted_proxies`. Then the
//! configured header (`X-Forwarded-For`, or `Forwarded` of RFC 7239) is read from the right:
//! each proxy appends the address it received the request from, so hops are skipped while
//! they are trusted proxies, and the first untrusted one is the client. Everything left of it
//! was written by the client itself and is never believed. A hop that cannot be read stops
//! the walk at the last trusted address, so a garbled header never yields an address the
//! client chose.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4
//! peers) count as their IPv4 address everywhere.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The header a trusted proxy writes the client address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most cloud balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The client address of a request, as every per-IP limit sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Trusted proxies and the header they write.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// A `trusted_proxies` entry that is neither an address nor a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or a CIDR like 10.0.0.0/8")]
pub struct NotANetwork(pub String);

/// Parses one `trusted_proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address.
pub fn parse_net(entry: &str) -> Result<IpNet, NotANetwork> {
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|net| match net {
            // A mapped IPv4 network is the IPv4 network.
            IpNet::V6(v6) if v6.prefix_len() >= 96 && v6.addr().to_ipv4_mapped().is_some() => {
                let v4 = v6
                    .addr()
                    .to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                    .map(IpNet::V4)
                    .unwrap_or(net)
            }
            other => other.trunc(),
        })
        .map_err(|_| NotANetwork(entry.to_owned()))
}

impl Proxies {
    /// From validated config entries (see [`parse_net`]).
    pub fn new(entries: &[String], header: ForwardedHeader) -> Self {
        Self {
            nets: entries.iter().filter_map(|e| parse_net(e).ok()).collect(),
            header,
        }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request that came from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusted(client) {
            return client;
        }
        let values: Vec<&str> = headers
            .get_all(self.header.name())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let hops: Vec<&str> = values.iter().flat_map(|v| v.split(',')).collect();
        for hop in hops.iter().rev() {
            let parsed = match self.header {
                ForwardedHeader::XForwardedFor => parse_node(hop.trim()),
                ForwardedHeader::Forwarded => forwarded_for(hop),
            };
            let Some(ip) = parsed else {
                break;
            };
            client = ip.to_canonical();
            if !self.trusted(client) {
                break;
            }
        }
        client
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:5678`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim_matches('"');
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    s.parse::<IpAddr>().ok().or_else(|| {
        let (host, port) = s.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

/// The `for=` address of one `Forwarded` element (`for=1.2.3.4;proto=https`). `unknown` and
/// obfuscated identifiers (`_hidden`) are not addresses.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim()))?
    })
}

/// The key per-IP limits count by: an IPv4 address, or the /64 of an IPv6 address (which one
/// host usually holds whole).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut s = v6.segments();
            s[4..].fill(0);
            IpAddr::V6(s.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn proxies(nets: &[&str], header: ForwardedHeader) -> Proxies {
        let nets: Vec<String> = nets.iter().map(|s| s.to_string()).collect();
        Proxies::new(&nets, header)
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let p = Proxies::default();
        let h = headers("x-forwarded-for", &["6.6.6.6"]);
        assert_eq!(p.client_ip(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        // A peer outside the trusted list is not believed either.
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(p.client_ip(ip("203.0.113.9"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(
            &["10.0.0.0/8", "192.168.1.1"],
            ForwardedHeader::XForwardedFor,
        );
        // The client wrote a fake first hop; the edge proxy appended the real address.
        let h = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.7, 10.1.2.3"]);
        assert_eq!(p.client_ip(ip("192.168.1.1"), &h), ip("198.51.100.7"));
        // Several header lines are one list, in order.
        let h = headers("x-forwarded-for", &["6.6.6.6", "198.51.100.7:5050"]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        // Every hop trusted: the left-most is the client.
        let h = headers("x-forwarded-for", &["10.9.9.9, 10.1.1.1"]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(
            p.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_garbled_hop_stops_at_the_last_trusted_address() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["198.51.100.7, not-an-ip, 10.1.2.3"]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("10.1.2.3"));
    }

    #[test]
    fn forwarded_headers_of_rfc_7239() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let h = headers(
            "forwarded",
            &[
                r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2;by=10.0.0.3"#,
            ],
        );
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers("forwarded", &["for=unknown, for=10.0.0.2"]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        // The other header is ignored.
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(p.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_peers_count_as_ipv4() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["::ffff:198.51.100.7"]);
        assert_eq!(p.client_ip(ip("::ffff:10.0.0.1"), &h), ip("198.51.100.7"));
        assert_eq!(
            p.client_ip(ip("::ffff:203.0.113.9"), &HeaderMap::new()),
            ip("203.0.113.9")
        );
        // A mapped network in the list is the IPv4 network.
        let p = proxies(&["::ffff:10.0.0.0/104"], ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(p.client_ip(ip("10.3.3.3"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn entries_are_cidrs_or_addresses() {
        assert!(parse_net("10.0.0.0/8").is_ok());
        assert!(parse_net("127.0.0.1").is_ok());
        assert!(parse_net("fd00::/8").is_ok());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.internal").is_err());
        assert_eq!(limit_key(ip("2001:db8::1")), ip("2001:db8::"));
        assert_eq!(limit_key(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }
}
