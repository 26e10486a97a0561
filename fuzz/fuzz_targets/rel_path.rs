//! Fuzz target: the relative-path validator, `RelPath::parse`.
//!
//! Properties, checked against an independent model of the rules in
//! `crates/anchor/src/path.rs`:
//! - it never panics;
//! - an absolute path or one with a `..` component is always refused, as
//!   `ErrorKind::Escape` (THREATS FS-2);
//! - otherwise it accepts exactly the paths without NUL, at most
//!   `MAX_PATH_BYTES` long, with components of at most `MAX_NAME_BYTES` and at
//!   most `MAX_DEPTH` of them, and refuses the rest as `InvalidPath`;
//! - an accepted path's components are plain names (non-empty, not `.` or
//!   `..`, no `/`, no NUL), equal to the model's, and re-parsing
//!   `to_path_buf()` gives the same components.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use gw_anchor::{ErrorKind, MAX_DEPTH, MAX_NAME_BYTES, MAX_PATH_BYTES, RelPath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new(OsStr::from_bytes(data));
    let result = RelPath::parse(path);

    // The model.
    let absolute = data.first() == Some(&b'/');
    let dotdot = data.split(|&b| b == b'/').any(|c| c == b"..");
    let names: Vec<&[u8]> = data.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    let invalid = data.contains(&0)
        || data.len() > MAX_PATH_BYTES
        || names.iter().any(|c| c.len() > MAX_NAME_BYTES)
        || names.len() > MAX_DEPTH;

    if absolute || dotdot {
        let err = match result {
            Ok(rel) => panic!("escape accepted: {data:?} -> {rel:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::Escape, "escape refused with the wrong kind: {data:?}: {err}");
        assert!(err.kind().is_security_refusal());
        return;
    }
    match result {
        Err(err) => {
            assert!(invalid, "valid path refused: {data:?}: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidPath, "{data:?}: {err}");
        }
        Ok(rel) => {
            assert!(!invalid, "invalid path accepted: {data:?} -> {rel:?}");
            let comps = rel.components();
            assert!(comps.len() <= MAX_DEPTH);
            for c in comps {
                let b = c.as_bytes();
                assert!(!b.is_empty() && b != b"." && b != b"..", "bad component {c:?} from {data:?}");
                assert!(!b.contains(&b'/') && !b.contains(&0), "bad component {c:?} from {data:?}");
                assert!(b.len() <= MAX_NAME_BYTES);
            }
            let got: Vec<&[u8]> = comps.iter().map(|c| c.as_bytes()).collect();
            assert_eq!(got, names, "components differ from the model for {data:?}");
            assert_eq!(rel.is_root(), comps.is_empty());
            let trailing = !comps.is_empty() && (data.ends_with(b"/") || data.ends_with(b"/."));
            assert_eq!(rel.has_trailing_slash(), trailing, "trailing slash for {data:?}");

            let again = RelPath::parse(&rel.to_path_buf()).expect("the normalised path re-parses");
            assert_eq!(again.components(), comps, "re-parse of {data:?} changed the components");
            assert!(!again.has_trailing_slash());
        }
    }
});
