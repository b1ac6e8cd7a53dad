-- Fills the archive with generated messages for the archive benchmark
-- (tests/bench/load.mjs --phases mam). Not part of scripts/test.
--
--   psql "$DATABASE_URL" -v n=10000000 -f tests/bench/fill-archive.sql
--
-- n messages (default 10,000,000) spread over 10,000 users' conversations
-- and 1,000 rooms, then the two the benchmark reads: 1,000 messages between
-- bench_a and bench_b, and 1,000 in bench-room@conference.localhost (bench_a
-- a member), written last so that "the last 50" are at the newest end, as
-- they are for a real user. In batches of 500,000 rows, one transaction
-- each, so that a fill can be stopped and resumed. Rows go straight into
-- messages (no delivery rows: the benchmark reads the archive only).
\set ON_ERROR_STOP on
\if :{?n}
\else
\set n 10000000
\endif

SELECT :n::bigint AS total \gset
SELECT (:total + 499999) / 500000 AS batches \gset

DO $$ BEGIN RAISE NOTICE 'filling the archive: this takes a while'; END $$;
-- psql has no loops: \gexec runs one INSERT per batch, each its own
-- transaction (autocommit); the newest generated message is a second old.
SELECT format('INSERT INTO messages (kind, sender, recipient, room, body, stanza, created_at) '
              'SELECT CASE WHEN g %% 2 = 0 THEN ''chat'' ELSE ''groupchat'' END, '
              '''u'' || (g %% 10000) || ''@localhost'', '
              'CASE WHEN g %% 2 = 0 THEN ''u'' || ((g * 7) %% 10000) || ''@localhost'' END, '
              'CASE WHEN g %% 2 = 1 THEN ''r'' || (g %% 1000) || ''@conference.localhost'' END, '
              '''generated message '' || g, '
              '''<message xmlns="jabber:client" type="chat"><body>generated message '' || g || ''</body></message>'', '
              'now() - interval ''1 millisecond'' * (%s - g) '
              'FROM generate_series(%s, %s) g',
              :total, b * 500000 + 1, least((b + 1) * 500000, :total))
FROM generate_series(0, :batches - 1) b
\gexec

INSERT INTO rooms (jid, localpart, name) VALUES ('bench-room@conference.localhost', 'bench-room', 'Bench')
ON CONFLICT (jid) DO NOTHING;
INSERT INTO room_affiliations (room_id, username, affiliation)
SELECT id, 'bench_a', 'owner' FROM rooms WHERE jid = 'bench-room@conference.localhost'
ON CONFLICT DO NOTHING;
INSERT INTO messages (kind, sender, recipient, body, stanza)
SELECT 'chat', CASE WHEN g % 2 = 0 THEN 'bench_a@localhost' ELSE 'bench_b@localhost' END,
       CASE WHEN g % 2 = 0 THEN 'bench_b@localhost' ELSE 'bench_a@localhost' END,
       'conversation message ' || g,
       '<message xmlns="jabber:client" type="chat"><body>conversation message ' || g || '</body></message>'
FROM generate_series(1, 1000) g;
INSERT INTO messages (kind, sender, room, body, stanza)
SELECT 'groupchat', 'bench_b@localhost', 'bench-room@conference.localhost', 'room message ' || g,
       '<message xmlns="jabber:client" type="groupchat" from="bench-room@conference.localhost/bench_b"><body>room message ' || g || '</body></message>'
FROM generate_series(1, 1000) g;
ANALYZE messages;
SELECT count(*) AS messages, pg_size_pretty(pg_total_relation_size('messages')) AS size FROM messages;
