//! `gw probe`: a verified connection to a local gateway — ownership of the
//! port proven (gw-portguard) before a byte is sent, then the WebSocket
//! upgrade with the one credential gw-cred's TOK-2 rule allows, the hello-ok
//! read, and, for a bootstrap credential, the hand-off of every role token it
//! returned (gw-cred: persisted, read back, then the bootstrap cleared).
//!
//! Also the validator of `gw cred replace-shared --validate-with-probe`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use gw_anchor::{Policy, Root};
use gw_cred::{
    CredStore, Credential, GatewayKey, Home, MAX_HELLO_BYTES, Origin, Slot, StoreConfig, Target, home_path,
    parse_hello_ok,
};
use gw_persist::{Document, Limits, parse_json};
use gw_portguard::{ConnectError, Expected, Options, Verdict};
use gw_token::{Secret, unix_now};
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::cmd::serve::{PIDFILE, ROLE_HEADER};
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
    /// How long the connection and the hello may take.
    #[arg(long, default_value = "5s", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
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
        (Some(pid), _, _) => Expected::pid(pid),
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
        Some(uid) => e.uid(uid),
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
    /// The hello-ok message (it may hold device tokens: never printed).
    hello: Secret,
    pub(crate) method: String,
    pub(crate) role: String,
}

/// Connects to `key` only once `expected` is proven to own the port, then
/// upgrades with `secret` and reads the hello-ok. Nothing is sent before
/// the proof.
///
/// # Security
/// THREATS PORT-1/PORT-2 (ownership proven by gw-portguard on the connected
/// stream, never by what the peer answers), PORT-5 (every listener on the port).
pub(crate) fn verified_hello(
    key: &GatewayKey,
    expected: &Expected,
    secret: &Secret,
    role: &str,
    timeout: Duration,
) -> Result<Probed, CliError> {
    let addr = address(key)?;
    let opts = Options { timeout: timeout.min(Duration::from_secs(2)), ..Options::default() };
    let (stream, owner) = match gw_portguard::connect_verified_with_verdict(addr, expected, &opts) {
        Ok(s) => s,
        Err(ConnectError::Refused(v)) => {
            let kind = if matches!(v, Verdict::Unknown { .. }) { "unknown_owner" } else { "not_owned" };
            let mut e = err(EXIT_REFUSED, kind, &addr.to_string(), format!("{v}; nothing was sent"));
            if let Some(fix) = v.fix_hint() {
                e = e.with_fix(fix);
            }
            return Err(e);
        }
        Err(ConnectError::Io { op, addr, source }) => {
            return Err(err(EXIT_FAILED, "io", &addr.to_string(), format!("{op}: {source}"))
                .with_fix("is the gateway running? (`gw serve --profile NAME`)"));
        }
    };
    let (method, role_got, hello) = upgrade(stream, key, secret, role, timeout)?;
    Ok(Probed { owner, hello, method, role: role_got })
}

/// The WebSocket upgrade over a verified stream.
fn upgrade(
    stream: TcpStream,
    key: &GatewayKey,
    secret: &Secret,
    role: &str,
    timeout: Duration,
) -> Result<(String, String, Secret), CliError> {
    let at = key.as_str();
    let io_err = |e: io::Error| err(EXIT_FAILED, "io", at, format!("socket setup: {e}"));
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let mut req = at.into_client_request().map_err(|e| err(EXIT_FAILED, "io", at, format!("request: {e}")))?;
    let mut bearer = HeaderValue::from_bytes(&[b"Bearer ", secret.expose()].concat())
        .map_err(|_| err(2, "usage", at, "the credential is not a valid header value"))?;
    bearer.set_sensitive(true);
    req.headers_mut().insert("authorization", bearer);
    req.headers_mut().insert(
        ROLE_HEADER,
        HeaderValue::from_str(role).map_err(|_| CliError::usage("probe", "the role is not a valid header value"))?,
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_HELLO_BYTES as usize))
        .max_frame_size(Some(MAX_HELLO_BYTES as usize));
    let (mut ws, _resp) = match tungstenite::client::client_with_config(req, stream, Some(config)) {
        Ok(x) => x,
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            let code = r.status();
            let (exit, kind, why) = if code == 401 {
                (EXIT_REFUSED, "unauthorized", "the gateway refused the credential (HTTP 401)".to_owned())
            } else {
                (EXIT_FAILED, "http", format!("the gateway answered HTTP {code}"))
            };
            return Err(err(exit, kind, at, why));
        }
        Err(e) => return Err(err(EXIT_FAILED, "io", at, format!("the WebSocket upgrade failed: {e}"))),
    };
    let msg = loop {
        match ws.read() {
            Ok(Message::Text(t)) => break Secret::new(t.as_bytes().to_vec()),
            Ok(Message::Binary(b)) => break Secret::new(b.to_vec()),
            Ok(Message::Close(_)) => return Err(err(EXIT_FAILED, "io", at, "the gateway closed before hello-ok")),
            Ok(_) => {}
            Err(e) => return Err(err(EXIT_FAILED, "io", at, format!("reading hello-ok: {}", short(&e)))),
        }
    };
    close(&mut ws);
    let doc = parse_json(msg.expose(), &Limits::new(MAX_HELLO_BYTES, 32))
        .map_err(|e| err(EXIT_FAILED, "bad_hello", at, format!("the hello is not valid JSON: {}", e.message())))?;
    if doc.get("type").and_then(Value::as_str) != Some("hello-ok") {
        return Err(err(EXIT_FAILED, "bad_hello", at, "the first message is not a hello-ok"));
    }
    // Printed later: only a value shaped like a role name (CLI-1: a gateway
    // that swapped `role` and `token` must not make gw print the token).
    let field = |p: &str| match doc.pointer(p).and_then(Value::as_str) {
        Some(v) if gw_cred::check_role(v).is_ok() => v.to_owned(),
        Some(_) => "(not a role name, not shown)".to_owned(),
        None => "?".to_owned(),
    };
    Ok((field("/auth/method"), field("/auth/role"), msg))
}

fn close(ws: &mut WebSocket<TcpStream>) {
    let _ = ws.close(None);
    // Until the close handshake ends (bounded by the read timeout).
    while ws.read().is_ok() {}
}

fn short(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(r) => format!("HTTP {}", r.status()),
        other => other.to_string(),
    }
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
    let expected = expected(&a.owner, own_dir, policy)?;
    let store = profile.store_with(config);
    let cred = target.credential(&profile, &store, &a.role, unix_now())?.ok_or_else(|| {
        let mut e = err(
            EXIT_NOT_FOUND,
            "not_found",
            key.as_str(),
            format!("no credential stored for it in profile `{}`; {}", profile.name(), target.explain()),
        );
        e = e.with_fix(format!("store one: `gw cred set {key} --shared < token-file`"));
        e
    })?;
    let p = verified_hello(&key, &expected, cred.secret(), &a.role, a.timeout)?;
    let handoff = handoff(&store, &key, &cred, &p)?;
    let owner = match &p.owner {
        Verdict::Owned { pid, listeners } => {
            json!({ "pid": pid, "listeners": listeners.iter().map(|l| l.to_string()).collect::<Vec<_>>() })
        }
        other => json!({ "verdict": other.to_string() }),
    };
    let handoff_line = match &handoff {
        Some((roles, cleared)) => format!(
            "; handed off {} role token(s) ({}), read back, bootstrap {}",
            roles.len(),
            roles.join(", "),
            if *cleared { "cleared" } else { "was not stored" }
        ),
        None => String::new(),
    };
    out.ok(
        &format!(
            "{key}: owner proven ({}); sent the {} credential; hello-ok (method {}, role {}){handoff_line}",
            p.owner,
            cred.describe(),
            p.method,
            p.role
        ),
        json!({
            "gateway": key.as_str(),
            "target": if matches!(target, Target::Generated { .. }) { "generated" } else { "given" },
            "owner": owner,
            "credential": cred.describe(),
            "hello": { "method": p.method, "role": p.role },
            "handoff": handoff.map(|(roles, cleared)| json!({ "roles": roles, "bootstrap_cleared": cleared })),
        }),
    );
    Ok(EXIT_OK)
}

/// The hand-off of a bootstrap credential: every role token of the hello-ok
/// persisted and read back, then the bootstrap token cleared (gw-cred,
/// THREATS CRED-2, CRED-3). `None` when there is nothing to hand off.
fn handoff(
    store: &CredStore<Document<'_>>,
    key: &GatewayKey,
    cred: &Credential,
    p: &Probed,
) -> Result<Option<(Vec<String>, bool)>, CliError> {
    if cred.slot() != Some(&Slot::Bootstrap) || p.method != "bootstrap" {
        return Ok(None);
    }
    let tokens = parse_hello_ok(p.hello.expose())?;
    let r = store.handoff(key, &tokens)?;
    Ok(Some((r.roles, r.bootstrap_cleared)))
}

/// The validator of `gw cred replace-shared --validate-with-probe`: the new
/// shared token is accepted only if the gateway at `key`, proven to belong
/// to the expected owner, answers hello-ok to it.
/// Resolves the expected owner of `--pid`/`--pidfile`/`--lease` (a missing
/// pidfile: exit 4), for a check before anything else is done.
pub(crate) fn check_owner(owner: &OwnerArgs, policy: &Policy) -> Result<(), CliError> {
    expected(owner, None, policy).map(drop)
}

pub(crate) fn validate_shared(
    key: &GatewayKey,
    owner: &OwnerArgs,
    policy: &Policy,
    token: &Secret,
    timeout: Duration,
) -> Result<(), String> {
    let expected = expected(owner, None, policy).map_err(|e| e.line())?;
    let p = verified_hello(key, &expected, token, "operator", timeout).map_err(|e| e.line())?;
    if p.method != "shared" {
        return Err(format!("the gateway accepted it as `{}`, not as its shared token", p.method));
    }
    Ok(())
}
