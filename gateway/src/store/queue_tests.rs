//! The queue's leases: bounds, holders, and outcomes fenced by their lease.

use super::queue::*;
use super::Store;

/// A migrated store with one domain and a message per `(size, destination)`,
/// one due recipient each, oldest first.
async fn queue_of(messages: &[(i64, &str)]) -> (Store, std::path::PathBuf) {
    let (store, dir) = crate::store::temp_sqlite("queue").await;
    store.migrate().await.unwrap();
    sqlx::query(
        "INSERT INTO domains (id, name, dkim_selector, created_at) VALUES (1, 'q.test', 's', 0)",
    )
    .execute(store.writer())
    .await
    .unwrap();
    for (i, (size, dest)) in messages.iter().enumerate() {
        let i = i as i64 + 1;
        sqlx::query(
            "INSERT INTO messages (id, domain_id, storage_key, message_id, sender, body, size, options, method, created_at) \
             VALUES ($1, 1, $2, $2, 'a@q.test', x'00', $3, '{}', 'http', 0)",
        )
        .bind(i)
        .bind(format!("k{i}"))
        .bind(*size)
        .execute(store.writer())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $1, 0)",
        )
        .bind(i)
        .bind(format!("r{i}@{dest}"))
        .bind(*dest)
        .execute(store.writer())
        .await
        .unwrap();
    }
    (store, dir)
}

fn sized(sizes: &[i64]) -> Vec<(i64, &'static str)> {
    sizes.iter().map(|s| (*s, "dest.test")).collect()
}

fn ids(leased: &[LeasedRecipient]) -> Vec<i64> {
    leased.iter().map(|r| r.message_id).collect()
}

const MINUTE: i64 = 60_000_000;

/// A lease for `node` with the usual bounds, `token` 1.
fn request(node: i64, max_bytes: i64) -> LeaseRequest<'static> {
    LeaseRequest {
        lease: Lease { node, token: 1 },
        now: 100,
        timeout_micros: MINUTE,
        limit: 500,
        max_bytes,
        per_domain: 500,
        skip_domains: &[],
    }
}

async fn node(store: &Store, name: &str) -> i64 {
    store.register_node(name, "host", 1).await.unwrap().0
}

#[tokio::test]
async fn a_lease_stops_at_its_byte_budget_oldest_first() {
    let (store, dir) = queue_of(&sized(&[1000, 1000, 1000, 1000, 1000])).await;
    let n = node(&store, "a").await;
    // 0, 1000 and 2000 bytes are ahead of the first three: under 2500.
    let first = store.lease_due(&request(n, 2500)).await.unwrap();
    assert_eq!(ids(&first), [1, 2, 3]);
    let rest = store.lease_due(&request(n, 1 << 30)).await.unwrap();
    assert_eq!(ids(&rest), [4, 5], "the leased ones are not leased again");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_message_bigger_than_the_budget_is_still_leased_alone() {
    let (store, dir) = queue_of(&sized(&[50_000_000, 10])).await;
    let n = node(&store, "a").await;
    let first = store.lease_due(&request(n, 1024)).await.unwrap();
    assert_eq!(ids(&first), [1]);
    let next = store.lease_due(&request(n, 1024)).await.unwrap();
    assert_eq!(ids(&next), [2]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_lease_takes_at_most_its_share_per_destination_and_skips_full_ones() {
    let msgs: Vec<(i64, &str)> = (0..6)
        .map(|_| (10, "slow.test"))
        .chain((0..3).map(|_| (10, "fast.test")))
        .chain([(10, "other.test")])
        .collect();
    let (store, dir) = queue_of(&msgs).await;
    let n = node(&store, "a").await;
    let mut req = request(n, 1 << 30);
    req.per_domain = 2;
    // Two of the backlog for slow.test, then the others are not hidden.
    assert_eq!(ids(&store.lease_due(&req).await.unwrap()), [1, 2, 7, 8, 10]);
    let full = ["slow.test".to_string()];
    req.skip_domains = &full;
    assert_eq!(ids(&store.lease_due(&req).await.unwrap()), [9]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_live_nodes_lease_is_kept_and_a_silent_nodes_is_taken() {
    let (store, dir) = queue_of(&sized(&[10, 10])).await;
    let (a, b) = (node(&store, "a").await, node(&store, "b").await);
    assert_eq!(
        store.lease_due(&request(a, 1 << 30)).await.unwrap().len(),
        2
    );
    assert!(store
        .lease_due(&request(b, 1 << 30))
        .await
        .unwrap()
        .is_empty());
    // a has not beaten for more than the timeout (its heartbeat is an hour old).
    sqlx::query("UPDATE nodes SET heartbeat_at = heartbeat_at - 3600000000 WHERE id = $1")
        .bind(a)
        .execute(store.writer())
        .await
        .unwrap();
    let taken = store.lease_due(&request(b, 1 << 30)).await.unwrap();
    assert_eq!(ids(&taken), [1, 2]);
    assert!(taken.iter().all(|r| r.lease.node == b));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_restarted_node_hands_back_its_earlier_runs_leases_at_once() {
    let (store, dir) = queue_of(&sized(&[10])).await;
    let first = node(&store, "a").await;
    assert_eq!(
        store
            .lease_due(&request(first, 1 << 30))
            .await
            .unwrap()
            .len(),
        1
    );
    let (second, released) = store.register_node("a", "host", 2).await.unwrap();
    assert_eq!(released, 1);
    assert!(
        !store.heartbeat(first).await.unwrap(),
        "the earlier run is over"
    );
    assert_eq!(
        store
            .lease_due(&request(second, 1 << 30))
            .await
            .unwrap()
            .len(),
        1
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn delivered(r: &LeasedRecipient) -> Outcome {
    Outcome {
        recipient_id: r.id,
        domain_id: 1,
        lease: Some(r.lease),
        update: RecipientUpdate::Delivered,
        attempted: true,
        event: None,
        suppress: None,
    }
}

#[tokio::test]
async fn an_outcome_whose_lease_was_taken_over_is_dropped() {
    let (store, dir) = queue_of(&sized(&[10, 10])).await;
    let (a, b) = (node(&store, "a").await, node(&store, "b").await);
    let held_by_a = store.lease_due(&request(a, 1 << 30)).await.unwrap();
    sqlx::query("UPDATE nodes SET heartbeat_at = heartbeat_at - 3600000000 WHERE id = $1")
        .bind(a)
        .execute(store.writer())
        .await
        .unwrap();
    let mut req = request(b, 1 << 30);
    req.limit = 1;
    let held_by_b = store.lease_due(&req).await.unwrap();
    assert_eq!(ids(&held_by_b), [1]);
    // a resumes and reports both: only the one it still holds is recorded.
    let outcomes: Vec<Outcome> = held_by_a.iter().map(delivered).collect();
    assert_eq!(store.record_outcomes(&outcomes).await.unwrap(), 1);
    let status = |id: i64| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM recipients WHERE id = $1")
                .bind(id)
                .fetch_one(store.reader())
                .await
                .unwrap()
        }
    };
    assert_eq!(status(held_by_b[0].id).await, "queued", "b's lease stands");
    assert_eq!(status(held_by_a[1].id).await, "delivered");
    // b records its own.
    assert_eq!(
        store
            .record_outcomes(&[delivered(&held_by_b[0])])
            .await
            .unwrap(),
        0
    );
    assert_eq!(status(held_by_b[0].id).await, "delivered");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_lease_older_than_any_attempt_is_taken_even_from_a_live_node() {
    let (store, dir) = queue_of(&sized(&[10])).await;
    let (a, b) = (node(&store, "a").await, node(&store, "b").await);
    // a took it at time 1 and never recorded anything (a store error).
    assert_eq!(
        store.lease_due(&request(a, 1 << 30)).await.unwrap().len(),
        1
    );
    let mut soon = request(b, 1 << 30);
    soon.now = 1 + super::nodes::MAX_LEASE_AGE_MICROS / 2;
    assert!(
        store.lease_due(&soon).await.unwrap().is_empty(),
        "a is alive"
    );
    let mut late = request(b, 1 << 30);
    late.now = 2 + super::nodes::MAX_LEASE_AGE_MICROS;
    late.lease.token = late.now;
    assert_eq!(store.lease_due(&late).await.unwrap().len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_operator_hold_keeps_a_destination_out_of_every_lease_until_released() {
    use super::holds::HoldKind;
    let (store, dir) = queue_of(&[(10, "a.test"), (10, "b.test")]).await;
    let n = node(&store, "a").await;
    store
        .hold_destination("a.test", HoldKind::Operator, "asked", None, 0)
        .await
        .unwrap();
    let leased = store.lease_due(&request(n, 1 << 30)).await.unwrap();
    assert_eq!(ids(&leased), [2], "only b.test's mail is leased");
    assert!(store
        .release_destination("a.test", HoldKind::Operator)
        .await
        .unwrap());
    let leased = store.lease_due(&request(n, 1 << 30)).await.unwrap();
    assert_eq!(ids(&leased), [1], "released, a.test's mail is leased again");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn retry_now_makes_waiting_mail_due_and_lifts_an_unreachable_hold() {
    use super::holds::HoldKind;
    let (store, dir) = queue_of(&[(10, "a.test")]).await;
    let n = node(&store, "a").await;
    let now = super::now_micros();
    sqlx::query("UPDATE recipients SET next_attempt_at = $1")
        .bind(now + 60 * MINUTE)
        .execute(store.writer())
        .await
        .unwrap();
    store
        .hold_destination(
            "a.test",
            HoldKind::Unreachable,
            "refused",
            Some(now + MINUTE),
            1,
        )
        .await
        .unwrap();
    assert!(store.unreachable_hold_stands("a.test").await.unwrap());
    let at_now = |token| LeaseRequest {
        lease: Lease { node: n, token },
        now: super::now_micros(),
        ..request(n, 1 << 30)
    };
    assert!(store.lease_due(&at_now(1)).await.unwrap().is_empty());
    assert_eq!(
        store.retry_destination_now("a.test", None).await.unwrap(),
        1
    );
    assert!(!store.unreachable_hold_stands("a.test").await.unwrap());
    assert_eq!(ids(&store.lease_due(&at_now(2)).await.unwrap()), [1]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn leasing_a_destination_to_drop_it_leaves_what_a_node_is_delivering() {
    let (store, dir) = queue_of(&[(10, "a.test"), (10, "a.test"), (10, "b.test")]).await;
    let n = node(&store, "a").await;
    // A lease taken now: the drop's own clock must see it as held.
    let now = super::now_micros();
    let one = LeaseRequest {
        lease: Lease {
            node: n,
            token: now,
        },
        now,
        limit: 1,
        ..request(n, 1 << 30)
    };
    assert_eq!(ids(&store.lease_due(&one).await.unwrap()), [1]);
    let drop = Lease {
        node: n,
        token: now + 1,
    };
    let leased = store
        .lease_destination(drop, Some("a.test"), None, MINUTE)
        .await
        .unwrap();
    assert_eq!(
        ids(&leased),
        [2],
        "the one being delivered is left, b.test too"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
