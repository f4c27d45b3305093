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
    } else if seg[0] & 0xffc0 == 0xfec0 {
        Some("site-local (deprecated, private)")
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some("unique local (private)")
    } else if seg[0] == 0xfd00 && seg[1] == 0x0ec2 {
        Some("cloud metadata")
    } else if (seg[0] == 0x2001 && seg[1] == 0x0db8) || seg[0] & 0xfff0 == 0x3ff0 {
        Some("documentation")
    } else if let Some(reason) = embedded_v4_refusal(seg) {
        Some(reason)
    } else if seg[0] == 0x0100 && seg[1..4] == [0, 0, 0] {
        Some("discard-only")
    } else if seg[0] == 0x2001
        && (seg[1] == 0x0002 && seg[2] == 0 || seg[1] & 0xfff0 == 0x0010 || seg[1] & 0xfff0 == 0x0020)
    {
        Some("reserved for benchmarks or identifiers")
    } else {
        None
    }
}

/// The IPv4 address held in two 16-bit segments.
fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Every IPv6 form that carries an IPv4 address is judged by that address's rules, so no
/// translation or tunnelling prefix reaches a refused IPv4 target. (`::ffff:0:0/96` is handled by
/// the caller, which also lets the allow-list match the mapped address.)
fn embedded_v4_refusal(seg: [u16; 8]) -> Option<&'static str> {
    let judge = |v4: Ipv4Addr, what: &'static str| refused_v4(v4).map(|_| what);
    if seg[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (`::a.b.c.d`, deprecated): never a real IPv6 destination.
        return judge(v4_of(seg[6], seg[7]), "IPv4-compatible IPv6 of a refused address")
            .or(Some("IPv4-compatible IPv6 (deprecated)"));
    }
    if seg[..4] == [0, 0, 0, 0] && seg[4] == 0xffff && seg[5] == 0 {
        // IPv4-translated (SIIT, `::ffff:0:a.b.c.d`).
        return judge(v4_of(seg[6], seg[7]), "IPv4-translated IPv6 of a refused address");
    }
    if seg[0] == 0x0064 && seg[1] == 0xff9b {
        // NAT64, well-known `64:ff9b::/96` and local-use `64:ff9b:1::/48`: the last 32 bits.
        return judge(v4_of(seg[6], seg[7]), "NAT64 of a refused address");
    }
    if seg[0] == 0x2002 {
        // 6to4 embeds the IPv4 address in bits 16..48.
        return judge(v4_of(seg[1], seg[2]), "6to4 of a refused address");
    }
    if seg[0] == 0x2001 && seg[1] == 0 {
        // Teredo: the server's address in bits 32..64, the client's inverted in the last 32.
        return judge(v4_of(seg[2], seg[3]), "Teredo via a refused server")
            .or_else(|| judge(v4_of(!seg[6], !seg[7]), "Teredo of a refused address"));
    }
    if (seg[4] & 0xfdff) == 0 && seg[5] == 0x5efe {
        // ISATAP interface identifier (`…:0:5efe:a.b.c.d` or `…:200:5efe:a.b.c.d`).
        return judge(v4_of(seg[6], seg[7]), "ISATAP of a refused address");
    }
    None
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
            // IPv4-compatible, any embedded address.
            "::127.0.0.1",
            "::10.0.0.1",
            "::169.254.169.254",
            "::8.8.8.8",
            // IPv4-translated, NAT64 (well-known and local-use), 6to4, Teredo, ISATAP.
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b::127.0.0.1",
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::10.1.2.3",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001:0:a00:1::1",
            "2001:db8:1::5efe:127.0.0.1",
            "2606:4700::200:5efe:c0a8:101",
            // Other special ranges.
            "fec0::1",
            "100::1",
            "3fff::1",
            "2001:2::1",
            "2001:10::1",
        ] {
            assert!(refused(ip(bad), &[]).is_some(), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::5db8:d822",
            "::ffff:0:5db8:d822",
            "2002:5db8:d822::1",
            "2001:0:5db8:d822:0:0:a247:2ddd",
            "2606:4700::5efe:5db8:d822",
        ] {
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
