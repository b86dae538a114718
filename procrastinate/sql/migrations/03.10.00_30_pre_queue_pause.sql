-- Pausing and resuming queues: a part applied BEFORE the new code is deployed.
--
-- procrastinate_queues holds the state of the queues that were ever paused; a queue
-- without a row is active. procrastinate_fetch_jobs_v2 is procrastinate_fetch_jobs_v1
-- that skips the waiting jobs of paused queues; jobs can still be deferred into them.
--
-- Procrastinate 3.10 workers (and those of the previous version of this code) keep
-- fetching through procrastinate_fetch_jobs_v1, which stays and knows nothing of
-- pauses: while they run, they go on taking the jobs of paused queues. A pause holds
-- once every worker runs the new code.
--
-- Every statement only creates what is missing, so that a run stopped halfway can be
-- started again.

CREATE TABLE IF NOT EXISTS procrastinate_queues (
    queue_name character varying(128) PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false,
    paused_at timestamp with time zone,
    CONSTRAINT procrastinate_queues_paused_at_check
        CHECK (paused = (paused_at IS NOT NULL))
);

CREATE OR REPLACE FUNCTION procrastinate_fetch_jobs_v2(
    target_queue_names character varying[],
    p_worker_id bigint,
    p_limit integer
)
    RETURNS SETOF procrastinate_jobs
    LANGUAGE plpgsql
AS $$
DECLARE
    _paused character varying[];
BEGIN
    -- The paused queues among those of this fetch, read once: the table is small,
    -- and an empty array costs the candidate scan nothing.
    SELECT COALESCE(array_agg(queues.queue_name), '{}') INTO _paused
    FROM procrastinate_queues AS queues
    WHERE queues.paused
        AND (target_queue_names IS NULL OR queues.queue_name = ANY(target_queue_names));

    -- A job with a lock may run only when no other live job of that lock is ahead of
    -- it: none running, none waiting with a higher priority or an equal priority and a
    -- smaller id. The head of a lock group blocks the others even when it is scheduled
    -- later, sits in a queue this worker does not listen to, or in a paused queue,
    -- which keeps lock order.
    RETURN QUERY
    WITH candidates AS (
        SELECT jobs.id
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

CREATE OR REPLACE FUNCTION procrastinate_set_queue_paused_v1(
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

INSERT INTO procrastinate_migrations (name)
VALUES ('03.10.00_30_pre_queue_pause.sql')
ON CONFLICT DO NOTHING;
