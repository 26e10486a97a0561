#!/usr/bin/env python3
"""Ratios of each bench to its group's baseline, from one criterion run.

Reads target/criterion/<group>/<bench>/new/estimates.json (written by
`cargo bench --bench replace --bench open_read --bench persist --bench token`) and prints,
per bench, its mean and median divided by the baseline's mean and median measured in the
same run, plus the issue's targets; and, for the token groups, how many times faster
gw-token is than jsonwebtoken (the slower one's time over the faster one's, same run). Absolute times are deliberately not printed: the
machines are noisy, ratios are what carries over.

Usage (from the workspace root):
    python3 benches/ratios.py [CRITERION_DIR]    # default: $CARGO_TARGET_DIR or target, /criterion
Exit status 0 whether or not targets are met (this reports, it does not gate).
"""

import json
import os
import sys

# group -> (baseline bench, [benches in display order])
GROUPS = {
    "replace_durable": ("atomic_write_file", ["gw_anchor", "atomic_write_file", "tempfile"]),
    "replace_nosync": ("std_fs_write", ["gw_anchor", "std_fs_write"]),
    "open_read_8deep": ("std_fs_read", ["gw_openat2", "gw_walk", "cap_std", "std_fs_read"]),
    "save_durable": ("serde_anchor", ["gw_persist_save", "gw_persist_save_value", "serde_anchor"]),
    "save_nosync": ("serde_anchor", ["gw_persist_save", "gw_persist_save_value", "serde_anchor"]),
    "update_durable": (
        "unlocked_rmw",
        ["gw_persist_update", "flock_rmw", "checked_rmw", "strict_rmw", "unlocked_rmw"],
    ),
    "update_nosync": (
        "unlocked_rmw",
        ["gw_persist_update", "flock_rmw", "checked_rmw", "strict_rmw", "unlocked_rmw"],
    ),
    "parse_1mib": ("serde_json_from_slice", ["gw_persist_parse_json", "serde_json_from_slice"]),
    "token_verify": ("hmac_sha256", ["gw_verify", "hmac_sha256_prekeyed", "jsonwebtoken_decode", "hmac_sha256"]),
    "token_verify_caveat": ("hmac_sha256", ["gw_verify", "hmac_sha256_prekeyed", "mac_chain", "jsonwebtoken_decode", "hmac_sha256"]),
    "token_derive": ("hmac_sha256", ["gw_derive_with_id", "gw_derive", "jsonwebtoken_encode", "hmac_sha256"]),
}

# (group, bench) -> the largest mean ratio the issue accepts
TARGETS = {
    ("replace_durable", "gw_anchor"): 1.1,
    ("open_read_8deep", "gw_openat2"): 1.5,
    ("open_read_8deep", "gw_walk"): 3.0,
    ("save_durable", "gw_persist_save"): 1.1,
    ("save_nosync", "gw_persist_save"): 1.1,
    ("parse_1mib", "gw_persist_parse_json"): 1.5,
    ("token_verify", "gw_verify"): 2.0,
    ("token_verify_caveat", "gw_verify"): 2.0,
}

# (group, slower bench, faster bench) -> the smallest speed-up the issue accepts
# (None: reported, no target)
SPEEDUPS = {
    ("token_verify", "jsonwebtoken_decode", "gw_verify"): 3.0,
    ("token_verify_caveat", "jsonwebtoken_decode", "gw_verify"): 3.0,
    ("token_derive", "jsonwebtoken_encode", "gw_derive_with_id"): None,
}


def load(base, group, bench):
    path = os.path.join(base, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            est = json.load(f)
    except FileNotFoundError:
        return None
    return est["mean"]["point_estimate"], est["median"]["point_estimate"]


def main():
    if len(sys.argv) > 1:
        base = sys.argv[1]
    else:
        base = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    found = False
    for group, (baseline, benches) in GROUPS.items():
        ref = load(base, group, baseline)
        if ref is None:
            print(f"{group}: no results under {base} (run the bench first)")
            continue
        found = True
        print(f"{group} (baseline: {baseline})")
        print(f"  {'bench':<24}{'mean ratio':>12}{'median ratio':>14}  target")
        for bench in benches:
            est = load(base, group, bench)
            if est is None:
                print(f"  {bench:<24}{'missing':>12}")
                continue
            mean_r, median_r = est[0] / ref[0], est[1] / ref[1]
            target = TARGETS.get((group, bench))
            verdict = ""
            if target is not None:
                verdict = f"<= {target}x: {'met' if mean_r <= target else 'NOT met'}"
            print(f"  {bench:<24}{mean_r:>11.2f}x{median_r:>13.2f}x  {verdict}")
        for (g, slow, fast), least in SPEEDUPS.items():
            if g != group:
                continue
            s, f = load(base, group, slow), load(base, group, fast)
            if s is None or f is None:
                print(f"  {slow} / {fast}: missing")
                continue
            mean_x, median_x = s[0] / f[0], s[1] / f[1]
            verdict = ""
            if least is not None:
                verdict = f">= {least}x: {'met' if mean_x >= least else 'NOT met'}"
            print(f"  {slow} / {fast}: {mean_x:.2f}x (median {median_x:.2f}x)  {verdict}")
    if not found:
        sys.exit(1)


if __name__ == "__main__":
    main()
