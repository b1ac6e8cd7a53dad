-- 0005_admin: the admin API's functions. Each change writes its audit row
-- in its own transaction; a refused change writes none; a deleted user
-- stays disabled with their archive; a message sent by the API is stored
-- exactly as the XMPP path stores one.
BEGIN;
SELECT plan(30);

SELECT has_table('admin_audit');
SELECT has_column('users', 'deleted_at');
SELECT has_index('messages', 'messages_body_fts');
SELECT has_index('messages', 'messages_direct_by_recipient');

-- create
SELECT ok(parley_admin_user_create('root', 'ann', 'Ann', false) IS NOT NULL, 'a new user is created');
SELECT ok(parley_admin_user_create('root', 'ann', NULL, false) IS NULL, 'an existing name is not created again');
SELECT is((SELECT count(*)::int FROM admin_audit WHERE target = 'ann' AND action = 'user.create'), 1,
          'one audit row, for the create that happened');
SELECT is((parley_admin_user_create('root', 'bea', NULL, true)->>'disabled')::boolean, true,
          'a user may be created disabled');
SELECT throws_ok($$SELECT parley_admin_user_create('root', 'Ann', NULL, false)$$, '23514', NULL,
                 'an upper-case name is refused by the table');

-- update
SELECT is(parley_admin_user_update('root', 'ann', true, 'Anne', false, NULL)->>'display_name', 'Anne',
          'display_name changes');
SELECT is(parley_admin_user_update('root', 'ann', false, NULL, true, true)->>'display_name', 'Anne',
          'a change of disabled leaves display_name alone');
SELECT is((SELECT disabled FROM users WHERE username = 'ann'), true, 'disabled is set');
SELECT is((SELECT array_agg(action ORDER BY id) FROM admin_audit WHERE target = 'ann'),
          ARRAY['user.create', 'user.update', 'user.update', 'user.disable'],
          'each update is audited, and the disable as such');
SELECT ok(parley_admin_user_update('root', 'nobody', true, 'x', false, NULL) IS NULL, 'no such user: NULL');
SELECT is((SELECT count(*)::int FROM admin_audit WHERE target = 'nobody'), 0, 'and no audit row');

-- kick
SELECT is(parley_admin_kick('root', 'nobody', NULL), -1, 'kicking no user: -1');
SELECT is(parley_admin_kick('root', 'ann', NULL), 0, 'a user with no session: 0');
INSERT INTO sessions (full_jid, node, username, resource) VALUES ('ann@x/a', 'n', 'ann', 'a'),
    ('ann@x/b', 'n', 'ann', 'b');
SELECT is(parley_admin_kick('root', 'ann', 'b'), 1, 'one session');
SELECT is(parley_admin_kick('root', 'ann', NULL), 2, 'all sessions');
SELECT is((SELECT array_agg(target ORDER BY id) FROM admin_audit WHERE action = 'session.kick'),
          ARRAY['ann/b', 'ann'], 'kicks are audited with what they kicked');

-- send
SELECT ok(parley_admin_send('root', 'localhost', 'bea@localhost', 'hi <there> & "you"') IS NOT NULL,
          'a server message is stored');
SELECT is((SELECT stanza FROM messages WHERE recipient = 'bea@localhost'),
          (SELECT '<message from="localhost" to="bea@localhost" type="chat" id="' || stanza_id ||
                  '"><body>hi &lt;there&gt; &amp; "you"</body></message>'
           FROM messages WHERE recipient = 'bea@localhost'),
          'the stanza is escaped XML carrying the stanza id');
SELECT is((SELECT state FROM deliveries d JOIN messages m ON m.id = d.message_id
           WHERE m.recipient = 'bea@localhost'), 'stored', 'its delivery row is stored');
SELECT is((SELECT count(*)::int FROM deliveries_unsettled q JOIN messages m ON m.id = q.message_id
           WHERE m.recipient = 'bea@localhost'), 1, 'and waits in the offline queue');
SELECT is((parley_admin_message_json((SELECT id FROM messages WHERE recipient = 'bea@localhost'))
           -> 'deliveries' -> 0 ->> 'recipient'), 'bea@localhost', 'the message answers its deliveries');
SELECT is((SELECT details->>'from' FROM admin_audit WHERE action = 'message.send'), 'localhost',
          'the send is audited');

-- delete
SELECT is(parley_admin_user_delete('root', 'ann'), true, 'a user is deleted');
SELECT is(parley_admin_user_delete('root', 'ann'), false, 'not twice');
SELECT is((SELECT disabled AND deleted_at IS NOT NULL FROM users WHERE username = 'ann'), true,
          'the row stays, disabled: tokens are refused at login');
SELECT is(parley_user_login('ann'), true, 'a deleted user''s login reports disabled');

SELECT * FROM finish();
ROLLBACK;
