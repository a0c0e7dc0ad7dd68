//! Canonical forms and the "already applied?" comparison that keeps a converged cluster free of
//! writes.
//!
//! The API server normalizes some values (quantities such as `2000m` become `2`). The operator
//! sends them in canonical form, so that comparing what it wants with what the cache holds is a
//! plain structural comparison: [`contains`] says whether every field we set is present in the
//! live object with the same value, ignoring fields others (the API server's defaults, other
//! controllers) own.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;

/// Whether `actual` holds every field of `desired` with an equal value.
///
/// Objects are compared key by key (extra keys in `actual` are fine). Lists whose elements are all
/// objects with a `name` are matched by name (others may add elements, as server-side apply
/// allows for such map-lists); other lists must match element by element.
pub fn contains(actual: &Value, desired: &Value) -> bool {
    match (actual, desired) {
        (Value::Object(a), Value::Object(d)) => {
            d.iter().all(|(k, dv)| dv.is_null() || a.get(k).is_some_and(|av| contains(av, dv)))
        }
        (Value::Array(a), Value::Array(d)) => {
            let named = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
            if !d.is_empty() && d.iter().all(|v| named(v).is_some()) {
                d.iter().all(|dv| a.iter().find(|av| named(av) == named(dv)).is_some_and(|av| contains(av, dv)))
            } else {
                a.len() == d.len() && a.iter().zip(d).all(|(av, dv)| contains(av, dv))
            }
        }
        (Value::Number(a), Value::Number(d)) => a == d || a.as_f64() == d.as_f64(),
        (a, d) => a == d,
    }
}

/// Every quantity of a resource map in canonical form.
pub fn quantities(map: &BTreeMap<String, Quantity>) -> BTreeMap<String, Quantity> {
    map.iter().map(|(k, q)| (k.clone(), quantity(q))).collect()
}

/// A quantity in the form the API server stores it (`2000m` -> `2`, `4096Mi` -> `4Gi`,
/// `1000` -> `1k`). Forms this function does not understand are returned unchanged.
pub fn quantity(q: &Quantity) -> Quantity {
    Quantity(canonical_quantity(&q.0).unwrap_or_else(|| q.0.clone()))
}

const BINARY: [(&str, u32); 6] = [("Ki", 1), ("Mi", 2), ("Gi", 3), ("Ti", 4), ("Pi", 5), ("Ei", 6)];
const DECIMAL: [(&str, i32); 10] =
    [("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];

fn canonical_quantity(s: &str) -> Option<String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let (negative, mantissa, exp10) = parse_decimal(number)?;
    if let Some((_, power)) = BINARY.iter().find(|(name, _)| *name == suffix) {
        // value = mantissa * 10^exp10 * 1024^power; binary form only when that is a whole number.
        let mut bytes = mantissa.checked_mul(1024i128.checked_pow(*power)?)?;
        if exp10 < 0 {
            let div = 10i128.checked_pow(exp10.unsigned_abs())?;
            if bytes % div != 0 {
                return None;
            }
            bytes /= div;
        } else {
            bytes = bytes.checked_mul(10i128.checked_pow(exp10.unsigned_abs())?)?;
        }
        return Some(format_binary(negative, bytes));
    }
    let (_, suffix_exp) = DECIMAL.iter().find(|(name, _)| *name == suffix)?;
    Some(format_decimal(negative, mantissa, exp10 + suffix_exp))
}

/// Parses `[+-]digits[.digits]` into (negative, mantissa, base-10 exponent).
fn parse_decimal(number: &str) -> Option<(bool, i128, i32)> {
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) || int.len() + frac.len() > 30 {
        return None;
    }
    let mantissa: i128 = format!("{int}{frac}").parse().ok()?;
    Some((negative, mantissa, -i32::try_from(frac.len()).ok()?))
}

fn format_binary(negative: bool, bytes: i128) -> String {
    if bytes.abs() < 1024 {
        return format_decimal(negative, bytes, 0);
    }
    let mut value = bytes;
    let mut power = 0;
    while power < BINARY.len() && value % 1024 == 0 {
        value /= 1024;
        power += 1;
    }
    let suffix = if power == 0 { "" } else { BINARY[power - 1].0 };
    format!("{}{value}{suffix}", if negative { "-" } else { "" })
}

fn format_decimal(negative: bool, mut mantissa: i128, mut exp: i32) -> String {
    if mantissa == 0 {
        return "0".to_owned();
    }
    while mantissa % 10 == 0 && exp < 18 {
        mantissa /= 10;
        exp += 1;
    }
    if exp < -9 {
        // Finer than nano: the API server rounds up to the next nano.
        let div = 10i128.pow((-9 - exp).unsigned_abs());
        mantissa = (mantissa + div - 1) / div;
        exp = -9;
    }
    let target = (exp.div_euclid(3) * 3).min(18);
    for _ in target..exp {
        mantissa *= 10;
    }
    let suffix = DECIMAL.iter().find(|(_, e)| *e == target).map(|(s, _)| *s).unwrap_or_default();
    format!("{}{mantissa}{suffix}", if negative { "-" } else { "" })
}

/// A stable short hash of a JSON-serializable value.
pub fn hash<T: serde::Serialize>(value: &T) -> Result<String, serde_json::Error> {
    use sha2::{Digest, Sha256};
    // serde_json::Value keeps object keys sorted, so equal values hash equally.
    let bytes = serde_json::to_vec(&serde_json::to_value(value)?)?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = serde_json::json!({"b": 1, "a": [1, 2]});
        let b = serde_json::json!({"a": [1, 2], "b": 1});
        assert_eq!(hash(&a).expect("hash"), hash(&b).expect("hash"));
        assert_ne!(hash(&a).expect("hash"), hash(&serde_json::json!({"b": 2, "a": [1, 2]})).expect("hash"));
        assert_eq!(hash(&a).expect("hash").len(), 16);
    }

    #[test]
    fn quantities_take_the_api_servers_canonical_form() {
        for (input, canonical) in [
            ("2000m", "2"),
            ("8000m", "8"),
            ("1500m", "1500m"),
            ("500m", "500m"),
            ("0.5", "500m"),
            ("1000", "1k"),
            ("100", "100"),
            ("4Gi", "4Gi"),
            ("4096Mi", "4Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("512Mi", "512Mi"),
            ("1024", "1024"),
            ("1Ki", "1Ki"),
            ("0", "0"),
            ("2", "2"),
            ("16Gi", "16Gi"),
            ("1G", "1G"),
            ("1000M", "1G"),
        ] {
            assert_eq!(quantity(&Quantity(input.into())).0, canonical, "{input}");
        }
    }

    #[test]
    fn unknown_quantity_forms_are_kept() {
        assert_eq!(quantity(&Quantity("1e3".into())).0, "1e3");
        assert_eq!(quantity(&Quantity("lots".into())).0, "lots");
    }

    #[test]
    fn contains_ignores_fields_owned_by_others() {
        let actual = json!({"spec": {"replicas": 3, "strategy": {"type": "RollingUpdate"},
            "template": {"spec": {"containers": [
                {"name": "sidecar", "image": "s"},
                {"name": "runner", "image": "r", "imagePullPolicy": "Always", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}});
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "runner", "image": "r", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}});
        assert!(contains(&actual, &desired));
    }

    #[test]
    fn contains_detects_drift() {
        let actual = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "runner", "image": "old"}]}}}});
        assert!(!contains(&actual, &json!({"spec": {"replicas": 2}})));
        assert!(!contains(
            &actual,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "runner", "image": "new"}]}}}})
        ));
        assert!(!contains(&actual, &json!({"metadata": {"labels": {"a": "b"}}})));
        // Unnamed lists must match exactly: a removed argument is drift.
        assert!(!contains(&json!({"args": ["a", "b"]}), &json!({"args": ["a"]})));
    }
}
