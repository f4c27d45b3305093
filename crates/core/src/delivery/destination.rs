//! Which addresses outbound calls may reach (SSRF guard). Checked on the *resolved* address the
//! connection will use, so a hostname cannot smuggle in a private target, nor can DNS rebinding
//! between check and connect. Loopback, private, link-local (cloud metadata included), CGNAT,
//! multicast, unspecified, documentation/benchmark and reserved ranges, and their IPv6
//! equivalents, are refused unless an allow-list entry covers them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::network::Cidr;

/// `Some(reason)` when `ip` is refused under `allow`.
pub fn refused(ip: IpAddr, allow: &[Cidr]) -> Option<&'static str> {
    if allow.iter().any(|c| c.contains(ip)) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private network")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("multicast or broadcast")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0) {
        Some("reserved for documentation, benchmarks or protocols")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some("unique local (private)")
    } else if seg[0] == 0xfd00 && seg[1] == 0x0ec2 {
        Some("cloud metadata")
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        Some("documentation")
    } else if seg[0] == 0x0064 && seg[1] == 0xff9b {
        // NAT64 embeds an IPv4 address in the last 32 bits: judge that address.
        let v4 = Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8);
        refused_v4(v4)
    } else if seg[0] == 0x2002 {
        // 6to4 embeds the IPv4 address in bits 16..48.
        let v4 = Ipv4Addr::new((seg[1] >> 8) as u8, seg[1] as u8, (seg[2] >> 8) as u8, seg[2] as u8);
        refused_v4(v4)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(refused(ip(bad), &[]).is_some(), "{bad}");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::5db8:d822"] {
            assert_eq!(refused(ip(good), &[]), None, "{good}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_what_it_names() {
        let allow = vec![Cidr::parse("127.0.0.0/8").unwrap()];
        assert_eq!(refused(ip("127.0.0.1"), &allow), None);
        assert_eq!(refused(ip("::ffff:127.0.0.1"), &allow), None);
        assert!(refused(ip("10.0.0.1"), &allow).is_some());
        assert!(refused(ip("::1"), &allow).is_some(), "IPv6 loopback is not 127/8");
    }
}
