//! The integrators' contract, generated from the Rust types the bridge parses and publishes:
//!
//! - [`JOB_SCHEMA`]: every job the sync function accepts (`feishu_bridge::job::SyncJob`, as the
//!   parser reads it: times and message ids as strings or integers, unknown enum values kept);
//! - [`DECISION_EVENT_SCHEMA`], [`REFUSED_EVENT_SCHEMA`]: the `detail` of the two EventBridge
//!   events (`approval_sync::events`, as the bridge writes them);
//! - [`DECISION_EVENT_REGISTRY`], [`REFUSED_EVENT_REGISTRY`]: the same events, whole (the
//!   EventBridge envelope around the detail), as OpenAPI 3 documents for the EventBridge schema
//!   registry, which takes only OpenAPI 3 or JSON Schema draft 4 and generates code bindings
//!   from them; `template.yaml` registers them inline ([`template_copy`]).
//!
//! The JSON Schemas are draft-07 (the draft most validators and code generators read). The
//! `contract` binary writes every file; the crate's tests fail when a committed copy drifts.

use std::path::{Path, PathBuf};

use approval_sync::events::{
    DECISION_DETAIL_TYPE, DecisionEvent, EVENT_SOURCE, REFUSED_DETAIL_TYPE, RefusedEvent,
    SCHEMA_VERSION,
};
use feishu_bridge::job::SyncJob;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The sync job schema (what the sync function accepts).
pub const JOB_SCHEMA: &str = "schemas/sync-job.schema.json";
/// The `detail` of an "Approval Decision" event.
pub const DECISION_EVENT_SCHEMA: &str = "schemas/decision-event.schema.json";
/// The `detail` of an "Approval Decision Refused" event.
pub const REFUSED_EVENT_SCHEMA: &str = "schemas/refused-event.schema.json";
/// The "Approval Decision" event for the EventBridge schema registry (OpenAPI 3).
pub const DECISION_EVENT_REGISTRY: &str = "schemas/eventbridge/decision-event.openapi.json";
/// The "Approval Decision Refused" event for the EventBridge schema registry (OpenAPI 3).
pub const REFUSED_EVENT_REGISTRY: &str = "schemas/eventbridge/refused-event.openapi.json";
/// The SAM template, which registers the event schemas inline.
pub const TEMPLATE: &str = "template.yaml";

/// Indentation of a registry document inside its `Content: |` block in the template.
const CONTENT_INDENT: &str = "        ";

/// One generated file: where it goes (relative to the workspace root) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Path relative to the workspace root.
    pub path: &'static str,
    /// The file's content (pretty JSON, ending with a newline).
    pub text: String,
}

/// Every file of the contract, generated now.
pub fn generate() -> Vec<Generated> {
    vec![
        Generated {
            path: JOB_SCHEMA,
            text: render(&job_schema()),
        },
        Generated {
            path: DECISION_EVENT_SCHEMA,
            text: render(&detail_schema::<DecisionEvent>(DECISION_DETAIL_TYPE)),
        },
        Generated {
            path: REFUSED_EVENT_SCHEMA,
            text: render(&detail_schema::<RefusedEvent>(REFUSED_DETAIL_TYPE)),
        },
        Generated {
            path: DECISION_EVENT_REGISTRY,
            text: render(&registry_document::<DecisionEvent>(DECISION_DETAIL_TYPE)),
        },
        Generated {
            path: REFUSED_EVENT_REGISTRY,
            text: render(&registry_document::<RefusedEvent>(REFUSED_DETAIL_TYPE)),
        },
    ]
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Pretty JSON with a final newline, as the files are committed.
pub fn render(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The sync job schema: what `parse_job` accepts.
pub fn job_schema() -> Value {
    let generator = SchemaSettings::draft07().for_deserialize().into_generator();
    let mut schema = Value::from(generator.into_root_schema_for::<SyncJob>());
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), "Sync job".into());
        object.insert(
            "description".into(),
            "A job for the approval-sync function, tagged by `type`: `decision` (sent by the \
             callback function), `instance` and `message` (sent by the company's systems), \
             `reconcile` (scheduled). Unknown fields are ignored; the function answers an \
             invalid job with errorType InvalidJob."
                .into(),
        );
    }
    schema
}

/// The draft-07 schema of an event's `detail`, as the bridge writes it.
fn detail_schema<T: JsonSchema>(detail_type: &str) -> Value {
    let generator = SchemaSettings::draft07().for_serialize().into_generator();
    let mut schema = Value::from(generator.into_root_schema_for::<T>());
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), format!("{detail_type} (detail)").into());
        object.insert(
            "description".into(),
            format!(
                "The `detail` of the EventBridge events with source `{EVENT_SOURCE}` and \
                 detail-type `{detail_type}`, schema version {SCHEMA_VERSION}."
            )
            .into(),
        );
    }
    schema
}

/// The whole event (envelope and detail) as an OpenAPI 3 document in the form of the
/// registry's own schemas: `components.schemas.AWSEvent` names source and detail-type and
/// refers to the detail's schema.
fn registry_document<T: JsonSchema>(detail_type: &str) -> Value {
    let generator = SchemaSettings::openapi3().for_serialize().into_generator();
    let mut detail = Value::from(generator.into_root_schema_for::<T>());
    let mut schemas = Map::new();
    let name = T::schema_name().into_owned();
    if let Some(object) = detail.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
        if let Some(Value::Object(mut components)) = object.remove("components")
            && let Some(Value::Object(definitions)) = components.remove("schemas")
        {
            schemas.extend(definitions);
        }
    }
    let envelope = json!({
        "type": "object",
        "required": ["detail-type", "resources", "detail", "id", "source", "time", "region",
                     "version", "account"],
        "x-amazon-events-detail-type": detail_type,
        "x-amazon-events-source": EVENT_SOURCE,
        "properties": {
            "detail": {"$ref": format!("#/components/schemas/{name}")},
            "account": {"type": "string"},
            "detail-type": {"type": "string"},
            "id": {"type": "string"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "source": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "version": {"type": "string"}
        }
    });
    schemas.insert("AWSEvent".into(), envelope);
    schemas.insert(name, detail);
    json!({
        "openapi": "3.0.0",
        "info": {"version": SCHEMA_VERSION.to_string(), "title": detail_type},
        "paths": {},
        "components": {"schemas": schemas}
    })
}

/// The marker line that precedes a registry document's `Content: |` block in the template.
pub fn template_marker(path: &str) -> String {
    format!("# generated from {path} by `cargo run -p contract`; do not edit")
}

/// The copy of `path` inlined in `template` (the `Content: |` block after its marker), if any.
pub fn template_copy(template: &str, path: &str) -> Option<String> {
    let (start, end) = content_block(template, path)?;
    let lines: Vec<&str> = template.lines().collect();
    let mut copy = String::new();
    for line in &lines[start..end] {
        copy.push_str(
            line.strip_prefix(CONTENT_INDENT)
                .unwrap_or(line.trim_start()),
        );
        copy.push('\n');
    }
    Some(copy)
}

/// `template` with the `Content: |` block of `path` replaced by `text`, or `None` when the
/// template has no such block.
pub fn with_template_copy(template: &str, path: &str, text: &str) -> Option<String> {
    let (start, end) = content_block(template, path)?;
    let lines: Vec<&str> = template.lines().collect();
    let mut updated: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
    updated.extend(text.lines().map(|line| format!("{CONTENT_INDENT}{line}")));
    updated.extend(lines[end..].iter().map(|l| (*l).to_owned()));
    let mut joined = updated.join("\n");
    joined.push('\n');
    Some(joined)
}

/// The line range `[start, end)` of the block scalar holding `path`'s copy: the lines after
/// the `Content: |` line that follows the marker, while they are indented as content (or
/// blank).
fn content_block(template: &str, path: &str) -> Option<(usize, usize)> {
    let marker = template_marker(path);
    let lines: Vec<&str> = template.lines().collect();
    let at = lines.iter().position(|line| line.trim() == marker)?;
    let content = at + 1;
    if lines.get(content)?.trim() != "Content: |" {
        return None;
    }
    let start = content + 1;
    let end = lines[start..]
        .iter()
        .position(|line| !line.starts_with(CONTENT_INDENT) && !line.trim().is_empty())
        .map_or(lines.len(), |offset| start + offset);
    Some((start, end))
}
