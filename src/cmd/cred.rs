//! `gw cred`: the command line over gw-cred (`gw profile` is `profile.rs`).

use std::time::Duration;

use gw_anchor::Policy;
use gw_cred::{CredStore, Decision, GatewayKey, MAX_SECRET_LEN, Slot, StoreConfig, mirror_with};
use gw_persist::Document;
use gw_token::Secret;
use serde_json::json;

use crate::cli::cred::{CredCommand, CredGetArgs, CredResolveArgs, OptSlotArgs, ReplaceSharedArgs, SlotArgs};
use crate::home::{device_id, home};
use crate::input::read_stdin;
use crate::output::{CliError, EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Output};

/// Where the secrets of this command went: for its success line, and as
/// JSON (`{"backend": "file" | KEYRING, "fallback": bool}`).
fn stored_where(store: &CredStore<Document<'_>>) -> (String, serde_json::Value) {
    match store.decide() {
        Ok(Decision::Keyring { keyring }) => {
            (format!("in the {keyring} keyring"), json!({ "backend": keyring, "fallback": false }))
        }
        Ok(Decision::FileFallback { .. }) => (
            "in the credentials file (the keyring was unavailable)".into(),
            json!({ "backend": "file", "fallback": true }),
        ),
        _ => ("in the credentials file".into(), json!({ "backend": "file", "fallback": false })),
    }
}

/// The existing gw home; only `gw profile init` creates it.
fn key(url: &str) -> Result<GatewayKey, CliError> {
    Ok(GatewayKey::parse(url)?)
}

/// Reads a secret from stdin (at most `max` bytes; one trailing newline
/// dropped).
fn secret_from_stdin(what: &str, max: u64) -> Result<Secret, CliError> {
    let mut buf = read_stdin(what, max)?.ok_or_else(|| {
        CliError::usage("read stdin", format!("{what} on stdin is longer than {max} bytes; nothing was stored"))
    })?;
    // Moved, not copied: `Secret` wipes it on drop.
    let mut bytes = std::mem::take(&mut *buf);
    if bytes.ends_with(b"\n") {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(CliError::usage("read stdin", format!("nothing on stdin (expected {what})"))
            .with_fix("pipe it in: `gw cred set URL --shared < token-file`"));
    }
    Ok(Secret::new(bytes))
}

/// Reads a credential from stdin: at most [`MAX_SECRET_LEN`] bytes and a
/// newline.
fn credential_from_stdin(what: &str) -> Result<Secret, CliError> {
    secret_from_stdin(what, MAX_SECRET_LEN as u64 + 1)
}

fn slot_of(s: &SlotArgs) -> Slot {
    match (&s.device, s.shared, s.password) {
        (Some(r), _, _) => Slot::Device(r.clone()),
        (None, true, _) => Slot::Shared,
        (None, false, true) => Slot::Password,
        _ => Slot::Bootstrap,
    }
}

fn opt_slot(s: &OptSlotArgs) -> Option<Slot> {
    match (&s.role, s.shared, s.bootstrap) {
        (Some(r), _, _) => Some(Slot::Device(r.clone())),
        (None, true, _) => Some(Slot::Shared),
        (None, false, true) => Some(Slot::Bootstrap),
        _ if s.password => Some(Slot::Password),
        _ => None,
    }
}

fn print_secret(secret: &Secret) -> Result<(), CliError> {
    // One write of the secret and its newline; a failure is reported once,
    // at exit (CLI-3).
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(secret.expose().len() + 1));
    line.extend_from_slice(secret.expose());
    line.push(b'\n');
    crate::output::print(&line);
    Ok(())
}

fn not_found(op: &'static str, what: String) -> CliError {
    let mut e = CliError::usage(op, what);
    e.code = EXIT_NOT_FOUND;
    e.kind = "not_found";
    e
}

pub(crate) fn run(
    cmd: CredCommand,
    profile_name: &str,
    config: StoreConfig,
    policy: &Policy,
    out: Output,
) -> Result<u8, CliError> {
    // No gw home yet: the fix creates the profile this command names.
    let home = home(policy).map_err(|e| {
        if e.code == EXIT_NOT_FOUND {
            e.with_fix(format!("create the profile first: `gw profile init {profile_name}`"))
        } else {
            e
        }
    })?;
    if let CredCommand::Mirror(a) = &cmd {
        let (from, to) = (home.profile(&a.from)?, home.profile(&a.to)?);
        let r = mirror_with(&from, &to, config)?;
        let copied = if r.from_keyring > 0 {
            format!("; {} secret(s) copied out of the keyring", r.from_keyring)
        } else {
            String::new()
        };
        out.ok(
            &format!(
                "mirrored profile `{}` into `{}`: {} gateway(s) added, {} merged (the target's own entries kept){copied}",
                a.from,
                a.to,
                r.added.len(),
                r.merged.len()
            ),
            json!({ "from": a.from, "to": a.to, "added": r.added, "merged": r.merged, "from_keyring": r.from_keyring }),
        );
        return Ok(EXIT_OK);
    }
    let profile = home.profile(profile_name)?;
    let store = profile.store_with(config);
    match cmd {
        CredCommand::Set(a) => {
            let k = key(&a.url.url)?;
            let slot = slot_of(&a.slot);
            let secret = credential_from_stdin("the credential")?;
            store.set(&k, &slot, &secret)?;
            let (at, stored) = stored_where(&store);
            out.ok(
                &format!("stored the {} credential for {k} in profile `{}` {at}", slot.describe(), profile.name()),
                json!({ "gateway": k.as_str(), "slot": slot.describe(), "profile": profile.name(), "stored": stored }),
            );
        }
        CredCommand::Get(a) => return get(a, &store, device_id(&profile)?.as_deref(), out),
        CredCommand::Resolve(a) => return resolve(a, &store, device_id(&profile)?.as_deref(), out),
        CredCommand::Handoff(a) => {
            let k = key(&a.url)?;
            let hello = secret_from_stdin("the hello-ok message", gw_gateway::MAX_FRAME_BYTES)?;
            // Malformed stdin is a usage error (2) like every bad input, not an
            // operational one; a duplicate key stays a refusal (3).
            let usage = |mut err: CliError| {
                if err.code != EXIT_REFUSED {
                    err.code = EXIT_USAGE;
                }
                err
            };
            gw_persist::parse_json(hello.expose(), &gw_persist::Limits::new(gw_gateway::MAX_FRAME_BYTES, 32))
                .map_err(|e| usage(CliError::from(e)))?;
            let parsed =
                gw_gateway::parse_handoff_input(hello.expose(), k.as_str()).map_err(|e| usage(CliError::from(e)))?;
            // GATE-3: only a bootstrap connect's tokens, from a loopback gateway.
            if !k.is_loopback() {
                return Err(CliError {
                    code: EXIT_REFUSED,
                    kind: "handoff_refused",
                    op: "handoff",
                    path: Some(k.as_str().to_owned()),
                    message: "the gateway is not loopback: device tokens are handed off only from a gateway on this \
                              machine; nothing was stored"
                        .to_owned(),
                    fix: None,
                });
            }
            let method_bootstrap = parsed.auth.method.as_deref() == Some(gw_gateway::BOOTSTRAP_METHOD);
            let sent = if method_bootstrap { "bootstrapToken" } else { "(not a bootstrap connect)" };
            let tokens = parsed.handoff(sent, std::net::Ipv4Addr::LOCALHOST.into(), k.as_str())?;
            if tokens.is_empty() {
                return Err(CliError::usage(
                    "handoff",
                    "the hello-ok issued no device token: there is nothing to hand off",
                ));
            }
            let device = device_id(&profile)?;
            let r = store.handoff_to(&k, device.as_deref(), &tokens)?;
            let (at, stored) = stored_where(&store);
            out.ok(
                &format!(
                    "stored {at} and read back {} role token(s) for {k} ({}); bootstrap token {}",
                    r.roles.len(),
                    r.roles.join(", "),
                    if r.bootstrap_cleared { "cleared" } else { "was not stored" }
                ),
                json!({ "gateway": k.as_str(), "roles": r.roles, "bootstrap_cleared": r.bootstrap_cleared, "stored": stored }),
            );
        }
        CredCommand::ReplaceShared(a) => return replace_shared(a, &store, policy, out),
        CredCommand::List => {
            let list = store.list()?;
            let mut human = String::new();
            for s in &list {
                human.push_str(&format!(
                    "{}  roles: [{}]  shared: {}  password: {}  bootstrap: {}  generation: {}\n",
                    s.gateway,
                    s.roles.join(", "),
                    if s.shared { "yes" } else { "no" },
                    if s.password { "yes" } else { "no" },
                    if s.bootstrap { "yes" } else { "no" },
                    s.generation
                ));
                for i in &s.issued {
                    human.push_str(&format!(
                        "  device {}: role {} scopes [{}]\n",
                        i.device,
                        i.role,
                        i.scopes.join(", ")
                    ));
                }
            }
            if list.is_empty() {
                human = format!("no credentials stored in profile `{}`", profile.name());
            }
            out.ok(&human, json!({ "profile": profile.name(), "gateways": list }));
        }
        CredCommand::Rm(a) => {
            let k = key(&a.url.url)?;
            let slot = opt_slot(&a.slot);
            if !store.remove(&k, slot.as_ref())? {
                return Err(not_found(
                    "rm",
                    format!(
                        "nothing stored for {k}{}",
                        slot.map(|s| format!(" in {}", s.describe())).unwrap_or_default()
                    ),
                ));
            }
            let what = slot.map(|s| s.describe()).unwrap_or_else(|| "every credential".into());
            out.ok(&format!("removed {what} for {k}"), json!({ "gateway": k.as_str(), "removed": what }));
        }
        CredCommand::Mirror(_) => unreachable!("handled above"),
    }
    Ok(EXIT_OK)
}

fn get(a: CredGetArgs, store: &CredStore<Document<'_>>, device: Option<&str>, out: Output) -> Result<u8, CliError> {
    let k = key(&a.url.url)?;
    let slot = opt_slot(&a.slot);
    if a.reveal {
        let Some(mut slot) = slot else {
            return Err(CliError::usage(
                "get",
                "--reveal needs exactly one slot: --role R, --shared, --password or --bootstrap",
            ));
        };
        // --role R: the token issued to this profile's device first (what
        // `gw probe` sends), else the one bound to no device.
        if let (Slot::Device(role), Some(d)) = (&slot, device) {
            let issued = Slot::Issued { device: d.to_owned(), role: role.clone() };
            if store.locations(&k)?.iter().any(|(s, _)| s == &issued) {
                slot = issued;
            }
        }
        let secret = store
            .get(&k, &slot)?
            .ok_or_else(|| not_found("get", format!("no {} credential for {k}", slot.describe())))?;
        if out.json {
            let text = String::from_utf8_lossy(secret.expose()).into_owned();
            out.ok("", json!({ "gateway": k.as_str(), "slot": slot.describe(), "secret": text }));
        } else {
            print_secret(&secret)?;
        }
        return Ok(EXIT_OK);
    }
    let summary = store.list()?.into_iter().find(|s| s.gateway == k.as_str());
    let Some(s) = summary else {
        return Err(not_found("get", format!("nothing stored for {k}")));
    };
    if let Some(slot) = &slot {
        let present = match slot {
            Slot::Device(r) => s.roles.contains(r),
            Slot::Issued { device, role } => s.issued.iter().any(|i| &i.device == device && &i.role == role),
            Slot::Shared => s.shared,
            Slot::Password => s.password,
            Slot::Bootstrap => s.bootstrap,
        };
        if !present {
            return Err(not_found("get", format!("no {} credential for {k}", slot.describe())));
        }
    }
    let locations = store.locations(&k)?;
    let at =
        |slot: &Slot| locations.iter().find(|(s, _)| s == slot).map(|(_, l)| l.as_str()).unwrap_or("file").to_owned();
    let roles: Vec<String> = s
        .roles
        .iter()
        .map(|r| {
            // Where the role's token is kept: bound to this device or to none.
            let slot = match device {
                Some(d)
                    if locations.iter().any(|(s, _)| s == &Slot::Issued { device: d.to_owned(), role: r.clone() }) =>
                {
                    Slot::Issued { device: d.to_owned(), role: r.clone() }
                }
                _ => Slot::Device(r.clone()),
            };
            match at(&slot).as_str() {
                "file" => r.clone(),
                keyring => format!("{r} ({keyring} keyring)"),
            }
        })
        .collect();
    let state = |present: bool, slot: Slot| match (present, at(&slot).as_str()) {
        (false, _) => "none".to_owned(),
        (true, "file") => "stored".to_owned(),
        (true, keyring) => format!("stored ({keyring} keyring)"),
    };
    let where_json: serde_json::Map<String, serde_json::Value> =
        locations.iter().map(|(slot, l)| (slot.describe(), json!(l))).collect();
    out.ok(
        &format!(
            "{k}: device roles [{}], shared: {}, bootstrap: {} (secrets hidden; --reveal with one slot prints it)",
            roles.join(", "),
            state(s.shared, Slot::Shared),
            state(s.bootstrap, Slot::Bootstrap)
        ),
        json!({ "gateway": k.as_str(), "roles": s.roles, "shared": s.shared, "bootstrap": s.bootstrap, "generation": s.generation, "locations": where_json }),
    );
    Ok(EXIT_OK)
}

fn resolve(
    a: CredResolveArgs,
    store: &CredStore<Document<'_>>,
    device: Option<&str>,
    out: Output,
) -> Result<u8, CliError> {
    let k = key(&a.url.url)?;
    gw_cred::check_role(&a.role)?;
    let r = store.resolve_for(&k, device, &a.role)?.ok_or_else(|| {
        not_found(
            "resolve",
            format!("no credential stored for {k} (no device token for `{}`, no shared, no bootstrap token)", a.role),
        )
    })?;
    let why = match &r.slot {
        Slot::Issued { role, .. } => {
            format!("the device token issued to this profile's device for role `{role}` (highest precedence)")
        }
        Slot::Device(role) => format!(
            "the device token for role `{role}` (not bound to a device; highest precedence when this device has no \
             token of its own)"
        ),
        Slot::Shared => format!("the shared token (no device token for role `{}`)", a.role),
        Slot::Password => format!("the password (no device token for role `{}` and no shared token)", a.role),
        Slot::Bootstrap => format!("the bootstrap token (no device token for role `{}` and no shared token)", a.role),
    };
    if out.json {
        let mut v = json!({ "gateway": k.as_str(), "role": a.role, "slot": r.slot.describe(), "why": why });
        if a.reveal {
            v["secret"] = json!(String::from_utf8_lossy(r.secret.expose()));
        }
        out.ok("", v);
    } else if a.reveal {
        crate::output::eprint(&format!("gw: {k} would use {why}\n"));
        print_secret(&r.secret)?;
    } else {
        out.ok(&format!("{k} would use {why}"), json!({}));
    }
    Ok(EXIT_OK)
}

/// Runs the validator through gw-watch's bounded runner: no shell (the
/// command line is split like a shell would, without one), the token on its
/// stdin only, its whole process group killed at the timeout and after it
/// exits (THREATS CRED-4, WATCH-1, CLI-1).
fn validate_with(cmd: &str, timeout: Duration, token: &Secret) -> Result<(), String> {
    let line = gw_watch::CommandLine::parse(cmd).map_err(|e| format!("the validator command: {e}"))?;
    let program = &line.argv()[0];
    let report = gw_watch::ProcessRunner::default().run_with_input(line.argv(), token.expose(), timeout);
    match report.outcome {
        gw_watch::Outcome::Done => Ok(()),
        _ if report.timed_out => Err(format!("the validator `{program}` did not answer within {timeout:?} (killed)")),
        _ => Err(format!("the validator refused it: {}", report.detail)),
    }
}

fn replace_shared(
    a: ReplaceSharedArgs,
    store: &CredStore<Document<'_>>,
    policy: &Policy,
    out: Output,
) -> Result<u8, CliError> {
    let k = key(&a.url.url)?;
    if a.validate_cmd.is_none() {
        // The owner first: a missing pidfile is not found (exit 4), not a
        // token the validation refused (issue 12 item 8).
        crate::verified::check_owner(&a.owner, policy)?;
    }
    let new = credential_from_stdin("the new shared token")?;
    let cleared = store.replace_shared(&k, &new, |t| match &a.validate_cmd {
        Some(cmd) => validate_with(cmd, a.validate_timeout, t),
        None => crate::verified::validate_shared(&k, &a.owner, policy, t, a.validate_timeout),
    })?;
    let (at, stored) = stored_where(store);
    out.ok(
        &format!(
            "the validation accepted the new shared token for {k}; stored it {at} and cleared {} device token(s)",
            cleared.len()
        ),
        json!({ "gateway": k.as_str(), "cleared_roles": cleared, "stored": stored }),
    );
    Ok(EXIT_OK)
}
