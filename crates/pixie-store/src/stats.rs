//! PKCE observations for the readiness report, aggregated per client and day.

use pixie_core::report::Observation;

use crate::exec::col;
use crate::{Store, StoreResult};

/// A batch entry: observations of one kind on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkceStatDelta {
    /// The environment.
    pub env_id: String,
    /// The day (days since the epoch, UTC).
    pub day: i64,
    /// The observations (client, method, outcome, rule, count, first/last seen).
    pub observation: Observation,
}

impl Store {
    /// Adds a batch of observations in one transaction.
    pub async fn add_pkce_stats(&self, batch: &[PkceStatDelta]) -> StoreResult<()> {
        let _t = self.timer("add_pkce_stats");
        let mut tx = self.pool().begin().await?;
        for d in batch {
            let o = &d.observation;
            sqlx::query(
                "INSERT INTO pkce_stats (env_id, client_id, day, method, outcome, rule, count, first_seen, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (env_id, client_id, day, method, outcome, rule) DO UPDATE SET \
                 count = pkce_stats.count + excluded.count, \
                 first_seen = CASE WHEN excluded.first_seen < pkce_stats.first_seen \
                              THEN excluded.first_seen ELSE pkce_stats.first_seen END, \
                 last_seen = CASE WHEN excluded.last_seen > pkce_stats.last_seen \
                             THEN excluded.last_seen ELSE pkce_stats.last_seen END",
            )
            .bind(&d.env_id)
            .bind(&o.client_id)
            .bind(d.day)
            .bind(&o.method)
            .bind(&o.outcome)
            .bind(&o.rule)
            .bind(o.count)
            .bind(o.first_seen)
            .bind(o.last_seen)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The observations of an environment from `since_day` on, summed over days.
    pub async fn pkce_stats(&self, env_id: &str, since_day: i64) -> StoreResult<Vec<Observation>> {
        let _t = self.timer("pkce_stats");
        let rows = sqlx::query(
            "SELECT client_id, method, outcome, rule, CAST(SUM(count) AS BIGINT) AS count, \
             MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen FROM pkce_stats \
             WHERE env_id = $1 AND day >= $2 GROUP BY client_id, method, outcome, rule \
             ORDER BY client_id, method, outcome, rule",
        )
        .bind(env_id)
        .bind(since_day)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Observation {
                    client_id: col(r, "client_id")?,
                    method: col(r, "method")?,
                    outcome: col(r, "outcome")?,
                    rule: col(r, "rule")?,
                    count: col(r, "count")?,
                    first_seen: col(r, "first_seen")?,
                    last_seen: col(r, "last_seen")?,
                })
            })
            .collect()
    }
}
