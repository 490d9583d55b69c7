//! Pointing the AWS SDK, or a child process's, at a local AWS endpoint (moto, `cargo lambda
//! watch`) with fake credentials and a fixed region, so nothing reaches a real account or the
//! instance metadata service.

/// The fake access key id and secret access key used against local AWS emulators.
pub const FAKE_AWS_CREDENTIAL: &str = "testing";

/// The region every local AWS endpoint is addressed with.
pub const AWS_REGION: &str = "us-east-1";

/// An AWS SDK configuration that sends every service to `endpoint_url` with fake credentials
/// and region `us-east-1`. Credentials and region are explicit, so the SDK never asks the
/// instance metadata service (169.254.169.254).
pub async fn aws_sdk_config(endpoint_url: &str) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        FAKE_AWS_CREDENTIAL,
        FAKE_AWS_CREDENTIAL,
        None,
        None,
        "testkit",
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(AWS_REGION))
        .credentials_provider(credentials)
        .endpoint_url(endpoint_url)
        .load()
        .await
}

/// Environment variables that point a child process's AWS SDK at `endpoint_url` with fake
/// credentials, region `us-east-1`, and the instance metadata service disabled.
pub fn aws_env(endpoint_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint_url.to_owned()),
        ("AWS_REGION", AWS_REGION.to_owned()),
        ("AWS_DEFAULT_REGION", AWS_REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", FAKE_AWS_CREDENTIAL.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", FAKE_AWS_CREDENTIAL.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}
