//! The claims a token binds, the caveats that narrow them, and their
//! canonical JSON encoding (one valid encoding per value).

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// The token format version carried in the claims and the prefix.
pub const VERSION: u8 = 1;
/// The most scopes a token may carry.
pub const MAX_SCOPES: usize = 16;
/// The longest scope name.
pub const MAX_SCOPE_LEN: usize = 64;
/// The longest audience.
pub const MAX_AUDIENCE_LEN: usize = 256;
/// The longest lifetime a token may have (a year).
pub const MAX_LIFETIME_SECS: u64 = 366 * 24 * 3600;

/// What a token grants, as signed by the root secret's holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Format version (1).
    pub v: u8,
    /// Scopes granted: sorted, unique, each `[a-z0-9][a-z0-9._:-]*`.
    pub scp: Vec<String>,
    /// The audience the token is bound to (the gateway URL it may be sent
    /// to), or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Not valid before (Unix seconds).
    pub nbf: u64,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// `true`: may only be presented from a loopback peer (THREATS TOK-3).
    pub loc: bool,
    /// A random token id (128 bits, base64url), so equal grants give
    /// distinct tokens.
    pub jti: String,
}

/// A restriction added by a token holder (attenuation). Every present field
/// narrows; absent fields leave the token as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caveat {
    /// Keep only these scopes (the effective scopes are the intersection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<Vec<String>>,
    /// Bind the token to this audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Expire no later than this (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Require a loopback peer (only `true` is meaningful).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc: Option<bool>,
}

/// The claims in force after every caveat has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Scopes granted (the intersection of the base and every caveat).
    pub scopes: Vec<String>,
    /// `None`: any audience. `Some(Some(a))`: only `a`. `Some(None)`: the
    /// caveats named two different audiences, so none is acceptable.
    pub audience: Option<Option<String>>,
    /// Not valid before.
    pub not_before: u64,
    /// Expiry (the earliest of the base and the caveats).
    pub expires: u64,
    /// Loopback peers only (if the base or any caveat says so).
    pub local: bool,
}

impl Effective {
    /// Applies `caveats` to `base`. By construction the result can only be
    /// narrower than `base`: scopes intersect, expiry takes the minimum,
    /// audiences must agree, locality is sticky.
    pub fn of(base: &Claims, caveats: &[Caveat]) -> Self {
        let mut e = Effective {
            scopes: base.scp.clone(),
            audience: base.aud.clone().map(Some),
            not_before: base.nbf,
            expires: base.exp,
            local: base.loc,
        };
        for c in caveats {
            if let Some(s) = &c.scp {
                e.scopes.retain(|x| s.contains(x));
            }
            if let Some(a) = &c.aud {
                e.audience = match e.audience {
                    None => Some(Some(a.clone())),
                    Some(Some(cur)) if &cur == a => Some(Some(cur)),
                    Some(_) => Some(None),
                };
            }
            if let Some(x) = c.exp {
                e.expires = e.expires.min(x);
            }
            if c.loc == Some(true) {
                e.local = true;
            }
        }
        e
    }
}

/// Checks one scope name.
pub(crate) fn check_scope(op: &'static str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            op,
            format!(
                "`{}` is not a scope name (lower-case letters, digits and . _ : -; at most {MAX_SCOPE_LEN})",
                s.escape_debug()
            ),
        ))
    }
}

/// Checks a scope list: non-empty, bounded, each valid, sorted and unique
/// (the canonical order).
pub(crate) fn check_scopes(op: &'static str, scopes: &[String]) -> Result<()> {
    if scopes.is_empty() || scopes.len() > MAX_SCOPES {
        return Err(Error::new(ErrorKind::InvalidInput, op, format!("a token needs 1 to {MAX_SCOPES} scopes")));
    }
    for s in scopes {
        check_scope(op, s)?;
    }
    if scopes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::new(ErrorKind::InvalidInput, op, "scopes must be sorted and unique"));
    }
    Ok(())
}

pub(crate) fn check_audience(op: &'static str, a: &str) -> Result<()> {
    if a.is_empty() || a.len() > MAX_AUDIENCE_LEN || !a.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            op,
            format!("an audience is 1 to {MAX_AUDIENCE_LEN} printable ASCII characters without spaces"),
        ));
    }
    Ok(())
}

impl Claims {
    /// Checks every field's form (not time: that is the verifier's job).
    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        if self.v != VERSION {
            return Err(Error::new(
                ErrorKind::UnknownVersion,
                op,
                format!("claims version {} is not supported", self.v),
            ));
        }
        check_scopes(op, &self.scp)?;
        if let Some(a) = &self.aud {
            check_audience(op, a)?;
        }
        if self.exp < self.nbf || self.exp - self.nbf > MAX_LIFETIME_SECS {
            return Err(Error::new(ErrorKind::InvalidInput, op, "the lifetime is negative or longer than a year"));
        }
        if self.jti.len() != 22 || !self.jti.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Error::new(ErrorKind::InvalidInput, op, "the token id is not 128 bits of base64url"));
        }
        Ok(())
    }
}

impl Caveat {
    /// Checks the caveat narrows something and each field's form.
    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        if *self == Caveat::default() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                op,
                "a caveat must narrow at least one of scope, audience, expiry, locality",
            ));
        }
        if let Some(s) = &self.scp {
            check_scopes(op, s)?;
        }
        if let Some(a) = &self.aud {
            check_audience(op, a)?;
        }
        if self.loc == Some(false) {
            return Err(Error::new(ErrorKind::InvalidInput, op, "a caveat can require locality, never lift it"));
        }
        Ok(())
    }
}

/// Canonical JSON: serde's field order, no whitespace.
pub(crate) fn to_canonical<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("claims and caveats always serialize")
}

/// Parses canonical JSON: the bytes must be exactly what [`to_canonical`]
/// produces for the parsed value (so there is one valid encoding).
pub(crate) fn from_canonical<T: Serialize + for<'de> Deserialize<'de>>(
    op: &'static str,
    bytes: &[u8],
    what: &str,
) -> Result<T> {
    let v: T = serde_json::from_slice(bytes)
        .map_err(|e| Error::new(ErrorKind::Malformed, op, format!("the {what} are not valid: {e}")))?;
    if to_canonical(&v) != bytes {
        return Err(Error::new(ErrorKind::Malformed, op, format!("the {what} are not in canonical form")));
    }
    Ok(v)
}
