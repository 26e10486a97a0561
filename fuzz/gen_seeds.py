#!/usr/bin/env python3
"""Writes the committed seed corpora and dictionaries of the gw fuzz targets.

    python3 fuzz/gen_seeds.py        # from the repository root or from fuzz/

rel_path, json_load and plist_load seeds are plain documents (the binary
plists are made with Python's plistlib, some patched by hand: a duplicate key,
a cycle). anchor_ops seeds are plans encoded the way
`arbitrary` 1.x decodes the `#[derive(Arbitrary)]` types in
fuzz_targets/anchor_ops.rs (fields in order; integers little-endian; a bool is
one byte, odd = true; an enum is a u32 `x` choosing variant `(x * n) >> 32`; the
trailing `Vec<Op>` is "one continue byte (odd), then an Op" repeated). Keep the
variant lists below in the order of the Rust enums. Check a seed decodes as
intended with:

    GW_FUZZ_DEBUG=1 cargo +nightly fuzz run anchor_ops fuzz/seeds/anchor_ops/<seed>

token_verify seeds are tokens made with docs/token-format.md's key schedule
and MAC chain (checked against the doc's test vectors), and `chain-*` seeds:
"!" and a `Chain` of fuzz_targets/token_verify.rs, encoded as above, its
known scopes, audiences and peers indexes into that file's lists (read from
the Rust source). Check one with GW_FUZZ_DEBUG=1 as above. gateway_url and
hello_ok seeds are plain documents.

service_render seeds are `Input` values of fuzz_targets/service_render.rs,
encoded the same way; their strings are spelled with that file's TOKENS (read
from the Rust source, so the two cannot drift apart) and single `char`s. Check
one the same way (GW_FUZZ_DEBUG=1 prints the spec JSON and what rendering gave).
"""

import base64
import datetime
import functools
import hashlib
import hmac
import itertools
import json
import os
import plistlib
import re
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


# ---------------------------------------------------------------- json_load


def nest(n):
    return b"[" * n + b"]" * n


JSON_LOAD = {
    "spec-systemd": json.dumps(
        {
            "description": "gw reference gateway",
            "exec_start": ["/usr/bin/gw", "serve", "--port", "18789"],
            "environment": {"GW_HOME": "/home/me/.gw"},
            "restart": "on-failure",
            "restart_sec": 5,
            "wanted_by": ["default.target"],
        },
        indent=2,
    ).encode()
    + b"\n",
    "document": b'{"a": [1, -2, 3.5, true, false, null, "x"], "b": {"c": {}, "d": []}, "e": ""}\n',
    "dup-top": b'{"admin": false, "admin": true}',
    "dup-nested": b'{"x": [{"k": 1, "k": 1}]}',
    "dup-escaped": b'{"a\\u0041": 1, "aA": 2}',
    "dup-after-error": b'{"a": 1, "a": 2, ]',
    "deep-64": nest(64),
    "deep-65": nest(65),
    "deep-120-objects": b'{"a":' * 120 + b"1" + b"}" * 120,
    "deep-121": nest(121),
    "deep-130-unclosed": b"[" * 130,
    "bom": b"\xef\xbb\xbf{}",
    "trailing-garbage": b"{} x",
    "two-documents": b"{}{}",
    "invalid-utf8": b'{"a": "\xff"}',
    "overlong-utf8": b'["\xc0\xaf"]',
    "invalid-utf8-line3": b'{\n\n  "a": \xff}',
    "lone-surrogate": b'["\\ud800", "\\udc00x"]',
    "surrogate-pair": b'["\\ud83d\\ude00", "\\u00e9", "\\u0000"]',
    "escapes": b'"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    "raw-control-char": b'"a\x01b"',
    "numbers": b"[0, -0, -0.0, 1e308, 1.7976931348623157e308, 5e-324, 0.30000000000000004, 0.1, 1E+2, 1.0e-7,"
    b" 18446744073709551615, -9223372036854775808, 18446744073709551616, 123456789012345678901234567890]",
    "number-overflow": b"[1e400]",
    "number-forms": b"[01, 1., .5, -, +1, 0x10, NaN, Infinity]",
    "scalar-string": b'"x"',
    "scalar-null": b"null",
    "scalar-number-ws": b"  42  \n\t\r ",
    "empty": b"",
    "whitespace-only": b" \n\t\r",
    "error-line-5": b'{\n  "a": 1,\n  "b": [\n    2,\n    3,,\n  ]\n}\n',
    "unclosed-string": b'{"a": "b',
    "nul-byte": b'{"a": 1}\x00',
}

JSON_DICT_HEADER = [
    "json_load: JSON syntax, escapes, number edges, a BOM, invalid UTF-8, and the",
    "shapes of a duplicate key.",
]
JSON_DICT = [
    "{", "}", "[", "]", ":", ",", '"', '""', "{}", "[]", '{"a":', '"a":1,"a":2', "true", "false", "null",
    "\\u0000", "\\u0041", "\\ud800", "\\udc00", "\\ud83d\\ude00", '\\"', "\\\\", "\\/", "\\b", "\\f", "\\n",
    "\\r", "\\t", "-0", "0.1", "1e308", "1e400", "5e-324", "1E+2", "18446744073709551615",
    "18446744073709551616", "-9223372036854775808", "0.30000000000000004", " ", "\t", "\n", "\r",
    b"\xef\xbb\xbf", b"\xff", b"\xc0\xaf", b"\x00",
]

# ---------------------------------------------------------------- plist_load

PLIST_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
    b'<plist version="1.0">\n'
)


def xml(body):
    return PLIST_HEAD + body.encode() + b"\n</plist>\n"


def patch_once(data, old, new):
    assert data.count(old) == 1, (data, old)
    return data.replace(old, new)


AGENT = {
    "Label": "ai.gw.serve",
    "ProgramArguments": ["/usr/local/bin/gw", "serve", "--port", "18789"],
    "EnvironmentVariables": {"GW_HOME": "/Users/me/.gw"},
    "RunAtLoad": True,
    "KeepAlive": False,
    "StandardOutPath": "/Users/me/.gw/log/out.log",
    "ThrottleInterval": 10,
    "Ratio": 0.5,
}


def plist_seeds():
    binary = lambda v: plistlib.dumps(v, fmt=plistlib.FMT_BINARY, sort_keys=True)  # noqa: E731
    deep = []
    for _ in range(64):
        deep = [deep]
    return {
        "agent-xml": plistlib.dumps(AGENT, fmt=plistlib.FMT_XML, sort_keys=True),
        "agent-binary": binary(AGENT),
        "dup-key-xml": xml("<dict><key>a</key><string>1</string><key>a</key><string>2</string></dict>"),
        "dup-key-nested-xml": xml("<array><dict><key>k</key><true/><key>k</key><false/></dict></array>"),
        # Two string objects, then the second renamed to the first: a dictionary with key "a" twice.
        "dup-key-binary": patch_once(binary({"a": 1, "b": 2}), b"\x51b", b"\x51a"),
        "data-date-xml": xml("<dict><key>d</key><data>AAAA</data><key>t</key><date>2024-01-01T00:00:00Z</date></dict>"),
        "data-binary": binary({"d": b"\x00\x01"}),
        "date-binary": binary([datetime.datetime(2024, 1, 1)]),
        "uid-binary": binary([plistlib.UID(1)]),
        "deep-65-xml": xml("<array>" * 65 + "</array>" * 65),
        "deep-65-binary": binary(deep),
        # The outer array of [[]] made to contain itself.
        "cycle-binary": patch_once(binary([[]]), b"\xa1\x01", b"\xa1\x00"),
        "truncated-binary": binary(AGENT)[:40],
        "bom-xml": b"\xef\xbb\xbf" + xml("<dict/>"),
        "trailing-data-xml": xml("<dict/>") + b"<string>x</string>\n",
        "two-values-xml": xml("<dict/><dict/>"),
        "control-char-ref-xml": xml("<string>a&#x1;b</string>"),
        "control-char-binary": binary(["a\x01b", {"k\x1b": "v"}]),
        "numbers-xml": xml(
            "<array><integer>-9223372036854775808</integer><integer>18446744073709551615</integer>"
            "<integer>18446744073709551616</integer><integer>0x10</integer><real>-0.0</real><real>1e308</real>"
            "<real>nan</real><real>inf</real><real>5e-324</real><real>0.30000000000000004</real></array>"
        ),
        "numbers-binary": binary([2**64 - 1, -(2**63), 0.1, -0.0, 1e308, float("inf")]),
        "markup-xml": xml(
            "<dict><key>&amp;&lt;&gt;</key><string><![CDATA[<x>]]></string><!-- c --><key>e</key>"
            "<string>&#233;&#x10FFFF;</string><key>empty</key><string/></dict>"
        ),
        "key-without-value-xml": xml("<dict><key>a</key></dict>"),
        "non-string-key-xml": xml("<dict><integer>1</integer><string>x</string></dict>"),
        "unclosed-xml": PLIST_HEAD + b"<dict><key>a</key><array>",
        "no-wrapper-xml": b"<dict><key>a</key><string>b</string></dict>",
        "ascii-plist": b'{ Label = "ai.gw.serve"; ProgramArguments = ( "/bin/true" ); }',
        "entity-xml": b'<?xml version="1.0"?>\n<!DOCTYPE plist [<!ENTITY x "y">]>\n<plist><string>&x;</string></plist>',
        # Documents the plist crate's XML reader once read differently from
        # conforming XML parsers (gw-persist now refuses or normalizes them):
        # a CDATA key hiding a duplicate, CDATA text, an undeclared entity,
        # raw carriage returns, another encoding, a late XML declaration, a
        # namespace prefix, `]]>` in text, `<` in an attribute.
        "differ-cdata-dup-key": xml(
            "<dict><key>a</key><string>1</string><key><![CDATA[a]]></key><string>2</string></dict>"
        ),
        "differ-cdata-text": xml("<string>a<![CDATA[<b>]]>c</string>"),
        "differ-undeclared-entity": xml("<string>a&x;b</string>"),
        "differ-crlf": PLIST_HEAD.replace(b"\n", b"\r\n") + b"<dict>\r\n<key>a\rb</key><string>c\r\nd&#13;</string>\r\n</dict>\r\n</plist>\r\n",
        "differ-latin1": b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<plist><string>\xc3\xa9</string></plist>\n',
        "differ-late-declaration": b'<plist><string>x</string><?xml version="1.0"?></plist>',
        "differ-namespace-prefix": xml('<array xmlns:x="u"><x:string>a</x:string><string>b</string></array>'),
        "differ-cdata-end-in-text": xml("<string>a]]>b</string>"),
        "differ-lt-in-attribute": b'<plist version="<"><string>x</string></plist>',
        "comment-pi-in-string": xml("<string>a<!-- & <![CDATA[ -->b<?pi & ?>c</string>"),
    }


PLIST_DICT_HEADER = [
    "plist_load: XML plist markup, entities, and binary plist object markers",
    "(high nibble: type; low nibble: size).",
]
PLIST_DICT = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">', "</plist>", "<dict>", "</dict>", "<dict/>", "<array>", "</array>", "<array/>",
    "<key>", "</key>", "<string>", "</string>", "<string/>", "<integer>", "</integer>", "<real>", "</real>",
    "<true/>", "<false/>", "<data>", "</data>", "<date>", "</date>", "<key>a</key>", "&amp;", "&lt;", "&gt;",
    "&quot;", "&#x1;", "&#10;", "&#xFFFE;", "<![CDATA[", "]]>", "<!--", "-->", "<?", "?>", "nan", "inf",
    "-9223372036854775808", "18446744073709551616", "&x;", "\r\n", "\r", ' xmlns:x="u"', "<x:string>",
    ' encoding="ISO-8859-1"', ' version="1.1"', "<!DOCTYPE plist [", '<!ENTITY x "y">', "]>",
    b"bplist00", b"\x08", b"\x09", b"\x10", b"\x13", b"\x14", b"\x23", b"\x33", b"\x40", b"\x50", b"\x51",
    b"\x5f\x10", b"\x61", b"\x80", b"\xa0", b"\xa1", b"\xd0", b"\xd1", b"\x00\x00\x00\x00\x00\x00\x01\x01",
    b"\xef\xbb\xbf",
]

# ---------------------------------------------------------------- service_render


@functools.cache
def rust_tokens():
    """The TOKENS of fuzz_targets/service_render.rs, in order."""
    with open(os.path.join(HERE, "fuzz_targets", "service_render.rs"), encoding="utf-8") as f:
        src = f.read()
    block = src.split("// BEGIN TOKENS\n", 1)[1].split("// END TOKENS\n", 1)[0]
    tokens = []
    for line in block.splitlines():
        line = line.strip()
        if not line.startswith('"'):
            continue
        lit = line.rstrip(",")
        assert lit.endswith('"'), line
        tokens.append(unescape_rust(lit[1:-1]))
    return tokens


def unescape_rust(s):
    out, i = [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = s[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "u":
            m = re.match(r"\{([0-9a-fA-F]+)\}", s[i + 2 :])
            out.append(chr(int(m.group(1), 16)))
            i += 2 + len(m.group(0))
        elif e == "x":
            out.append(chr(int(s[i + 2 : i + 4], 16)))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e} in {s!r}")
    return "".join(out)


PIECE = ["Tok", "Char", "Repeat", "Raw"]
PATH_IN = ["Abs", "Raw"]
NAMED = ["Known", "Raw"]
ARGV_IN = ["Missing", "Empty", "Cmd"]
INTERVAL = ["Small", "Any"]
MANGLE = ["None", "Unknown", "Duplicate", "WrongType"]
INPUT = ["Systemd", "Launchd"]


def vec(items):
    return b"".join(b"\x01" + x for x in items) + b"\x00"


def option(x):
    return b"\x00" if x is None else b"\x01" + x


def u64(v):
    return struct.pack("<Q", v)


class Rep:
    """A `Piece::Repeat`: token `tok` repeated `n` times."""

    def __init__(self, tok, n):
        self.tok, self.n = tok, n


def text(*parts):
    """A `Text`: each str part spelled with the longest matching tokens, else
    one `Piece::Char` per character; a Rep part is one `Piece::Repeat`."""
    toks = rust_tokens()
    pieces = []
    for part in parts:
        if isinstance(part, Rep):
            pieces.append(variant(PIECE, "Repeat") + u8(toks.index(part.tok)) + u16(part.n))
            continue
        i = 0
        while i < len(part):
            best = max((t for t in toks if part.startswith(t, i)), key=len, default=None)
            if best is None:
                pieces.append(variant(PIECE, "Char") + struct.pack("<I", ord(part[i])))
                i += 1
            else:
                pieces.append(variant(PIECE, "Tok") + u8(toks.index(best)))
                i += len(best)
    return vec(pieces)


def abs_path(*parts):
    """`PathIn::Abs`: '/' + parts joined by '/'."""
    return variant(PATH_IN, "Abs") + vec([text(p) for p in parts])


def raw_path(s):
    return variant(PATH_IN, "Raw") + text(s)


def path(p):
    if p.startswith("/") and p != "/":
        return abs_path(*p[1:].split("/"))
    return raw_path(p)


def named(*parts):
    return variant(NAMED, "Raw") + text(*parts)


def cmd(program, *args):
    return variant(ARGV_IN, "Cmd") + path(program) + vec([text(*a) if isinstance(a, tuple) else text(a) for a in args])


def small(s):
    return variant(INTERVAL, "Small") + u16(s)


def any_secs(s):
    return variant(INTERVAL, "Any") + u64(s)


def mangle(kind="None", arg=None):
    out = variant(MANGLE, kind)
    if kind == "Unknown":
        out += text(arg)
    elif kind in ("Duplicate", "WrongType"):
        out += u8(arg)
    return out


def systemd(exec_start, description=None, after=(), env=(), restart=None, restart_sec=None, watchdog_sec=None,
            wd=None, wanted_by=(), mangled=None):
    return (
        variant(INPUT, "Systemd")
        + option(None if description is None else text(description))
        + vec([named(u) for u in after])
        + exec_start
        + vec([named(k) + text(v) for k, v in env])
        + option(None if restart is None else named(restart))
        + option(restart_sec)
        + option(watchdog_sec)
        + option(None if wd is None else path(wd))
        + vec([named(u) for u in wanted_by])
        + (mangled or mangle())
    )


def launchd(label, args, env=(), run_at_load=None, keep_alive=None, out=None, err=None, wd=None, throttle=None,
            mangled=None):
    return (
        variant(INPUT, "Launchd")
        + named(label)
        + args
        + vec([named(k) + text(v) for k, v in env])
        + option(None if run_at_load is None else boolean(run_at_load))
        + option(None if keep_alive is None else boolean(keep_alive))
        + option(None if out is None else path(out))
        + option(None if err is None else path(err))
        + option(None if wd is None else path(wd))
        + option(throttle)
        + (mangled or mangle())
    )


GW = cmd("/usr/bin/gw", "serve", "--port", "18789")
HOSTILE_ARGS = ['"', "'", "\\", "%h", "%%", "$HOME", "${HOME}", "$$", ";", "a b", "", "é", "\\x2d", "#", "[Service]"]


def service_seeds():
    return {
        "systemd-reference": systemd(
            GW, description="gw reference gateway", after=["network-online.target"], env=[("GW_HOME", "/home/me/.gw")],
            restart="on-failure", restart_sec=small(5), watchdog_sec=small(30), wd="/home/me/.gw",
            wanted_by=["default.target"],
        ),
        "systemd-quoting": systemd(
            cmd("/usr/bin/gw", *HOSTILE_ARGS), description='50% of $HOME "quoted" \\x2d ; # [Unit]',
            env=[("A1", 'v "q" \\ %h $HOME ${HOME} ;'), ("_", "")], wd="/home/me/a b/%h",
        ),
        "systemd-description-newline": systemd(GW, description="x\nExecStartPre=/bin/evil"),
        "systemd-description-cr": systemd(GW, description="x\rExecStartPre=/bin/evil"),
        "systemd-description-backslash": systemd(GW, description="ends with \\"),
        "systemd-wd-backslash": systemd(GW, wd="/home/me/x\\"),
        "systemd-env-section": systemd(GW, env=[("GW_HOME", "a\n[Install]\nWantedBy=evil.target")]),
        "systemd-arg-newline": systemd(cmd("/usr/bin/gw", "\\\nExecStartPre=/bin/evil")),
        "systemd-arg-separators": systemd(cmd("/usr/bin/gw", "a\u2028b", "\u202eevil", "\ufeff", "\u0085")),
        "systemd-exec-relative": systemd(cmd("bin/gw")),
        "systemd-exec-prefix": systemd(cmd("-/usr/bin/gw")),
        "systemd-exec-quote": systemd(cmd('/usr/bin/g"w')),
        "systemd-exec-dotdot": systemd(cmd("/usr/../bin/gw")),
        "systemd-exec-empty": systemd(variant(ARGV_IN, "Empty")),
        "systemd-exec-missing": systemd(variant(ARGV_IN, "Missing"), description="no exec_start"),
        "systemd-bad-units": systemd(GW, after=["a\\x2d.target", "%i.service"], wanted_by=["evil.target\nX=1"]),
        "systemd-bad-env-name": systemd(GW, env=[("A=B", "x"), ("1A", "y")]),
        "systemd-long-arg": systemd(cmd("/usr/bin/gw", (Rep("a", 4097),))),
        "systemd-interval-range": systemd(GW, restart_sec=small(0), watchdog_sec=any_secs(2**64 - 1)),
        "systemd-restart-bogus": systemd(GW, restart="sometimes"),
        "systemd-duplicate-key": systemd(GW, description="d", mangled=mangle("Duplicate", 1)),
        "systemd-unknown-field": systemd(GW, mangled=mangle("Unknown", "ExecStartPre")),
        "systemd-wrong-type": systemd(GW, restart_sec=small(5), mangled=mangle("WrongType", 1)),
        "launchd-reference": launchd(
            "ai.gw.serve", GW, env=[("GW_HOME", "/Users/me/.gw")], run_at_load=True, keep_alive=False,
            out="/Users/me/.gw/out.log", err="/Users/me/.gw/err.log", wd="/Users/me/.gw", throttle=small(10),
        ),
        "launchd-xml-markup": launchd(
            "ai.gw.serve",
            cmd("/usr/local/bin/gw", "</string><key>Evil</key><string>", "<![CDATA[", "]]>", "&amp;", "<!--", "é"),
            env=[("GW_HOME", "<&>\"'")], wd="/Users/me/<dir>&",
        ),
        "launchd-control-char": launchd("ai.gw.serve", cmd("/usr/local/bin/gw", "a\x01b")),
        "launchd-noncharacter": launchd("ai.gw.serve", cmd("/usr/local/bin/gw"), env=[("A1", "\uffff")]),
        "launchd-newline": launchd("ai.gw.serve", cmd("/usr/local/bin/gw"), env=[("A1", "x\n</string>")]),
        "launchd-bad-label": launchd("../evil", GW),
        "launchd-relative-paths": launchd("ai.gw.serve", GW, out="~/log", err="log", wd="$HOME"),
        "launchd-throttle-zero": launchd("ai.gw.serve", GW, throttle=small(0)),
        "launchd-duplicate-key": launchd("ai.gw.serve", GW, mangled=mangle("Duplicate", 0)),
        "launchd-wrong-type": launchd("ai.gw.serve", GW, run_at_load=True, mangled=mangle("WrongType", 2)),
    }


SERVICE_DICT_HEADER = [
    "service_render: format-breaking strings (they land in `Piece::Raw` strings)",
    "and the u32 values that select each variant of Piece and Mangle",
    "(arbitrary's derive: variant = (x * n) >> 32), little-endian.",
]


def service_dict():
    out = [t for t in rust_tokens() if len(t.encode()) > 1 or not t.isalnum()]
    for names in (PIECE, MANGLE):  # both have four variants: the same four values
        out += [variant(names, n) for n in names if variant(names, n) not in out]
    return out


# ---------------------------------------------------------------- token_verify
#
# Raw seeds are token strings, made here from docs/token-format.md's key
# schedule and MAC chain with the doc's test-vector root secret (bytes
# 00..1f, the target's too), so a seed with a broken claim or caveat still
# carries a valid MAC and reaches the checks after it. Chain seeds are "!"
# and a `Chain` of fuzz_targets/token_verify.rs, encoded the way `arbitrary`
# decodes it; known scopes, audiences and peers are indexes into that file's
# SCOPES, AUDIENCES and PEERS lists (read from the Rust source).

TOKEN_ROOT = bytes(range(32))
TOKEN_NOW = 1_700_000_000
JTI_A = bytes(range(0xA0, 0xB0))
JTI_B = bytes(range(0xB0, 0xC0))


def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


K_TOKEN = hmac256(hmac256(b"gw-token/v2", TOKEN_ROOT), b"gw-token/v2/mac-key\x01")


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rstr(s):
    """A length-prefixed string of the records (bytes or str; the length
    byte wraps as a careless encoder's would)."""
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b) & 0xFF]) + b


def claims(scp, aud=None, nbf=TOKEN_NOW, ttl=3600, loc=False, jti=JTI_A, flags=None):
    """A claims record (docs/token-format.md): flags, nbf u64 BE, lifetime
    u32 BE, jti, scopes, audience. `flags` overrides the computed flags."""
    f = (1 if loc else 0) | (2 if aud is not None else 0)
    out = bytes([f if flags is None else flags])
    out += struct.pack(">Q", nbf) + struct.pack(">I", ttl & 0xFFFFFFFF) + jti
    out += bytes([len(scp) & 0xFF]) + b"".join(rstr(x) for x in scp)
    if aud is not None:
        out += rstr(aud)
    return out


def caveat(scp=None, aud=None, exp=None, loc=False, flags=None):
    """A caveat record: flags (scopes 1, audience 2, expiry 4, local 8),
    then the present fields."""
    f = (1 if scp is not None else 0) | (2 if aud is not None else 0) | (4 if exp is not None else 0)
    f |= 8 if loc else 0
    out = bytes([f if flags is None else flags])
    if scp is not None:
        out += bytes([len(scp) & 0xFF]) + b"".join(rstr(x) for x in scp)
    if aud is not None:
        out += rstr(aud)
    if exp is not None:
        out += struct.pack(">Q", exp & 0xFFFFFFFFFFFFFFFF)
    return out


def unb64u_lenient(text):
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) if len(text) % 4 != 1 else text.encode()


def signed(claims_part, caveat_parts=(), prefix="gw2"):
    """A token of these part texts (taken as they are) with the MAC chain
    over what a lenient decoder reads from them."""
    tag = hmac256(K_TOKEN, b"gw2.claims." + unb64u_lenient(claims_part))
    for p in caveat_parts:
        tag = hmac256(tag, b"gw2.caveat." + unb64u_lenient(p))
    return ".".join([prefix, claims_part, *caveat_parts, b64u(tag)])


def token(claims_rec, *caveat_recs):
    """A token of these records."""
    return signed(b64u(claims_rec), [b64u(c) for c in caveat_recs])


def odd_bits(part):
    """`part` with non-zero unused bits in its last character (the same bytes
    to a lenient decoder)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(part) % 4 in (2, 3)
    return part[:-1] + alphabet[alphabet.index(part[-1]) | 1]


AUD = "ws://127.0.0.1:18789"
CLAIMS_A = claims(["approvals.read", "gateway.connect"])
CAVEAT_1 = caveat(scp=["admin", "approvals.read"], exp=TOKEN_NOW + 600)
CAVEAT_2 = caveat(aud=AUD, loc=True)
CLAIMS_B = claims(["gateway.connect"], aud=AUD, ttl=300, loc=True, jti=JTI_B)


def doc_vectors():
    """token_a … token_b of docs/token-format.md, made here and checked
    against the doc (when it is there)."""
    a2 = token(CLAIMS_A, CAVEAT_1, CAVEAT_2)
    parts = a2.split(".")
    made = {
        "token_a": token(CLAIMS_A),
        "token_a1": token(CLAIMS_A, CAVEAT_1),
        "token_a2": a2,
        "token_a2_stripped": ".".join(parts[:3] + parts[4:]),
        "token_b": token(CLAIMS_B),
    }
    doc = os.path.join(HERE, "..", "docs", "token-format.md")
    if os.path.exists(doc):
        with open(doc, encoding="utf-8") as f:
            lines = dict(line.split(": ", 1) for line in f.read().splitlines() if line.startswith("token_"))
        for name, value in made.items():
            assert lines[name] == value, f"{name} differs from docs/token-format.md"
    return made


def long_token(total):
    """A token of exactly `total` bytes that verifies for scope "a" * 64 and
    audience "~" * 255: 16 scopes of 49 to 64 characters, and caveats that
    keep the longest scope, name the same audience or none, and set an
    expiry or not (so their lengths differ)."""
    scopes = ["a" * n for n in range(49, 65)]
    aud = "~" * 255
    base = b64u(claims(scopes, aud=aud))
    options = sorted({b64u(caveat(scp=[scopes[-1]][: k], aud=a, exp=e, loc=loc))
                      for a in (aud, None) for e in (None, 2**64 - 1) for loc in (False, True) for k in (0, 1)
                      if not (k == 0 and a is None and e is None and not loc)}, key=len)
    options = [o for o in options if o]
    fixed = len("gw2.") + len(base) + len(".") + 43
    for n in range(1, 17):
        for combo in itertools.combinations_with_replacement(options, n):
            if fixed + sum(len(c) + 1 for c in combo) == total:
                t = signed(base, list(combo))
                assert len(t) == total
                return t
    raise AssertionError(f"no token of {total} bytes")


class Case(tuple):
    """(claims record, caveat records): a seed whose parts carry a valid MAC."""


def case(claims_rec, *caveat_recs):
    return Case((claims_rec, caveat_recs))


def token_seeds():
    """Raw token seeds, and `#` (signed records) seeds: "#", then each
    record as one length byte and its bytes, for every case whose records
    are at most 255 bytes."""
    v = doc_vectors()
    a = v["token_a"]
    a_parts = a.split(".")
    c_a = b64u(CLAIMS_A)
    sixteen = [caveat(exp=TOKEN_NOW + 3600 - i) for i in range(16)]
    scp17 = sorted(f"s{i:02}" for i in range(17))
    out = {f"doc-{k.replace('_', '-')}": v[k] for k in v}
    out.update({
        "caveats-16": case(CLAIMS_A, *sixteen),
        "caveats-17": case(CLAIMS_A, *sixteen, caveat(loc=True)),
        "max-len-4096": long_token(4096),
        "over-len-4097": long_token(4097),
        "audience-conflict": case(CLAIMS_A, caveat(aud=AUD), caveat(aud="ws://127.0.0.1:1")),
        "audience-agree": case(CLAIMS_B, caveat(aud=AUD), caveat(aud=AUD, scp=["gateway.connect"])),
        "caveat-exp-before-nbf": case(CLAIMS_A, caveat(exp=TOKEN_NOW - 100)),
        "caveat-ungranted-scope": case(CLAIMS_A, caveat(scp=["admin"])),
        "caveat-exp-later": case(CLAIMS_A, caveat(exp=TOKEN_NOW + 10**6)),
        "local-any-audience": case(claims(["gateway.connect"], loc=True)),
        "lifetime-max": case(claims(["a"], ttl=366 * 24 * 3600)),
        "lifetime-zero": case(claims(["a"], ttl=0)),
        "quoted-audience": case(claims(["a"], aud='a"b\\c')),
        # Valid MACs over records that break a rule.
        "claims-trailing-byte": case(CLAIMS_A + b"\x00"),
        "claims-truncated": case(CLAIMS_A[:-1]),
        "claims-truncated-in-nbf": case(CLAIMS_A[:5]),
        "claims-flag-bit-2": case(claims(["a"], flags=0x04)),
        "claims-flag-bit-7": case(claims(["a"], flags=0x80)),
        "claims-aud-flag-no-aud": case(claims(["a"], flags=0x02)),
        "claims-aud-no-flag": case(claims(["a"], aud=AUD, flags=0x00)),
        "claims-lifetime-366d-plus-1": case(claims(["a"], ttl=366 * 24 * 3600 + 1)),
        "claims-lifetime-u32-max": case(claims(["a"], ttl=0xFFFFFFFF)),
        "claims-exp-overflow": case(claims(["a"], nbf=2**64 - 10, ttl=600)),
        "claims-jti-short": case(claims(["a"], jti=bytes(15))),
        "claims-scp-unsorted": case(claims(["b", "a"])),
        "claims-scp-duplicate": case(claims(["a", "a"])),
        "claims-scp-empty": case(claims([])),
        "claims-scp-17": case(claims(scp17)),
        "claims-scope-upper": case(claims(["Admin"])),
        "claims-scope-leading-dot": case(claims([".a"])),
        "claims-scope-empty": case(claims([""])),
        "claims-scope-65": case(claims(["a" * 65])),
        "claims-scope-len-past-end": case(claims(["a"])[:-1] + b"\x09" + b"a"),
        "claims-aud-space": case(claims(["a"], aud="a b")),
        "claims-aud-empty": case(claims(["a"], aud="")),
        "claims-aud-del": case(claims(["a"], aud="a\x7f")),
        "claims-aud-unicode": case(claims(["a"], aud="caf\u00e9")),
        "claims-empty": case(b""),
        "caveat-empty": case(CLAIMS_A, b""),
        "caveat-flags-zero": case(CLAIMS_A, b"\x00"),
        "caveat-flag-bit-4": case(CLAIMS_A, b"\x18"),
        "caveat-trailing-byte": case(CLAIMS_A, caveat(loc=True) + b"\x00"),
        "caveat-exp-truncated": case(CLAIMS_A, caveat(exp=TOKEN_NOW + 100)[:-1]),
        "caveat-scp-empty": case(CLAIMS_A, caveat(scp=[])),
        "caveat-scp-unsorted": case(CLAIMS_A, caveat(scp=["gateway.connect", "approvals.read"])),
        "caveat-aud-empty": case(CLAIMS_A, caveat(aud="")),
        "caveat-as-claims": case(CLAIMS_A, CLAIMS_A),
        # Base64 and form.
        "claims-odd-bits": signed(odd_bits(c_a) if len(c_a) % 4 else odd_bits(b64u(CLAIMS_B))),
        "claims-padded": signed(c_a + "=="),
        "claims-len-mod4-1": signed(c_a + "A" if len(c_a) % 4 == 0 else c_a[: len(c_a) - len(c_a) % 4 + 1]),
        "caveat-odd-bits": signed(c_a, [odd_bits(b64u(caveat(scp=["approvals.read"])))]),
        "part-empty": signed(c_a, [""]),
        "tag-odd-bits": a[:-1] + odd_bits(a_parts[-1])[-1],
        "tag-42": a[:-1],
        "tag-44": a + "A",
        "tag-flipped": a[:-1] + ("A" if a[-1] != "A" else "E"),
        "no-caveat-no-tag": "gw2." + c_a,
        "prefix-only": "gw2",
        "dots": "gw2..",
        "version-1": signed(c_a, prefix="gw1"),
        "version-3": signed(c_a, prefix="gw3"),
        "version-02": signed(c_a, prefix="gw02"),
        "version-long": "gw" + "9" * 40 + ".a.b",
        "version-upper": "GW2" + a[3:],
        "leading-space": " " + a,
        "trailing-newline": a + "\n",
        "standard-alphabet": a.replace("-", "+").replace("_", "/") + "+/",
        "non-utf8": a.encode()[:20] + b"\xff\xfe" + a.encode()[20:],
        "empty": "",
    })
    out.update({
        "signed-doc-a": case(CLAIMS_A),
        "signed-doc-a2": case(CLAIMS_A, CAVEAT_1, CAVEAT_2),
        "signed-doc-b": case(CLAIMS_B),
    })
    seeds = {}
    for name, t in out.items():
        if isinstance(t, Case):
            recs = [t[0], *t[1]]
            if not name.startswith("signed-"):
                seeds[name] = token(*recs).encode()
            if all(len(r) <= 255 for r in recs):
                framed = b"".join(bytes([len(r)]) + r for r in recs[:-1]) + bytes([len(recs[-1])]) + recs[-1]
                seeds[name if name.startswith("signed-") else "signed-" + name] = b"#" + framed
        else:
            seeds[name] = t.encode() if isinstance(t, str) else t
    return seeds


@functools.cache
def rust_strings(target, name):
    """The string literals of `const NAME: &[&str] = &[ … ];` in
    fuzz_targets/TARGET.rs, one per line, in order."""
    with open(os.path.join(HERE, "fuzz_targets", f"{target}.rs"), encoding="utf-8") as f:
        src = f.read()
    block = src.split(f"const {name}: &[&str] = &[\n", 1)[1].split("\n];", 1)[0]
    out = []
    for line in block.splitlines():
        line = line.strip().rstrip(",")
        assert line.startswith('"') and line.endswith('"'), line
        out.append(unescape_rust(line[1:-1]))
    return out


TEXT = ["Known", "Raw"]
TTL = ["Small", "Any"]
TIME = ["Rel", "Any"]
PEER = ["Unknown", "Known", "V4", "V6"]
EXTENSION = ["Caveat", "Record", "Part"]
MUTATION = [
    "FlipBit", "SetByte", "Insert", "Delete", "Truncate", "DropPart", "DupPart", "SwapParts", "ReplacePart",
    "Extend",
]


def scope(name):
    return variant(TEXT, "Known") + u8(rust_strings("token_verify", "SCOPES").index(name))


def audience(name):
    return variant(TEXT, "Known") + u8(rust_strings("token_verify", "AUDIENCES").index(name))


def rel(secs):
    """`Time::Rel`: NOW plus `secs`."""
    return variant(TIME, "Rel") + struct.pack("<i", secs)


def caveat_in(scp=None, sort=True, aud=None, exp=None, loc=None):
    return (
        option(None if scp is None else boolean(sort) + vec([scope(s) for s in scp]))
        + option(None if aud is None else audience(aud))
        + option(None if exp is None else rel(exp))
        + option(None if loc is None else boolean(loc))
    )


def verify_in(scp, aud=None, peer=None, at=60, skew=None):
    """peer: None (unknown) or a PEERS entry."""
    if peer is None:
        p = variant(PEER, "Unknown")
    else:
        p = variant(PEER, "Known") + u8(rust_strings("token_verify", "PEERS").index(peer))
    return (
        scope(scp)
        + option(None if aud is None else audience(aud))
        + p
        + rel(at)
        + option(None if skew is None else u16(skew))
    )


def mutation(kind, *args):
    out = variant(MUTATION, kind)
    if kind in ("FlipBit", "SetByte", "Insert", "Delete"):
        pos, x = args
        out += u16(pos) + u8(x)
    elif kind == "Truncate":
        out += u16(args[0])
    elif kind in ("DropPart", "DupPart"):
        out += u8(args[0])
    elif kind == "SwapParts":
        out += u8(args[0]) + u8(args[1])
    elif kind == "Extend":
        out += variant(EXTENSION, "Caveat") + args[0]
    else:
        raise ValueError(kind)
    return out


def chain(scopes, verify, aud=None, ttl=3600, local=False, caveats=(), mutations=(), ttl_any=False):
    return (
        b"!"
        + vec([scope(s) for s in scopes])
        + option(None if aud is None else audience(aud))
        + (variant(TTL, "Any") + u64(ttl) if ttl_any else variant(TTL, "Small") + u16(ttl))
        + boolean(local)
        + JTI_A
        + vec(caveats)
        + verify
        + vec(mutations)
    )


GATEWAY_SCOPES = ["gateway.connect", "approvals.read"]
CAVEATS_A2 = [caveat_in(scp=["admin", "approvals.read"], exp=600), caveat_in(aud=AUD, loc=True)]


def token_chain_seeds():
    ok = verify_in("approvals.read", aud=AUD, peer="127.0.0.1")
    return {
        "chain-doc-a2": chain(GATEWAY_SCOPES, ok, caveats=CAVEATS_A2),
        "chain-doc-b-remote": chain(["gateway.connect"], verify_in("gateway.connect", AUD, "192.168.1.10"), aud=AUD,
                                    ttl=300, local=True),
        "chain-flip-tag": chain(GATEWAY_SCOPES, ok, caveats=CAVEATS_A2, mutations=[mutation("FlipBit", 700, 0)]),
        "chain-flip-claims": chain(GATEWAY_SCOPES, ok, caveats=CAVEATS_A2, mutations=[mutation("FlipBit", 10, 2)]),
        "chain-drop-caveat": chain(GATEWAY_SCOPES, ok, caveats=CAVEATS_A2, mutations=[mutation("DropPart", 3)]),
        "chain-swap-caveats": chain(GATEWAY_SCOPES, ok, caveats=CAVEATS_A2, mutations=[mutation("SwapParts", 2, 3)]),
        "chain-dup-caveat": chain(GATEWAY_SCOPES, ok, caveats=CAVEATS_A2, mutations=[mutation("DupPart", 2)]),
        "chain-extend-valid": chain(
            GATEWAY_SCOPES, ok, caveats=CAVEATS_A2,
            mutations=[mutation("Extend", caveat_in(scp=["approvals.read"], exp=120))],
        ),
        "chain-extend-lift-locality": chain(
            GATEWAY_SCOPES, verify_in("approvals.read", aud=AUD, peer="10.0.0.1"), caveats=CAVEATS_A2,
            mutations=[mutation("Extend", caveat_in(loc=False)), mutation("Extend", caveat_in(exp=100, loc=False))],
        ),
        "chain-extend-widen-scope": chain(
            ["approvals.read"], verify_in("admin"),
            mutations=[mutation("Extend", caveat_in(scp=["admin", "approvals.read"]))],
        ),
        "chain-extend-unsorted": chain(
            GATEWAY_SCOPES, verify_in("approvals.read"),
            mutations=[mutation("Extend", caveat_in(scp=["gateway.connect", "approvals.read"], sort=False))],
        ),
        "chain-drop-then-extend": chain(
            GATEWAY_SCOPES, verify_in("gateway.connect"), caveats=[caveat_in(scp=["approvals.read"])],
            mutations=[mutation("DropPart", 2), mutation("Extend", caveat_in(exp=100))],
        ),
        "chain-truncate-delete-insert": chain(
            GATEWAY_SCOPES, verify_in("gateway.connect"), caveats=CAVEATS_A2,
            mutations=[mutation("Truncate", 200), mutation("Delete", 50, 3), mutation("Insert", 4, ord("."))],
        ),
        "chain-audience-conflict": chain(
            GATEWAY_SCOPES, verify_in("gateway.connect", aud=AUD),
            caveats=[caveat_in(aud=AUD), caveat_in(aud="ws://127.0.0.1:1")],
        ),
        "chain-caveats-17": chain(
            GATEWAY_SCOPES, verify_in("gateway.connect"), caveats=[caveat_in(exp=3600 - i) for i in range(17)],
        ),
        "chain-long-scopes": chain(
            rust_strings("token_verify", "SCOPES"), verify_in("a"),
            caveats=[caveat_in(scp=rust_strings("token_verify", "SCOPES"))] * 6,
        ),
        "chain-expiry-edge": chain(GATEWAY_SCOPES, verify_in("gateway.connect", at=3630), ttl=3600),
        "chain-expired": chain(GATEWAY_SCOPES, verify_in("gateway.connect", at=3631), ttl=3600),
        "chain-not-yet-valid": chain(GATEWAY_SCOPES, verify_in("gateway.connect", at=-31)),
        "chain-skew-zero": chain(GATEWAY_SCOPES, verify_in("gateway.connect", at=-1, skew=0)),
        "chain-local-mapped": chain(["a"], verify_in("a", peer="::ffff:127.0.0.1"), local=True),
        "chain-local-compatible": chain(["a"], verify_in("a", peer="::127.0.0.1"), local=True),
        "chain-local-unknown-peer": chain(["a"], verify_in("a"), local=True),
        "chain-ttl-zero": chain(["a"], verify_in("a"), ttl=0),
        "chain-ttl-over-a-year": chain(["a"], verify_in("a"), ttl=366 * 24 * 3600 + 1, ttl_any=True),
        "chain-no-scopes": chain([], verify_in("a")),
    }


TOKEN_DICT_HEADER = [
    "token_verify: token syntax, base64url openings of claims and caveat",
    "records (their flag bytes), record bytes (flags, lengths, times, scope",
    "names, the audience) for signed-record inputs and chain extensions, the",
    "chain marker, and the u32 values that select each Mutation variant",
    "(arbitrary's derive: variant = (x * n) >> 32), little-endian.",
]


def token_dict():
    out = ["gw2.", "gw1.", "gw3.", "gw2", ".", "..", "-", "_", "A", "Q", "g", "w", "AA", "AAAA", "=", "==", "+",
           "/", "!", "#"]
    # base64url of record openings (aligned: each starts a part): claims
    # flags and the start of nbf, caveat flags.
    for opening in [b"\x00\x00\x00", b"\x01\x00\x00", b"\x02\x00\x00", b"\x03\x00\x00", b"\x01\x01", b"\x02\x14",
                    b"\x04\x00", b"\x08", b"\x05\x01"]:
        out.append(b64u(opening)[: len(opening) * 4 // 3])
    out += [b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x08", b"\x0f", b"\x10", b"\x80", b"\xff",
            struct.pack(">Q", TOKEN_NOW), struct.pack(">I", 3600), struct.pack(">I", 366 * 24 * 3600),
            b"\xff" * 4, b"\xff" * 8, rstr("gateway.connect"), rstr("approvals.read"), rstr("admin"), rstr(AUD)]
    out += [variant(MUTATION, m) for m in MUTATION]
    return out


# ---------------------------------------------------------------- gateway_url

GATEWAY_URL = {
    "loopback-name": b"ws://localhost:18789",
    "loopback-name-fqdn": b"WS://LOCALHOST.:18789/",
    "loopback-name-two-dots": b"ws://localhost..:18789",
    "loopback-ipv4": b"ws://127.0.0.1:18789",
    "loopback-ipv4-net": b"wss://127.3.2.1",
    "loopback-ipv4-short": b"http://127.1:8080",
    "loopback-ipv4-hex-octal": b"ws://0x7f.0.0.01:1",
    "loopback-ipv4-integer": b"ws://2130706433:1",
    "loopback-ipv4-dot": b"ws://127.0.0.1.:1",
    "loopback-ipv4-two-dots": b"ws://127.0.0.1..:1",
    "loopback-hex-two-dots": b"ws://0x7f.1..:1",
    "loopback-ipv6": b"ws://[::1]:18789",
    "loopback-ipv6-long": b"ws://[0:0:0:0:0:0:0:1]:18789",
    "loopback-mapped": b"ws://[::ffff:127.0.0.1]:18789",
    "loopback-mapped-hex": b"ws://[::ffff:7f00:1]:18789",
    "loopback-percent-encoded": b"ws://local%68ost:1",
    "loopback-fullwidth": "ws://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:1".encode(),
    "not-loopback-compatible": b"ws://[::127.0.0.1]:1",
    "not-loopback-mapped-private": b"ws://[::ffff:10.0.0.1]:1",
    "not-loopback-any": b"ws://0.0.0.0:1",
    "not-loopback-suffix": b"ws://localhost.example:1",
    "not-loopback-nip": b"ws://127.0.0.1.nip.io:1",
    "not-loopback-label": b"ws://localhost-1:1",
    "domain": b"https://Gateway.Example.COM",
    "domain-fqdn": b"https://gateway.example.com.:443/",
    "domain-two-dots": b"https://a.1..:1",
    "domain-idna": "wss://b\u00fccher.example".encode(),
    "domain-punycode": b"wss://xn--bcher-kva.example",
    "ipv6": b"http://[2001:DB8::1]:8443",
    "default-ports": b"http://a:80",
    "port-zero": b"ws://a:0",
    "port-max": b"ws://a:65535",
    "port-overflow": b"ws://a:65536",
    "port-leading-zeros": b"ws://a:00018789",
    "userinfo": b"ws://user:hunter2-password@127.0.0.1:1",
    "userinfo-empty": b"ws://@127.0.0.1:1",
    "userinfo-colon": b"ws://:@127.0.0.1:1",
    "at-in-path": b"ws://user:hunter2-password@h/a@b",
    "at-in-bad-url": b"hunter2-password@",
    "at-backslash": b"ws://user:hunter2-password@h\\@x",
    "path": b"ws://127.0.0.1:1/path",
    "dot-path": b"ws://127.0.0.1:1/./",
    "query": b"ws://127.0.0.1:1?",
    "fragment": b"ws://127.0.0.1:1#",
    "scheme-ftp": b"ftp://127.0.0.1",
    "scheme-file": b"file:///etc/passwd",
    "scheme-missing": b"127.0.0.1:18789",
    "no-host": b"ws://:1",
    "dot-host": b"ws://.:1",
    "whitespace": b" \tws://loc\nalhost:1 \r\n",
    "backslashes": b"ws:\\\\127.0.0.1\\",
    "invalid-ipv6": b"ws://[::1:1",
    "invalid-utf8": b"ws://\xff\xfe:1",
    "long": b"ws://" + b"a" * 2040 + b":80",
    "long-key-over-limit": b"ws://" + b"a" * 2043,
    "too-long": b"ws://" + b"a" * 2044,
}

GATEWAY_URL_DICT_HEADER = [
    "gateway_url: schemes, loopback spellings (names, IPv4 number forms,",
    "IPv6, mapped), user info, ports, and URL delimiters.",
]
GATEWAY_URL_DICT = [
    "ws://", "wss://", "http://", "https://", "WS://", "ftp://", "://", "localhost", "LOCALHOST", "localhost.",
    "127.0.0.1", "127.1", "127.", "0x7f", "0177", "2130706433", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]", "[::127.0.0.1]", "::", "ffff", "[", "]", ":", "@", "user:pass@", ":@", "/", "\\", "?",
    "#", "%", "%2e", "%40", "%00", ".", "..", "xn--", ".nip.io", ":18789", ":443", ":80", ":0", ":65535",
    ":65536", " ", "\t", "\n", b"\xef\xbc\x8e",
]

# ---------------------------------------------------------------- hello_ok


def hello(tokens, extra=None, auth_extra=None, typ="hello-ok"):
    """A hello-ok message: tokens is [(role, token)] or raw entries."""
    auth = {"deviceTokens": [{"role": r, "token": t} if isinstance(r, str) else r for r, t in tokens]}
    auth.update(auth_extra or {})
    msg = {"type": typ, "auth": auth}
    msg.update(extra or {})
    return json.dumps(msg).encode()


TOK = "dT0k-0123456789abcdefABCDEF_xyz"


def hello_seeds():
    many = [(f"role-{i}", f"{TOK}.{i}") for i in range(200)]
    deep32 = {"type": "hello-ok", "auth": {"deviceTokens": [{"role": "operator", "token": TOK}]}}
    deep32["x"] = functools.reduce(lambda v, _: [v], range(31), 0)  # 31 arrays in the top object
    return {
        "one": hello([("operator", TOK)]),
        "roles": hello([("operator", TOK + "1"), ("node", TOK + "2"), ("a.b_c-9", "!#$%&*+<=>?@^|~")]),
        "extra-fields": hello([("operator", TOK)], extra={"protocol": 3, "server": {"v": "1"}},
                              auth_extra={"role": "x", "scopes": ["a"]}),
        "compact": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":"node","token":"t!k"}]}}',
        "duplicate-role": hello([("operator", TOK + "1"), ("operator", TOK + "2")]),
        "duplicate-key-type": b'{"type":"hello-ok","type":"hello-ok",'
        b'"auth":{"deviceTokens":[{"role":"a","token":"t#1"}]}}',
        "duplicate-key-token": b'{"type":"hello-ok",'
        b'"auth":{"deviceTokens":[{"role":"a","token":"t#1","token":"t#2"}]}}',
        "duplicate-key-device-tokens": b'{"type":"hello-ok",'
        b'"auth":{"deviceTokens":[],"deviceTokens":[{"role":"a","token":"t#1"}]}}',
        # gw-persist names a duplicated key: here one that equals a token.
        "duplicate-key-is-token": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":"a","token":"s3cr#t"}]},'
        b'"s3cr#t":1,"s3cr#t":2}',
        "escaped-token": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":"a","token":"\\u0041\\"\\\\\\/#"}]}}',
        "escaped-key": b'{"\\u0074ype":"hello-ok","auth":{"deviceTokens":[{"role":"a","token":"t#1"}]}}',
        "token-newline": hello([("operator", "t#1\nx")]),
        "token-space": hello([("operator", "t#1 x")]),
        "token-empty": hello([("operator", "")]),
        "token-unicode": hello([("operator", "t#\u00e9")]),
        "token-4096": hello([("operator", "#" * 4096)]),
        "token-4097": hello([("operator", "#" * 4097)]),
        "token-number": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":"a","token":12345}]}}',
        "token-missing": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":"a"}]}}',
        "role-upper": hello([("Operator", "t#1")]),
        "role-65": hello([("a" * 65, "t#1")]),
        "role-dot-first": hello([(".a", "t#1")]),
        "role-empty": hello([("", "t#1")]),
        "role-null": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":null,"token":"t#1"}]}}',
        "role-is-token": hello([("s3cr#t-t0ken", "operator")]),
        "second-entry-bad": hello([("operator", "t#1"), ("node", "t #2")]),
        "entry-not-object": b'{"type":"hello-ok","auth":{"deviceTokens":[["operator","t#1"]]}}',
        "device-tokens-empty": hello([]),
        "device-tokens-object": b'{"type":"hello-ok","auth":{"deviceTokens":{"role":"a","token":"t#1"}}}',
        "auth-array": b'{"type":"hello-ok","auth":[{"deviceTokens":[{"role":"a","token":"t#1"}]}]}',
        "no-auth": b'{"type":"hello-ok"}',
        "type-wrong": hello([("operator", "t#1")], typ="hello-error"),
        "type-missing": b'{"auth":{"deviceTokens":[{"role":"a","token":"t#1"}]}}',
        "type-not-string": b'{"type":["hello-ok"],"auth":{"deviceTokens":[{"role":"a","token":"t#1"}]}}',
        "top-array": b'[{"type":"hello-ok"}]',
        "nested-32": json.dumps(deep32).encode(),
        "nested-33": json.dumps({**deep32, "x": [deep32["x"]]}).encode(),
        "many-roles": hello(many),
        "huge-over-limit": hello([("operator", TOK)]) + b" " * (256 * 1024),
        "bom": b"\xef\xbb\xbf" + hello([("operator", "t#1")]),
        "trailing-garbage": hello([("operator", "t#1")]) + b"x",
        "invalid-utf8": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":"a","token":"t#\xff"}]}}',
        "syntax-error-after-token": b'{"type":"hello-ok","auth":{"deviceTokens":[{"role":"a","token":"t#1"}]},]',
    }


HELLO_DICT_HEADER = [
    "hello_ok: the message's keys and values, JSON syntax and escapes, and",
    "characters a role or a token may not hold.",
]
HELLO_DICT = [
    '"type"', '"hello-ok"', '"auth"', '"deviceTokens"', '"role"', '"token"', '"operator"', '"node"',
    '{"role":"a","token":"t#1"}', "{", "}", "[", "]", ":", ",", '""', "{}", "[]", "null", "true", "0",
    "\\u0000", "\\u0041", "\\u00e9", '\\"', "\\\\", "\\n", " ", "#", "!", "~", b"\x7f", b"\xc3\xa9",
    b"\xef\xbb\xbf",
]


def dict_entry(tok):
    """One libFuzzer dictionary line: printable ASCII as is (`\\` and `"`
    escaped), every other byte as \\xNN."""
    data = tok.encode() if isinstance(tok, str) else tok
    body = "".join(
        "\\" + chr(b) if b in (0x5C, 0x22) else chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in data
    )
    return f'"{body}"'


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

    for target, seeds in [
        ("json_load", JSON_LOAD),
        ("plist_load", plist_seeds()),
        ("service_render", service_seeds()),
        ("token_verify", {**token_seeds(), **token_chain_seeds()}),
        ("gateway_url", GATEWAY_URL),
        ("hello_ok", hello_seeds()),
    ]:
        for name, data in seeds.items():
            write(os.path.join(HERE, "seeds", target), name, data)
    for target, header, tokens in [
        ("json_load", JSON_DICT_HEADER, JSON_DICT),
        ("plist_load", PLIST_DICT_HEADER, PLIST_DICT),
        ("service_render", SERVICE_DICT_HEADER, service_dict()),
        ("token_verify", TOKEN_DICT_HEADER, token_dict()),
        ("gateway_url", GATEWAY_URL_DICT_HEADER, GATEWAY_URL_DICT),
        ("hello_ok", HELLO_DICT_HEADER, HELLO_DICT),
    ]:
        lines = [f"# {line}" for line in header] + [dict_entry(t) for t in tokens]
        write(os.path.join(HERE, "dicts"), f"{target}.dict", ("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    main()
