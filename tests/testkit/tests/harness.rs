//! The harness guarantees tests rely on: servers answer once started, and nothing outlives its
//! guard.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{ChildProcess, MotoServer, StartError, free_port};

/// Whether process `pid` is still running (a zombie waiting to be reaped counts as gone).
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits (bounded) until `read` yields a value.
fn eventually<T>(mut read: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = read() {
            return value;
        }
        assert!(Instant::now() < deadline, "condition not met within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn moto_server_answers_and_stops_on_drop() {
    let moto = MotoServer::start().await;
    let url = moto.endpoint_url();
    let address: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("endpoint is host:port");
    assert!(tokio::net::TcpStream::connect(address).await.is_ok());

    drop(moto);
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "moto_server still listening at {url} after drop"
    );
}

#[test]
fn dropping_a_child_process_stops_the_processes_it_started() {
    let mut command = Command::new("sh");
    command.args(["-c", "sleep 300 & echo $!; wait"]);
    let process = ChildProcess::spawn("sleeper", command).expect("sh starts");
    let shell = process.id();
    let log_path = process.log_path().to_owned();
    let grandchild: u32 =
        eventually(|| std::fs::read_to_string(&log_path).ok()?.trim().parse().ok());
    assert!(is_running(shell) && is_running(grandchild));

    drop(process);
    assert!(!is_running(shell), "the shell survived its guard");
    eventually(|| (!is_running(grandchild)).then_some(()));
    assert!(!log_path.exists(), "the log of a passing test is removed");
}

#[tokio::test]
async fn a_process_that_exits_early_is_reported_with_its_log() {
    let mut command = Command::new("sh");
    command.args(["-c", "echo 'port already in use' >&2; exit 3"]);
    let mut process = ChildProcess::spawn("failing", command).expect("sh starts");
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));

    let error = process
        .wait_until_listening(address, Duration::from_secs(30))
        .await
        .expect_err("nothing listens");
    match error {
        StartError::Exited {
            status, log_tail, ..
        } => {
            assert_eq!(status.code(), Some(3));
            assert!(log_tail.contains("port already in use"), "{log_tail}");
        }
        other => panic!("expected Exited, got {other}"),
    }
}

/// DynamoDB applies each write atomically; plain moto does not (it checks a condition and stores
/// the item in two unlocked steps on concurrent threads), which made optimistic-concurrency
/// tests fail at random. `MotoServer` must behave like DynamoDB here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moto_applies_concurrent_conditional_writes_atomically() {
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };
    const ROUNDS: usize = 3;
    const WRITERS: usize = 12;
    const ATTRIBUTES: usize = 400;

    let moto = MotoServer::start().await;
    let client = Client::new(&moto.sdk_config().await);
    client
        .create_table()
        .table_name("t")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the table");

    for round in 0..ROUNDS {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let client = client.clone();
                tokio::spawn(async move {
                    // Many attributes widen moto's window between its condition check and its
                    // write (it converts every attribute in between), so a race shows quickly.
                    let mut put = client
                        .put_item()
                        .table_name("t")
                        .item("pk", AttributeValue::S(format!("key-{round}")))
                        .condition_expression("attribute_not_exists(pk)");
                    for attribute in 0..ATTRIBUTES {
                        put = put.item(
                            format!("a{attribute}"),
                            AttributeValue::N(writer.to_string()),
                        );
                    }
                    put.send().await
                })
            })
            .collect();
        let mut created = 0;
        for writer in writers {
            match writer.await.expect("writer finished") {
                Ok(_) => created += 1,
                Err(error) => assert!(
                    error
                        .as_service_error()
                        .is_some_and(|error| error.is_conditional_check_failed_exception()),
                    "round {round}: {error:?}"
                ),
            }
        }
        assert_eq!(
            created, 1,
            "round {round}: {created} writers created one item"
        );
    }
}

/// The `SenderId` moto reports for each message in `queue_url` (received with `as_config`).
async fn sender_ids(as_config: &aws_config::SdkConfig, queue_url: &str) -> Vec<String> {
    let received = aws_sdk_sqs::Client::new(as_config)
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SenderId)
        .send()
        .await
        .expect("received");
    let mut ids: Vec<String> = received
        .messages()
        .iter()
        .map(|message| {
            let attribute = aws_sdk_sqs::types::MessageSystemAttributeName::SenderId;
            message.attributes().expect("attributes")[&attribute].clone()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn moto_reports_each_sqs_message_sender_as_sqs_does() {
    let moto = MotoServer::start().await;
    let role = moto.role_session("sync-role", "b-sync").await;
    let user = moto.user("intruder").await;
    assert!(role.unique_id.starts_with("AROA"), "{role:?}");
    assert_eq!(role.sender_id, format!("{}:b-sync", role.unique_id));
    // moto's user ids are 20 random lowercase characters where IAM's start with AIDA.
    assert_eq!(user.sender_id, user.unique_id);
    let anonymous = moto.sdk_config().await;
    let queue_url = aws_sdk_sqs::Client::new(&anonymous)
        .create_queue()
        .queue_name("senders")
        .send()
        .await
        .expect("queue created")
        .queue_url
        .expect("a queue url");
    for config in [
        moto.sdk_config_as(&role).await,
        moto.sdk_config_as(&user).await,
        anonymous.clone(),
    ] {
        aws_sdk_sqs::Client::new(&config)
            .send_message()
            .queue_url(&queue_url)
            .message_body("hello")
            .send()
            .await
            .expect("sent");
    }
    let mut expected = vec![
        role.sender_id.clone(),
        user.sender_id.clone(),
        // Credentials moto did not issue keep its constant.
        "AIDAIT2UOQQY3AUEKVGXU".to_owned(),
    ];
    expected.sort();
    assert_eq!(sender_ids(&anonymous, &queue_url).await, expected);
}
