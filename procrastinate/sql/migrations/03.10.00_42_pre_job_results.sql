-- Job results: a part applied BEFORE deploying the new code.
--
-- A job gets two nullable columns: result, what its task returned ({"value": ...}, or
-- {"refused": "<why>"} when the worker would not store it), and error, what its last
-- failed attempt raised ({"type", "message", "traceback"}). The new code writes them
-- through procrastinate_finish_job_v2 and procrastinate_retry_job_v3. A statement
-- trigger notifies procrastinate_job_finished_v1 of the jobs that reach a final
-- status, once per statement (per 300 ids: a payload has at most 8000 bytes), for
-- the callers of wait_for_job; workers do not listen to it.
--
-- Procrastinate 3.10 and the previous version of this code keep working on the
-- result: they finish and retry through procrastinate_finish_job_v1 and
-- procrastinate_retry_job_v2, which stay and leave the new columns alone (their jobs
-- have no result), and the notification of the jobs they finish wakes the waiters
-- too. Adding nullable columns rewrites nothing: the file is quick on a big table.
-- Every statement only creates what is missing, so that a run stopped halfway can be
-- started again.

ALTER TABLE procrastinate_jobs
    ADD COLUMN IF NOT EXISTS result jsonb,
    ADD COLUMN IF NOT EXISTS error jsonb;

CREATE OR REPLACE FUNCTION procrastinate_result_jsonb_v1(value text)
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

CREATE OR REPLACE FUNCTION procrastinate_finish_job_v2(
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

CREATE OR REPLACE FUNCTION procrastinate_retry_job_v3(
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

CREATE OR REPLACE FUNCTION procrastinate_notify_jobs_finished_v1()
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

DROP TRIGGER IF EXISTS procrastinate_trigger_jobs_finished_v1 ON procrastinate_jobs;
CREATE TRIGGER procrastinate_trigger_jobs_finished_v1
    AFTER UPDATE ON procrastinate_jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE PROCEDURE procrastinate_notify_jobs_finished_v1();

INSERT INTO procrastinate_migrations (name)
VALUES ('03.10.00_42_pre_job_results.sql')
ON CONFLICT DO NOTHING;
