//! Start-up validation: every model and field path the rules name must exist in the world
//! Torii indexes, or the sidecar refuses to run with a message naming the model and field.
//! Model schemas arrive as JSON of dojo-types `Ty`; both its tagged form
//! (`{"type":"struct","content":{…}}`) and the externally tagged one (`{"Struct":{…}}`) are read.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::proto::types;
use crate::rules::WorldRules;

/// Model tag → every field path it has.
pub type Schemas = BTreeMap<String, BTreeSet<String>>;

/// Why the rules do not fit the world.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("model {model:?} is not in the world (known models: {known})")]
    UnknownModel { model: String, known: String },
    #[error("model {model:?} has no field {field:?} (its fields: {known})")]
    UnknownField {
        model: String,
        field: String,
        known: String,
    },
}

/// Field paths of the models of a `Worlds` answer. Only the `followed` models are read;
/// one whose schema cannot be read is left out, so validation reports it as unknown.
pub fn schemas(models: &[types::Model], followed: &[String]) -> Schemas {
    let mut out = Schemas::new();
    for m in models {
        let tag = format!("{}-{}", m.namespace, m.name);
        if !followed.contains(&tag) {
            continue;
        }
        match serde_json::from_slice::<Value>(&m.schema) {
            Ok(json) => {
                let mut paths = BTreeSet::new();
                collect("", &json, &mut paths);
                out.insert(tag, paths);
            }
            Err(e) => tracing::warn!(model = %tag, error = %e, "unreadable model schema"),
        }
    }
    out
}

/// The `(kind, body)` of a `Ty` in either serde form.
fn unpack(ty: &Value) -> Option<(String, &Value)> {
    if let (Some(kind), Some(content)) = (ty.get("type").and_then(Value::as_str), ty.get("content"))
    {
        return Some((kind.to_ascii_lowercase(), content));
    }
    let obj = ty.as_object()?;
    if obj.len() == 1 {
        let (k, v) = obj.iter().next()?;
        return Some((k.to_ascii_lowercase(), v));
    }
    None
}

fn collect(prefix: &str, ty: &Value, out: &mut BTreeSet<String>) {
    let Some((kind, body)) = unpack(ty) else {
        return;
    };
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match kind.as_str() {
        "struct" => {
            for child in body
                .get("children")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(name) = child.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let path = join(name);
                let ty = child.get("member_type").or_else(|| child.get("ty"));
                // Only leaves hold values: a struct-typed member is reached through its fields.
                let is_struct = ty
                    .and_then(unpack)
                    .is_some_and(|(kind, _)| kind == "struct");
                if !is_struct {
                    out.insert(path.clone());
                }
                if let Some(t) = ty {
                    collect(&path, t, out);
                }
            }
        }
        "enum" => {
            for opt in body
                .get("options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(name), Some(t)) =
                    (opt.get("name").and_then(Value::as_str), opt.get("ty"))
                {
                    collect(&join(name), t, out);
                }
            }
        }
        _ => {}
    }
}

/// Checks every model and field the rules read against the world's schemas.
pub fn validate(rules: &WorldRules, schemas: &Schemas) -> Result<(), SchemaError> {
    for (model, fields) in rules.needed_fields() {
        let Some(paths) = schemas.get(&model) else {
            return Err(SchemaError::UnknownModel {
                model,
                known: schemas.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        };
        for field in fields.into_iter().flatten() {
            if !paths.contains(&field) {
                return Err(SchemaError::UnknownField {
                    model,
                    field,
                    known: paths.iter().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    Ok(())
}

/// Builds a schema JSON (tagged form) from a model record, for the fake Torii and tests.
pub fn schema_json(model: &types::Struct) -> Value {
    fn ty_json(t: &types::Ty) -> Value {
        use types::ty::TyType;
        match &t.ty_type {
            Some(TyType::Struct(s)) => struct_json(s),
            Some(TyType::Enum(e)) => serde_json::json!({"type": "enum", "content": {
                "name": e.name,
                "options": e.options.iter().map(|o| serde_json::json!({
                    "name": o.name, "ty": o.ty.as_ref().map(ty_json).unwrap_or(Value::Null)})).collect::<Vec<_>>()
            }}),
            _ => serde_json::json!({"type": "primitive", "content": {"felt252": null}}),
        }
    }
    fn struct_json(s: &types::Struct) -> Value {
        serde_json::json!({"type": "struct", "content": {
            "name": s.name,
            "children": s.children.iter().map(|m| serde_json::json!({
                "name": m.name,
                "member_type": m.ty.as_ref().map(ty_json).unwrap_or(Value::Null),
                "key": m.key,
            })).collect::<Vec<_>>()
        }})
    }
    struct_json(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{FeedRule, PlayersRule};
    use crate::value::build::*;

    fn world() -> Schemas {
        let m = model(
            "ns-Structure",
            vec![
                member("entity_id", u32(1), true),
                member(
                    "base",
                    nested("Base", vec![member("coord_x", u32(0), false)]),
                    false,
                ),
            ],
        );
        let proto = types::Model {
            namespace: "ns".into(),
            name: "Structure".into(),
            schema: serde_json::to_vec(&schema_json(&m)).unwrap(),
            ..Default::default()
        };
        schemas(&[proto], &["ns-Structure".to_string()])
    }

    #[test]
    fn reads_nested_paths() {
        let s = world();
        let paths: Vec<&str> = s["ns-Structure"].iter().map(String::as_str).collect();
        assert_eq!(paths, vec!["base.coord_x", "entity_id"]);
    }

    #[test]
    fn reads_the_externally_tagged_form_too() {
        let json = serde_json::json!({"Struct": {"name": "ns-M", "children": [
            {"name": "a", "ty": {"Struct": {"name": "A", "children": [{"name": "b", "ty": {"Primitive": {"U32": null}}, "key": false}]}}, "key": false}
        ]}});
        let mut out = BTreeSet::new();
        collect("", &json, &mut out);
        assert!(out.contains("a.b"), "{out:?}");
    }

    #[test]
    fn names_the_missing_model_or_field() {
        let mut rules = WorldRules {
            players: Some(PlayersRule {
                model: "ns-Structure".into(),
                address: "base.coord_y".into(),
                name: None,
                when: Default::default(),
            }),
            ..Default::default()
        };
        let e = validate(&rules, &world()).unwrap_err();
        assert_eq!(
            e,
            SchemaError::UnknownField {
                model: "ns-Structure".into(),
                field: "base.coord_y".into(),
                known: "base.coord_x, entity_id".into()
            }
        );
        rules.players = None;
        rules.feed = FeedRule {
            models: vec!["ns-Missing".into()],
        };
        let e = validate(&rules, &world()).unwrap_err().to_string();
        assert!(
            e.contains("ns-Missing") && e.contains("ns-Structure"),
            "{e}"
        );
    }
}
