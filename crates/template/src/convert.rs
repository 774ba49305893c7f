//! serde_json values to the engine's values and back (`json` needs the way back).

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;
use serde_json::Value as Json;

/// JSON to a template value. Integers stay integers (docker's typed structs print
/// `1024`, never `1024.0` or `1.024e+03`), objects become maps, which the engine
/// ranges over in sorted key order as Go does.
pub fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(Arc::from(s.as_str())),
        Json::Array(items) => Value::List(items.iter().map(to_value).collect()),
        Json::Object(map) => {
            let entries: BTreeMap<Arc<str>, Value> = map
                .iter()
                .map(|(k, v)| (Arc::from(k.as_str()), to_value(v)))
                .collect();
            Value::Map(Arc::new(entries))
        }
    }
}

/// A template value back to JSON, for `{{json …}}`. Functions have no JSON form and
/// a non-finite float none either; both become `null`, where Go's encoder would
/// fail the template instead.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Uint(u) => Json::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::String(s) => Json::String(s.to_string()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_json_kind() {
        let j = json!({"n": null, "b": true, "i": -3, "u": u64::MAX, "f": 1.5,
                       "s": "x", "a": [1, "two"], "o": {"k": "v"}});
        assert_eq!(to_json(&to_value(&j)), j);
    }

    #[test]
    fn integers_stay_integers() {
        assert!(matches!(to_value(&json!(1024)), Value::Int(1024)));
        assert!(matches!(to_value(&json!(u64::MAX)), Value::Uint(u64::MAX)));
        assert!(matches!(to_value(&json!(0.5)), Value::Float(_)));
    }
}
