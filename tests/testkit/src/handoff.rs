//! Decision jobs as the callback function hands them off: with its proof (see
//! `feishu_bridge::handoff`). Tests, benchmarks and the simulation make their decision jobs
//! through these, so the sync function's check of the proof stays on everywhere.

use feishu_bridge::handoff::HandoffKey;
use feishu_bridge::job::{DecisionJob, SyncJob};
use serde_json::Value;

/// `job` signed with the key of the callback pair `callback_token`, `callback_key`, as the
/// callback function signs it (any proof it carried is replaced).
///
/// # Panics
/// If the job cannot be serialized (it always can).
pub fn sign_decision(
    job: DecisionJob,
    callback_token: &str,
    callback_key: Option<&str>,
) -> DecisionJob {
    HandoffKey::derive(callback_token, callback_key)
        .sign(job)
        .unwrap_or_else(|error| panic!("a decision job is signed: {error}"))
}

/// A job given as JSON, signed like [`sign_decision`] when it is a decision job without a
/// proof; any other job — one signed already, or one that does not parse, which the sync
/// function refuses as invalid before it looks at a proof — is returned as it was.
pub fn sign_job(job: Value, callback_token: &str, callback_key: Option<&str>) -> Value {
    if job["type"] != "decision" || job.get("proof").is_some() {
        return job;
    }
    let Ok(SyncJob::Decision(decision)) = serde_json::from_value(job.clone()) else {
        return job;
    };
    let signed = sign_decision(decision, callback_token, callback_key);
    serde_json::to_value(SyncJob::Decision(signed))
        .unwrap_or_else(|error| panic!("a decision job serializes: {error}"))
}

#[cfg(test)]
mod tests {
    use feishu_bridge::handoff::HandoffKeys;
    use feishu_bridge::secrets::{CallbackCredentials, PairInUse, Secret};
    use serde_json::json;

    use super::*;

    #[test]
    fn signed_jobs_verify_as_the_callbacks_do_and_other_jobs_pass_unchanged() {
        let job = json!({
            "type": "decision", "approval_code": "C", "task_id": "t", "action": "APPROVE",
            "user_id": "u", "received_at": "1"
        });
        let signed = sign_job(job, "token", Some("key"));
        let SyncJob::Decision(decision) = serde_json::from_value(signed.clone()).unwrap() else {
            panic!("a decision job");
        };
        let keys = HandoffKeys::new(&CallbackCredentials {
            callback_token: Secret::new("token"),
            callback_key: Some(Secret::new("key")),
            previous_callback: None,
        });
        assert_eq!(keys.verify(&decision), Ok(PairInUse::Current));
        assert_eq!(
            sign_job(signed.clone(), "other", None),
            signed,
            "signed already"
        );
        let instance = json!({"type": "message", "message_id": "1", "status": "APPROVED"});
        assert_eq!(sign_job(instance.clone(), "token", None), instance);
        let invalid = json!({"type": "decision", "task_id": "t"});
        assert_eq!(sign_job(invalid.clone(), "token", None), invalid);
    }
}
