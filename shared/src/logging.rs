//! The functions' log subscriber, configured by Lambda's logging controls as
//! `lambda_runtime::tracing::init_default_subscriber` reads them: JSON lines when
//! `AWS_LAMBDA_LOG_FORMAT=JSON` (as template.yaml sets), else plain text; no timestamps (Lambda
//! adds its own) and no targets.
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` when it is a level, else INFO.
//! It applies to the bridge's own crates ([`BRIDGE_TARGETS`]); every other crate (the AWS SDK,
//! hyper, rustls, …) is capped at INFO whatever that level: their DEBUG and TRACE lines may
//! quote the requests and answers they carry — items with approvers' comments, secret values.
//! `RUST_LOG` may also name levels per target (`aws_smithy_runtime=debug,approval_sync=trace`),
//! matched by prefix: an explicit target directive is the one way to lift the cap, for a
//! local investigation. Filtering is by level and target only ([`Targets`]): `tracing-subscriber`'s
//! `EnvFilter` (span and field directives) brings a regular-expression engine into every
//! bootstrap, which the functions' log lines never need.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the subscriber, writing to standard output.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// Installs the subscriber, writing to `writer` (a sink in benchmarks, a buffer in tests).
/// Does nothing when a global subscriber is installed already.
pub fn init_with_writer<W>(writer: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let var = |name| std::env::var(name).ok();
    let filter = filter(
        var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        var("RUST_LOG").as_deref(),
    );
    let format = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(writer);
    let registry = tracing_subscriber::registry().with(filter);
    // A second installation (tests, benchmarks) fails and keeps the first subscriber.
    let _ = if var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        registry.with(format.json()).try_init()
    } else {
        registry.with(format).try_init()
    };
}

/// The crates (tracing target prefixes) whose lines follow the configured level.
pub const BRIDGE_TARGETS: [&str; 3] = ["feishu_bridge", "approval_callback", "approval_sync"];

/// The filter for Lambda's level (`AWS_LAMBDA_LOG_LEVEL`) and `RUST_LOG`; a blank variable counts
/// as unset. A level that does not parse (Lambda's `FATAL`, a typo) means INFO; a `RUST_LOG`
/// directive that does not parse is ignored. The level applies to [`BRIDGE_TARGETS`]; other
/// targets get at most INFO unless a `RUST_LOG` directive names them.
pub fn filter<'a>(lambda_level: Option<&'a str>, rust_log: Option<&'a str>) -> Targets {
    let set = |value: Option<&'a str>| value.filter(|value| !value.trim().is_empty());
    let default = set(lambda_level)
        .or(set(rust_log))
        .and_then(|level| LevelFilter::from_str(level.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let per_target = rust_log
        .into_iter()
        .flat_map(|directives| directives.split(','))
        .filter_map(|directive| {
            let (target, level) = directive.split_once('=')?;
            let target = target.trim();
            let level = LevelFilter::from_str(level.trim()).ok()?;
            (!target.is_empty()).then(|| (target.to_owned(), level))
        });
    let bridge = BRIDGE_TARGETS.map(|target| (target.to_owned(), default));
    Targets::new()
        .with_default(default.min(LevelFilter::INFO))
        .with_targets(bridge)
        .with_targets(per_target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn allows(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn lambdas_level_comes_first_then_rust_log_then_info() {
        let lambda = filter(Some("DEBUG"), Some("error"));
        assert!(allows(&lambda, "approval_sync", Level::DEBUG));
        assert!(!allows(&lambda, "approval_sync", Level::TRACE));

        let rust_log = filter(None, Some("warn"));
        assert!(allows(&rust_log, "approval_sync", Level::WARN));
        assert!(!allows(&rust_log, "approval_sync", Level::INFO));

        let neither = filter(None, None);
        assert!(allows(&neither, "approval_sync", Level::INFO));
        assert!(!allows(&neither, "approval_sync", Level::DEBUG));
    }

    #[test]
    fn other_crates_are_capped_at_info_whatever_the_bridges_level() {
        for level in ["DEBUG", "TRACE"] {
            let filter = filter(Some(level), None);
            for bridge in [
                "feishu_bridge::secrets",
                "approval_sync::handler",
                "approval_callback",
            ] {
                assert!(allows(&filter, bridge, Level::DEBUG), "{level} {bridge}");
            }
            for other in [
                "aws_smithy_runtime::client",
                "hyper_util::client",
                "aws_config",
                "rustls",
            ] {
                assert!(allows(&filter, other, Level::INFO), "{level} {other}");
                assert!(!allows(&filter, other, Level::DEBUG), "{level} {other}");
            }
        }
        let quiet = filter(Some("INFO"), Some("aws_smithy_runtime=debug"));
        assert!(allows(&quiet, "aws_smithy_runtime::client", Level::DEBUG));
        assert!(!allows(&quiet, "hyper_util::client", Level::DEBUG));
    }

    #[test]
    fn an_unknown_or_blank_level_means_info() {
        for level in ["FATAL", "loud", "", "  "] {
            let filter = filter(Some(level), None);
            assert!(allows(&filter, "approval_sync", Level::INFO), "{level}");
            assert!(!allows(&filter, "approval_sync", Level::DEBUG), "{level}");
        }
    }

    #[test]
    fn rust_log_sets_levels_per_target_prefix_and_skips_what_does_not_parse() {
        let filter = filter(
            Some("WARN"),
            Some("aws_smithy_runtime=debug, approval_sync::handler=trace,broken=loud,=info"),
        );
        assert!(allows(&filter, "aws_smithy_runtime::client", Level::DEBUG));
        assert!(allows(&filter, "approval_sync::handler", Level::TRACE));
        assert!(!allows(&filter, "approval_sync::plan", Level::INFO));
        assert!(allows(&filter, "broken", Level::WARN));
        assert!(!allows(&filter, "broken", Level::INFO));
    }
}
