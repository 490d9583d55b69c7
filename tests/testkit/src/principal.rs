//! [`MotoPrincipal`]: an IAM identity in moto with its own credentials, so that a test can act
//! as two different principals. moto's SQS (through `moto_server.py`) reports each message's
//! `SenderId` as the sending principal's unique id, as SQS does.
//!
//! moto's IAM and STS are called through their Query APIs directly (this crate has no IAM SDK);
//! moto checks no signature, and finds the service in the credential scope of the
//! `Authorization` header.

use aws_credential_types::Credentials;

use crate::{AWS_REGION, MotoServer};

/// The account moto puts every resource in.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// An IAM identity moto issued credentials to.
#[derive(Debug, Clone)]
pub struct MotoPrincipal {
    /// The identity's unique id: a role's `RoleId` (`AROA…`) or a user's `UserId` (`AIDA…`).
    pub unique_id: String,
    /// What SQS reports as `SenderId` for its messages: `<role id>:<session>` for a role
    /// session, the user id for a user.
    pub sender_id: String,
    /// Its credentials.
    pub credentials: Credentials,
}

impl MotoServer {
    /// Creates role `role_name` (trusting Lambda, as an execution role does) and assumes it
    /// with session `session_name`, as Lambda does to run a function.
    ///
    /// # Panics
    /// If moto refuses either call.
    pub async fn role_session(&self, role_name: &str, session_name: &str) -> MotoPrincipal {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let created = self
            .query(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("Version", "2010-05-08"),
                    ("RoleName", role_name),
                    ("AssumeRolePolicyDocument", trust),
                ],
            )
            .await;
        let role_arn = format!("arn:aws:iam::{MOTO_ACCOUNT}:role/{role_name}");
        let assumed = self
            .query(
                "sts",
                &[
                    ("Action", "AssumeRole"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", &role_arn),
                    ("RoleSessionName", session_name),
                ],
            )
            .await;
        MotoPrincipal {
            unique_id: element(&created, "RoleId"),
            sender_id: element(&assumed, "AssumedRoleId"),
            credentials: Credentials::new(
                element(&assumed, "AccessKeyId"),
                element(&assumed, "SecretAccessKey"),
                Some(element(&assumed, "SessionToken")),
                None,
                "moto-role-session",
            ),
        }
    }

    /// Creates IAM user `user_name` with an access key.
    ///
    /// # Panics
    /// If moto refuses either call.
    pub async fn user(&self, user_name: &str) -> MotoPrincipal {
        let created = self
            .query(
                "iam",
                &[
                    ("Action", "CreateUser"),
                    ("Version", "2010-05-08"),
                    ("UserName", user_name),
                ],
            )
            .await;
        let key = self
            .query(
                "iam",
                &[
                    ("Action", "CreateAccessKey"),
                    ("Version", "2010-05-08"),
                    ("UserName", user_name),
                ],
            )
            .await;
        let user_id = element(&created, "UserId");
        MotoPrincipal {
            unique_id: user_id.clone(),
            sender_id: user_id,
            credentials: Credentials::new(
                element(&key, "AccessKeyId"),
                element(&key, "SecretAccessKey"),
                None,
                None,
                "moto-user",
            ),
        }
    }

    /// An AWS SDK configuration aimed at this server with `principal`'s credentials.
    pub async fn sdk_config_as(&self, principal: &MotoPrincipal) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(AWS_REGION))
            .credentials_provider(principal.credentials.clone())
            .endpoint_url(self.endpoint_url())
            .load()
            .await
    }

    /// Environment variables that make a child process's AWS SDK act as `principal` against
    /// this server.
    pub fn aws_env_as(&self, principal: &MotoPrincipal) -> Vec<(&'static str, String)> {
        let mut env = self.aws_env();
        for (name, value) in &mut env {
            match *name {
                "AWS_ACCESS_KEY_ID" => *value = principal.credentials.access_key_id().to_owned(),
                "AWS_SECRET_ACCESS_KEY" => {
                    *value = principal.credentials.secret_access_key().to_owned();
                }
                _ => {}
            }
        }
        if let Some(token) = principal.credentials.session_token() {
            env.push(("AWS_SESSION_TOKEN", token.to_owned()));
        }
        env
    }

    /// POSTs a Query API call to `service` and returns the XML answer.
    async fn query(&self, service: &str, parameters: &[(&str, &str)]) -> String {
        let body: Vec<String> = parameters
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect();
        let response = reqwest::Client::new()
            .post(self.endpoint_url())
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/{AWS_REGION}/{service}/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto's {service} cannot be reached: {error}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "moto's {service} answered {status}: {text}"
        );
        text
    }
}

/// The text of the first `<name>` element of `xml`.
fn element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .map(|at| at + open.len())
        .unwrap_or_else(|| panic!("no <{name}> in moto's answer: {xml}"));
    let end = xml[start..]
        .find(&format!("</{name}>"))
        .unwrap_or_else(|| panic!("<{name}> is not closed in moto's answer: {xml}"));
    xml[start..start + end].to_owned()
}

/// `text` for an `application/x-www-form-urlencoded` body.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
