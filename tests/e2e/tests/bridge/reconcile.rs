//! Reconciliation end to end: Feishu loses an instance, a reconcile job (as the schedule sends
//! it, but over an explicit window) finds it with `external_instances/check` and pushes it back.

use serde_json::json;

use crate::stack::{Bridge, BridgeOptions, instance_json, now_ms};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_feishu_lost_is_found_and_pushed_back() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let code = bridge.register("E2E_RECONCILE").await;
    let since = now_ms();
    bridge
        .push(
            &instance_json(&code, "po-lost", &["manager", "finance"]),
            false,
        )
        .await;
    bridge
        .push(&instance_json(&code, "po-kept", &["manager"]), false)
        .await;
    let before = bridge.sim.handle().instance("po-lost").expect("pushed");
    bridge
        .sim
        .handle()
        .forget_instance("po-lost")
        .expect("the simulator loses it");
    let window = json!({"type": "reconcile", "since": since.to_string(), "until": (now_ms() + 1).to_string()});

    let (error, summary) = bridge.invoke(&window).await;

    assert_eq!(error, None, "the reconcile job failed: {summary}");
    assert_eq!(summary["job"], "reconcile");
    assert_eq!(
        (summary["changed"].as_u64(), summary["checked"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(summary["in_sync"], 1);
    assert_eq!(summary["missing"], json!(["po-lost"]));
    assert_eq!(summary["repushed"], json!(["po-lost"]));
    let after = bridge
        .sim
        .handle()
        .instance("po-lost")
        .expect("the instance is back in Feishu");
    assert_eq!(
        after.update_time, before.update_time,
        "at the version pushed before"
    );
    assert_eq!(after.status, before.status);
    let tasks = |record: &feishu_sim::InstanceRecord| {
        record
            .tasks
            .iter()
            .map(|task| (task.task_id.clone(), task.status.clone(), task.update_time))
            .collect::<Vec<_>>()
    };
    assert_eq!(tasks(&after), tasks(&before));

    // Feishu holds everything now: the next run pushes nothing.
    let (error, again) = bridge.invoke(&window).await;
    assert_eq!(error, None, "{again}");
    assert_eq!(again["in_sync"], 2);
    assert_eq!(again["repushed"], json!([]));
    assert!(bridge.failure_records().await.is_empty());
}
