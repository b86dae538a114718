-- Statement-level event and notification triggers: a part applied AFTER the new code
-- is deployed.
--
-- The row triggers that recorded the events of inserted and updated jobs, and sent
-- their notifications, ran once per row. They give way to two statement-level
-- triggers that do the same work for all the rows of a statement at once, with the
-- same events and the same notifications (one per job, as before). The abort
-- triggers, which fire for one running job at a time, stay as they are.
--
-- Both versions of the triggers suit the code of this version and of procrastinate
-- 3.10 alike: this file is a post migration because it removes functions of 3.10 (the
-- former trigger functions), and because its Django twin comes after that of
-- 03.10.00_50_post_upgrade_from_3_10.sql. Every statement can run again; run without
-- a transaction, a stop between the creation of the new triggers and the removal of
-- the old ones records some events twice, never none.

CREATE OR REPLACE FUNCTION procrastinate_notify_jobs_v1(
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

CREATE OR REPLACE FUNCTION procrastinate_trigger_function_jobs_inserted_v1()
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

CREATE OR REPLACE FUNCTION procrastinate_trigger_function_jobs_updated_v1()
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

CREATE OR REPLACE TRIGGER procrastinate_trigger_jobs_inserted_v1
    AFTER INSERT ON procrastinate_jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE PROCEDURE procrastinate_trigger_function_jobs_inserted_v1();

CREATE OR REPLACE TRIGGER procrastinate_trigger_jobs_updated_v1
    AFTER UPDATE ON procrastinate_jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE PROCEDURE procrastinate_trigger_function_jobs_updated_v1();

DROP TRIGGER IF EXISTS procrastinate_jobs_notify_queue_job_inserted_v1
    ON procrastinate_jobs;
DROP TRIGGER IF EXISTS procrastinate_jobs_notify_queue_job_retried_v1
    ON procrastinate_jobs;
DROP TRIGGER IF EXISTS procrastinate_trigger_status_events_insert_v1
    ON procrastinate_jobs;
DROP TRIGGER IF EXISTS procrastinate_trigger_status_events_update_v1
    ON procrastinate_jobs;
DROP TRIGGER IF EXISTS procrastinate_trigger_scheduled_events_v1
    ON procrastinate_jobs;

DROP FUNCTION IF EXISTS procrastinate_notify_queue_job_inserted_v1();
DROP FUNCTION IF EXISTS procrastinate_trigger_function_status_events_insert_v1();
DROP FUNCTION IF EXISTS procrastinate_trigger_function_status_events_update_v1();
DROP FUNCTION IF EXISTS procrastinate_trigger_function_scheduled_events_v1();

INSERT INTO procrastinate_migrations (name)
VALUES ('03.10.00_60_post_lean_triggers.sql')
ON CONFLICT DO NOTHING;
