//! Fault injection: make the next matching API calls fail the ways Feishu fails (HTTP 500,
//! rate limits, revoked tokens, slow answers, 1395001, answers lost after the request was
//! applied), on demand or at random with a seed.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::routes::TOKEN_PATH;

/// One way to fail a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// HTTP 500 with body code 1.
    #[serde(rename = "http_500")]
    Http500,
    /// HTTP 429, body code 99991400, `x-ogw-ratelimit-limit` / `x-ogw-ratelimit-reset` headers.
    #[serde(rename = "rate_limit")]
    RateLimit,
    /// HTTP 429, body code 99991400, `x-ogw-ratelimit-limit` but no `x-ogw-ratelimit-reset`.
    #[serde(rename = "rate_limit_without_reset")]
    RateLimitWithoutReset,
    /// Body code 99991663 with HTTP 200; every issued token is invalidated.
    #[serde(rename = "token_invalid")]
    TokenInvalid,
    /// Wait `delay_ms`, then answer normally.
    #[serde(rename = "slow")]
    Slow,
    /// HTTP 400, body code 1395001 ("please try again later").
    #[serde(rename = "code_1395001")]
    Code1395001,
    /// The request is applied (stored, sent, updated) and then its answer is lost: over HTTP the
    /// connection closes without a response; in process the response says `answer_lost`.
    #[serde(rename = "answer_lost")]
    AnswerLost,
}

impl FaultKind {
    /// The failures a well-behaved client retries; random mode picks among these by default.
    pub const TRANSIENT: [FaultKind; 4] = [
        FaultKind::Http500,
        FaultKind::RateLimit,
        FaultKind::TokenInvalid,
        FaultKind::Code1395001,
    ];
}

/// Default `count` of a fault rule.
const DEFAULT_COUNT: u32 = 1;
/// Default `reset_secs` of a rate-limit fault.
const DEFAULT_RESET_SECS: u64 = 1;
/// Default `delay_ms` of a slow fault.
const DEFAULT_DELAY_MS: u64 = 800;

/// Fail the next `count` requests to `path` (any API path but the token endpoint when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Exact API path to fault; `None` faults every API path except the token endpoint.
    pub path: Option<String>,
    /// How to fail.
    pub kind: FaultKind,
    /// How many more requests to fail.
    pub count: u32,
    /// `x-ogw-ratelimit-reset` seconds (rate_limit only).
    pub reset_secs: u64,
    /// Delay before answering (slow only).
    pub delay_ms: u64,
}

/// Fail each matching request with `probability`, choosing a kind from `kinds` with a seeded RNG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomFaults {
    /// Exact API path to fault; `None` faults every API path except the token endpoint.
    pub path: Option<String>,
    /// Chance in `[0, 1]` that a request fails.
    pub probability: f64,
    /// RNG seed: the same seed and request sequence give the same faults.
    pub seed: u64,
    /// Kinds to choose from (default: [`FaultKind::TRANSIENT`]).
    pub kinds: Vec<FaultKind>,
    /// `x-ogw-ratelimit-reset` seconds for rate-limit faults.
    pub reset_secs: u64,
    /// Delay for slow faults.
    pub delay_ms: u64,
}

/// A `POST /_sim/faults` body: a counted rule, or random mode (`"kind": "random"`).
///
/// Wire form: `{"kind", "path"?, "count"?, "reset_secs"?, "delay_ms"?}` or
/// `{"kind": "random", "probability", "seed"?, "kinds"?, "path"?, "reset_secs"?, "delay_ms"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FaultCommandWire", into = "FaultCommandWire")]
pub enum FaultCommand {
    /// Add a counted fault rule (rules fire in the order they were added).
    Rule(FaultRule),
    /// Replace the random-fault mode.
    Random(RandomFaults),
}

impl FaultCommand {
    /// A rule failing the next `count` requests to any API path (except the token endpoint).
    pub fn next(kind: FaultKind, count: u32) -> Self {
        Self::Rule(FaultRule {
            path: None,
            kind,
            count,
            reset_secs: DEFAULT_RESET_SECS,
            delay_ms: DEFAULT_DELAY_MS,
        })
    }

    /// A rule failing the next `count` requests to `path`.
    pub fn on_path(path: impl Into<String>, kind: FaultKind, count: u32) -> Self {
        Self::Rule(FaultRule {
            path: Some(path.into()),
            kind,
            count,
            reset_secs: DEFAULT_RESET_SECS,
            delay_ms: DEFAULT_DELAY_MS,
        })
    }
}

/// Why a fault command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultCommandError {
    /// `kind` is not a known fault kind.
    #[error(
        "unknown fault kind {0:?}; expected http_500, rate_limit, rate_limit_without_reset, token_invalid, slow, code_1395001, answer_lost or random"
    )]
    UnknownKind(String),
    /// `count` is zero.
    #[error("count must be at least 1")]
    ZeroCount,
    /// Random mode without a probability in `[0, 1]`.
    #[error("random faults need a probability between 0 and 1")]
    Probability,
    /// Random mode with an empty `kinds` list.
    #[error("random faults need at least one kind")]
    NoKinds,
}

/// The flat JSON form of [`FaultCommand`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FaultCommandWire {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reset_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kinds: Option<Vec<FaultKind>>,
}

impl TryFrom<FaultCommandWire> for FaultCommand {
    type Error = FaultCommandError;

    fn try_from(wire: FaultCommandWire) -> Result<Self, Self::Error> {
        let reset_secs = wire.reset_secs.unwrap_or(DEFAULT_RESET_SECS);
        let delay_ms = wire.delay_ms.unwrap_or(DEFAULT_DELAY_MS);
        if wire.kind == "random" {
            let probability = wire
                .probability
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or(FaultCommandError::Probability)?;
            let kinds = wire.kinds.unwrap_or_else(|| FaultKind::TRANSIENT.to_vec());
            if kinds.is_empty() {
                return Err(FaultCommandError::NoKinds);
            }
            return Ok(Self::Random(RandomFaults {
                path: wire.path,
                probability,
                seed: wire.seed.unwrap_or_default(),
                kinds,
                reset_secs,
                delay_ms,
            }));
        }
        let kind = serde_json::from_value(serde_json::Value::String(wire.kind.clone()))
            .map_err(|_| FaultCommandError::UnknownKind(wire.kind))?;
        let count = wire.count.unwrap_or(DEFAULT_COUNT);
        if count == 0 {
            return Err(FaultCommandError::ZeroCount);
        }
        Ok(Self::Rule(FaultRule {
            path: wire.path,
            kind,
            count,
            reset_secs,
            delay_ms,
        }))
    }
}

impl From<FaultCommand> for FaultCommandWire {
    fn from(command: FaultCommand) -> Self {
        match command {
            FaultCommand::Rule(rule) => Self {
                kind: serde_json::to_value(rule.kind)
                    .ok()
                    .and_then(|kind| kind.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                path: rule.path,
                count: Some(rule.count),
                reset_secs: Some(rule.reset_secs),
                delay_ms: Some(rule.delay_ms),
                ..Self::default()
            },
            FaultCommand::Random(random) => Self {
                kind: "random".to_owned(),
                path: random.path,
                reset_secs: Some(random.reset_secs),
                delay_ms: Some(random.delay_ms),
                probability: Some(random.probability),
                seed: Some(random.seed),
                kinds: Some(random.kinds),
                ..Self::default()
            },
        }
    }
}

/// The fault one request gets: its kind and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// How to fail.
    pub kind: FaultKind,
    /// `x-ogw-ratelimit-reset` seconds (rate_limit only).
    pub reset_secs: u64,
    /// Delay before answering (slow only).
    pub delay_ms: u64,
}

impl Fault {
    /// A fault of `kind` with the default parameters (reset 1 s, delay 800 ms).
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            reset_secs: DEFAULT_RESET_SECS,
            delay_ms: DEFAULT_DELAY_MS,
        }
    }
}

/// What `GET /_sim/faults` shows: pending rules and the random mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultsSnapshot {
    /// Rules that still have requests to fail, in firing order.
    pub rules: Vec<FaultRule>,
    /// The random mode, if on.
    pub random: Option<RandomFaults>,
}

/// Pending fault rules and the random mode.
#[derive(Debug, Default)]
pub(crate) struct FaultBoard {
    rules: VecDeque<FaultRule>,
    random: Option<(RandomFaults, StdRng)>,
}

fn applies_to(target: Option<&str>, path: &str) -> bool {
    target.map_or(path != TOKEN_PATH, |target| target == path)
}

impl FaultBoard {
    /// Adds a rule or replaces the random mode.
    pub(crate) fn apply(&mut self, command: FaultCommand) {
        match command {
            FaultCommand::Rule(rule) => self.rules.push_back(rule),
            FaultCommand::Random(random) => {
                let rng = StdRng::seed_from_u64(random.seed);
                self.random = Some((random, rng));
            }
        }
    }

    /// Removes every rule and turns random mode off.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The fault for one request to the API `path`, consuming one count of the first matching rule;
    /// random mode only applies when no rule matched.
    pub(crate) fn take(&mut self, path: &str) -> Option<Fault> {
        if let Some(index) = self
            .rules
            .iter()
            .position(|rule| applies_to(rule.path.as_deref(), path))
        {
            let rule = self.rules.get_mut(index)?;
            let chosen = Fault {
                kind: rule.kind,
                reset_secs: rule.reset_secs,
                delay_ms: rule.delay_ms,
            };
            rule.count = rule.count.saturating_sub(1);
            if rule.count == 0 {
                self.rules.remove(index);
            }
            return Some(chosen);
        }
        let (random, rng) = self.random.as_mut()?;
        if !applies_to(random.path.as_deref(), path) || rng.random::<f64>() >= random.probability {
            return None;
        }
        let kind = *random.kinds.choose(rng)?;
        Some(Fault {
            kind,
            reset_secs: random.reset_secs,
            delay_ms: random.delay_ms,
        })
    }

    /// The pending rules and random mode.
    pub(crate) fn snapshot(&self) -> FaultsSnapshot {
        FaultsSnapshot {
            rules: self.rules.iter().cloned().collect(),
            random: self.random.as_ref().map(|(random, _)| random.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn command(value: serde_json::Value) -> Result<FaultCommand, String> {
        serde_json::from_value(value).map_err(|error| error.to_string())
    }

    #[test]
    fn parses_rules_with_defaults() {
        let parsed = command(json!({"kind": "rate_limit", "reset_secs": 3}));
        assert_eq!(
            parsed,
            Ok(FaultCommand::Rule(FaultRule {
                path: None,
                kind: FaultKind::RateLimit,
                count: 1,
                reset_secs: 3,
                delay_ms: DEFAULT_DELAY_MS,
            }))
        );
    }

    #[test]
    fn refuses_unknown_kinds_and_bad_probabilities() {
        assert!(command(json!({"kind": "explode"})).is_err());
        assert!(command(json!({"kind": "random", "probability": 1.5})).is_err());
        assert!(command(json!({"kind": "random"})).is_err());
        assert!(command(json!({"kind": "http_500", "count": 0})).is_err());
    }

    #[test]
    fn round_trips_through_the_wire_form() {
        let original = FaultCommand::on_path("/open-apis/x", FaultKind::Code1395001, 2);
        let wire = serde_json::to_value(&original).unwrap_or_default();
        assert_eq!(wire["kind"], "code_1395001");
        assert_eq!(command(wire), Ok(original));
    }

    #[test]
    fn rules_fire_count_times_and_skip_the_token_endpoint_unless_named() {
        let mut board = FaultBoard::default();
        board.apply(FaultCommand::next(FaultKind::Http500, 2));
        assert_eq!(board.take(TOKEN_PATH), None);
        assert!(board.take("/open-apis/a").is_some());
        assert!(board.take("/open-apis/b").is_some());
        assert_eq!(board.take("/open-apis/a"), None);

        board.apply(FaultCommand::on_path(TOKEN_PATH, FaultKind::Http500, 1));
        assert_eq!(board.take("/open-apis/a"), None);
        assert!(board.take(TOKEN_PATH).is_some());
    }

    #[test]
    fn random_mode_is_reproducible_for_a_seed() {
        let run = || {
            let mut board = FaultBoard::default();
            board.apply(FaultCommand::Random(RandomFaults {
                path: None,
                probability: 0.5,
                seed: 42,
                kinds: FaultKind::TRANSIENT.to_vec(),
                reset_secs: 1,
                delay_ms: 1,
            }));
            (0..64)
                .map(|_| board.take("/open-apis/a").map(|fault| fault.kind))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.iter().any(Option::is_some));
        assert!(first.iter().any(Option::is_none));
    }
}
