//! Writing service files through gw-anchor and re-verifying them before the
//! hand-off to a service manager: THREATS FS-1 and FS-2 (planted symlinks),
//! FS-8 (re-check before hand-off: a swapped directory, a replaced or
//! changed file, a chain that became insecure), CLI-2 (a refused spec
//! writes nothing), and DOC-3 (an agent its own plist loader refuses is not
//! written). Every case on a resolver runs on both.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use gw_anchor::{Policy, Resolver, Root};
use gw_persist::ErrorKind;
use gw_persist::service::{LaunchAgent, SERVICE_FILE_MODE, ServiceSpec, SystemdUnit, write_rendered};
use serde_json::{Value, json};

const RESOLVERS: [Resolver; 2] = [Resolver::Openat2, Resolver::Walk];
const OUTSIDE: &[u8] = b"OUTSIDE: must never change\n";

/// `base/` (0700) holding `home/` (the root, 0700) and `outside/secret`.
struct Sandbox {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    home: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::Builder::new().prefix("gw-service-write-").tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
        let home = base.join("home");
        let outside = base.join("outside");
        for d in [&home, &outside] {
            std::fs::create_dir(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        std::fs::write(outside.join("secret"), OUTSIDE).unwrap();
        Self { _tmp: tmp, base, home, outside }
    }

    fn root(&self, r: Resolver) -> Root {
        Root::open(&self.home, &Policy::new().resolver(r)).unwrap()
    }

    fn assert_outside_unchanged(&self) {
        assert_eq!(std::fs::read(self.outside.join("secret")).unwrap(), OUTSIDE);
        let names: Vec<_> = std::fs::read_dir(&self.outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["secret"], "nothing may be created outside the root");
    }
}

fn unit() -> ServiceSpec {
    ServiceSpec::Systemd(SystemdUnit {
        description: Some("gw test".into()),
        exec_start: vec!["/bin/true".into(), "serve".into()],
        wanted_by: vec!["default.target".into()],
        ..Default::default()
    })
}

fn agent() -> ServiceSpec {
    ServiceSpec::Launchd(LaunchAgent {
        label: "ai.gw.test".into(),
        program_arguments: vec!["/usr/local/bin/gw".into(), "serve".into()],
        run_at_load: Some(true),
        ..Default::default()
    })
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn fs_kind(e: &gw_persist::Error) -> gw_anchor::ErrorKind {
    match e.kind() {
        ErrorKind::Fs(k) => k,
        other => panic!("expected a filesystem error, got {other:?}: {e}"),
    }
}

#[test]
fn writes_mode_0644_atomically_and_hands_off_the_verified_path() {
    for r in RESOLVERS {
        let sb = Sandbox::new();
        let root = sb.root(r);
        std::fs::create_dir(sb.home.join("user")).unwrap();
        std::fs::set_permissions(sb.home.join("user"), std::fs::Permissions::from_mode(0o700)).unwrap();
        for (spec, rel) in [(unit(), "user/gw.service"), (agent(), "ai.gw.test.plist")] {
            let written = spec.write(&root, rel).unwrap();
            let path = written.verify_before_handoff().unwrap();
            assert_eq!(path, sb.home.join(rel), "{r:?}");
            assert_eq!(std::fs::read(&path).unwrap(), spec.render().unwrap());
            assert_eq!(written.bytes(), spec.render().unwrap());
            assert_eq!(mode_of(&path), SERVICE_FILE_MODE);
            // Writing again replaces it; the new write verifies too.
            let again = spec.write(&root, rel).unwrap();
            assert_eq!(again.verify_before_handoff().unwrap(), path);
        }
        let names: Vec<_> = std::fs::read_dir(&sb.home).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().starts_with(".gw-tmp.")), "temporaries left: {names:?}");
    }
}

#[test]
fn fs_1_symlink_planted_at_the_service_file_is_refused() {
    for r in RESOLVERS {
        let sb = Sandbox::new();
        let root = sb.root(r);
        symlink(sb.outside.join("secret"), sb.home.join("gw.service")).unwrap();
        let e = unit().write(&root, "gw.service").unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::Symlink, "{r:?}: {e}");
        assert!(e.kind().is_security_refusal());
        assert!(std::fs::symlink_metadata(sb.home.join("gw.service")).unwrap().file_type().is_symlink());
        sb.assert_outside_unchanged();
    }
}

#[test]
fn fs_2_symlink_planted_at_a_parent_is_refused() {
    for r in RESOLVERS {
        let sb = Sandbox::new();
        let root = sb.root(r);
        symlink(&sb.outside, sb.home.join("user")).unwrap();
        let e = unit().write(&root, "user/gw.service").unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::Symlink, "{r:?}: {e}");
        let e = write_rendered(&root, "user/gw.plist", agent().render().unwrap()).unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::Symlink, "{r:?}: {e}");
        sb.assert_outside_unchanged();
    }
}

#[test]
fn fs_8_verify_before_handoff_fails_after_the_directory_is_swapped() {
    for r in RESOLVERS {
        // The root itself replaced by another directory holding a look-alike.
        let sb = Sandbox::new();
        let root = sb.root(r);
        let written = unit().write(&root, "gw.service").unwrap();
        std::fs::rename(&sb.home, sb.base.join("home.old")).unwrap();
        std::fs::create_dir(&sb.home).unwrap();
        std::fs::set_permissions(&sb.home, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(sb.home.join("gw.service"), "[Service]\nExecStart=/bin/evil\n").unwrap();
        let e = written.verify_before_handoff().unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::RootChanged, "{r:?}: {e}");

        // The root replaced by a link to another directory.
        std::fs::remove_dir_all(&sb.home).unwrap();
        symlink(&sb.outside, &sb.home).unwrap();
        let e = written.verify_before_handoff().unwrap_err();
        assert!(e.kind().is_security_refusal(), "{r:?}: {e}");

        // Put back: it verifies again (same directory, same file).
        std::fs::remove_file(&sb.home).unwrap();
        std::fs::rename(sb.base.join("home.old"), &sb.home).unwrap();
        assert_eq!(written.verify_before_handoff().unwrap(), sb.home.join("gw.service"));

        // A subdirectory beneath the root swapped for another.
        std::fs::create_dir(sb.home.join("user")).unwrap();
        std::fs::set_permissions(sb.home.join("user"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let written = unit().write(&root, "user/gw.service").unwrap();
        std::fs::rename(sb.home.join("user"), sb.home.join("user.old")).unwrap();
        std::fs::create_dir(sb.home.join("user")).unwrap();
        std::fs::set_permissions(sb.home.join("user"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(sb.home.join("user/gw.service"), unit().render().unwrap()).unwrap();
        std::fs::set_permissions(sb.home.join("user/gw.service"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = written.verify_before_handoff().unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::RootChanged, "{r:?}: same bytes, other file: {e}");

        // And a link in its place.
        std::fs::remove_dir_all(sb.home.join("user")).unwrap();
        symlink(sb.home.join("user.old"), sb.home.join("user")).unwrap();
        let e = written.verify_before_handoff().unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::Symlink, "{r:?}: {e}");
        sb.assert_outside_unchanged();
    }
}

#[test]
fn fs_8_verify_before_handoff_fails_when_the_file_was_replaced_changed_or_remoded() {
    type Tamper = fn(&Path);
    let tampers: [(&str, Tamper); 5] = [
        ("renamed over", |p| {
            let other = p.with_extension("new");
            std::fs::write(&other, std::fs::read(p).unwrap()).unwrap();
            std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::fs::rename(other, p).unwrap();
        }),
        ("changed in place", |p| {
            let mut bytes = std::fs::read(p).unwrap();
            bytes.extend_from_slice(b"ExecStartPre=/bin/evil\n");
            std::fs::write(p, bytes).unwrap();
        }),
        ("same length, other bytes", |p| {
            let bytes =
                std::fs::read(p).unwrap().iter().map(|b| if *b == b'e' { b'E' } else { *b }).collect::<Vec<_>>();
            std::fs::write(p, bytes).unwrap();
        }),
        ("made world-writable", |p| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).unwrap()),
        ("replaced by a symlink", |p| {
            std::fs::remove_file(p).unwrap();
            symlink("/etc/hostname", p).unwrap();
        }),
    ];
    for r in RESOLVERS {
        for (what, tamper) in tampers {
            let sb = Sandbox::new();
            let root = sb.root(r);
            let written = unit().write(&root, "gw.service").unwrap();
            written.verify_before_handoff().unwrap();
            tamper(&sb.home.join("gw.service"));
            let e = written.verify_before_handoff().unwrap_err();
            assert!(e.kind().is_security_refusal(), "{r:?} {what}: {e}");
            assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::RootChanged, "{r:?} {what}: {e}");
        }
    }
}

#[test]
fn fs_8_verify_before_handoff_fails_when_the_chain_became_insecure() {
    for r in RESOLVERS {
        let sb = Sandbox::new();
        let root = sb.root(r);
        std::fs::create_dir(sb.home.join("user")).unwrap();
        std::fs::set_permissions(sb.home.join("user"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let written = unit().write(&root, "user/gw.service").unwrap();
        // The file's own directory made group-writable.
        std::fs::set_permissions(sb.home.join("user"), std::fs::Permissions::from_mode(0o770)).unwrap();
        let e = written.verify_before_handoff().unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::InsecureDirectory, "{r:?}: {e}");
        std::fs::set_permissions(sb.home.join("user"), std::fs::Permissions::from_mode(0o700)).unwrap();
        written.verify_before_handoff().unwrap();
        // An ancestor made world-writable (no sticky bit).
        std::fs::set_permissions(&sb.base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = written.verify_before_handoff().unwrap_err();
        assert_eq!(fs_kind(&e), gw_anchor::ErrorKind::InsecureDirectory, "{r:?}: {e}");
        std::fs::set_permissions(&sb.base, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

#[test]
fn cli_2_a_refused_spec_writes_nothing_and_leaves_the_old_file_byte_for_byte() {
    for r in RESOLVERS {
        let sb = Sandbox::new();
        let root = sb.root(r);
        let good = unit().write(&root, "gw.service").unwrap();
        let before = std::fs::read(sb.home.join("gw.service")).unwrap();
        let hostile = ServiceSpec::Systemd(SystemdUnit {
            description: Some("gw\nExecStartPre=/bin/evil".into()),
            exec_start: vec!["/bin/true".into()],
            ..Default::default()
        });
        let e = hostile.write(&root, "gw.service").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Injection, "{e}");
        let invalid = ServiceSpec::Systemd(SystemdUnit { exec_start: vec!["true".into()], ..Default::default() });
        assert_eq!(invalid.write(&root, "gw.service").unwrap_err().kind(), ErrorKind::InvalidSpec);
        let e = unit().write(&root, "gw.plist").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSpec, "wrong extension: {e}");
        let e = agent().write(&root, "ai.gw.test.service").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSpec, "wrong extension: {e}");
        assert_eq!(std::fs::read(sb.home.join("gw.service")).unwrap(), before);
        let names: Vec<_> = std::fs::read_dir(&sb.home).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["gw.service"], "{r:?}: nothing else was created");
        good.verify_before_handoff().unwrap();
    }
}

/// A launchd spec within its own input limit (256 KiB) whose values grow
/// fivefold under XML escaping (`&` is written `&amp;`): the agent would be
/// a 1.2 MB plist that gw's own plist loader refuses. Refused, nothing
/// written (before the fix it was written).
#[test]
fn doc_3_launchd_agent_past_the_plist_load_limit_is_refused() {
    use gw_persist::service::{MAX_SPEC_BYTES, ServiceKind, ServiceSpec};
    let tmp = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap();
    let root = gw_anchor::Root::open(tmp.path(), &Policy::new()).unwrap();
    let spec = |vars: usize| {
        let env: serde_json::Map<String, Value> =
            (0..vars).map(|i| (format!("V{i:03}"), json!("&".repeat(4000)))).collect();
        let text = json!({"label": "ai.gw.big", "program_arguments": ["/usr/bin/true"], "environment_variables": env});
        let bytes = serde_json::to_vec(&text).unwrap();
        assert!(bytes.len() as u64 <= MAX_SPEC_BYTES);
        ServiceSpec::from_json(ServiceKind::Launchd, &bytes).unwrap()
    };
    let err = spec(62).write(&root, "big.plist").map(drop).expect_err("a plist gw cannot load is not written");
    assert_eq!(err.kind(), gw_persist::ErrorKind::TooLarge, "{err}");
    assert!(err.message().contains("1048576"), "{err}");
    assert!(!tmp.path().join("big.plist").exists(), "nothing written");
    // Within the limit it is written, and loads.
    spec(40).write(&root, "ok.plist").unwrap();
    let loaded = gw_persist::Document::new(&root, "ok.plist").load_value().unwrap().unwrap();
    assert_eq!(loaded["EnvironmentVariables"]["V039"], json!("&".repeat(4000)));
}
