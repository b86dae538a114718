-- From procrastinate 3.10 to this version: the part applied BEFORE deploying the new
-- code.
--
-- It starts from a database created by procrastinate 3.10 (no release since 3.4
-- changed the schema) or from an empty one, and creates what is missing: the
-- migration record, the new functions and indexes; it replaces the functions and
-- triggers whose code changed. Procrastinate 3.10 keeps working on the result (its fetch function and
-- indexes stay until 03.10.00_50_post_upgrade_from_3_10.sql), so that 3.10 workers
-- and ours can run side by side while the new code is deployed.
--
-- Every statement only creates what is missing, so that a run stopped halfway (by a
-- tool that does not wrap the file in a transaction) can be started again.
--
-- It takes locks on procrastinate_jobs while it builds indexes and cleans rows up:
-- workers and deferrers wait for it, and it is quicker when old finished jobs have
-- been deleted first.

DO $$
BEGIN
    -- 3.4 added procrastinate_retry_job_v2; a schema without it is older and would
    -- only be half upgraded by what follows.
    IF to_regclass('procrastinate_jobs') IS NOT NULL
        AND to_regprocedure(
            'procrastinate_retry_job_v2(bigint, timestamp with time zone, integer, '
            'character varying, character varying)'
        ) IS NULL
    THEN
        RAISE EXCEPTION 'This database holds the schema of a procrastinate older '
            'than 3.10: upgrade it to procrastinate 3.10 first (its own migrations), '
            'then apply this file';
    END IF;
END;
$$;

-- Types

DO $$
BEGIN
    IF to_regtype('procrastinate_job_status') IS NULL THEN
        CREATE TYPE procrastinate_job_status AS ENUM (
            'todo',       -- waiting to be fetched by a worker
            'doing',      -- fetched, running on a worker
            'succeeded',  -- ended without error
            'failed',     -- ended with an error, no retry left
            'cancelled',  -- cancelled before it started
            'aborting',   -- kept for older databases; no longer used
            'aborted'     -- stopped while running, on request
        );
    END IF;
    IF to_regtype('procrastinate_job_event_type') IS NULL THEN
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
    END IF;
    IF to_regtype('procrastinate_job_to_defer_v1') IS NULL THEN
        CREATE TYPE procrastinate_job_to_defer_v1 AS (
            queue_name character varying,
            task_name character varying,
            priority integer,
            lock text,
            queueing_lock text,
            args jsonb,
            scheduled_at timestamp with time zone
        );
    END IF;
END;
$$;

-- Tables (3.10 has the same ones)

CREATE TABLE IF NOT EXISTS procrastinate_workers (
    id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    last_heartbeat timestamp with time zone NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS procrastinate_jobs (
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
    CONSTRAINT check_not_todo_abort_requested
        CHECK (NOT (status = 'todo' AND abort_requested = true))
);

CREATE TABLE IF NOT EXISTS procrastinate_periodic_defers (
    id bigserial PRIMARY KEY,
    task_name character varying(128) NOT NULL,
    defer_timestamp bigint,
    job_id bigint REFERENCES procrastinate_jobs(id) NULL,
    periodic_id character varying(128) NOT NULL DEFAULT '',
    CONSTRAINT procrastinate_periodic_defers_unique
        UNIQUE (task_name, periodic_id, defer_timestamp)
);

CREATE TABLE IF NOT EXISTS procrastinate_events (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES procrastinate_jobs ON DELETE CASCADE,
    type procrastinate_job_event_type,
    at timestamp with time zone DEFAULT NOW() NULL
);

CREATE TABLE IF NOT EXISTS procrastinate_migrations (
    name character varying(128) PRIMARY KEY,
    applied_at timestamp with time zone NOT NULL DEFAULT NOW()
);

-- Indexes that 3.10 has too

CREATE UNIQUE INDEX IF NOT EXISTS procrastinate_jobs_queueing_lock_idx_v1
    ON procrastinate_jobs (queueing_lock) WHERE status = 'todo';
CREATE UNIQUE INDEX IF NOT EXISTS procrastinate_jobs_lock_idx_v1
    ON procrastinate_jobs (lock) WHERE status = 'doing';
CREATE INDEX IF NOT EXISTS procrastinate_jobs_priority_idx_v1
    ON procrastinate_jobs (priority DESC, id ASC) WHERE status = 'todo';
CREATE INDEX IF NOT EXISTS procrastinate_jobs_queue_name_idx_v1
    ON procrastinate_jobs (queue_name);
CREATE INDEX IF NOT EXISTS procrastinate_events_job_id_fkey_v1
    ON procrastinate_events (job_id);
CREATE INDEX IF NOT EXISTS procrastinate_periodic_defers_job_id_fkey_v1
    ON procrastinate_periodic_defers (job_id);
-- The same index under the name of our convention: no code refers to index names,
-- so renaming it now is safe for 3.10, and cheaper than building it again.
ALTER INDEX IF EXISTS idx_procrastinate_workers_last_heartbeat
    RENAME TO procrastinate_workers_last_heartbeat_idx_v1;
CREATE INDEX IF NOT EXISTS procrastinate_workers_last_heartbeat_idx_v1
    ON procrastinate_workers (last_heartbeat);

-- Functions called by the library

CREATE OR REPLACE FUNCTION procrastinate_defer_jobs_v1(jobs procrastinate_job_to_defer_v1[])
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

CREATE OR REPLACE FUNCTION procrastinate_defer_periodic_job_v2(
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

CREATE OR REPLACE FUNCTION procrastinate_fetch_jobs_v1(
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

CREATE OR REPLACE FUNCTION procrastinate_finish_job_v1(
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

CREATE OR REPLACE FUNCTION procrastinate_retry_job_v2(
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

CREATE OR REPLACE FUNCTION procrastinate_cancel_job_v1(job_id bigint, abort boolean, delete_job boolean)
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

CREATE OR REPLACE FUNCTION procrastinate_register_worker_v1()
    RETURNS TABLE(worker_id bigint)
    LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY
    INSERT INTO procrastinate_workers DEFAULT VALUES
    RETURNING procrastinate_workers.id;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_unregister_worker_v1(worker_id bigint)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM procrastinate_workers WHERE id = worker_id;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_update_heartbeat_v1(worker_id bigint)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE procrastinate_workers SET last_heartbeat = NOW() WHERE id = worker_id;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_prune_stalled_workers_v1(seconds_since_heartbeat float)
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

CREATE OR REPLACE FUNCTION procrastinate_queue_channel_v1(queue_name character varying)
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

CREATE OR REPLACE FUNCTION procrastinate_notify_queue_job_inserted_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    payload text;
BEGIN
    payload := jsonb_build_object('type', 'job_inserted', 'job_id', NEW.id)::text;
    PERFORM pg_notify(procrastinate_queue_channel_v1(NEW.queue_name), payload);
    PERFORM pg_notify('procrastinate_any_queue_v1', payload);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_notify_queue_abort_job_v1()
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

CREATE OR REPLACE FUNCTION procrastinate_trigger_function_status_events_insert_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO procrastinate_events(job_id, type) VALUES (NEW.id, 'deferred');
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_trigger_function_status_events_update_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    event procrastinate_job_event_type;
BEGIN
    event := CASE
        WHEN OLD.status = 'todo' AND NEW.status = 'doing' THEN 'started'
        WHEN OLD.status = 'doing' AND NEW.status = 'todo' THEN 'deferred_for_retry'
        WHEN OLD.status = 'doing' AND NEW.status = 'failed' THEN 'failed'
        WHEN OLD.status = 'doing' AND NEW.status = 'succeeded' THEN 'succeeded'
        WHEN OLD.status = 'doing' AND NEW.status = 'aborted' THEN 'aborted'
        WHEN OLD.status = 'todo' AND NEW.status IN ('cancelled', 'failed', 'succeeded')
            THEN 'cancelled'
        WHEN OLD.status = 'failed' AND NEW.status = 'todo' THEN 'retried'
        ELSE NULL
    END;
    IF event IS NOT NULL THEN
        INSERT INTO procrastinate_events(job_id, type) VALUES (NEW.id, event);
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_trigger_function_scheduled_events_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO procrastinate_events(job_id, type, at)
    VALUES (NEW.id, 'scheduled'::procrastinate_job_event_type, NEW.scheduled_at);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_trigger_abort_requested_events_procedure_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO procrastinate_events(job_id, type) VALUES (NEW.id, 'abort_requested');
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION procrastinate_unlink_periodic_defers_v1()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE procrastinate_periodic_defers SET job_id = NULL WHERE job_id = OLD.id;
    RETURN OLD;
END;
$$;

-- Triggers

CREATE OR REPLACE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1
    AFTER INSERT ON procrastinate_jobs
    FOR EACH ROW WHEN (NEW.status = 'todo')
    EXECUTE PROCEDURE procrastinate_notify_queue_job_inserted_v1();

-- A job sent back to the queue by a retry wakes listening workers too, so that an
-- immediate retry does not wait for the polling interval.
CREATE OR REPLACE TRIGGER procrastinate_jobs_notify_queue_job_retried_v1
    AFTER UPDATE OF status ON procrastinate_jobs
    FOR EACH ROW WHEN (
        OLD.status <> 'todo' AND NEW.status = 'todo'
        AND (NEW.scheduled_at IS NULL OR NEW.scheduled_at <= NOW())
    )
    EXECUTE PROCEDURE procrastinate_notify_queue_job_inserted_v1();

CREATE OR REPLACE TRIGGER procrastinate_jobs_notify_queue_job_aborted_v1
    AFTER UPDATE OF abort_requested ON procrastinate_jobs
    FOR EACH ROW WHEN (
        OLD.abort_requested = false AND NEW.abort_requested = true
        AND NEW.status = 'doing'
    )
    EXECUTE PROCEDURE procrastinate_notify_queue_abort_job_v1();

CREATE OR REPLACE TRIGGER procrastinate_trigger_status_events_update_v1
    AFTER UPDATE OF status ON procrastinate_jobs
    FOR EACH ROW
    EXECUTE PROCEDURE procrastinate_trigger_function_status_events_update_v1();

CREATE OR REPLACE TRIGGER procrastinate_trigger_status_events_insert_v1
    AFTER INSERT ON procrastinate_jobs
    FOR EACH ROW WHEN (NEW.status = 'todo')
    EXECUTE PROCEDURE procrastinate_trigger_function_status_events_insert_v1();

CREATE OR REPLACE TRIGGER procrastinate_trigger_scheduled_events_v1
    AFTER UPDATE OR INSERT ON procrastinate_jobs
    FOR EACH ROW WHEN (NEW.scheduled_at IS NOT NULL AND NEW.status = 'todo')
    EXECUTE PROCEDURE procrastinate_trigger_function_scheduled_events_v1();

CREATE OR REPLACE TRIGGER procrastinate_trigger_abort_requested_events_v1
    AFTER UPDATE OF abort_requested ON procrastinate_jobs
    FOR EACH ROW WHEN (OLD.abort_requested = false AND NEW.abort_requested = true)
    EXECUTE PROCEDURE procrastinate_trigger_abort_requested_events_procedure_v1();

CREATE OR REPLACE TRIGGER procrastinate_trigger_delete_jobs_v1
    BEFORE DELETE ON procrastinate_jobs
    FOR EACH ROW
    EXECUTE PROCEDURE procrastinate_unlink_periodic_defers_v1();

-- Rows written by 3.10 that our code sees differently

-- Our jobs let go of their worker when they leave 'doing', and 3.10 refused to retry
-- a job whose abort was requested by marking it failed with the flag still set (a
-- manual retry of it would then break check_not_todo_abort_requested). The triggers
-- above are ours already, so none of them records an event for this clean-up but the
-- scheduled one, which fires on any update of a scheduled waiting job: it is turned
-- off meanwhile, in the same statement, so that it cannot stay off.
DO $$
BEGIN
    ALTER TABLE procrastinate_jobs
        DISABLE TRIGGER procrastinate_trigger_scheduled_events_v1;
    UPDATE procrastinate_jobs
    SET worker_id = NULL,
        abort_requested = abort_requested AND status = 'cancelled'
    WHERE status <> 'doing'
        AND (worker_id IS NOT NULL OR (abort_requested AND status <> 'cancelled'));
    ALTER TABLE procrastinate_jobs
        ENABLE TRIGGER procrastinate_trigger_scheduled_events_v1;
END;
$$;

-- Indexes of this version (3.10's stay until the post migration)

CREATE INDEX IF NOT EXISTS procrastinate_jobs_lock_live_idx_v1
    ON procrastinate_jobs (lock, priority DESC, id ASC)
    WHERE status IN ('todo', 'doing') AND lock IS NOT NULL;
CREATE INDEX IF NOT EXISTS procrastinate_jobs_worker_id_idx_v1
    ON procrastinate_jobs (worker_id) WHERE worker_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS procrastinate_jobs_doing_idx_v1
    ON procrastinate_jobs (id) WHERE status = 'doing';

INSERT INTO procrastinate_migrations (name)
VALUES ('03.10.00_01_pre_upgrade_from_3_10.sql')
ON CONFLICT DO NOTHING;
