-- The schema as the migrations leave it: tables, keys, constraints.
BEGIN;
SELECT plan(34);

SELECT has_table('users');
SELECT has_table('messages');
SELECT has_table('deliveries');
SELECT has_table('sessions');

SELECT col_is_pk('users', 'username');
SELECT col_is_pk('messages', 'id');
SELECT col_is_pk('deliveries', ARRAY['message_id', 'recipient']);
SELECT col_is_pk('sessions', 'full_jid');

SELECT col_type_is('messages', 'id', 'bigint');
SELECT col_not_null('messages', 'stanza');
SELECT col_not_null('messages', 'sender');
SELECT col_is_null('messages', 'stanza_id');
SELECT col_type_is('messages', 'created_at', 'timestamp with time zone');
SELECT col_default_is('deliveries', 'state', 'stored');
SELECT col_default_is('users', 'disabled', 'false');
SELECT col_not_null('sessions', 'node');
SELECT col_default_is('sessions', 'priority', '0');

SELECT has_index('deliveries_unsettled', 'deliveries_unsettled_pkey');
SELECT has_index('sessions', 'sessions_node');
SELECT has_index('messages', 'messages_stanza_head');
SELECT fk_ok('deliveries', 'message_id', 'messages', 'id');

-- users: the username is a normalised, non-empty localpart
SELECT throws_ok($$INSERT INTO users (username) VALUES ('')$$, '23514', NULL,
                 'an empty username is refused');
SELECT throws_ok($$INSERT INTO users (username) VALUES ('Alice')$$, '23514', NULL,
                 'an upper-case username is refused');
SELECT lives_ok($$INSERT INTO users (username) VALUES ('alice')$$,
                'a lower-case username is accepted');

-- messages: kind and its target
SELECT throws_ok($$INSERT INTO messages (kind, sender, recipient, stanza)
                   VALUES ('headline', 'a@x', 'b@x', '<message/>')$$, '23514', NULL,
                 'an unknown kind is refused');
SELECT throws_ok($$INSERT INTO messages (kind, sender, stanza)
                   VALUES ('chat', 'a@x', '<message/>')$$, '23514', NULL,
                 'a chat message needs a recipient');
SELECT throws_ok($$INSERT INTO messages (kind, sender, recipient, room, stanza)
                   VALUES ('chat', 'a@x', 'b@x', 'r@conf.x', '<message/>')$$, '23514', NULL,
                 'a chat message has no room');
SELECT throws_ok($$INSERT INTO messages (kind, sender, recipient, stanza)
                   VALUES ('groupchat', 'a@x', 'b@x', '<message/>')$$, '23514', NULL,
                 'a groupchat message needs a room and no recipient');
SELECT lives_ok($$INSERT INTO messages (kind, sender, room, stanza)
                  VALUES ('groupchat', 'a@x', 'r@conf.x', '<message/>')$$,
                'a groupchat message with a room is accepted');
SELECT throws_ok($$INSERT INTO messages (id, kind, sender, recipient, stanza)
                   VALUES (42, 'chat', 'a@x', 'b@x', '<message/>')$$, '428C9', NULL,
                 'the archive id is always generated');
SELECT throws_ok($$INSERT INTO messages (kind, sender, recipient, stanza)
                   VALUES ('chat', 'a@x', 'b@x', NULL)$$, '23502', NULL,
                 'the stanza is required');

-- deliveries
SELECT throws_ok($$INSERT INTO deliveries (message_id, recipient) VALUES (-1, 'b@x')$$,
                 '23503', NULL, 'a delivery needs its message');
SELECT throws_ok($$INSERT INTO deliveries (message_id, recipient, state)
                   SELECT id, 'b@x', 'lost' FROM messages LIMIT 1$$, '23514', NULL,
                 'an unknown delivery state is refused');

-- deleting a message takes its delivery rows with it
INSERT INTO messages (kind, sender, recipient, stanza_id, stanza)
VALUES ('chat', 'cascade@x', 'b@x', 'c1', '<message/>');
INSERT INTO deliveries (message_id, recipient)
SELECT id, 'b@x' FROM messages WHERE sender = 'cascade@x';
DELETE FROM messages WHERE sender = 'cascade@x';
SELECT is((SELECT count(*) FROM deliveries d
           WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = d.message_id))::int,
          0, 'deleting a message deletes its deliveries');

SELECT * FROM finish();
ROLLBACK;
