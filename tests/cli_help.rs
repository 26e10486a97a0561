//! Help, completions, man pages, profiles and hints (issue 12 items 4, 5, 6):
//! completions run in a real bash, man pages rendered by the real `man -l`,
//! flags only in the help of the commands that use them, examples at the end
//! of every help, GW_PROFILE and `gw profile rm`, hints that name the fix.

use std::path::Path;
use std::process::Command;

fn gw(home: &Path, args: &[&str]) -> (i32, String, String) {
    gw_test_support::gw!().home(home).args(args).run().triple()
}

fn gw_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    gw_test_support::gw!().home(home).envs(env.iter().copied()).args(args).run().triple()
}

/// Every command path (`fs write`, ...) as `gw ... --help` lists them.
fn commands(home: &Path, path: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let (code, out, err) = gw(home, &args);
    assert_eq!(code, 0, "{err}");
    let mut all = vec![path.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    let Some(list) = out.split("\nCommands:\n").nth(1) else { return all };
    for line in list.lines().take_while(|l| !l.is_empty()) {
        let name = line.split_whitespace().next().unwrap();
        if name != "help" {
            let mut sub: Vec<&str> = path.to_vec();
            sub.push(name);
            all.extend(commands(home, &sub));
        }
    }
    all
}

#[test]
fn bash_completes_gw_c_tab_in_a_real_bash() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (code, script, err) = gw(&home, &["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let file = tmp.path().join("gw.bash");
    std::fs::write(&file, script).unwrap();
    let complete = |words: &str, cword: usize| {
        let prog = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _gw gw \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = Command::new("bash").arg("--norc").arg("-c").arg(prog).output().expect("bash");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
        got.sort();
        got
    };
    assert_eq!(complete("gw c", 1), ["completions", "cred"]);
    let cred = complete("gw cred s", 2);
    assert!(cred.contains(&"set".to_owned()), "{cred:?}");
    let flags = complete("gw fs write --", 3);
    assert!(flags.contains(&"--parents".to_owned()) && !flags.contains(&"--keyring".to_owned()), "{flags:?}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = gw(&home, &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("replace-shared"), "{shell}: every command is in the script");
    }
    assert_eq!(gw(&home, &["completions", "tcsh"]).0, 2);
}

#[test]
fn man_pages_render_with_the_real_man() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    for (args, title, wanted) in [
        (&["man"][..], "gw(1)", "completions"),
        (&["man", "cred", "set"], "gw-cred-set(1)", "--store"),
        (&["man", "fs", "write"], "gw-fs-write(1)", "--parents"),
    ] {
        let (code, roff, err) = gw(&home, args);
        assert_eq!(code, 0, "{err}");
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("page.1");
        std::fs::write(&page, roff).unwrap();
        let out = Command::new("man")
            .args(["-l", page.to_str().unwrap()])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man (Debian package man-db; scripts/test installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(title) && text.contains("NAME") && text.contains(wanted), "{args:?}: {text}");
        assert!(text.contains("Examples:") || text.contains("$ gw"), "{args:?}: no examples: {text}");
    }
    let (code, _, err) = gw(&home, &["man", "cred", "nope"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("set") && err.contains("replace-shared"), "the commands there are: {err}");
}

#[test]
fn flags_only_where_used_examples_everywhere_and_one_line_summaries() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let all = commands(&home, &[]);
    assert!(all.len() > 40, "{all:?}");
    let uses_profile = ["cred", "probe", "serve", "watch health", "doctor"];
    let uses_store = ["cred", "probe", "profile init"];
    for cmd in &all {
        let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        args.push("--help");
        let (_, long, _) = gw(&home, &args);
        *args.last_mut().unwrap() = "-h";
        let (_, short, _) = gw(&home, &args);
        for help in [&long, &short] {
            let tail = help.trim_end().rsplit("\n\n").next().unwrap();
            assert!(tail.starts_with("Examples:\n  $ "), "{cmd:?}: help does not end with examples: {tail}");
        }
        let top = cmd.first().map(String::as_str).unwrap_or("");
        let joined = cmd.join(" ");
        if !cmd.is_empty() {
            let profile = uses_profile.contains(&top) || uses_profile.contains(&joined.as_str());
            assert_eq!(long.contains("--profile"), profile, "{cmd:?} --profile: {long}");
            let store = uses_store.contains(&top) || uses_store.contains(&joined.as_str());
            assert_eq!(long.contains("--keyring"), store, "{cmd:?} --keyring: {long}");
            assert_eq!(long.contains("--store"), store, "{cmd:?} --store: {long}");
        }
        assert!(!long.contains("~/.gw"), "{cmd:?}: stale path in help");
        if let Some(list) = long.split("\nCommands:\n").nth(1) {
            for line in list.lines().take_while(|l| !l.is_empty()) {
                let summary = line.split_whitespace().skip(1).collect::<Vec<_>>().join(" ");
                assert!(!summary.contains(". "), "{cmd:?}: more than one sentence: {line}");
                assert!(line.len() <= 140, "{cmd:?}: not a one-line summary: {line}");
            }
        }
    }
    let (_, out, _) = gw(&home, &["fs", "write", "--help"]);
    assert!(!out.contains("--keyring") && !out.contains("--store") && !out.contains("--profile"), "{out}");
    let (_, out, _) = gw(&home, &["--help"]);
    for used in uses_profile {
        assert!(out.contains(&format!("gw {used}")), "--profile's help names `gw {used}`: {out}");
    }
}

#[test]
fn gw_profile_env_selects_the_profile_and_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    for p in ["default", "work"] {
        assert_eq!(gw(&home, &["profile", "init", p]).0, 0);
    }
    let url = "ws://127.0.0.1:18789";
    let set = |env: &[(&str, &str)], args: &[&str], secret: &str| {
        let out = gw_test_support::gw!()
            .args(args)
            .home(&home)
            .envs(env.iter().copied())
            .stdin(Some(secret.as_bytes()))
            .output();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    set(&[("GW_PROFILE", "work")], &["cred", "set", url, "--shared"], "work-secret");
    let reveal = |env: &[(&str, &str)], args: &[&str]| gw_env(&home, env, args).1.trim().to_owned();
    let get = ["cred", "get", url, "--shared", "--reveal"];
    assert_eq!(reveal(&[("GW_PROFILE", "work")], &get), "work-secret");
    assert_eq!(gw(&home, &get).0, 4, "the default profile has nothing: GW_PROFILE selected `work`");
    // A flag wins over the environment, before or after the command.
    set(&[("GW_PROFILE", "work")], &["--profile", "default", "cred", "set", url, "--shared"], "default-secret");
    assert_eq!(reveal(&[], &get), "default-secret");
    let after = ["cred", "get", url, "--shared", "--reveal", "--profile", "work"];
    assert_eq!(reveal(&[("GW_PROFILE", "default")], &after), "work-secret");
    // A missing profile: the exact command that creates it.
    let (code, _, err) = gw_env(&home, &[("GW_PROFILE", "ghost")], &["cred", "list"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("gw profile init ghost"), "{err}");
    // No gw home at all: the same exact command.
    let (code, _, err) = gw_env(&tmp.path().join("none"), &[("GW_PROFILE", "ghost")], &["cred", "list"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("gw profile init ghost"), "{err}");
}

#[test]
fn profile_rm_asks_for_yes_removes_everything_and_never_follows_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    assert_eq!(gw(&home, &["profile", "init", "work"]).0, 0);
    let dir = home.join("profiles/work");
    // Something outside that a symlink in the profile points at.
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "keep").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
    std::fs::create_dir(dir.join("leases")).unwrap();
    std::fs::write(dir.join("leases/x.json"), "{}").unwrap();

    let (code, _, err) = gw(&home, &["profile", "rm", "work"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gw profile rm work --yes"), "{err}");
    assert!(dir.join("root.key").exists(), "removed without --yes");

    let (code, out, err) = gw(&home, &["--json", "profile", "rm", "work", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["profile"], "work");
    assert!(!dir.exists(), "the profile directory is gone");
    assert_eq!(std::fs::read_to_string(outside.join("keep.txt")).unwrap(), "keep", "followed the symlink");
    let (code, _, err) = gw(&home, &["profile", "rm", "work", "--yes"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("gw profile init work"), "{err}");
}

#[test]
fn hints_name_parents_and_the_busy_port() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    std::fs::create_dir(&d).unwrap();
    let ds = d.to_str().unwrap();
    let (code, _, err) = gw(&home, &["fs", "write", ds, "a/b/c"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--parents"), "{err}");

    let spec = tmp.path().join("spec").join("s.json");
    std::fs::create_dir(spec.parent().unwrap()).unwrap();
    std::fs::write(&spec, r#"{"description": "gw", "exec_start": ["/usr/bin/true"]}"#).unwrap();
    let sp = spec.to_str().unwrap();
    let (code, _, err) = gw(&home, &["doc", "render", "systemd", "--spec", sp, "--write", ds, "units/user/gw.service"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--parents"), "{err}");
    let (code, _, err) =
        gw(&home, &["doc", "render", "systemd", "--spec", sp, "--write", ds, "units/user/gw.service", "--parents"]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(d.join("units/user/gw.service")).unwrap().contains("/usr/bin/true"));

    // A port already taken: the hint names it.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    assert_eq!(gw(&home, &["profile", "init", "busy", "--port", &port]).0, 0);
    let (code, _, err) = gw(&home, &["serve", "--profile", "busy"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains(&format!("gw port who {port}")), "{err}");
}

/// `gw profile rm` deletes the keyring entries its credentials and its
/// device key (profile init --store keyring) refer to: the
/// real kernel keyring (keyutils, in a private session keyring; the key is
/// linked into the user's persistent keyring too, hence a unique profile).
#[test]
fn profile_rm_deletes_its_keyring_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let name = format!("krm{}", std::process::id());
    const GW: &str = env!("CARGO_BIN_EXE_gw");
    let script = format!(
        "{GW} profile init {name} --store keyring --keyring keyutils && \
         printf s3cr3t | {GW} --profile {name} --store keyring --keyring keyutils cred set ws://127.0.0.1:18789 --shared \
         && echo BEFORE && keyctl show @s && {GW} profile rm {name} --yes && echo AFTER && keyctl show @s"
    );
    let out = Command::new("keyctl")
        .args(["session", "-", "sh", "-c", &script])
        .env("GW_HOME", &home)
        .output()
        .expect("keyctl (Debian package keyutils; scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    let (before, after) = text.split_once("AFTER").expect("both listings");
    let entry = format!("keyring:{name}/ws://127.0.0.1:18789/shared/");
    assert!(before.contains(&entry), "stored in the kernel keyring: {before}");
    assert!(!after.contains(&entry), "the keyring entry outlived the profile: {after}");
    // The device key was in the keyring too (device.keyring), and is gone with it.
    let device = format!("keyring:{name}/device-key/");
    assert!(before.contains(&device), "the device key in the kernel keyring: {before}");
    assert!(!after.contains(&device), "the device key's entry outlived the profile: {after}");
    assert!(!home.join("profiles").join(&name).exists());
}

/// The device key's keyring reference (`device.keyring`) is read only when
/// it is the caller's, not writable by group or others and not a symlink:
/// whoever can rewrite it chooses which keyring entry becomes the device key. A
/// reference naming an entry that is not a 32-byte key (here the profile's
/// own shared credential) is refused too. Real kernel keyring, as above.
#[test]
fn the_device_key_reference_is_read_only_when_it_is_ours_and_names_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let name = format!("kref{}", std::process::id());
    const GW: &str = env!("CARGO_BIN_EXE_gw");
    let dir = home.join("profiles").join(&name);
    let r = dir.join("device.keyring");
    let (r, creds) = (r.display(), dir.join("credentials.json"));
    let creds = creds.display();
    let show = |label: &str| format!("{GW} profile show {name} 2>&1; echo \"CODE {label} $?\"");
    let script = [
        format!("{GW} profile init {name} --store keyring --keyring keyutils >/dev/null || exit 9"),
        format!(
            "printf s3cr3t | {GW} --profile {name} --store keyring --keyring keyutils cred set ws://127.0.0.1:18789 \
             --shared >/dev/null || exit 9"
        ),
        format!("chmod 620 {r}"),
        show("group-writable"),
        format!("chmod 602 {r}"),
        show("others-writable"),
        format!("chmod 600 {r}; chown 65534 {r}"),
        show("not-mine"),
        format!("chown 0 {r}; mv {r} {r}.real; ln -s {r}.real {r}"),
        show("a-symlink"),
        format!("rm {r}; mv {r}.real {r}"),
        show("mine"),
        format!("cp {r} {r}.bak"),
        format!(
            "acct=$(grep -o '\"account\": \"[^\"]*\"' {creds} | cut -d'\"' -f4); \
             printf '{{\"keyring\":\"keyutils\",\"service\":\"gw-cred\",\"account\":\"%s\"}}\\n' \"$acct\" > {r}"
        ),
        show("a-credential"),
        format!("mv {r}.bak {r}; {GW} profile rm {name} --yes >/dev/null"),
    ]
    .join("\n");
    let out = Command::new("keyctl")
        .args(["session", "-", "sh", "-c", &script])
        .env("GW_HOME", &home)
        .output()
        .expect("keyctl (Debian package keyutils; scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    // What each `profile show` printed, up to its CODE line.
    let mut runs = std::collections::HashMap::new();
    let mut said = String::new();
    for line in text.lines() {
        match line.strip_prefix("CODE ").and_then(|l| l.split_once(' ')) {
            Some((label, code)) => {
                runs.insert(label.to_string(), (code.parse::<i32>().unwrap(), std::mem::take(&mut said)));
            }
            None => said.push_str(&format!("{line}\n")),
        }
    }
    for label in ["group-writable", "others-writable", "not-mine"] {
        let (code, said) = &runs[label];
        assert_eq!(*code, 3, "{label}: {said}");
        assert!(
            said.contains("refused: load device key from keyring")
                && said.contains("the device key reference is owned by uid"),
            "{label}: {said}"
        );
        assert!(said.contains("chmod 600"), "{label}: the fix: {said}");
    }
    assert!(runs["not-mine"].1.contains("owned by uid 65534 (you are 0)"), "{}", runs["not-mine"].1);
    // A planted link is refused, not taken for a missing reference.
    let (code, said) = &runs["a-symlink"];
    assert_eq!(*code, 3, "{said}");
    assert!(said.contains("a symbolic link is on the path"), "{said}");
    let (code, said) = &runs["mine"];
    assert_eq!(*code, 0, "{said}");
    assert!(said.contains("device"), "{said}");
    let (code, said) = &runs["a-credential"];
    assert_ne!(*code, 0, "{said}");
    assert!(said.contains("the keyring entry does not hold a device key (32 bytes)"), "{said}");
    assert!(!said.contains("s3cr3t"), "the credential was printed: {said}");
    assert!(!dir.exists(), "profile rm left {}", dir.display());
}
