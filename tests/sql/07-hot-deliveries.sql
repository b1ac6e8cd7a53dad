-- Delivery-state updates are HOT (heap-only) updates: deliveries has no
-- index on a column they change, and the offline queue and what sessions
-- have not settled are a table of their own, deliveries_unsettled
-- (migrations/0002).
BEGIN;
SELECT plan(15);

-- What an offline load reads (db/db_jobs.c, offline_load).
CREATE FUNCTION pg_temp.offline(p_recipient text) RETURNS SETOF bigint LANGUAGE sql AS $$
    SELECT q.message_id FROM deliveries_unsettled q
    JOIN deliveries d ON d.message_id = q.message_id AND d.recipient = q.recipient
    WHERE q.recipient = p_recipient AND d.state = 'stored' ORDER BY q.message_id
$$;

SELECT is((SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes
           WHERE tablename = 'deliveries'),
          ARRAY['deliveries_pkey'], 'deliveries has only its primary key');
SELECT ok((SELECT reloptions @> ARRAY['fillfactor=80'] FROM pg_class WHERE relname = 'deliveries'),
          'deliveries leaves room on each page for updated rows');

CREATE TEMP TABLE m AS
    SELECT s.id, n FROM generate_series(1, 20) AS n,
        LATERAL parley_store_message('hot@x', 'bob@x', 'hot-' || n, 'hi', '<message/>') s;

SELECT is((SELECT count(*) FROM deliveries_unsettled q JOIN m ON m.id = q.message_id)::int, 20,
          'stored messages are queued for offline delivery');
SELECT results_eq(
    $$SELECT q.message_id FROM deliveries_unsettled q WHERE q.recipient = 'bob@x'
      AND q.message_id IN (SELECT id FROM m) ORDER BY 1$$,
    $$SELECT id FROM m ORDER BY 1$$,
    'the queue holds the recipient and message of each');

-- delivered: no longer offered offline, in flight on the session
SELECT parley_mark_delivered(id, 'bob@x', 'node1/bob/1') FROM m;
SELECT is((SELECT count(*) FROM pg_temp.offline('bob@x') o JOIN m ON m.id = o)::int, 0,
          'delivered messages are not loaded offline');
SELECT is((SELECT count(*) FROM deliveries_unsettled u JOIN m ON m.id = u.message_id
           JOIN deliveries d ON d.message_id = u.message_id AND d.recipient = u.recipient
           WHERE d.delivered_via = 'node1/bob/1' AND d.state = 'delivered')::int, 20,
          'delivered messages stay unsettled while their session lives');

-- received, then a clean end
SELECT parley_mark_received('hot@x', 'hot-' || n, 'bob@x') FROM m;
SELECT is(parley_session_end('node1/bob/1', 'bob@x', true), 0, 'a clean end requeues nothing');
SELECT is((SELECT count(*) FROM deliveries_unsettled u JOIN m ON m.id = u.message_id)::int, 0,
          'a clean end settles everything it was written');

-- the whole sequence updated deliveries twice per message, every time HOT
-- (this transaction's own counts: pg_stat_xact_user_tables)
SELECT is((SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'deliveries')::int, 40,
          'store, delivered, received, clean end: two updates of each delivery row');
SELECT is((SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'deliveries')::int,
          40, 'every one of them HOT');

-- an unclean end puts back what was not received, and queues it again
CREATE TEMP TABLE u AS
    SELECT s.id, n FROM generate_series(1, 3) AS n,
        LATERAL parley_store_message('hot@x', 'carol@x', 'unclean-' || n, 'hi', '<message/>') s;
SELECT parley_mark_delivered(id, 'carol@x', 'node1/carol/1') FROM u;
SELECT parley_mark_received('hot@x', 'unclean-1', 'carol@x');
SELECT is(parley_session_end('node1/carol/1', 'carol@x', false), 2, 'an unclean end requeues two');
SELECT results_eq(
    $$SELECT q.message_id FROM deliveries_unsettled q WHERE q.recipient = 'carol@x' ORDER BY 1$$,
    $$SELECT id FROM u WHERE n > 1 ORDER BY 1$$,
    'the requeued rows are queued again, the received one is not');
SELECT results_eq($$SELECT * FROM pg_temp.offline('carol@x')$$,
                  $$SELECT id FROM u WHERE n > 1 ORDER BY 1$$,
                  'the requeued rows are loaded offline');

-- a receipt that overtakes the delivered mark takes the row off the queue
SELECT parley_mark_received('hot@x', 'unclean-2', 'carol@x');
SELECT is((SELECT count(*) FROM deliveries_unsettled q JOIN u ON u.id = q.message_id
           WHERE u.n = 2)::int, 0, 'stored -> received leaves the queue');

-- deleting messages takes their queue and in-flight rows with them
SELECT parley_mark_delivered((SELECT id FROM u WHERE n = 3), 'carol@x', 'node1/carol/2');
DELETE FROM messages WHERE id IN (SELECT id FROM u);
SELECT is((SELECT count(*) FROM deliveries_unsettled WHERE recipient = 'carol@x')::int, 0,
          'a deleted message leaves nothing unsettled');

SELECT * FROM finish();
ROLLBACK;
