-- Procrastinate: the schema of a new database.
--
-- An existing database reaches exactly the same state by applying the files of
-- procrastinate/sql/migrations/ in order (tests/migration proves it). Function, trigger
-- and index names carry a _vN suffix: a new version of one is created beside the old
-- one, so that the code of the previous release keeps working during an upgrade.

-- Types

CREATE TYPE procrastinate_job_status AS ENUM (
    'todo',       -- waiting to be fetched by a worker
    'doing',      -- fetched, running on a worker
    'succeeded',  -- ended without error
    'failed',     -- ended with an error, no retry left
    'cancelled',  -- cancelled before it started
    'aborting',   -- kept for older databases; no longer used
    'aborted'     -- stopped while running, on request
);

CREATE TYPE procrastinate_job_event_type AS ENUM (
    'deferred',
    'started',
    'deferred_for_retry',
    'failed',
    'succeeded',
    'cancelled',
    'abort_requested',
    'aborted',
    'scheduled',
    'retried'
);

CREATE TYPE procrastinate_job_to_defer_v1 AS (
    queue_name character varying,
    task_name character varying,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    scheduled_at timestamp with time zone
);

-- How a job's lock orders it with the other jobs of the lock (see
-- procrastinate_fetch_jobs_v2).
CREATE TYPE procrastinate_lock_mode AS ENUM (
    'ordered',  -- every live job ahead blocks it, even one scheduled later
    'mutex'     -- only running jobs and due waiting jobs ahead block it
);

CREATE TYPE procrastinate_job_to_defer_v2 AS (
    queue_name character varying,
    task_name character varying,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    scheduled_at timestamp with time zone,
    lock_mode procrastinate_lock_mode
);

CREATE TYPE procrastinate_job_to_defer_v3 AS (
    queue_name character varying,
    task_name character varying,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    scheduled_at timestamp with time zone,
    lock_mode procrastinate_lock_mode,
    timeout double precision,
    metadata jsonb
);

-- Tables

CREATE TABLE procrastinate_workers (
    id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    last_heartbeat timestamp with time zone NOT NULL DEFAULT NOW()
);

CREATE TABLE procrastinate_jobs (
    id bigserial PRIMARY KEY,
    queue_name character varying(128) NOT NULL,
    task_name character varying(128) NOT NULL,
    priority integer NOT NULL DEFAULT 0,
    lock text,
    queueing_lock text,
    args jsonb NOT NULL DEFAULT '{}',
    status procrastinate_job_status NOT NULL DEFAULT 'todo',
    scheduled_at timestamp with time zone NULL,
    attempts integer NOT NULL DEFAULT 0,
    abort_requested boolean NOT NULL DEFAULT false,
    worker_id bigint REFERENCES procrastinate_workers(id) ON DELETE SET NULL,
    lock_mode procrastinate_lock_mode NOT NULL DEFAULT 'ordered',
    -- What the task returned, {"value": ...} (NULL for None), or {"refused": "<why>"}
    -- when the worker would not store it (too big, not JSON).
    result jsonb,
    -- What the last failed attempt raised: {"type", "message", "traceback"}.
    error jsonb,
    -- The job's own time limit in seconds; NULL: its task's.
    timeout double precision,
    -- What travels with the job beside its arguments (the trace context of its
    -- defer); NULL when unused.
    metadata jsonb,
    CONSTRAINT check_not_todo_abort_requested
        CHECK (NOT (status = 'todo' AND abort_requested = true))
);

CREATE TABLE procrastinate_periodic_defers (
    id bigserial PRIMARY KEY,
    task_name character varying(128) NOT NULL,
    defer_timestamp bigint,
    job_id bigint REFERENCES procrastinate_jobs(id) NULL,
    periodic_id character varying(128) NOT NULL DEFAULT '',
    CONSTRAINT procrastinate_periodic_defers_unique
        UNIQUE (task_name, periodic_id, defer_timestamp)
);

CREATE TABLE procrastinate_events (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES procrastinate_jobs ON DELETE CASCADE,
    type procrastinate_job_event_type,
    at timestamp with time zone DEFAULT NOW() NULL
);

-- The limits of a queue, for every worker together (procrastinate_fetch_jobs_v2): at
-- most max_running of its jobs running, at most max_starts started in any
-- per_seconds. recent_starts holds the start times within the latest period (at most
-- max_starts of them), a sliding window that fetch trims and appends to.
CREATE TABLE procrastinate_queue_limits (
    queue_name character varying(128) PRIMARY KEY,
    max_running integer,
    max_starts integer,
    per_seconds double precision,
    recent_starts timestamp with time zone[] NOT NULL DEFAULT '{}',
    CONSTRAINT procrastinate_queue_limits_check CHECK (
        (max_running IS NOT NULL OR max_starts IS NOT NULL)
        AND (max_running IS NULL OR max_running >= 1)
        AND ((max_starts IS NULL) = (per_seconds IS NULL))
        AND (max_starts IS NULL OR max_starts BETWEEN 1 AND 1000)
        AND (per_seconds IS NULL OR per_seconds > 0)
    )
);

-- The migration files (procrastinate/sql/migrations/) whose changes the database holds:
-- each file records its own name here, and healthchecks compare the record with the
-- files of the installed package.
CREATE TABLE procrastinate_migrations (
    name character varying(128) PRIMARY KEY,
    applied_at timestamp with time zone NOT NULL DEFAULT NOW()
);

-- The state of the queues that were ever paused; a queue without a row is active.
CREATE TABLE procrastinate_queues (
    queue_name character varying(128) PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false,
    paused_at timestamp with time zone,
    CONSTRAINT procrastinate_queues_paused_at_check
        CHECK (paused = (paused_at IS NOT NULL))
);

-- Indexes
--
-- Every index the worker relies on is partial on the live statuses (todo, doing), so
-- that fetching stays as fast with millions of finished jobs as with none.

-- At most one waiting job per queueing lock.
CREATE UNIQUE INDEX procrastinate_jobs_queueing_lock_idx_v1
    ON procrastinate_jobs (queueing_lock) WHERE status = 'todo';
-- At most one running job per lock, whatever the code that fetched it.
CREATE UNIQUE INDEX procrastinate_jobs_lock_idx_v1
    ON procrastinate_jobs (lock) WHERE status = 'doing';
-- Fetch order among waiting jobs.
CREATE INDEX procrastinate_jobs_priority_idx_v1
    ON procrastinate_jobs (priority DESC, id ASC) WHERE status = 'todo';
-- The lock rule of fetch: is another live job of the same lock ahead of this one?
CREATE INDEX procrastinate_jobs_lock_live_idx_v1
    ON procrastinate_jobs (lock, priority DESC, id ASC)
    WHERE status IN ('todo', 'doing') AND lock IS NOT NULL;
-- Only running jobs keep their worker_id, so this index stays small and makes both the
-- stalled-jobs query and the ON DELETE SET NULL of pruned workers cheap.
CREATE INDEX procrastinate_jobs_worker_id_idx_v1
    ON procrastinate_jobs (worker_id) WHERE worker_id IS NOT NULL;
-- Running jobs: what stalled-job recovery and abort checks look at.
CREATE INDEX procrastinate_jobs_doing_idx_v1
    ON procrastinate_jobs (id) WHERE status = 'doing';
CREATE INDEX procrastinate_jobs_queue_name_idx_v1
    ON procrastinate_jobs (queue_name);
CREATE INDEX procrastinate_events_job_id_fkey_v1
    ON procrastinate_events (job_id);
CREATE INDEX procrastinate_periodic_defers_job_id_fkey_v1
    ON procrastinate_periodic_defers (job_id);
CREATE INDEX procrastinate_workers_last_heartbeat_idx_v1
    ON procrastinate_workers (last_heartbeat);

-- Functions called by the library

CREATE FUNCTION procrastinate_defer_jobs_v1(jobs procrastinate_job_to_defer_v1[])
    RETURNS bigint[]
    LANGUAGE plpgsql
AS $$
DECLARE
    job_ids bigint[];
BEGIN
    -- Rows are inserted in the order of the array and ids come from one sequence, so
    -- sorting the new ids gives them back in the caller's order.
    WITH inserted AS (
        INSERT INTO procrastinate_jobs (
            queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at
        )
        SELECT
            job.queue_name,
            job.task_name,
            COALESCE(job.priority, 0),
            job.lock,
            job.queueing_lock,
            COALESCE(job.args, '{}'::jsonb),
            job.scheduled_at
        FROM unnest(jobs) WITH ORDINALITY AS job
        ORDER BY ordinality
        RETURNING id
    )
    SELECT array_agg(inserted.id ORDER BY inserted.id) INTO job_ids FROM inserted;
    RETURN job_ids;
END;
$$;

CREATE FUNCTION procrastinate_defer_jobs_v2(jobs procrastinate_job_to_defer_v2[])
    RETURNS bigint[]
    LANGUAGE plpgsql
AS $$
DECLARE
    job_ids bigint[];
BEGIN
    -- As procrastinate_defer_jobs_v1, with each job's lock mode.
    WITH inserted AS (
        INSERT INTO procrastinate_jobs (
            queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at,
            lock_mode
        )
        SELECT
            job.queue_name,
            job.task_name,
            COALESCE(job.priority, 0),
            job.lock,
            job.queueing_lock,
            COALESCE(job.args, '{}'::jsonb),
            job.scheduled_at,
            COALESCE(job.lock_mode, 'ordered')
        FROM unnest(jobs) WITH ORDINALITY AS job
        ORDER BY ordinality
        RETURNING id
    )
    SELECT array_agg(inserted.id ORDER BY inserted.id) INTO job_ids FROM inserted;
    RETURN job_ids;
END;
$$;

CREATE FUNCTION procrastinate_defer_jobs_v3(jobs jsonb)
    RETURNS SETOF bigint
    LANGUAGE plpgsql
AS $$
BEGIN
    -- As procrastinate_defer_jobs_v2, with each job's time limit and metadata, from
    -- a JSON array of objects whose keys are the fields of
    -- procrastinate_job_to_defer_v3 (a missing key is NULL: the column's default).
    -- The rows go from the JSON to the table in one statement, without the array
    -- of composites that v2 builds and unnests again: a fifth less server time on a
    -- batch of 1,000. The ids come back in the order of the array. In PL/pgSQL,
    -- whose plans last the session: an SQL function plans its statement at each call.
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO procrastinate_jobs (
            queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at,
            lock_mode, timeout, metadata
        )
        SELECT
            job.queue_name,
            job.task_name,
            COALESCE(job.priority, 0),
            job.lock,
            job.queueing_lock,
            COALESCE(job.args, '{}'::jsonb),
            job.scheduled_at,
            COALESCE(job.lock_mode, 'ordered'),
            job.timeout,
            job.metadata
        FROM jsonb_populate_recordset(NULL::procrastinate_job_to_defer_v3, jobs)
            WITH ORDINALITY AS job
        ORDER BY job.ordinality
        RETURNING id
    )
    SELECT inserted.id FROM inserted ORDER BY inserted.id;
END;
$$;

CREATE FUNCTION procrastinate_defer_periodic_job_v2(
    _queue_name character varying,
    _lock character varying,
    _queueing_lock character varying,
    _task_name character varying,
    _priority integer,
    _periodic_id character varying,
    _defer_timestamp bigint,
    _args jsonb
)
    RETURNS bigint
    LANGUAGE plpgsql
AS $$
DECLARE
    _defer_id bigint;
    _job_id bigint;
BEGIN
    -- The unique constraint on (task, periodic id, timestamp) is what guarantees one job
    -- per tick however many workers run the deferrer.
    INSERT INTO procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)
    VALUES (_task_name, _periodic_id, _defer_timestamp)
    ON CONFLICT DO NOTHING
    RETURNING id INTO _defer_id;

    IF _defer_id IS NULL THEN
        RETURN NULL;
    END IF;

    _job_id := (procrastinate_defer_jobs_v1(ARRAY[
        ROW(_queue_name, _task_name, _priority, _lock, _queueing_lock, _args, NULL)
            ::procrastinate_job_to_defer_v1
    ]))[1];

    UPDATE procrastinate_periodic_defers SET job_id = _job_id WHERE id = _defer_id;

    -- Only the latest tick of each periodic task is needed to avoid double defers.
    DELETE FROM procrastinate_periodic_defers
    WHERE task_name = _task_name
        AND periodic_id = _periodic_id
        AND defer_timestamp < _defer_timestamp;

    RETURN _job_id;
END;
$$;

CREATE FUNCTION procrastinate_defer_periodic_job_v3(
    _queue_name character varying,
    _lock character varying,
    _queueing_lock character varying,
    _task_name character varying,
    _priority integer,
    _periodic_id character varying,
    _defer_timestamp bigint,
    _args jsonb,
    _lock_mode procrastinate_lock_mode
)
    RETURNS bigint
    LANGUAGE plpgsql
AS $$
DECLARE
    _defer_id bigint;
    _job_id bigint;
BEGIN
    -- The unique constraint on (task, periodic id, timestamp) is what guarantees one job
    -- per tick however many workers run the deferrer.
    INSERT INTO procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)
    VALUES (_task_name, _periodic_id, _defer_timestamp)
    ON CONFLICT DO NOTHING
    RETURNING id INTO _defer_id;

    IF _defer_id IS NULL THEN
        RETURN NULL;
    END IF;

    _job_id := (procrastinate_defer_jobs_v2(ARRAY[
        ROW(
            _queue_name, _task_name, _priority, _lock, _queueing_lock, _args, NULL,
            _lock_mode
        )::procrastinate_job_to_defer_v2
    ]))[1];

    UPDATE procrastinate_periodic_defers SET job_id = _job_id WHERE id = _defer_id;

    -- Only the latest tick of each periodic task is needed to avoid double defers.
    DELETE FROM procrastinate_periodic_defers
    WHERE task_name = _task_name
        AND periodic_id = _periodic_id
        AND defer_timestamp < _defer_timestamp;

    RETURN _job_id;
END;
$$;

CREATE FUNCTION procrastinate_fetch_jobs_v1(
    target_queue_names character varying[],
    p_worker_id bigint,
    p_limit integer
)
    RETURNS SETOF procrastinate_jobs
    LANGUAGE plpgsql
AS $$
BEGIN
    -- A job with a lock may run only when no other live job of that lock is ahead of
    -- it: none running, none waiting with a higher priority or an equal priority and a
    -- smaller id. The head of a lock group blocks the others even when it is scheduled
    -- later or sits in a queue this worker does not listen to, which keeps lock order.
    RETURN QUERY
    WITH candidates AS (
        SELECT jobs.id
        FROM procrastinate_jobs AS jobs
        WHERE jobs.status = 'todo'
            AND (target_queue_names IS NULL OR jobs.queue_name = ANY(target_queue_names))
            AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= NOW())
            AND (
                jobs.lock IS NULL
                OR NOT EXISTS (
                    SELECT 1
                    FROM procrastinate_jobs AS other
                    WHERE other.lock = jobs.lock
                        AND other.id <> jobs.id
                        AND other.status IN ('todo', 'doing')
                        AND (
                            other.status = 'doing'
                            OR other.priority > jobs.priority
                            OR (other.priority = jobs.priority AND other.id < jobs.id)
                        )
                )
            )
        ORDER BY jobs.priority DESC, jobs.id ASC
        LIMIT p_limit
        FOR UPDATE OF jobs SKIP LOCKED
    )
    UPDATE procrastinate_jobs
    SET status = 'doing', worker_id = p_worker_id
    FROM candidates
    WHERE procrastinate_jobs.id = candidates.id
    RETURNING procrastinate_jobs.*;
END;
$$;

CREATE FUNCTION procrastinate_fetchable_jobs_v1(
    target_queue_names character varying[],
    excluded_queue_names character varying[],
    excluded_ids bigint[],
    p_limit integer
)
    RETURNS TABLE (id bigint, priority integer, queue_name character varying)
    LANGUAGE plpgsql
AS $$
BEGIN
    -- The first p_limit jobs that may start now, in fetch order, locked (SKIP LOCKED:
    -- concurrent fetches take different jobs). A job with a lock may run only when no
    -- other live job of that lock is ahead of it (a higher priority, or the same
    -- priority and a smaller id) or running. For an 'ordered' job, every waiting job
    -- ahead counts, even one scheduled later or in a queue this worker does not listen
    -- to; for a 'mutex' job, only the due ones.
    RETURN QUERY
    SELECT jobs.id, jobs.priority, jobs.queue_name
    FROM procrastinate_jobs AS jobs
    WHERE jobs.status = 'todo'
        AND (target_queue_names IS NULL OR jobs.queue_name = ANY(target_queue_names))
        AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= NOW())
        AND jobs.queue_name <> ALL(excluded_queue_names)
        AND jobs.id <> ALL(excluded_ids)
        AND (
            jobs.lock IS NULL
            OR NOT EXISTS (
                SELECT 1
                FROM procrastinate_jobs AS other
                WHERE other.lock = jobs.lock
                    AND other.id <> jobs.id
                    AND other.status IN ('todo', 'doing')
                    AND (
                        other.status = 'doing'
                        OR (
                            (
                                other.priority > jobs.priority
                                OR (other.priority = jobs.priority AND other.id < jobs.id)
                            )
                            AND (
                                jobs.lock_mode = 'ordered'
                                OR other.scheduled_at IS NULL
                                OR other.scheduled_at <= NOW()
                            )
                        )
                    )
            )
        )
    ORDER BY jobs.priority DESC, jobs.id ASC
    LIMIT p_limit
    FOR UPDATE OF jobs SKIP LOCKED;
END;
$$;

CREATE FUNCTION procrastinate_fetch_jobs_v2(
    target_queue_names character varying[],
    p_worker_id bigint,
    p_limit integer
)
    RETURNS SETOF procrastinate_jobs
    LANGUAGE plpgsql
AS $$
DECLARE
    _limited character varying[];
    _budgets integer[];
    _exhausted character varying[] := '{}';
    _picked bigint[] := '{}';
    _batch bigint[];
    _batch_queues character varying[];
    _wanted integer;
    _index integer;
    _dropped boolean;
    _now timestamp with time zone;
    _paused character varying[];
BEGIN
    -- The paused queues among those of this fetch, read once: the table is small,
    -- and an empty array costs the candidate scan nothing.
    SELECT COALESCE(array_agg(queues.queue_name), '{}') INTO _paused
    FROM procrastinate_queues AS queues
    WHERE queues.paused
        AND (target_queue_names IS NULL OR queues.queue_name = ANY(target_queue_names));

    -- The limits of the queues this fetch may take from, locked in name order: the
    -- fetches of limited queues take turns (and never deadlock), so that each one
    -- counts the jobs that the previous one started. Unlimited queues have no row and
    -- lock nothing.
    SELECT array_agg(locked.queue_name ORDER BY locked.queue_name) INTO _limited
    FROM (
        SELECT lim.queue_name
        FROM procrastinate_queue_limits AS lim
        WHERE target_queue_names IS NULL OR lim.queue_name = ANY(target_queue_names)
        ORDER BY lim.queue_name
        FOR UPDATE
    ) AS locked;

    IF _limited IS NULL THEN
        -- No limit applies: the query of procrastinate_fetchable_jobs_v1 (without its
        -- exclusions) in one statement, as v1 does. Calling the function instead costs
        -- a fifth more per fetch: keep both copies of the lock rule alike.
        RETURN QUERY
        WITH started AS (
            UPDATE procrastinate_jobs
            SET status = 'doing', worker_id = p_worker_id
            FROM (
                SELECT jobs.id, jobs.priority, jobs.queue_name
                FROM procrastinate_jobs AS jobs
                WHERE jobs.status = 'todo'
                    AND (target_queue_names IS NULL OR jobs.queue_name = ANY(target_queue_names))
                    AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= NOW())
                    AND jobs.queue_name <> ALL(_paused)
                    AND (
                        jobs.lock IS NULL
                        OR NOT EXISTS (
                            SELECT 1
                            FROM procrastinate_jobs AS other
                            WHERE other.lock = jobs.lock
                                AND other.id <> jobs.id
                                AND other.status IN ('todo', 'doing')
                                AND (
                                    other.status = 'doing'
                                    OR (
                                        (
                                            other.priority > jobs.priority
                                            OR (other.priority = jobs.priority AND other.id < jobs.id)
                                        )
                                        AND (
                                            jobs.lock_mode = 'ordered'
                                            OR other.scheduled_at IS NULL
                                            OR other.scheduled_at <= NOW()
                                        )
                                    )
                                )
                        )
                    )
                ORDER BY jobs.priority DESC, jobs.id ASC
                LIMIT p_limit
                FOR UPDATE OF jobs SKIP LOCKED
            ) AS candidate
            WHERE procrastinate_jobs.id = candidate.id
            RETURNING procrastinate_jobs.*
        )
        SELECT * FROM started ORDER BY started.priority DESC, started.id;
        RETURN;
    END IF;

    -- A new statement, hence a new snapshot: it sees the jobs started by the fetch
    -- that held the locks before us. The budget of a queue is how many of its jobs
    -- may start now.
    _now := clock_timestamp();
    SELECT array_agg(
        greatest(0, least(
            COALESCE(lim.max_running - (
                SELECT count(*) FROM procrastinate_jobs AS running
                WHERE running.status = 'doing' AND running.queue_name = lim.queue_name
            ), p_limit),
            COALESCE(lim.max_starts - (
                SELECT count(*) FROM unnest(lim.recent_starts) AS started(at)
                WHERE started.at > _now - make_interval(secs => lim.per_seconds)
            ), p_limit)
        ))::integer
        ORDER BY lim.queue_name
    ) INTO _budgets
    FROM procrastinate_queue_limits AS lim
    WHERE lim.queue_name = ANY(_limited);
    -- Paused queues are left out like exhausted ones.
    SELECT _paused || COALESCE(array_agg(queue_name), '{}') INTO _exhausted
    FROM unnest(_limited, _budgets) AS budget(queue_name, left_to_start)
    WHERE left_to_start = 0;

    -- A batch taken in fetch order may hold more jobs of a limited queue than its
    -- budget: the extra ones are left, the queue is then excluded, and the free slots
    -- are fetched again; at most once more per limited queue.
    LOOP
        _wanted := p_limit - cardinality(_picked);
        SELECT
            COALESCE(array_agg(candidate.id ORDER BY candidate.priority DESC, candidate.id), '{}'),
            COALESCE(array_agg(candidate.queue_name ORDER BY candidate.priority DESC, candidate.id), '{}')
        INTO _batch, _batch_queues
        FROM procrastinate_fetchable_jobs_v1(
            target_queue_names, _exhausted, _picked, _wanted
        ) AS candidate;

        _dropped := false;
        FOR _i IN 1 .. cardinality(_batch) LOOP
            _index := array_position(_limited, _batch_queues[_i]);
            IF _index IS NULL THEN
                _picked := _picked || _batch[_i];
            ELSIF _budgets[_index] > 0 THEN
                _picked := _picked || _batch[_i];
                _budgets[_index] := _budgets[_index] - 1;
                IF _budgets[_index] = 0 THEN
                    _exhausted := _exhausted || _batch_queues[_i];
                END IF;
            ELSE
                _dropped := true;
            END IF;
        END LOOP;

        EXIT WHEN NOT _dropped
            OR cardinality(_batch) < _wanted
            OR cardinality(_picked) >= p_limit;
    END LOOP;

    IF cardinality(_picked) = 0 THEN
        RETURN;
    END IF;

    -- Record the starts in the sliding windows, dropping the starts older than their
    -- period.
    UPDATE procrastinate_queue_limits AS lim
    SET recent_starts = ARRAY(
            SELECT started.at FROM unnest(lim.recent_starts) AS started(at)
            WHERE started.at > _now - make_interval(secs => lim.per_seconds)
        ) || array_fill(_now, ARRAY[starts.count])
    FROM (
        SELECT jobs.queue_name, count(*)::integer AS count
        FROM procrastinate_jobs AS jobs
        WHERE jobs.id = ANY(_picked)
        GROUP BY jobs.queue_name
    ) AS starts
    WHERE lim.queue_name = starts.queue_name AND lim.max_starts IS NOT NULL;

    RETURN QUERY
    WITH started AS (
        UPDATE procrastinate_jobs
        SET status = 'doing', worker_id = p_worker_id
        WHERE procrastinate_jobs.id = ANY(_picked)
        RETURNING procrastinate_jobs.*
    )
    SELECT * FROM started ORDER BY started.priority DESC, started.id;
END;
$$;

-- The outcomes of a batch of a worker's runs, stored in one statement: see the
-- store_outcomes query, which calls it, for the JSON array it takes and the rows it
-- returns (the job's id and what was done).
CREATE FUNCTION procrastinate_store_outcomes_v1(outcomes jsonb)
    RETURNS TABLE (job_id bigint, stored text)
    LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY
    WITH outcome AS (
        SELECT *
        FROM jsonb_to_recordset(outcomes) AS outcome(
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
END;
$$;

-- A worker's outcomes stored, then up to p_limit jobs fetched for it, in one round trip
-- and one transaction: a row per outcome (job_id, stored, and a NULL job), then a row
-- per fetched job (NULL job_id and stored). The fetch is a statement of its own, hence
-- a new snapshot: it sees the outcomes just stored, so the next job of a lock that one
-- of them held may start in the same transaction that records the previous one
-- finished, never before. The fetch rules are procrastinate_fetch_jobs_v2's.
CREATE FUNCTION procrastinate_store_outcomes_and_fetch_v1(
    outcomes jsonb,
    target_queue_names character varying[],
    p_worker_id bigint,
    p_limit integer
)
    RETURNS TABLE (job_id bigint, stored text, job procrastinate_jobs)
    LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY
    SELECT outcome.job_id, outcome.stored, NULL::procrastinate_jobs
    FROM procrastinate_store_outcomes_v1(outcomes) AS outcome;

    RETURN QUERY
    SELECT NULL::bigint, NULL::text, fetched
    FROM procrastinate_fetch_jobs_v2(target_queue_names, p_worker_id, p_limit) AS fetched;
END;
$$;

CREATE FUNCTION procrastinate_set_queue_paused_v1(
    target_queue_name character varying,
    pause boolean
)
    RETURNS boolean
    LANGUAGE plpgsql
AS $$
DECLARE
    _was_paused boolean;
BEGIN
    -- The row is locked, so that two concurrent calls agree on which one changed it.
    INSERT INTO procrastinate_queues (queue_name) VALUES (target_queue_name)
    ON CONFLICT (queue_name) DO NOTHING;
    SELECT paused INTO _was_paused
    FROM procrastinate_queues WHERE queue_name = target_queue_name
    FOR UPDATE;

    IF _was_paused = pause THEN
        RETURN false;
    END IF;

    UPDATE procrastinate_queues
    SET paused = pause, paused_at = CASE WHEN pause THEN NOW() END
    WHERE queue_name = target_queue_name;

    IF NOT pause THEN
        -- Idle workers of the queue wait for a notification or their next poll:
        -- this one, sent at commit, makes them fetch the jobs that waited at once.
        PERFORM pg_notify(
            channel,
            jsonb_build_object('type', 'queue_resumed', 'queue', target_queue_name)::text
        )
        FROM unnest(ARRAY[
            procrastinate_queue_channel_v1(target_queue_name), 'procrastinate_any_queue_v1'
        ]) AS channel;
    END IF;
    RETURN true;
END;
$$;

CREATE FUNCTION procrastinate_finish_job_v1(
    job_id bigint,
    end_status procrastinate_job_status,
    delete_job boolean
)
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    _job_id bigint;
BEGIN
    IF end_status NOT IN ('succeeded', 'failed', 'aborted') THEN
        RAISE 'End status should be either "succeeded", "failed" or "aborted" (job id: %)', job_id;
    END IF;

    IF delete_job THEN
        DELETE FROM procrastinate_jobs
        WHERE id = job_id AND status IN ('todo', 'doing')
        RETURNING id INTO _job_id;
    ELSE
        -- A finished job lets go of its worker: only running jobs point to a worker.
        UPDATE procrastinate_jobs
        SET status = end_status,
            abort_requested = false,
            attempts = CASE status WHEN 'doing' THEN attempts + 1 ELSE attempts END,
            worker_id = NULL
        WHERE id = job_id AND status IN ('todo', 'doing')
        RETURNING id INTO _job_id;
    END IF;

    IF _job_id IS NULL THEN
        RAISE 'Job was not found or not in "doing" or "todo" status (job id: %)', job_id;
    END IF;
END;
$$;

CREATE FUNCTION procrastinate_retry_job_v2(
    job_id bigint,
    retry_at timestamp with time zone,
    new_priority integer,
    new_queue_name character varying,
    new_lock character varying
)
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    _job_id bigint;
    _abort_requested boolean;
    _current_status procrastinate_job_status;
BEGIN
    SELECT status, abort_requested
    FROM procrastinate_jobs
    WHERE id = job_id AND status IN ('doing', 'failed')
    FOR UPDATE
    INTO _current_status, _abort_requested;

    IF _current_status = 'doing' AND _abort_requested THEN
        -- A job whose abort was requested is not retried: it ends as aborted.
        UPDATE procrastinate_jobs
        SET status = 'aborted', abort_requested = false, attempts = attempts + 1,
            worker_id = NULL
        WHERE id = job_id;
        RETURN;
    END IF;

    UPDATE procrastinate_jobs
    SET status = 'todo',
        attempts = attempts + 1,
        scheduled_at = retry_at,
        priority = COALESCE(new_priority, priority),
        queue_name = COALESCE(new_queue_name, queue_name),
        lock = COALESCE(new_lock, lock),
        worker_id = NULL
    WHERE id = job_id AND status IN ('doing', 'failed')
    RETURNING id INTO _job_id;

    IF _job_id IS NULL THEN
        RAISE 'Job was not found or not in "doing" or "failed" status (job id: %)', job_id;
    END IF;
END;
$$;

CREATE FUNCTION procrastinate_result_jsonb_v1(value text)
    RETURNS jsonb
    LANGUAGE plpgsql
    STRICT
AS $$
BEGIN
    RETURN value::jsonb;
EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
    -- JSON that PostgreSQL refuses (NaN, \u0000, a lone surrogate, too deep): the
    -- job's outcome is stored all the same, with the reason instead of the value.
    RETURN jsonb_build_object(
        'refused', 'the database cannot store the value as JSON: ' || SQLERRM
    );
END;
$$;

CREATE FUNCTION procrastinate_finish_job_v2(
    job_id bigint,
    end_status procrastinate_job_status,
    delete_job boolean,
    job_result jsonb,
    job_error jsonb
)
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    _job_id bigint;
BEGIN
    -- As procrastinate_finish_job_v1, storing the result and the error of the run.
    IF end_status NOT IN ('succeeded', 'failed', 'aborted') THEN
        RAISE 'End status should be either "succeeded", "failed" or "aborted" (job id: %)', job_id;
    END IF;

    IF delete_job THEN
        DELETE FROM procrastinate_jobs
        WHERE id = job_id AND status IN ('todo', 'doing')
        RETURNING id INTO _job_id;
    ELSE
        -- A success keeps the error of an earlier attempt: it says why there was a
        -- retry.
        UPDATE procrastinate_jobs
        SET status = end_status,
            abort_requested = false,
            attempts = CASE status WHEN 'doing' THEN attempts + 1 ELSE attempts END,
            worker_id = NULL,
            result = COALESCE(job_result, result),
            error = COALESCE(job_error, error)
        WHERE id = job_id AND status IN ('todo', 'doing')
        RETURNING id INTO _job_id;
    END IF;

    IF _job_id IS NULL THEN
        RAISE 'Job was not found or not in "doing" or "todo" status (job id: %)', job_id;
    END IF;
END;
$$;

CREATE FUNCTION procrastinate_retry_job_v3(
    job_id bigint,
    retry_at timestamp with time zone,
    new_priority integer,
    new_queue_name character varying,
    new_lock character varying,
    job_error jsonb
)
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    _job_id bigint;
    _abort_requested boolean;
    _current_status procrastinate_job_status;
BEGIN
    -- As procrastinate_retry_job_v2, storing the error of the failed attempt (a
    -- manual retry gives none, and keeps the one stored).
    SELECT status, abort_requested
    FROM procrastinate_jobs
    WHERE id = job_id AND status IN ('doing', 'failed')
    FOR UPDATE
    INTO _current_status, _abort_requested;

    IF _current_status = 'doing' AND _abort_requested THEN
        -- A job whose abort was requested is not retried: it ends as aborted.
        UPDATE procrastinate_jobs
        SET status = 'aborted', abort_requested = false, attempts = attempts + 1,
            worker_id = NULL, error = COALESCE(job_error, error)
        WHERE id = job_id;
        RETURN;
    END IF;

    UPDATE procrastinate_jobs
    SET status = 'todo',
        attempts = attempts + 1,
        scheduled_at = retry_at,
        priority = COALESCE(new_priority, priority),
        queue_name = COALESCE(new_queue_name, queue_name),
        lock = COALESCE(new_lock, lock),
        worker_id = NULL,
        error = COALESCE(job_error, error)
    WHERE id = job_id AND status IN ('doing', 'failed')
    RETURNING id INTO _job_id;

    IF _job_id IS NULL THEN
        RAISE 'Job was not found or not in "doing" or "failed" status (job id: %)', job_id;
    END IF;
END;
$$;

CREATE FUNCTION procrastinate_cancel_job_v1(job_id bigint, abort boolean, delete_job boolean)
    RETURNS bigint
    LANGUAGE plpgsql
AS $$
DECLARE
    _job_id bigint;
BEGIN
    IF delete_job THEN
        DELETE FROM procrastinate_jobs
        WHERE id = job_id AND status = 'todo'
        RETURNING id INTO _job_id;
    END IF;
    IF _job_id IS NULL THEN
        IF abort THEN
            UPDATE procrastinate_jobs
            SET abort_requested = true,
                status = CASE status WHEN 'todo' THEN 'cancelled'::procrastinate_job_status
                                     ELSE status END
            WHERE id = job_id AND status IN ('todo', 'doing')
            RETURNING id INTO _job_id;
        ELSE
            UPDATE procrastinate_jobs
            SET status = 'cancelled'::procrastinate_job_status
            WHERE id = job_id AND status = 'todo'
            RETURNING id INTO _job_id;
        END IF;
    END IF;
    RETURN _job_id;
END;
$$;

CREATE FUNCTION procrastinate_register_worker_v1()
    RETURNS TABLE(worker_id bigint)
    LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY
    INSERT INTO procrastinate_workers DEFAULT VALUES
    RETURNING procrastinate_workers.id;
END;
$$;

CREATE FUNCTION procrastinate_unregister_worker_v1(worker_id bigint)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM procrastinate_workers WHERE id = worker_id;
END;
$$;

CREATE FUNCTION procrastinate_update_heartbeat_v1(worker_id bigint)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE procrastinate_workers SET last_heartbeat = NOW() WHERE id = worker_id;
END;
$$;

CREATE FUNCTION procrastinate_prune_stalled_workers_v1(seconds_since_heartbeat float)
    RETURNS TABLE(worker_id bigint)
    LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY
    DELETE FROM procrastinate_workers
    WHERE last_heartbeat < NOW() - make_interval(secs => seconds_since_heartbeat)
    RETURNING procrastinate_workers.id;
END;
$$;

CREATE FUNCTION procrastinate_queue_channel_v1(queue_name character varying)
    RETURNS text
    LANGUAGE plpgsql
    IMMUTABLE
AS $$
DECLARE
    channel text := 'procrastinate_queue_v1#' || queue_name;
BEGIN
    -- Channel names are identifiers, at most 63 bytes: LISTEN silently truncates a
    -- longer one, but pg_notify refuses it. Truncating the same way here keeps long
    -- queue names working (queues sharing a long prefix then share a channel).
    WHILE octet_length(channel) > 63 LOOP
        channel := left(channel, -1);
    END LOOP;
    RETURN channel;
END;
$$;

-- Trigger functions
--
-- The events and the notifications of inserted and updated jobs come from
-- statement-level triggers: each reads the rows of its statement from the transition
-- tables and writes all their events in one INSERT, however many jobs the statement
-- touched (a batch defer, a batch fetch, a batch of outcomes). Within a statement,
-- each job's events and notifications keep the order of the former row triggers.

-- Per job, a notification on its queue's channel then one on the any-queue channel;
-- jobs in the order of the arrays.
CREATE FUNCTION procrastinate_notify_jobs_v1(
    notification_type text,
    job_ids bigint[],
    queue_names character varying[]
)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    -- Each queue's channel name is computed once, not once per job.
    PERFORM pg_notify(
        target.channel,
        jsonb_build_object('type', notification_type, 'job_id', job.id)::text
    )
    FROM unnest(job_ids, queue_names) WITH ORDINALITY AS job(id, queue_name, rank)
    JOIN (
        SELECT DISTINCT name, procrastinate_queue_channel_v1(name) AS channel
        FROM unnest(queue_names) AS name
    ) AS queue ON queue.name = job.queue_name
    CROSS JOIN LATERAL (
        VALUES (1, queue.channel), (2, 'procrastinate_any_queue_v1')
    ) AS target(rank, channel)
    ORDER BY job.rank, target.rank;
END;
$$;

CREATE FUNCTION procrastinate_trigger_function_jobs_inserted_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO procrastinate_events (job_id, type, at)
    SELECT job.id, event.type, event.at
    FROM new_jobs AS job
    CROSS JOIN LATERAL (
        VALUES
            (1, 'scheduled'::procrastinate_job_event_type, job.scheduled_at),
            (2, 'deferred', NOW())
    ) AS event(rank, type, at)
    -- Only a scheduled job has a 'scheduled' event (at its scheduled_at).
    WHERE job.status = 'todo' AND event.at IS NOT NULL
    ORDER BY job.id, event.rank;

    PERFORM procrastinate_notify_jobs_v1(
        'job_inserted', array_agg(id ORDER BY id), array_agg(queue_name ORDER BY id)
    )
    FROM new_jobs
    WHERE status = 'todo'
    HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION procrastinate_trigger_function_jobs_updated_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    ids bigint[];
    previous_statuses procrastinate_job_status[];
    statuses procrastinate_job_status[];
    schedules timestamp with time zone[];
    queue_names character varying[];
BEGIN
    -- The old and new rows are paired by sorting both on id, not by a join: the plan
    -- of this function is cached, and a join planned for the one-row statements of a
    -- session would be quadratic for its statements of many rows.
    SELECT previous.statuses, job.ids, job.statuses, job.schedules, job.queue_names
    INTO previous_statuses, ids, statuses, schedules, queue_names
    FROM (
        SELECT array_agg(status ORDER BY id) AS statuses FROM old_jobs
    ) AS previous,
    (
        SELECT array_agg(id ORDER BY id) AS ids,
            array_agg(status ORDER BY id) AS statuses,
            array_agg(scheduled_at ORDER BY id) AS schedules,
            array_agg(queue_name ORDER BY id) AS queue_names
        FROM new_jobs
    ) AS job;

    -- Any update of a scheduled waiting job records its schedule again, as 3.x did.
    INSERT INTO procrastinate_events (job_id, type, at)
    SELECT job.id, event.type, event.at
    FROM unnest(ids, previous_statuses, statuses, schedules)
        WITH ORDINALITY AS job(id, previous_status, status, scheduled_at, rank)
    CROSS JOIN LATERAL (
        VALUES
            (
                1,
                CASE WHEN job.status = 'todo' AND job.scheduled_at IS NOT NULL
                    THEN 'scheduled'::procrastinate_job_event_type END,
                job.scheduled_at
            ),
            (
                2,
                CASE
                    WHEN job.previous_status = 'todo' AND job.status = 'doing'
                        THEN 'started'
                    WHEN job.previous_status = 'doing' AND job.status = 'todo'
                        THEN 'deferred_for_retry'
                    WHEN job.previous_status = 'doing' AND job.status = 'failed'
                        THEN 'failed'
                    WHEN job.previous_status = 'doing' AND job.status = 'succeeded'
                        THEN 'succeeded'
                    WHEN job.previous_status = 'doing' AND job.status = 'aborted'
                        THEN 'aborted'
                    WHEN job.previous_status = 'todo'
                        AND job.status IN ('cancelled', 'failed', 'succeeded')
                        THEN 'cancelled'
                    WHEN job.previous_status = 'failed' AND job.status = 'todo'
                        THEN 'retried'
                END::procrastinate_job_event_type,
                NOW()
            )
    ) AS event(rank, type, at)
    WHERE event.type IS NOT NULL
    ORDER BY job.rank, event.rank;

    -- A job sent back to the queue by a retry wakes listening workers too, so that an
    -- immediate retry does not wait for the polling interval.
    PERFORM procrastinate_notify_jobs_v1(
        'job_inserted',
        array_agg(job.id ORDER BY job.rank),
        array_agg(job.queue_name ORDER BY job.rank)
    )
    FROM unnest(ids, previous_statuses, statuses, schedules, queue_names)
        WITH ORDINALITY
        AS job(id, previous_status, status, scheduled_at, queue_name, rank)
    WHERE job.previous_status <> 'todo' AND job.status = 'todo'
        AND (job.scheduled_at IS NULL OR job.scheduled_at <= NOW())
    HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION procrastinate_notify_jobs_finished_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    -- One notification for the whole statement (per 300 ids, which keeps the payload
    -- under PostgreSQL's 8000 bytes whatever the ids): a batch of outcomes must not
    -- send one per job.
    PERFORM pg_notify(
        'procrastinate_job_finished_v1',
        jsonb_build_object('job_ids', jsonb_agg(finished.id ORDER BY finished.id))::text
    )
    FROM (
        SELECT id, (row_number() OVER (ORDER BY id) - 1) / 300 AS chunk
        FROM new_jobs
        WHERE status IN ('succeeded', 'failed', 'cancelled', 'aborted')
    ) AS finished
    GROUP BY finished.chunk;
    RETURN NULL;
END;
$$;

-- Abort requests concern one running job at a time: row triggers, which only run when
-- their condition holds.
CREATE FUNCTION procrastinate_notify_queue_abort_job_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    payload text;
BEGIN
    payload := jsonb_build_object('type', 'abort_job_requested', 'job_id', NEW.id)::text;
    PERFORM pg_notify(procrastinate_queue_channel_v1(NEW.queue_name), payload);
    PERFORM pg_notify('procrastinate_any_queue_v1', payload);
    RETURN NEW;
END;
$$;

CREATE FUNCTION procrastinate_trigger_abort_requested_events_procedure_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO procrastinate_events(job_id, type) VALUES (NEW.id, 'abort_requested');
    RETURN NEW;
END;
$$;

CREATE FUNCTION procrastinate_unlink_periodic_defers_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE procrastinate_periodic_defers SET job_id = NULL WHERE job_id = OLD.id;
    RETURN OLD;
END;
$$;

-- Triggers

CREATE TRIGGER procrastinate_trigger_jobs_inserted_v1
    AFTER INSERT ON procrastinate_jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE PROCEDURE procrastinate_trigger_function_jobs_inserted_v1();

CREATE TRIGGER procrastinate_trigger_jobs_finished_v1
    AFTER UPDATE ON procrastinate_jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE PROCEDURE procrastinate_notify_jobs_finished_v1();

CREATE TRIGGER procrastinate_trigger_jobs_updated_v1
    AFTER UPDATE ON procrastinate_jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE PROCEDURE procrastinate_trigger_function_jobs_updated_v1();

CREATE TRIGGER procrastinate_jobs_notify_queue_job_aborted_v1
    AFTER UPDATE OF abort_requested ON procrastinate_jobs
    FOR EACH ROW WHEN (
        OLD.abort_requested = false AND NEW.abort_requested = true
        AND NEW.status = 'doing'
    )
    EXECUTE PROCEDURE procrastinate_notify_queue_abort_job_v1();

CREATE TRIGGER procrastinate_trigger_abort_requested_events_v1
    AFTER UPDATE OF abort_requested ON procrastinate_jobs
    FOR EACH ROW WHEN (OLD.abort_requested = false AND NEW.abort_requested = true)
    EXECUTE PROCEDURE procrastinate_trigger_abort_requested_events_procedure_v1();

CREATE TRIGGER procrastinate_trigger_delete_jobs_v1
    BEFORE DELETE ON procrastinate_jobs
    FOR EACH ROW
    EXECUTE PROCEDURE procrastinate_unlink_periodic_defers_v1();

-- This schema includes every migration file so far.

INSERT INTO procrastinate_migrations (name) VALUES
    ('03.10.00_01_pre_upgrade_from_3_10.sql'),
    ('03.10.00_30_pre_queue_pause.sql'),
    ('03.10.00_40_pre_lock_modes_limits.sql'),
    ('03.10.00_42_pre_job_results.sql'),
    ('03.10.00_44_pre_job_options.sql'),
    ('03.10.00_46_pre_store_and_fetch.sql'),
    ('03.10.00_50_post_upgrade_from_3_10.sql'),
    ('03.10.00_60_post_lean_triggers.sql');
