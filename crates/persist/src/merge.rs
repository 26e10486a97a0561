//! Merging documents: RFC 7386 merge patch, and mirroring that keeps local
//! entries (THREATS CRED-7).

use serde_json::Value;

/// Applies an RFC 7386 JSON merge patch to `doc` (objects merge key by key,
/// `null` removes, anything else replaces).
///
/// Hand-written (the RFC's ten-line algorithm) rather than `json_patch::merge`:
/// that one removes keys with `Map::remove`, which under serde_json's
/// `preserve_order` swaps the last key into the removed one's place, so a
/// patch that deletes one key would reorder the document. Here the other keys
/// keep their order (`shift_remove`); new keys go at the end.
pub fn merge_patch(doc: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *doc = patch.clone();
        return;
    };
    if !doc.is_object() {
        *doc = Value::Object(serde_json::Map::new());
    }
    let Value::Object(map) = doc else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.shift_remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Mirrors `primary` into `secondary`, keeping the secondary's own entries:
/// keys only the primary has are copied in; where both have an object, they
/// are mirrored recursively; where both have any other value, the
/// secondary's (local) value wins. Nothing of the secondary is ever dropped.
///
/// # Security
/// THREATS CRED-7 (a rescue profile mirrored from the primary keeps its own
/// credentials).
pub fn merge_keeping_local(primary: &Value, secondary: &Value) -> Value {
    match (primary, secondary) {
        (Value::Object(p), Value::Object(s)) => {
            let mut out = s.clone();
            for (k, pv) in p {
                let merged = match s.get(k) {
                    Some(sv) => merge_keeping_local(pv, sv),
                    None => pv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, local) => local.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut d = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut d, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(d, json!({"a": "z", "c": {"d": "e"}}));
        let mut d = json!({"x": 1});
        merge_patch(&mut d, &json!(["not", "an", "object"]));
        assert_eq!(d, json!(["not", "an", "object"]));
    }

    #[test]
    fn merge_patch_keeps_key_order() {
        let mut d: Value = serde_json::from_str(r#"{"z": 1, "y": 2, "x": 3, "w": 4}"#).unwrap();
        merge_patch(&mut d, &json!({"z": null, "x": 30, "new": 5}));
        assert_eq!(d.as_object().unwrap().keys().collect::<Vec<_>>(), ["y", "x", "w", "new"]);
    }

    #[test]
    fn keeping_local_never_drops_local_entries() {
        let primary = json!({"gateways": {"ws://127.0.0.1:1": {"token": "P"}, "shared": 1}, "p_only": true});
        let secondary = json!({"gateways": {"ws://127.0.0.1:1": {"token": "S"}, "rescue": 2}, "s_only": 3});
        let m = merge_keeping_local(&primary, &secondary);
        assert_eq!(m["gateways"]["ws://127.0.0.1:1"]["token"], json!("S"));
        assert_eq!(m["gateways"]["rescue"], json!(2));
        assert_eq!(m["gateways"]["shared"], json!(1));
        assert_eq!(m["p_only"], json!(true));
        assert_eq!(m["s_only"], json!(3));
    }
}
