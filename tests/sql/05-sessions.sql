-- Sessions end cleanly (what was written stays delivered) or not (it goes
-- back to stored for the next login); a node's restart ends its old sessions.
BEGIN;
SELECT plan(17);

SELECT has_function('parley_session_end', ARRAY['text', 'text', 'boolean']);
SELECT has_function('parley_node_restart', ARRAY['text']);

CREATE TEMP TABLE m AS
    SELECT s.id, n FROM generate_series(1, 4) AS n,
        LATERAL parley_store_message('alice@x', 'bob@x', 'sess-' || n, 'hi', '<message/>') s;

-- messages 1 and 2 written to session A, 3 to session B, 4 to node2's session
SELECT is(parley_mark_delivered((SELECT id FROM m WHERE n = 1), 'bob@x', 'node1/a/1'), 1,
          'mark_delivered records the session');
SELECT parley_mark_delivered((SELECT id FROM m WHERE n = 2), 'bob@x', 'node1/a/1');
SELECT parley_mark_delivered((SELECT id FROM m WHERE n = 3), 'bob@x', 'node1/a/2');
SELECT parley_mark_delivered((SELECT id FROM m WHERE n = 4), 'bob@x', 'node2/a/1');
SELECT is((SELECT delivered_via FROM deliveries WHERE message_id = (SELECT id FROM m WHERE n = 1)),
          'node1/a/1', 'delivered_via is set');

-- a receipt for message 2 before session A dies
SELECT parley_mark_received('alice@x', 'sess-2', 'bob@x');

SELECT is(parley_session_end('node1/a/1', 'bob@x', false), 1,
          'an unclean end requeues what was delivered and not received');
SELECT results_eq(
    $$SELECT state, delivered_at IS NULL, delivered_via FROM deliveries
      WHERE message_id IN (SELECT id FROM m WHERE n IN (1, 2)) ORDER BY message_id$$,
    $$VALUES ('stored'::text, true, NULL::text), ('received'::text, false, 'node1/a/1'::text)$$,
    'the requeued row is stored again; the received one keeps its state');
SELECT results_eq(
    $$SELECT u.message_id FROM deliveries_unsettled u WHERE u.message_id IN (SELECT id FROM m WHERE n IN (1, 2))$$,
    $$SELECT id FROM m WHERE n = 1$$,
    'an ended session leaves unsettled only what it requeued');

SELECT is(parley_session_end('node1/a/2', 'bob@x', true), 0, 'a clean end requeues nothing');
SELECT results_eq(
    $$SELECT state, delivered_via,
             EXISTS (SELECT 1 FROM deliveries_unsettled u WHERE u.message_id = d.message_id)
      FROM deliveries d WHERE message_id = (SELECT id FROM m WHERE n = 3)$$,
    $$VALUES ('delivered'::text, 'node1/a/2'::text, false)$$,
    'a clean end settles the row as delivered, naming the session it went to');

-- a settled row cannot be requeued by anyone
UPDATE deliveries SET state = 'stored' WHERE message_id = (SELECT id FROM m WHERE n = 3);
UPDATE deliveries SET state = 'stored', delivered_via = NULL
WHERE message_id = (SELECT id FROM m WHERE n = 3);
SELECT is((SELECT state FROM deliveries WHERE message_id = (SELECT id FROM m WHERE n = 3)),
          'delivered', 'a settled delivered row never goes back');
SELECT is(parley_session_end('node1/a/2', 'bob@x', false), 0, 'ending a settled session again does nothing');
-- a session of another user with the same name changes nothing of bob's
SELECT is(parley_session_end('node1/a/2', 'carol@x', false), 0, 'a session end touches its own user only');
SELECT is((SELECT count(*) FROM deliveries_unsettled WHERE message_id = (SELECT id FROM m WHERE n = 3))::int,
          0, 'a settled row is not queued for offline delivery');

-- a node restart ends only that node's sessions
INSERT INTO sessions (node, full_jid, username, resource) VALUES
    ('node2', 'bob@x/r1', 'bob', 'r1'), ('node1', 'bob@x/r2', 'bob', 'r2');
SELECT is(parley_node_restart('node2'), 1, 'a restart requeues its sessions'' deliveries');
SELECT is((SELECT state FROM deliveries WHERE message_id = (SELECT id FROM m WHERE n = 4)),
          'stored', 'the other node''s delivery is stored again');
SELECT is((SELECT count(*) FROM sessions WHERE node = 'node2')::int, 0,
          'a restart removes the node''s session rows');
SELECT is((SELECT count(*) FROM sessions WHERE node = 'node1')::int, 1,
          'other nodes'' session rows stay');

SELECT * FROM finish();
ROLLBACK;
