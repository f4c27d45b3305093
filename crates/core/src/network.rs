//! IP allow-lists: CIDR blocks and how the client address is found behind proxies. The address a
//! request came from is trusted only as far as it is a configured proxy: `X-Forwarded-For` is read
//! right to left, skipping trusted proxies, so a client cannot spoof its way past the list.

use std::net::IpAddr;

/// An IPv4 or IPv6 block such as `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as the IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n) as u128, 32, self.prefix) == masked(u32::from(a) as u128, 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, bits: u8, prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { v >> (bits - prefix) }
}

fn in_any(blocks: &[Cidr], ip: IpAddr) -> bool {
    blocks.iter().any(|b| b.contains(ip))
}

/// The client address: the peer, unless the peer is a trusted proxy, in which case the nearest
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted_proxies: &[Cidr]) -> IpAddr {
    if !in_any(trusted_proxies, peer) {
        return peer;
    }
    let Some(chain) = forwarded_for else { return peer };
    let mut client = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !in_any(trusted_proxies, ip) {
                    break;
                }
            }
            // Garbage in the chain: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    client
}

/// True when `ip` is allowed by `allow` (an empty list allows everyone).
pub fn allowed(allow: &[Cidr], ip: IpAddr) -> bool {
    allow.is_empty() || in_any(allow, ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        assert!(c("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!c("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(c("192.168.1.7").contains(ip("192.168.1.7")));
        assert!(c("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(c("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!c("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(c("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")), "mapped IPv4");
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }

    #[test]
    fn forwarded_for_is_trusted_only_through_configured_proxies() {
        let proxies = vec![c("127.0.0.1"), c("10.0.0.0/8")];
        // Direct client: the header is ignored, it could be forged.
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &proxies),
            ip("203.0.113.9")
        );
        // Through two trusted proxies: the first untrusted hop from the right.
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("1.2.3.4, 198.51.100.7, 10.0.0.2"), &proxies),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), None, &proxies), ip("127.0.0.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), Some("garbage"), &proxies), ip("127.0.0.1"));
        assert!(allowed(&[], ip("1.1.1.1")));
        assert!(!allowed(&[c("10.0.0.0/8")], ip("1.1.1.1")));
    }
}
