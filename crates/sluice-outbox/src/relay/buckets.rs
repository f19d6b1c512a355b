//! Which relay publishes which aggregates.
//!
//! An aggregate belongs to bucket `hash(aggregateid) mod buckets`
//! (PostgreSQL's `hashtextextended`, so every relay and every SQL query
//! agree). A relay publishes a bucket's rows only while it holds the
//! session-level advisory lock `(space, bucket)` on its **lock
//! connection**; one relay per bucket means one sender per aggregate, so an
//! aggregate's rows go out in `seq` order. A relay that dies or loses its
//! connection loses its locks with the session, and another relay takes
//! the buckets over at its next rebalance, reading from the first row not
//! yet marked: the rows the dead relay had in flight are sent again.
//!
//! Every relay also holds a member lock `(space + 1, backend pid)`; the
//! number of member locks is the number of running relays, and each aims
//! for `ceil(buckets / relays)`. Surplus buckets are released only between
//! rounds (nothing in flight), so a handover never overlaps two senders.
//!
//! And every relay declares its bucket count with a shared lock
//! `(space + 2, buckets)`: a relay that finds another count declared
//! refuses to run, since two counts map one aggregate to two buckets that
//! two relays could hold at once.

use std::collections::BTreeSet;

use sluice_kafka::Secret;
use sqlx::{Connection as _, PgConnection};

use crate::error::{OutboxError, Result};

/// The SQL expression of a row's bucket, `$n` being the bucket count.
pub(crate) fn bucket_sql(buckets_param: &str) -> String {
    format!("((hashtextextended(aggregateid, 0) & 9223372036854775807) % {buckets_param})::int")
}

/// What a rebalance should do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Held buckets to unlock.
    pub release: Vec<u32>,
    /// Buckets to try to lock, in order, until `want` are held.
    pub try_lock: Vec<u32>,
    /// How many buckets this relay should hold.
    pub want: usize,
}

/// Plans a rebalance for a relay holding `held` of `buckets`, with
/// `relays` relays running (this one included). `offset` (the relay's
/// member id) staggers where relays start trying, so they do not all
/// contend for bucket 0.
pub fn plan(buckets: u32, held: &BTreeSet<u32>, relays: u32, offset: u32) -> Plan {
    let relays = relays.max(1);
    let want = buckets.div_ceil(relays) as usize;
    if held.len() > want {
        // Keep the lowest ones: stable, and predictable in logs.
        return Plan {
            release: held.iter().skip(want).copied().collect(),
            try_lock: Vec::new(),
            want,
        };
    }
    let try_lock = if held.len() < want {
        (0..buckets)
            .map(|i| (i + offset) % buckets)
            .filter(|b| !held.contains(b))
            .collect()
    } else {
        Vec::new()
    };
    Plan {
        release: Vec::new(),
        try_lock,
        want,
    }
}

/// Takes the shared lock that says this relay uses `buckets`, then fails
/// with [`OutboxError::BucketCount`] if another count is declared.
async fn declare_bucket_count(conn: &mut PgConnection, space: i32, buckets: u32) -> Result<()> {
    let ours = i32::try_from(buckets).unwrap_or(i32::MAX);
    sqlx::query("SELECT pg_advisory_lock_shared($1, $2)")
        .bind(space + 2)
        .bind(ours)
        .execute(&mut *conn)
        .await
        .map_err(OutboxError::db("declaring the bucket count"))?;
    let theirs: Option<i64> = sqlx::query_scalar(
        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid::bigint = $1 AND objsubid = 2 AND objid::bigint <> $2 LIMIT 1",
    )
    .bind(i64::from(space) + 2)
    .bind(i64::from(ours))
    .fetch_optional(&mut *conn)
    .await
    .map_err(OutboxError::db("reading the bucket counts"))?;
    match theirs {
        Some(theirs) => Err(OutboxError::BucketCount {
            ours: buckets,
            theirs,
        }),
        None => Ok(()),
    }
}

/// How long the lock connection may take to answer a query.
const LOCK_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Server-side TCP keepalives for the lock session, so that PostgreSQL
/// ends it (and frees its locks) within about half a minute of this
/// relay's host going away, not after the system's two-hour default.
const KEEPALIVES: [&str; 3] = [
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
];

/// The lock connection and the buckets held on it.
#[derive(Debug)]
pub(crate) struct Leadership {
    /// Holds the password: redacted in `Debug`.
    url: Secret,
    space: i32,
    buckets: u32,
    conn: Option<PgConnection>,
    member: u32,
    held: BTreeSet<u32>,
}

impl Leadership {
    pub(crate) fn new(url: Secret, space: i32, buckets: u32) -> Self {
        Self {
            url,
            space,
            buckets,
            conn: None,
            member: 0,
            held: BTreeSet::new(),
        }
    }

    pub(crate) fn held(&self) -> &BTreeSet<u32> {
        &self.held
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Forgets every bucket: the session (and with it every lock) is gone
    /// or about to be.
    fn lose(&mut self) {
        if !self.held.is_empty() {
            tracing::warn!(buckets = ?self.held, "lost the lock connection and with it every bucket");
        }
        self.held.clear();
        self.conn = None;
    }

    async fn connection(&mut self) -> Result<&mut PgConnection> {
        if self.conn.is_none() {
            let mut conn = PgConnection::connect(self.url.expose())
                .await
                .map_err(OutboxError::db("opening the lock connection"))?;
            for setting in KEEPALIVES {
                sqlx::query(setting)
                    .execute(&mut conn)
                    .await
                    .map_err(OutboxError::db("setting the lock session's keepalives"))?;
            }
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut conn)
                .await
                .map_err(OutboxError::db("reading the backend pid"))?;
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(self.space + 1)
                .bind(pid)
                .fetch_one(&mut conn)
                .await
                .map_err(OutboxError::db("taking the member lock"))?;
            if !locked {
                return Err(OutboxError::Config(format!(
                    "the member lock ({}, {pid}) is held by another session",
                    self.space + 1
                )));
            }
            declare_bucket_count(&mut conn, self.space, self.buckets).await?;
            self.member = pid.unsigned_abs();
            self.conn = Some(conn);
        }
        match self.conn.as_mut() {
            Some(conn) => Ok(conn),
            None => Err(OutboxError::Config("no lock connection".into())),
        }
    }

    /// Checks that the lock connection (and so every lock on it) is still
    /// there; loses every bucket if not. Called before each round.
    pub(crate) async fn confirm(&mut self) -> bool {
        let alive = match self.conn.as_mut() {
            // A half-open connection would otherwise hang here for as long
            // as TCP retransmits.
            Some(conn) => matches!(
                tokio::time::timeout(LOCK_QUERY_TIMEOUT, conn.ping()).await,
                Ok(Ok(()))
            ),
            None => false,
        };
        if !alive {
            self.lose();
        }
        alive
    }

    /// Counts the running relays and takes or gives up buckets toward a
    /// fair share. Errors lose every bucket; the next call reconnects.
    pub(crate) async fn rebalance(&mut self) -> Result<()> {
        let result = match tokio::time::timeout(LOCK_QUERY_TIMEOUT * 4, self.try_rebalance()).await
        {
            Ok(result) => result,
            Err(_) => Err(OutboxError::LockTimeout(LOCK_QUERY_TIMEOUT * 4)),
        };
        if result.is_err() {
            self.lose();
        }
        result
    }

    async fn try_rebalance(&mut self) -> Result<()> {
        let (space, buckets) = (self.space, self.buckets);
        let conn = self.connection().await?;
        let relays: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND classid::bigint = $1 AND objsubid = 2 AND objid <> 0",
        )
        .bind(i64::from(space) + 1)
        .fetch_one(&mut *conn)
        .await
        .map_err(OutboxError::db("counting the relays"))?;
        let relays = u32::try_from(relays).unwrap_or(1);
        let plan = plan(buckets, &self.held, relays, self.member);
        let held_before = self.held.len();
        let conn = self.connection().await?;
        let mut released = Vec::new();
        for bucket in &plan.release {
            sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(space)
                .bind(*bucket as i32)
                .execute(&mut *conn)
                .await
                .map_err(OutboxError::db("releasing a bucket"))?;
            released.push(*bucket);
        }
        let mut taken = Vec::new();
        for bucket in plan.try_lock {
            if held_before - released.len() + taken.len() >= plan.want {
                break;
            }
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(space)
                .bind(bucket as i32)
                .fetch_one(&mut *conn)
                .await
                .map_err(OutboxError::db("locking a bucket"))?;
            if locked {
                taken.push(bucket);
            }
        }
        for bucket in &released {
            self.held.remove(bucket);
        }
        self.held.extend(taken.iter().copied());
        if !released.is_empty() || !taken.is_empty() {
            tracing::info!(relays, ?released, ?taken, held = ?self.held, "rebalanced buckets");
        }
        metrics::gauge!(sluice_telemetry::metrics::OUTBOX_BUCKETS_HELD).set(self.held.len() as f64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(b: &[u32]) -> BTreeSet<u32> {
        b.iter().copied().collect()
    }

    #[test]
    fn a_lone_relay_takes_everything() {
        let p = plan(4, &set(&[]), 1, 0);
        assert_eq!((p.want, p.try_lock), (4, vec![0, 1, 2, 3]));
        assert!(p.release.is_empty());
    }

    #[test]
    fn a_second_relay_makes_the_first_give_up_half() {
        let p = plan(16, &(0..16).collect(), 2, 5);
        assert_eq!(p.want, 8);
        assert_eq!(p.release, (8..16).collect::<Vec<_>>());
        let p = plan(16, &set(&[]), 2, 5);
        assert_eq!(p.want, 8);
        assert_eq!(p.try_lock[0], 5, "starts at its offset");
        assert_eq!(p.try_lock.len(), 16);
    }

    #[test]
    fn shares_cover_every_bucket() {
        for buckets in 1..40u32 {
            for relays in 1..8u32 {
                let want = plan(buckets, &set(&[]), relays, 0).want as u32;
                assert!(
                    want * relays >= buckets,
                    "{buckets} buckets, {relays} relays"
                );
            }
        }
    }

    #[test]
    fn a_fair_share_is_kept() {
        let p = plan(16, &set(&[1, 2, 3, 4, 5, 6, 7, 8]), 2, 0);
        assert!(p.release.is_empty() && p.try_lock.is_empty());
    }
}
