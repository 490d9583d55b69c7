//! The contract holds: the committed schemas are the ones the types generate (and the
//! template's copies are the committed ones), and the schemas agree with the parsers on real
//! jobs and events recorded from the bridge and on invalid ones.

use std::path::Path;

use approval_sync::events::{DecisionEvent, RefusedEvent};
use approval_sync::parse_job;
use contract::{
    DECISION_EVENT_REGISTRY, DECISION_EVENT_SCHEMA, JOB_SCHEMA, REFUSED_EVENT_REGISTRY,
    REFUSED_EVENT_SCHEMA, TEMPLATE, generate, template_copy, workspace_root,
};
use serde_json::Value;

fn read(path: &str) -> String {
    let full = workspace_root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{}: {error}", full.display()))
}

fn json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn validator(path: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&read(path)).unwrap();
    jsonschema::draft7::new(&schema).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The JSON files in `schemas/examples/<dir>`, by name.
fn examples(dir: &str) -> Vec<(String, Value)> {
    let dir = workspace_root().join("schemas/examples").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, json(&path))
        })
        .collect()
}

#[test]
fn the_committed_schemas_are_the_ones_the_types_generate() {
    for file in generate() {
        assert!(
            read(file.path) == file.text,
            "{} differs from what the types generate: run `cargo run -p contract`",
            file.path
        );
    }
}

#[test]
fn the_template_registers_the_committed_event_schemas() {
    let template = read(TEMPLATE);
    for path in [DECISION_EVENT_REGISTRY, REFUSED_EVENT_REGISTRY] {
        let copy = template_copy(&template, path)
            .unwrap_or_else(|| panic!("{TEMPLATE} has no Content block generated from {path}"));
        assert!(
            copy == read(path),
            "{TEMPLATE}'s copy of {path} differs: run `cargo run -p contract`"
        );
        let document: Value = serde_json::from_str(&copy).unwrap();
        assert_eq!(document["openapi"], "3.0.0");
        let envelope = &document["components"]["schemas"]["AWSEvent"];
        assert_eq!(envelope["x-amazon-events-source"], "feishu-approval-bridge");
        let detail = envelope["properties"]["detail"]["$ref"].as_str().unwrap();
        let name = detail.trim_start_matches("#/components/schemas/");
        assert!(
            document["components"]["schemas"][name].is_object(),
            "{path}: the detail {name} is not defined"
        );
    }
}

#[test]
fn the_schemas_are_draft_07_schemas() {
    let meta = jsonschema::draft7::meta::validate;
    for path in [JOB_SCHEMA, DECISION_EVENT_SCHEMA, REFUSED_EVENT_SCHEMA] {
        let schema: Value = serde_json::from_str(&read(path)).unwrap();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        meta(&schema).unwrap_or_else(|error| panic!("{path}: {error}"));
    }
}

#[test]
fn jobs_the_function_accepts_are_valid_and_invalid_ones_are_not() {
    let schema = validator(JOB_SCHEMA);
    for (name, job) in examples("jobs") {
        let errors: Vec<String> = schema.iter_errors(&job).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "jobs/{name} fails the schema: {errors:?}"
        );
        parse_job(job).unwrap_or_else(|error| panic!("jobs/{name} is refused: {error}"));
    }
    for (name, case) in examples("invalid-jobs") {
        let job = case["job"].clone();
        assert!(
            !schema.is_valid(&job),
            "invalid-jobs/{name} passes the schema ({})",
            case["why"]
        );
        assert!(
            parse_job(job).is_err(),
            "invalid-jobs/{name} is accepted by the function ({})",
            case["why"]
        );
    }
}

#[test]
fn events_the_bridge_published_are_valid_and_broken_ones_are_not() {
    for (dir, path) in [
        ("decision-events", DECISION_EVENT_SCHEMA),
        ("refused-events", REFUSED_EVENT_SCHEMA),
    ] {
        let schema = validator(path);
        for (name, event) in examples(dir) {
            let errors: Vec<String> = schema.iter_errors(&event).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{dir}/{name} fails {path}: {errors:?}");
            let parsed = match dir {
                "decision-events" => serde_json::from_value::<DecisionEvent>(event).is_ok(),
                _ => serde_json::from_value::<RefusedEvent>(event).is_ok(),
            };
            assert!(parsed, "{dir}/{name} is not an event the bridge writes");
        }
    }
    for (name, case) in examples("invalid-events") {
        let path = match case["schema"].as_str() {
            Some("decision") => DECISION_EVENT_SCHEMA,
            Some("refused") => REFUSED_EVENT_SCHEMA,
            other => panic!("invalid-events/{name}: unknown schema {other:?}"),
        };
        assert!(
            !validator(path).is_valid(&case["detail"]),
            "invalid-events/{name} passes {path} ({})",
            case["why"]
        );
    }
}
