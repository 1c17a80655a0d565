//! What every tool's schema goes through before clients see it.

/// A nullable field's schema as every client's validator reads it: `{"type": ["string",
/// "null"]}` (legal, but not portable: dialects with one `type`, as Gemini's function
/// declarations, refuse it) becomes `{"anyOf": [{"type": "string"}, {"type": "null"}]}`,
/// with what constrains the value in its branch. Applied to every tool's argument and
/// result type (the Inspector's `--strict` check finds nothing left).
pub fn portable_nullables(schema: &mut schemars::Schema) {
    schemars::transform::transform_subschemas(&mut portable_nullables, schema);
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let Some(serde_json::Value::Array(types)) = object.get("type") else {
        return;
    };
    let null = serde_json::Value::from("null");
    let others: Vec<serde_json::Value> = types.iter().filter(|t| **t != null).cloned().collect();
    if others.len() != 1 || others.len() == types.len() {
        return;
    }
    let mut branch = serde_json::Map::new();
    branch.insert("type".into(), others[0].clone());
    object.remove("type");
    let keep = [
        "description",
        "title",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
    ];
    let moved: Vec<String> = object
        .keys()
        .filter(|k| !keep.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in moved {
        if let Some(value) = object.remove(&key) {
            branch.insert(key, value);
        }
    }
    object.insert(
        "anyOf".into(),
        serde_json::json!([branch, {"type": "null"}]),
    );
}
