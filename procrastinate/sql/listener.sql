-- The queries of the listener's check that a LISTEN connection behind a proxy
-- (PgBouncer) gets its notifications. Same format as queries.sql; they are not part of
-- the connector interface, so the in-memory connector does not implement them.

-- listener_server_pid --
-- The process id of the server, which a proxy in between does not give the client
SELECT pg_backend_pid();

-- notify_probe --
-- A notification that a listener sends itself, to check that notifications reach it
SELECT pg_notify(%(channel)s, 'probe');
