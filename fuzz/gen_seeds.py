#!/usr/bin/env python3
"""Writes the committed seed corpora and dictionaries of the gw fuzz targets.

    python3 fuzz/gen_seeds.py        # from the repository root or from fuzz/

rel_path seeds are plain path bytes. anchor_ops seeds are plans encoded the way
`arbitrary` 1.x decodes the `#[derive(Arbitrary)]` types in
fuzz_targets/anchor_ops.rs (fields in order; integers little-endian; a bool is
one byte, odd = true; an enum is a u32 `x` choosing variant `(x * n) >> 32`; the
trailing `Vec<Op>` is "one continue byte (odd), then an Op" repeated). Keep the
variant lists below in the order of the Rust enums. Check a seed decodes as
intended with:

    GW_FUZZ_DEBUG=1 cargo +nightly fuzz run anchor_ops fuzz/seeds/anchor_ops/<seed>
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

NAME = ["A", "B", "Link", "Dot", "DotDot", "Empty"]
CONTENT = ["Empty", "Short", "Long"]
LEAF = ["OutsideDir", "Canary", "SecretDir", "Victim", "Missing", "SecretMissing"]
LINK = ["Relative", "Absolute", "Inside", "Dangling", "Loop", "RootDir", "DotDot"]
TEMP = ["Auto", "Tmpfile", "Named"]
OP = [
    "WriteAtomic", "CreateNew", "Read", "MkdirAll", "Remove", "Rename", "List", "Metadata", "OpenDir",
    "Lock", "RemoveStaleTemps", "Verify",
    "PlantSymlink", "PlantFifo", "PlantHardlink", "SwapWithSymlink", "Chmod",
]


def variant(names, name):
    n, i = len(names), names.index(name)
    x = ((i << 32) + n - 1) // n
    assert (x * n) >> 32 == i and x < 1 << 32
    return struct.pack("<I", x)


def u8(v):
    return bytes([v])


def u16(v):
    return struct.pack("<H", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def path(p):
    """A path of up to three alphabet names: 'a/link/', '../a', '.', ''."""
    trailing = p.endswith("/") and p != "/"
    parts = [x for x in (p[:-1] if trailing else p).split("/")] if p else []
    table = {"a": "A", "b": "B", "link": "Link", ".": "Dot", "..": "DotDot", "": "Empty"}
    assert len(parts) <= 3, p
    names = [table[x] for x in parts] + ["A"] * (3 - len(parts))
    return u8(len(parts)) + b"".join(variant(NAME, n) for n in names) + boolean(trailing)


def content(kind, n=0):
    return variant(CONTENT, kind) + (u8(n) if kind != "Empty" else b"")


def link(kind, *args):
    out = variant(LINK, kind)
    if kind == "Relative":
        up, leaf = args
        out += u8(up) + variant(LEAF, leaf)
    elif kind == "Absolute":
        out += variant(LEAF, args[0])
    elif kind == "Inside":
        out += path(args[0])
    return out


def op(kind, **f):
    on = u8(f.get("on", 0))
    out = variant(OP, kind)
    if kind == "WriteAtomic":
        out += on + path(f["path"]) + content(*f.get("content", ("Short", 1))) + u16(f.get("mode", 0o600))
        out += boolean(f.get("parents", False)) + variant(TEMP, f.get("temp", "Auto"))
    elif kind == "CreateNew":
        out += on + path(f["path"]) + content(*f.get("content", ("Short", 2))) + boolean(f.get("parents", False))
    elif kind == "Read":
        out += on + path(f["path"]) + u16(f.get("max", 4096))
    elif kind == "MkdirAll":
        out += on + path(f["path"]) + u16(f.get("mode", 0o700))
    elif kind in ("Remove", "List", "Metadata", "OpenDir", "RemoveStaleTemps"):
        out += on + path(f["path"])
    elif kind == "Rename":
        out += on + path(f["src"]) + path(f["dst"]) + boolean(f.get("no_replace", False))
    elif kind == "Lock":
        out += on + path(f["path"]) + boolean(f.get("exclusive", True))
    elif kind == "Verify":
        out += on
    elif kind in ("PlantSymlink", "SwapWithSymlink"):
        out += path(f["at"]) + f["target"]
    elif kind in ("PlantFifo", "PlantHardlink"):
        out += path(f["at"])
    elif kind == "Chmod":
        out += path(f["at"]) + u16(f["mode"])
    else:
        raise ValueError(kind)
    return out


def plan(resolver, *ops):
    """resolver: 'walk' | 'openat2' | 'auto' (the target takes it modulo 3)."""
    return u8(["walk", "openat2", "auto"].index(resolver)) + b"".join(b"\x01" + o for o in ops) + b"\x00"


ANCHOR_OPS = {
    "write-read-list": plan(
        "walk",
        op("WriteAtomic", path="a"), op("Read", path="a"), op("List", path="."), op("Metadata", path="a"),
        op("CreateNew", path="b"), op("Rename", src="b", dst="a"), op("Remove", path="a"),
    ),
    "fs1-symlink-at-target": plan(
        "openat2",
        op("PlantSymlink", at="a", target=link("Relative", 0, "Canary")),
        op("WriteAtomic", path="a"), op("CreateNew", path="a"), op("Read", path="a"), op("Lock", path="a"),
        op("Rename", src="b", dst="a"), op("Metadata", path="a"),
    ),
    "fs2-symlinked-parent": plan(
        "walk",
        op("PlantSymlink", at="link", target=link("Relative", 0, "OutsideDir")),
        op("WriteAtomic", path="link/a", parents=True), op("MkdirAll", path="link/b"), op("List", path="link"),
        op("Read", path="link/a"), op("Remove", path="link/a"), op("OpenDir", path="link"),
    ),
    "fs2-swap-parent": plan(
        "auto",
        op("MkdirAll", path="a/b"), op("WriteAtomic", path="a/b/a", temp="Named"),
        op("SwapWithSymlink", at="a", target=link("Absolute", "OutsideDir")),
        op("WriteAtomic", path="a/b/a"), op("Rename", src="a/b/a", dst="b"), op("OpenDir", path="a"),
        op("RemoveStaleTemps", path="a/b"),
    ),
    "dangling-link-to-outside": plan(
        "openat2",
        op("PlantSymlink", at="a", target=link("Relative", 0, "Missing")),
        op("PlantSymlink", at="b", target=link("Absolute", "SecretMissing")),
        op("WriteAtomic", path="a"), op("CreateNew", path="b"), op("Lock", path="a"), op("MkdirAll", path="b"),
        op("WriteAtomic", path="b/a", parents=True),
    ),
    "fifo-at-target": plan(
        "walk",
        op("PlantFifo", at="a"), op("Read", path="a"), op("WriteAtomic", path="a"), op("Lock", path="a"),
        op("Metadata", path="a"), op("Rename", src="b", dst="a"),
    ),
    "dotdot-escapes": plan(
        "auto",
        op("Read", path="../a"), op("WriteAtomic", path="a/../b"), op("Rename", src="a", dst="../a"),
        op("List", path=".."), op("MkdirAll", path="a/.."), op("OpenDir", path=".."),
    ),
    "hardlinked-victim": plan(
        "openat2",
        op("PlantHardlink", at="a"), op("WriteAtomic", path="a"), op("PlantHardlink", at="b"),
        op("Lock", path="b"), op("Read", path="b"), op("Rename", src="b", dst="a"),
    ),
    "fs5-insecure-dir": plan(
        "walk",
        op("MkdirAll", path="a"), op("Chmod", at="a", mode=0o777), op("WriteAtomic", path="a/b"),
        op("MkdirAll", path="a/b"), op("Chmod", at=".", mode=0o777), op("WriteAtomic", path="b"),
        op("Verify"),
    ),
    "sub-root": plan(
        "openat2",
        op("MkdirAll", path="a/b"), op("OpenDir", path="a"), op("WriteAtomic", on=1, path="b/a"),
        op("PlantSymlink", at="a/link", target=link("Relative", 1, "Canary")),
        op("Read", on=1, path="link"), op("List", on=1, path="b"), op("Verify", on=1),
        op("RemoveStaleTemps", on=1, path="b"),
    ),
    "link-loops-and-root": plan(
        "walk",
        op("PlantSymlink", at="link", target=link("Loop")), op("PlantSymlink", at="a", target=link("RootDir")),
        op("PlantSymlink", at="b", target=link("DotDot")), op("Read", path="link"), op("List", path="a"),
        op("WriteAtomic", path="b/a"), op("MkdirAll", path="link/a"),
    ),
}

REL_PATH = {
    "plain": b"a/b/c",
    "dots-and-slashes": b"a/./b//c/",
    "trailing-dot": b"a/b/.",
    "root": b".",
    "empty": b"",
    "three-dots": b".../a",
    "dotdot": b"a/../b",
    "dotdot-end": b"a/b/..",
    "absolute": b"/etc/passwd",
    "nul": b"a\x00b",
    "non-utf8": b"\xff\xfe/\x80",
    "long-name": b"x" * 256,
    "deep": b"a/" * 65,
    # Longer than MAX_PATH_BYTES: also raises libFuzzer's default -max_len.
    "long-path": b"abcdefgh/" * 560,
}

REL_PATH_DICT = ["/", ".", "..", "//", "/.", "./", "../", "/..", "/../", "\\x00", "\\xff", "..."]


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data)


def main():
    for name, data in ANCHOR_OPS.items():
        write(os.path.join(HERE, "seeds", "anchor_ops"), name, data)
    for name, data in REL_PATH.items():
        write(os.path.join(HERE, "seeds", "rel_path"), name, data)

    lines = ["# rel_path: path syntax (separators, dot components, NUL, a non-UTF-8 byte)."]
    lines += [f'"{tok}"' for tok in REL_PATH_DICT]
    write(os.path.join(HERE, "dicts"), "rel_path.dict", ("\n".join(lines) + "\n").encode())

    lines = [
        "# anchor_ops: the u32 values that select each variant of the plan's enums",
        "# (arbitrary's derive: variant = (x * n) >> 32), little-endian.",
    ]
    for enum, names in [("Op", OP), ("Name", NAME), ("LinkTarget", LINK), ("Leaf", LEAF)]:
        for n in names:
            esc = "".join(f"\\x{b:02x}" for b in variant(names, n))
            lines.append(f'{enum.lower()}_{n.lower()}="{esc}"')
    write(os.path.join(HERE, "dicts"), "anchor_ops.dict", ("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    main()
