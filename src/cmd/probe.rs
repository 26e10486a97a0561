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
//! Also the validator of `gw cred replace-shared --validate-with-probe`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use gw_anchor::{Policy, Root};
use gw_cred::{CredStore, GatewayKey, Home, Origin, Slot, StoreConfig, Target, home_path};
use gw_gateway::{Bounds, ClientInfo, Connect, DeviceIdentity, Hello};
use gw_persist::Document;
use gw_portguard::{ConnectError, Expected, Options, Verdict};
use gw_token::{Secret, unix_now};
use serde_json::json;

use crate::cmd::serve::PIDFILE;
use crate::output::{CliError, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, Output};

/// Whose port it must be: the expected owner of the gateway's listeners.
#[derive(Debug, Args)]
pub(crate) struct OwnerArgs {
    /// The gateway's pid: every listener on the port must belong to it or its descendants.
    #[arg(long, group = "probe_owner")]
    pub(crate) pid: Option<u32>,
    /// A pidfile naming the gateway's pid ("PID" or "PID STARTTIME"); its
    /// directory is verified like any gw directory, and the pidfile must be
    /// yours or root's and not writable by group/other (else refused, exit 3:
    /// whoever can write it picks who receives the credential).
    #[arg(long, value_name = "PATH", group = "probe_owner")]
    pub(crate) pidfile: Option<PathBuf>,
    /// A gw-lease registry directory (`gw serve` keeps one in its profile
    /// directory: `~/.config/gw/profiles/NAME/leases`); with --id, the gateway is
    /// the record's process, named by pid and start time. Refused (exit 3,
    /// nothing sent) if the directory is insecure or the record's process is
    /// not running (dead, expired, pid reused) or was registered in another
    /// boot or pid namespace; exit 4 if no record has the id.
    #[arg(long, value_name = "DIR", group = "probe_owner", requires = "id")]
    pub(crate) lease: Option<PathBuf>,
    /// The lease record's id (`gw serve` registers `serve-PORT`).
    #[arg(long, value_name = "ID", requires = "lease")]
    pub(crate) id: Option<String>,
    /// Every listener must also be owned by this uid.
    #[arg(long)]
    pub(crate) uid: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// The gateway URL (ws://, loopback). It gets only the credential stored
    /// for it, never a runtime token, and needs --pid, --pidfile or --lease
    /// DIR --id ID. Without URL: the --profile's own gateway (URL generated
    /// from its config.json, owner from its serve.pid unless --pid, --pidfile
    /// or --lease is given), which may get a runtime token.
    pub(crate) url: Option<String>,
    #[command(flatten)]
    pub(crate) owner: OwnerArgs,
    /// The role to connect as (the device token of this role is preferred).
    #[arg(long, default_value = "operator")]
    pub(crate) role: String,
    /// A scope to ask for (repeatable). Default: `operator.read` for the
    /// role operator, none for other roles.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// How long the connection and the hello may take.
    #[arg(long, default_value = "5s", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
    /// Print each step on stderr as it happens: the owner expected, the
    /// credential chosen (which one, never its value), the proof and the
    /// answer with their timing.
    #[arg(short, long, conflicts_with = "quiet")]
    pub(crate) verbose: bool,
    /// Print nothing when the probe succeeds (the exit code says so); errors
    /// are still printed, and --json output is unchanged.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 5s: {e}"))?;
    if d.is_zero() || d > Duration::from_secs(300) {
        return Err(format!("`{s}` must be between 1ms and 5m"));
    }
    Ok(d)
}

fn err(code: u8, kind: &'static str, at: &str, message: impl Into<String>) -> CliError {
    CliError { code, kind, op: "probe", path: Some(at.to_owned()), message: message.into(), fix: None }
}

/// The expected owner from the flags, else (for the profile's own gateway)
/// from the profile's `serve.pid`.
fn expected(owner: &OwnerArgs, profile_dir: Option<&Root>, policy: &Policy) -> Result<Expected, CliError> {
    let e = match (owner.pid, &owner.pidfile, profile_dir) {
        (Some(pid), _, _) => Expected::new(pid),
        (None, None, _) if owner.lease.is_some() => {
            let (Some(dir), Some(id)) = (&owner.lease, &owner.id) else {
                return Err(CliError::usage("probe", "--lease DIR needs --id ID"));
            };
            crate::cmd::port::lease_owner(dir, id, policy)?
        }
        (None, Some(path), _) => {
            let (dir, name) = split(path)?;
            let root = Root::open(dir, policy)?;
            Expected::from_pidfile(&root, name).map_err(|e| pidfile_error(&path.display().to_string(), &e))?
        }
        (None, None, Some(dir)) => Expected::from_pidfile(dir, PIDFILE)
            .map_err(|e| pidfile_error(&dir.path().join(PIDFILE).display().to_string(), &e))?,
        (None, None, None) => {
            return Err(CliError::usage(
                "probe",
                "a URL from the command line needs --pid, --pidfile or --lease DIR --id ID: who should own its port \
                 cannot be guessed",
            )
            .with_fix(
                "add --pidfile PATH (or --pid PID) of the gateway, or probe the profile's own gateway without a URL",
            ));
        }
    };
    Ok(match owner.uid {
        Some(uid) => e.with_uid(uid),
        None => e,
    })
}

fn pidfile_error(at: &str, e: &gw_portguard::Error) -> CliError {
    let code = match e.kind() {
        _ if e.is_security_refusal() => EXIT_REFUSED,
        gw_portguard::ErrorKind::PidfileNotFound => crate::output::EXIT_NOT_FOUND,
        _ => EXIT_FAILED,
    };
    let mut c = err(code, "pidfile", at, e.message().to_owned());
    if let Some(fix) = e.fix() {
        c = c.with_fix(fix);
    }
    if e.kind() == gw_portguard::ErrorKind::NotRunning || e.message().contains("No such file") {
        c = c.with_fix("is the gateway running? start it with `gw serve --profile NAME`");
    }
    c
}

fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), CliError> {
    match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => Ok((if d.as_os_str().is_empty() { Path::new(".") } else { d }, n)),
        _ => Err(CliError::usage("probe", format!("`{}` is not a file path", path.display()))),
    }
}

/// The loopback address to connect to for `key` (refused if it is not loopback).
fn address(key: &GatewayKey) -> Result<SocketAddr, CliError> {
    if !key.as_str().starts_with("ws://") {
        return Err(CliError::usage("probe", format!("{key}: only ws:// gateways can be probed")));
    }
    if !key.is_loopback() {
        return Err(err(
            EXIT_REFUSED,
            "not_loopback",
            key.as_str(),
            "the host is not loopback: who owns a remote port cannot be proven, so nothing is sent",
        ));
    }
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, key.port())))
}

/// What a probe established.
#[derive(Debug)]
pub(crate) struct Probed {
    pub(crate) owner: Verdict,
    /// The handshake's outcome (its hello-ok may hold device tokens: never printed).
    pub(crate) hello: Hello,
    /// The peer the connect went to (loopback: [`address`] refuses others).
    pub(crate) peer: SocketAddr,
}

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

/// Connects to `key` only once `expected` is proven to own the port, then
/// runs the handshake with `credential`, signed by `device`. Nothing is sent
/// before the proof.
///
/// # Security
/// THREATS PORT-1/PORT-2 (ownership proven by gw-portguard on the connected
/// stream, never by what the peer answers), PORT-5 (every listener on the port).
pub(crate) fn verified_hello(
    key: &GatewayKey,
    expected: &Expected,
    req: &Connect<'_>,
    timeout: Duration,
) -> Result<Probed, ProbeError> {
    let addr = address(key).map_err(ProbeError::Cli)?;
    // The proof gets the whole --timeout: on a loaded machine the gateway may
    // accept late, and an unaccepted connection cannot be attributed.
    let opts = Options { timeout, ..Options::default() };
    let (stream, owner) = match gw_portguard::connect_verified_with_verdict(addr, expected, &opts) {
        Ok(s) => s,
        Err(ConnectError::Refused(v)) => {
            let kind = if matches!(v, Verdict::Unknown { .. }) { "unknown_owner" } else { "not_owned" };
            let mut e = err(EXIT_REFUSED, kind, &addr.to_string(), format!("{v}; nothing was sent"));
            if let Some(fix) = v.fix_hint() {
                e = e.with_fix(fix);
            }
            return Err(ProbeError::Cli(e));
        }
        Err(ConnectError::Io { op, addr, source }) => {
            return Err(ProbeError::Cli(
                err(EXIT_FAILED, "io", &addr.to_string(), format!("{op}: {source}"))
                    .with_fix("is the gateway running? (`gw serve --profile NAME`)"),
            ));
        }
    };
    let bounds = Bounds { challenge: timeout, handshake: timeout.saturating_mul(2), ..Bounds::default() };
    let (mut ws, hello) = gw_gateway::connect(stream, key.as_str(), req, &bounds).map_err(ProbeError::Gateway)?;
    // A clean close, so the gateway logs no dropped socket.
    gw_gateway::close(&mut ws, Duration::from_secs(1));
    Ok(Probed { owner, hello, peer: addr })
}

/// Why [`verified_hello`] failed: before the handshake (the port's owner,
/// the address), or in it (the gateway's answer).
#[derive(Debug)]
pub(crate) enum ProbeError {
    /// Before a byte was sent.
    Cli(CliError),
    /// The handshake.
    Gateway(gw_gateway::Error),
}

impl From<ProbeError> for CliError {
    fn from(e: ProbeError) -> Self {
        match e {
            ProbeError::Cli(c) => c,
            ProbeError::Gateway(g) => g.into(),
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

/// Exactly one credential, by gw-gateway's precedence over what the store
/// holds for (gateway, device, role): device token > shared token >
/// password > bootstrap token (THREATS CRED-1); else, where TOK-2 allows
/// it, a runtime token (sent as the shared token).
fn choose(
    target: &Target,
    profile: &gw_cred::Profile,
    store: &CredStore<Document<'_>>,
    device: Option<&DeviceIdentity>,
    role: &str,
) -> Result<Option<Sent>, CliError> {
    let key = target.key();
    let issued = match device {
        Some(d) => Slot::Issued { device: d.id().to_owned(), role: role.to_owned() },
        None => Slot::Device(role.to_owned()),
    };
    let get = |slot: &Slot| -> Result<Option<(Slot, Secret)>, CliError> {
        Ok(store.get(key, slot)?.map(|s| (slot.clone(), s)))
    };
    let dev = match get(&issued)? {
        Some(found) => Some(found),
        None => get(&Slot::Device(role.to_owned()))?,
    };
    let (dev_slot, dev) = dev.unzip();
    let shared = get(&Slot::Shared)?.map(|(_, s)| s);
    let password = get(&Slot::Password)?.map(|(_, s)| s);
    let bootstrap = get(&Slot::Bootstrap)?.map(|(_, s)| s);
    let credential = gw_gateway::Credential::choose(dev, shared, password, bootstrap);
    let slot = match &credential {
        gw_gateway::Credential::DeviceToken(_) => dev_slot,
        gw_gateway::Credential::Token(_) => Some(Slot::Shared),
        gw_gateway::Credential::Password(_) => Some(Slot::Password),
        gw_gateway::Credential::BootstrapToken(_) => Some(Slot::Bootstrap),
        _ => None,
    };
    if slot.is_some() {
        return Ok(Some(Sent { credential, slot }));
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
    let device = crate::cmd::cred::load_device(&profile)?;
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

/// Resolves the expected owner of `--pid`/`--pidfile`/`--lease` (a missing
/// pidfile: exit 4), for a check before anything else is done.
pub(crate) fn check_owner(owner: &OwnerArgs, policy: &Policy) -> Result<(), CliError> {
    expected(owner, None, policy).map(drop)
}

/// The validator of `gw cred replace-shared --validate-with-probe`: the new
/// shared token is accepted only if the gateway at `key`, proven to belong
/// to the expected owner, completes the handshake with it as its shared
/// token (`auth.method` `token`).
pub(crate) fn validate_shared(
    key: &GatewayKey,
    owner: &OwnerArgs,
    policy: &Policy,
    token: &Secret,
    timeout: Duration,
) -> Result<(), String> {
    let expected = expected(owner, None, policy).map_err(|e| e.line())?;
    let req = Connect {
        client: ClientInfo::default(),
        role: "operator".to_owned(),
        scopes: vec!["operator.read".to_owned()],
        credential: gw_gateway::Credential::Token(Secret::new(token.expose().to_vec())),
        device: None,
    };
    let p = verified_hello(key, &expected, &req, timeout).map_err(|e| CliError::from(e).line())?;
    match p.hello.hello.auth.method.as_deref() {
        Some("token") => Ok(()),
        other => Err(format!(
            "the gateway accepted it as `{}`, not as its shared token",
            other.filter(|m| gw_cred::check_role(m).is_ok()).unwrap_or("?")
        )),
    }
}
