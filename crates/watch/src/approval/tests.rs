//! Unit tests of the list parser, ids and the allowlist rule.

use super::*;

#[test]
fn ids_are_strict() {
    for ok in ["a", "req-1", "A.b_c:d-9", &"x".repeat(128)] {
        assert!(RequestId::new(ok).is_ok(), "{ok}");
    }
    for bad in ["", "-rf", "--force", "a b", "a/b", "a;b", "$x", "é", "a\n", &"x".repeat(129)] {
        let e = RequestId::new(bad).unwrap_err();
        assert!(e.kind().is_security_refusal(), "{bad:?}");
    }
}

/// The shape captured from the real `openclaw devices list --json`
/// (OpenClaw 2026.9.6, a gateway with `autoApproveLocal: false`).
#[test]
fn the_list_parser_reads_openclaws_devices_list() {
    let real = br#"{
  "pending": [
{
  "requestId": "dae7f76b-bdad-43f9-88a8-f279a430cee8",
  "deviceId": "5c29b78f10a35a49a6231d08ee840a04bcc3a37a4f9d46df327dec56b8a9b7c9",
  "publicKey": "E5j2LG0aRXxRumpLXz29L2n8qTIWIY3ImX5Ba9F9k8o",
  "platform": "linux",
  "clientId": "cli",
  "clientMode": "cli",
  "role": "operator",
  "roles": ["operator"],
  "scopes": ["operator.read", "operator.admin"],
  "silent": false,
  "isRepair": false,
  "ts": 1796562451551
}
  ],
  "paired": [
{
  "deviceId": "fe812c12f3ab4ce6ac5db69ac352f906cb1b11ef43fb33e252ef7ff552263889",
  "clientId": "node-host",
  "role": "node",
  "tokens": [{"role": "node", "scopes": [], "createdAtMs": 1796562473639}]
}
  ]
}"#;
    let v = parse_pending(real).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].id.as_str(), "dae7f76b-bdad-43f9-88a8-f279a430cee8");
    assert_eq!(v[0].client, "cli");
    assert_eq!(v[0].scopes, ["operator.read", "operator.admin"]);
    assert_eq!(v[0].device.as_deref(), Some("5c29b78f10a35a49a6231d08ee840a04bcc3a37a4f9d46df327dec56b8a9b7c9"));
    assert!(parse_pending(br#"{"pending":[],"paired":[]}"#).unwrap().is_empty());
    for bad in [
        &br#"{"paired":[]}"#[..],
        br#"{"pending":[{"requestId":"r1"}]}"#,
        br#"{"pending":[{"requestId":"r1","clientId":"a","clientId":"b"}]}"#,
        br#"{"pending":[{"requestId":"r1","clientId":"a"},{"requestId":"r1","clientId":"b"}]}"#,
        br#"{"pending":[{"requestId":"--force","clientId":"a"}]}"#,
        br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":"d 1"}]}"#,
        br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":"-d"}]}"#,
        br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":"d","deviceId":"e"}]}"#,
        br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":7}]}"#,
        // Found by the fuzz target: text that is not UTF-8 in a field
        // the parser skips.
        b"{\"pending\":[{\"requestId\":\"r1\",\"clientId\":\"a\",\"publicKey\":\"E5\xff\xfe\"}]}",
        b"[{\"id\":\"r1\",\"client\":\"c\",\"scopes\":[]}] \xff",
        br#"{"pending":[{"requestId":"r1","clientId":"a","ts":1e999}]}"#,
        br#"{"pending":[]} []"#,
        br#"{"pending":{}}"#,
    ] {
        assert!(parse_pending(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

/// WATCH-4 and WATCH-8 as one rule: the client first, then (only when
/// devices are pinned) the device.
#[test]
fn watch_8_a_request_is_approved_only_when_its_client_and_pinned_device_match() {
    let cl = |w: &str| CommandLine::parse(w).unwrap();
    let plain = ApprovalConfig::new(cl("true"), cl("true {id}"), ["a".to_owned()], Duration::from_secs(1)).unwrap();
    let pinned = plain.clone().with_devices(["d1".to_owned(), "d2".to_owned()]).unwrap();
    let req = |client: &str, device: Option<&str>| PendingRequest {
        id: RequestId::new("r").unwrap(),
        client: client.to_owned(),
        scopes: Vec::new(),
        device: device.map(str::to_owned),
    };
    let cases = [
        (req("a", None), None, Some(Rejection::NoDevice)),
        (req("a", Some("d1")), None, None),
        (req("a", Some("d2")), None, None),
        (req("a", Some("d3")), None, Some(Rejection::Device)),
        (req("a", Some("D1")), None, Some(Rejection::Device)),
        (req("b", Some("d1")), Some(Rejection::Client), Some(Rejection::Client)),
        (req("b", None), Some(Rejection::Client), Some(Rejection::Client)),
    ];
    for (r, without, with) in cases {
        assert_eq!(plain.refusal(&r), without, "{r:?} without pinned devices");
        assert_eq!(pinned.refusal(&r), with, "{r:?} with d1, d2 pinned");
    }
}

/// Each bound of a list holds at its edge: at the limit accepted, one
/// past it refused with the limit named.
#[test]
fn the_list_limits_hold_at_their_edges() {
    let req = |i: usize, client: &str, scopes: &[String]| serde_json::json!({"id": format!("r{i}"), "client": client, "scopes": scopes});
    let list = |reqs: Vec<serde_json::Value>| serde_json::to_vec(&reqs).unwrap();
    let refused = |bytes: &[u8], why: &str| {
        let e = parse_pending(bytes).expect_err(why).to_string();
        assert!(e.contains(why), "{why}: {e}");
    };

    let many = |n: usize| list((0..n).map(|i| req(i, "c", &[])).collect());
    assert_eq!(parse_pending(&many(MAX_REQUESTS)).unwrap().len(), MAX_REQUESTS);
    refused(&many(MAX_REQUESTS + 1), "1001 requests is more than the 1000 allowed");

    let scopes: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
    assert_eq!(parse_pending(&list(vec![req(0, "c", &scopes[..MAX_SCOPES])])).unwrap()[0].scopes.len(), MAX_SCOPES);
    refused(&list(vec![req(0, "c", &scopes)]), "request r0 names more than 64 scopes");

    let name = "n".repeat(MAX_NAME);
    assert_eq!(parse_pending(&list(vec![req(0, &name, &[])])).unwrap()[0].client, name);
    refused(&list(vec![req(0, &format!("{name}n"), &[])]), "a client is 1 to 256 bytes");
    refused(&list(vec![req(0, "c", &[format!("{name}n")])]), "a scope is 1 to 256 bytes");

    // One request padded with spaces to exactly the byte limit, then one
    // byte more.
    let mut padded = list(vec![req(0, "c", &[])]);
    padded.resize(MAX_LIST_BYTES, b' ');
    assert_eq!(parse_pending(&padded).unwrap().len(), 1);
    padded.push(b' ');
    refused(&padded, "1048577 bytes is more than the 1048576 allowed");
}

/// A refused id is shown escaped and cut to 40 characters; an accepted
/// one is shown as it is.
#[test]
fn ids_are_shown_safely() {
    assert_eq!(RequestId::new("req-1").unwrap().to_string(), "req-1");
    let e = RequestId::new("a\nb").unwrap_err().to_string();
    assert!(e.contains("a\\nb") && !e.contains("a\nb"), "{e}");
    let long = format!("{}/", "x".repeat(60));
    let e = RequestId::new(&long).unwrap_err().to_string();
    assert!(e.contains(&"x".repeat(40)) && !e.contains(&"x".repeat(41)), "{e}");
}

#[test]
fn the_list_parser_is_strict() {
    let ok = br#"[{"id":"r1","client":"cli","scopes":["a.b"]},{"id":"r2","client":"x y","scopes":[],"device":"d-2"}]"#;
    let v = parse_pending(ok).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].client, "x y");
    assert_eq!((v[0].device.as_deref(), v[1].device.as_deref()), (None, Some("d-2")));
    assert!(parse_pending(b"[]").unwrap().is_empty());
    for bad in [
        &br#"{"id":"r1"}"#[..],
        br#"[{"id":"r1","client":"c"}]"#,
        br#"[{"id":"r1","client":"c","scopes":[],"extra":1}]"#,
        br#"[{"id":"r1","id":"r2","client":"c","scopes":[]}]"#,
        br#"[{"id":"r1","client":"c","scopes":[]}] x"#,
        br#"[{"id":"r1","client":"c","scopes":[]},{"id":"r1","client":"d","scopes":[]}]"#,
        br#"[{"id":"-r1","client":"c","scopes":[]}]"#,
        br#"[{"id":"r1","client":"","scopes":[]}]"#,
        br#"[{"id":"r1","client":"a\u0007","scopes":[]}]"#,
        br#"[{"id":"r1","client":"c","scopes":[],"device":"x/y"}]"#,
        br#"[{"id":"r1","client":"c","scopes":[],"device":""}]"#,
        b"\xef\xbb\xbf[]",
    ] {
        assert!(parse_pending(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let big = format!("[{}]", vec![r#"{"id":"a","client":"c","scopes":[]}"#; 40_000].join(","));
    assert!(parse_pending(big.as_bytes()).is_err());
}
