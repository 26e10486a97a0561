//! `gw probe`: a verified connection to a local gateway — ownership of the
//! port proven (gw-portguard) before a byte is sent, then gw-gateway's
//! protocol-4 handshake (challenge, `connect` signed with the profile's
//! device identity, carrying exactly one credential: the device token stored
//! for this gateway, device and role, else the shared token, else the
//! password, else the bootstrap token — or, for the profile's own gateway
//! only, a runtime token, THREATS TOK-2), the hello-ok read, and, after a
//! bootstrap connect to the loopback peer only (THREATS GATE-3), the
//! hand-off of every device token it issued (gw-cred: persisted per gateway,
//! device and role with their scopes, read back, then the bootstrap cleared).
//!
//! The connection itself (owner, loopback, proof, handshake) is
//! `crate::verified`, shared with `gw cred replace-shared
//! --validate-with-probe`.

use gw_anchor::Policy;
use gw_cred::{CredStore, GatewayKey, Home, Origin, Slot, StoreConfig, Target, home_path};
use gw_gateway::{ClientInfo, Connect, DeviceIdentity};
use gw_persist::Document;
use gw_portguard::Verdict;
use gw_token::{Secret, unix_now};
use serde_json::json;

use crate::cli::probe::ProbeArgs;
use crate::output::{CliError, EXIT_NOT_FOUND, EXIT_OK, Output};
use crate::verified::{ProbeError, Probed, address, err, expected, verified_hello};

/// The credential a probe sends, and where it came from (for the messages).
pub(crate) struct Sent {
    pub(crate) credential: gw_gateway::Credential,
    /// The store slot, or `None` for a runtime token.
    pub(crate) slot: Option<Slot>,
}

impl Sent {
    /// "the stored shared token", "a runtime token", ...
    fn describe(&self) -> String {
        match &self.slot {
            None => "a runtime token derived from the profile's root secret".to_owned(),
            Some(Slot::Issued { role, .. }) => format!("the stored device token for role `{role}` of this device"),
            Some(Slot::Device(role)) => format!("the stored device token for role `{role}` (bound to no device)"),
            Some(Slot::Shared) => "the stored shared token".to_owned(),
            Some(Slot::Password) => "the stored password".to_owned(),
            Some(Slot::Bootstrap) => "the stored bootstrap token".to_owned(),
        }
    }

    /// How to change what is sent, for a refusal.
    fn change(&self, key: &GatewayKey, profile: &str) -> String {
        let p = if profile == gw_cred::DEFAULT_PROFILE { String::new() } else { format!(" --profile {profile}") };
        match &self.slot {
            None => format!(
                "store the gateway's own credential: `gw cred set {key} --shared{p} < token-file` (it is sent instead \
                 of a runtime token)"
            ),
            Some(Slot::Issued { role, .. } | Slot::Device(role)) => format!(
                "remove it with `gw cred rm {key} --role {role}{p}` (the shared token, password or bootstrap token is \
                 sent next), or get a new one with a bootstrap token"
            ),
            Some(Slot::Shared) => format!(
                "replace it with `gw cred replace-shared {key} --validate-with-probe --pid PID{p} < token-file`"
            ),
            Some(Slot::Password) => format!("replace it with `gw cred set {key} --password{p} < password-file`"),
            Some(Slot::Bootstrap) => format!(
                "a bootstrap token is short-lived and used once: store a new one (`openclaw qr --json` issues one) \
                 with `gw cred set {key} --bootstrap{p} < token-file`"
            ),
        }
    }
}

/// The scopes asked for: the flags, else `operator.read` for operator.
fn scopes(a: &ProbeArgs) -> Vec<String> {
    if !a.scopes.is_empty() {
        return a.scopes.clone();
    }
    if a.role == "operator" { vec!["operator.read".to_owned()] } else { Vec::new() }
}

/// Exactly one credential, by gw-cred's precedence over what the store
/// holds for (gateway, device, role): device token > shared token >
/// password > bootstrap token (THREATS CRED-1; only the chosen one is
/// read), in the `auth` field gw-gateway gives its slot; else, where TOK-2
/// allows it, a runtime token (sent as the shared token).
fn choose(
    target: &Target,
    profile: &gw_cred::Profile,
    store: &CredStore<Document<'_>>,
    device: Option<&DeviceIdentity>,
    role: &str,
) -> Result<Option<Sent>, CliError> {
    let device = device.map(DeviceIdentity::id);
    if let Some(r) = store.resolve_for(target.key(), device, role)? {
        let slot = Some(r.slot.clone());
        return Ok(Some(Sent { credential: gw_gateway::Credential::from_resolved(Some(r)), slot }));
    }
    // Nothing stored: a runtime token, only where TOK-2 allows it.
    Ok(target.credential(profile, store, role, unix_now())?.map(|c| Sent {
        credential: gw_gateway::Credential::Token(Secret::new(c.secret().expose().to_vec())),
        slot: None,
    }))
}

pub(crate) fn run(
    a: ProbeArgs,
    profile_name: &str,
    config: StoreConfig,
    policy: &Policy,
    out: Output,
) -> Result<u8, CliError> {
    let home = Home::open(&home_path()?, policy)?;
    let profile = home.profile(profile_name)?;
    gw_cred::check_role(&a.role)?;
    // TOK-2: where the URL came from decides what may be sent (gw-cred).
    let target = match &a.url {
        Some(url) => Target::given(url, Origin::CommandLine)?,
        None => Target::generated(&profile)?,
    };
    let key = target.key().clone();
    address(&key)?;
    let own_dir = matches!(target, Target::Generated { .. }).then(|| profile.root());
    let step = |line: &str| {
        if a.verbose {
            crate::output::eprint(&format!("gw probe: {line}\n"));
        }
    };
    let expected = expected(&a.owner, own_dir, policy)?;
    step(&format!(
        "{key}: every listener of the port must be held by pid {}{}",
        expected.pid(),
        if expected.includes_descendants() { " or its descendants" } else { "" }
    ));
    let device = crate::home::load_device(&profile)?;
    let store = profile.store_with(config);
    let sent = choose(&target, &profile, &store, device.as_ref(), &a.role)?.ok_or_else(|| {
        err(
            EXIT_NOT_FOUND,
            "not_found",
            key.as_str(),
            format!("no credential stored for it in profile `{}`; {}", profile.name(), target.explain()),
        )
        .with_fix(format!("store one: `gw cred set {key} --shared < token-file`"))
    })?;
    let what = sent.describe();
    step(&format!(
        "sending {what}, {}",
        device
            .as_ref()
            .map_or_else(|| "unsigned (no device key)".to_owned(), |d| format!("signed by device {}", d.id()))
    ));
    let req = Connect {
        client: ClientInfo::default(),
        role: a.role.clone(),
        scopes: scopes(&a),
        credential: sent.credential,
        device: device.as_ref(),
    };
    let started = std::time::Instant::now();
    let p = verified_hello(&key, &expected, &req, a.timeout).map_err(|e| {
        let (refused, retry_device) = match &e {
            ProbeError::Gateway(g) if g.kind() == gw_gateway::ErrorKind::AuthRefused => {
                (true, g.refusal().and_then(|r| r.next_step.as_deref()) == Some("retry_with_device_token"))
            }
            _ => (false, false),
        };
        let mut c = CliError::from(e);
        if retry_device && !matches!(sent.slot, Some(Slot::Issued { .. } | Slot::Device(_))) {
            // OpenClaw says so once the device is paired; gw has no device
            // token stored to retry with (only a bootstrap hands one off).
            c.fix = None;
        }
        if refused {
            // Issue 12 item 9: say which credential went, and how to change it.
            c.message = format!("{}; gw sent {what} for {key}", c.message);
            let change =
                Sent { credential: gw_gateway::Credential::None, slot: sent.slot.clone() }.change(&key, profile.name());
            c.fix = Some(match c.fix {
                Some(f) => format!("{f}; {change}"),
                None => change,
            });
        }
        c
    })?;
    let h = &p.hello.hello;
    step(&format!("owner proven ({}), hello-ok after {} ms", p.owner, started.elapsed().as_millis()));
    let handoff = handoff(&store, &key, device.as_ref(), &p)?;
    let owner = match &p.owner {
        Verdict::Owned { pid, listeners } => {
            json!({ "pid": pid, "listeners": listeners.iter().map(|l| l.to_string()).collect::<Vec<_>>() })
        }
        other => json!({ "verdict": other.to_string() }),
    };
    // Printed: only names the parser checked (role and scope names; CLI-1).
    let method = h.auth.method.as_deref().filter(|m| gw_cred::check_role(m).is_ok()).unwrap_or("?");
    let handoff_line = match &handoff {
        Handoff::None => String::new(),
        Handoff::Stored { roles, cleared } => format!(
            "; handed off {} device token(s) ({}), read back, bootstrap {}",
            roles.len(),
            roles.join(", "),
            if *cleared { "cleared" } else { "was not stored" }
        ),
        Handoff::Refused(why) => format!("; {why}"),
    };
    if a.quiet && !out.json {
        return Ok(EXIT_OK);
    }
    out.ok(
        &format!(
            "{key}: owner proven ({}); sent {what}{}; hello-ok (protocol {}, server {}, method {method}, role {}, \
             scopes [{}]){handoff_line}",
            p.owner,
            if p.hello.signed { ", signed by this profile's device" } else { ", unsigned (the profile has no device key)" },
            h.protocol,
            h.server_version.as_deref().unwrap_or("?"),
            h.auth.role,
            h.auth.scopes.join(", "),
        ),
        json!({
            "gateway": key.as_str(),
            "target": if matches!(target, Target::Generated { .. }) { "generated" } else { "given" },
            "owner": owner,
            "credential": sent.slot.as_ref().map_or_else(|| "runtime".to_owned(), Slot::describe),
            "sent": p.hello.sent,
            "device_id": device.as_ref().map(DeviceIdentity::id),
            "signed": p.hello.signed,
            "hello": {
                "protocol": h.protocol,
                "server_version": h.server_version,
                "method": method,
                "role": h.auth.role,
                "scopes": h.auth.scopes,
            },
            "handoff": match &handoff {
                Handoff::None => serde_json::Value::Null,
                Handoff::Stored { roles, cleared } => json!({ "stored": true, "roles": roles, "bootstrap_cleared": cleared }),
                Handoff::Refused(why) => json!({ "stored": false, "reason": why }),
            },
        }),
    );
    Ok(EXIT_OK)
}

/// What became of the device tokens a hello-ok offered.
enum Handoff {
    /// None were offered.
    None,
    /// Stored (per gateway, device and role), read back, bootstrap cleared.
    Stored { roles: Vec<String>, cleared: bool },
    /// Offered outside a bootstrap connect on loopback: not stored (GATE-3).
    Refused(String),
}

/// The hand-off: after a bootstrap connect to the loopback peer only
/// (gw-gateway's GATE-3 check), every device token of the hello-ok
/// persisted per gateway, device and role with its scopes and read back,
/// then the bootstrap token cleared (gw-cred, THREATS CRED-2, CRED-3).
fn handoff(
    store: &CredStore<Document<'_>>,
    key: &GatewayKey,
    device: Option<&DeviceIdentity>,
    p: &Probed,
) -> Result<Handoff, CliError> {
    let tokens = match p.hello.hello.handoff(p.hello.sent, p.peer.ip(), key.as_str()) {
        Ok(t) if t.is_empty() => return Ok(Handoff::None),
        Ok(t) => t,
        Err(e) if e.kind() == gw_gateway::ErrorKind::HandoffRefused && p.hello.sent != "bootstrapToken" => {
            // The normal answer of a gateway that pairs a signed device on a
            // shared-token connect: reported, not stored, not a failure.
            return Ok(Handoff::Refused(format!(
                "the gateway offered {} device token(s) after a `{}` connect: not stored (only a bootstrap connect \
                 hands off device tokens)",
                p.hello.hello.auth.device_token.iter().count() + p.hello.hello.auth.device_tokens.len(),
                p.hello.sent
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let r = store.handoff_to(key, device.map(DeviceIdentity::id), &tokens)?;
    Ok(Handoff::Stored { roles: r.roles, cleared: r.bootstrap_cleared })
}
