-- 0006_admin_rooms: the admin API's room changes. Each writes its audit
-- row; a change to a room that does not exist writes none.
BEGIN;
SELECT plan(17);

SELECT has_function('parley_admin_room_create');
SELECT has_function('parley_admin_room_member_set');

-- create
CREATE TEMP TABLE made AS
    SELECT parley_admin_room_create('root', 'conference.localhost', 'Team', NULL, true,
                                    '["zoe", "ann", "zoe"]'::json) AS j;
SELECT matches((SELECT j->>'jid' FROM made), '^group-[0-9a-f-]{36}@conference\.localhost$',
               'the JID is group-{uuid}@ the room service');
SELECT is((SELECT j->>'jid' FROM made), 'group-' || (SELECT j->>'id' FROM made) || '@conference.localhost',
          'the JID carries the room''s uuid');
SELECT is((SELECT array_agg(username ORDER BY username) FROM room_affiliations
           WHERE room_id = (SELECT (j->>'id')::uuid FROM made) AND affiliation = 'member'),
          ARRAY['ann', 'zoe'], 'members, once each');
SELECT is((SELECT count(*)::int FROM admin_audit WHERE action = 'room.create'
           AND target = (SELECT j->>'jid' FROM made)), 1, 'one audit row for the create');

-- update
SELECT is(parley_admin_room_update('root', (SELECT (j->>'id')::uuid FROM made), false, NULL,
                                   true, 'about', NULL, false)->>'jid',
          (SELECT j->>'jid' FROM made), 'an update answers the room');
SELECT is((SELECT ROW(name, description, members_only, public)::text FROM rooms
           WHERE id = (SELECT (j->>'id')::uuid FROM made)),
          ROW('Team', 'about', true, false)::text, 'only what was given changes');
SELECT ok(parley_admin_room_update('root', gen_random_uuid(), true, 'x', false, NULL, NULL, NULL)
          IS NULL, 'no such room: NULL');

-- members
SELECT is(parley_admin_room_member_set('root', (SELECT (j->>'id')::uuid FROM made), 'ann',
                                       'owner')->>'affiliation', 'owner', 'a member becomes owner');
SELECT throws_ok($$SELECT parley_admin_room_member_set('root', (SELECT (j->>'id')::uuid FROM made),
                                                      'ann', 'god')$$, '23514', NULL,
                 'an unknown affiliation is refused by the table');
SELECT is(parley_admin_room_member_remove('root', (SELECT (j->>'id')::uuid FROM made), 'zoe'), 0,
          'a member is removed');
SELECT is(parley_admin_room_member_remove('root', (SELECT (j->>'id')::uuid FROM made), 'zoe'), 1,
          'removing them again: no such member');

-- send
SELECT is(parley_admin_room_send('root', 'zoe@localhost', 'zoe', (SELECT (j->>'id')::uuid FROM made), 'x'),
          'not-member', 'a removed member cannot post');
SELECT is((parley_admin_room_send('root', 'ann@localhost', 'ann', (SELECT (j->>'id')::uuid FROM made),
                                  'a < b')::json)->>'body', 'a < b', 'an owner posts; the body is kept');
SELECT is((SELECT stanza FROM messages WHERE kind = 'groupchat' AND room = (SELECT j->>'jid' FROM made)),
          '<message from="' || (SELECT j->>'jid' FROM made) || '/ann" type="groupchat" id="'
          || (SELECT stanza_id FROM messages WHERE room = (SELECT j->>'jid' FROM made))
          || '"><body>a &lt; b</body></message>', 'the stanza is escaped, from room/nick');

-- delete
SELECT is(array[parley_admin_room_delete('root', (SELECT (j->>'id')::uuid FROM made)),
                 parley_admin_room_delete('root', (SELECT (j->>'id')::uuid FROM made))],
          array[true, false], 'a room is deleted once');

SELECT * FROM finish();
ROLLBACK;
