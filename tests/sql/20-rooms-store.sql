-- Room messages are stored once: a true retry (same sender, room, stanza
-- id and body, within the window) is the message already stored; the same
-- id with another body, or in another room, is a new message.
BEGIN;
SELECT plan(7);

SELECT has_function('parley_room_store_message', ARRAY['text', 'text', 'text', 'text', 'text']);
CREATE TEMP TABLE first AS SELECT * FROM parley_room_store_message('a@x', 's1@c', 'id1', 'hi', '<m/>');
SELECT ok((SELECT inserted FROM first), 'stored');
SELECT results_eq(
    $$SELECT kind, room, recipient IS NULL, sender FROM messages WHERE id = (SELECT id FROM first)$$,
    $$VALUES ('groupchat'::text, 's1@c'::text, true, 'a@x'::text)$$,
    'a groupchat row with the room, no recipient');
SELECT results_eq(
    $$SELECT id, inserted FROM parley_room_store_message('a@x', 's1@c', 'id1', 'hi', '<m/>')$$,
    $$SELECT id, false FROM first$$,
    'a retry is the message already stored');
SELECT ok((SELECT inserted FROM parley_room_store_message('a@x', 's1@c', 'id1', 'other', '<m/>')),
          'the same id with another body is a new message');
SELECT ok((SELECT inserted FROM parley_room_store_message('a@x', 's2@c', 'id1', 'hi', '<m/>')),
          'the same id in another room is a new message');
SELECT is((SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id
           WHERE m.room IN ('s1@c', 's2@c'))::int, 0, 'room messages have no delivery rows');

SELECT * FROM finish();
ROLLBACK;
