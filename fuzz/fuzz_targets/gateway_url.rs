//! Fuzz target: gateway URL canonicalisation, `gw_cred::GatewayKey::parse`,
//! on arbitrary strings (the bytes read as UTF-8, invalid sequences
//! replaced).
//!
//! Properties (the host the input names is read with the url crate, the
//! parser gw-cred uses, so the checks are about what gw does with it):
//! - it never panics; a refusal is `InvalidUrl`, and an input over 2048
//!   bytes is always refused;
//! - an accepted input has no user info, path (other than `/`), query or
//!   fragment, and its key is `scheme://host:port`: the scheme the input's
//!   (ws, wss, http or https), the port explicit (the input's, else the
//!   scheme's default), the host non-empty, without upper case, white space,
//!   `@ / \ ? #` or a trailing dot, and either a dotted-quad IPv4 address, a
//!   bracketed IPv6 address in its standard form, or a domain that the URL
//!   parser reads back as that same domain (not as an IP address);
//! - the key's string re-parses to the same key (idempotent), and an IP
//!   host is exactly the address the input names;
//! - `is_loopback()` is true iff the host is `127.0.0.1`, and every loopback
//!   spelling (`localhost` or `localhost.`, 127.0.0.0/8, `::1`,
//!   `::ffff:127.0.0.0/104`, in any form the URL parser reads as one of
//!   them) maps there: THREATS CRED-5;
//! - a refusal's message is exactly the input from its last `@` on (or all
//!   of it) and a reason that owes nothing to the input (gw-cred's or the
//!   url crate's): never the text before that `@`, where user info may hold
//!   a password.
//!
//! `GW_FUZZ_DEBUG=1` prints each input and result.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use gw_cred::{ErrorKind, GatewayKey};
use libfuzzer_sys::fuzz_target;
use url::{Host, Url};

/// A domain without the one trailing dot of its fully qualified form.
fn fqdn(d: &str) -> &str {
    d.strip_suffix('.').unwrap_or(d)
}

/// The host of `url` is loopback (an independent reading of the rule).
fn names_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(a)) => a.octets()[0] == 127,
        Some(Host::Ipv6(a)) => {
            let s = a.segments();
            a == Ipv6Addr::LOCALHOST || (s[..6] == [0, 0, 0, 0, 0, 0xffff] && s[6] >> 8 == 127)
        }
        Some(Host::Domain(d)) => fqdn(d) == "localhost",
        None => false,
    }
}

fn accepted(input: &str, key: &GatewayKey) {
    let s = key.as_str();
    assert_eq!(key.to_string(), s, "Display differs from as_str");
    let url = Url::parse(input).unwrap_or_else(|e| panic!("accepted {input:?}, which the url crate refuses: {e}"));
    assert!(url.username().is_empty() && url.password().is_none(), "accepted user info: {input:?} -> {s}");
    assert!(matches!(url.path(), "" | "/"), "accepted a path: {input:?} -> {s}");
    assert!(url.query().is_none() && url.fragment().is_none(), "accepted a query or fragment: {input:?}");

    // scheme://host:port
    let (scheme, rest) = s.split_once("://").unwrap_or_else(|| panic!("no `://` in {s}"));
    assert!(matches!(scheme, "ws" | "wss" | "http" | "https"), "scheme of {s}");
    assert_eq!(scheme, url.scheme(), "the scheme changed: {input:?} -> {s}");
    let (host, port) = rest.rsplit_once(':').unwrap_or_else(|| panic!("no port in {s}"));
    assert!(
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && (port == "0" || !port.starts_with('0')),
        "the port of {s} is not plain decimal"
    );
    assert_eq!(port.parse::<u16>().ok(), Some(key.port()), "port() differs from {s}");
    assert_eq!(Some(key.port()), url.port_or_known_default(), "not the input's (or default) port: {input:?} -> {s}");

    assert!(!host.is_empty(), "empty host in {s}");
    assert!(
        !host.chars().any(|c| c.is_ascii_uppercase() || c.is_whitespace() || c.is_control() || "@/\\?#".contains(c)),
        "the host of {s} is not canonical"
    );
    assert!(!host.ends_with('.'), "trailing dot in the host of {s}");
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or_else(|| panic!("unclosed IPv6 host in {s}"));
        let a: Ipv6Addr = inner.parse().unwrap_or_else(|_| panic!("bad IPv6 host in {s}"));
        assert_eq!(a.to_string(), inner, "IPv6 host of {s} not in standard form");
    } else if let Ok(a) = host.parse::<Ipv4Addr>() {
        assert_eq!(a.to_string(), host, "IPv4 host of {s} not in standard form");
    } else {
        match Host::parse(host) {
            Ok(Host::Domain(d)) => assert_eq!(d, host, "the domain of {s} is not in the URL parser's form"),
            other => panic!("the host of {s} reads back as {other:?}, not as itself ({input:?})"),
        }
    }

    // Loopback: exactly 127.0.0.1, and every loopback spelling maps there.
    assert_eq!(key.is_loopback(), host == "127.0.0.1", "is_loopback() disagrees with the host of {s} ({input:?})");
    assert_eq!(key.is_loopback(), names_loopback(&url), "loopback misjudged: {input:?} -> {s}");
    match url.host() {
        Some(Host::Ipv4(a)) if !a.is_loopback() => assert_eq!(host, a.to_string(), "{input:?} -> {s}"),
        Some(Host::Ipv6(a)) if !names_loopback(&url) => assert_eq!(host, format!("[{a}]"), "{input:?} -> {s}"),
        Some(Host::Domain(d)) if !names_loopback(&url) => {
            assert_eq!(host, fqdn(d), "not the input's domain: {input:?} -> {s}");
        }
        _ => {}
    }

    // Idempotent.
    let again = GatewayKey::parse(s).unwrap_or_else(|e| panic!("the key {s} does not re-parse: {e}"));
    assert_eq!(&again, key, "re-parsing {s} gives another key ({input:?})");
}

/// The reasons `GatewayKey::parse` gives (crates/cred/src/key.rs), besides
/// the url crate's own parse errors.
const REASONS: &[&str] = &[
    "longer than 2048 bytes",
    "the scheme must be ws, wss, http or https",
    "credentials in the URL are refused (they would be stored and logged as part of the key)",
    "a gateway URL has no path",
    "a gateway URL has no query or fragment",
    "no host",
    "the host is not a domain name in canonical form (an empty label?)",
    "the canonical form would be longer than 2048 bytes",
];

fn refused(input: &str, err: &gw_cred::Error) {
    assert_eq!(err.kind(), ErrorKind::InvalidUrl, "refused as {:?}: {err}", err.kind());
    // The message is the input from its last `@` on (what may hold a
    // password, before it, is never shown), or all of it, and a reason that
    // owes nothing to the input. Checked as a whole: a substring test would
    // teach the fuzzer the message's own words.
    let shown = match input.rfind('@') {
        Some(at) => format!("…{}", &input[at..]),
        None => input.to_owned(),
    };
    let msg = err.message();
    let why = msg
        .strip_prefix(&format!("`{}`: ", shown.escape_debug()))
        .unwrap_or_else(|| panic!("the error shows more than the text from the last `@`: {input:?} -> {msg}"));
    let url_errors = [
        url::ParseError::EmptyHost,
        url::ParseError::IdnaError,
        url::ParseError::InvalidPort,
        url::ParseError::InvalidIpv4Address,
        url::ParseError::InvalidIpv6Address,
        url::ParseError::InvalidDomainCharacter,
        url::ParseError::RelativeUrlWithoutBase,
        url::ParseError::RelativeUrlWithCannotBeABaseBase,
        url::ParseError::SetHostOnCannotBeABaseUrl,
        url::ParseError::Overflow,
    ];
    assert!(
        REASONS.contains(&why) || url_errors.iter().any(|e| e.to_string() == why),
        "unexpected reason {why:?} for {input:?}"
    );
    assert_eq!(err.to_string(), format!("{}: {msg}", err.op()), "the error shows more than its message");
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let result = GatewayKey::parse(&input);
    if std::env::var_os("GW_FUZZ_DEBUG").is_some() {
        eprintln!("{input:?} -> {result:?}");
    }
    match result {
        Ok(key) => {
            assert!(input.len() <= 2048, "accepted an input over 2048 bytes");
            accepted(&input, &key);
        }
        Err(err) => refused(&input, &err),
    }
});
