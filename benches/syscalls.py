#!/usr/bin/env python3
"""System calls per operation, per contender, counted with `strace -c -f`.

Runs examples/replace_once.rs (durable replace of 4 KiB) or
examples/read_once.rs (open+read 8 directories deep) under `strace -c -f`
twice per mode, with N = 0 and N = COUNT operations, and prints
(calls(N) - calls(0)) / N per system call, so process start-up and setup
(temp dir, Root::open) are not counted.

Usage (from the workspace root):
    cargo build --release --example replace_once --example read_once
    python3 benches/syscalls.py replace [COUNT] [MODE ...]  # default: 1000 gw awf tempfile
    python3 benches/syscalls.py read [COUNT] [MODE ...]     # default: 1000 std openat2 walk cap
"""

import os
import subprocess
import sys
import tempfile

KINDS = {
    "replace": ("replace_once", ["gw", "awf", "tempfile"], "durable replace"),
    "read": ("read_once", ["std", "openat2", "walk", "cap"], "open+read"),
}


def strace_counts(exe, mode, n):
    """Runs one replace_once process under strace -c -f; returns {syscall: calls}."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".strace") as out:
        subprocess.run(["strace", "-c", "-f", "-o", out.name, exe, mode, str(n)], check=True)
        counts = {}
        for line in out.read().splitlines():
            cols = line.split()
            # "% time  seconds  usecs/call  calls  [errors]  syscall"
            if len(cols) < 5 or not cols[0][0].isdigit() or cols[-1] == "total":
                continue
            counts[cols[-1]] = int(cols[3])
        return counts


def main():
    args = sys.argv[1:]
    if not args or args[0] not in KINDS:
        sys.exit(__doc__)
    example, default_modes, what = KINDS[args.pop(0)]
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "examples", example)
    count = int(args.pop(0)) if args and args[0].isdigit() else 1000
    modes = args or default_modes
    if not os.path.exists(exe):
        sys.exit(f"{exe} missing: run `cargo build --release --example {example}` first")
    per_mode = {}
    for mode in modes:
        base = strace_counts(exe, mode, 0)
        full = strace_counts(exe, mode, count)
        per = {}
        for name, calls in full.items():
            d = (calls - base.get(name, 0)) / count
            if d >= 0.01:
                per[name] = d
        per_mode[mode] = per
    names = sorted({n for per in per_mode.values() for n in per},
                   key=lambda n: (-max(p.get(n, 0) for p in per_mode.values()), n))
    print(f"system calls per {what} (mean over {count}, setup subtracted)")
    print(f"{'syscall':<12}" + "".join(f"{m:>10}" for m in modes))
    for name in names:
        print(f"{name:<12}" + "".join(f"{per_mode[m].get(name, 0):>10.2f}" for m in modes))
    print(f"{'total':<12}" + "".join(f"{sum(per_mode[m].values()):>10.2f}" for m in modes))


if __name__ == "__main__":
    main()
