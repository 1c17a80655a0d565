//! Tool arguments checked against the tool's own `inputSchema` (the one clients are shown)
//! before they are read, so every tool refuses a missing, ill-typed or unknown argument
//! the same way: `INVALID_ARGUMENTS: <field>: <what is wrong>`. The text never repeats a
//! value: a mistyped password must not come back in an error.

use std::borrow::Cow;
use std::fmt;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The arguments of a tool: `T` when they match its schema, else what is wrong.
/// Used as `Parameters<Args<T>>`; its schema is `T`'s.
pub struct Args<T>(pub Result<T, ArgumentError>);

/// What is wrong with a tool's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    /// The argument at fault; None when the arguments as a whole are.
    pub field: Option<String>,
    pub problem: Cow<'static, str>,
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

/// Field names are echoed, so an unknown one is cut short and its control characters
/// escaped: the text stays one short line whatever a client sends.
fn field_name(name: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut shown: String = name.chars().take(MAX_CHARS).collect();
    if name.chars().count() > MAX_CHARS {
        shown.push('…');
    }
    if shown.chars().any(char::is_control) {
        shown = shown.escape_debug().to_string();
    }
    shown
}

impl<'de, T: DeserializeOwned + JsonSchema + 'static> Deserialize<'de> for Args<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // rmcp hands over the arguments object; anything else is refused before this.
        let arguments = Map::<String, Value>::deserialize(deserializer)?;
        Ok(Self(check::<T>(arguments)))
    }
}

impl<T: JsonSchema> JsonSchema for Args<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// Checks `arguments` against `T`'s input schema (properties, required, their JSON
/// types, no others), then reads them as `T`.
pub fn check<T: DeserializeOwned + JsonSchema + 'static>(
    arguments: Map<String, Value>,
) -> Result<T, ArgumentError> {
    let whole = |problem: &'static str| ArgumentError {
        field: None,
        problem: problem.into(),
    };
    let schema = rmcp::handler::server::common::schema_for_input::<T>()
        .map_err(|_| whole("this tool has no usable input schema"))?;
    let no_properties = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&no_properties);
    if let Some(unknown) = arguments.keys().find(|k| !properties.contains_key(*k)) {
        let mut expected: Vec<&str> = properties.keys().map(String::as_str).collect();
        expected.sort_unstable();
        return Err(ArgumentError {
            field: Some(field_name(unknown)),
            problem: format!(
                "unknown argument (the arguments are: {})",
                expected.join(", ")
            )
            .into(),
        });
    }
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        if !arguments.contains_key(name) {
            return Err(ArgumentError {
                field: Some(name.to_owned()),
                problem: "missing".into(),
            });
        }
    }
    for (name, value) in &arguments {
        if let Some(expected) = properties.get(name).and_then(types_of)
            && !has_type(value, &expected)
        {
            return Err(ArgumentError {
                field: Some(name.clone()),
                problem: format!("expected {}", describe(&expected)).into(),
            });
        }
    }
    // The schema checks above leave nothing for serde to refuse; if it still does, its
    // message is not shown, since it may quote the value.
    serde_json::from_value(Value::Object(arguments))
        .map_err(|_| whole("the arguments do not match the input schema"))
}

/// The JSON types a property allows: its `type`, or the types of its `anyOf` branches (a
/// nullable field, see [`super::schema::portable_nullables`]). None: not known here.
fn types_of(property: &Value) -> Option<Value> {
    if let Some(types) = property.get("type") {
        return Some(types.clone());
    }
    let mut names = Vec::new();
    for branch in property.get("anyOf")?.as_array()? {
        match branch.get("type")? {
            Value::Array(more) => names.extend(more.iter().cloned()),
            one => names.push(one.clone()),
        }
    }
    Some(Value::Array(names))
}

/// Whether `value` is of the JSON Schema `type` (a name or a list of names).
fn has_type(value: &Value, expected: &Value) -> bool {
    let is = |name: &str| match name {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    };
    match expected {
        Value::String(name) => is(name),
        Value::Array(names) => names.iter().filter_map(Value::as_str).any(is),
        _ => true,
    }
}

/// "a string", "a string or null".
fn describe(expected: &Value) -> String {
    let article = |name: &str| match name {
        "integer" | "object" | "array" => format!("an {name}"),
        "null" => "null".to_owned(),
        _ => format!("a {name}"),
    };
    match expected {
        Value::String(name) => article(name),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .map(article)
            .collect::<Vec<_>>()
            .join(" or "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::types::{SignUpArgs, TokenArgs};
    use serde_json::json;

    /// (Argument types hold passwords, so they have no Debug: only the error is shown.)
    fn args<T: DeserializeOwned + JsonSchema + 'static>(v: Value) -> Result<(), String> {
        let Value::Object(map) = v else { panic!() };
        check::<T>(map).map(|_| ()).map_err(|e| e.to_string())
    }

    #[test]
    fn each_defect_names_its_field_and_never_the_value() {
        assert!(args::<SignUpArgs>(json!({"email": "a@b.co", "password": "x"})).is_ok());
        assert!(
            args::<SignUpArgs>(json!({"email": "a@b.co", "password": "x", "name": null})).is_ok()
        );
        assert_eq!(
            args::<SignUpArgs>(json!({"email": "a@b.co"})).unwrap_err(),
            "password: missing"
        );
        assert_eq!(
            args::<SignUpArgs>(json!({"email": 5, "password": "x"})).unwrap_err(),
            "email: expected a string"
        );
        assert_eq!(
            args::<SignUpArgs>(json!({"email": "a@b.co", "password": 12345678})).unwrap_err(),
            "password: expected a string"
        );
        assert_eq!(
            args::<SignUpArgs>(json!({"email": "a@b.co", "password": "x", "name": 1})).unwrap_err(),
            "name: expected a string or null"
        );
        assert_eq!(
            args::<TokenArgs>(json!({"token": "t", "otp": 1})).unwrap_err(),
            "otp: unknown argument (the arguments are: token)"
        );
        assert_eq!(args::<TokenArgs>(json!({})).unwrap_err(), "token: missing");
        let long = "k\n".repeat(100);
        let text = args::<TokenArgs>(json!({"token": "t", long: 1})).unwrap_err();
        assert!(!text.contains('\n') && text.len() < 250, "{text}");
    }
}
