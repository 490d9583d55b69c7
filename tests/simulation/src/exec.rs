//! The execution a piece of I/O belongs to: one Lambda invocation of one delivery of one job.
//! It rides along as a task-local, so the store, Feishu and bus wrappers know whom they serve
//! and can kill it (a crash) at any await.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

tokio::task_local! {
    static CURRENT: Arc<Execution>;
}

/// Which execution: job (in submission order), delivery (Lambda may deliver an event twice) and
/// attempt (Lambda's retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecRef {
    /// The job, numbered from 0 in submission order.
    pub job: usize,
    /// The delivery of the job's event, from 1.
    pub delivery: u32,
    /// The attempt of that delivery, from 1.
    pub attempt: u32,
}

/// One Lambda invocation running a job.
#[derive(Debug)]
pub struct Execution {
    /// Which one.
    pub at: ExecRef,
    /// The container (its lease owner tag).
    pub container: String,
    crashed: AtomicBool,
    crash: Mutex<Option<oneshot::Sender<()>>>,
}

impl Execution {
    /// A live execution, and the receiver that fires when it crashes.
    pub fn start(at: ExecRef, container: String) -> (Arc<Self>, oneshot::Receiver<()>) {
        let (crash, crashed) = oneshot::channel();
        let execution = Self {
            at,
            container,
            crashed: AtomicBool::new(false),
            crash: Mutex::new(Some(crash)),
        };
        (Arc::new(execution), crashed)
    }

    /// `#job.delivery/attempt@container`.
    pub fn label(&self) -> String {
        format!(
            "#{}.{}/{}@{}",
            self.at.job, self.at.delivery, self.at.attempt, self.container
        )
    }

    /// Whether it has crashed.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// Kills it: nothing it does from now on takes effect, and its invocation ends.
    pub fn crash(&self) {
        self.crashed.store(true, Ordering::SeqCst);
        let sender = self
            .crash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }

    /// Runs `future` as this execution.
    pub async fn scope<F: Future>(self: Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }
}

/// The execution the current task runs, if any.
pub fn current() -> Option<Arc<Execution>> {
    CURRENT.try_with(Arc::clone).ok()
}
