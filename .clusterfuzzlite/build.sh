#!/bin/bash -eu
# Builds every cargo-fuzz target of gw for ClusterFuzzLite / OSS-Fuzz and puts
# into $OUT, per target T (T from `cargo fuzz list`, so a new [[bin]] in
# fuzz/Cargo.toml is picked up without editing this file):
#   T                    the libFuzzer binary (release, debug assertions on)
#   T_seed_corpus.zip    fuzz/seeds/T/*  (the committed corpus)
#   T.dict               fuzz/dicts/T.dict, when there is one
#   T.options            libFuzzer options matching .ci/run's smoke run
#
# Runs in the base-builder-rust image ($SRC/gw is the repository). Locally,
# without Docker:  SRC=/path/to/parent-of-repo OUT=$(mktemp -d) bash .clusterfuzzlite/build.sh
# (GW_REPO=/path/to/repo overrides $SRC/gw.)

REPO="${GW_REPO:-$SRC/gw}"
cd "$REPO/fuzz"

cargo +nightly fuzz build -O --debug-assertions

# cargo-fuzz builds for the host triple into the fuzz workspace's target dir.
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin_dir="${CARGO_TARGET_DIR:-$REPO/fuzz/target}/$triple/release"

targets="$(cargo +nightly fuzz list)"
if [ -z "$targets" ]; then
    echo "build.sh: no fuzz targets" >&2
    exit 1
fi

for t in $targets; do
    if [ ! -x "$bin_dir/$t" ]; then
        echo "build.sh: $bin_dir/$t was not built" >&2
        exit 1
    fi
    cp "$bin_dir/$t" "$OUT/$t"
    if [ -d "seeds/$t" ] && [ -n "$(ls -A "seeds/$t")" ]; then
        rm -f "$OUT/${t}_seed_corpus.zip"
        # Every regular file (dot-files too), flat (-j: libFuzzer corpora are
        # flat directories); -X: no extra attributes.
        (cd "seeds/$t" && find . -maxdepth 1 -type f -print | zip -q -X -j "$OUT/${t}_seed_corpus.zip" -@)
    fi
    if [ -f "dicts/$t.dict" ]; then
        cp "dicts/$t.dict" "$OUT/$t.dict"
    fi
    # ClusterFuzzLite reads T.options; the dictionary is picked up by name
    # (T.dict) as well, and named here for plain libFuzzer runs.
    {
        echo "[libfuzzer]"
        echo "timeout = 10"
        echo "rss_limit_mb = 2560"
        if [ -f "dicts/$t.dict" ]; then
            echo "dict = $t.dict"
        fi
    } > "$OUT/$t.options"
done

echo "build.sh: $(echo "$targets" | wc -w) targets in $OUT"
