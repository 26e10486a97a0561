//! gw-token's `verify` and `derive` beside a bare HMAC-SHA256 of the same
//! bytes and beside the `jsonwebtoken` crate's HS256 `decode` and `encode` of
//! a JWT with the same claims.
//!
//! The grant: two scopes, an audience, local-only, 8 hours (see
//! `benches/common`).
//! - `token_verify`: a `gw2` token without caveats. `gw_verify`: a
//!   `Verifier` as a server makes one per request (scope, audience, peer, the
//!   clock), then `verify`. `hmac_sha256` (the baseline): HMAC-SHA256 with the
//!   same key over exactly the bytes the token's MAC authenticates
//!   (`CLAIMS_DOMAIN || claims record`), key setup included
//!   (`Hmac::new_from_slice`), then a constant-time comparison with the tag.
//!   `hmac_sha256_prekeyed`: the same from a keyed `Hmac` made once and
//!   cloned (no per-call key setup, as gw-token's `TokenKey` keeps its key
//!   state): the floor of the MAC alone. `jsonwebtoken_decode`: `decode` of
//!   the HS256 JWT (`exp`, `nbf`, `aud` required and checked, gw's skew as
//!   leeway), then the scope and locality checks gw makes and a JWT library
//!   does not.
//! - `token_verify_caveat`: the same token narrowed by one caveat (one scope,
//!   a shorter expiry). `hmac_sha256` / `hmac_sha256_prekeyed`: one HMAC over
//!   both MAC inputs concatenated. `mac_chain`: the two chained HMACs with the
//!   `hmac` crate. `jsonwebtoken_decode`: the same JWT as above (a JWT cannot
//!   be narrowed by its holder).
//! - `token_derive`: `gw_derive_with_id` (fixed token id) and
//!   `jsonwebtoken_encode` (claims built from the same grant, the same id):
//!   like for like; `gw_derive`, the real API, adds a fresh random id from the
//!   OS. `hmac_sha256` (the baseline): the HMAC of the signed bytes alone.
//!
//! Keys are made once, outside the timed loop (gw-token's HKDF included).
//! Quote ratios, not times: see benches/README.md and benches/ratios.py.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

fn bench_verify(c: &mut Criterion) {
    let b = common::TokenBench::new();
    let mut group = c.benchmark_group("token_verify");
    group.bench_function("hmac_sha256", |it| {
        it.iter(|| common::bare_hmac_verify(&b, black_box(&b.plain_signed), black_box(&b.plain_tag)));
    });
    group.bench_function("hmac_sha256_prekeyed", |it| {
        it.iter(|| common::prekeyed_hmac_verify(&b, black_box(&b.plain_signed), black_box(&b.plain_tag)));
    });
    group.bench_function("gw_verify", |it| it.iter(|| common::gw_verify(&b, black_box(&b.plain))));
    group.bench_function("jsonwebtoken_decode", |it| it.iter(|| common::jwt_decode(black_box(&b))));
    group.finish();
}

fn bench_verify_caveat(c: &mut Criterion) {
    let b = common::TokenBench::new();
    let mut group = c.benchmark_group("token_verify_caveat");
    group.bench_function("hmac_sha256", |it| {
        it.iter(|| common::bare_hmac_verify(&b, black_box(&b.caveated_signed), black_box(&b.caveated_flat_tag)));
    });
    group.bench_function("hmac_sha256_prekeyed", |it| {
        it.iter(|| common::prekeyed_hmac_verify(&b, black_box(&b.caveated_signed), black_box(&b.caveated_flat_tag)));
    });
    group.bench_function("mac_chain", |it| it.iter(|| common::mac_chain_verify(black_box(&b))));
    group.bench_function("gw_verify", |it| it.iter(|| common::gw_verify(&b, black_box(&b.caveated))));
    group.bench_function("jsonwebtoken_decode", |it| it.iter(|| common::jwt_decode(black_box(&b))));
    group.finish();
}

fn bench_derive(c: &mut Criterion) {
    let b = common::TokenBench::new();
    let mut group = c.benchmark_group("token_derive");
    group.bench_function("hmac_sha256", |it| it.iter(|| common::bare_hmac(black_box(&b))));
    group.bench_function("gw_derive_with_id", |it| it.iter(|| common::gw_derive_with_id(black_box(&b))));
    group.bench_function("gw_derive", |it| it.iter(|| common::gw_derive(black_box(&b))));
    group.bench_function("jsonwebtoken_encode", |it| it.iter(|| common::jwt_encode(black_box(&b))));
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_verify, bench_verify_caveat, bench_derive
}
criterion_main!(benches);
