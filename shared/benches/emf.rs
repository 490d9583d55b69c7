//! What metrics cost per request: building the EMF documents and serializing them to the JSON
//! lines written to standard output (the write itself is excluded: it goes to a `Vec`).
//!
//! - `callback_document`: the callback's one document (three dimensions, two directives, seven
//!   properties), as `approval-callback` builds it;
//! - `decision_job_documents`: a decision job's collector after a token refresh, a card update
//!   and an instance push, turned into its job document and two Feishu documents.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use feishu_bridge::metrics::{
    EmfDocument, EmfEmitter, FeishuResult, JobMetrics, JobOutcome, Metric,
};
use feishu_bridge::models::time::UnixMillis;

fn callback_document() -> EmfDocument {
    EmfDocument::new()
        .dimension("Outcome", "accepted")
        .dimension("Status", "200")
        .dimension("StatusClass", "2xx")
        .metrics(
            &[&["Outcome", "Status"], &["Status"], &["StatusClass"]],
            [Metric::count("Callbacks", 1)],
        )
        .metrics(
            &[&[], &["StatusClass"]],
            [Metric::millis(
                "CallbackLatency",
                [Duration::from_micros(2_850)],
            )],
        )
        .property("request_id", "8f5c1f3e-2b7a-4c1d-9e0f-1a2b3c4d5e6f")
        .property("trace_id", "Root=1-5759e988-bd862e3fe1be46a994272793")
        .property("approval_code", "C30381C8-7A5F-4D7E-9B57-6A1C1F1E2A3B")
        .property("instance_id", "PR-2026-0042")
        .property("task_id", "PR-2026-0042-manager")
        .property("message_id", "7690275278685244603")
        .property("action", "APPROVE")
}

fn emf(c: &mut Criterion) {
    let emitter = EmfEmitter::from_lookup(|_| None).expect("the default namespace is valid");
    let mut out = Vec::with_capacity(4096);
    c.bench_function("callback_document", |b| {
        b.iter(|| {
            out.clear();
            emitter
                .write(&[black_box(callback_document())], &mut out)
                .expect("writes to a Vec");
            black_box(out.len())
        })
    });
    c.bench_function("decision_job_documents", |b| {
        b.iter(|| {
            let job = JobMetrics::start("decision");
            job.property("instance_id", "PR-2026-0042");
            job.property("task_id", "PR-2026-0042-manager");
            job.property("request_id", "8f5c1f3e-2b7a-4c1d-9e0f-1a2b3c4d5e6f");
            job.token_refresh();
            job.feishu_call(
                "/open-apis/auth/v3/tenant_access_token/internal",
                FeishuResult::Code(0),
                Duration::from_millis(35),
            );
            job.feishu_call(
                "/open-apis/approval/v1/message/update",
                FeishuResult::Code(0),
                Duration::from_millis(48),
            );
            job.feishu_call(
                "/open-apis/approval/v4/external_instances",
                FeishuResult::Code(0),
                Duration::from_millis(61),
            );
            job.event_published();
            job.decision_applied(UnixMillis::from_millis(1_795_312_345_678));
            out.clear();
            emitter
                .write(&job.finish(JobOutcome::Applied), &mut out)
                .expect("writes to a Vec");
            black_box(out.len())
        })
    });
}

criterion_group!(benches, emf);
criterion_main!(benches);
