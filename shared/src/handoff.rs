//! The hand-off proof: how the sync function knows a decision job was made by the callback
//! function from a verified tap, and not by anyone else allowed to invoke it.
//!
//! The callback function signs every decision job it hands off; the sync function accepts a
//! decision job only with a proof that verifies, checked before it reads or writes anything.
//!
//! - **Proof**: `"v1:" + base64url(HMAC-SHA256(K, canonical bytes))` (no padding, 43
//!   characters after the prefix), in the job's `proof` field.
//! - **Canonical bytes** ([`canonical_bytes`]): the JSON serialization of the typed
//!   [`DecisionJob`] without its proof — `serde_json` writes the fields in declaration order,
//!   `None` and empty fields left out — so verifying is: parse the job, serialize it again
//!   without the proof, compute the HMAC, compare in constant time
//!   ([`hmac::Mac::verify_slice`]). Whitespace or number-versus-string differences in the wire
//!   form do not matter; any change of meaning does. The golden vector in this module's tests
//!   pins this form: a change of the job's serialization must bump the proof's version.
//! - **Key** ([`HandoffKey::derive`]): derived from the callback token and key both functions
//!   already read, so no new secret is needed:
//!   `K = HMAC-SHA256(key = "feishu-approval-bridge/handoff-proof/v1",
//!   msg = u64be(len(token)) ‖ token ‖ u64be(len(key)) ‖ key)` with `key = ""` when no callback
//!   key is configured. (That is HKDF-SHA256's extract step with the label as salt; the one
//!   32-byte output is used as is.) Only roles that can read the callback secret can make it.
//! - **Rotation**: the callback signs with the current pair's key; the sync function accepts a
//!   proof under the current or the previous pair's key ([`HandoffKeys`]) while the previous
//!   pair is kept in the secret.
//!
//! Pure: no I/O; the callers load the credentials.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::job::DecisionJob;
use crate::secrets::{CallbackCredentials, CallbackPair, PairInUse};

/// The version prefix of the proofs made now (with its `:`).
const PROOF_PREFIX: &str = "v1:";

/// The label the key derivation is keyed with (see the module docs).
const KEY_LABEL: &[u8] = b"feishu-approval-bridge/handoff-proof/v1";

/// Bytes of an HMAC-SHA256 tag.
const TAG_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 instance keyed with `key`.
fn hmac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// The key proofs are made with, derived from one callback token and key pair. `Debug` shows
/// nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct HandoffKey([u8; TAG_BYTES]);

impl HandoffKey {
    /// The key of the pair `callback_token`, `callback_key` (see the module docs).
    pub fn derive(callback_token: &str, callback_key: Option<&str>) -> Self {
        let mut mac = hmac(KEY_LABEL);
        for part in [callback_token, callback_key.unwrap_or_default()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Self(mac.finalize().into_bytes().into())
    }

    /// The key of `pair`.
    pub fn of_pair(pair: &CallbackPair) -> Self {
        Self::derive(
            pair.token.expose(),
            pair.key.as_ref().map(|key| key.expose()),
        )
    }

    /// The proof of `job` under this key (any proof the job carries is left out of it).
    pub fn prove(&self, job: &DecisionJob) -> Result<String, ProofError> {
        let mut mac = hmac(&self.0);
        mac.update(&canonical_bytes(job)?);
        let tag = mac.finalize().into_bytes();
        Ok(format!("{PROOF_PREFIX}{}", URL_SAFE_NO_PAD.encode(tag)))
    }

    /// `job` with its proof under this key.
    pub fn sign(&self, mut job: DecisionJob) -> Result<DecisionJob, ProofError> {
        job.proof = Some(self.prove(&job)?);
        Ok(job)
    }

    /// Whether `tag` is the HMAC of `canonical` under this key, compared in constant time.
    fn verifies(&self, canonical: &[u8], tag: &[u8]) -> bool {
        let mut mac = hmac(&self.0);
        mac.update(canonical);
        mac.verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for HandoffKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandoffKey(<redacted>)")
    }
}

/// The keys proofs are checked with: the current pair's, and the previous pair's during a
/// rotation.
#[derive(Debug, Clone)]
pub struct HandoffKeys {
    current: HandoffKey,
    previous: Option<HandoffKey>,
}

impl HandoffKeys {
    /// The keys of the configured callback pairs.
    pub fn new(credentials: &CallbackCredentials) -> Self {
        Self {
            current: HandoffKey::of_pair(&credentials.current()),
            previous: credentials
                .previous_callback
                .as_ref()
                .map(HandoffKey::of_pair),
        }
    }

    /// The key new proofs are made with: the current pair's.
    pub fn signing_key(&self) -> &HandoffKey {
        &self.current
    }

    /// Checks the proof `job` carries; `Ok` names the pair whose key it verified under.
    pub fn verify(&self, job: &DecisionJob) -> Result<PairInUse, ProofError> {
        let proof = job.proof.as_deref().ok_or(ProofError::Missing)?;
        let encoded = proof
            .strip_prefix(PROOF_PREFIX)
            .ok_or(ProofError::Malformed)?;
        let mut tag = [0_u8; TAG_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(encoded, &mut tag) {
            Ok(TAG_BYTES) => {}
            _ => return Err(ProofError::Malformed),
        }
        let canonical = canonical_bytes(job)?;
        if self.current.verifies(&canonical, &tag) {
            return Ok(PairInUse::Current);
        }
        match &self.previous {
            Some(previous) if previous.verifies(&canonical, &tag) => Ok(PairInUse::Previous),
            _ => Err(ProofError::Mismatch),
        }
    }
}

/// The bytes a proof is made over: the job's JSON without its proof (see the module docs).
pub fn canonical_bytes(job: &DecisionJob) -> Result<Vec<u8>, ProofError> {
    let encoded = match job.proof {
        None => serde_json::to_vec(job),
        Some(_) => serde_json::to_vec(&DecisionJob {
            proof: None,
            ..job.clone()
        }),
    };
    encoded.map_err(|_| ProofError::Encode)
}

/// Why a decision job's proof does not hold. Variants say what is wrong, never what the job or
/// the proof holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The job has no proof (it was not made by the callback function, or by a version before
    /// proofs).
    #[error("the decision job carries no proof that the callback function made it")]
    Missing,
    /// The proof is not `v1:` and a 32-byte base64url tag.
    #[error("the decision job's proof is malformed")]
    Malformed,
    /// The proof does not verify under the current or the previous callback pair's key: the
    /// job was made or changed by someone else, or under a pair no longer configured.
    #[error("the decision job's proof does not verify under the configured callback keys")]
    Mismatch,
    /// The job could not be serialized.
    #[error("the decision job could not be serialized for its proof")]
    Encode,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::job::SyncJob;
    use crate::secrets::Secret;

    fn job(value: serde_json::Value) -> DecisionJob {
        match serde_json::from_value(value) {
            Ok(SyncJob::Decision(job)) => job,
            other => panic!("not a decision job: {other:?}"),
        }
    }

    /// A job with every field set.
    fn full_job() -> DecisionJob {
        job(json!({
            "type": "decision",
            "approval_code": "A3895051-9B16-4ABA-B785-AD2986177BB1",
            "instance_id": "PO-42",
            "task_id": "cfo",
            "message_id": 7690275278685244603u64,
            "action": "APPROVE",
            "user_id": "b85s39b",
            "reason": "预算已确认 / budget confirmed",
            "action_context": "fab1.eyJpIjoiUE8tNDIiLCJ0IjoiY2ZvIn0",
            "attachments": [{
                "file_type": "IMAGE", "file_size": 12345, "file_name": "1.png",
                "url": "https://example.invalid/1.png"
            }],
            "received_at": 1795248912345u64,
            "delivery_id": "b:n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sT4HqnGk"
        }))
    }

    fn credentials(previous: Option<(&str, Option<&str>)>) -> CallbackCredentials {
        CallbackCredentials {
            callback_token: Secret::new("golden-token"),
            callback_key: Some(Secret::new("golden-key")),
            previous_callback: previous.map(|(token, key)| CallbackPair {
                token: Secret::new(token),
                key: key.map(Secret::new),
            }),
        }
    }

    /// The canonical form and the proof of a fixed job under a fixed pair (the proof
    /// cross-checked with Python's `hmac` following the module docs). If this test fails, proofs
    /// made by a running callback function no longer verify after a deploy: bump the proof's
    /// version instead of changing these values.
    #[test]
    fn golden_vector() {
        let job = full_job();
        assert_eq!(
            String::from_utf8(canonical_bytes(&job).unwrap()).unwrap(),
            concat!(
                r#"{"approval_code":"A3895051-9B16-4ABA-B785-AD2986177BB1","#,
                r#""instance_id":"PO-42","task_id":"cfo","message_id":"7690275278685244603","#,
                r#""action":"APPROVE","user_id":"b85s39b","reason":"预算已确认 / budget confirmed","#,
                r#""action_context":"fab1.eyJpIjoiUE8tNDIiLCJ0IjoiY2ZvIn0","#,
                r#""attachments":[{"file_type":"IMAGE","file_size":12345,"file_name":"1.png","#,
                r#""url":"https://example.invalid/1.png"}],"received_at":"1795248912345","#,
                r#""delivery_id":"b:n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sT4HqnGk"}"#
            )
        );
        let key = HandoffKeys::new(&credentials(None));
        assert_eq!(
            key.signing_key().prove(&job).unwrap(),
            "v1:Xrcy0vGBA_XVAX7mVVOFlRk2Gg-XkOpKdg7aXnRGLHA"
        );
        let no_key = HandoffKey::derive("golden-token", None);
        assert_ne!(&no_key, key.signing_key(), "the key is part of the pair");
    }

    #[test]
    fn a_signed_job_verifies_and_any_change_breaks_it() {
        let keys = HandoffKeys::new(&credentials(None));
        let signed = keys.signing_key().sign(full_job()).unwrap();
        assert_eq!(keys.verify(&signed), Ok(PairInUse::Current));
        // The wire form may differ in whitespace and number typing: the meaning is signed.
        let mut wire = serde_json::to_value(SyncJob::Decision(signed.clone())).unwrap();
        wire["received_at"] = json!(1795248912345u64);
        assert_eq!(keys.verify(&job(wire)), Ok(PairInUse::Current));

        let changes: [fn(&mut DecisionJob); 6] = [
            |job| job.decision.user_id = "someone-else".to_owned(),
            |job| job.decision.action = crate::models::ActionType::Reject,
            |job| job.decision.task_id = Some("ceo".to_owned()),
            |job| job.delivery_id = Some("another".to_owned()),
            |job| job.decision.reason = None,
            |job| job.received_at = crate::models::time::UnixMillis::from_millis(1),
        ];
        for change in changes {
            let mut forged = signed.clone();
            change(&mut forged);
            assert_eq!(
                keys.verify(&forged),
                Err(ProofError::Mismatch),
                "{forged:?}"
            );
        }
    }

    #[test]
    fn missing_malformed_and_foreign_proofs_are_refused() {
        let keys = HandoffKeys::new(&credentials(None));
        assert_eq!(keys.verify(&full_job()), Err(ProofError::Missing));
        let signed = keys.signing_key().sign(full_job()).unwrap();
        let tag = signed.proof.clone().unwrap();
        for proof in [
            String::new(),
            "v1:".to_owned(),
            tag.replace("v1:", "v2:"),
            tag.replace("v1:", ""),
            format!("{tag}AA"),
            tag[..tag.len() - 2].to_owned(),
            format!("{tag}="),
        ] {
            let mut job = signed.clone();
            job.proof = Some(proof.clone());
            assert_eq!(keys.verify(&job), Err(ProofError::Malformed), "{proof}");
        }
        let other = HandoffKey::derive("another-token", Some("golden-key"));
        let foreign = other.sign(full_job()).unwrap();
        assert_eq!(keys.verify(&foreign), Err(ProofError::Mismatch));
    }

    #[test]
    fn during_a_rotation_proofs_under_the_previous_pair_verify_until_it_is_dropped() {
        let old = HandoffKeys::new(&CallbackCredentials {
            callback_token: Secret::new("old-token"),
            callback_key: None,
            previous_callback: None,
        });
        let made_before = old.signing_key().sign(full_job()).unwrap();
        let rotating = HandoffKeys::new(&credentials(Some(("old-token", None))));
        assert_eq!(rotating.verify(&made_before), Ok(PairInUse::Previous));
        let made_after = rotating.signing_key().sign(full_job()).unwrap();
        assert_eq!(rotating.verify(&made_after), Ok(PairInUse::Current));
        let rotated = HandoffKeys::new(&credentials(None));
        assert_eq!(rotated.verify(&made_before), Err(ProofError::Mismatch));
        assert_eq!(rotated.verify(&made_after), Ok(PairInUse::Current));
    }

    #[test]
    fn keys_and_errors_show_nothing_secret() {
        let keys = HandoffKeys::new(&credentials(Some(("old-token", Some("old-key")))));
        let debug = format!("{keys:?}");
        assert!(
            !debug.contains("golden") && !debug.contains("old-"),
            "{debug}"
        );
        for error in [
            ProofError::Missing,
            ProofError::Malformed,
            ProofError::Mismatch,
        ] {
            assert!(!error.to_string().contains("b85s39b"));
        }
    }
}
