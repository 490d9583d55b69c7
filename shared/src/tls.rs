//! The TLS of every outbound connection the functions make — AWS (Secrets Manager, Lambda,
//! DynamoDB, EventBridge) and Feishu: rustls with the *ring* crypto provider, certificates checked
//! against the system's roots.
//!
//! One crypto provider for both HTTP stacks, and the small one: the AWS SDK's and `reqwest`'s
//! default providers are aws-lc-rs, which made up most of the functions' bootstraps (see the
//! README's Performance section for the sizes). TLS 1.2 and 1.3 with X25519 and the NIST curves,
//! as every AWS endpoint and Feishu offer; no post-quantum key share.

use std::sync::Arc;

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls_platform_verifier::BuilderVerifierExt;

/// The AWS configuration loader of the functions and tools: the standard environment (credentials,
/// region, endpoint overrides), with the HTTP client of [`aws_http_client`].
pub fn aws_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(aws_http_client())
}

/// The HTTPS client of the AWS SDK clients: the SDK's default client (connection settings, sleep
/// and proxy from the environment, as `default-https-client` builds it) on rustls with *ring*.
pub fn aws_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The rustls configuration of the Feishu client: *ring*, certificates checked by the platform
/// verifier (the system's roots), as `reqwest` would by default.
pub(crate) fn feishu_tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_platform_verifier()?
    .with_no_client_auth())
}
