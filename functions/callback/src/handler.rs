//! The quick-approval callback handler (`feishu-api.md` §2): authenticate the callback, turn it
//! into a typed decision, hand it off durably, and answer in the form Feishu reads.
//!
//! Order of checks, and why: the body is parsed before anything secret is touched; then the
//! callback is authenticated before any of its fields is typed: an encrypted body is decrypted to
//! a JSON object (every failure — base64, length, padding, UTF-8, not an object — gives the same
//! answer as a wrong token, so the endpoint is no padding or parsing oracle) and its token
//! checked. Only an authenticated callback may get an answer that names a field.
//!
//! During a rotation of the callback token and key, a callback authenticates under the current
//! pair or the previous one (whichever it was made with); the answer and the metrics say which
//! (`CallbackPair`), so the operator sees when the previous pair is no longer used.
//!
//! Once the decision is typed it becomes a decision job: its delivery id is the digest of the
//! callback's (decrypted) body, so a replayed body is the same delivery
//! ([`feishu_bridge::callback::delivery_id`]), and it carries the proof that this function made
//! it ([`feishu_bridge::handoff`], under the current pair's key), without which the sync step
//! refuses it. It is handed off and, when the service reads records, looked up
//! ([`crate::lookup`]) at the same time. Success (200) or a stale tap (409) is answered only
//! after the hand-off accepted the decision: a refused tap is still handed off, so the sync step
//! records the refusal, publishes its event and brings the card to its real state.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lambda_events::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use feishu_bridge::callback::{
    ApprovalDecision, CallbackBody, CallbackError, CallbackToken, RawCallback, delivery_id,
};
use feishu_bridge::crypto::{CallbackCipher, DecryptError};
use feishu_bridge::handoff::{HandoffKey, HandoffKeys};
use feishu_bridge::job::{DecisionJob, SyncJob};
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{
    CallbackCredentialSource, CallbackCredentials, CallbackPair, PairInUse, SecretError,
};

use feishu_bridge::store::InstanceReader;

use crate::handoff::{Handoff, HandoffError};
use crate::lookup::{LookupOutcome, NoRecords, StaleTap, look_up, lookup_budget};

/// Largest body accepted; a real callback is a few KiB at most.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The success answer. Feishu documents no success body (only "HTTP 200 is success"); this is the
/// conventional Open Platform envelope.
const SUCCESS_BODY: &str = r#"{"code":0,"msg":"success"}"#;

/// What the callback function needs to answer one callback: its credentials, the hand-off and,
/// optionally, the instance records it looks taps up in (`R`; none by default).
#[derive(Debug)]
pub struct CallbackService<H, R = NoRecords> {
    credentials: CallbackCredentialSource,
    secrets: Mutex<Option<Arc<CallbackSecrets>>>,
    handoff: H,
    records: Option<R>,
    deadline: Duration,
}

/// The token checks, ciphers and hand-off key derived from one [`CallbackCredentials`] value.
///
/// Keyed by the identity of the `Arc` they were derived from: the credential source hands out the
/// same `Arc` until it reloads the secret, so they are re-derived once per reload and never per
/// request. Holding the `Arc` keeps its address from being reused by a later value.
struct CallbackSecrets {
    derived_from: Arc<CallbackCredentials>,
    /// The current pair first, then the previous one during a rotation.
    pairs: Vec<PairSecrets>,
    /// The current pair's hand-off key: every job is proven with it.
    handoff: HandoffKey,
}

/// The token check and cipher of one callback pair.
struct PairSecrets {
    in_use: PairInUse,
    token: CallbackToken,
    cipher: Option<CallbackCipher>,
}

impl PairSecrets {
    fn derive(in_use: PairInUse, pair: &CallbackPair) -> Self {
        Self {
            in_use,
            token: CallbackToken::from(&pair.token),
            cipher: pair
                .key
                .as_ref()
                .map(|key| CallbackCipher::new(key.expose())),
        }
    }

    /// Whether `presented` is this pair's token (constant time; absent never matches).
    fn verify(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|presented| self.token.verify(presented))
    }
}

impl CallbackSecrets {
    fn derive(credentials: Arc<CallbackCredentials>) -> Self {
        Self {
            pairs: credentials
                .pairs()
                .map(|(in_use, pair)| PairSecrets::derive(in_use, &pair))
                .collect(),
            handoff: HandoffKeys::new(&credentials).signing_key().clone(),
            derived_from: credentials,
        }
    }

    /// The pairs callbacks come encrypted under.
    fn keyed(&self) -> impl Iterator<Item = (&PairSecrets, &CallbackCipher)> {
        self.pairs
            .iter()
            .filter_map(|pair| Some((pair, pair.cipher.as_ref()?)))
    }

    /// The pairs callbacks come in plaintext under.
    fn keyless(&self) -> impl Iterator<Item = &PairSecrets> {
        self.pairs.iter().filter(|pair| pair.cipher.is_none())
    }
}

impl fmt::Debug for CallbackSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSecrets")
            .field("pairs", &self.pairs.len())
            .field("encrypted", &self.keyed().count())
            .finish_non_exhaustive()
    }
}

impl<H: Handoff> CallbackService<H> {
    /// A service that reads the callback token and key from `credentials`, hands decisions to
    /// `handoff`, and answers every callback within `deadline`, without looking taps up.
    pub fn new(credentials: CallbackCredentialSource, handoff: H, deadline: Duration) -> Self {
        Self {
            credentials,
            secrets: Mutex::new(None),
            handoff,
            records: None,
            deadline,
        }
    }

    /// The same service, looking every decision up in `records` (`None`: no look-up) before it
    /// answers; each look-up within [`lookup_budget`] of the deadline.
    pub fn with_records<R: InstanceReader>(self, records: Option<R>) -> CallbackService<H, R> {
        CallbackService {
            credentials: self.credentials,
            secrets: self.secrets,
            handoff: self.handoff,
            records,
            deadline: self.deadline,
        }
    }
}

impl<H: Handoff, R: InstanceReader> CallbackService<H, R> {
    /// The hand-off decisions go to.
    pub fn handoff(&self) -> &H {
        &self.handoff
    }

    /// Loads the credentials and derives the token check and cipher from them, as the first
    /// callback would (see [`crate::warm`]).
    pub(crate) async fn load_credentials(&self) -> Result<(), SecretError> {
        self.secrets().await.map(drop)
    }

    /// The token check and cipher for the current credentials, re-derived only when the
    /// credential source has reloaded them.
    async fn secrets(&self) -> Result<Arc<CallbackSecrets>, SecretError> {
        let credentials = self.credentials.get().await?;
        let mut cached = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        match cached.as_ref() {
            Some(secrets) if Arc::ptr_eq(&secrets.derived_from, &credentials) => {
                Ok(Arc::clone(secrets))
            }
            _ => Ok(Arc::clone(
                cached.insert(Arc::new(CallbackSecrets::derive(credentials))),
            )),
        }
    }
}

/// Why a callback was not accepted. Each variant maps to one HTTP status and one message shown to
/// the approver (see the table in this crate's README). No variant holds a token, key, ciphertext
/// or decrypted text, so the whole error chain is safe to log.
#[derive(Debug, thiserror::Error)]
pub enum CallbackFailure {
    /// Not a POST (405).
    #[error("method {0} is not allowed; callbacks are POSTed")]
    MethodNotAllowed(Method),
    /// The event says its body is base64 but it is not (400). API Gateway encodes bodies itself,
    /// so this is a broken event, not a callback.
    #[error("the event's body is flagged base64 but is not valid base64")]
    BodyNotBase64,
    /// The body exceeds [`MAX_BODY_BYTES`] (413); it is not parsed.
    #[error("body of {0} bytes exceeds the {MAX_BODY_BYTES}-byte limit")]
    TooLarge(usize),
    /// The body is not a JSON object, or its `encrypt` is not a string (422).
    #[error("malformed callback body")]
    Malformed(#[source] CallbackError),
    /// The encrypted body did not decrypt to a JSON object (401, like a wrong token).
    #[error("encrypted callback could not be decrypted")]
    Undecryptable(#[source] UndecryptableBody),
    /// A plaintext body although a callback key is configured (for every configured pair): a
    /// downgrade, refused (401).
    #[error("plaintext callback refused: a callback key is configured, so Feishu encrypts")]
    PlaintextRefused,
    /// The token is missing or wrong (401).
    #[error("callback token is missing or does not match")]
    BadToken,
    /// An encrypted body but no callback key configured (401, like any callback that cannot be
    /// authenticated; its own outcome, since it means the secret lacks `callback_key`).
    #[error("encrypted callback received but no callback key is configured (set callback_key)")]
    EncryptionNotConfigured,
    /// The authenticated callback lacks a field the decision needs, or a field has the wrong
    /// type or value (422).
    #[error("callback does not carry a valid decision")]
    InvalidDecision(#[source] CallbackError),
    /// The callback token and key could not be loaded (503).
    #[error("callback credentials are unavailable")]
    CredentialsUnavailable(#[source] SecretError),
    /// The callback token and key were still loading when the deadline passed (503): nothing was
    /// handed off.
    #[error("callback credentials did not load within the deadline of {0:?}")]
    CredentialsTimedOut(Duration),
    /// The sync function did not accept the decision (503): the approver should retry.
    #[error("hand-off to the sync function failed")]
    HandoffFailed(#[source] HandoffError),
    /// The internal deadline passed during the hand-off (504).
    #[error("internal deadline of {0:?} exceeded")]
    DeadlineExceeded(Duration),
}

/// Why an encrypted body is undecryptable. Every cause gets the same answer as a wrong token.
#[derive(Debug, thiserror::Error)]
pub enum UndecryptableBody {
    /// Base64, length, padding or UTF-8.
    #[error(transparent)]
    Cipher(#[from] DecryptError),
    /// The plaintext is not a JSON object.
    #[error("decrypted callback is not a JSON object")]
    NotAnObject,
}

/// Shown for every authentication failure, whatever its cause.
const UNAUTHORIZED_MESSAGE: &str =
    "Callback verification failed. Please contact the administrator.";
/// Shown when the approver only needs to try again.
const RETRY_MESSAGE: &str = "Temporarily unavailable. Please try again.";

impl CallbackFailure {
    /// The HTTP status answered. Every failure of a callback is above 400, the range in which
    /// Feishu shows `message` to the approver; only a broken event (not from Feishu) gets 400.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyNotBase64 => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Malformed(_) | Self::InvalidDecision(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Undecryptable(_)
            | Self::PlaintextRefused
            | Self::BadToken
            | Self::EncryptionNotConfigured => StatusCode::UNAUTHORIZED,
            Self::CredentialsUnavailable(_)
            | Self::CredentialsTimedOut(_)
            | Self::HandoffFailed(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The short text Feishu shows the approver. Authentication failures share one text so the
    /// answer reveals nothing about why.
    pub fn message(&self) -> String {
        match self {
            Self::MethodNotAllowed(_) => "Method not allowed.".to_owned(),
            Self::BodyNotBase64 => "Bad request: the body is not valid base64.".to_owned(),
            Self::TooLarge(_) => "Request too large.".to_owned(),
            Self::Malformed(error) | Self::InvalidDecision(error) => {
                format!("Invalid callback: {error}. Please contact the administrator.")
            }
            Self::Undecryptable(_)
            | Self::PlaintextRefused
            | Self::BadToken
            | Self::EncryptionNotConfigured => UNAUTHORIZED_MESSAGE.to_owned(),
            Self::CredentialsUnavailable(_)
            | Self::CredentialsTimedOut(_)
            | Self::HandoffFailed(_) => RETRY_MESSAGE.to_owned(),
            Self::DeadlineExceeded(_) => "Timed out. Please try again.".to_owned(),
        }
    }

    /// A stable label for logs and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::BodyNotBase64 => "body_not_base64",
            Self::TooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
            Self::Undecryptable(_) => "undecryptable",
            Self::PlaintextRefused => "plaintext_refused",
            Self::BadToken => "bad_token",
            Self::EncryptionNotConfigured => "encryption_not_configured",
            Self::InvalidDecision(_) => "invalid_decision",
            Self::CredentialsUnavailable(_) => "credentials_unavailable",
            Self::CredentialsTimedOut(_) => "credentials_timed_out",
            Self::HandoffFailed(_) => "handoff_failed",
            Self::DeadlineExceeded(_) => "deadline_exceeded",
        }
    }

    /// The answer Feishu reads: `{"message", "without_prefix"}`.
    fn into_response(self) -> CallbackResponse {
        CallbackResponse {
            status: self.status(),
            body: shown_message(&self.message()),
            allow_post: matches!(self, Self::MethodNotAllowed(_)),
        }
    }
}

/// The body of an answer above 400 whose `message` Feishu shows the approver (`feishu-api.md`
/// §2.5). Feishu's doc types `without_prefix` as a string ("true"/"false"), so it is sent as the
/// string "true", not the JSON boolean (which type Feishu accepts is unconfirmed).
fn shown_message(message: &str) -> String {
    serde_json::json!({ "message": message, "without_prefix": "true" }).to_string()
}

/// The status of a stale tap: the decision conflicts with the task's or the instance's state.
const STALE_TAP_STATUS: StatusCode = StatusCode::CONFLICT;

/// How one callback ended, for its answer, log line and metrics.
#[derive(Debug)]
pub enum Outcome {
    /// Handed off; answered 200.
    Accepted,
    /// Handed off, and the look-up found a tap that can never succeed; answered 409 with the
    /// tap's text. Not a failure: the sync step records the refusal.
    StaleTap(StaleTap),
    /// Not accepted (see [`CallbackFailure`]).
    Failed(CallbackFailure),
}

impl Outcome {
    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Accepted => StatusCode::OK,
            Self::StaleTap(_) => STALE_TAP_STATUS,
            Self::Failed(failure) => failure.status(),
        }
    }

    /// A stable label for logs and metrics: `accepted`, `stale_tap`, or the failure's.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::StaleTap(_) => "stale_tap",
            Self::Failed(failure) => failure.outcome(),
        }
    }

    /// The failure, when the callback was not accepted.
    pub fn failure(&self) -> Option<&CallbackFailure> {
        match self {
            Self::Failed(failure) => Some(failure),
            Self::Accepted | Self::StaleTap(_) => None,
        }
    }

    fn into_response(self) -> CallbackResponse {
        match self {
            Self::Accepted => CallbackResponse::success(),
            Self::StaleTap(stale) => CallbackResponse {
                status: STALE_TAP_STATUS,
                body: shown_message(stale.message()),
                allow_post: false,
            },
            Self::Failed(failure) => failure.into_response(),
        }
    }
}

/// One callback request, as the function's event delivers it.
#[derive(Debug, Clone, Copy)]
pub struct CallbackRequest<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// The body as the event carries it: text, or base64 when `body_is_base64`.
    pub body: &'a str,
    /// Whether `body` is base64 (API Gateway's `isBase64Encoded`).
    pub body_is_base64: bool,
    /// The invocation's request id (Lambda's, else API Gateway's), for the log line and the
    /// metrics. The job's delivery id is the body's digest instead (a replay is the same one).
    pub request_id: Option<&'a str>,
    /// The X-Ray trace id of the invocation, for the metrics document.
    pub trace_id: Option<&'a str>,
}

/// The answer to one callback: always JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: String,
    /// Whether to send `Allow: POST` (the answer to another method).
    pub allow_post: bool,
}

impl CallbackResponse {
    fn success() -> Self {
        Self {
            status: StatusCode::OK,
            body: SUCCESS_BODY.to_owned(),
            allow_post: false,
        }
    }
}

/// What one callback did, for its log line. Lives outside the deadline so a timed-out callback
/// still logs the decision it carried.
struct Trail {
    received_at: UnixMillis,
    job: Option<SyncJob>,
    lookup: Option<LookupOutcome>,
    /// The pair the callback authenticated under.
    pair: Option<PairInUse>,
}

impl Trail {
    fn decision(&self) -> Option<&ApprovalDecision> {
        self.job.as_ref().and_then(decision_of)
    }

    fn delivery_id(&self) -> Option<&str> {
        match &self.job {
            Some(SyncJob::Decision(job)) => job.delivery_id.as_deref(),
            _ => None,
        }
    }
}

/// The decision a job carries.
fn decision_of(job: &SyncJob) -> Option<&ApprovalDecision> {
    match job {
        SyncJob::Decision(job) => Some(&job.decision),
        _ => None,
    }
}

/// Answers one callback: HTTP 200 `{"code":0,"msg":"success"}` once the decision has been handed
/// off, 409 with the approver's text when it was handed off but the look-up found a tap that can
/// never succeed, otherwise the [`CallbackFailure`]'s status and message. Never fails and never
/// panics.
pub async fn handle_callback<H: Handoff, R: InstanceReader>(
    service: &CallbackService<H, R>,
    request: &CallbackRequest<'_>,
) -> CallbackResponse {
    let started = Instant::now();
    let mut trail = Trail {
        received_at: UnixMillis::now(),
        job: None,
        lookup: None,
        pair: None,
    };
    let deadline = tokio::time::Instant::from_std(started) + service.deadline;
    let outcome = match accept(service, request, deadline, &mut trail).await {
        Ok(()) => match &trail.lookup {
            Some(LookupOutcome::Refused(stale)) => Outcome::StaleTap(stale.clone()),
            _ => Outcome::Accepted,
        },
        Err(failure) => Outcome::Failed(failure),
    };
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    log_outcome(request, &trail, &outcome, latency_us);
    crate::metrics::record_callback(
        request,
        trail.decision(),
        &outcome,
        crate::metrics::Found {
            lookup: trail.lookup.as_ref(),
            pair: trail.pair,
        },
        Duration::from_micros(latency_us),
    );
    outcome.into_response()
}

/// Authenticates the callback and hands its decision off, looking it up meanwhile (the result in
/// `trail.lookup`); `Ok` only once the hand-off accepted it. Only the waits (credentials,
/// hand-off, look-up) can pass `deadline`; everything else is computation.
async fn accept<H: Handoff, R: InstanceReader>(
    service: &CallbackService<H, R>,
    request: &CallbackRequest<'_>,
    deadline: tokio::time::Instant,
    trail: &mut Trail,
) -> Result<(), CallbackFailure> {
    if *request.method != Method::POST {
        return Err(CallbackFailure::MethodNotAllowed(request.method.clone()));
    }
    let body = request_body(request)?;
    // A body that is no JSON object, or an `encrypt` envelope of the wrong shape, is malformed
    // whoever sent it: nothing secret decides that. Anything else waits for authentication.
    let parsed = match CallbackBody::parse(&body) {
        Err(
            error @ (CallbackError::NotJson
            | CallbackError::NotAnObject
            | CallbackError::InvalidField("encrypt")),
        ) => return Err(CallbackFailure::Malformed(error)),
        parsed => parsed,
    };
    let secrets = tokio::time::timeout_at(deadline, service.secrets())
        .await
        .map_err(|_| CallbackFailure::CredentialsTimedOut(service.deadline))?
        .map_err(CallbackFailure::CredentialsUnavailable)?;
    let (decision, delivery_id, pair) = authenticated_decision(parsed, &body, &secrets)?;
    trail.pair = Some(pair);
    let job = DecisionJob {
        decision,
        received_at: trail.received_at,
        delivery_id: Some(delivery_id),
        proof: None,
    };
    let job = secrets
        .handoff
        .sign(job)
        .map_err(|error| CallbackFailure::HandoffFailed(HandoffError::Prove(error)))?;
    let job = &*trail.job.insert(SyncJob::Decision(job));
    let hand_off = async {
        tokio::time::timeout_at(deadline, service.handoff.hand_off(job, deadline))
            .await
            .map_err(|_| CallbackFailure::DeadlineExceeded(service.deadline))?
            .map_err(CallbackFailure::HandoffFailed)
    };
    // At the same time, within its own budget; a failed hand-off answers at once without it.
    let judge = async {
        let (Some(records), Some(decision)) = (&service.records, decision_of(job)) else {
            return Ok(None);
        };
        let budget = lookup_budget(service.deadline);
        let until = deadline.min(tokio::time::Instant::now() + budget);
        Ok(Some(look_up(records, decision, until, budget).await))
    };
    let ((), lookup) = tokio::try_join!(hand_off, judge)?;
    if let Some(LookupOutcome::Failed(error)) = &lookup {
        tracing::warn!(
            error = %ErrorChain(error),
            "looking the decision up failed; answering as without the look-up"
        );
    }
    trail.lookup = lookup;
    Ok(())
}

/// The body's bytes, decoded from base64 when the event says so, within [`MAX_BODY_BYTES`].
fn request_body<'a>(request: &CallbackRequest<'a>) -> Result<Cow<'a, [u8]>, CallbackFailure> {
    let body = if request.body_is_base64 {
        // Refuse before decoding what cannot decode to an acceptable size.
        if request.body.len() > MAX_BODY_BYTES.div_ceil(3) * 4 {
            return Err(CallbackFailure::TooLarge(request.body.len() / 4 * 3));
        }
        Cow::Owned(
            BASE64
                .decode(request.body)
                .map_err(|_| CallbackFailure::BodyNotBase64)?,
        )
    } else {
        Cow::Borrowed(request.body.as_bytes())
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(CallbackFailure::TooLarge(body.len()));
    }
    Ok(body)
}

/// The decision of an authenticated callback, its delivery id (the digest of its body, decrypted
/// when it came encrypted) and the pair it authenticated under. Authentication comes first: the
/// body is decrypted to a JSON object and its token checked before any field is typed, so every
/// answer that names a field comes after the token matched, and every failure before it is one
/// 401. During a rotation each configured pair is tried, the current one first.
fn authenticated_decision(
    parsed: Result<CallbackBody, CallbackError>,
    body: &[u8],
    secrets: &CallbackSecrets,
) -> Result<(ApprovalDecision, String, PairInUse), CallbackFailure> {
    let (callback, pair, plaintext) = match parsed {
        Ok(CallbackBody::Encrypted(ciphertext)) => {
            let (callback, pair, plaintext) = decrypt_under_any_pair(&ciphertext, secrets)?;
            (callback, pair, Cow::Owned(plaintext.into_bytes()))
        }
        Ok(CallbackBody::Plain(callback)) => {
            let pair = keyless_pair(secrets, callback.token())?;
            (callback, pair, Cow::Borrowed(body))
        }
        Err(error) => {
            let presented = presented_token(body);
            keyless_pair(secrets, presented.as_deref())?;
            return Err(CallbackFailure::InvalidDecision(error));
        }
    };
    let decision = callback
        .into_decision()
        .map_err(CallbackFailure::InvalidDecision)?;
    Ok((decision, delivery_id(&plaintext), pair))
}

/// The pair without a key whose token `presented` is: a plaintext body is taken only under a
/// pair that has no key (else it is a downgrade).
fn keyless_pair(
    secrets: &CallbackSecrets,
    presented: Option<&str>,
) -> Result<PairInUse, CallbackFailure> {
    let mut keyless = secrets.keyless().peekable();
    if keyless.peek().is_none() {
        return Err(CallbackFailure::PlaintextRefused);
    }
    keyless
        .find(|pair| pair.verify(presented))
        .map(|pair| pair.in_use)
        .ok_or(CallbackFailure::BadToken)
}

/// Decrypts `ciphertext` under the first pair whose key turns it into a JSON object carrying that
/// pair's token: its fields, the pair, and the plaintext. A failure is the current pair's (the
/// first tried), every one of them the same 401 but for an authenticated object whose fields do
/// not type, which is named.
fn decrypt_under_any_pair(
    ciphertext: &str,
    secrets: &CallbackSecrets,
) -> Result<(RawCallback, PairInUse, String), CallbackFailure> {
    let mut first_failure = None;
    for (pair, cipher) in secrets.keyed() {
        let failure = match cipher.decrypt(ciphertext) {
            Ok(plaintext) => match RawCallback::parse(&plaintext) {
                Ok(callback) if pair.verify(callback.token()) => {
                    return Ok((callback, pair.in_use, plaintext));
                }
                Ok(_) => CallbackFailure::BadToken,
                Err(CallbackError::NotJson | CallbackError::NotAnObject) => {
                    CallbackFailure::Undecryptable(UndecryptableBody::NotAnObject)
                }
                Err(error) if pair.verify(presented_token(plaintext.as_bytes()).as_deref()) => {
                    return Err(CallbackFailure::InvalidDecision(error));
                }
                Err(_) => CallbackFailure::BadToken,
            },
            Err(error) => CallbackFailure::Undecryptable(error.into()),
        };
        first_failure.get_or_insert(failure);
    }
    Err(first_failure.unwrap_or(CallbackFailure::EncryptionNotConfigured))
}

/// The token a callback object presents, read past whatever else it holds (its other fields
/// may not type).
fn presented_token(object: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct PresentedToken {
        token: Option<String>,
    }
    serde_json::from_slice::<PresentedToken>(object)
        .ok()
        .and_then(|object| object.token)
}

/// One log line per callback: ids of the decision (never its token, comment or context), the
/// outcome and the latency. Server-side failures log at error level, refusals at warn.
fn log_outcome(request: &CallbackRequest<'_>, trail: &Trail, outcome: &Outcome, latency_us: u64) {
    let request_id = request.request_id;
    let delivery_id = trail.delivery_id();
    let pair = trail.pair.map(PairInUse::as_str);
    let decision = trail.decision();
    let approval_code = decision.map(|decision| decision.approval_code.as_str());
    let instance_id = decision.and_then(|decision| decision.instance_id.as_deref());
    let task_id = decision.and_then(|decision| decision.task_id.as_deref());
    let action = decision.map(|decision| decision.action.as_str());
    let lookup = trail.lookup.as_ref().map(LookupOutcome::label);
    macro_rules! log_at {
        ($level:expr, $outcome:expr, $status:expr, $error:expr, $message:literal) => {
            tracing::event!(
                $level,
                request_id,
                delivery_id,
                pair,
                approval_code,
                instance_id,
                task_id,
                action,
                lookup,
                outcome = $outcome,
                status = $status,
                latency_us,
                error = $error,
                $message
            )
        };
    }
    match outcome {
        Outcome::Accepted => log_at!(
            tracing::Level::INFO,
            outcome.label(),
            200u16,
            None::<&str>,
            "callback accepted"
        ),
        Outcome::StaleTap(stale) => log_at!(
            tracing::Level::INFO,
            outcome.label(),
            STALE_TAP_STATUS.as_u16(),
            Some(stale.reason()),
            "callback handed off; the tap is stale"
        ),
        Outcome::Failed(failure) => {
            let status = failure.status();
            let error = tracing::field::display(ErrorChain(failure));
            if status.is_server_error() {
                log_at!(
                    tracing::Level::ERROR,
                    failure.outcome(),
                    status.as_u16(),
                    Some(error),
                    "callback failed"
                );
            } else {
                log_at!(
                    tracing::Level::WARN,
                    failure.outcome(),
                    status.as_u16(),
                    Some(error),
                    "callback refused"
                );
            }
        }
    }
}

/// Displays an error and its sources as `error: source: source`.
struct ErrorChain<'a>(&'a dyn Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
