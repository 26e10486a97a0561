//! Property tests of gw-cred.
//!
//! - Gateway keys (THREATS CRED-5): canonicalisation is idempotent (the
//!   canonical string parses to itself), and loopback equivalence holds for
//!   exactly the loopback hosts — `localhost`, `127.0.0.0/8` in every IPv4
//!   spelling the URL standard accepts, `::1`, `::ffff:127.0.0.0/104` — while
//!   other IPv4/IPv6 addresses and domains (look-alikes included) keep their
//!   own key.
//! - The credential store against a small reference model: random sequences
//!   of set, hand-off (with a failure injected at each step through a
//!   wrapping `Storage`), replace-shared (failing and passing validators),
//!   rm (a slot or the whole record), and connections (begin +
//!   set_in_generation with fresh, stale and foreign generations) by two
//!   store instances (two "processes"). After every operation, resolve, get
//!   and list through a fresh store must agree with the model, and no error
//!   may show a secret.

mod cred_support;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use cred_support::*;
use gw_cred::{CredStore, ErrorKind, GatewayKey, Generation, Slot, Summary};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

// ---- gateway keys ------------------------------------------------------------

/// A host as written in a URL, and what it must canonicalise to.
#[derive(Debug, Clone)]
struct HostCase {
    written: String,
    /// `None` for a loopback host (canonical `127.0.0.1`), else the
    /// canonical host text.
    canonical: Option<String>,
}

fn with_case(s: &str, mask: u64) -> String {
    s.chars().enumerate().map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c }).collect()
}

fn loopback_host() -> impl Strategy<Value = HostCase> {
    let lb = |written: String| HostCase { written, canonical: None };
    prop_oneof![
        (any::<u64>(), any::<bool>()).prop_map(move |(m, dot)| lb(format!(
            "{}{}",
            with_case("localhost", m),
            if dot { "." } else { "" }
        ))),
        (any::<[u8; 3]>(), any::<bool>())
            .prop_map(move |([a, b, c], dot)| lb(format!("127.{a}.{b}.{c}{}", if dot { "." } else { "" }))),
        (0u32..1 << 24).prop_map(move |x| lb(format!("{}", 0x7f00_0000 | x))),
        (0u32..1 << 24).prop_map(move |x| lb(format!("127.{x}"))),
        (0u32..1 << 24, any::<u64>()).prop_map(move |(x, m)| lb(with_case(&format!("0x{:x}", 0x7f00_0000 | x), m))),
        any::<[u8; 3]>().prop_map(move |[a, b, c]| lb(format!("0x7f.{a}.0x{b:x}.0{c:o}"))),
        prop_oneof![Just("[::1]"), Just("[0:0:0:0:0:0:0:1]"), Just("[0000::0001]"), Just("[::0:1]")]
            .prop_map(move |s| lb(s.to_owned())),
        any::<[u8; 3]>().prop_map(move |[a, b, c]| lb(format!("[::ffff:127.{a}.{b}.{c}]"))),
        (0u32..1 << 24, any::<u64>()).prop_map(move |(x, m)| {
            let v = 0x7f00_0000 | x;
            lb(with_case(&format!("[::FFFF:{:x}:{:x}]", v >> 16, v & 0xffff), m))
        }),
    ]
}

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,7}"
}

fn other_host() -> impl Strategy<Value = HostCase> {
    let other = |written: String, canonical: String| HostCase { written, canonical: Some(canonical) };
    prop_oneof![
        // IPv4 outside 127/8.
        any::<[u8; 4]>().prop_filter("not 127/8", |o| o[0] != 127).prop_map(move |[a, b, c, d]| {
            let s = format!("{a}.{b}.{c}.{d}");
            other(s.clone(), s)
        }),
        // IPv6 other than ::1 and ::ffff:127/104.
        any::<u128>()
            .prop_filter("not loopback", |x| {
                let ip = Ipv6Addr::from(*x);
                !ip.is_loopback() && !ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            })
            .prop_map(move |x| {
                let ip = Ipv6Addr::from(x);
                other(format!("[{ip}]"), format!("[{ip}]"))
            }),
        // IPv4-mapped outside 127/8, and IPv6 neighbours of ::1.
        any::<[u8; 4]>().prop_filter("not 127/8", |o| o[0] != 127).prop_map(move |[a, b, c, d]| {
            let ip = Ipv6Addr::from(u128::from(u32::from_be_bytes([a, b, c, d])) | 0xffff << 32);
            other(format!("[::ffff:{a}.{b}.{c}.{d}]"), format!("[{ip}]"))
        }),
        (2u16..).prop_map(move |x| other(format!("[::{x:x}]"), format!("[::{x:x}]"))),
        any::<[u8; 3]>().prop_map(move |[a, b, c]| {
            // IPv4-compatible (deprecated) and NAT64 forms of 127.x are not loopback.
            let v4 = u128::from(u32::from_be_bytes([127, a, b, c]));
            let ip = Ipv6Addr::from(v4 | 0x0064_ff9b << 96);
            other(format!("[64:ff9b::127.{a}.{b}.{c}]"), format!("[{ip}]"))
        }),
        // Domains, look-alikes of localhost and of 127.0.0.1 included.
        (vec(label(), 1..4), any::<u64>(), any::<bool>())
            .prop_filter("not localhost", |(l, _, _)| l.join(".") != "localhost")
            .prop_map(move |(labels, m, dot)| {
                let d = labels.join(".");
                other(format!("{}{}", with_case(&d, m), if dot { "." } else { "" }), d)
            }),
        (label(), any::<u64>(), 0..6usize).prop_map(move |(l, m, form)| {
            let d = match form {
                0 => format!("localhost.{l}"),
                1 => format!("{l}.localhost"),
                2 => format!("localhost{l}"),
                3 => format!("127.0.0.1.{l}"),
                4 => format!("{l}localhost"),
                _ => format!("localhost-{l}"),
            };
            other(with_case(&d, m), d)
        }),
    ]
}

fn url_of(scheme: &str, scheme_mask: u64, host: &str, port: Option<u16>, slash: bool) -> String {
    format!(
        "{}://{host}{}{}",
        with_case(scheme, scheme_mask),
        port.map(|p| format!(":{p}")).unwrap_or_default(),
        if slash { "/" } else { "" }
    )
}

fn scheme() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("ws"), Just("wss"), Just("http"), Just("https")]
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "ws" || scheme == "http" { 80 } else { 443 }
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn canonical_form_is_idempotent(
        host in prop_oneof![loopback_host(), other_host()],
        scheme in scheme(),
        mask in any::<u64>(),
        port in proptest::option::of(any::<u16>()),
        slash in any::<bool>(),
    ) {
        let url = url_of(scheme, mask, &host.written, port, slash);
        let k = GatewayKey::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let again = GatewayKey::parse(k.as_str()).unwrap_or_else(|e| panic!("{} (from {url}): {e}", k.as_str()));
        prop_assert_eq!(again.as_str(), k.as_str(), "{}", url);
        prop_assert_eq!(again.is_loopback(), k.is_loopback());
        prop_assert_eq!(again.port(), k.port());
        prop_assert_eq!(&again, &k);
    }

    #[test]
    fn loopback_equivalence_holds_exactly_for_loopback_hosts(
        host in prop_oneof![loopback_host(), other_host()],
        scheme in scheme(),
        mask in any::<u64>(),
        port in proptest::option::of(any::<u16>()),
        slash in any::<bool>(),
    ) {
        let url = url_of(scheme, mask, &host.written, port, slash);
        let k = GatewayKey::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let port = port.unwrap_or(default_port(scheme));
        let loopback_key = format!("{scheme}://127.0.0.1:{port}");
        prop_assert_eq!(k.port(), port);
        match &host.canonical {
            None => {
                prop_assert!(k.is_loopback(), "{} is loopback", url);
                prop_assert_eq!(k.as_str(), loopback_key.as_str(), "{}", url);
            }
            Some(canonical) => {
                prop_assert!(!k.is_loopback(), "{} was taken for loopback", url);
                prop_assert_eq!(k.as_str(), format!("{scheme}://{canonical}:{port}"), "{}", url);
                prop_assert_ne!(k.as_str(), loopback_key.as_str(), "{}", url);
            }
        }
    }

    #[test]
    fn two_urls_are_one_key_only_if_both_loopback_or_same_host(
        a in prop_oneof![loopback_host(), other_host()],
        b in prop_oneof![loopback_host(), other_host()],
        scheme in scheme(),
        port in any::<u16>(),
    ) {
        let ka = GatewayKey::parse(&url_of(scheme, 0, &a.written, Some(port), false)).unwrap();
        let kb = GatewayKey::parse(&url_of(scheme, 0, &b.written, Some(port), false)).unwrap();
        let same = match (&a.canonical, &b.canonical) {
            (None, None) => true,
            (Some(x), Some(y)) => x == y,
            _ => false,
        };
        prop_assert_eq!(ka == kb, same, "{} vs {}", a.written, b.written);
    }
}

// ---- the store against a reference model --------------------------------------

const ROLES: [&str; 3] = ["operator", "node", "viewer"];
const ALIASES: [&[&str]; 3] = [
    &["ws://127.0.0.1:18789", "ws://localhost:18789", "ws://[::1]:18789", "WS://LOCALHOST.:18789/"],
    &["wss://gw.example:443", "wss://GW.Example", "wss://gw.example.:443/"],
    &["ws://127.0.0.1:18790", "ws://[::ffff:127.0.0.1]:18790"],
];
const CANON: [&str; 3] = ["ws://127.0.0.1:18789", "wss://gw.example:443", "ws://127.0.0.1:18790"];
const MEDDLE: [fn(Value) -> Value; 3] = [meddle_0, meddle_1, meddle_2];

fn drop_device(mut v: Value, gw: usize) -> Value {
    if let Some(rec) = v.pointer_mut(&format!("/gateways/{}", CANON[gw].replace('/', "~1"))) {
        rec.as_object_mut().unwrap().remove("device");
    }
    v
}
fn meddle_0(v: Value) -> Value {
    drop_device(v, 0)
}
fn meddle_1(v: Value) -> Value {
    drop_device(v, 1)
}
fn meddle_2(v: Value) -> Value {
    drop_device(v, 2)
}

/// Every device token read back differs from what was written.
fn corrupt_tokens(mut v: Option<Value>) -> Option<Value> {
    if let Some(gws) = v.as_mut().and_then(|d| d["gateways"].as_object_mut()) {
        for rec in gws.values_mut() {
            if let Some(dev) = rec.get_mut("device").and_then(|d| d.as_object_mut()) {
                for t in dev.values_mut() {
                    *t = Value::String(format!("{}x", t.as_str().unwrap()));
                }
            }
        }
    }
    v
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotSpec {
    Device(usize),
    Shared,
    Bootstrap,
}

impl SlotSpec {
    fn slot(self) -> Slot {
        match self {
            SlotSpec::Device(r) => Slot::Device(ROLES[r].into()),
            SlotSpec::Shared => Slot::Shared,
            SlotSpec::Bootstrap => Slot::Bootstrap,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandoffFault {
    None,
    FailFirstUpdate,
    FirstUpdateFailsAfterWrite,
    FirstUpdateLies,
    FailReadBack,
    CorruptReadBack,
    FailClear,
    TokensLostBeforeClear,
}

#[derive(Debug, Clone)]
enum Op {
    Set { by: usize, gw: usize, alias: usize, slot: SlotSpec, secret: u8 },
    Handoff { by: usize, gw: usize, alias: usize, tokens: BTreeMap<usize, u8>, fault: HandoffFault },
    Replace { by: usize, gw: usize, alias: usize, secret: u8, pass: bool },
    Remove { by: usize, gw: usize, alias: usize, slot: Option<SlotSpec> },
    Begin { by: usize, gw: usize, alias: usize },
    SetInGen { by: usize, gw: usize, alias: usize, pick: usize, foreign: bool, slot: SlotSpec, secret: u8 },
}

fn slot_spec() -> impl Strategy<Value = SlotSpec> {
    prop_oneof![(0..ROLES.len()).prop_map(SlotSpec::Device), Just(SlotSpec::Shared), Just(SlotSpec::Bootstrap)]
}

fn handoff_fault() -> impl Strategy<Value = HandoffFault> {
    use HandoffFault::*;
    prop_oneof![
        4 => Just(None),
        1 => Just(FailFirstUpdate),
        1 => Just(FirstUpdateFailsAfterWrite),
        1 => Just(FirstUpdateLies),
        1 => Just(FailReadBack),
        1 => Just(CorruptReadBack),
        1 => Just(FailClear),
        1 => Just(TokensLostBeforeClear),
    ]
}

/// A secret from a small pool, so values repeat (a lying update is only
/// caught when the stored token differs from the new one).
fn secret() -> impl Strategy<Value = u8> {
    0u8..12
}

fn op() -> impl Strategy<Value = Op> {
    let gw = || (0..2usize, 0..3usize, 0..4usize);
    prop_oneof![
        4 => (gw(), slot_spec(), secret()).prop_map(|((by, gw, alias), slot, secret)| Op::Set { by, gw, alias, slot, secret }),
        4 => (gw(), proptest::collection::btree_map(0..ROLES.len(), secret(), 1..=ROLES.len()), handoff_fault())
            .prop_map(|((by, gw, alias), tokens, fault)| Op::Handoff { by, gw, alias, tokens, fault }),
        2 => (gw(), secret(), any::<bool>())
            .prop_map(|((by, gw, alias), secret, pass)| Op::Replace { by, gw, alias, secret, pass }),
        2 => (gw(), proptest::option::weighted(0.7, slot_spec()))
            .prop_map(|((by, gw, alias), slot)| Op::Remove { by, gw, alias, slot }),
        2 => gw().prop_map(|(by, gw, alias)| Op::Begin { by, gw, alias }),
        4 => (gw(), any::<usize>(), proptest::bool::weighted(0.15), slot_spec(), secret())
            .prop_map(|((by, gw, alias), pick, foreign, slot, secret)| Op::SetInGen { by, gw, alias, pick, foreign, slot, secret }),
    ]
}

fn secret_text(n: u8) -> String {
    format!("sec-{n:02}-{}", ["q7", "Zx", "p0", "!~"][usize::from(n) % 4])
}

/// One gateway's record as the document holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct MRec {
    generation: u64,
    device: BTreeMap<String, String>,
    shared: Option<String>,
    bootstrap: Option<String>,
}

impl MRec {
    fn get(&self, slot: &Slot) -> Option<&String> {
        match slot {
            Slot::Device(r) => self.device.get(r),
            Slot::Shared => self.shared.as_ref(),
            Slot::Bootstrap => self.bootstrap.as_ref(),
            other => unreachable!("the model uses no {other:?} slot"),
        }
    }
    fn put(&mut self, slot: &Slot, v: String) {
        match slot {
            Slot::Device(r) => {
                self.device.insert(r.clone(), v);
            }
            Slot::Shared => self.shared = Some(v),
            Slot::Bootstrap => self.bootstrap = Some(v),
            other => unreachable!("the model uses no {other:?} slot"),
        }
    }
    fn is_empty(&self) -> bool {
        self.device.is_empty() && self.shared.is_none() && self.bootstrap.is_none()
    }
}

#[derive(Debug, Default)]
struct Model {
    recs: BTreeMap<usize, MRec>,
    /// Per store instance ("process"): the generation it last began, per gateway.
    current: [BTreeMap<usize, u64>; 2],
}

impl Model {
    /// A successful locked update of `gw`'s record: an empty record with no
    /// generation is dropped, as the store does.
    fn update(&mut self, gw: usize, f: impl FnOnce(&mut MRec)) {
        let rec = self.recs.entry(gw).or_default();
        f(rec);
        if rec.is_empty() && rec.generation == 0 {
            self.recs.remove(&gw);
        }
    }
    fn resolve(&self, gw: usize, role: &str) -> Option<(Slot, String)> {
        let rec = self.recs.get(&gw)?;
        [Slot::Device(role.to_owned()), Slot::Shared, Slot::Bootstrap]
            .into_iter()
            .find_map(|slot| rec.get(&slot).cloned().map(|v| (slot, v)))
    }
    fn list(&self) -> Vec<Summary> {
        let mut out: Vec<Summary> = self
            .recs
            .iter()
            .map(|(gw, r)| Summary {
                gateway: CANON[*gw].to_owned(),
                roles: r.device.keys().cloned().collect(),
                issued: Vec::new(),
                shared: r.shared.is_some(),
                password: false,
                bootstrap: r.bootstrap.is_some(),
                generation: r.generation,
            })
            .collect();
        out.sort_by(|a, b| a.gateway.cmp(&b.gateway));
        out
    }
}

/// What an operation is expected to return: `Ok` with a description to
/// compare, or the error kind.
type Outcome = Result<String, ErrorKind>;

fn outcome<T>(res: gw_cred::Result<T>, show: impl FnOnce(T) -> String) -> Outcome {
    match res {
        Ok(v) => Ok(show(v)),
        Err(e) => {
            assert_error_clean(&e, &["sec-"], "an operation's error");
            Err(e.kind())
        }
    }
}

const INJECTED: ErrorKind = ErrorKind::Fs(gw_anchor::ErrorKind::Io);

fn run(ops: &[Op]) {
    let dir = Dir::new();
    let (a, fa) = dir.fast_faulty();
    let (b, fb) = dir.fast_faulty();
    let stores: [&CredStore<Faulty<'_>>; 2] = [&a, &b];
    let faults = [&fa, &fb];
    let mut model = Model::default();
    // Generations handed out, per store instance: (gateway, generation).
    let mut gens: [Vec<(usize, Generation)>; 2] = [Vec::new(), Vec::new()];

    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        let (got, want): (Outcome, Outcome) = match op.clone() {
            Op::Set { by, gw, alias, slot, secret } => {
                faults[by].arm(Fault::None);
                let k = key(ALIASES[gw][alias % ALIASES[gw].len()]);
                let got = outcome(stores[by].set(&k, &slot.slot(), &s(&secret_text(secret))), |()| String::new());
                model.update(gw, |r| r.put(&slot.slot(), secret_text(secret)));
                (got, Ok(String::new()))
            }
            Op::Handoff { by, gw, alias, tokens, fault } => {
                let k = key(ALIASES[gw][alias % ALIASES[gw].len()]);
                let pairs: Vec<(String, String)> =
                    tokens.iter().map(|(r, t)| (ROLES[*r].to_owned(), secret_text(*t))).collect();
                let device: Vec<gw_cred::DeviceToken> =
                    pairs.iter().map(|(role, t)| gw_cred::DeviceToken::new(role.clone(), s(t))).collect();
                faults[by].arm(match fault {
                    HandoffFault::None => Fault::None,
                    HandoffFault::FailFirstUpdate => Fault::FailUpdate(1),
                    HandoffFault::FirstUpdateFailsAfterWrite => Fault::FailUpdateAfterWrite(1),
                    HandoffFault::FirstUpdateLies => Fault::LieUpdate(1),
                    HandoffFault::FailReadBack => Fault::FailLoad(1),
                    HandoffFault::CorruptReadBack => Fault::CorruptLoad(1, corrupt_tokens),
                    HandoffFault::FailClear => Fault::FailUpdate(2),
                    HandoffFault::TokensLostBeforeClear => Fault::Meddle(2, MEDDLE[gw]),
                });
                let got =
                    outcome(stores[by].handoff(&k, &device), |r| format!("{:?} {}", r.roles, r.bootstrap_cleared));
                let roles: Vec<String> = pairs.iter().map(|(r, _)| r.clone()).collect();
                let write = |m: &mut Model| m.update(gw, |r| r.device.extend(pairs.iter().cloned()));
                let stored_as_written =
                    |m: &Model| pairs.iter().all(|(r, t)| m.recs.get(&gw).and_then(|rec| rec.device.get(r)) == Some(t));
                let clear = |m: &mut Model| {
                    let mut had = false;
                    m.update(gw, |r| had = r.bootstrap.take().is_some());
                    Ok(format!("{roles:?} {had}"))
                };
                let want = match fault {
                    HandoffFault::None => {
                        write(&mut model);
                        clear(&mut model)
                    }
                    HandoffFault::FailFirstUpdate => Err(INJECTED),
                    HandoffFault::FirstUpdateFailsAfterWrite | HandoffFault::FailReadBack | HandoffFault::FailClear => {
                        write(&mut model);
                        Err(INJECTED)
                    }
                    HandoffFault::FirstUpdateLies => {
                        if stored_as_written(&model) {
                            clear(&mut model)
                        } else {
                            Err(ErrorKind::ReadBackMismatch)
                        }
                    }
                    HandoffFault::CorruptReadBack => {
                        write(&mut model);
                        Err(ErrorKind::ReadBackMismatch)
                    }
                    HandoffFault::TokensLostBeforeClear => {
                        write(&mut model);
                        // The other writer's change, not an update of the store's.
                        model.recs.get_mut(&gw).unwrap().device.clear();
                        Err(ErrorKind::ReadBackMismatch)
                    }
                };
                (got, want)
            }
            Op::Replace { by, gw, alias, secret, pass } => {
                faults[by].arm(Fault::None);
                let k = key(ALIASES[gw][alias % ALIASES[gw].len()]);
                let got = outcome(
                    stores[by].replace_shared(&k, &s(&secret_text(secret)), |_| {
                        if pass { Ok(()) } else { Err("refused".into()) }
                    }),
                    |cleared| format!("{cleared:?}"),
                );
                let want = if pass {
                    let mut cleared = Vec::new();
                    model.update(gw, |r| {
                        r.shared = Some(secret_text(secret));
                        cleared = std::mem::take(&mut r.device).into_keys().collect::<Vec<_>>();
                    });
                    Ok(format!("{cleared:?}"))
                } else {
                    Err(ErrorKind::ValidationFailed)
                };
                (got, want)
            }
            Op::Remove { by, gw, alias, slot } => {
                faults[by].arm(Fault::None);
                let k = key(ALIASES[gw][alias % ALIASES[gw].len()]);
                let got = outcome(stores[by].remove(&k, slot.map(SlotSpec::slot).as_ref()), |b| b.to_string());
                let want = if model.recs.contains_key(&gw) {
                    let mut removed = false;
                    model.update(gw, |r| match slot {
                        None => {
                            removed = !r.is_empty();
                            *r = MRec { generation: r.generation, ..MRec::default() };
                        }
                        Some(SlotSpec::Device(i)) => removed = r.device.remove(ROLES[i]).is_some(),
                        Some(SlotSpec::Shared) => removed = r.shared.take().is_some(),
                        Some(SlotSpec::Bootstrap) => removed = r.bootstrap.take().is_some(),
                    });
                    removed
                } else {
                    false
                };
                (got, Ok(want.to_string()))
            }
            Op::Begin { by, gw, alias } => {
                faults[by].arm(Fault::None);
                let k = key(ALIASES[gw][alias % ALIASES[gw].len()]);
                let res = stores[by].begin_connection(&k);
                let mut next = 0;
                model.update(gw, |r| {
                    r.generation += 1;
                    next = r.generation;
                });
                model.current[by].insert(gw, next);
                let got = outcome(res, |g| {
                    assert_eq!(g.gateway(), CANON[gw], "{ctx}");
                    let v = g.value();
                    gens[by].push((gw, g));
                    v.to_string()
                });
                (got, Ok(next.to_string()))
            }
            Op::SetInGen { by, gw, alias, pick, foreign, slot, secret } => {
                let candidates: Vec<&(usize, Generation)> =
                    gens[by].iter().filter(|(g, _)| (*g == gw) != foreign).collect();
                if candidates.is_empty() {
                    continue;
                }
                let (of, generation) = candidates[pick % candidates.len()];
                faults[by].arm(Fault::None);
                let k = key(ALIASES[gw][alias % ALIASES[gw].len()]);
                let got = outcome(
                    stores[by].set_in_generation(&k, generation, &slot.slot(), &s(&secret_text(secret))),
                    |()| String::new(),
                );
                let value = generation.value();
                let want = if *of != gw {
                    Err(ErrorKind::InvalidInput)
                } else if model.current[by].get(&gw).copied().unwrap_or(value) != value
                    || model.recs.get(&gw).map_or(0, |r| r.generation) != value
                {
                    Err(ErrorKind::StaleGeneration)
                } else {
                    model.update(gw, |r| r.put(&slot.slot(), secret_text(secret)));
                    Ok(String::new())
                };
                (got, want)
            }
        };
        assert_eq!(got, want, "{ctx}");
        check(&dir, &model, &ctx);
    }
}

/// resolve, get and list, through a fresh store, agree with the model.
fn check(dir: &Dir, model: &Model, ctx: &str) {
    let fresh = dir.store();
    assert_eq!(fresh.list().unwrap(), model.list(), "{ctx}: list");
    for (gw, canon) in CANON.iter().enumerate() {
        let k = key(canon);
        for role in ROLES.iter().chain(&["other"]) {
            let got = fresh.resolve(&k, role).unwrap().map(|r| (r.slot, text(&r.secret)));
            assert_eq!(got, model.resolve(gw, role), "{ctx}: resolve {canon} {role}");
        }
        for slot in [Slot::Shared, Slot::Bootstrap, Slot::Device(ROLES[0].into())] {
            let got = fresh.get(&k, &slot).unwrap().map(|x| text(&x));
            assert_eq!(got.as_ref(), model.recs.get(&gw).and_then(|r| r.get(&slot)), "{ctx}: get {slot:?}");
        }
    }
}

proptest! {
    #![proptest_config(Config::with_cases(48))]

    #[test]
    fn store_follows_the_reference_model(ops in vec(op(), 1..40)) {
        run(&ops);
    }
}

/// A fixed sequence through every kind of step, so the model runs every
/// branch on every run whatever the random cases draw.
#[test]
fn store_follows_the_reference_model_on_a_fixed_walk() {
    use HandoffFault as F;
    let mut ops = Vec::new();
    for (i, fault) in [
        F::None,
        F::FailFirstUpdate,
        F::FirstUpdateFailsAfterWrite,
        F::FirstUpdateLies,
        F::FailReadBack,
        F::CorruptReadBack,
        F::FailClear,
        F::TokensLostBeforeClear,
    ]
    .into_iter()
    .enumerate()
    {
        let by = i % 2;
        ops.push(Op::Set { by, gw: 0, alias: i, slot: SlotSpec::Bootstrap, secret: 1 });
        ops.push(Op::Handoff { by, gw: 0, alias: i + 1, tokens: BTreeMap::from([(0, 2), (1, i as u8)]), fault });
        ops.push(Op::Begin { by, gw: i % 3, alias: i });
        ops.push(Op::SetInGen {
            by: 1 - by,
            gw: i % 3,
            alias: 0,
            pick: i,
            foreign: false,
            slot: SlotSpec::Shared,
            secret: 3,
        });
        ops.push(Op::SetInGen {
            by,
            gw: i % 3,
            alias: 0,
            pick: 0,
            foreign: i % 2 == 0,
            slot: SlotSpec::Device(2),
            secret: 4,
        });
        ops.push(Op::Replace { by, gw: 0, alias: 0, secret: 5, pass: i % 2 == 1 });
        ops.push(Op::Remove { by, gw: i % 3, alias: 1, slot: if i % 3 == 0 { None } else { Some(SlotSpec::Shared) } });
    }
    run(&ops);
}
