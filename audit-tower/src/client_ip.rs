//! The client's IP address: the socket peer, or the forwarded chain when the peer is a
//! trusted proxy.
//!
//! Forwarded headers are written by whoever sent the request, so they are worth only what the
//! hop that wrote them is worth. [`client_ip`] trusts them only when the socket peer is one of
//! the configured proxies, and then walks the chain **from the right** (the entry the nearest
//! proxy appended) towards the left, skipping hops that are themselves trusted proxies; the first
//! hop that is not a trusted proxy is the client. The leftmost entry, which any client can
//! write, is never taken on its own say-so, and the bytes left of the entry the walk stops at
//! are never read. The trusted networks must hold only proxies: a host in them is believed
//! about the hop before it.
//!
//! ```
//! use audit_tower::client_ip::{Cidr, ForwardedHeader, client_ip};
//! use http::HeaderMap;
//! use std::net::IpAddr;
//!
//! let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
//! let mut headers = HeaderMap::new();
//! // The client claimed to be 1.1.1.1; our proxies added what they saw.
//! headers.insert("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.5".parse().unwrap());
//! let peer: IpAddr = "10.0.0.9".parse().unwrap();
//!
//! let ip = client_ip(Some(peer), &headers, &proxies, ForwardedHeader::XForwardedFor);
//! assert_eq!(ip, Some("203.0.113.7".parse().unwrap()));
//!
//! // The same headers from a peer that is not a trusted proxy are ignored.
//! let stranger: IpAddr = "198.51.100.4".parse().unwrap();
//! let ip = client_ip(Some(stranger), &headers, &proxies, ForwardedHeader::XForwardedFor);
//! assert_eq!(ip, Some(stranger));
//! ```

use http::HeaderMap;
use http::header::{FORWARDED, HeaderName};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// The most forwarded entries walked (trusted hops and the client's entry) before giving up
/// (the client is then unknown).
pub const MAX_FORWARDED_HOPS: usize = 32;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or a single address.
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as dual-stack sockets report IPv4 peers)
/// are compared as the IPv4 address they map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with a `prefix`-bit mask; bits of `addr` past the prefix are
    /// cleared. Fails if `prefix` is longer than the address (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        // An IPv4-mapped network (`::ffff:10.0.0.0/104`) is the IPv4 network it maps. With a
        // shorter prefix it would be an IPv6 network around the mapped range (`::ffff:10.0.0.0/8`
        // is `::/8`, which holds `::1` and not one IPv4 peer, since those are compared as IPv4):
        // surely not what was meant.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() && prefix <= 128 => {
                if prefix < 96 {
                    return Err(CidrError::MappedPrefixTooShort { prefix });
                }
                (addr.to_canonical(), prefix - 96)
            }
            other => (other, prefix),
        };
        let (addr, prefix) = match addr {
            IpAddr::V4(v4) => {
                if prefix > 32 {
                    return Err(CidrError::PrefixTooLong { prefix, max: 32 });
                }
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
                (IpAddr::V4((u32::from(v4) & mask).into()), prefix)
            }
            IpAddr::V6(v6) => {
                if prefix > 128 {
                    return Err(CidrError::PrefixTooLong { prefix, max: 128 });
                }
                let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
                (IpAddr::V6((u128::from(v6) & mask).into()), prefix)
            }
        };
        Ok(Cidr { addr, prefix })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True when `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

impl From<IpAddr> for Cidr {
    /// The network of exactly one address.
    fn from(addr: IpAddr) -> Cidr {
        let addr = addr.to_canonical();
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, prefix }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `addr/prefix` or a bare address (a network of one).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        match s.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| CidrError::Syntax(s.to_owned()))?;
                let prefix: u8 = prefix.parse().map_err(|_| CidrError::Syntax(s.to_owned()))?;
                Cidr::new(addr, prefix)
            }
            None => s.parse::<IpAddr>().map(Cidr::from).map_err(|_| CidrError::Syntax(s.to_owned())),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a [`Cidr`] could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CidrError {
    /// Not `address/prefix` nor an address.
    Syntax(String),
    /// The prefix is longer than the address.
    PrefixTooLong {
        /// The prefix given.
        prefix: u8,
        /// The longest allowed (32 or 128).
        max: u8,
    },
    /// An IPv4-mapped address (`::ffff:a.b.c.d`) with a prefix shorter than 96, i.e. not
    /// within the mapped range.
    MappedPrefixTooShort {
        /// The prefix given.
        prefix: u8,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Syntax(s) => {
                write!(f, "{s:?} is not a CIDR network: write e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.1")
            }
            CidrError::PrefixTooLong { prefix, max } => write!(f, "prefix /{prefix} is longer than /{max}"),
            CidrError::MappedPrefixTooShort { prefix } => write!(
                f,
                "prefix /{prefix} on an IPv4-mapped address reaches beyond the mapped range: \
                 write the IPv4 network (10.0.0.0/8), or ::ffff:10.0.0.0/104 (96 + the IPv4 prefix)"
            ),
        }
    }
}

impl std::error::Error for CidrError {}

/// Which header the trusted proxies write. Only that header is read: a client could send the
/// other one, and no proxy of ours would have corrected it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`; the `for` parameter of each
    /// element is read.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name.
    pub fn name(self) -> HeaderName {
        match self {
            ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            ForwardedHeader::Forwarded => FORWARDED,
        }
    }
}

/// The client's IP address, or `None` when it cannot be known.
///
/// - No `peer` (a Unix socket, or no connect info): `None`.
/// - A peer outside `trusted`: the peer, whatever the headers say.
/// - A trusted peer: the entries of `header` (all its lines, in order) are walked from the
///   right; trusted hops are skipped and the first untrusted one is the client. If every
///   hop is trusted, the leftmost is the client (see below); with no header, the peer itself.
/// - A malformed entry met on the walk (not an IP address, `unknown`, an obfuscated
///   identifier, an empty entry, bytes that are not ASCII, a `Forwarded` element whose
///   quoted string is left open, a walk of more than [`MAX_FORWARDED_HOPS`] entries, the
///   client's own entry included): `None`,
///   never a guess further left.
///
/// Only the entries the walk reaches are decoded. Each line is split from its right end
/// (for `Forwarded`, on commas outside quoted strings, scanning from the right), so when a
/// proxy appends its entry to the line the client sent (nginx's
/// `$proxy_add_x_forwarded_for`), broken bytes on the client's side of the line
/// (`\xff, 203.0.113.7`, or `for=", for=203.0.113.7` with its open quote) do not make the
/// proxy's entry unreadable.
///
/// `trusted` must hold **only your proxies**. An address in it is believed about the entry
/// to its left, and when every hop is trusted the leftmost entry is taken as the client (as
/// RFC 7239 practice does): that entry was written by a host in `trusted`, so a client inside
/// a trusted network (a broad `10.0.0.0/8` that also holds workstations) can claim any
/// address. Name the proxies' own addresses or subnets.
///
/// Addresses are returned as their canonical form (IPv4-mapped IPv6 becomes IPv4); a port
/// written with an entry (`192.0.2.1:4711`, `[2001:db8::1]:80`) is dropped.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[Cidr],
    header: ForwardedHeader,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    let mut hops = 0;
    // Each line is split from its right end, and only the entries the walk reaches are
    // decoded: a proxy that appends to the client's line (nginx's `$proxy_add_x_forwarded_for`)
    // merges the client's bytes with its own entry, and broken bytes on the client's side
    // must not make the proxy's entry unreadable.
    for value in headers.get_all(header.name()).iter().rev() {
        let mut rest = Some(value.as_bytes());
        while let Some(line) = rest {
            let (left, entry) = match header {
                ForwardedHeader::XForwardedFor => split_last_xff(line),
                // An open quote reached by the walk: the element's bounds are unknown.
                ForwardedHeader::Forwarded => split_last_forwarded(line)?,
            };
            rest = left;
            hops += 1;
            if hops > MAX_FORWARDED_HOPS {
                return None;
            }
            let ip = match header {
                ForwardedHeader::XForwardedFor => parse_xff_entry(entry),
                ForwardedHeader::Forwarded => parse_forwarded_element(entry),
            }?
            .to_canonical();
            if !is_trusted(ip) {
                return Some(ip);
            }
            client = ip;
        }
    }
    Some(client)
}

/// The last `X-Forwarded-For` entry of `line`, and what is left of it (`None` when that was
/// the first entry).
fn split_last_xff(line: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match line.iter().rposition(|&b| b == b',') {
        Some(comma) => (Some(&line[..comma]), &line[comma + 1..]),
        None => (None, line),
    }
}

/// The last element of a `Forwarded` line (RFC 7239 §4), found by scanning from the right:
/// a comma inside a quoted string does not end it, a quote preceded by an odd number of
/// backslashes is escaped. `None` when the scan reaches the start of the line inside a
/// quoted string (the element's quote is left open). The bytes left of the element are not
/// looked at, except for the backslashes right before a quote.
fn split_last_forwarded(line: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let mut in_quotes = false;
    for i in (0..line.len()).rev() {
        match line[i] {
            b'"' => {
                let backslashes = line[..i].iter().rev().take_while(|&&b| b == b'\\').count();
                if backslashes % 2 == 0 {
                    in_quotes = !in_quotes;
                }
            }
            b',' if !in_quotes => return Some((Some(&line[..i]), &line[i + 1..])),
            _ => {}
        }
    }
    (!in_quotes).then_some((None, line))
}

/// One `X-Forwarded-For` entry: an address, optionally with a port.
fn parse_xff_entry(entry: &[u8]) -> Option<IpAddr> {
    parse_node(std::str::from_utf8(entry).ok()?.trim_matches([' ', '\t']))
}

/// A node: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
/// The port part may be anything (RFC 7239 allows obfuscated ports); it is dropped.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !(after.is_empty() || (after.starts_with(':') && after.len() > 1)) {
            return None;
        }
        return addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // IPv4 with a non-numeric (obfuscated) port.
    let (addr, port) = node.split_once(':')?;
    if port.is_empty() || port.contains(':') {
        return None;
    }
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The `for` node of one `Forwarded` element (`for=192.0.2.1;proto=https`). `None` when the
/// element has no usable `for`, has two, or is broken (a pair without `=`, a quote left open,
/// bytes that are not UTF-8).
fn parse_forwarded_element(element: &[u8]) -> Option<IpAddr> {
    let mut rest = Some(std::str::from_utf8(element).ok()?);
    let mut node = None;
    let mut seen_for = false;
    while let Some(pairs) = rest {
        let (pair, next) = split_first_unquoted(pairs, ';')?;
        rest = next;
        let pair = pair.trim_matches([' ', '\t']);
        if pair.is_empty() {
            continue;
        }
        let (name, raw) = pair.split_once('=')?;
        if !name.eq_ignore_ascii_case("for") {
            continue;
        }
        if seen_for {
            return None; // two `for` in one element: ambiguous
        }
        seen_for = true;
        node = unquote(raw).and_then(|v| parse_node(&v));
    }
    node
}

/// `s` up to the first `sep` outside double-quoted strings, and what follows it (`None`
/// when there is no such `sep`); `None` if a quote is left open.
fn split_first_unquoted(s: &str, sep: char) -> Option<(&str, Option<&str>)> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == sep {
            return Some((&s[..i], Some(&s[i + c.len_utf8()..])));
        }
    }
    (!in_quotes).then_some((s, None))
}

/// A token or a quoted-string value, unescaped.
fn unquote(raw: &str) -> Option<String> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Some(raw.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?);
        } else if c == '"' {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().expect("test network")).collect()
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        let name = HeaderName::from_bytes(name.as_bytes()).expect("test header name");
        for v in values {
            map.append(name.clone(), HeaderValue::from_str(v).expect("test header value"));
        }
        map
    }

    fn xff(peer: &str, trusted: &[&str], values: &[&str]) -> Option<IpAddr> {
        client_ip(Some(ip(peer)), &headers("x-forwarded-for", values), &nets(trusted), ForwardedHeader::XForwardedFor)
    }

    fn fwd(peer: &str, trusted: &[&str], values: &[&str]) -> Option<IpAddr> {
        client_ip(Some(ip(peer)), &headers("forwarded", values), &nets(trusted), ForwardedHeader::Forwarded)
    }

    #[test]
    fn cidr_parses_and_contains() {
        let net: Cidr = "10.0.0.0/8".parse().expect("valid");
        assert!(net.contains(ip("10.255.1.2")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::1")));
        let host: Cidr = "192.0.2.7".parse().expect("valid");
        assert_eq!(host.prefix(), 32);
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));
        let v6: Cidr = "fd00::/8".parse().expect("valid");
        assert!(v6.contains(ip("fd12:3456::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().expect("valid");
        assert!(all.contains(ip("203.0.113.1")));
        let all6: Cidr = "::/0".parse().expect("valid");
        assert!(all6.contains(ip("2001:db8::1")));
    }

    #[test]
    fn cidr_clears_host_bits_and_displays() {
        let net: Cidr = "10.1.2.3/16".parse().expect("valid");
        assert_eq!(net.to_string(), "10.1.0.0/16");
        assert!(net.contains(ip("10.1.200.200")));
    }

    #[test]
    fn cidr_rejects_bad_input() {
        assert!(matches!("10.0.0.0/33".parse::<Cidr>(), Err(CidrError::PrefixTooLong { prefix: 33, max: 32 })));
        assert!(matches!("::/129".parse::<Cidr>(), Err(CidrError::PrefixTooLong { .. })));
        assert!(matches!("10.0.0/8".parse::<Cidr>(), Err(CidrError::Syntax(_))));
        assert!(matches!("10.0.0.0/x".parse::<Cidr>(), Err(CidrError::Syntax(_))));
        assert!(matches!("localhost".parse::<Cidr>(), Err(CidrError::Syntax(_))));
        assert!(matches!("".parse::<Cidr>(), Err(CidrError::Syntax(_))));
        // An IPv4-mapped address with a prefix shorter than the mapped range's /96 would be an
        // IPv6 network holding `::1` and no IPv4 peer.
        for short in ["::ffff:10.0.0.0/8", "::ffff:192.0.2.1/64", "::ffff:0.0.0.0/95"] {
            let error = short.parse::<Cidr>().expect_err(short);
            assert!(matches!(error, CidrError::MappedPrefixTooShort { .. }), "{short}: {error:?}");
            assert!(error.to_string().contains("write the IPv4 network"), "{error}");
        }
        assert!(matches!("::ffff:0.0.0.0/129".parse::<Cidr>(), Err(CidrError::PrefixTooLong { .. })));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let net: Cidr = "127.0.0.0/8".parse().expect("valid");
        assert!(net.contains(ip("::ffff:127.0.0.1")));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().expect("valid");
        assert!(mapped.contains(ip("10.9.9.9")));
        assert!(!mapped.contains(ip("::1")));
        let all_mapped: Cidr = "::ffff:0.0.0.0/96".parse().expect("valid");
        assert_eq!(all_mapped.to_string(), "0.0.0.0/0");
        // The peer is returned in canonical form.
        let got = client_ip(Some(ip("::ffff:198.51.100.1")), &HeaderMap::new(), &[], ForwardedHeader::XForwardedFor);
        assert_eq!(got, Some(ip("198.51.100.1")));
    }

    #[test]
    fn no_peer_is_unknown() {
        let h = headers("x-forwarded-for", &["203.0.113.1"]);
        assert_eq!(client_ip(None, &h, &nets(&["0.0.0.0/0"]), ForwardedHeader::XForwardedFor), None);
    }

    #[test]
    fn untrusted_peer_ignores_spoofed_headers() {
        assert_eq!(xff("198.51.100.4", &[], &["1.1.1.1"]), Some(ip("198.51.100.4")));
        assert_eq!(xff("198.51.100.4", &["10.0.0.0/8"], &["1.1.1.1, 10.0.0.1"]), Some(ip("198.51.100.4")));
        assert_eq!(fwd("198.51.100.4", &["10.0.0.0/8"], &["for=1.1.1.1"]), Some(ip("198.51.100.4")));
    }

    #[test]
    fn trusted_peer_without_header_is_the_client() {
        assert_eq!(xff("10.0.0.1", &["10.0.0.0/8"], &[]), Some(ip("10.0.0.1")));
    }

    #[test]
    fn walks_from_the_right_to_the_first_untrusted_hop() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7"]), Some(ip("203.0.113.7")));
        // The client's own claim (leftmost) is not believed.
        assert_eq!(xff("10.0.0.9", &trusted, &["1.1.1.1, 203.0.113.7"]), Some(ip("203.0.113.7")));
        // Trusted hops are skipped.
        assert_eq!(xff("10.0.0.9", &trusted, &["1.1.1.1, 203.0.113.7, 10.0.0.5, 10.0.0.6"]), Some(ip("203.0.113.7")));
        // Even a trusted-looking address left of an untrusted hop is not reached.
        assert_eq!(xff("10.0.0.9", &trusted, &["10.0.0.1, 203.0.113.7"]), Some(ip("203.0.113.7")));
    }

    #[test]
    fn every_hop_trusted_gives_the_leftmost() {
        assert_eq!(xff("10.0.0.9", &["10.0.0.0/8"], &["10.1.1.1, 10.2.2.2"]), Some(ip("10.1.1.1")));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(xff("10.0.0.9", &trusted, &["1.1.1.1, 203.0.113.7", "10.0.0.5"]), Some(ip("203.0.113.7")));
        assert_eq!(xff("10.0.0.9", &trusted, &["1.1.1.1", "203.0.113.7, 10.0.0.5"]), Some(ip("203.0.113.7")));
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7", "10.0.0.5", "10.0.0.6"]), Some(ip("203.0.113.7")));
    }

    #[test]
    fn malformed_entries_make_the_client_unknown() {
        let trusted = ["10.0.0.0/8"];
        // Malformed where the walk stops: unknown, never the entry further left.
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7, garbage"]), None);
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7, unknown"]), None);
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7, , 10.0.0.5"]), None);
        assert_eq!(xff("10.0.0.9", &trusted, &[""]), None);
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7,"]), None);
        assert_eq!(xff("10.0.0.9", &trusted, &["300.1.1.1"]), None);
        assert_eq!(xff("10.0.0.9", &trusted, &["fe80::1%eth0"]), None);
        // Garbage to the left of the first untrusted hop is never read.
        assert_eq!(xff("10.0.0.9", &trusted, &["garbage, 203.0.113.7"]), Some(ip("203.0.113.7")));
    }

    fn raw(header: ForwardedHeader, peer: &str, trusted: &[&str], lines: &[&[u8]]) -> Option<IpAddr> {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(header.name(), HeaderValue::from_bytes(line).expect("obs-text is allowed"));
        }
        client_ip(Some(ip(peer)), &map, &nets(trusted), header)
    }

    #[test]
    fn bytes_that_are_not_ascii_are_unknown_where_the_walk_reaches_them() {
        let xff = |lines: &[&[u8]]| raw(ForwardedHeader::XForwardedFor, "10.0.0.9", &["10.0.0.0/8"], lines);
        assert_eq!(xff(&[b"203.0.113.7\xff"]), None);
        assert_eq!(xff(&[b"1.1.1.1\xff, 10.0.0.5"]), None, "reached past a trusted hop");
        assert_eq!(xff(&[b"203.0.113.7", b"10.0.0.5\xff"]), None);
        // The client's bytes, left of the entry the proxy appended to the same line, are
        // never decoded: broken ones cannot blank the proxy's good entry.
        assert_eq!(xff(&[b"\xff, 203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(xff(&[b"\xff\xfe, 203.0.113.7, 10.0.0.5"]), Some(ip("203.0.113.7")));
        assert_eq!(xff(&[b"\xff", b"203.0.113.7"]), Some(ip("203.0.113.7")));
        let fwd = |lines: &[&[u8]]| raw(ForwardedHeader::Forwarded, "10.0.0.9", &["10.0.0.0/8"], lines);
        assert_eq!(fwd(&[b"for=\xff, for=203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(fwd(&[b"for=\"\xff\", for=203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(fwd(&[b"for=203.0.113.7\xff"]), None);
        assert_eq!(fwd(&[b"for=\"203.0.113.7\xff\""]), None);
    }

    #[test]
    fn xff_entries_with_ports_and_brackets() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7:4711"]), Some(ip("203.0.113.7")));
        assert_eq!(xff("10.0.0.9", &trusted, &["[2001:db8::1]:80"]), Some(ip("2001:db8::1")));
        assert_eq!(xff("10.0.0.9", &trusted, &["[2001:db8::1]"]), Some(ip("2001:db8::1")));
        assert_eq!(xff("10.0.0.9", &trusted, &["2001:db8::1"]), Some(ip("2001:db8::1")));
        assert_eq!(xff("10.0.0.9", &trusted, &["\t203.0.113.7 "]), Some(ip("203.0.113.7")));
        assert_eq!(xff("10.0.0.9", &trusted, &["[2001:db8::1]x"]), None);
        assert_eq!(xff("10.0.0.9", &trusted, &["203.0.113.7:"]), None);
    }

    #[test]
    fn too_many_trusted_hops_is_unknown() {
        let hops = vec!["10.0.0.1"; MAX_FORWARDED_HOPS + 1].join(", ");
        assert_eq!(xff("10.0.0.9", &["10.0.0.0/8"], &[&hops]), None);
        let hops = vec!["10.0.0.1"; MAX_FORWARDED_HOPS].join(", ");
        assert_eq!(xff("10.0.0.9", &["10.0.0.0/8"], &[&hops]), Some(ip("10.0.0.1")));
    }

    #[test]
    fn ipv6_proxies() {
        let trusted = ["fd00::/8"];
        assert_eq!(xff("fd00::9", &trusted, &["2001:db8::7, fd00::1"]), Some(ip("2001:db8::7")));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let mut map = headers("forwarded", &["for=1.1.1.1"]);
        map.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = Some(ip("10.0.0.9"));
        assert_eq!(client_ip(peer, &map, &trusted, ForwardedHeader::XForwardedFor), Some(ip("203.0.113.7")));
        assert_eq!(client_ip(peer, &map, &trusted, ForwardedHeader::Forwarded), Some(ip("1.1.1.1")));
    }

    #[test]
    fn forwarded_basic_walk() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(
            fwd("10.0.0.9", &trusted, &["for=1.1.1.1, for=203.0.113.7;proto=https, for=10.0.0.5;by=10.0.0.9"]),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=1.1.1.1", "for=203.0.113.7"]), Some(ip("203.0.113.7")));
    }

    #[test]
    fn forwarded_quoted_values() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"[2001:db8:cafe::17]:4711\""]), Some(ip("2001:db8:cafe::17")));
        assert_eq!(fwd("10.0.0.9", &trusted, &["For=\"203.0.113.7:47011\""]), Some(ip("203.0.113.7")));
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"203.0.113.7:_port\""]), Some(ip("203.0.113.7")));
        // A comma inside a quoted string does not split elements.
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=203.0.113.7;ext=\"a,b\""]), Some(ip("203.0.113.7")));
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"\\[2001:db8::1\\]\""]), Some(ip("2001:db8::1")));
    }

    #[test]
    fn forwarded_malformed_is_unknown() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=unknown"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=_hidden"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=203.0.113.7, proto=https"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"203.0.113.7"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=203.0.113.7;for=198.51.100.1"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"a\"b\""]), None);
        // An element the walk reaches whose quote is left open.
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"203.0.113.7, for=10.0.0.5"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\", for=10.0.0.5"]), None);
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"a, b\", for=10.0.0.5"]), None);
        // Malformed left of the client is never read.
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=unknown, for=203.0.113.7"]), Some(ip("203.0.113.7")));
    }

    #[test]
    fn an_open_quote_left_of_the_client_does_not_swallow_the_proxys_element() {
        let trusted = ["10.0.0.0/8"];
        // A proxy appending to the client's line: the client's open quote would, read from
        // the left, run over the proxy's element. Read from the right, it is never reached.
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\", for=203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"a, for=\"[2001:db8::7]:80\""]), Some(ip("2001:db8::7")));
        assert_eq!(fwd("10.0.0.9", &trusted, &["\"\"\", for=203.0.113.7;proto=https"]), Some(ip("203.0.113.7")));
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=\"\\\", for=203.0.113.7"]), Some(ip("203.0.113.7")));
        // Quoted strings the walk reaches are still read whole: a comma or an escaped quote
        // inside one does not split it.
        assert_eq!(fwd("10.0.0.9", &trusted, &["for=203.0.113.7;ext=\"a, b\\\", c\""]), Some(ip("203.0.113.7")));
        assert_eq!(
            fwd("10.0.0.9", &trusted, &["for=1.1.1.1, for=203.0.113.7;ext=\"x,\\\\\", for=10.0.0.5"]),
            Some(ip("203.0.113.7"))
        );
    }
}
