//! The quick-approval action an approver takes, shared by callbacks and `action_configs`.

string_enum! {
    /// `action_type` of a quick-approval button or callback: APPROVE, REJECT, or a custom key.
    pub enum ActionType {
        /// The approver approved the task.
        Approve => "APPROVE",
        /// The approver rejected the task.
        Reject => "REJECT",
    }
}
