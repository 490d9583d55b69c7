//! `push`: read a full external instance, check it, and run it through the sync function as an
//! `instance` job with a synchronous (RequestResponse) Lambda invoke.
//!
//! The AWS client comes from the standard AWS environment (`aws_config::load_defaults`), so
//! `AWS_ENDPOINT_URL_LAMBDA` points it at `cargo lambda watch` for local runs.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use feishu_bridge::job::{InstanceJob, SyncJob};
use feishu_bridge::models::instance::ExternalInstance;
use serde::Deserialize;
use serde_json::Value;

use crate::cli::{Input, PushArgs};
use crate::error::{CliError, hint};

/// The body Lambda returns for a failed invocation.
#[derive(Debug, Default, Deserialize)]
pub struct FunctionErrorBody {
    /// e.g. `FeishuRejected`.
    #[serde(rename = "errorType")]
    pub error_type: Option<String>,
    /// The error's text.
    #[serde(rename = "errorMessage")]
    pub error_message: Option<String>,
}

/// Runs `push`.
pub async fn run(args: &PushArgs) -> Result<(), CliError> {
    let instance = read_instance(&args.instance)?;
    eprintln!(
        "pushing instance {} through {}{}",
        instance.instance_id,
        args.function,
        if args.notify { " (with cards)" } else { "" }
    );
    let payload = job_payload(instance, args.notify)?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let output = aws_sdk_lambda::Client::new(&config)
        .invoke()
        .function_name(&args.function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|source| CliError::Invoke {
            function: args.function.clone(),
            source: Box::new(source),
        })?;
    let answer = output.payload().map(Blob::as_ref).unwrap_or_default();
    if let Some(kind) = output.function_error() {
        let body: FunctionErrorBody = serde_json::from_slice(answer).unwrap_or_default();
        return Err(CliError::FunctionFailed {
            function: args.function.clone(),
            error_type: body.error_type.unwrap_or_else(|| kind.to_owned()),
            error_message: body.error_message.unwrap_or_default(),
        });
    }
    let summary: Value = serde_json::from_slice(answer).map_err(|_| CliError::FunctionAnswer {
        function: args.function.clone(),
        problem: "a summary that is not JSON",
    })?;
    let pretty = serde_json::to_string_pretty(&summary).map_err(|_| CliError::FunctionAnswer {
        function: args.function.clone(),
        problem: "a summary that cannot be printed",
    })?;
    println!("{pretty}");
    for warning in refused_calls(&summary) {
        eprintln!("{warning}");
    }
    Ok(())
}

/// Reads, parses and checks the instance in `input`.
fn read_instance(input: &Input) -> Result<ExternalInstance, CliError> {
    let text = input.read()?;
    parse_instance(&input.name(), &text)
}

/// Parses and checks an instance, naming the offending field on failure.
fn parse_instance(name: &str, text: &str) -> Result<ExternalInstance, CliError> {
    let invalid_json = |error: serde_json::Error| CliError::InvalidJson {
        input: name.to_owned(),
        line: error.line(),
        column: error.column(),
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let instance: ExternalInstance =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if inner.is_data() {
                CliError::InstanceShape {
                    input: name.to_owned(),
                    path,
                    problem: inner.to_string(),
                }
            } else {
                invalid_json(inner)
            }
        })?;
    deserializer.end().map_err(invalid_json)?;
    instance
        .validate()
        .map_err(|source| CliError::InvalidInstance {
            input: name.to_owned(),
            source,
        })?;
    Ok(instance)
}

/// The `instance` job the sync function expects.
fn job_payload(instance: ExternalInstance, notify: bool) -> Result<Vec<u8>, CliError> {
    let job = SyncJob::Instance(Box::new(InstanceJob {
        instance,
        notify,
        reopen: Vec::new(),
    }));
    serde_json::to_vec(&job).map_err(|_| CliError::Encode("instance job"))
}

/// A warning for every Feishu call the summary reports as refused, with hints.
fn refused_calls(summary: &Value) -> Vec<String> {
    let calls = summary.get("calls").and_then(Value::as_array);
    let mut warnings = Vec::new();
    for call in calls.into_iter().flatten() {
        if call.get("accepted").and_then(Value::as_bool) != Some(false) {
            continue;
        }
        let field = |name: &str| {
            call.get(name)
                .map(|value| match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "?".to_owned())
        };
        warnings.push(format!(
            "warning: {} for {} was refused: code {}, msg {}, log_id {}",
            field("api"),
            field("target"),
            field("code"),
            field("msg"),
            field("log_id"),
        ));
        if let Some(hint) = call.get("code").and_then(Value::as_i64).and_then(hint) {
            warnings.push(format!("hint: {hint}"));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The example instance the integration tests push too.
    fn instance() -> Value {
        serde_json::from_str(include_str!("../tests/fixtures/instance.json")).unwrap()
    }

    #[test]
    fn a_valid_instance_becomes_an_instance_job() {
        let parsed = parse_instance("i.json", &instance().to_string()).unwrap();
        let job: Value = serde_json::from_slice(&job_payload(parsed, true).unwrap()).unwrap();
        assert_eq!(job["type"], "instance");
        assert_eq!(job["notify"], true);
        assert_eq!(job["instance"]["instance_id"], "inst-1");
        assert_eq!(job["instance"]["task_list"][0]["task_id"], "task-1");
    }

    #[test]
    fn broken_json_is_reported_by_position() {
        let error = parse_instance("i.json", "{\n  \"approval_code\": ").unwrap_err();
        assert!(
            matches!(error, CliError::InvalidJson { line: 2, .. }),
            "{error:?}"
        );
        let trailing = parse_instance("i.json", &format!("{} x", instance())).unwrap_err();
        assert!(
            matches!(trailing, CliError::InvalidJson { .. }),
            "{trailing:?}"
        );
    }

    #[test]
    fn a_wrongly_typed_field_is_reported_by_path() {
        let mut value = instance();
        value["task_list"][0]["links"] = json!("https://erp.example.com");
        let error = parse_instance("i.json", &value.to_string()).unwrap_err();
        let CliError::InstanceShape { path, .. } = &error else {
            panic!("shape error expected, got {error:?}");
        };
        assert_eq!(path, "task_list[0].links");
    }

    #[test]
    fn an_instance_breaking_feishus_rules_is_refused_before_any_invoke() {
        let mut value = instance();
        value["title"] = json!("@i18n@missing");
        let error = parse_instance("i.json", &value.to_string()).unwrap_err();
        assert!(
            matches!(error, CliError::InvalidInstance { .. }),
            "{error:?}"
        );
        assert!(
            error.report().contains("@i18n@missing"),
            "{}",
            error.report()
        );
    }

    #[test]
    fn refused_calls_in_the_summary_become_warnings_with_hints() {
        let summary = json!({
            "job": "instance",
            "calls": [
                {"api": "external_instances", "target": "inst-1", "accepted": true, "code": 0},
                {"api": "message/send", "target": "inst-1/task-1", "accepted": false,
                 "code": 60001, "msg": "actionUrls incomplete error", "log_id": "L1"}
            ]
        });
        let warnings = refused_calls(&summary);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("message/send for inst-1/task-1"));
        assert!(warnings[0].contains("code 60001"));
        assert!(warnings[0].contains("log_id L1"));
        assert!(warnings[1].starts_with("hint: 60001"));
    }
}
