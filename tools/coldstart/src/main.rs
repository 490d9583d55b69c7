//! `coldstart`: the cold-start instrument (see this crate's README).
//!
//! Spawns each release bootstrap under a fake Lambda Runtime API, times its init (spawn → first
//! `GET /next`) and its first answer (event → response), reads its peak RSS, over N runs taken
//! in rounds (every variant once per round), and prints the median and minimum beside a minimal
//! `lambda_http` function built the same way (the floor). Secrets Manager (moto), Lambda's Invoke
//! API (a recording stand-in) and Feishu (the simulator) sit behind delay proxies.

mod proxy;
mod runtime;
mod stand_ins;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use feishu_bridge::crypto::CallbackCipher;
use serde_json::{Value, json};

use crate::proxy::{DelayProxy, Delays};
use crate::runtime::{Measurement, cold_start};
use crate::stand_ins::{
    APP_SECRET_ID, CALLBACK_KEY, CALLBACK_SECRET_ID, CALLBACK_TOKEN, COMBINED_SECRET_ID, LambdaApi,
};

/// Times the cold start of the bridge's release bootstraps against local stand-ins behind delay
/// proxies.
#[derive(Debug, Parser)]
#[command(name = "coldstart")]
struct Cli {
    /// Cold starts per variant.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Added per new connection to an endpoint (the handshake), in milliseconds.
    #[arg(long, default_value_t = 30)]
    connect_ms: u64,
    /// Added per request to an endpoint (the round trip), in milliseconds.
    #[arg(long, default_value_t = 30)]
    request_ms: u64,
    /// Stop the process this long between its init and its first event, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// Let the endpoints close connections idle this long, in milliseconds.
    #[arg(long)]
    idle_close_ms: Option<u64>,
    /// Where the bootstraps are (`cargo build --release` output).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Bootstraps of another build (`approval-callback`, `approval-sync`), measured beside, e.g.
    /// those of the commit before a change. They also get `FEISHU_SECRET_ID`, naming a secret
    /// with all four fields, as builds from before the secret split read.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Only variants whose label contains this.
    #[arg(long)]
    only: Option<String>,
    /// Where the bootstraps' output goes, one file per variant.
    #[arg(long, default_value = ".local/coldstart/logs")]
    logs: PathBuf,
}

/// Which function a variant runs, and so which event it gets and what a right answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Floor,
    Callback,
    Sync,
}

/// Where a variant's credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    Env,
    Secret,
}

struct Variant {
    label: String,
    bootstrap: PathBuf,
    kind: Kind,
    credentials: Credentials,
    runs: Vec<Run>,
}

struct Run {
    measurement: Measurement,
    connections: [usize; 3],
}

/// The stand-ins and their proxies, for one whole session of runs.
struct Endpoints {
    _moto: testkit::MotoServer,
    _sim: feishu_sim::RunningSimulator,
    lambda: LambdaApi,
    secrets_proxy: DelayProxy,
    lambda_proxy: DelayProxy,
    feishu_proxy: DelayProxy,
    app_id: String,
    app_secret: String,
    card: String,
    home: PathBuf,
}

impl Endpoints {
    fn connections(&self) -> [usize; 3] {
        [
            self.secrets_proxy.connections(),
            self.lambda_proxy.connections(),
            self.feishu_proxy.connections(),
        ]
    }

    /// The environment of `variant`, as the template sets it plus the local endpoints.
    fn env(&self, variant: &Variant) -> Vec<(String, String)> {
        let mut env: Vec<(&str, String)> = vec![
            ("AWS_REGION", testkit::AWS_REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", testkit::FAKE_AWS_CREDENTIAL.to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY",
                testkit::FAKE_AWS_CREDENTIAL.to_owned(),
            ),
            ("AWS_SESSION_TOKEN", "coldstart-session".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("HOME", self.home.display().to_string()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.secrets_proxy.url()),
            ("AWS_ENDPOINT_URL_LAMBDA", self.lambda_proxy.url()),
            ("FEISHU_BASE_URL", self.feishu_proxy.url()),
            ("SYNC_FUNCTION_NAME", "approval-sync".to_owned()),
        ];
        match variant.credentials {
            Credentials::Env => env.extend([
                ("FEISHU_APP_ID", self.app_id.clone()),
                ("FEISHU_APP_SECRET", self.app_secret.clone()),
                ("FEISHU_CALLBACK_TOKEN", CALLBACK_TOKEN.to_owned()),
                ("FEISHU_CALLBACK_KEY", CALLBACK_KEY.to_owned()),
            ]),
            Credentials::Secret => env.extend([
                ("FEISHU_APP_SECRET_ID", APP_SECRET_ID.to_owned()),
                ("FEISHU_CALLBACK_SECRET_ID", CALLBACK_SECRET_ID.to_owned()),
                // Read only by builds from before the secret split.
                ("FEISHU_SECRET_ID", COMBINED_SECRET_ID.to_owned()),
            ]),
        }
        env.into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    fn event(&self, kind: Kind) -> Vec<u8> {
        match kind {
            Kind::Floor | Kind::Callback => callback_event(),
            Kind::Sync => json!({"type": "message", "message_id": self.card, "status": "APPROVED"})
                .to_string()
                .into_bytes(),
        }
    }
}

/// An API Gateway HTTP API event carrying an encrypted quick-approval callback, as Feishu sends.
fn callback_event() -> Vec<u8> {
    let callback = json!({
        "action_type": "APPROVE",
        "action_context": "po-1/manager",
        "user_id": "u-approver",
        "approval_code": "A3895051-9B16-4ABA-B785-AD2986177BB1",
        "instance_id": "po-1",
        "task_id": "po-1-manager",
        "message_id": 7690275278685244603u64,
        "reason": "looks right",
        "token": CALLBACK_TOKEN
    });
    let body = json!({"encrypt": CallbackCipher::new(CALLBACK_KEY).encrypt(&callback.to_string())});
    json!({
        "version": "2.0",
        "routeKey": "POST /feishu/approval/callback",
        "rawPath": "/feishu/approval/callback",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": "/feishu/approval/callback", "protocol": "HTTP/1.1",
                     "sourceIp": "101.126.22.81", "userAgent": "Go-http-client/2.0"},
            "requestId": "coldstart-apigw-1",
            "routeKey": "POST /feishu/approval/callback",
            "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 1795996800000u64
        },
        "isBase64Encoded": false,
        "body": body.to_string()
    })
    .to_string()
    .into_bytes()
}

/// Whether `answer` is the variant's success answer.
fn check_answer(kind: Kind, answer: &[u8]) -> Result<(), String> {
    let value: Value = serde_json::from_slice(answer)
        .map_err(|_| format!("not JSON: {}", String::from_utf8_lossy(answer)))?;
    let ok = match kind {
        Kind::Floor | Kind::Callback => value["statusCode"] == 200,
        Kind::Sync => value["job"] == "message",
    };
    if ok {
        Ok(())
    } else {
        Err(format!("not a success: {value}"))
    }
}

fn variants(cli: &Cli) -> Vec<Variant> {
    let mut variants = Vec::new();
    let mut add = |label: String, bootstrap: PathBuf, kind, credentials| {
        variants.push(Variant {
            label,
            bootstrap,
            kind,
            credentials,
            runs: Vec::new(),
        });
    };
    add(
        "floor (minimal lambda_http)".to_owned(),
        cli.bin_dir.join("coldstart-floor"),
        Kind::Floor,
        Credentials::Env,
    );
    let mut builds = vec![(String::new(), cli.bin_dir.clone())];
    if let Some(baseline) = &cli.baseline {
        builds.insert(0, ("baseline ".to_owned(), baseline.clone()));
    }
    for (prefix, dir) in builds {
        for (name, kind) in [
            ("approval-callback", Kind::Callback),
            ("approval-sync", Kind::Sync),
        ] {
            for (credentials, how) in [
                (Credentials::Env, "env credentials"),
                (Credentials::Secret, "Secrets Manager"),
            ] {
                add(
                    format!("{prefix}{name}, {how}"),
                    dir.join(name),
                    kind,
                    credentials,
                );
            }
        }
    }
    variants.retain(|variant| {
        cli.only
            .as_ref()
            .is_none_or(|only| variant.kind == Kind::Floor || variant.label.contains(only))
    });
    variants
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coldstart: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<(), String> {
    let mut variants = variants(cli);
    for variant in &variants {
        if !variant.bootstrap.is_file() {
            return Err(format!(
                "{} not found (build it with `cargo build --release`)",
                variant.bootstrap.display()
            ));
        }
    }
    std::fs::create_dir_all(&cli.logs).map_err(|error| error.to_string())?;
    let endpoints = start_endpoints(cli).await?;
    eprintln!(
        "coldstart: {} runs of {} variants; +{} ms per connection, +{} ms per request{}{}",
        cli.runs,
        variants.len(),
        cli.connect_ms,
        cli.request_ms,
        if cli.pause_ms > 0 {
            format!(", {} ms pause before the first event", cli.pause_ms)
        } else {
            String::new()
        },
        cli.idle_close_ms
            .map(|ms| format!(", idle connections closed after {ms} ms"))
            .unwrap_or_default()
    );
    for round in 0..cli.runs {
        for variant in &mut variants {
            let log = cli.logs.join(format!("{}.log", file_name(&variant.label)));
            let before = endpoints.connections();
            let events_before = endpoints.lambda.events();
            let measurement = cold_start(
                &variant.bootstrap,
                &endpoints.env(variant),
                &endpoints.event(variant.kind),
                Duration::from_millis(cli.pause_ms),
                &log,
            )
            .await
            .map_err(|error| format!("{} (run {}): {error}", variant.label, round + 1))?;
            check_answer(variant.kind, &measurement.answer)
                .map_err(|error| format!("{} (run {}): {error}", variant.label, round + 1))?;
            if variant.kind == Kind::Callback && endpoints.lambda.events() != events_before + 1 {
                return Err(format!(
                    "{} (run {}): answered success without one hand-off",
                    variant.label,
                    round + 1
                ));
            }
            let after = endpoints.connections();
            variant.runs.push(Run {
                measurement,
                connections: [0, 1, 2].map(|index| after[index] - before[index]),
            });
        }
        eprint!(".");
    }
    eprintln!();
    print_table(cli, &variants);
    Ok(())
}

async fn start_endpoints(cli: &Cli) -> Result<Endpoints, String> {
    let delays = Delays {
        connect: Duration::from_millis(cli.connect_ms),
        request: Duration::from_millis(cli.request_ms),
        idle_close: cli.idle_close_ms.map(Duration::from_millis),
    };
    let moto = testkit::MotoServer::start().await;
    let sim_config = feishu_sim::SimConfig::default();
    let (app_id, app_secret) = (sim_config.app_id.clone(), sim_config.app_secret.clone());
    let sim = feishu_sim::Simulator::start(sim_config)
        .await
        .map_err(|error| error.to_string())?;
    stand_ins::seed_secrets(&moto, &app_id, &app_secret).await?;
    let card = stand_ins::seed_card(&sim.base_url(), &app_id, &app_secret).await?;
    let lambda = LambdaApi::start()
        .await
        .map_err(|error| error.to_string())?;
    let proxy = |upstream: String| async move {
        DelayProxy::start(&upstream, delays)
            .await
            .map_err(|error| error.to_string())
    };
    let home = cli.logs.join("home");
    std::fs::create_dir_all(&home).map_err(|error| error.to_string())?;
    Ok(Endpoints {
        secrets_proxy: proxy(moto.endpoint_url()).await?,
        lambda_proxy: proxy(lambda.url()).await?,
        feishu_proxy: proxy(sim.base_url()).await?,
        _moto: moto,
        _sim: sim,
        lambda,
        app_id,
        app_secret,
        card,
        home: std::path::absolute(&home).map_err(|error| error.to_string())?,
    })
}

fn file_name(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The median and the minimum.
fn stats(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    };
    (median, values.first().copied().unwrap_or(f64::NAN))
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn print_table(cli: &Cli, variants: &[Variant]) {
    let column = |variant: &Variant, metric: fn(&Run) -> f64| {
        stats(variant.runs.iter().map(metric).collect())
    };
    let init = |run: &Run| millis(run.measurement.init);
    let answer = |run: &Run| millis(run.measurement.first_answer);
    let total = |run: &Run| millis(run.measurement.total);
    #[expect(clippy::cast_precision_loss, reason = "KiB of a process fit in f64")]
    let rss = |run: &Run| run.measurement.peak_rss_kib as f64 / 1024.0;
    let floor = variants.iter().find(|variant| variant.kind == Kind::Floor);
    let floor_init = floor.map(|floor| column(floor, init).0);
    let floor_total = floor.map(|floor| column(floor, total).0);
    let floor_rss = floor.map(|floor| column(floor, rss).0);
    let delay = cli.connect_ms.max(cli.request_ms);
    println!(
        "| variant | init ms | first answer ms | spawn → answer ms | peak RSS MiB | init ÷ floor | RSS ÷ floor | (spawn → answer − floor) ÷ {delay} ms | connections opened (SM / Lambda / Feishu) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for variant in variants {
        let (init_median, init_min) = column(variant, init);
        let (answer_median, answer_min) = column(variant, answer);
        let (total_median, total_min) = column(variant, total);
        let (rss_median, _) = column(variant, rss);
        let ratio = |value: f64, floor: Option<f64>| {
            floor.map_or_else(|| "—".to_owned(), |floor| format!("{:.1}", value / floor))
        };
        let waits = match (floor_total, delay) {
            (Some(floor), delay) if delay > 0 && variant.kind != Kind::Floor => {
                #[expect(clippy::cast_precision_loss, reason = "milliseconds of a delay")]
                let delay = delay as f64;
                format!("{:.1}", (total_median - floor) / delay)
            }
            _ => "—".to_owned(),
        };
        let connections = {
            let runs = variant.runs.len().max(1);
            let per_run = |index: usize| {
                let sum: usize = variant.runs.iter().map(|run| run.connections[index]).sum();
                #[expect(clippy::cast_precision_loss, reason = "a few connections")]
                let mean = sum as f64 / runs as f64;
                format!("{mean:.1}")
            };
            format!("{} / {} / {}", per_run(0), per_run(1), per_run(2))
        };
        println!(
            "| {} | {init_median:.1} (min {init_min:.1}) | {answer_median:.1} (min {answer_min:.1}) | {total_median:.1} (min {total_min:.1}) | {rss_median:.1} | {} | {} | {waits} | {connections} |",
            variant.label,
            ratio(init_median, floor_init),
            ratio(rss_median, floor_rss),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_the_median_and_the_minimum() {
        assert_eq!(stats(vec![3.0, 1.0, 2.0]), (2.0, 1.0));
        assert_eq!(stats(vec![4.0, 1.0, 3.0, 2.0]), (2.5, 1.0));
    }

    #[test]
    fn only_a_success_answer_counts() {
        assert!(check_answer(Kind::Callback, br#"{"statusCode":200,"body":"{}"}"#).is_ok());
        assert!(check_answer(Kind::Callback, br#"{"statusCode":503}"#).is_err());
        assert!(check_answer(Kind::Sync, br#"{"job":"message","calls":[]}"#).is_ok());
        assert!(check_answer(Kind::Sync, br#"{"errorType":"FeishuRejected"}"#).is_err());
        assert!(check_answer(Kind::Floor, b"not json").is_err());
    }

    #[test]
    fn the_callback_event_carries_a_callback_the_functions_can_decrypt() {
        let event: Value = serde_json::from_slice(&callback_event()).unwrap();
        let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        let plaintext = CallbackCipher::new(CALLBACK_KEY)
            .decrypt(body["encrypt"].as_str().unwrap())
            .unwrap();
        let callback: Value = serde_json::from_str(&plaintext).unwrap();
        assert_eq!(callback["token"], CALLBACK_TOKEN);
    }
}
