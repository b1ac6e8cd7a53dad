-- The archive query (parley_mam_query): pages of a user's and a room's
-- archive, RSM ids of other archives unknown, and the plans: "the last 50
-- of a conversation" and "the last 50 of a room" are backward index scans
-- (migrations/0002's messages_conversation and messages_room), whatever
-- the archive's size.
BEGIN;
SELECT plan(11);

CREATE TEMP TABLE d AS
    SELECT s.id, n FROM generate_series(1, 12) AS n,
        LATERAL parley_store_message(CASE WHEN n % 2 = 0 THEN 'b@x' ELSE 'a@x' END,
                                     CASE WHEN n % 2 = 0 THEN 'a@x' ELSE 'b@x' END,
                                     NULL, 'hello ' || n, '<message/>') s;
CREATE TEMP TABLE g AS
    SELECT s.id, n FROM generate_series(1, 7) AS n,
        LATERAL parley_room_store_message('a@x', 'q@c', NULL, 'room ' || n, '<message/>') s;
SELECT parley_store_message('c@x', 'a@x', NULL, 'from c', '<message/>');

SELECT is((SELECT count(*) FROM parley_mam_query(false, 'a@x', NULL, NULL, NULL, NULL, NULL, false,
           NULL, NULL, 5))::int, 6, 'a page of 5 comes with one row more');
SELECT results_eq(
    $$SELECT id FROM parley_mam_query(false, 'a@x', 'b@x', NULL, NULL, NULL, NULL, true, NULL, NULL, 3)$$,
    $$SELECT id FROM d WHERE n >= 9 ORDER BY id$$,
    'the last page of a conversation, in archive order, with the row before it');
SELECT is((SELECT count(*) FROM parley_mam_query(false, 'a@x', NULL, NULL, NULL, NULL, NULL, false,
           NULL, NULL, 100))::int, 13, 'the whole archive: sent, received, from everyone');
SELECT is((SELECT count(*) FROM parley_mam_query(false, 'b@x', NULL, NULL, NULL, NULL, NULL, false,
           NULL, NULL, 100))::int, 12, 'the other side has its own');
SELECT results_eq(
    $$SELECT id FROM parley_mam_query(true, 'q@c', NULL, NULL, NULL, (SELECT id FROM g WHERE n = 5),
          NULL, false, NULL, NULL, 10)$$,
    $$SELECT id FROM g WHERE n > 5 ORDER BY id$$,
    'a room page after an id');
SELECT results_eq(
    $$SELECT id FROM parley_mam_query(false, 'a@x', NULL, NULL, NULL, (SELECT id FROM g WHERE n = 5),
          NULL, false, NULL, NULL, 10)$$,
    $$VALUES (-1::bigint)$$,
    'a room message is no id of a user archive');
SELECT results_eq(
    $$SELECT id FROM parley_mam_query(true, 'q@c', NULL, NULL, NULL, NULL, NULL, false,
          ARRAY[(SELECT id FROM g WHERE n = 2), (SELECT id FROM d WHERE n = 2)], NULL, 10)$$,
    $$SELECT id FROM g WHERE n = 2$$,
    'ids: only those of this archive');
SELECT results_eq(
    $$SELECT id FROM parley_mam_query(false, 'a@x', NULL, NULL, NULL, NULL, NULL, false, NULL,
          'hello 7', 10)$$,
    $$SELECT id FROM d WHERE n = 7$$,
    'full text');

-- The plans of "the last 50". The function builds its statement per call
-- (EXECUTE); these are the statements it runs for those two shapes.
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    out text := '';
BEGIN
    SET LOCAL enable_seqscan = off; -- a small table: ask what the index can do
    FOR line IN EXECUTE 'EXPLAIN ' || q LOOP
        out := out || line || E'\n';
    END LOOP;
    RETURN out;
END
$$;
SELECT matches(pg_temp.plan_of(
    $$SELECT m.id, m.created_at, m.stanza FROM messages m WHERE m.kind = 'chat'
      AND parley_pair_key(m.sender, m.recipient) = parley_pair_key('a@x', 'b@x')
      AND ((m.sender = 'a@x' AND m.recipient = 'b@x') OR (m.sender = 'b@x' AND m.recipient = 'a@x'))
      ORDER BY m.id DESC LIMIT 51$$),
    'Index Scan Backward using messages_conversation',
    'the last 50 of a conversation: a backward scan of messages_conversation');
SELECT matches(pg_temp.plan_of(
    $$SELECT m.id, m.created_at, m.stanza FROM messages m WHERE m.kind = 'groupchat'
      AND m.room = 'q@c' ORDER BY m.id DESC LIMIT 51$$),
    'Index Scan Backward using messages_room',
    'the last 50 of a room: a backward scan of messages_room');
SELECT matches(pg_temp.plan_of(
    $$SELECT m.id FROM messages m WHERE m.kind = 'chat' AND m.recipient = 'a@x' AND m.sender <> 'a@x'
      ORDER BY m.id DESC LIMIT 51$$),
    'Index Scan Backward using messages_direct_by_recipient',
    'a user''s received messages: a backward scan of messages_direct_by_recipient');

SELECT * FROM finish();
ROLLBACK;
