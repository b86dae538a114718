-- Lock modes and queue limits: a part applied BEFORE deploying the new code.
--
-- Jobs get a lock mode ('ordered', the behaviour so far and the default, or 'mutex'),
-- stored at defer by procrastinate_defer_jobs_v2; queues may get limits, in
-- procrastinate_queue_limits. procrastinate_fetch_jobs_v2 honours both.
--
-- Procrastinate 3.10 and the previous version of this code keep working on the result:
-- they defer through procrastinate_defer_jobs_v1 (their jobs are 'ordered', as they
-- expect) and fetch through procrastinate_fetch_jobs_v1, which stays. While they run
-- beside new workers, they take 'mutex' jobs as 'ordered' ones (such a job may wait
-- behind a job scheduled later, never run beside another job of its lock: the unique
-- index on running locks holds for every version), and they ignore the queue limits.
-- Limits hold once every worker runs the new code. This procrastinate_fetch_jobs_v2
-- replaces the one of 03.10.00_30_pre_queue_pause.sql, and keeps skipping paused
-- queues.
--
-- Adding a column with a constant default rewrites nothing: the file is quick on a
-- big table. Every statement only creates what is missing, so that a run stopped
-- halfway can be started again.

DO $$
BEGIN
    IF to_regtype('procrastinate_lock_mode') IS NULL THEN
        CREATE TYPE procrastinate_lock_mode AS ENUM (
            'ordered',  -- every live job ahead blocks it, even one scheduled later
            'mutex'     -- only running jobs and due waiting jobs ahead block it
        );
    END IF;
    IF to_regtype('procrastinate_job_to_defer_v2') IS NULL THEN
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
    END IF;
END;
$$;

ALTER TABLE procrastinate_jobs
    ADD COLUMN IF NOT EXISTS lock_mode procrastinate_lock_mode NOT NULL DEFAULT 'ordered';

CREATE TABLE IF NOT EXISTS procrastinate_queue_limits (
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

CREATE OR REPLACE FUNCTION procrastinate_defer_jobs_v2(jobs procrastinate_job_to_defer_v2[])
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

CREATE OR REPLACE FUNCTION procrastinate_defer_periodic_job_v3(
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

CREATE OR REPLACE FUNCTION procrastinate_fetchable_jobs_v1(
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

CREATE OR REPLACE FUNCTION procrastinate_fetch_jobs_v2(
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

INSERT INTO procrastinate_migrations (name)
VALUES ('03.10.00_40_pre_lock_modes_limits.sql')
ON CONFLICT DO NOTHING;
