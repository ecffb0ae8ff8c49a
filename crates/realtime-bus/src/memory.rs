//! The in-process broker: a single instance needs no network hop, so a publication goes
//! straight to the local handler.

use std::fmt;
use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};

use crate::{Broker, BusError, Publication, PublicationHandler};

/// Delivers publications to the handler of this process.
pub struct MemoryBroker {
    handler: Arc<dyn PublicationHandler>,
}

impl MemoryBroker {
    pub fn new(handler: Arc<dyn PublicationHandler>) -> Self {
        Self { handler }
    }
}

impl fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryBroker")
    }
}

impl Broker for MemoryBroker {
    fn publish(&self, publication: Publication) -> BoxFuture<'_, Result<(), BusError>> {
        self.handler.on_publication(publication);
        futures_util::future::ready(Ok(())).boxed()
    }

    fn publish_batch(&self, publications: Vec<Publication>) -> BoxFuture<'_, Result<(), BusError>> {
        self.handler.on_publications(publications);
        futures_util::future::ready(Ok(())).boxed()
    }

    fn subscribe(&self, _channel: &str) -> BoxFuture<'_, Result<(), BusError>> {
        futures_util::future::ready(Ok(())).boxed()
    }

    fn unsubscribe(&self, _channel: &str) {}

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);

    impl PublicationHandler for Recorder {
        fn on_publication(&self, p: Publication) {
            self.0.lock().unwrap().push(p.seq);
        }
    }

    #[tokio::test]
    async fn delivers_to_the_local_handler_in_call_order() {
        let rec = Arc::new(Recorder::default());
        let broker = MemoryBroker::new(rec.clone());
        broker.subscribe("world").await.unwrap();
        for seq in [1, 2, 3] {
            let p = Publication {
                channel: Arc::from("world"),
                seq,
                frame: Bytes::from_static(b"{}"),
            };
            broker.publish(p).await.unwrap();
        }
        let batch = [4, 5]
            .map(|seq| Publication {
                channel: Arc::from("world"),
                seq,
                frame: Bytes::from_static(b"{}"),
            })
            .to_vec();
        broker.publish_batch(batch).await.unwrap();
        assert_eq!(*rec.0.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    }
}
