-- Storing outcomes and fetching the next jobs in one round trip: a part applied BEFORE
-- deploying the new code.
--
-- A worker stored the outcomes of a batch of runs with one statement and fetched the
-- next jobs with another: two round trips and two commits. The batch statement moves
-- into procrastinate_store_outcomes_v1 (the same statement, unchanged), and
-- procrastinate_store_outcomes_and_fetch_v1 runs it then procrastinate_fetch_jobs_v2
-- in one transaction, so that a worker stores a batch and fetches the jobs for the
-- slots it frees at once.
--
-- Only functions are added: procrastinate 3.10 and the previous version of this code,
-- which do not call them, keep working. Every statement can run again.

-- The outcomes of a batch of a worker's runs, stored in one statement: see the
-- store_outcomes query, which calls it, for the JSON array it takes and the rows it
-- returns (the job's id and what was done).
CREATE OR REPLACE FUNCTION procrastinate_store_outcomes_v1(outcomes jsonb)
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
CREATE OR REPLACE FUNCTION procrastinate_store_outcomes_and_fetch_v1(
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

INSERT INTO procrastinate_migrations (name)
VALUES ('03.10.00_46_pre_store_and_fetch.sql')
ON CONFLICT DO NOTHING;
