-- The queries of the operations tools: the Prometheus metrics and the web dashboard.
--
-- Same format as queries.sql. Every query that runs on a schedule (a scrape, a page
-- refresh) reads only live jobs through the partial indexes on 'todo' and 'doing', or
-- walks the primary key from a bound, so that its cost follows the backlog or the page
-- size, never the millions of finished jobs a busy database keeps.

-- metrics_snapshot --
-- The queue-level metrics in one round trip, one row per (metric, queue, status):
-- live jobs per queue and status, the age of the oldest ready job per queue, and the
-- workers whose heartbeat is recent. The oldest ready job of a queue is its earliest
-- scheduled_at among ready scheduled jobs, or else the latest (re)queueing event of
-- its unscheduled job of smallest id: ids follow defer order, so one event lookup per
-- queue is enough.
-- One branch per status: each one matches the partial index of its status, which
-- "status IN ('todo', 'doing')" would not (the planner scans the table then).
WITH live AS (
    SELECT queue_name, 'todo' AS status, count(*) AS jobs
    FROM procrastinate_jobs WHERE status = 'todo'
    GROUP BY queue_name
    UNION ALL
    SELECT queue_name, 'doing', count(*)
    FROM procrastinate_jobs WHERE status = 'doing'
    GROUP BY queue_name
), ready AS (
    SELECT queue_name,
        min(id) FILTER (WHERE scheduled_at IS NULL) AS first_id,
        min(scheduled_at) AS first_scheduled_at
    FROM procrastinate_jobs
    WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= NOW())
    GROUP BY queue_name
)
SELECT 'jobs' AS metric, queue_name AS queue, status,
    jobs::float8 AS value
FROM live
UNION ALL
SELECT 'oldest_ready_job_age', queue_name, NULL,
    greatest(0, extract(epoch FROM NOW() - least(
        first_scheduled_at,
        (
            SELECT max(at) FROM procrastinate_events
            WHERE job_id = first_id
                AND type IN ('deferred', 'deferred_for_retry', 'retried')
        )
    )))::float8
FROM ready
UNION ALL
SELECT 'workers_alive', NULL, NULL, count(*)::float8
FROM procrastinate_workers
WHERE last_heartbeat >= NOW() - make_interval(secs => %(seconds_since_heartbeat)s);
