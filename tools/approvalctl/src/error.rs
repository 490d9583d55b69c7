//! Why a command failed, its exit code, and the report printed on standard error: the cause chain,
//! Feishu's code, msg and log_id when Feishu answered, and a hint for the codes integrators meet
//! most. No variant carries a secret, a ciphertext or a decrypted body.

use std::error::Error as _;
use std::fmt::Write as _;
use std::process::ExitCode;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError;
use feishu_bridge::client::{ApiFailure, ClientConfigError, FeishuError};
use feishu_bridge::crypto::DecryptError;
use feishu_bridge::models::instance::InstanceError;
use feishu_bridge::secrets::SecretError;

/// Exit code of a failed command.
const FAILURE: u8 = 1;
/// Exit code of a usage error (clap uses the same).
const USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file or standard input could not be read.
    #[error("cannot read {input}")]
    ReadInput {
        /// The file name, or "standard input".
        input: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not JSON; the position is in the input.
    #[error("{input} is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// The file name, or "standard input".
        input: String,
        /// 1-based line of the first problem.
        line: usize,
        /// 1-based column of the first problem.
        column: usize,
    },
    /// The input is JSON but not an external instance (a field has the wrong type or is missing).
    #[error("{input} is not an external instance: at `{path}`: {problem}")]
    InstanceShape {
        /// The file name, or "standard input".
        input: String,
        /// Where in the document, e.g. `task_list[0].create_time`.
        path: String,
        /// What is wrong there.
        problem: String,
    },
    /// The instance breaks a rule Feishu enforces.
    #[error("{input} is not a valid external instance")]
    InvalidInstance {
        /// The file name, or "standard input".
        input: String,
        /// The broken rule.
        #[source]
        source: InstanceError,
    },
    /// The input is neither `{"encrypt": "…"}` nor bare base64 text.
    #[error("{input} is neither {{\"encrypt\": \"…\"}} nor a bare base64 ciphertext")]
    NotACiphertext {
        /// The file name, or "standard input".
        input: String,
    },
    /// The ciphertext could not be decrypted.
    #[error("cannot decrypt {input}")]
    Decrypt {
        /// The file name, or "standard input".
        input: String,
        /// Why.
        #[source]
        source: DecryptError,
    },
    /// The app credentials could not be loaded.
    #[error("could not load the app credentials")]
    Credentials(#[source] SecretError),
    /// The Feishu client could not be configured.
    #[error("cannot set up the Feishu client")]
    ClientConfig(#[source] ClientConfigError),
    /// A Feishu call failed.
    #[error("{action} failed")]
    Feishu {
        /// What was being done, e.g. "registering the approval definition".
        action: &'static str,
        /// Why.
        #[source]
        source: FeishuError,
    },
    /// The HTTP client for posting callbacks could not be built.
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// The callback could not be posted or its answer not read.
    #[error("posting the callback to {url} failed")]
    CallbackTransport {
        /// The callback URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The callback endpoint answered with a status other than 200.
    #[error(
        "the callback endpoint answered HTTP {status}; Feishu treats anything but 200 as a failure"
    )]
    CallbackStatus {
        /// The HTTP status.
        status: u16,
    },
    /// A request body could not be serialized (it is built from strings and numbers only).
    #[error("cannot serialize the {0}")]
    Encode(&'static str),
    /// The sync function could not be invoked.
    #[error("invoking the sync function `{function}` failed")]
    Invoke {
        /// The function name or ARN.
        function: String,
        /// The AWS SDK error.
        #[source]
        source: Box<SdkError<InvokeError>>,
    },
    /// The sync function ran and failed.
    #[error("the sync function `{function}` failed: {error_type}: {error_message}")]
    FunctionFailed {
        /// The function name or ARN.
        function: String,
        /// Lambda's `errorType`, e.g. `FeishuRejected`.
        error_type: String,
        /// Lambda's `errorMessage`.
        error_message: String,
    },
    /// The failure queue could not be read or changed.
    #[error("could not {action} the failure queue {queue_url}")]
    Queue {
        /// What was being done, e.g. "receive messages from".
        action: &'static str,
        /// The queue URL.
        queue_url: String,
        /// The AWS SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `redrive` left jobs in the failure queue (each was printed with its reason).
    #[error("{0} job(s) stayed in the failure queue")]
    JobsStayed(usize),
    /// The sync function's answer is not the JSON it documents.
    #[error("the sync function `{function}` answered with {problem}")]
    FunctionAnswer {
        /// The function name or ARN.
        function: String,
        /// What was wrong.
        problem: &'static str,
    },
    /// The instance table could not be read.
    #[error("could not read the instance table {table}")]
    Store {
        /// The table name.
        table: String,
        /// Why.
        #[source]
        source: feishu_bridge::store::StoreError,
    },
    /// The table holds no records of the instance.
    #[error("table {table} holds no records of instance {instance_id}")]
    UnknownInstance {
        /// The instance.
        instance_id: String,
        /// The table name.
        table: String,
    },
    /// `inspect` found Feishu out of sync with the records (the report was printed).
    #[error("instance {instance_id} is out of sync with Feishu ({differences} difference(s))")]
    OutOfSync {
        /// The instance.
        instance_id: String,
        /// How many differences the report lists.
        differences: usize,
    },
}

impl CliError {
    /// The process exit code: 2 for a configuration the user must fix on the command line or in
    /// the environment before anything is sent, 1 for every other failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::ClientConfig(ClientConfigError::InvalidBaseUrl(_)) => USAGE,
            _ => FAILURE,
        })
    }

    /// The report printed on standard error: the error and its causes, Feishu's details, hints.
    pub fn report(&self) -> String {
        let mut report = format!("error: {self}\n");
        let mut source = self.source();
        while let Some(cause) = source {
            // Writing to a String cannot fail.
            let _ = writeln!(report, "  caused by: {cause}");
            source = cause.source();
        }
        let mut codes = Vec::new();
        match self {
            Self::Feishu { source, .. } => {
                report.push_str(&feishu_details(source));
                codes.extend(source.code());
                if source.http_status().is_none() {
                    report.push_str(
                        "hint: Feishu did not answer; check the network and --base-url / \
                         FEISHU_BASE_URL or --domain / FEISHU_DOMAIN\n",
                    );
                }
            }
            Self::Invoke { .. } => report.push_str(
                "hint: the Lambda endpoint, region and credentials come from the AWS environment; \
                 for `cargo lambda watch` set AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:<port>, \
                 AWS_REGION and any AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n",
            ),
            Self::Queue { .. } => report.push_str(
                "hint: the SQS endpoint, region and credentials come from the AWS environment \
                 (AWS_ENDPOINT_URL_SQS for a local queue); reading needs sqs:ReceiveMessage, \
                 sqs:DeleteMessage and sqs:ChangeMessageVisibility (and kms:Decrypt with a \
                 customer-managed key)\n",
            ),
            Self::FunctionFailed { error_message, .. } => {
                codes.extend(codes_in(error_message));
            }
            Self::Store { .. } => report.push_str(
                "hint: the DynamoDB endpoint, region and credentials come from the AWS \
                 environment (AWS_ENDPOINT_URL_DYNAMODB for a local table); reading needs \
                 dynamodb:GetItem and dynamodb:Query on the table\n",
            ),
            Self::Decrypt {
                source: DecryptError::Padding,
                ..
            } => report.push_str(
                "hint: the key must be the definition's action_callback_key, used as is\n",
            ),
            _ => {}
        }
        for hint in codes.into_iter().filter_map(hint) {
            let _ = writeln!(report, "hint: {hint}");
        }
        report
    }
}

/// Feishu's code, msg, log_id, HTTP status and rejected fields, one per line.
fn feishu_details(error: &FeishuError) -> String {
    let mut details = String::new();
    if let Some(code) = error.code() {
        let _ = writeln!(details, "  Feishu code: {code}");
    }
    if let Some(failure) = api_failure(error) {
        let _ = writeln!(details, "  Feishu msg:  {}", failure.msg);
    }
    let _ = writeln!(
        details,
        "  log_id:      {}",
        error.log_id().unwrap_or("(none)")
    );
    if let Some(status) = error.http_status() {
        let _ = writeln!(details, "  HTTP status: {status}");
    }
    if let Some(failure) = api_failure(error) {
        for violation in &failure.field_violations {
            let _ = writeln!(
                details,
                "  rejected field: {} {}",
                violation.field.as_deref().unwrap_or("?"),
                violation.description.as_deref().unwrap_or("")
            );
        }
    }
    details
}

/// The failure Feishu reported, also when it was the last attempt before a deadline.
fn api_failure(error: &FeishuError) -> Option<&ApiFailure> {
    match error {
        FeishuError::Api(failure) => Some(failure),
        FeishuError::DeadlineExceeded {
            last: Some(last), ..
        } => api_failure(last),
        _ => None,
    }
}

/// Feishu codes with a hint that occur as whole numbers in `text` (e.g. a sync function error).
pub fn codes_in(text: &str) -> Vec<i64> {
    let mut codes: Vec<i64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|number| number.parse().ok())
        .filter(|code| hint(*code).is_some())
        .collect();
    codes.dedup();
    codes
}

/// What to check when Feishu answers with `code`.
pub fn hint(code: i64) -> Option<&'static str> {
    Some(match code {
        99991663 => {
            "99991663: Feishu did not accept the tenant access token. Check FEISHU_APP_ID / \
             FEISHU_APP_SECRET (or the secret named by FEISHU_APP_SECRET_ID), that --domain matches \
             the app's platform (Feishu or Lark), and that the app has the approval scopes \
             (Feishu also answers this code for some missing permissions)"
        }
        10003 | 10014 => {
            "the app id or app secret was not accepted: check FEISHU_APP_ID / FEISHU_APP_SECRET \
             (or the secret named by FEISHU_APP_SECRET_ID) and --domain"
        }
        1390002 => {
            "1390002 approval code not found: instances must be pushed with the approval code \
             Feishu returned from `approvalctl register`, not the custom code passed to it"
        }
        1390001 => {
            "1390001 param is invalid: every @i18n@ key needs a text in the default locale, group \
             code and group name go together, support_pc and support_mobile cannot both be false; \
             Feishu's msg names the problem"
        }
        60001 => {
            "60001: a bot card field is missing or invalid (Feishu's msg names it): \
             approval_name, title_user_id, summaries, and all four action URLs are required"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use feishu_bridge::models::envelope::FieldViolation;

    use super::*;

    fn refusal(code: i64) -> CliError {
        CliError::Feishu {
            action: "registering the approval definition",
            source: FeishuError::from(ApiFailure {
                path: "/open-apis/approval/v4/external_approvals",
                status: 400,
                code,
                msg: "param is invalid".to_owned(),
                log_id: Some("20261121LOG".to_owned()),
                field_violations: vec![FieldViolation {
                    field: Some("external".to_owned()),
                    value: None,
                    description: Some("is required".to_owned()),
                }],
                permission_violations: Vec::new(),
            }),
        }
    }

    #[test]
    fn a_feishu_refusal_reports_code_msg_log_id_fields_and_hint() {
        let report = refusal(1390001).report();
        assert!(report.starts_with("error: registering the approval definition failed\n"));
        assert!(report.contains("Feishu code: 1390001"), "{report}");
        assert!(report.contains("Feishu msg:  param is invalid"), "{report}");
        assert!(report.contains("log_id:      20261121LOG"), "{report}");
        assert!(
            report.contains("rejected field: external is required"),
            "{report}"
        );
        assert!(report.contains("hint: 1390001"), "{report}");
        assert_eq!(refusal(1390001).exit_code(), ExitCode::from(FAILURE));
    }

    #[test]
    fn every_documented_code_has_a_hint_and_others_none() {
        for code in [99991663, 1390002, 1390001, 60001, 10014] {
            assert!(hint(code).is_some(), "{code}");
        }
        assert!(hint(0).is_none());
        assert!(
            refusal(4242)
                .report()
                .lines()
                .all(|l| !l.starts_with("hint"))
        );
    }

    #[test]
    fn codes_are_found_in_a_sync_function_error_message() {
        let message = "Feishu external_instances for inst-1 failed: Feishu /open-apis/approval/v4/external_instances failed with code 1390002 (\"approval code not found\", HTTP 400), log_id 42";
        assert_eq!(codes_in(message), vec![1390002]);
        let report = CliError::FunctionFailed {
            function: "approval-sync".to_owned(),
            error_type: "FeishuRejected".to_owned(),
            error_message: message.to_owned(),
        }
        .report();
        assert!(report.contains("FeishuRejected"), "{report}");
        assert!(report.contains("hint: 1390002"), "{report}");
    }

    #[test]
    fn an_invalid_base_url_is_a_usage_error() {
        let error = CliError::ClientConfig(ClientConfigError::InvalidBaseUrl("x".to_owned()));
        assert_eq!(error.exit_code(), ExitCode::from(USAGE));
    }
}
