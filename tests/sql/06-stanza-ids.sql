-- A reused stanza id is a new message unless it is a true retry: same
-- sender, recipient, id and body as the latest message with that key,
-- within parley_retry_window() (migrations/0002).
BEGIN;
SELECT plan(23);

SELECT is(parley_retry_window(), interval '10 minutes', 'the retry window is 10 minutes');

CREATE TEMP TABLE s1 AS
    SELECT * FROM parley_store_message('alice@x', 'bob@x', '1', 'hi bob', '<message/>');

-- the same id to another recipient
CREATE TEMP TABLE s2 AS
    SELECT * FROM parley_store_message('alice@x', 'carol@x', '1', 'hi bob', '<message/>');
SELECT ok((SELECT inserted FROM s2), 'the same id to another recipient is a new message');
SELECT isnt((SELECT id FROM s2), (SELECT id FROM s1), '... with its own archive id');
SELECT results_eq(
    $$SELECT recipient, state FROM deliveries WHERE message_id = (SELECT id FROM s2)$$,
    $$VALUES ('carol@x'::text, 'stored'::text)$$,
    '... and its own delivery row, stored');
SELECT ok((SELECT pending FROM s2), '... pending delivery');

-- the same id and recipient with another body
CREATE TEMP TABLE s3 AS
    SELECT * FROM parley_store_message('alice@x', 'bob@x', '1', 'a new body', '<message/>');
SELECT ok((SELECT inserted FROM s3), 'the same id with another body is a new message');
SELECT is((SELECT count(*) FROM deliveries WHERE recipient = 'bob@x'
           AND message_id IN (SELECT id FROM s1 UNION SELECT id FROM s3))::int, 2,
          'both messages to bob have a delivery row');

-- a true retry of the latest
CREATE TEMP TABLE s4 AS
    SELECT * FROM parley_store_message('alice@x', 'bob@x', '1', 'a new body', '<message/>');
SELECT ok(NOT (SELECT inserted FROM s4), 'a true retry is not a new message');
SELECT is((SELECT id FROM s4), (SELECT id FROM s3), '... it returns the message it repeats');
SELECT ok((SELECT pending FROM s4), '... pending while that message is stored');
SELECT parley_mark_delivered((SELECT id FROM s3), 'bob@x', 'n/bob/1');
SELECT ok(NOT (SELECT pending FROM parley_store_message('alice@x', 'bob@x', '1', 'a new body',
                                                         '<message/>')),
          'a retry of a delivered message is not pending');
SELECT is((SELECT count(*) FROM messages WHERE sender = 'alice@x' AND recipient = 'bob@x')::int, 2,
          'retries add no message');

-- a retry of an older message with that key, not the latest, is new
SELECT ok((SELECT inserted FROM parley_store_message('alice@x', 'bob@x', '1', 'hi bob',
                                                     '<message/>')),
          'the body of an earlier message with the id, after another one, is a new message');

-- after the window
CREATE TEMP TABLE w1 AS
    SELECT * FROM parley_store_message('dave@x', 'bob@x', 'w', 'same', '<message/>');
UPDATE messages SET created_at = created_at - parley_retry_window() - interval '1 second'
WHERE id = (SELECT id FROM w1);
CREATE TEMP TABLE w2 AS
    SELECT * FROM parley_store_message('dave@x', 'bob@x', 'w', 'same', '<message/>');
SELECT ok((SELECT inserted FROM w2), 'the same message after the window is a new message');
SELECT ok((SELECT pending FROM w2), '... pending delivery');
UPDATE messages SET created_at = created_at - parley_retry_window() + interval '30 seconds'
WHERE id = (SELECT id FROM w2);
SELECT ok(NOT (SELECT inserted FROM parley_store_message('dave@x', 'bob@x', 'w', 'same',
                                                         '<message/>')),
          'within the window it is a retry');

-- receipts find the latest message with the id to the receipt's sender
CREATE TEMP TABLE r1 AS
    SELECT * FROM parley_store_message('erin@x', 'bob@x', 'r', 'first', '<message/>');
CREATE TEMP TABLE r2 AS
    SELECT * FROM parley_store_message('erin@x', 'bob@x', 'r', 'second', '<message/>');
CREATE TEMP TABLE r3 AS
    SELECT * FROM parley_store_message('erin@x', 'carol@x', 'r', 'third', '<message/>');
SELECT parley_mark_delivered((SELECT id FROM r1), 'bob@x', 'n/bob/1');
SELECT parley_mark_delivered((SELECT id FROM r2), 'bob@x', 'n/bob/1');
SELECT is(parley_mark_received('erin@x', 'r', 'bob@x'), 1, 'a receipt marks one message');
SELECT results_eq(
    $$SELECT d.message_id, d.state FROM deliveries d
      WHERE d.message_id IN (SELECT id FROM r1 UNION SELECT id FROM r2 UNION SELECT id FROM r3)
      ORDER BY d.message_id$$,
    $$VALUES ((SELECT id FROM r1), 'delivered'::text), ((SELECT id FROM r2), 'received'::text),
             ((SELECT id FROM r3), 'stored'::text)$$,
    '... the latest one to the receipt''s sender, not an earlier one or another recipient''s');
SELECT is(parley_mark_received('erin@x', 'r', 'bob@x'), 0,
          'a second receipt for the id does not fall back to the earlier message');

-- no stanza id: never a retry
SELECT ok((SELECT inserted FROM parley_store_message('alice@x', 'bob@x', NULL, 'x', '<message/>'))
          AND (SELECT inserted FROM parley_store_message('alice@x', 'bob@x', NULL, 'x', '<message/>')),
          'messages without an id are always new');

-- one head per key: the latest; the others are superseded
SELECT is((SELECT count(*) FROM messages WHERE sender = 'alice@x' AND recipient = 'bob@x'
           AND stanza_id = '1' AND NOT superseded)::int, 1, 'a key has one head');
SELECT is((SELECT max(id) FROM messages WHERE sender = 'alice@x' AND recipient = 'bob@x'
           AND stanza_id = '1'),
          (SELECT id FROM messages WHERE sender = 'alice@x' AND recipient = 'bob@x'
           AND stanza_id = '1' AND NOT superseded), '... the latest message with it');

-- the unique constraint of 0001 is gone
SELECT hasnt_index('messages', 'messages_sender_stanza_id_key',
                   'no unique (sender, stanza_id) is left');

SELECT * FROM finish();
ROLLBACK;
