use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::Result;

/// librdkafka's in-process mock cluster.
///
/// It lives inside this process and answers on loopback ports of its own; it
/// is gone when this value is dropped. It supports produce, fetch, consumer
/// groups, commits, idempotence and transactions, but keeps everything in
/// memory and does not enforce every broker rule (see docs/brokers.md).
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl std::fmt::Debug for MockKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockKafka")
            .field("bootstrap_servers", &self.bootstrap_servers())
            .finish()
    }
}

impl MockKafka {
    /// Starts a cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> Result<Self> {
        Ok(Self {
            cluster: MockCluster::new(brokers)?,
        })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates a topic directly in the cluster (no admin round trip).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        Ok(self.cluster.create_topic(name, partitions, 1)?)
    }

    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}
