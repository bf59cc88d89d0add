//! PKCE observations for the readiness report, aggregated per client and day.

use pixie_core::report::Observation;

use crate::exec::{col, Arg, Columns, FromRow};
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
        let args: Vec<Vec<Arg<'_>>> = batch
            .iter()
            .map(|d| {
                let o = &d.observation;
                vec![
                    Arg::Text(&d.env_id),
                    Arg::Text(&o.client_id),
                    Arg::Int(d.day),
                    Arg::Text(&o.method),
                    Arg::Text(&o.outcome),
                    Arg::Text(&o.rule),
                    Arg::Int(o.count),
                    Arg::Int(o.first_seen),
                    Arg::Int(o.last_seen),
                ]
            })
            .collect();
        let statements: Vec<(&str, Vec<Arg<'_>>)> = args.into_iter().map(|a| (ADD_PKCE_STAT, a)).collect();
        self.execute_all(&statements).await?;
        Ok(())
    }

    /// Requests of an environment per day from `since_day` on, by method and outcome:
    /// (day, method, outcome, count), by day.
    pub async fn pkce_daily(&self, env_id: &str, since_day: i64) -> StoreResult<Vec<(i64, String, String, i64)>> {
        let _t = self.timer("pkce_daily");
        let rows: Vec<Daily> = self
            .fetch_all(
                "SELECT day, method, outcome, CAST(SUM(count) AS BIGINT) AS count FROM pkce_stats \
                 WHERE env_id = $1 AND day >= $2 GROUP BY day, method, outcome ORDER BY day, method, outcome",
                &[Arg::Text(env_id), Arg::Int(since_day)],
            )
            .await?;
        Ok(rows.into_iter().map(|d| (d.0, d.1, d.2, d.3)).collect())
    }

    /// The observations of an environment from `since_day` on, summed over days.
    pub async fn pkce_stats(&self, env_id: &str, since_day: i64) -> StoreResult<Vec<Observation>> {
        let _t = self.timer("pkce_stats");
        let rows: Vec<Summed> = self
            .fetch_all(
                "SELECT client_id, method, outcome, rule, CAST(SUM(count) AS BIGINT) AS count, \
             MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen FROM pkce_stats \
             WHERE env_id = $1 AND day >= $2 GROUP BY client_id, method, outcome, rule \
             ORDER BY client_id, method, outcome, rule",
                &[Arg::Text(env_id), Arg::Int(since_day)],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

/// Adds one batch entry to its day's row.
const ADD_PKCE_STAT: &str =
    "INSERT INTO pkce_stats (env_id, client_id, day, method, outcome, rule, count, first_seen, last_seen) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM environments WHERE id = $1) \
     ON CONFLICT (env_id, client_id, day, method, outcome, rule) DO UPDATE SET \
     count = pkce_stats.count + excluded.count, \
     first_seen = CASE WHEN excluded.first_seen < pkce_stats.first_seen \
                  THEN excluded.first_seen ELSE pkce_stats.first_seen END, \
     last_seen = CASE WHEN excluded.last_seen > pkce_stats.last_seen \
                 THEN excluded.last_seen ELSE pkce_stats.last_seen END";

/// A day's count of one method and outcome, read.
struct Daily(i64, String, String, i64);

impl FromRow for Daily {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self(
            col(r, "day")?,
            col(r, "method")?,
            col(r, "outcome")?,
            col(r, "count")?,
        ))
    }
}

/// A summed observation, read.
struct Summed(Observation);

impl FromRow for Summed {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self(Observation {
            client_id: col(r, "client_id")?,
            method: col(r, "method")?,
            outcome: col(r, "outcome")?,
            rule: col(r, "rule")?,
            count: col(r, "count")?,
            first_seen: col(r, "first_seen")?,
            last_seen: col(r, "last_seen")?,
        }))
    }
}
