//! A verified connection to a local gateway: its port's owner proven
//! (gw-portguard) before a byte is sent, then gw-gateway's protocol-4
//! handshake. Used by `gw probe` and by the validator of `gw cred
//! replace-shared --validate-with-probe`. Not a command: commands import
//! it, never each other.

use std::net::SocketAddr;
use std::time::Duration;

use gw_anchor::{Policy, Root};
use gw_cred::GatewayKey;
use gw_gateway::{Bounds, ClientInfo, Connect, Hello};
use gw_portguard::{ConnectError, Expected, Options, Verdict};
use gw_token::Secret;

use crate::cli::probe::OwnerArgs;
use crate::output::{CliError, EXIT_FAILED, EXIT_REFUSED};
use crate::owner::{NotProvable, Owner, OwnerError};

/// An error of `gw probe`, about `at`.
pub(crate) fn err(code: u8, kind: &'static str, at: &str, message: impl Into<String>) -> CliError {
    CliError { code, kind, op: "probe", path: Some(at.to_owned()), message: message.into(), fix: None }
}

/// The expected owner from the flags, else (for the profile's own gateway)
/// from the profile's `serve.pid` (crate::owner's rules).
pub(crate) fn expected(owner: &OwnerArgs, profile_dir: Option<&Root>, policy: &Policy) -> Result<Expected, CliError> {
    let lease = match (&owner.lease, &owner.id) {
        (Some(dir), Some(id)) => Some((dir.as_path(), id.as_str())),
        (Some(_), None) => return Err(CliError::usage("probe", "--lease DIR needs --id ID")),
        (None, _) => None,
    };
    let from_flags = Owner::from_flags(owner.pid, owner.pidfile.as_deref(), lease, policy)?;
    let o = match (from_flags, profile_dir) {
        (Some(o), _) => o,
        (None, Some(dir)) => Owner::profile(dir, policy)?,
        (None, None) => {
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
    let e = o.expected().map_err(|e| match e {
        OwnerError::Pidfile(at, p) => pidfile_error(&at.display().to_string(), &p),
        OwnerError::Lease(l) => CliError::from(*l),
    })?;
    Ok(match owner.uid {
        Some(uid) => e.with_uid(uid),
        None => e,
    })
}

fn pidfile_error(at: &str, e: &gw_portguard::Error) -> CliError {
    let mut c = err(CliError::code_for(e.class()), "pidfile", at, e.message().to_owned());
    if let Some(fix) = e.fix() {
        c = c.with_fix(fix);
    }
    if e.kind() == gw_portguard::ErrorKind::NotRunning || e.message().contains("No such file") {
        c = c.with_fix("is the gateway running? start it with `gw serve --profile NAME`");
    }
    c
}

/// The loopback address to connect to for `key` (crate::owner's rule; a
/// gateway elsewhere is refused: nothing is sent).
pub(crate) fn address(key: &GatewayKey) -> Result<SocketAddr, CliError> {
    crate::owner::loopback(key).map_err(|why| match why {
        NotProvable::NotWs => CliError::usage("probe", why.message(key)),
        NotProvable::NotLoopback => {
            err(EXIT_REFUSED, "not_loopback", key.as_str(), format!("{}, so nothing is sent", why.message(key)))
        }
    })
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
