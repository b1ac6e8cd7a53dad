-- parley_store_message: the idempotent insert of a direct message (a true
-- retry returns the first row; 06-stanza-ids.sql has what is not a retry).
BEGIN;
SELECT plan(19);

SELECT has_function('parley_store_message',
                    ARRAY['text', 'text', 'text', 'text', 'text']);

CREATE TEMP TABLE first_store AS
    SELECT * FROM parley_store_message('alice@x', 'bob@x', 'id-1', 'hello',
                                       '<message from="alice@x/web" to="bob@x" id="id-1"/>');
CREATE TEMP TABLE second_store AS
    SELECT * FROM parley_store_message('alice@x', 'bob@x', 'id-1', 'hello',
                                       '<message from="alice@x/web" to="bob@x" id="id-1"/>');

SELECT is((SELECT count(*) FROM first_store)::int, 1, 'a store returns one row');
SELECT ok((SELECT inserted FROM first_store), 'the first store inserts');
SELECT ok((SELECT id FROM first_store) IS NOT NULL, 'the first store returns an archive id');
SELECT is((SELECT count(*) FROM second_store)::int, 1, 'a repeated store returns one row');
SELECT ok(NOT (SELECT inserted FROM second_store), 'a repeated store does not insert');
SELECT is((SELECT id FROM second_store), (SELECT id FROM first_store),
          'a repeated store returns the same archive id');
SELECT is((SELECT created_at FROM second_store), (SELECT created_at FROM first_store),
          'a repeated store returns the first created_at');
SELECT is((SELECT count(*) FROM messages WHERE sender = 'alice@x' AND stanza_id = 'id-1')::int,
          1, 'a repeated store adds no message');

SELECT results_eq(
    $$SELECT recipient, state FROM deliveries
      WHERE message_id = (SELECT id FROM first_store)$$,
    $$VALUES ('bob@x'::text, 'stored'::text)$$,
    'a stored message has one delivery row, stored, for its recipient');

SELECT results_eq(
    $$SELECT kind, sender, recipient, room FROM messages
      WHERE id = (SELECT id FROM first_store)$$,
    $$VALUES ('chat'::text, 'alice@x'::text, 'bob@x'::text, NULL::text)$$,
    'a stored message is a chat message to its recipient');

SELECT ok((SELECT pending FROM first_store), 'a new message is pending delivery');
SELECT ok((SELECT pending FROM second_store),
          'a repeat of a message still stored reports it pending');
SELECT parley_mark_delivered((SELECT id FROM first_store), 'bob@x');
SELECT ok(NOT (SELECT pending FROM parley_store_message('alice@x', 'bob@x', 'id-1', 'hello',
                                                         '<message/>')),
          'a repeat of a delivered message is not pending');

-- the same stanza id from another sender is another message
SELECT ok((SELECT inserted FROM parley_store_message('carol@x', 'bob@x', 'id-1', 'hi',
                                                     '<message/>')),
          'the same stanza id from another sender is a new message');

-- a NULL stanza id is never a duplicate
SELECT ok((SELECT inserted FROM parley_store_message('alice@x', 'bob@x', NULL, 'x',
                                                     '<message/>')),
          'a message without a stanza id is inserted');
SELECT ok((SELECT inserted FROM parley_store_message('alice@x', 'bob@x', NULL, 'x',
                                                     '<message/>')),
          'another message without a stanza id is inserted too');
SELECT is((SELECT count(*) FROM messages WHERE sender = 'alice@x' AND stanza_id IS NULL)::int,
          2, 'both messages without a stanza id are kept');

-- archive ids grow in insertion order
SELECT ok((SELECT max(id) FROM messages) > (SELECT id FROM first_store),
          'later messages get larger archive ids');

SELECT * FROM finish();
ROLLBACK;
