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
