//! `gw token`: the command line over gw-token. Tokens come in on stdin and
//! go out on stdout only where printing them is the command's purpose
//! (`derive`, `attenuate`, `label`); they never appear in arguments or errors.

use std::path::Path;

use gw_anchor::{Policy, Root};
use gw_cred::read_json_secret;
use gw_token::{
    Caveat, DEFAULT_SKEW_SECS, Grant, TokenKey, Verifier, attenuate, derive, expose, init_secret_file, inspect,
    label_token, load_secret_file, unix_now,
};
use secrecy::SecretString;
use serde_json::json;

use crate::cli::token::{AttenuateArgs, DeriveArgs, LabelArgs, TokenCommand, VerifyArgs};
use crate::output::{CliError, EXIT_OK, Output};
use crate::owner::open_parent;

pub(crate) fn run(cmd: TokenCommand, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        TokenCommand::Init(a) => {
            let (root, name) = open_parent(&a.secret_file, policy)?;
            init_secret_file(&root, name)?;
            let path = root.path().join(name);
            out.ok(
                &format!(
                    "created a new root secret in {} (mode 0600); keep it out of backups and argv",
                    path.display()
                ),
                json!({ "path": path, "mode": "0600" }),
            );
            Ok(EXIT_OK)
        }
        TokenCommand::Derive(a) => derive_cmd(a, policy, out),
        TokenCommand::Attenuate(a) => attenuate_cmd(a, out),
        TokenCommand::Verify(a) => verify_cmd(a, policy, out),
        TokenCommand::Inspect(_) => inspect_cmd(out),
        TokenCommand::Label(a) => label_cmd(a, policy, out),
    }
}

fn key_from(secret_file: &Path, policy: &Policy) -> Result<TokenKey, CliError> {
    let (root, name) = open_parent(secret_file, policy)?;
    let secret = load_secret_file(&root, name)?;
    Ok(TokenKey::from_root(&secret))
}

/// Reads a token from stdin (bounded; surrounding whitespace dropped).
fn token_from_stdin() -> Result<SecretString, CliError> {
    // At a terminal: a prompt, and nothing typed is echoed (crate::input).
    let max = gw_token::MAX_TOKEN_LEN as u64 + 64;
    let buf = crate::input::read_stdin("the token", max)?
        .ok_or_else(|| CliError::usage("read stdin", format!("the token on stdin is longer than {max} bytes")))?;
    let text =
        std::str::from_utf8(&buf).map_err(|_| CliError::usage("read stdin", "the token on stdin is not text"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::usage("read stdin", "no token on stdin")
            .with_fix("pipe the token in: `gw token verify ... < token-file`"));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// Prints a token (the command's purpose) followed by a newline.
fn print_token(out: Output, token: &SecretString, extra: serde_json::Value) -> Result<(), CliError> {
    if out.json {
        let mut v = extra;
        v["token"] = json!(expose(token));
        out.ok("", v);
        return Ok(());
    }
    // One write of the token and its newline; a failure is reported once,
    // at exit (CLI-3).
    let line = zeroize::Zeroizing::new(format!("{}\n", expose(token)));
    crate::output::print(line.as_bytes());
    Ok(())
}

fn derive_cmd(a: DeriveArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let key = key_from(&a.secret.secret_file, policy)?;
    let grant = Grant { scopes: a.scopes, audience: a.aud, ttl: a.ttl, local: a.local };
    let now = unix_now();
    let token = derive(&key, &grant, now)?;
    let claims = inspect(expose(&token))?.claims;
    print_token(
        out,
        &token,
        json!({ "scopes": claims.scp, "aud": claims.aud, "expires": claims.exp, "local": claims.loc }),
    )?;
    Ok(EXIT_OK)
}

fn attenuate_cmd(a: AttenuateArgs, out: Output) -> Result<u8, CliError> {
    let token = token_from_stdin()?;
    let mut scopes = a.scopes;
    scopes.sort();
    scopes.dedup();
    let caveat = Caveat {
        scp: (!scopes.is_empty()).then_some(scopes),
        aud: a.aud,
        exp: a.ttl.map(|d| unix_now().saturating_add(d.as_secs())),
        loc: a.local.then_some(true),
    };
    if let Some(keep) = &caveat.scp {
        // A scope the token does not grant cannot be kept: the narrower
        // token would not grant it either (and with none left, nothing).
        let held = inspect(expose(&token))?.effective.scopes;
        let missing: Vec<&str> = keep.iter().filter(|s| !held.contains(s)).map(String::as_str).collect();
        if !missing.is_empty() {
            let what = if missing.len() == keep.len() {
                "a caveat only narrows, so the narrower token would grant nothing"
            } else {
                "a caveat only narrows, so the narrower token would not grant it either"
            };
            return Err(CliError::usage(
                "attenuate",
                format!("the token does not grant {}; {what}", quoted_list(&missing)),
            )
            .with_fix(format!("keep scopes the token grants: {}", quoted_list_or_none(&held))));
        }
    }
    let narrowed = attenuate(expose(&token), &caveat)?;
    let eff = inspect(expose(&narrowed))?.effective;
    print_token(out, &narrowed, json!({ "scopes": eff.scopes, "expires": eff.expires, "local": eff.local }))?;
    Ok(EXIT_OK)
}

fn verify_cmd(a: VerifyArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let key = key_from(&a.secret.secret_file, policy)?;
    let token = token_from_stdin()?;
    let mut v = Verifier::new(&key, &a.scope);
    if let Some(aud) = &a.aud {
        v = v.audience(aud);
    }
    if let Some(peer) = a.peer {
        v = v.peer(peer);
    }
    let eff = v.verify(expose(&token)).map_err(|e| {
        let unbound_verifier = e.kind() == gw_token::ErrorKind::Audience && a.aud.is_none();
        let err = CliError::from(e);
        if unbound_verifier {
            let mut err = err.with_fix("pass the audience this verifier serves: --aud URL (the gateway URL)");
            err.message = "the token is bound to an audience, and no --aud was given".into();
            err
        } else {
            err
        }
    })?;
    let now = unix_now();
    let when = if now > eff.expires {
        // Accepted only because of the clock skew: say so.
        let ago = now - eff.expires;
        format!("expired {ago} s ago, accepted within the {DEFAULT_SKEW_SECS} s skew")
    } else {
        format!("expires in {} s", eff.expires - now)
    };
    out.ok(
        &format!(
            "valid: grants `{}` (scopes: {}), {when}{}",
            a.scope,
            eff.scopes.join(" "),
            if eff.local { ", loopback peers only" } else { "" }
        ),
        json!({
            "valid": true,
            "scopes": eff.scopes,
            "expires": eff.expires,
            "expires_at": rfc3339(eff.expires),
            "within_skew": now > eff.expires,
            "skew_secs": DEFAULT_SKEW_SECS,
            "local": eff.local,
        }),
    );
    Ok(EXIT_OK)
}

/// `a`, `b` and `c` as `` `a`, `b`, `c` ``.
fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

fn quoted_list_or_none(items: &[String]) -> String {
    if items.is_empty() { "(none)".into() } else { quoted_list(&items.iter().map(String::as_str).collect::<Vec<_>>()) }
}

/// Unix seconds as RFC 3339 (UTC).
fn rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Unix seconds relative to `now`: "in 4m 59s", "2h 3m ago", "now".
fn relative(secs: u64, now: u64) -> String {
    let span = |d: u64| humantime::format_duration(std::time::Duration::from_secs(d)).to_string();
    match secs.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", span(secs - now)),
        std::cmp::Ordering::Less => format!("{} ago", span(now - secs)),
        std::cmp::Ordering::Equal => "now".into(),
    }
}

/// A time as inspect shows it: Unix seconds, RFC 3339 and relative.
fn time_json(secs: u64, now: u64) -> serde_json::Value {
    json!({ "unix": secs, "rfc3339": rfc3339(secs), "relative": relative(secs, now) })
}

fn inspect_cmd(out: Output) -> Result<u8, CliError> {
    let token = token_from_stdin()?;
    let i = inspect(expose(&token))?;
    let now = unix_now();
    let caveats: Vec<_> = i.caveats.iter().map(|c| serde_json::to_value(c).unwrap_or_default()).collect();
    let aud = match &i.effective.audience {
        None => json!(null),
        Some(Some(a)) => json!(a),
        Some(None) => json!("(conflicting caveats: no audience is acceptable)"),
    };
    let value = json!({
        "verified": false,
        "token_format": gw_token::PREFIX,
        "claims": i.claims,
        "caveats": caveats,
        "effective": { "scopes": i.effective.scopes, "audience": aud, "not_before": i.effective.not_before,
                       "expires": i.effective.expires, "local": i.effective.local },
        "times": {
            "now": time_json(now, now),
            "issued_not_before": time_json(i.effective.not_before, now),
            "expires": time_json(i.effective.expires, now),
        },
    });
    let human = format!(
        "NOT VERIFIED (inspect checks nothing; use `gw token verify`)\n\
         format: {} (binary claims record and {} caveat record(s), each base64url; HMAC-SHA256 chain tag)\n\
         not before: {} ({})\n\
         expires:    {} ({}; verifiers accept it up to {DEFAULT_SKEW_SECS} s later)\n{}",
        gw_token::PREFIX,
        i.caveats.len(),
        rfc3339(i.effective.not_before),
        relative(i.effective.not_before, now),
        rfc3339(i.effective.expires),
        relative(i.effective.expires, now),
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    out.ok(&human, value);
    Ok(EXIT_OK)
}

fn label_cmd(a: LabelArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let key = match (&a.key_file, &a.openclaw_state) {
        (Some(file), _) => {
            let (root, name) = open_parent(file, policy)?;
            let key = read_json_secret(&root, name, &a.json_field)?;
            // OpenClaw trims the socket token before keying its HMAC.
            let text =
                std::str::from_utf8(key.expose()).map_err(|_| CliError::usage("label", "the key is not text"))?;
            gw_token::Secret::from(gw_gateway::openclaw::js_trim(text).to_owned())
        }
        (None, Some(dir)) => gw_gateway::openclaw::approval_socket_token(&Root::open(dir, policy)?)?,
        (None, None) => return Err(CliError::usage("label", "give --key-file PATH or --openclaw-state DIR")),
    };
    if key.is_empty() {
        return Err(CliError::usage("label", "the key is empty once trimmed"));
    }
    let token = label_token(&key, &a.label);
    print_token(out, &token, json!({ "label": a.label }))?;
    Ok(EXIT_OK)
}
