//! Group commit: accepts that arrive while a commit is on its way to disk
//! share the next transaction, so many concurrent 200s / 250s cost one
//! fsync. Each caller still gets its answer only once its rows are committed.

use tokio::sync::{mpsc, oneshot};

use super::events::NewEvent;
use super::messages::NewMessage;
use super::{Result, Store};

/// One accept's rows: its messages, their recipients, their events.
pub struct Acceptance {
    pub domain_id: i64,
    pub messages: Vec<NewMessage>,
    pub events: Vec<NewEvent>,
}

struct Pending {
    work: Acceptance,
    done: oneshot::Sender<Result<()>>,
}

/// At most this many accepts per transaction.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::UnboundedSender<Pending>,
}

impl GroupCommit {
    /// `store` must be one without a committer of its own (it does the writes).
    pub fn start(store: Store) -> GroupCommit {
        let (queue, mut rx) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                commit(&store, std::mem::take(&mut batch)).await;
            }
        });
        GroupCommit { queue }
    }

    pub async fn commit(&self, work: Acceptance) -> Result<()> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { work, done })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> super::StoreError {
    super::StoreError::Db(sqlx::Error::PoolClosed)
}

async fn commit(store: &Store, batch: Vec<Pending>) {
    let works: Vec<&Acceptance> = batch.iter().map(|p| &p.work).collect();
    let started = std::time::Instant::now();
    match store.insert_acceptances(&works).await {
        Ok(()) => {
            crate::telemetry::committed(started.elapsed());
            for p in batch {
                let _ = p.done.send(Ok(()));
            }
        }
        // Nothing of the batch is stored: each accept alone, so one bad
        // row fails only its own request.
        Err(_) if batch.len() > 1 => {
            for p in batch {
                let r = store.insert_acceptances(&[&p.work]).await;
                let _ = p.done.send(r);
            }
        }
        Err(e) => {
            if let Some(p) = batch.into_iter().next() {
                let _ = p.done.send(Err(e));
            }
        }
    }
}
