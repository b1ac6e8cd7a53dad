-- 0008_room_events: the admin API's room changes notify the loops on
-- parley_admin, in the change's transaction, and only when something
-- changed. NOTIFY is only delivered at commit, which a pgTAP file never
-- reaches, so pg_notify is shadowed for this transaction by a function
-- that records what would have been sent (search_path puts public first;
-- 0008's functions call pg_notify unqualified).
BEGIN;
SELECT plan(23);

CREATE TEMP TABLE sent (n serial, channel text, payload text);
CREATE FUNCTION public.pg_notify(p_channel text, p_payload text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO sent (channel, payload) VALUES (p_channel, p_payload) $$;
SET LOCAL search_path = public, pg_catalog;

CREATE TEMP TABLE made AS
    SELECT parley_admin_room_create('root', 'conference.localhost', 'Team', NULL, false,
                                    '["ann", "zoe"]'::json) AS j;
CREATE TEMP VIEW r AS SELECT (j->>'id')::uuid AS id, j->>'jid' AS jid FROM made;

SELECT is((SELECT count(*)::int FROM sent), 0, 'creating a room tells nobody: no node has it loaded');

SELECT ok(parley_admin_room_update('root', (SELECT id FROM r), true, 'New', false, NULL, true, NULL)
          IS NOT NULL, 'an update');
SELECT is((SELECT array_agg(channel || ' ' || payload ORDER BY n) FROM sent),
          ARRAY['parley_admin room:' || (SELECT jid FROM r)], 'an update notifies room:JID');
SELECT is((SELECT members_only FROM rooms WHERE id = (SELECT id FROM r)), true,
          'and still changes the room (0006''s function runs)');
DELETE FROM sent;

SELECT ok(parley_admin_room_update('root', gen_random_uuid(), true, 'x', false, NULL, NULL, NULL)
          IS NULL, 'no such room');
SELECT is((SELECT count(*)::int FROM sent), 0, 'no such room: nothing sent');

SELECT is(parley_admin_room_member_set('root', (SELECT id FROM r), 'bob', 'outcast')->>'affiliation',
          'outcast', 'an affiliation set');
SELECT is(parley_admin_room_member_remove('root', (SELECT id FROM r), 'zoe'), 0, 'a member removed');
SELECT is(parley_admin_room_member_remove('root', (SELECT id FROM r), 'zoe'), 1,
          'removing them again: no such member');
SELECT is((SELECT array_agg(payload ORDER BY n) FROM sent),
          ARRAY['room:' || (SELECT jid FROM r), 'room:' || (SELECT jid FROM r)],
          'one room:JID per change that happened, none for the no-op');
DELETE FROM sent;

SELECT is(parley_admin_room_send('root', 'zoe@localhost', 'zoe', (SELECT id FROM r), 'x'),
          'not-member', 'a non-member cannot post');
CREATE TEMP TABLE posted AS
    SELECT parley_admin_room_send('root', 'ann@localhost', 'ann', (SELECT id FROM r), 'hi')::json AS j;
SELECT is((SELECT array_agg(payload ORDER BY n) FROM sent),
          ARRAY['room-message:' || (SELECT j->>'id' FROM posted)],
          'a message posted notifies room-message:ID, the refused one nothing');
DELETE FROM sent;

CREATE TEMP TABLE jid_before AS SELECT id, jid FROM r;
CREATE TEMP TABLE deleted AS
    SELECT parley_admin_room_delete('root', (SELECT id FROM jid_before)) AS ok;
SELECT is((SELECT array[(SELECT ok::text FROM deleted), string_agg(payload, ',')] FROM sent),
          array['true', 'room:' || (SELECT jid FROM jid_before)],
          'a delete notifies room:JID (the loop finds it gone)');

-- room_occupants: a row per session in a room, written by the loop
CREATE TEMP TABLE occ AS
    SELECT (parley_admin_room_create('root', 'conference.localhost', 'Occ', NULL, false,
                                     '[]'::json)->>'id')::uuid AS id;
SELECT parley_room_occupant((SELECT id FROM occ), 'n1/1/1', 'n1', 'ann', 'desk', true);
SELECT parley_room_occupant((SELECT id FROM occ), 'n1/1/1', 'n1', 'ann', 'desk', true);
SELECT parley_room_occupant((SELECT id FROM occ), 'n2/1/7', 'n2', 'ann', 'phone', true);
SELECT parley_room_occupant((SELECT id FROM occ), 'n1/1/2', 'n1', 'bob', 'web', true);
SELECT parley_room_occupant(gen_random_uuid(), 'n1/1/3', 'n1', 'bob', 'web', true);
SELECT is((SELECT count(*)::int FROM room_occupants WHERE room_id = (SELECT id FROM occ)), 3,
          'a row per session, once');
SELECT is((SELECT count(*)::int FROM room_occupants WHERE session = 'n1/1/3'), 0,
          'none for a room that does not exist');
SELECT is((SELECT json_agg(json_build_array(o->>'username', o->'resources'))::text
           FROM json_array_elements(parley_room_occupants_json((SELECT id FROM occ))) o),
          '[["ann", ["desk","phone"]], ["bob", ["web"]]]',
          'the API''s occupants: one per user, with the resources on every node');
SELECT parley_room_occupant((SELECT id FROM occ), 'n1/1/2', 'n1', 'bob', 'web', false);
SELECT is((SELECT array_agg(session ORDER BY session) FROM room_occupants
           WHERE room_id = (SELECT id FROM occ)),
          ARRAY['n1/1/1', 'n2/1/7'], 'a leave deletes that session''s row');
SELECT is(parley_node_restart('n1'), 0, 'a node starts again');
SELECT is((SELECT array_agg(session) FROM room_occupants WHERE room_id = (SELECT id FROM occ)),
          ARRAY['n2/1/7'],
          'its rows of the last run are gone, another node''s stay');
SELECT ok(parley_admin_room_delete('root', (SELECT id FROM occ)), 'the room is deleted');
SELECT is((SELECT count(*)::int FROM room_occupants WHERE room_id = (SELECT id FROM occ)), 0,
          'and its occupants'' rows with it');
SELECT is(parley_room_occupants_json(gen_random_uuid())::text, '[]', 'no occupants: []');

-- the XMPP path's affiliation changes notify too (other nodes)
DELETE FROM sent;
CREATE TEMP TABLE x AS
    SELECT (parley_admin_room_create('root', 'conference.localhost', 'X', NULL, false,
                                     '[]'::json)->>'id')::uuid AS id;
SELECT count(*) FROM parley_room_affiliations_set((SELECT id FROM x), ARRAY['ann'],
                                                   ARRAY['member'], ARRAY[NULL]);
SELECT is((SELECT array_agg(payload) FROM sent),
          ARRAY['room:' || (SELECT jid FROM rooms WHERE id = (SELECT id FROM x))],
          'an affiliation set over XMPP notifies room:JID');

SELECT * FROM finish();
ROLLBACK;
