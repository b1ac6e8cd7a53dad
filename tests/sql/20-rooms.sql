-- Rooms and their members (migrations/0004): the tables and their rules,
-- creating (the creator becomes owner; a second create finds the first),
-- loading, affiliations (the last owner stays), the rooms a user sees, and
-- destruction (affiliations and positions go, the archive stays).
BEGIN;
SELECT plan(26);

SELECT has_table('rooms');
SELECT has_table('room_affiliations');
SELECT has_table('room_positions');
SELECT col_is_pk('rooms', 'id');
SELECT col_is_unique('rooms', 'jid');
SELECT col_is_pk('room_affiliations', ARRAY['room_id', 'username']);
SELECT ok((SELECT reloptions @> ARRAY['fillfactor=70'] FROM pg_class WHERE relname = 'room_positions'),
          'room_positions leaves room on its pages for HOT updates');
SELECT is((SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes
           WHERE tablename = 'room_positions'),
          ARRAY['room_positions_pkey'], 'room_positions has only its primary key');
SELECT throws_ok($$INSERT INTO rooms (jid, localpart) VALUES ('Big@c', 'Big')$$, '23514',
                 NULL, 'a localpart is lower case');
SELECT throws_ok($$INSERT INTO rooms (jid, localpart) VALUES ('other@c', 'one')$$, '23514',
                 NULL, 'the JID starts with the localpart');

-- create: the creator becomes owner, once
SELECT results_eq(
    $$SELECT username, affiliation, created FROM parley_room_create('t1@c', 't1', 'alice')$$,
    $$VALUES ('alice'::text, 'owner'::text, true)$$,
    'a new room: the creator is its owner');
SELECT results_eq(
    $$SELECT username, affiliation, created FROM parley_room_create('t1@c', 't1', 'mallory')$$,
    $$VALUES ('alice'::text, 'owner'::text, false)$$,
    'creating it again finds the first one and makes nobody owner');
SELECT is((SELECT count(*) FROM parley_room_load('nope@c'))::int, 0, 'no such room: no row');
SELECT results_eq(
    $$SELECT members_only, public, change_subject, username FROM parley_room_load('t1@c')$$,
    $$VALUES (false, true, true, 'alice'::text)$$,
    'the defaults: open, public, anyone may change the subject');
SELECT is((SELECT count(*) FROM parley_room_create('t2@c', 't2', NULL) WHERE username IS NULL)::int, 1,
          'a room the admin API made has no owner and still loads');

-- affiliations
SELECT results_eq(
    $$SELECT * FROM parley_room_affiliations_set((SELECT id FROM rooms WHERE jid = 't1@c'),
          ARRAY['bob', 'carol'], ARRAY['member', 'outcast'], ARRAY[NULL, 'spam'])$$,
    $$VALUES ('bob'::text, NULL::text), ('carol'::text, NULL::text)$$,
    'affiliations set, with their previous values');
SELECT results_eq(
    $$SELECT * FROM parley_room_affiliations_set((SELECT id FROM rooms WHERE jid = 't1@c'),
          ARRAY['bob'], ARRAY['admin'], ARRAY[NULL::text])$$,
    $$VALUES ('bob'::text, 'member'::text)$$,
    'a change returns what it was');
SELECT results_eq(
    $$SELECT * FROM parley_room_affiliations_set((SELECT id FROM rooms WHERE jid = 't1@c'),
          ARRAY['alice'], ARRAY[NULL::text], ARRAY[NULL::text])$$,
    $$VALUES (NULL::text, 'conflict'::text)$$,
    'the last owner cannot go');
SELECT is((SELECT affiliation FROM room_affiliations a JOIN rooms r ON r.id = a.room_id
           WHERE r.jid = 't1@c' AND a.username = 'alice'), 'owner', 'and stays');
SELECT results_eq(
    $$SELECT * FROM parley_room_affiliations_set((SELECT id FROM rooms WHERE jid = 't1@c'),
          ARRAY['alice', 'bob'], ARRAY[NULL, 'owner'], ARRAY[NULL::text, NULL])$$,
    $$VALUES ('alice'::text, 'owner'::text), ('bob'::text, 'admin'::text)$$,
    'an owner may go when another takes over in the same change');
SELECT throws_ok($$INSERT INTO room_affiliations (room_id, username, affiliation)
                   SELECT id, 'x', 'king' FROM rooms WHERE jid = 't1@c'$$, '23514',
                 NULL, 'affiliations are the four of XEP-0045');

-- the rooms a user sees
UPDATE rooms SET public = false WHERE jid = 't1@c';
SELECT ok(NOT EXISTS (SELECT 1 FROM parley_room_list('carol', 100) WHERE jid = 't1@c'),
          'an outcast does not see a hidden room');
SELECT ok(EXISTS (SELECT 1 FROM parley_room_list('bob', 100) WHERE jid = 't1@c'),
          'its owner does');
SELECT ok(EXISTS (SELECT 1 FROM parley_room_list('carol', 100) WHERE jid = 't2@c'),
          'everyone sees a public room');

-- destruction: the room and its rows go, its messages stay
SELECT parley_room_store_message('bob@x', 't1@c', NULL, 'kept', '<message/>');
SELECT parley_room_join((SELECT id FROM rooms WHERE jid = 't1@c'), 'bob', false, 10, 20, NULL, NULL);
DELETE FROM rooms WHERE jid = 't1@c';
SELECT is((SELECT count(*) FROM room_affiliations a LEFT JOIN rooms r ON r.id = a.room_id
           WHERE r.id IS NULL)::int + (SELECT count(*) FROM room_positions p LEFT JOIN rooms r
           ON r.id = p.room_id WHERE r.id IS NULL)::int, 0,
          'a destroyed room leaves no affiliation or position behind');
SELECT is((SELECT body FROM messages WHERE room = 't1@c'), 'kept', 'its archive stays');

SELECT * FROM finish();
ROLLBACK;
