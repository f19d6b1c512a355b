//! A small service: archives received emails, and refuses (dead-letters)
//! those without a subject.
//!
//! ```sh
//! cargo run -p sluice-consumer --example archiver -- localhost:9092
//! ```

use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Context, Handler, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;

struct Archive;

impl Handler<EmailReceived> for Archive {
    async fn handle(&self, event: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        if event.subject.is_empty() {
            return Err(HandlerError::permanent(format!(
                "email {} has no subject",
                event.email_id
            ))
            .with_class("no_subject"));
        }
        println!(
            "archived {} ({}[{}]@{})",
            event.email_id,
            ctx.topic(),
            ctx.partition(),
            ctx.offset()
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let brokers = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    let config = ConsumerConfig::new(KafkaConfig::new(brokers), "archiver", ["email.received"]);
    let handlers = Handlers::new(sluice_events::registry().clone()).on::<EmailReceived, _>(Archive);
    ConsumerBuilder::new(config)
        .build(handlers)?
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
