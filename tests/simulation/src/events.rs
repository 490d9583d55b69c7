//! The event bus as the simulation serves it: every event that reaches it is observed; a publish
//! may fail before the bus has the event, or after (the bus has it, the answer is lost), and the
//! Lambda may die around it.

use std::sync::Arc;

use approval_sync::EventPublisher;
use approval_sync::events::{BridgeEvent, PublishError};

use crate::exec;
use crate::world::{Published, World};

/// The simulated event bus; clones share what was published.
#[derive(Clone)]
pub struct SimPublisher {
    world: Arc<World>,
}

impl SimPublisher {
    /// A bus in `world`.
    pub fn new(world: Arc<World>) -> Self {
        Self { world }
    }
}

impl EventPublisher for SimPublisher {
    async fn publish(&self, event: &BridgeEvent) -> Result<(), PublishError> {
        let world = &self.world;
        let fault = world.chance(world.knobs.publish_fault);
        let delivered_anyway = fault && world.chance(0.5);
        world.before_io("publish", world.millis(5, 40)).await;
        if fault && !delivered_anyway {
            world.count("publish fault: not delivered");
            world.trace(|| format!("publish {} → failed (injected)", event.id()));
            return Err(PublishError("injected: the bus is unavailable".to_owned()));
        }
        if let Some(by) = exec::current().map(|exec| exec.at) {
            world.observe(|seen| {
                seen.published.push(Published {
                    by,
                    event: event.clone(),
                });
            });
        }
        world.trace(|| format!("publish {} {} → delivered", event.detail_type(), event.id()));
        world.after_io("publish", world.millis(5, 40)).await;
        if delivered_anyway {
            world.count("publish fault: delivered, answer lost");
            world.trace(|| format!("publish {}: the answer is lost (injected)", event.id()));
            return Err(PublishError("injected: no answer".to_owned()));
        }
        Ok(())
    }
}
