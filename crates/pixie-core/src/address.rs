//! Which network addresses pixie may fetch from on a client's behalf (Client ID Metadata
//! Documents, and later `jwks_uri`): only public ones. A fetch whose URL a client chose
//! must not reach the operator's own network (SSRF): loopback, private, link-local,
//! shared, documentation, multicast and reserved ranges are refused, and so are IPv6
//! forms that embed such an IPv4 address. The fetcher checks the address it actually
//! connects to, not only the name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10: shared address space (carrier-grade NAT).
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24: IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15: benchmarking.
        || (a == 198 && (b == 18 || b == 19))
        // 240.0.0.0/4: reserved.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address in IPv6 clothing is judged as IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    // Only global unicast (2000::/3) is public; everything outside it (unique local,
    // link-local, site-local, discard, local-use NAT64 64:ff9b:1::/48, SRv6 5f00::/16,
    // IPv4-translated, …) is not. Within it, the special-purpose blocks are refused.
    (s[0] & 0xe000) == 0x2000
        // 2001::/23: IETF protocol assignments (Teredo, benchmarking, ORCHID, …).
        && !(s[0] == 0x2001 && s[1] < 0x0200)
        // 2001:db8::/32 and 3fff::/20: documentation.
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        && !(s[0] == 0x3fff && s[1] < 0x1000)
        // 6to4 (2002::/16) embeds an IPv4 address: refused outright.
        && s[0] != 0x2002
        // 3ffe::/16: the old 6bone test network.
        && s[0] != 0x3ffe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses() {
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "2001:4860:4860::8888",
            "3fff:1000::1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "192.0.2.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2002:7f00:1::",
            "64:ff9b:1::a01:203",
            "fec0::1",
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "100::1",
            "3fff::1",
            "5f00::1",
            "::ffff:0:a00:1",
            "3ffe::1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        assert!(is_public(ip("64:ff9b::8.8.8.8")), "NAT64 of a public address");
    }

    proptest::proptest! {
        /// An IPv4 address written as IPv6 (mapped or NAT64) gets the IPv4 verdict.
        #[test]
        fn ipv4_in_ipv6_clothing_is_judged_as_ipv4(a: u32) {
            let v4 = Ipv4Addr::from(a);
            let o = v4.octets();
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([o[0], o[1]]), u16::from_be_bytes([o[2], o[3]]));
            proptest::prop_assert_eq!(is_public(IpAddr::V4(v4)), is_public(IpAddr::V6(v4.to_ipv6_mapped())));
            proptest::prop_assert_eq!(is_public(IpAddr::V4(v4)), is_public(IpAddr::V6(nat64)));
        }
    }
}
