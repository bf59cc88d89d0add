//! Who is asking, and at which URL: the peer address, or behind a configured trusted
//! proxy the address, scheme and host it forwards (`X-Forwarded-For`, `-Proto`,
//! `-Host`). Headers from any other peer are ignored, so a client can choose neither
//! its address nor the issuer; a configured `--public-url` always wins.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// Addresses and networks (`10.0.0.0/8`, `::1`) whose forwarded headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses a comma- or space-separated list of addresses and CIDR networks.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, len) = match item.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("trusted proxy '{item}': not an address or network"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("trusted proxy '{item}': bad prefix length"))?,
                None => max,
            };
            nets.push((ip, len));
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, len)| in_network(ip, *net, *len))
    }

    /// Whether any proxy is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let (a, b, bits): (u128, u128, u32) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a).into(), u32::from(b).into(), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        (IpAddr::V6(a), IpAddr::V4(b)) => match a.to_ipv4_mapped() {
            Some(a) => (u32::from(a).into(), u32::from(b).into(), 32),
            None => return false,
        },
        _ => return false,
    };
    let shift = bits - u32::from(len);
    shift >= bits || (a >> shift) == (b >> shift)
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address in `X-Forwarded-For` (walking from the right).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    // Walk from the right (the hop our proxy added) while the hops are our proxies.
    // A hop that does not parse ends the walk at the last trusted one: what lies to
    // its left was written by someone else.
    let mut nearest = peer;
    for hop in hops.into_iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted.contains(ip) => nearest = ip,
            Some(ip) => return ip,
            None => return nearest,
        }
    }
    nearest
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (addr, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The public base URL a trusted proxy forwards (`X-Forwarded-Proto` and
/// `X-Forwarded-Host`), if the peer is trusted and the values are well formed.
pub fn forwarded_base(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Option<String> {
    if !trusted.contains(peer) {
        return None;
    }
    // The rightmost value: the one our proxy added. A proxy that appends to what the
    // client sent leaves the client's own values to the left.
    let last = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_owned())
    };
    let host = last("x-forwarded-host")?;
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let proto = match last("x-forwarded-proto").as_deref() {
        None | Some("http") => "http",
        Some("https") => "https",
        Some(_) => return None,
    };
    host_ok.then(|| format!("{proto}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn networks_and_forwarding() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7 ::1").unwrap();
        assert!(t.contains("10.2.3.4".parse().unwrap()));
        assert!(!t.contains("11.2.3.4".parse().unwrap()));
        assert!(t.contains("192.168.1.7".parse().unwrap()));
        assert!(t.contains("::1".parse().unwrap()));
        assert!(t.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("nope").is_err());
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9, 10.0.0.2"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &h, &t),
            "203.0.113.9".parse::<IpAddr>().unwrap(),
            "the nearest untrusted hop"
        );
        assert_eq!(
            client_ip(stranger, &h, &t),
            stranger,
            "untrusted peers cannot choose their address"
        );
        // A hop with a port is an address; one that does not parse ends the walk.
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 203.0.113.9:4711"));
        assert_eq!(client_ip(proxy, &h, &t), "203.0.113.9".parse::<IpAddr>().unwrap());
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, junk"));
        assert_eq!(
            client_ip(proxy, &h, &t),
            proxy,
            "not the client-written hop left of junk"
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("[2001:db8::7]:443"));
        assert_eq!(client_ip(proxy, &h, &t), "2001:db8::7".parse::<IpAddr>().unwrap());
        // Forwarded host and proto: the rightmost value, whatever the client prepended.
        let mut f = HeaderMap::new();
        f.insert(
            "x-forwarded-host",
            HeaderValue::from_static("evil.example, login.example.com"),
        );
        f.insert("x-forwarded-proto", HeaderValue::from_static("http, https"));
        assert_eq!(
            forwarded_base(proxy, &f, &t).as_deref(),
            Some("https://login.example.com")
        );
        f.append("x-forwarded-host", HeaderValue::from_static("proxy.example"));
        assert_eq!(forwarded_base(proxy, &f, &t).as_deref(), Some("https://proxy.example"));
    }
}
