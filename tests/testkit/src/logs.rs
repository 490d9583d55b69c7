//! An in-memory sink for log output, for tests that check what a `tracing` subscriber writes.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// Collects everything written to it; clones share one buffer, so a subscriber can be given a
/// clone per event (`with_writer(move || logs.clone())`) while the test reads the original.
#[derive(Clone, Debug, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
