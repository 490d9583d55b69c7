//! [`check_emf_document`]: checks a JSON document against the structure the CloudWatch Embedded
//! Metric Format specification requires, so tests of every metrics producer catch a document that
//! CloudWatch Logs would silently not turn into metrics.

use std::collections::HashSet;

use serde_json::Value;

/// Units the specification allows in a metric definition.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `document` against the EMF specification's structure: a root object whose `_aws`
/// member holds an integer `Timestamp` and a non-empty `CloudWatchMetrics` array of directives;
/// each directive has a `Namespace` (1–255 characters), `Dimensions` (sets of at most 30 names,
/// each naming a root member whose value is a non-empty string of at most 1024 characters) and
/// `Metrics` (at most 100 definitions, each with a `Name` naming a root member that is a number or
/// an array of at most 100 numbers, and an optional known `Unit`). Returns every violation found.
pub fn check_emf_document(document: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(root) = document.as_object() else {
        return Err(vec!["the document is not a JSON object".to_owned()]);
    };
    let Some(metadata) = root.get("_aws").and_then(Value::as_object) else {
        return Err(vec!["no `_aws` object".to_owned()]);
    };
    if !metadata.get("Timestamp").is_some_and(Value::is_u64) {
        problems.push("`_aws.Timestamp` is not a non-negative integer".to_owned());
    }
    let directives = match metadata.get("CloudWatchMetrics").and_then(Value::as_array) {
        Some(directives) if !directives.is_empty() => directives.as_slice(),
        _ => {
            problems.push("`_aws.CloudWatchMetrics` is not a non-empty array".to_owned());
            &[]
        }
    };
    for (index, directive) in directives.iter().enumerate() {
        let at = format!("directive {index}");
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(namespace) if (1..=255).contains(&namespace.chars().count()) => {}
            _ => problems.push(format!(
                "{at}: `Namespace` is not a string of 1 to 255 characters"
            )),
        }
        match directive.get("Dimensions").and_then(Value::as_array) {
            None => problems.push(format!("{at}: `Dimensions` is not an array")),
            Some(sets) => {
                for set in sets {
                    check_dimension_set(root, set, &at, &mut problems);
                }
            }
        }
        match directive.get("Metrics").and_then(Value::as_array) {
            Some(metrics) if metrics.len() <= 100 => {
                let mut seen = HashSet::new();
                for metric in metrics {
                    check_metric(root, metric, &at, &mut seen, &mut problems);
                }
            }
            _ => problems.push(format!("{at}: `Metrics` is not an array of at most 100")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check_dimension_set(
    root: &serde_json::Map<String, Value>,
    set: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    let Some(names) = set.as_array().filter(|names| names.len() <= 30) else {
        problems.push(format!(
            "{at}: a dimension set is not an array of at most 30 names"
        ));
        return;
    };
    for name in names {
        let Some(name) = name.as_str() else {
            problems.push(format!("{at}: a dimension name is not a string"));
            continue;
        };
        match root.get(name).and_then(Value::as_str) {
            Some(value) if (1..=1024).contains(&value.chars().count()) => {}
            _ => problems.push(format!(
                "{at}: dimension `{name}` has no string value of 1 to 1024 characters at the root"
            )),
        }
    }
}

fn check_metric<'a>(
    root: &serde_json::Map<String, Value>,
    metric: &'a Value,
    at: &str,
    seen: &mut HashSet<&'a str>,
    problems: &mut Vec<String>,
) {
    let Some(name) = metric
        .get("Name")
        .and_then(Value::as_str)
        .filter(|name| (1..=255).contains(&name.chars().count()))
    else {
        problems.push(format!(
            "{at}: a metric has no `Name` of 1 to 255 characters"
        ));
        return;
    };
    if !seen.insert(name) {
        problems.push(format!("{at}: metric `{name}` is defined twice"));
    }
    if let Some(unit) = metric.get("Unit")
        && !unit.as_str().is_some_and(|unit| UNITS.contains(&unit))
    {
        problems.push(format!("{at}: metric `{name}` has an unknown unit {unit}"));
    }
    let valid_value = match root.get(name) {
        Some(Value::Number(_)) => true,
        Some(Value::Array(values)) => {
            !values.is_empty() && values.len() <= 100 && values.iter().all(Value::is_number)
        }
        _ => false,
    };
    if !valid_value {
        problems.push(format!(
            "{at}: metric `{name}` has no number or array of 1 to 100 numbers at the root"
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The example document of the EMF specification.
    fn specification_example() -> Value {
        json!({
            "_aws": {
                "Timestamp": 1574109732004u64,
                "CloudWatchMetrics": [{
                    "Namespace": "lambda-function-metrics",
                    "Dimensions": [["functionVersion"]],
                    "Metrics": [{"Name": "time", "Unit": "Milliseconds", "StorageResolution": 60}]
                }]
            },
            "functionVersion": "$LATEST",
            "time": 100,
            "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
        })
    }

    #[test]
    fn the_specification_example_passes() {
        assert_eq!(check_emf_document(&specification_example()), Ok(()));
    }

    #[test]
    fn each_broken_rule_is_reported() {
        let mut document = specification_example();
        document["functionVersion"] = json!(1);
        document["time"] = json!("100");
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Minutes");
        document["_aws"]["Timestamp"] = json!("now");
        let problems = check_emf_document(&document).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(check_emf_document(&json!({"time": 1})).is_err());
    }
}
