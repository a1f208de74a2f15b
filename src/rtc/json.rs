//! Lenient readers for event content: a field of the wrong type reads as absent.

use serde_json::{Map, Value};

/// A JSON object, as event contents are.
pub type Object = Map<String, Value>;

/// `obj[key]` as a string, if it is one.
pub fn str_field<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// `obj[key]` as a non-negative integer, if it is one (integral floats are accepted).
pub fn u64_field(obj: &Object, key: &str) -> Option<u64> {
    obj.get(key).and_then(lenient_u64)
}

/// A JSON value as a non-negative integer, if it is one (integral floats are accepted).
pub fn lenient_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 9.0e15)
            .map(|f| f as u64)
    })
}

/// `obj[key]` as an object, if it is one.
pub fn obj_field<'a>(obj: &'a Object, key: &str) -> Option<&'a Object> {
    obj.get(key).and_then(Value::as_object)
}

/// `obj[key]` as an array, if it is one.
pub fn array_field<'a>(obj: &'a Object, key: &str) -> Option<&'a Vec<Value>> {
    obj.get(key).and_then(Value::as_array)
}

/// `obj[key]` as a boolean, if it is one.
pub fn bool_field(obj: &Object, key: &str) -> Option<bool> {
    obj.get(key).and_then(Value::as_bool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_read_as_absent() {
        let v =
            json!({"s": 1, "n": "x", "o": [], "a": {}, "f": 12.0, "neg": -3, "frac": 1.5, "b": 1});
        let o = v.as_object().unwrap();
        assert_eq!(str_field(o, "s"), None);
        assert_eq!(u64_field(o, "n"), None);
        assert_eq!(obj_field(o, "o"), None);
        assert_eq!(array_field(o, "a"), None);
        assert_eq!(u64_field(o, "f"), Some(12));
        assert_eq!(u64_field(o, "neg"), None);
        assert_eq!(u64_field(o, "frac"), None);
        assert_eq!(bool_field(o, "b"), None);
        assert_eq!(str_field(o, "missing"), None);
    }
}
