-- From procrastinate 3.10 to this version: the part applied AFTER the new code is
-- deployed, once no procrastinate 3.10 worker or deferrer is left. It removes what
-- only 3.10 used (nothing, on a database that started empty); run again, it does
-- nothing.

DROP FUNCTION IF EXISTS procrastinate_fetch_job_v2(character varying[], bigint);
DROP FUNCTION IF EXISTS procrastinate_retry_job_v1(
    bigint, timestamp with time zone, integer, character varying, character varying
);
-- Replaced by procrastinate_jobs_lock_live_idx_v1 and procrastinate_jobs_doing_idx_v1.
DROP INDEX IF EXISTS procrastinate_jobs_id_lock_idx_v1;
-- Replaced by procrastinate_jobs_worker_id_idx_v1.
DROP INDEX IF EXISTS idx_procrastinate_jobs_worker_not_null;

INSERT INTO procrastinate_migrations (name)
VALUES ('03.10.00_50_post_upgrade_from_3_10.sql')
ON CONFLICT DO NOTHING;
