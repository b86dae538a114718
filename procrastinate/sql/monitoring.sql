-- The queries of the monitoring tools: the Prometheus metrics and the web dashboard.
--
-- Same format as queries.sql. Every query that runs on a schedule (a scrape, a page
-- refresh) reads only live jobs through the partial indexes on 'todo' and 'doing', or
-- walks the primary key from a bound, so that its cost follows the backlog or the page
-- size, never the millions of finished jobs a busy database keeps.

-- metrics_snapshot --
-- The queue-level metrics in one round trip, one row per (metric, queue, status):
-- live jobs per queue and status, the jobs ready to run (waiting and not scheduled
-- later) and the age of the oldest of them per queue, and the workers whose heartbeat
-- is recent. The oldest ready job of a queue is its earliest
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
    SELECT queue_name, count(*) AS jobs,
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
SELECT 'ready_jobs', queue_name, NULL, jobs::float8
FROM ready
UNION ALL
SELECT 'workers_alive', NULL, NULL, count(*)::float8
FROM procrastinate_workers
WHERE last_heartbeat >= NOW() - make_interval(secs => %(seconds_since_heartbeat)s);

-- dashboard_job_ids --
-- The smallest and largest job ids (two lookups in the primary key)
SELECT min(id) AS first_id, max(id) AS last_id FROM procrastinate_jobs;

-- dashboard_jobs --
-- Up to %(limit)s jobs matching every given filter, newest first, among the ids from
-- %(floor)s to %(before)s (excluded): keyset pagination over a bounded window of the
-- primary key, so that a page costs the same with 10M finished jobs as with none,
-- even for a filter that few jobs match (the next page goes on below the window).
SELECT id, queue_name, task_name, priority, lock, queueing_lock, args, status,
    scheduled_at, attempts, abort_requested, worker_id
FROM procrastinate_jobs
WHERE id < %(before)s AND id >= %(floor)s
    AND (%(queue_name)s::varchar IS NULL OR queue_name = %(queue_name)s)
    AND (%(task_name)s::varchar IS NULL OR task_name = %(task_name)s)
    AND (%(status)s::procrastinate_job_status IS NULL OR status = %(status)s)
    AND (%(lock)s::text IS NULL OR lock = %(lock)s)
ORDER BY id DESC
LIMIT %(limit)s;

-- dashboard_job_events --
-- The events of one job, in the order they happened
SELECT type::text AS type, at FROM procrastinate_events
WHERE job_id = %(job_id)s
ORDER BY at, id;

-- dashboard_workers --
-- The registered workers, their last heartbeat and how many jobs each one runs
SELECT worker.id, worker.last_heartbeat,
    extract(epoch FROM NOW() - worker.last_heartbeat)::float8 AS heartbeat_age,
    (
        SELECT count(*) FROM procrastinate_jobs AS job WHERE job.worker_id = worker.id
    ) AS running
FROM procrastinate_workers AS worker
ORDER BY worker.id;

-- dashboard_throughput --
-- Jobs that ended in each of the last 60 minutes, per final event type. Events are
-- read from the newest backwards through the primary key, at most %(max_events)s of
-- them, so that the cost is bounded however busy the database was; a last row
-- (minute -1) tells how many seconds back that read covers (3600 or more: the whole
-- hour), so that a chart can say when it is cut short.
WITH bounds AS (
    SELECT coalesce(max(id), 0) - %(max_events)s AS above,
        coalesce(min(id), 0) AS first_id
    FROM procrastinate_events
)
SELECT floor(date_part('epoch', NOW() - at) / 60)::integer AS minute,
    type::text AS type, count(*)::integer AS jobs
FROM procrastinate_events
WHERE id > (SELECT above FROM bounds)
    AND at > NOW() - interval '1 hour' AND at <= NOW()
    AND type IN ('succeeded', 'failed', 'aborted', 'deferred_for_retry')
GROUP BY 1, 2
UNION ALL
SELECT -1, 'covered_seconds', CASE
    WHEN first_id > above THEN 3600
    ELSE coalesce((
        SELECT date_part('epoch', NOW() - at)::integer FROM procrastinate_events
        WHERE id > above ORDER BY id LIMIT 1
    ), 0)
END
FROM bounds;
