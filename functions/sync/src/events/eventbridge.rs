//! EventBridge decision publisher adapter.
