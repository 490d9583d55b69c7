//! Message jobs: set a bot card's status exactly as asked (`message/update`, `feishu-api.md`
//! §5.2), once the request is one Feishu documents. The bridge's lifecycle may set the card
//! again later, when its task or instance changes.

use feishu_bridge::job::MessageJob;
use feishu_bridge::models::message::CardStatus;
use tokio::time::Instant;

use crate::effects::update_message;
use crate::error::SyncError;
use crate::service::SyncService;
use crate::summary::MessageSummary;

/// Runs a message job.
pub(crate) async fn handle_message<S, P>(
    service: &SyncService<S, P>,
    job: MessageJob,
    deadline: Instant,
) -> Result<MessageSummary, SyncError> {
    let update = job.update;
    if let CardStatus::Other(_) = &update.status {
        return Err(SyncError::InvalidJob(
            "`status` is not a card status Feishu documents (APPROVED, REJECTED, CANCELLED, \
             FORWARDED, ROLLBACK, ADD, DELETED, PROCESSED, CUSTOM)"
                .to_owned(),
        ));
    }
    if update.status != CardStatus::Custom
        && (update.status_name.is_some() || update.detail_action_name.is_some())
    {
        return Err(SyncError::InvalidJob(
            "`status_name` and `detail_action_name` go only with `status` CUSTOM".to_owned(),
        ));
    }
    let call = update_message(service, &update, deadline).await?;
    Ok(MessageSummary {
        message_id: update.message_id,
        status: update.status,
        calls: vec![call],
    })
}
