//! [`GatewayKey`]: the canonical form of a gateway URL, the key credential
//! records are stored under.
//!
//! Canonical form: `scheme://host:port` with the scheme one of ws, wss,
//! http, https; the host lower-cased (the `url` crate's WHATWG parsing, which
//! also normalises numeric IPv4 forms); the port always explicit (80 for
//! ws/http, 443 for wss/https when absent); and every loopback-equivalent
//! host — `localhost`, `127.0.0.0/8`, `::1`, `::ffff:127.0.0.0/104` — written
//! as `127.0.0.1`, so they are one gateway (THREATS CRED-5). A URL with user
//! info, a path other than `/`, a query or a fragment is refused: a gateway is
//! an origin, and silently dropping parts would merge different things.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use url::{Host, Url};

use crate::error::{Error, ErrorKind, Result};

/// The canonical key of a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayKey {
    canonical: String,
    loopback: bool,
    port: u16,
}

impl GatewayKey {
    /// Parses and canonicalises a gateway URL.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for an unparsable URL, another scheme, user
    /// info, a path, a query or a fragment.
    ///
    /// # Security
    /// THREATS CRED-5: loopback-equivalent URLs are one key; a host that is
    /// not loopback (`localhost.example`, `127.0.0.1.nip.io`) never is.
    pub fn parse(input: &str) -> Result<Self> {
        const OP: &str = "parse gateway url";
        // The URL is repeated in errors, except anything up to its last `@`:
        // user info there may hold a password.
        let shown = match input.rfind('@') {
            Some(at) => format!("…{}", &input[at..]),
            None => input.to_owned(),
        };
        let bad = |why: &str| Error::new(ErrorKind::InvalidUrl, OP, format!("`{}`: {why}", shown.escape_debug()));
        if input.len() > 2048 {
            return Err(bad("longer than 2048 bytes"));
        }
        let url = Url::parse(input).map_err(|e| bad(&e.to_string()))?;
        let scheme = url.scheme();
        let default_port = match scheme {
            "ws" | "http" => 80,
            "wss" | "https" => 443,
            _ => return Err(bad("the scheme must be ws, wss, http or https")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials in the URL are refused (they would be stored and logged as part of the key)"));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(bad("a gateway URL has no path"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a gateway URL has no query or fragment"));
        }
        let port = url.port().unwrap_or(default_port);
        let (host, loopback) = match url.host() {
            Some(Host::Domain(d)) => {
                // One trailing dot is the fully qualified form of the same
                // name; more would be an empty label. Without its dot the
                // name must read back as this same domain (`127.0.0.1..` or
                // `0x7f.1..` would read as an address, `a.1..` not at all),
                // or the key would not re-parse to itself.
                let d = d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase();
                if d.is_empty() {
                    return Err(bad("no host"));
                }
                if d.ends_with('.') || !matches!(Host::parse(&d), Ok(Host::Domain(ref again)) if *again == d) {
                    return Err(bad("the host is not a domain name in canonical form (an empty label?)"));
                }
                if d == "localhost" { ("127.0.0.1".to_owned(), true) } else { (d, false) }
            }
            Some(Host::Ipv4(v4)) => canonical_ip(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => canonical_ip(IpAddr::V6(v6)),
            None => return Err(bad("no host")),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let canonical = format!("{scheme}://{host}:{port}");
        // A key is parsed again when read back, so it must be within the
        // limit too (the explicit port can make it longer than the input).
        if canonical.len() > 2048 {
            return Err(bad("the canonical form would be longer than 2048 bytes"));
        }
        Ok(Self { canonical, loopback, port })
    }

    /// The canonical string, e.g. `ws://127.0.0.1:18789`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// `true` when the host is loopback (so the gateway is on this machine).
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The port (explicit or the scheme's default).
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The canonical text of an IP host and whether it is loopback.
fn canonical_ip(ip: IpAddr) -> (String, bool) {
    if gw_token::is_loopback(ip) {
        return (Ipv4Addr::LOCALHOST.to_string(), true);
    }
    match ip {
        IpAddr::V4(v4) => (v4.to_string(), false),
        IpAddr::V6(v6) => (format!("[{v6}]"), false),
    }
}

impl fmt::Display for GatewayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        GatewayKey::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn loopback_equivalents_are_one_key() {
        for u in [
            "ws://localhost:18789",
            "ws://127.0.0.1:18789",
            "ws://[::1]:18789",
            "ws://[::ffff:127.0.0.1]:18789",
            "ws://127.3.2.1:18789/",
            "WS://LOCALHOST:18789",
            "ws://localhost.:18789",
        ] {
            assert_eq!(key(u), "ws://127.0.0.1:18789", "{u}");
        }
        assert_eq!(key("wss://localhost"), "wss://127.0.0.1:443");
        assert_eq!(key("http://Example.COM"), "http://example.com:80");
    }

    #[test]
    fn non_loopback_is_never_loopback() {
        for u in [
            "ws://localhost.example:1",
            "ws://127.0.0.1.nip.io:1",
            "ws://10.0.0.1:1",
            "ws://[::ffff:10.0.0.1]:1",
            "ws://[::2]:1",
        ] {
            assert!(!GatewayKey::parse(u).unwrap().is_loopback(), "{u}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for u in [
            "ftp://127.0.0.1",
            "ws://user:pw@127.0.0.1:1",
            "ws://127.0.0.1:1/path",
            "ws://127.0.0.1:1?q",
            "ws://127.0.0.1:1#f",
            "nonsense",
            "ws://:1",
            // Found by fuzzing (fuzz/gateway_url): with every trailing dot
            // dropped these gave keys that were not canonical.
            "ws://127.0.0.1..:1",
            "ws://0x7f.1..:1",
            "ws://a.1..:1",
            "ws://localhost..:1",
        ] {
            assert!(GatewayKey::parse(u).is_err(), "{u}");
        }
        // Found by fuzzing: a URL at the length limit whose key (with its
        // explicit port) would be over it, so the key would not re-parse.
        let long = format!("ws://{}", "a".repeat(2043));
        assert_eq!(long.len(), 2048);
        assert!(GatewayKey::parse(&long).is_err());
        assert!(GatewayKey::parse(&format!("ws://{}:80", "a".repeat(2040))).is_ok());
    }
}
