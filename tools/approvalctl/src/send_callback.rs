//! `send-callback`: post a quick-approval callback built exactly like Feishu's (`feishu-api.md`
//! §2.2, §2.3) to an endpoint, and show its answer.

use std::time::Duration;

use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::secrets::{CallbackCredentialSource, CallbackCredentials};
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;

use crate::cli::SendCallbackArgs;
use crate::error::CliError;

/// The plaintext callback, with Feishu's field names and order.
#[derive(Debug, Serialize)]
struct CallbackPayload<'a> {
    /// `APPROVE`, `REJECT` or a custom key.
    action_type: &'a str,
    /// Echo of the task's or card's `action_context`.
    #[serde(skip_serializing_if = "Option::is_none")]
    action_context: Option<&'a str>,
    /// The approver.
    user_id: &'a str,
    /// The definition code.
    approval_code: &'a str,
    /// The instance (list and search actions).
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_id: Option<&'a str>,
    /// The task (absent from card actions that carry only the card).
    #[serde(skip_serializing_if = "Option::is_none")]
    task_id: Option<&'a str>,
    /// The bot card (card actions), a bare JSON number as Feishu sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<u64>,
    /// The approver's comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// The definition's `action_callback_token`.
    token: &'a str,
}

/// Runs `send-callback`. Reads only the callback token and key (`FEISHU_CALLBACK_SECRET_ID`, else
/// `FEISHU_CALLBACK_TOKEN` / `FEISHU_CALLBACK_KEY`), as the callback function does.
pub async fn run(args: &SendCallbackArgs) -> Result<(), CliError> {
    let credentials = CallbackCredentialSource::from_env()
        .await
        .map_err(CliError::Credentials)?
        .get()
        .await
        .map_err(CliError::Credentials)?;
    let (body, encrypted) = callback_body(args, &credentials)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(CliError::HttpClient)?;
    eprintln!(
        "POST {} ({}): {} on {}",
        args.url,
        if encrypted { "encrypted" } else { "plaintext" },
        args.action,
        match (&args.task_id, args.message_id) {
            (Some(task_id), _) => format!("task {task_id}"),
            (None, Some(message_id)) => format!("card {message_id}"),
            (None, None) => "no task".to_owned(),
        }
    );
    let transport = |source| CliError::CallbackTransport {
        url: args.url.clone(),
        source,
    };
    let response = http
        .post(&args.url)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    let answer = response.text().await.map_err(transport)?;
    println!("HTTP {status}");
    if !answer.is_empty() {
        println!("{answer}");
    }
    if status == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(CliError::CallbackStatus {
            status: status.as_u16(),
        })
    }
}

/// The request body, and whether it is encrypted: `{"encrypt": …}` with the callback key unless
/// `--plaintext` is given or no key is configured.
fn callback_body(
    args: &SendCallbackArgs,
    credentials: &CallbackCredentials,
) -> Result<(String, bool), CliError> {
    let payload = CallbackPayload {
        action_type: &args.action,
        action_context: args.action_context.as_deref(),
        user_id: &args.user_id,
        approval_code: &args.approval_code,
        instance_id: args.instance_id.as_deref(),
        task_id: args.task_id.as_deref(),
        message_id: args.message_id,
        reason: args.reason.as_deref(),
        token: credentials.callback_token.expose(),
    };
    let plaintext =
        serde_json::to_string(&payload).map_err(|_| CliError::Encode("callback body"))?;
    Ok(match (&credentials.callback_key, args.plaintext) {
        (Some(key), false) => {
            let encrypt = CallbackCipher::new(key.expose()).encrypt(&plaintext);
            (serde_json::json!({ "encrypt": encrypt }).to_string(), true)
        }
        _ => (plaintext, false),
    })
}

#[cfg(test)]
mod tests {
    use feishu_bridge::callback::{CallbackBody, RawCallback};

    use super::*;
    use crate::cli::Command;
    use crate::test_support::{self, credentials};

    fn args(extra: &[&str]) -> SendCallbackArgs {
        let base = [
            "send-callback",
            "--url",
            "http://127.0.0.1:9/cb",
            "--approval-code",
            "A38",
            "--task-id",
            "step1",
            "--action",
            "approve",
            "--user-id",
            "b85s39b",
        ];
        match test_support::command(base.into_iter().chain(extra.iter().copied())) {
            Command::SendCallback(args) => args,
            other => panic!("send-callback expected, got {other:?}"),
        }
    }

    #[test]
    fn a_plaintext_callback_has_feishus_fields_with_a_numeric_message_id() {
        let (body, encrypted) = callback_body(
            &args(&[
                "--message-id",
                "7690275278685244603",
                "--instance-id",
                "people_1234",
                "--reason",
                "ok",
                "--action-context",
                "ctx-1",
            ]),
            &credentials(None).callback(),
        )
        .unwrap();
        assert!(!encrypted);
        assert!(
            body.contains("\"message_id\":7690275278685244603"),
            "{body}"
        );
        // Feishu's field order: action_type first, token last.
        assert!(
            body.starts_with("{\"action_type\":\"APPROVE\",\"action_context\""),
            "{body}"
        );
        assert!(body.ends_with(",\"token\":\"cb-token\"}"), "{body}");
        let CallbackBody::Plain(raw) = CallbackBody::parse(body.as_bytes()).unwrap() else {
            panic!("plaintext expected");
        };
        assert_eq!(raw.token(), Some("cb-token"));
        let decision = raw.into_decision().unwrap();
        assert_eq!(decision.action.as_str(), "APPROVE");
        assert_eq!(decision.task_id.as_deref(), Some("step1"));
        assert_eq!(decision.instance_id.as_deref(), Some("people_1234"));
        assert_eq!(decision.action_context.as_deref(), Some("ctx-1"));
        assert_eq!(decision.reason.as_deref(), Some("ok"));
        assert_eq!(
            decision.message_id.map(|id| id.to_string()).as_deref(),
            Some("7690275278685244603")
        );
    }

    #[test]
    fn with_a_key_everything_including_the_token_is_encrypted() {
        let (body, encrypted) =
            callback_body(&args(&[]), &credentials(Some("cb-key")).callback()).unwrap();
        assert!(encrypted);
        assert!(!body.contains("cb-token"));
        let CallbackBody::Encrypted(ciphertext) = CallbackBody::parse(body.as_bytes()).unwrap()
        else {
            panic!("encrypted expected");
        };
        let plaintext = CallbackCipher::new("cb-key").decrypt(&ciphertext).unwrap();
        let raw = RawCallback::parse(&plaintext).unwrap();
        assert_eq!(raw.token(), Some("cb-token"));
        assert_eq!(raw.user_id.as_deref(), Some("b85s39b"));
    }

    #[test]
    fn plaintext_flag_overrides_the_key() {
        let (body, encrypted) = callback_body(
            &args(&["--plaintext"]),
            &credentials(Some("cb-key")).callback(),
        )
        .unwrap();
        assert!(!encrypted);
        assert!(body.contains("\"token\":\"cb-token\""));
    }
}
