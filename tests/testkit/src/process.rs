//! [`ChildProcess`]: a started tool that cannot outlive its test.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a stopping process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often readiness and exit are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How much of the end of a process's log goes into a [`StartError`].
const LOG_TAIL_BYTES: u64 = 4096;

/// Why a harness process did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The process could not be started at all.
    #[error("cannot start {name}: {source}")]
    Spawn {
        /// The harness's name for the process.
        name: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The process exited before it was ready.
    #[error("{name} exited with {status} before it was ready; its log ends with:\n{log_tail}")]
    Exited {
        /// The harness's name for the process.
        name: String,
        /// How it exited.
        status: ExitStatus,
        /// The end of its stdout/stderr log.
        log_tail: String,
    },
    /// The process was still not ready when the deadline passed.
    #[error("{name} was not ready after {waited:?}; its log ends with:\n{log_tail}")]
    TimedOut {
        /// The harness's name for the process.
        name: String,
        /// How long it was given.
        waited: Duration,
        /// The end of its stdout/stderr log.
        log_tail: String,
    },
}

/// A child process started for a test; dropping it stops the process and everything it started.
///
/// The process runs in its own process group, and its stdout and stderr go to a log file (kept
/// after a failing test, deleted otherwise). It is stopped with SIGTERM to the whole group, then
/// SIGKILL after 5 s. If the test process itself dies without dropping the guard, the kernel
/// sends the child SIGTERM (`PR_SET_PDEATHSIG`), so no tool is left running.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl ChildProcess {
    /// Starts `command`, naming it `name` in messages and in its log file's name.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self, StartError> {
        let spawn_error = |source| StartError::Spawn {
            name: name.to_owned(),
            source,
        };
        let log_path = new_log_path(name);
        let log = File::create(&log_path).map_err(spawn_error)?;
        let log_for_stderr = log.try_clone().map_err(spawn_error)?;
        command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .process_group(0);
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe system calls (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(io::Error::other("the test process exited during spawn"));
                }
                Ok(())
            });
        }
        let child = spawn_from_long_lived_thread(command).map_err(spawn_error)?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log_path,
        })
    }

    /// The process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The file that receives the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Waits until `address` accepts TCP connections, failing early if the process exits.
    pub async fn wait_until_listening(
        &mut self,
        address: SocketAddr,
        timeout: Duration,
    ) -> Result<(), StartError> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Err(StartError::Exited {
                    name: self.name.clone(),
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(StartError::TimedOut {
                    name: self.name.clone(),
                    waited: timeout,
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// How the process exited, or `None` while it runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last few kilobytes of the process's log, for error messages.
    pub fn log_tail(&self) -> String {
        let read_tail = || -> io::Result<String> {
            let mut file = File::open(&self.log_path)?;
            let length = file.metadata()?.len();
            file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        read_tail().unwrap_or_else(|error| format!("(log unreadable: {error})"))
    }

    fn signal_group(&self, signal: libc::c_int) {
        if let Ok(group) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: killpg has no memory-safety preconditions; a vanished group yields ESRCH.
            unsafe {
                libc::killpg(group, signal);
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while self.exit_status().is_none() && Instant::now() < deadline {
            thread::sleep(POLL_INTERVAL);
        }
        // Whatever is left of the group (the leader or processes it started) is killed.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{} log kept at {}", self.name, self.log_path.display());
        } else {
            let _ = fs::remove_file(&self.log_path);
        }
    }
}

/// A fresh log file path in the system's temporary directory.
fn new_log_path(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let directory = std::env::temp_dir().join("testkit");
    // If the directory cannot be created, File::create reports the problem.
    let _ = fs::create_dir_all(&directory);
    let file_name = format!(
        "{name}-{}-{}.log",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    directory.join(file_name)
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` from a thread that lives as long as the test process.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits. Test threads end with
/// their test, so forking from one would kill a process shared between tests (e.g. in a static)
/// too early; this thread never exits before the process does.
fn spawn_from_long_lived_thread(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<io::Result<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("testkit-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| requests)
    });
    let spawner = spawner
        .as_ref()
        .map_err(|error| io::Error::new(error.kind(), error.to_string()))?;
    let (reply, response) = mpsc::channel();
    spawner
        .send((command, reply))
        .map_err(|_| io::Error::other("the testkit spawner thread has stopped"))?;
    response
        .recv()
        .map_err(|_| io::Error::other("the testkit spawner thread has stopped"))?
}
