#!/bin/sh
# Peak RSS of `gw fs write DIR REL` with 1 MiB on stdin, beside the same
# command with empty stdin (the process's own baseline), via /usr/bin/time -v
# (Debian package `time`). Usage, from the workspace root:
#   cargo build --release && sh benches/rss.sh [RUNS]
set -eu
runs=${1:-5}
gw=./target/release/gw
dir=$(mktemp -d "${TMPDIR:-/tmp}/gw-bench-rss.XXXXXX")
trap 'rm -rf "$dir" "$dir.in" "$dir.empty"' EXIT
head -c 1048576 /dev/urandom >"$dir.in"
: >"$dir.empty"
rss() { /usr/bin/time -v "$gw" fs write "$dir" "$2" <"$1" 2>&1 >/dev/null | awk '/Maximum resident/ {print $NF}'; }
for input in in empty; do
    label=$([ "$input" = in ] && echo "1 MiB" || echo "empty")
    printf '%-6s stdin, peak RSS (KiB):' "$label"
    i=0
    while [ "$i" -lt "$runs" ]; do
        printf ' %s' "$(rss "$dir.$input" "out.$input")"
        i=$((i + 1))
    done
    echo
done
cmp -s "$dir.in" "$dir/out.in" && echo "content check: ok"
