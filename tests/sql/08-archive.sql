-- The archive's two reads: the last messages of a direct conversation and
-- of a room, newest first, paged by archive id (migrations/0002).
BEGIN;
SELECT plan(13);

INSERT INTO messages (kind, sender, recipient, stanza, body)
SELECT 'chat', s, r, '<message/>', b FROM (VALUES
    ('ann@x', 'ben@x', 'a1'), ('ben@x', 'ann@x', 'b1'), ('ann@x', 'cid@x', 'other pair'),
    ('ann@x', 'ben@x', 'a2'), ('cid@x', 'ben@x', 'other pair'), ('ben@x', 'ann@x', 'b2'),
    ('ann@x', 'ann@x', 'note to self')) AS v(s, r, b);
INSERT INTO messages (kind, sender, room, stanza, body)
SELECT 'groupchat', 'ann@x', r, '<message/>', b FROM (VALUES
    ('r1@conf.x', 'r1 first'), ('r2@conf.x', 'r2'), ('r1@conf.x', 'r1 second'),
    ('r1@conf.x', 'r1 third')) AS v(r, b);

SELECT results_eq($$SELECT body FROM parley_conversation('ann@x', 'ben@x', NULL, 50)$$,
                  ARRAY['b2', 'a2', 'b1', 'a1'],
                  'a conversation holds both directions, newest first, and no other pair');
SELECT results_eq($$SELECT body FROM parley_conversation('ben@x', 'ann@x', NULL, 50)$$,
                  ARRAY['b2', 'a2', 'b1', 'a1'], 'the pair in either order is the same');
SELECT results_eq($$SELECT body FROM parley_conversation('ann@x', 'ben@x', NULL, 2)$$,
                  ARRAY['b2', 'a2'], 'a limit takes the newest');
SELECT results_eq(
    $$SELECT body FROM parley_conversation('ann@x', 'ben@x',
        (SELECT min(id) FROM parley_conversation('ann@x', 'ben@x', NULL, 2)), 2)$$,
    ARRAY['b1', 'a1'], 'p_before pages back');
SELECT results_eq($$SELECT body FROM parley_conversation('ann@x', 'ben@x', NULL, 0)$$,
                  ARRAY[]::text[], 'a limit of 0 reads nothing');
SELECT results_eq($$SELECT body FROM parley_conversation('ann@x', 'ann@x', NULL, 50)$$,
                  ARRAY['note to self'], 'notes to oneself are a conversation of their own');
SELECT is(parley_pair_key('ann@x', 'ben@x'), parley_pair_key('ben@x', 'ann@x'),
          'the pair key does not depend on the order');
SELECT isnt(parley_pair_key('ann@x', 'ann@x'), parley_pair_key('ben@x', 'ben@x'),
            'two people''s notes to themselves have different keys');

SELECT results_eq($$SELECT body FROM parley_room_history('r1@conf.x', NULL, 50)$$,
                  ARRAY['r1 third', 'r1 second', 'r1 first'], 'a room''s messages, newest first');
SELECT results_eq(
    $$SELECT body FROM parley_room_history('r1@conf.x',
        (SELECT max(id) FROM messages WHERE body = 'r1 third'), 1)$$,
    ARRAY['r1 second'], 'a room''s history pages back');

-- the reads can use their indexes (with this few rows the planner would
-- rather scan, so scans are priced out; a read that cannot use its index
-- still shows a Seq Scan)
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    l text;
    r text := '';
BEGIN
    SET LOCAL enable_seqscan = off;
    FOR l IN EXECUTE 'EXPLAIN ' || q LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END
$f$;
SELECT matches(pg_temp.plan($$SELECT * FROM messages m WHERE m.kind = 'chat'
                  AND parley_pair_key(m.sender, m.recipient) = parley_pair_key('ann@x', 'ben@x')
                  ORDER BY m.id DESC LIMIT 50$$),
               'Index Scan Backward using messages_conversation',
               'parley_conversation''s query reads messages_conversation newest first');
SELECT matches(pg_temp.plan($$SELECT * FROM parley_room_history('r1@conf.x', NULL, 50)$$),
               'messages_room', 'the room read uses messages_room');
SELECT matches(pg_temp.plan($$SELECT * FROM messages m
                  WHERE parley_stanza_key(m.sender, m.recipient, m.stanza_id)
                        = parley_stanza_key('a', 'b', 'c')
                    AND m.stanza_id IS NOT NULL AND NOT m.superseded$$),
               'messages_stanza_head', 'a key''s head is found through messages_stanza_head');

SELECT * FROM finish();
ROLLBACK;
