-- The named queries that procrastinate runs.
--
-- Each query starts with a line "-- <name> --" followed by comment lines describing it;
-- procrastinate.sql parses this file into a dict name -> SQL. Parameters use the
-- %(name)s form. Every query is a single statement: run alone, it is its own
-- transaction, so the hot paths (defer, fetch, finish) cost one round trip each.

-- defer_jobs --
-- Insert a batch of jobs. %(jobs)s is a JSON array of objects whose keys are the
-- fields of procrastinate_job_to_defer_v3 (a missing key is NULL, which the function
-- reads as the column's default); ids come back in the order of the array.
SELECT procrastinate_defer_jobs_v3(%(jobs)s::jsonb) AS id;

-- defer_periodic_job --
-- Defer the job of one periodic tick, unless another worker already did (NULL then)
SELECT procrastinate_defer_periodic_job_v3(
    %(queue)s, %(lock)s, %(queueing_lock)s, %(task_name)s, %(priority)s,
    %(periodic_id)s, %(defer_timestamp)s, %(args)s, %(lock_mode)s
) AS id;

-- fetch_jobs --
-- Mark up to %(limit)s jobs as doing for a worker and return them, none of a paused
-- queue. The args come as JSON text and scheduled_at as epoch text: no driver can
-- fail to read them, so a value the client cannot hold fails its own job, never the
-- batch.
SELECT id, status, task_name, priority, lock, queueing_lock, args::text AS args_text,
    extract(epoch FROM scheduled_at)::text AS scheduled_at_epoch, queue_name,
    attempts, abort_requested, worker_id, lock_mode, timeout,
    metadata::text AS metadata_text
FROM procrastinate_fetch_jobs_v2(%(queues)s::varchar[], %(worker_id)s, %(limit)s);

-- finish_job --
-- Set the final status of a job, or delete it. With %(worker_id)s (a worker storing
-- its outcome), only while the job runs and that worker owns it, or no worker does
-- (its worker was pruned and nobody recovered it yet): the row, locked, cannot change
-- hands meanwhile. No row comes back when the worker lost the job. %(result)s and
-- %(error)s (JSON text, or NULL) are the run's result and error; JSON that the
-- database refuses stores the reason instead of the value.
SELECT procrastinate_finish_job_v2(
    %(job_id)s, %(status)s, %(delete_job)s,
    procrastinate_result_jsonb_v1(%(result)s::text), %(error)s::jsonb
) AS finished
WHERE %(worker_id)s::bigint IS NULL OR EXISTS (
    SELECT 1 FROM procrastinate_jobs
    WHERE id = %(job_id)s AND status = 'doing'
        AND (worker_id = %(worker_id)s OR worker_id IS NULL)
    FOR UPDATE
);

-- store_outcomes --
-- Store the outcomes of a batch of runs in one statement: %(outcomes)s is a JSON
-- array of objects (id, worker_id, status, delete_job, retry_at, priority,
-- queue_name, lock, and result and error as JSON text, as finish_job takes them). Each job is stored only while it runs and its worker, or no
-- worker, owns it; the rows are locked in id order, so that two batches never wait
-- on each other. An outcome with a retry_at sends the job back to the queue, unless
-- its abort was requested (it ends failed: the error wins) or its queueing lock is
-- held by a waiting job, or by an earlier retry of the batch (it then ends with its
-- status, as it cannot wait twice). One row per outcome: its id and what was done
-- ('finished', 'deleted', 'retried', 'retry_skipped'), NULL when the worker lost it.
WITH outcome AS (
    SELECT *
    FROM jsonb_to_recordset(%(outcomes)s::jsonb) AS outcome(
        id bigint, worker_id bigint, status procrastinate_job_status,
        delete_job boolean, retry_at timestamp with time zone, priority integer,
        queue_name character varying, lock character varying, result text,
        error text
    )
),
owned AS (
    SELECT job.id, job.queueing_lock,
        outcome.retry_at IS NOT NULL AND NOT job.abort_requested AS retrying,
        outcome.retry_at IS NOT NULL AND job.abort_requested AS abort_won
    FROM procrastinate_jobs AS job
    JOIN outcome ON outcome.id = job.id
    WHERE job.status = 'doing'
        AND (job.worker_id = outcome.worker_id OR job.worker_id IS NULL)
    ORDER BY job.id
    FOR UPDATE OF job
),
ranked AS (
    SELECT owned.*,
        row_number() OVER (
            PARTITION BY owned.queueing_lock, owned.retrying ORDER BY owned.id
        ) AS rank
    FROM owned
),
decided AS (
    SELECT outcome.*,
        CASE
            WHEN ranked.abort_won THEN 'aborted_retry'
            WHEN ranked.retrying AND (
                ranked.queueing_lock IS NULL
                OR ranked.rank = 1 AND NOT EXISTS (
                    SELECT 1 FROM procrastinate_jobs AS waiting
                    WHERE waiting.queueing_lock = ranked.queueing_lock
                        AND waiting.status = 'todo'
                )
            ) THEN 'retried'
            WHEN ranked.retrying AND outcome.delete_job THEN 'retry_skipped_deleted'
            WHEN ranked.retrying THEN 'retry_skipped'
            WHEN outcome.delete_job THEN 'deleted'
            ELSE 'finished'
        END AS action
    FROM outcome
    JOIN ranked ON ranked.id = outcome.id
),
deleted AS (
    DELETE FROM procrastinate_jobs AS job
    USING decided
    WHERE job.id = decided.id
        AND decided.action IN ('deleted', 'retry_skipped_deleted')
    RETURNING job.id
),
updated AS (
    UPDATE procrastinate_jobs AS job
    SET status = CASE decided.action
            WHEN 'retried' THEN 'todo'
            WHEN 'aborted_retry' THEN 'failed'
            ELSE decided.status
        END,
        attempts = job.attempts + 1,
        scheduled_at = CASE decided.action
            WHEN 'retried' THEN decided.retry_at ELSE job.scheduled_at
        END,
        priority = CASE decided.action
            WHEN 'retried' THEN COALESCE(decided.priority, job.priority)
            ELSE job.priority
        END,
        queue_name = CASE decided.action
            WHEN 'retried' THEN COALESCE(decided.queue_name, job.queue_name)
            ELSE job.queue_name
        END,
        lock = CASE decided.action
            WHEN 'retried' THEN COALESCE(decided.lock, job.lock) ELSE job.lock
        END,
        abort_requested = false,
        worker_id = NULL,
        -- As procrastinate_finish_job_v2 and procrastinate_retry_job_v3 store them.
        result = CASE decided.action
            WHEN 'retried' THEN job.result
            WHEN 'aborted_retry' THEN job.result
            ELSE COALESCE(procrastinate_result_jsonb_v1(decided.result), job.result)
        END,
        error = COALESCE(decided.error::jsonb, job.error)
    FROM decided
    WHERE job.id = decided.id
        AND decided.action NOT IN ('deleted', 'retry_skipped_deleted')
    RETURNING job.id
)
SELECT outcome.id, CASE decided.action
        WHEN 'aborted_retry' THEN 'finished'
        WHEN 'retry_skipped_deleted' THEN 'retry_skipped'
        ELSE decided.action
    END AS stored
FROM outcome
LEFT JOIN decided ON decided.id = outcome.id
ORDER BY outcome.id;

-- retry_job --
-- Send a running or failed job back to the queue, scheduled at %(retry_at)s. A
-- running job whose abort was requested ends failed instead: the error wins, and an
-- abort request forbids a retry. %(worker_id)s restricts it like finish_job; %(error)s
-- (JSON text, or NULL for a manual retry) is the error of the failed attempt.
WITH job AS (
    SELECT id, status, abort_requested FROM procrastinate_jobs
    WHERE id = %(job_id)s
        AND (
            %(worker_id)s::bigint IS NULL
            OR status = 'doing' AND (worker_id = %(worker_id)s OR worker_id IS NULL)
        )
    FOR UPDATE
)
SELECT CASE WHEN job.status = 'doing' AND job.abort_requested
    THEN procrastinate_finish_job_v2(job.id, 'failed', false, NULL, %(error)s::jsonb)
    ELSE procrastinate_retry_job_v3(
        %(job_id)s, %(retry_at)s, %(new_priority)s, %(new_queue_name)s, %(new_lock)s,
        %(error)s::jsonb
    )
END AS retried
FROM (SELECT) AS one
LEFT JOIN job ON true
WHERE %(worker_id)s::bigint IS NULL OR job.id IS NOT NULL;

-- cancel_job --
-- Cancel a waiting job, or request the abort of a running one
SELECT procrastinate_cancel_job_v1(%(job_id)s, %(abort)s, %(delete_job)s) AS id;

-- get_job_status --
-- Get the status of a job
SELECT status FROM procrastinate_jobs WHERE id = %(job_id)s;

-- get_job_result --
-- A job's status, stored result and error, and the times of its events: the value
-- as JSON text (read by the app's json_loads), so that a value the client cannot
-- hold fails only its reading. What the job is (task, arguments, queue, priority, its
-- worker while it runs, its starts) serves readers that rebuild it, such as the
-- Django tasks backend
SELECT job.id, job.status, job.attempts,
    (job.result -> 'value')::text AS value_text, job.result ->> 'refused' AS refused,
    job.error::text AS error_text,
    job.task_name, job.queue_name, job.priority, job.args, job.scheduled_at,
    job.worker_id, times.starts, times.first_started_at,
    times.deferred_at, times.started_at, times.finished_at
FROM procrastinate_jobs AS job
CROSS JOIN LATERAL (
    SELECT min(at) FILTER (WHERE type = 'deferred') AS deferred_at,
        count(*) FILTER (WHERE type = 'started') AS starts,
        min(at) FILTER (WHERE type = 'started') AS first_started_at,
        max(at) FILTER (WHERE type = 'started') AS started_at,
        max(at) FILTER (
            WHERE type IN ('succeeded', 'failed', 'cancelled', 'aborted')
        ) AS finished_at
    FROM procrastinate_events WHERE job_id = job.id
) AS times
WHERE job.id = %(job_id)s;

-- list_jobs_to_abort --
-- Ids of the running jobs whose abort was requested
SELECT id FROM procrastinate_jobs
WHERE status = 'doing' AND abort_requested
    AND (%(queue)s::varchar IS NULL OR queue_name = %(queue)s);

-- list_jobs_to_stop --
-- Of the jobs %(job_ids)s that a worker runs, those it must stop: their abort was
-- requested, or they are no longer its own (recovered by another worker, retried,
-- finished or deleted meanwhile)
SELECT ids.id, coalesce(job.abort_requested, false) AS abort_requested,
    (
        job.id IS NULL OR job.status <> 'doing'
        OR job.worker_id IS DISTINCT FROM %(worker_id)s AND job.worker_id IS NOT NULL
    ) AS lost
FROM unnest(%(job_ids)s::bigint[]) AS ids(id)
LEFT JOIN procrastinate_jobs AS job ON job.id = ids.id
WHERE job.id IS NULL OR job.abort_requested OR job.status <> 'doing'
    OR job.worker_id IS DISTINCT FROM %(worker_id)s AND job.worker_id IS NOT NULL
ORDER BY ids.id;

-- select_stalled_jobs_by_started --
-- Running jobs whose last "started" event is older than %(nb_seconds)s (rows as
-- fetch_jobs gives them)
SELECT job.id, status, task_name, priority, lock, queueing_lock,
    args::text AS args_text, extract(epoch FROM scheduled_at)::text AS scheduled_at_epoch,
    queue_name, attempts, abort_requested, worker_id, lock_mode, timeout,
    metadata::text AS metadata_text
FROM procrastinate_jobs AS job
JOIN LATERAL (
    SELECT max(at) AS started_at FROM procrastinate_events
    WHERE job_id = job.id AND type = 'started'
) AS started ON true
WHERE job.status = 'doing'
    AND started.started_at < NOW() - make_interval(secs => %(nb_seconds)s)
    AND (%(queue)s::varchar IS NULL OR job.queue_name = %(queue)s)
    AND (%(task_name)s::varchar IS NULL OR job.task_name = %(task_name)s)
ORDER BY job.id;

-- select_stalled_jobs_by_heartbeat --
-- Running jobs whose worker is gone or has not sent a heartbeat for a while (rows as
-- fetch_jobs gives them)
SELECT job.id, status, task_name, priority, lock, queueing_lock,
    args::text AS args_text, extract(epoch FROM scheduled_at)::text AS scheduled_at_epoch,
    queue_name, attempts, abort_requested, worker_id, lock_mode, timeout,
    metadata::text AS metadata_text
FROM procrastinate_jobs AS job
LEFT JOIN procrastinate_workers AS worker ON worker.id = job.worker_id
WHERE job.status = 'doing'
    AND (
        worker.id IS NULL
        OR worker.last_heartbeat
            < NOW() - make_interval(secs => %(seconds_since_heartbeat)s)
    )
    AND (%(queue)s::varchar IS NULL OR job.queue_name = %(queue)s)
    AND (%(task_name)s::varchar IS NULL OR job.task_name = %(task_name)s)
ORDER BY job.id;

-- claim_orphaned_jobs --
-- Take over the running jobs whose worker was pruned, so that exactly one worker
-- recovers each of them (rows as fetch_jobs gives them)
UPDATE procrastinate_jobs SET worker_id = %(worker_id)s
WHERE id IN (
    SELECT id FROM procrastinate_jobs
    WHERE status = 'doing' AND worker_id IS NULL
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
RETURNING id, status, task_name, priority, lock, queueing_lock, args::text AS args_text,
    extract(epoch FROM scheduled_at)::text AS scheduled_at_epoch, queue_name,
    attempts, abort_requested, worker_id, lock_mode, timeout,
    metadata::text AS metadata_text;

-- delete_old_jobs --
-- Delete finished jobs whose last event is older than %(nb_hours)s hours
DELETE FROM procrastinate_jobs AS job
WHERE job.status = ANY(%(statuses)s::procrastinate_job_status[])
    AND (%(queue)s::varchar IS NULL OR job.queue_name = %(queue)s)
    AND (
        SELECT max(at) FROM procrastinate_events WHERE job_id = job.id
    ) < NOW() - make_interval(hours => %(nb_hours)s);

-- listen_queue --
-- Listen to a notification channel; the name is quoted by the connector
LISTEN {channel_name};

-- check_connection --
-- Whether the procrastinate schema is reachable
SELECT TRUE AS check FROM pg_catalog.pg_class
WHERE oid = to_regclass('procrastinate_jobs');

-- migrations_recorded --
-- Whether the database records its migrations (procrastinate 3.x did not)
SELECT to_regclass('procrastinate_migrations') IS NOT NULL AS recorded;

-- list_migrations --
-- The migration files the database records as applied
SELECT name FROM procrastinate_migrations;

-- list_jobs --
-- List jobs, optionally filtered; args and scheduled_at as text, as the worker's
-- fetch sends them, so that one value Python cannot hold does not break the listing
SELECT id, queue_name, task_name, priority, lock, queueing_lock,
    args::text AS args_text, status,
    extract(epoch FROM scheduled_at)::text AS scheduled_at_epoch,
    attempts, abort_requested, worker_id, lock_mode, timeout,
    metadata::text AS metadata_text
FROM procrastinate_jobs
WHERE (%(id)s::bigint IS NULL OR id = %(id)s)
    AND (%(queue_name)s::varchar IS NULL OR queue_name = %(queue_name)s)
    AND (%(task_name)s::varchar IS NULL OR task_name = %(task_name)s)
    AND (%(status)s::procrastinate_job_status IS NULL OR status = %(status)s)
    AND (%(lock)s::varchar IS NULL OR lock = %(lock)s)
    AND (%(queueing_lock)s::varchar IS NULL OR queueing_lock = %(queueing_lock)s)
    AND (%(worker_id)s::bigint IS NULL OR worker_id = %(worker_id)s)
ORDER BY id ASC;

-- list_stats --
-- Number of jobs per status for each queue, task or lock: %(group_by)s names the column
-- ('queue_name', 'task_name' or 'lock'); jobs without a lock are left out of the locks
SELECT name, SUM(count)::bigint AS jobs_count, jsonb_object_agg(status, count) AS stats
FROM (
    SELECT
        CASE %(group_by)s::text
            WHEN 'queue_name' THEN queue_name
            WHEN 'task_name' THEN task_name
            WHEN 'lock' THEN lock
        END AS name,
        status,
        COUNT(*) AS count
    FROM procrastinate_jobs
    WHERE (%(queue_name)s::varchar IS NULL OR queue_name = %(queue_name)s)
        AND (%(task_name)s::varchar IS NULL OR task_name = %(task_name)s)
        AND (%(status)s::procrastinate_job_status IS NULL OR status = %(status)s)
        AND (%(lock)s::varchar IS NULL OR lock = %(lock)s)
    GROUP BY 1, status
) AS per_status
WHERE name IS NOT NULL
GROUP BY name
ORDER BY name;

-- set_queue_paused --
-- Pause (%(pause)s true) or resume a queue; whether its state changed. Resuming
-- notifies the queue's workers, so that they fetch at once
SELECT procrastinate_set_queue_paused_v1(%(queue_name)s, %(pause)s) AS changed;

-- list_queue_states --
-- The queues that were ever paused, by name, with whether they are paused now
SELECT queue_name AS name, paused, paused_at
FROM procrastinate_queues
WHERE %(queue_name)s::varchar IS NULL OR queue_name = %(queue_name)s
ORDER BY queue_name;

-- register_worker --
-- Register a worker and get its id
SELECT worker_id FROM procrastinate_register_worker_v1();

-- unregister_worker --
-- Remove a worker from the registry
SELECT procrastinate_unregister_worker_v1(%(worker_id)s);

-- update_heartbeat --
-- Record that a worker is alive; no row when it is not registered any more (pruned)
UPDATE procrastinate_workers SET last_heartbeat = NOW()
WHERE id = %(worker_id)s
RETURNING id;

-- reregister_worker --
-- Register a pruned worker again, and give it back those of its running jobs that no
-- other worker claimed meanwhile (claim_orphaned_jobs skips the rows locked here)
WITH worker AS (
    SELECT worker_id FROM procrastinate_register_worker_v1()
), reattached AS (
    UPDATE procrastinate_jobs SET worker_id = (SELECT worker_id FROM worker)
    WHERE id = ANY(%(job_ids)s::bigint[]) AND status = 'doing' AND worker_id IS NULL
    RETURNING id
)
SELECT (SELECT worker_id FROM worker) AS worker_id,
    ARRAY(SELECT id FROM reattached ORDER BY id) AS job_ids;

-- prune_stalled_workers --
-- Remove the workers without a recent heartbeat; their jobs lose their worker_id
SELECT worker_id FROM procrastinate_prune_stalled_workers_v1(%(seconds_since_heartbeat)s);

-- set_queue_limit --
-- Set the limits of a queue, replacing the ones it had; the starts already recorded
-- stay, so that a new rate counts them
INSERT INTO procrastinate_queue_limits (queue_name, max_running, max_starts, per_seconds)
VALUES (%(queue_name)s, %(max_running)s, %(max_starts)s, %(per_seconds)s)
ON CONFLICT (queue_name) DO UPDATE
SET max_running = EXCLUDED.max_running,
    max_starts = EXCLUDED.max_starts,
    per_seconds = EXCLUDED.per_seconds;

-- clear_queue_limit --
-- Remove the limits of a queue; whether it had any
DELETE FROM procrastinate_queue_limits WHERE queue_name = %(queue_name)s
RETURNING queue_name;

-- list_queue_limits --
-- The limited queues, by name, with their limits and the jobs they run now
SELECT lim.queue_name, lim.max_running, lim.max_starts, lim.per_seconds,
    (
        SELECT count(*) FROM procrastinate_jobs AS jobs
        WHERE jobs.status = 'doing' AND jobs.queue_name = lim.queue_name
    )::integer AS running
FROM procrastinate_queue_limits AS lim
ORDER BY lim.queue_name;
