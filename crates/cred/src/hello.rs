//! The `hello-ok` answer of a gateway handshake: the role tokens it hands
//! out (`auth.deviceTokens[]`, each `{role, token}`).

use gw_persist::{Limits, parse_json};
use gw_token::Secret;

use crate::error::{Error, ErrorKind, Result};

/// The largest hello-ok message accepted.
pub const MAX_HELLO_BYTES: u64 = 256 * 1024;

/// One role token from a hello-ok answer.
#[derive(Debug)]
pub struct DeviceToken {
    /// The role (`operator`, `node`, ...).
    pub role: String,
    /// The token.
    pub token: Secret,
}

/// Parses a hello-ok message strictly (size, duplicate keys, `type` must be
/// `hello-ok`, every role valid and unique, every token a non-empty line of
/// printable ASCII) and returns **all** its role tokens (THREATS CRED-2).
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming what is wrong (never a token).
pub fn parse_hello_ok(bytes: &[u8]) -> Result<Vec<DeviceToken>> {
    const OP: &str = "parse hello-ok";
    let bad = |why: String| Error::new(ErrorKind::InvalidInput, OP, why);
    let doc = parse_json(bytes, &Limits::new(MAX_HELLO_BYTES, 32)).map_err(Error::from)?;
    if doc.get("type").and_then(|t| t.as_str()) != Some("hello-ok") {
        return Err(bad("the message is not a hello-ok (its `type` is not \"hello-ok\")".into()));
    }
    let list = doc
        .pointer("/auth/deviceTokens")
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad("the hello-ok has no auth.deviceTokens array".into()))?;
    if list.is_empty() {
        return Err(bad("auth.deviceTokens is empty: there is nothing to hand off".into()));
    }
    let mut out: Vec<DeviceToken> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let role =
            entry.get("role").and_then(|r| r.as_str()).ok_or_else(|| bad(format!("deviceTokens[{i}] has no role")))?;
        // The value is not echoed: a gateway that swapped `role` and `token`
        // would otherwise print a token.
        crate::store::check_role(role)
            .map_err(|_| bad(format!("deviceTokens[{i}]: the role is not a role name (1-64 of a-z 0-9 . _ -)")))?;
        let token = entry
            .get("token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| bad(format!("deviceTokens[{i}] has no token")))?;
        crate::store::check_secret_text(token)
            .map_err(|e| bad(format!("deviceTokens[{i}] ({role}): {}", e.message())))?;
        if out.iter().any(|d| d.role == role) {
            return Err(bad(format!("role `{role}` appears twice in deviceTokens")));
        }
        out.push(DeviceToken { role: role.to_owned(), token: Secret::from(token.to_owned()) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CLI-1: a gateway that swapped `role` and `token` puts a token where
    /// the role goes. The refusal names the entry and the rule, never the
    /// value: not in the message, the `Display` or the `Debug` of the error.
    #[test]
    fn cli_1_a_role_that_is_a_secret_is_not_echoed() {
        let secret = "Swapped-Tok3n_Kp9Lm2Zq7Wx4";
        for (role, token) in [(secret, "operator"), (&*format!("{secret}\n"), "operator"), (secret, secret)] {
            let hello = serde_json::json!({
                "type": "hello-ok",
                "auth": { "deviceTokens": [ { "role": "node", "token": "node-Ab1" }, { "role": role, "token": token } ] }
            });
            let e = parse_hello_ok(hello.to_string().as_bytes()).expect_err("a token is not a role name");
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            for shown in [e.message().to_owned(), e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains(secret) && !shown.contains("Kp9Lm2"), "the role was echoed: {shown}");
                assert!(shown.contains("deviceTokens[1]"), "the entry is named: {shown}");
            }
        }
    }
}
