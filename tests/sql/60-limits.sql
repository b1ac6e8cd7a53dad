-- parley_store_message_bounded (0012_limits.sql): PARLEY_LIMIT_OFFLINE_QUEUE.
BEGIN;
SELECT plan(9);

SELECT has_function('parley_store_message_bounded',
                    ARRAY['text', 'text', 'text', 'text', 'text', 'integer']);

-- Three may wait for carol; the fourth is refused and nothing is stored.
SELECT is((SELECT count(*)::int FROM generate_series(1, 3) i,
           LATERAL parley_store_message_bounded('alice@x', 'carol@x', 'b-' || i, 'hi',
                                                '<message/>', 3) s
           WHERE s.id > 0 AND s.inserted),
          3, 'up to the limit, each message is stored');
CREATE TEMP TABLE over AS
    SELECT * FROM parley_store_message_bounded('alice@x', 'carol@x', 'b-4', 'hi',
                                               '<message/>', 3);
SELECT is((SELECT id FROM over), -1::bigint, 'past the limit: id -1');
SELECT ok(NOT (SELECT inserted FROM over) AND NOT (SELECT pending FROM over),
          'past the limit: not inserted, not pending');
SELECT is((SELECT count(*)::int FROM messages WHERE recipient = 'carol@x'), 3,
          'nothing stored past the limit');
-- Another recipient has a queue of its own; one who never existed too.
SELECT ok((SELECT id > 0 FROM parley_store_message_bounded('alice@x', 'dave@x', 'b-1', 'hi',
                                                           '<message/>', 3)),
          'another recipient is not affected');
-- Once one is settled (delivered and acknowledged), there is room again.
DELETE FROM deliveries_unsettled
WHERE recipient = 'carol@x'
  AND message_id = (SELECT min(id) FROM messages WHERE recipient = 'carol@x');
SELECT ok((SELECT id > 0 FROM parley_store_message_bounded('alice@x', 'carol@x', 'b-5', 'hi',
                                                           '<message/>', 3)),
          'room again once one has left the queue');
-- 0 is no bound; the result is parley_store_message's.
SELECT is((SELECT count(*)::int FROM generate_series(1, 5) i,
           LATERAL parley_store_message_bounded('alice@x', 'carol@x', 'c-' || i, 'hi',
                                                '<message/>', 0) s
           WHERE s.id > 0),
          5, 'a limit of 0 does not bound');
SELECT is((SELECT count(*)::int FROM deliveries_unsettled WHERE recipient = 'carol@x'), 8,
          'every stored message waits');

SELECT * FROM finish();
ROLLBACK;
