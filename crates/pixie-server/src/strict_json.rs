//! JSON bodies read strictly: serde's derived structs also accept a JSON *array* (its
//! elements taken as the fields in order), so `{"pkce": []}` read as an all-defaults
//! policy. Here a struct accepts only a JSON object; everything else is as serde_json
//! reads it.

use crate::error::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON value that deserializes structs from objects only, at any depth.
pub struct Strict(pub Value);

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Seq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Seq {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|v| seed.deserialize(Strict(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Object {
    entries: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl Object {
    fn new(m: Map<String, Value>) -> Self {
        Self {
            entries: m.into_iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Object {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Strict(v)),
            None => Err(de::Error::custom("a value is missing")),
        }
    }
}

impl<'de> Deserializer<'de> for Strict {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(a) => visitor.visit_seq(Seq(a.into_iter())),
            Value::Object(m) => visitor.visit_map(Object::new(m)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(Object::new(m)),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Strict(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

pub(crate) fn path_error_text(path: &str, msg: &str) -> ApiError {
    // serde_json appends " at line L column C": noise for an API caller.
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    if path == "." || path.is_empty() {
        ApiError::invalid(format!("body: {msg}"))
    } else {
        ApiError::invalid(format!("{path}: {msg}"))
    }
}

/// Deserializes a JSON value, naming the field on error. A struct is read from a JSON
/// object only (see [`Strict`]).
pub fn from_json_value<T: DeserializeOwned>(v: serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(Strict(v))
        .map_err(|e| path_error_text(&e.path().to_string(), &e.inner().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        a: Vec<String>,
        #[serde(default)]
        b: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Outer {
        inner: Option<Inner>,
        list: Option<Vec<Inner>>,
    }

    fn read(v: Value) -> Result<Outer, String> {
        serde_path_to_error::deserialize(Strict(v)).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn structs_only_from_objects() {
        let ok = read(serde_json::json!({"inner": {"a": ["x"], "b": 3}, "list": [{"a": []}]})).unwrap();
        assert_eq!(ok.inner.unwrap().b, Some(3));
        let e = read(serde_json::json!({"inner": []})).unwrap_err();
        assert!(e.starts_with("inner: invalid type: sequence"), "{e}");
        let e = read(serde_json::json!({"inner": [["x"], 1]})).unwrap_err();
        assert!(e.starts_with("inner:"), "{e}");
        let e = read(serde_json::json!({"list": [[]]})).unwrap_err();
        assert!(e.starts_with("list[0]:"), "{e}");
        assert!(read(serde_json::json!([null, null])).is_err());
        let e = read(serde_json::json!({"inner": {"zzz": 1}})).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        assert_eq!(read(serde_json::json!({"inner": null})).unwrap().inner, None);
    }
}
