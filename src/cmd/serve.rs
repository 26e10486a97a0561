//! `gw serve`: the reference gateway. A WebSocket server on 127.0.0.1 and
//! ::1 (one process, one port) speaking OpenClaw's protocol 4 — challenge,
//! one `connect` with the credential in `params.auth` and an optional
//! signed device, a `res` with the hello-ok (device tokens per device and
//! role) or OpenClaw's refusal — through gw-gateway's `server` module; this
//! file only wires arguments, listeners, the pidfile, the lease and logs.
//!
//! Bounds: at most `--max-connections` at once (more get HTTP 503), the
//! upgrade and the `connect` must arrive within `--handshake-timeout` (the
//! upgrade in 16 KiB), frames are at most `--max-message-bytes` (a bigger
//! one is answered with close code 1009 and the connection ends), idle
//! connections are closed after `--idle-timeout`. Its pidfile (`serve.pid` in the profile directory,
//! "PID STARTTIME", 0644) is written atomically once both listeners are
//! bound, with a gw-lease liveness record in the profile's `leases/`; both
//! are removed on SIGTERM/SIGINT. Logs go to stderr and name the
//! peer, the method and the outcome, never a token.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gw_anchor::{Policy, Root, WriteOptions};
use gw_cred::{GatewayKey, Home, MAX_SECRET_LEN, Slot, home_path};
use gw_gateway::server::{Gate, ServerConfig, serve_connection};
use gw_token::{Secret, unix_now};
use serde_json::json;

use crate::cli::serve::{Bind, ServeArgs};
use crate::output::{CliError, EXIT_FAILED, EXIT_OK, Output};
use crate::owner::PIDFILE;

/// The liveness records directory in the profile directory.
pub(crate) const LEASES_DIR: &str = "leases";

fn failed(op: &'static str, at: impl Into<String>, message: impl Into<String>) -> CliError {
    CliError { code: EXIT_FAILED, kind: "io", op, path: Some(at.into()), message: message.into(), fix: None }
}

/// Log one line on stderr (never a token: callers pass only peers, methods,
/// roles and reasons).
fn log(line: &str) {
    crate::output::eprint(&format!("gw serve: {line}\n"));
}

/// Binds the listeners of `bind` on `port` (0: a free port both families share).
fn bind_all(bind: Bind, port: u16) -> Result<Vec<TcpListener>, CliError> {
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let one = |a: SocketAddr| {
        TcpListener::bind(a).map_err(|e| {
            failed("serve", a.to_string(), format!("cannot listen: {e}")).with_fix(format!(
                "pick another port with --port, or stop what holds port {port} (`gw port who {port}`)"
            ))
        })
    };
    match bind {
        Bind::Ipv4 => Ok(vec![one(v4)?]),
        Bind::Ipv6 => Ok(vec![one(v6)?]),
        Bind::Both if port != 0 => Ok(vec![one(v4)?, one(v6)?]),
        Bind::Both => {
            // A free port on 127.0.0.1 may be taken on ::1: try a few.
            for _ in 0..32 {
                let a = one(v4)?;
                let p = a.local_addr().map_err(|e| failed("serve", v4.to_string(), e.to_string()))?.port();
                if let Ok(b) = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, p))) {
                    return Ok(vec![a, b]);
                }
            }
            Err(failed("serve", "127.0.0.1:0", "found no port free on both 127.0.0.1 and ::1"))
        }
    }
}

pub(crate) fn run(a: ServeArgs, profile_name: &str, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let home = Home::open(&home_path()?, policy)?;
    let profile = home.profile(profile_name)?;
    let config = profile.config()?;
    let root_secret = profile.root_secret()?;
    let shared = match &a.shared_token_file {
        Some(path) => Some(read_shared(path, policy)?),
        None => None,
    };
    let password = match &a.password_file {
        Some(path) => Some(read_shared(path, policy)?),
        None => None,
    };
    // Signals first: a SIGTERM that arrives once the pidfile exists must remove it.
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
        .map_err(|e| failed("serve", "signals", format!("cannot install the signal handlers: {e}")))?;
    let listeners = bind_all(a.bind, a.port.unwrap_or(config.port))?;
    let port = listeners[0].local_addr().map_err(|e| failed("serve", "listener", e.to_string()))?.port();
    let url = format!("ws://127.0.0.1:{port}");
    let key = GatewayKey::parse(&url)?;
    let gate =
        Arc::new(Gate::new(profile.root(), &root_secret, key.as_str().to_owned(), shared.as_ref(), password.as_ref()));
    drop(root_secret);
    let now = unix_now();
    if a.issue_bootstrap {
        let token = gate
            .issue_bootstrap(now, now.saturating_add(a.bootstrap_ttl.as_secs()))
            .map_err(|e| failed("serve", "issue bootstrap", e.to_string()))?;
        profile.store().set(&key, &Slot::Bootstrap, &token)?;
    }
    write_pidfile(profile.root())?;
    // A liveness record in the profile's leases/ (pid, start time, boot id,
    // port): removed on clean shutdown, pruned by the next registrar if this
    // process dies (THREATS LEASE-1, LEASE-3).
    let leases = profile.root().path().join(LEASES_DIR);
    let lease = gw_lease::Registration::new(format!("serve-{port}"))
        .and_then(|r| r.port(port).payload(json!({ "url": key.as_str(), "profile": profile.name() })))
        .and_then(|r| gw_lease::Registry::open_with(&leases, policy)?.register(&r))
        .map_err(|e| {
            remove_pidfile(profile.root());
            failed("serve", leases.display().to_string(), format!("cannot register the lease: {}", e.message()))
        })?
        .0;
    let addrs: Vec<String> = listeners.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.to_string()).collect();
    let pidfile = profile.root().path().join(PIDFILE);
    out.ok(
        &format!(
            "gw serve: ready: profile `{}` listening on {} (pid {}, pidfile {}){}",
            profile.name(),
            addrs.join(" and "),
            std::process::id(),
            pidfile.display(),
            if a.issue_bootstrap { "; a bootstrap token was stored in the profile's credentials" } else { "" }
        ),
        json!({
            "event": "ready", "profile": profile.name(), "port": port, "url": key.as_str(), "listen": addrs,
            "pid": std::process::id(), "pidfile": pidfile, "bootstrap_issued": a.issue_bootstrap,
            "shared_token": shared.is_some(), "password": password.is_some(), "protocol": gw_gateway::PROTOCOL_VERSION,
        }),
    );
    let limits = Limits {
        max_connections: a.max_connections as usize,
        server: ServerConfig {
            max_payload: a.max_message_bytes as usize,
            handshake: a.handshake_timeout,
            idle: a.idle_timeout,
            ..ServerConfig::default()
        },
        verbose: a.verbose,
        quiet: a.quiet,
    };
    let active = Arc::new(AtomicUsize::new(0));
    let limits = Arc::new(limits);
    // The profile directory is borrowed by the gate; the accept loops run
    // in scoped threads that live until the process exits.
    std::thread::scope(|s| {
        for l in listeners {
            let (gate, active, limits) = (gate.clone(), active.clone(), limits.clone());
            s.spawn(move || accept_loop(l, &gate, &active, &limits));
        }
        let sig = signals.forever().next();
        log(&format!("signal {} received: shutting down", sig.unwrap_or(0)));
        remove_pidfile(profile.root());
        if let Err(e) = lease.release() {
            log(&format!("could not remove the lease: {}", e.message()));
        }
        // The accept loops never return: exit here, with a lost ready line
        // reported like any lost output (CLI-3).
        std::process::exit(i32::from(crate::output::finish(EXIT_OK)));
    })
}

/// Reads the shared token from `path` through gw-anchor (its directory
/// verified; symlinks refused; a file owned by another user or writable by
/// group/other refused: THREATS FS-9, whoever writes it decides who is
/// let in).
fn read_shared(path: &std::path::Path, policy: &Policy) -> Result<Secret, CliError> {
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (if d.as_os_str().is_empty() { std::path::Path::new(".") } else { d }, n),
        _ => return Err(CliError::usage("serve", format!("`{}` is not a file path", path.display()))),
    };
    let root = Root::open(dir, policy)?;
    // At most a credential and a newline; a longer file is refused as an
    // over-long credential is (a usage error).
    let (mut bytes, _) = match root.read_trusted(name, MAX_SECRET_LEN as u64 + 1) {
        Err(e) if e.kind() == gw_anchor::ErrorKind::TooLarge => {
            return Err(CliError::usage(
                "serve",
                format!("the token or password file is longer than {MAX_SECRET_LEN} bytes"),
            ));
        }
        r => r?,
    };
    if bytes.ends_with(b"\n") {
        bytes.pop();
    }
    let secret = Secret::new(bytes);
    let text = std::str::from_utf8(secret.expose())
        .map_err(|_| CliError::usage("serve", "the token or password file is not UTF-8"))?;
    gw_cred::check_secret_text(text)?;
    Ok(secret)
}

/// `PID STARTTIME\n`: the start time lets a reader detect a reused pid
/// (the format gw-portguard's `Expected::from_pidfile` reads).
fn pidfile_line() -> Result<String, CliError> {
    gw_portguard::pidfile_line(std::process::id())
        .map_err(|e| failed("serve", PIDFILE, format!("cannot read this process's start time: {}", e.message())))
}

fn write_pidfile(dir: &Root) -> Result<(), CliError> {
    let line = pidfile_line()?;
    dir.write_atomic(PIDFILE, line.as_bytes(), &WriteOptions::new().mode(0o644))?;
    Ok(())
}

/// Removes the pidfile if it still names this process (a newer `gw serve`
/// may have replaced it).
fn remove_pidfile(dir: &Root) {
    let ours = pidfile_line().ok();
    match dir.read(PIDFILE, 64) {
        Ok(b) if ours.as_deref().map(str::as_bytes) == Some(b.as_slice()) => {
            if let Err(e) = dir.remove(PIDFILE) {
                log(&format!("could not remove the pidfile: {e}"));
            }
        }
        Ok(_) => log("the pidfile names another process: left in place"),
        Err(e) => log(&format!("could not read the pidfile: {e}")),
    }
}

#[derive(Debug)]
struct Limits {
    max_connections: usize,
    server: ServerConfig,
    /// `-v`: log each accepted connection too.
    verbose: bool,
    /// `-q`: log only what did not complete the hello.
    quiet: bool,
}

/// Holds one connection slot until dropped.
struct ConnSlot<'a>(&'a AtomicUsize);
impl Drop for ConnSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The most 503 answers being written at once.
const MAX_REJECTING: usize = 16;

fn reject_busy(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.read(&mut buf);
}

fn accept_loop(listener: TcpListener, gate: &Arc<Gate<'_>>, active: &Arc<AtomicUsize>, limits: &Arc<Limits>) {
    let rejecting = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        loop {
            let (stream, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) => {
                    log(&format!("accept failed: {e}"));
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
                active.fetch_sub(1, Ordering::SeqCst);
                log(&format!("{peer}: refused: {} connections already (HTTP 503)", limits.max_connections));
                // Answered in a thread of its own, bounded in number and
                // time: the request is read first (closing with it unread
                // would reset the connection and lose the answer).
                if rejecting.fetch_add(1, Ordering::SeqCst) < MAX_REJECTING {
                    let rejecting = rejecting.clone();
                    s.spawn(move || {
                        let _slot = ConnSlot(&rejecting);
                        reject_busy(stream);
                    });
                } else {
                    rejecting.fetch_sub(1, Ordering::SeqCst);
                }
                continue;
            }
            if limits.verbose {
                log(&format!("{peer}: connected"));
            }
            let (gate, active, limits) = (gate.clone(), active.clone(), limits.clone());
            s.spawn(move || {
                let _slot = ConnSlot(&active);
                let outcome = serve_connection(stream, peer, &gate, &limits.server);
                if limits.quiet && outcome.accepted {
                    return;
                }
                for line in outcome.lines {
                    log(&format!("{peer}: {line}"));
                }
            });
        }
    });
}
