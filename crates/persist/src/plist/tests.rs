//! The plist reader and writer, unit by unit.

use super::*;
use serde_json::json;

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n";

fn doc(body: &str) -> Vec<u8> {
    format!("{HEAD}{body}\n</plist>\n").into_bytes()
}

#[test]
fn round_trips_through_xml() {
    let v = json!({"Label": "ai.gw.serve", "ProgramArguments": ["/usr/bin/gw", "serve"], "RunAtLoad": true, "ThrottleInterval": 10, "Ratio": 0.5});
    let bytes = to_plist_bytes(&v).unwrap();
    assert_eq!(parse_plist(&bytes, &Limits::default()).unwrap(), v);
}

#[test]
fn refuses_duplicate_keys_and_unsupported_values() {
    let dup = doc("<dict><key>a</key><string>1</string><key>a</key><string>2</string></dict>");
    assert_eq!(parse_plist(&dup, &Limits::default()).unwrap_err().kind(), ErrorKind::DuplicateKey);
    let data = doc("<dict><key>a</key><data>AAAA</data></dict>");
    assert_eq!(parse_plist(&data, &Limits::default()).unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(to_plist_bytes(&json!({"a": null})).unwrap_err().kind(), ErrorKind::Unsupported);
}

#[test]
fn refuses_xml_that_readers_disagree_on() {
    let kind = |body: &str| parse_plist(&doc(body), &Limits::default()).unwrap_err().kind();
    // The plist crate's reader would drop the CDATA key: one `a` to gw,
    // two to plutil and plistlib.
    let cdata_dup = "<dict><key>a</key><string>1</string><key><![CDATA[a]]></key><string>2</string></dict>";
    assert_eq!(kind(cdata_dup), ErrorKind::Syntax);
    assert_eq!(kind("<string><![CDATA[<x>]]></string>"), ErrorKind::Syntax);
    assert_eq!(kind("<string>a&x;b</string>"), ErrorKind::Syntax);
    assert_eq!(kind("<string>a]]>b</string>"), ErrorKind::Syntax);
    assert_eq!(kind("<array><x:string xmlns:x=\"u\">a</x:string></array>"), ErrorKind::Syntax);
    // Namespace attributes: a namespace-aware reader refuses an
    // undeclared prefix, the XML namespace bound as the default, two
    // prefixes naming one attribute; plistlib reads all three.
    for attrs in [
        "a:b=\"2\"",
        "xmlns=\"http://www.w3.org/XML/1998/namespace\"",
        "xmlns:a=\"u\" xmlns:b=\"u\" a:x=\"1\" b:x=\"2\"",
    ] {
        let e = parse_plist(format!("<plist version=\"1.0\" {attrs}><true/></plist>").as_bytes(), &Limits::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax, "{attrs}: {e}");
        assert!(e.to_string().contains("namespace declaration or namespace-prefixed attribute"), "{e}");
        assert_eq!(e.position(), Some((1, 1)), "{e}");
        assert!(e.fix().is_some_and(|f| f.contains("plutil -convert xml1")), "{e}");
    }
    assert_eq!(kind("<array><true xmlns=\"u\"/></array>"), ErrorKind::Syntax);
    let subset = b"<?xml version=\"1.0\"?>\n<!DOCTYPE plist [<!ENTITY x \"y\">]>\n<plist><string>x</string></plist>";
    assert_eq!(parse_plist(subset, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><plist><string>x</string></plist>";
    assert_eq!(parse_plist(latin1, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
    let late = b"<plist><string>x</string><?xml version=\"1.0\"?></plist>";
    assert_eq!(parse_plist(late, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
    // What stays accepted: comments, processing instructions, the five
    // entities and character references, CRLF line ends.
    let ok = doc("<string>&amp;&lt;&gt;&quot;&apos;&#233;&#xE9;<!-- & <![CDATA[ -->x<?pi & ?></string>");
    assert_eq!(parse_plist(&ok, &Limits::default()).unwrap(), json!("&<>\"'ééx"));
}

/// Each refusal says what it refused and where (line and column of the
/// construct), not only that the document is bad: a refusal that is
/// right for the wrong reason is a check that no longer runs.
#[test]
fn each_xml_refusal_names_what_and_where() {
    let cases: &[(&[u8], &str, (usize, usize))] = &[
        (b"<plist><!-- a -- b --><true/></plist>", "`--` inside a comment", (1, 15)),
        (b"<plist><string><![CDATA[x]]></string></plist>", "a CDATA section is refused", (1, 16)),
        (b"<plist><string>a]]>b</string></plist>", "`]]>` in text", (1, 17)),
        (b"<!DOCTYPE plist [<!ENTITY x \"y\">]>\n<plist><true/></plist>", "a DOCTYPE with an internal subset", (1, 1)),
        (b"<!DOCTYPE plist <x>\n<plist><true/></plist>", "a DOCTYPE with `<` or an unbalanced quote", (1, 1)),
        (b"<!DOCTYPE plist SYSTEM \"a>b\"><plist><true/></plist>", "a DOCTYPE with `<` or an unbalanced quote", (1, 1)),
        (b"<plist>\n<x:true/></plist>", "a namespace-prefixed element", (2, 1)),
        (b"<plist>\n</x:plist>", "a namespace-prefixed element", (2, 1)),
        (b"<plist\n<true/></plist>", "a tag with `<` or an unbalanced quote", (1, 1)),
        (b"<plist version=\"1>\"><true/></plist>", "a tag with `<` or an unbalanced quote", (1, 1)),
        (b"<plist version='1\"><true/></plist>", "a tag with `<` or an unbalanced quote", (1, 1)),
        (b"<key>a</key>", "a <key> outside a dictionary", (1, 1)),
        (b"<plist>\n<integer>-</integer></plist>", "the integer \"-\"", (2, 11)),
        (b"<plist>\n<integer/></plist>", "the integer \"\"", (2, 1)),
        (b"<plist><string>&#+65;</string></plist>", "an entity reference other than", (1, 16)),
        (b"<plist><string>&#x+41;</string></plist>", "an entity reference other than", (1, 16)),
        (b"<?xml version=\"1.1\"?><plist><true/></plist>", "an XML version other than 1.0", (1, 1)),
        (b"<?xml version=\"1.0\" standalone=\"maybe\"?><plist/>", "a standalone other than yes or no", (1, 1)),
    ];
    for &(bytes, what, at) in cases {
        let e = parse_plist(bytes, &Limits::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax, "{}: {e}", String::from_utf8_lossy(bytes));
        assert!(e.to_string().contains(what), "{}: wanted `{what}` in: {e}", String::from_utf8_lossy(bytes));
        assert_eq!(e.position(), Some(at), "{}: {e}", String::from_utf8_lossy(bytes));
    }
    // What looks close but is allowed: `]` and `]]` without `>`, an
    // attribute holding references, a DOCTYPE with single quotes.
    let ok: &[&[u8]] = &[
        b"<plist><string>a]b]]c]></string></plist>",
        b"<plist version=\"a&amp;b&#65;\"><true/></plist>",
        b"<!DOCTYPE plist PUBLIC '-//Apple//DTD PLIST 1.0//EN' 'x'><plist><true/></plist>",
    ];
    for bytes in ok {
        parse_plist(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(bytes)));
    }
}

#[test]
fn carriage_returns_read_and_write_as_xml_readers_do() {
    let crlf = doc("<array>\r\n<string>a\r\nb\rc&#13;</string>\r\n</array>");
    assert_eq!(parse_plist(&crlf, &Limits::default()).unwrap(), json!(["a\nb\nc\r"]));
    let v = json!({"k\r": "a\r\nb\r"});
    let bytes = to_plist_bytes(&v).unwrap();
    assert!(!bytes.contains(&b'\r'), "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(parse_plist(&bytes, &Limits::default()).unwrap(), v);
}

#[test]
fn refuses_depth_and_garbage() {
    let deep = doc(&format!("{}{}", "<array>".repeat(9), "</array>".repeat(9)));
    assert_eq!(parse_plist(&deep, &Limits::new(1 << 20, 8)).unwrap_err().kind(), ErrorKind::TooDeep);
    assert_eq!(parse_plist(b"not a plist", &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(doc("<dict/>"));
    assert_eq!(parse_plist(&bom, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
}

/// A binary plist (`bplist00`) from its objects, the first at the top
/// (2-byte offsets, 1-byte references).
fn bplist(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for o in objects {
        offsets.extend_from_slice(&u16::try_from(out.len()).unwrap().to_be_bytes());
        out.extend_from_slice(o);
    }
    let table = out.len() as u64;
    out.extend_from_slice(&offsets);
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 2, 1]);
    out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&table.to_be_bytes());
    out
}

/// A "billion laughs": `depth` arrays, each referencing the next one
/// `width` times (at most 14), then `leaf`: (width^(depth+1) - 1) /
/// (width - 1) values from a file of a few dozen bytes.
fn laughs(depth: u8, width: u8, leaf: &[u8]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> =
        (0..depth).map(|i| [vec![0xA0 | width], vec![i + 1; width.into()]].concat()).collect();
    objects.push(leaf.to_vec());
    bplist(&objects)
}

#[track_caller]
fn refused(bytes: &[u8], limits: &Limits, kind: ErrorKind, needle: &str) -> Error {
    let e = parse_plist(bytes, limits).expect_err(&format!("accepted {:?}", String::from_utf8_lossy(bytes)));
    assert_eq!(e.kind(), kind, "{e}: {:?}", String::from_utf8_lossy(bytes));
    assert!(e.to_string().contains(needle), "expected {needle:?} in: {e}");
    e
}

/// THREATS DOC-1: the plist grammar. The plist crate's event stream
/// reads `<key>` as a string wherever it stands and a leaf's child
/// elements as the next values; plistlib refuses all of these (or, for
/// an element inside `<true>`, reads another order).
#[test]
fn doc_1_keys_and_values_only_where_the_grammar_puts_them() {
    let limits = Limits::default();
    for (body, needle, col) in [
        ("<dict><key>a</key><key>b</key></dict>", "a <key> where the previous key's value belongs", 19),
        ("<array><key>a</key></array>", "a <key> in an array", 8),
        ("<key>a</key>", "a <key> outside a dictionary", 1),
        ("<dict><string>a</string><string>b</string></dict>", "a <string> where a dictionary <key> belongs", 7),
        ("<dict><dict/><true/></dict>", "a <dict> where a dictionary <key> belongs", 7),
        ("<dict><key>a</key><true/><true/></dict>", "a <true> where a dictionary <key> belongs", 26),
        ("<array><true><false/></true></array>", "an element <false> inside <true>", 14),
        ("<string>a<b/>c</string>", "an element <b>, which property lists do not have", 10),
        ("<key>a<string>b</string></key>", "a <key> outside a dictionary", 1),
        ("<array><plist><true/></plist></array>", "a <plist> inside the document", 8),
        ("<true/><key>a</key>", "a <key> outside a dictionary", 8),
        ("<true/><false/>", "a second value in <plist>", 8),
    ] {
        let e = refused(&doc(body), &limits, ErrorKind::Syntax, needle);
        assert_eq!(e.position(), Some((4, col)), "{body}: {e}");
        assert!(e.to_string().contains("plistlib refuse"), "{e}");
    }
    // What the grammar allows.
    let ok = doc("<dict><key>a</key><array><true/><string/></array><key></key><dict/></dict>");
    assert_eq!(parse_plist(&ok, &limits).unwrap(), json!({"a": [true, ""], "": {}}));
}

/// THREATS DOC-1: XML that is not well-formed, which expat (plistlib)
/// refuses and the plist crate's reader read as a value.
#[test]
fn doc_1_xml_that_is_not_well_formed_is_refused() {
    let limits = Limits::default();
    let head = HEAD.as_bytes();
    let cases: [(&[u8], &str); 24] = [
        (&[head, b"<dict/>\n"].concat(), "<plist> never closed (the document ends before </plist>)"),
        (b"<plist><true>", "<true> never closed"),
        (b"<plist><array><true/></plist>", "</plist> where </array> belongs"),
        (b"<plist><true/></plist><plist/>", "a second top-level element <plist>"),
        (b"<plist><true/></plist>\xc2\xa0", "text outside the top-level element"),
        (b"&#32;<plist><true/></plist>", "text outside the top-level element"),
        (b"<plist version=\"1\" version=\"2\"><true/></plist>", "a duplicate attribute"),
        (b"<plist version><true/></plist>", "an attribute without a value"),
        (b"<plist version=1><true/></plist>", "an unquoted attribute value"),
        (b"<plist version=\"&x;\"><true/></plist>", "an attribute value with an unknown reference"),
        (b"<plist version=\"&#1;\"><true/></plist>", "an attribute value with an unknown reference"),
        (b"<plist a=\"1\"b=\"2\"><true/></plist>", "attributes not separated by whitespace"),
        (b"<plist><!-- a -- b --><true/></plist>", "`--` inside a comment"),
        (b"<plist><!-- a ---><true/></plist>", "`--` inside a comment"),
        (b"<plist><!-- \x01 --><true/></plist>", "the character '\\u{1}', which XML cannot hold"),
        (b"<plist><? a?><true/></plist>", "a processing instruction without a target name"),
        (b"<plist><true/><!DOCTYPE plist></plist>", "a DOCTYPE after the document element"),
        (b"<!DOCTYPE plist><!DOCTYPE plist><plist><true/></plist>", "or a second one"),
        (b"<!doctype plist><plist><true/></plist>", "a markup declaration outside a DOCTYPE"),
        (b"<!DOCTYPE plist PUBLIC \"x\"><plist><true/></plist>", "a DOCTYPE other than a name"),
        (b"<?xml version=\"1.0\" foo=\"bar\"?><plist><true/></plist>", "version, then encoding and standalone"),
        (b"<?xml encoding=\"UTF-8\"?><plist><true/></plist>", "version, then encoding and standalone"),
        (b"<plist><integer>0x0x10</integer></plist>", "the integer \"0x0x10\""),
        (b"<plist><integer>0x+10</integer></plist>", "the integer \"0x+10\""),
    ];
    for (bytes, needle) in cases {
        let e = refused(bytes, &limits, ErrorKind::Syntax, needle);
        assert!(e.position().is_some(), "{e}");
    }
    // Controls: what XML allows stays accepted.
    for (bytes, value) in [
        (&b"<?xml version = '1.0' encoding='utf-8' standalone='no' ?>\n<!DOCTYPE plist SYSTEM \"x.dtd\">\n<plist a=\"&amp;&#65;\" b='\"'>\n<true/>\n</plist>\n"[..], json!(true)),
        (b"<?xml-stylesheet href=\"x\"?><!-- c --> <array><integer>+5</integer><integer>0xFF</integer></array> <?pi?>\n", json!([5, 255])),
        (b"<plist><dict><key>a<!-- c -->b</key><string>x<?pi y?>z</string></dict></plist>", json!({"ab": "xz"})),
        (&doc("<string>\u{a0}</string>"), json!("\u{a0}")),
    ] {
        assert_eq!(parse_plist(bytes, &limits).unwrap(), value, "{:?}", String::from_utf8_lossy(bytes));
    }
}

/// THREATS DOC-1: the well-formedness checks stay linear: a tag with
/// 100,000 attributes (and a duplicate at the end) is read in moments.
#[test]
fn doc_1_many_attributes_are_checked_in_linear_time() {
    let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"\"")).collect();
    let ok = format!("<plist{attrs}><true/></plist>");
    let start = std::time::Instant::now();
    assert_eq!(parse_plist(ok.as_bytes(), &Limits::new(1 << 21, 8)).unwrap(), json!(true));
    let dup = format!("<plist{attrs} a7=\"\"><true/></plist>");
    refused(dup.as_bytes(), &Limits::new(1 << 21, 8), ErrorKind::Syntax, "a duplicate attribute");
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "{:?}", start.elapsed());
}

/// THREATS DOC-1: an ASCII string object in a binary plist holding a
/// byte above 0x7F (here the UTF-8 of "é", which the plist crate reads as
/// "é" and plistlib refuses), even in an object the top does not reach.
#[test]
fn doc_1_binary_ascii_string_must_be_ascii() {
    let limits = Limits::default();
    refused(&bplist(&[b"\x52\xc3\xa9".to_vec()]), &limits, ErrorKind::Syntax, "holds the byte 0xc3");
    let long = [&b"\x5f\x10\x12"[..], &[b'a'; 17], b"\xff"].concat();
    refused(&bplist(&[long]), &limits, ErrorKind::Syntax, "holds the byte 0xff");
    refused(&bplist(&[b"\x09".to_vec(), b"\x51\x80".to_vec()]), &limits, ErrorKind::Syntax, "at byte 9");
    // UTF-16 strings carry any text; ASCII ones ASCII.
    let ok = bplist(&[b"\xa2\x01\x02".to_vec(), b"\x52ab".to_vec(), b"\x61\x00\xe9".to_vec()]);
    assert_eq!(parse_plist(&ok, &limits).unwrap(), json!(["ab", "é"]));
}

/// THREATS DOC-2: shared references expand no further than a document
/// of the size limit can hold — at most one value per three bytes of the
/// limit and one and a half bytes of text per byte — whatever the
/// nesting.
#[test]
fn doc_2_shared_references_are_bounded_by_the_size_limit() {
    // 2^41 - 1 values from 243 bytes: refused once past the budget.
    let bomb = laughs(40, 2, b"\x09");
    assert_eq!(bomb.len(), 243);
    let start = std::time::Instant::now();
    let e = refused(&bomb, &Limits::default(), ErrorKind::TooLarge, "more than 349525 values and keys");
    assert!(e.to_string().contains("size limit (1048576 bytes)"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
    // Exactly at the budget: 1 + 8 + 64 + 512 + 4096 = 4681 values,
    // allowed by a limit of 3 × 4681 bytes, not by one byte less.
    let wide = laughs(4, 8, b"\x09");
    assert_eq!(parse_plist(&wide, &Limits::new(14_043, 64)).unwrap()[7][7][7].as_array().unwrap().len(), 8);
    refused(&wide, &Limits::new(14_042, 64), ErrorKind::TooLarge, "more than 4680 values and keys");
    // Under the first budget (one value per byte), past this one: 2^20 - 1
    // values from 138 bytes, refused.
    let million = laughs(19, 2, b"\x09");
    assert_eq!(million.len(), 138);
    refused(&million, &Limits::default(), ErrorKind::TooLarge, "more than 349525 values and keys");
    // Text: one 100-byte string in 14 × 14 places is 19,600 bytes; a
    // limit of 13,067 bytes allows 19,600, one byte less allows 19,599.
    let text = laughs(2, 14, &[&b"\x5f\x10\x64"[..], &[b'x'; 100]].concat());
    assert_eq!(parse_plist(&text, &Limits::new(13_067, 64)).unwrap()[13][13].as_str().unwrap().len(), 100);
    refused(&text, &Limits::new(13_066, 64), ErrorKind::TooLarge, "more than 19599 bytes of text");
    // A document without shared references never reaches the budget:
    // every value takes at least three bytes, so a size-limit document
    // fits. 200 `true` objects, each referenced once.
    let refs: Vec<u8> = (1..=200).collect();
    let mut objects = vec![[vec![0xAF, 0x10, 200], refs].concat()];
    objects.extend(std::iter::repeat_n(b"\x09".to_vec(), 200));
    let flat = bplist(&objects);
    assert_eq!(parse_plist(&flat, &Limits::new(flat.len() as u64, 8)).unwrap().as_array().unwrap().len(), 200);
}

/// THREATS DOC-2: an object that contains itself — directly, through
/// another array, or as a dictionary's value — is refused, and named.
#[test]
fn doc_2_reference_cycles_are_refused() {
    let limits = Limits::default();
    for objects in [
        vec![b"\xa1\x00".to_vec()],
        vec![b"\xa1\x01".to_vec(), b"\xa2\x02\x00".to_vec(), b"\x09".to_vec()],
        vec![b"\xd1\x01\x00".to_vec(), b"\x51k".to_vec()],
    ] {
        refused(&bplist(&objects), &limits, ErrorKind::Syntax, "contains itself (a reference cycle)");
    }
}
