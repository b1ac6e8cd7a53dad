-- 0011: the PEP nodes' functions (bookmarks kept and offered, displayed
-- positions moving the read state) and full-JID blocks in the store.
BEGIN;
SELECT plan(27);

SELECT has_table('pep_items');
SELECT col_is_pk('pep_items', ARRAY['owner', 'node', 'item_id']);

-- bookmarks
SELECT is(parley_pep_publish('pa', 'pa@x', 'urn:xmpp:bookmarks:1', 'one@m', '<conference/>',
                             NULL, NULL, 2), 'ok', 'a bookmark is published');
SELECT is(parley_pep_publish('pa', 'pa@x', 'urn:xmpp:bookmarks:1', 'two@m', '<conference/>',
                             NULL, NULL, 2), 'ok', 'a second');
SELECT is(parley_pep_publish('pa', 'pa@x', 'urn:xmpp:bookmarks:1', 'three@m', '<conference/>',
                             NULL, NULL, 2), 'full', 'past the most items: full');
SELECT is(parley_pep_publish('pa', 'pa@x', 'urn:xmpp:bookmarks:1', 'one@m',
                             '<conference name=''1''/>', NULL, NULL, 2), 'ok',
          'publishing an item again replaces it, even when full');
SELECT results_eq($$SELECT item_id, payload FROM parley_pep_get('pa', 'pa@x', 'urn:xmpp:bookmarks:1') ORDER BY 1$$,
                  $$VALUES ('one@m', '<conference name=''1''/>'), ('two@m', '<conference/>')$$,
                  'get returns what is published');
SELECT throws_ok($$INSERT INTO pep_items (owner, node, item_id, payload) VALUES ('pa', 'other', 'i', '')$$,
                 '23514', NULL, 'no node but the ones served');

-- a member room is offered; the owner's bookmark wins; a retraction keeps it out
INSERT INTO rooms (id, jid, localpart, name)
VALUES ('00000000-0000-0000-0000-00000000a011', 'team@m', 'team', 'Team'),
       ('00000000-0000-0000-0000-00000000a012', 'out@m', 'out', NULL);
INSERT INTO room_affiliations (room_id, username, affiliation)
VALUES ('00000000-0000-0000-0000-00000000a011', 'pa', 'member'),
       ('00000000-0000-0000-0000-00000000a012', 'pa', 'outcast');
SELECT results_eq($$SELECT item_id, payload, name FROM parley_pep_get('pa', 'pa@x', 'urn:xmpp:bookmarks:1') WHERE item_id LIKE '%@m' AND payload IS NULL$$,
                  $$VALUES ('team@m', NULL::text, 'Team')$$,
                  'the room pa is a member of is offered, not the one pa is banned from');
SELECT ok(parley_pep_retract('pa', 'urn:xmpp:bookmarks:1', 'team@m'), 'the offer is retracted');
SELECT ok(NOT parley_pep_retract('pa', 'urn:xmpp:bookmarks:1', 'team@m'), 'and is not there any more');
SELECT is((SELECT count(*) FROM parley_pep_get('pa', 'pa@x', 'urn:xmpp:bookmarks:1') WHERE item_id = 'team@m')::int,
          0, 'a retracted offer stays out');
SELECT ok(parley_pep_retract('pa', 'urn:xmpp:bookmarks:1', 'two@m'), 'a published one goes');
SELECT ok(NOT parley_pep_retract('pa', 'urn:xmpp:bookmarks:1', 'nothing@m'), 'nothing to retract: false');

-- displayed positions: direct
CREATE TEMP TABLE ids AS
SELECT (SELECT id FROM parley_store_message('pb@x', 'pa@x', 'd' || g, 'b', '<message/>')) AS id
FROM generate_series(1, 3) g;
SELECT is((SELECT unread FROM parley_unread_counts('pa@x') WHERE peer = 'pb@x'), 3::bigint, 'three unread');
SELECT is(parley_pep_publish('pa', 'pa@x', 'urn:xmpp:mds:displayed:0', 'pb@x', NULL, 'pa@x',
                             (SELECT id FROM ids ORDER BY id OFFSET 1 LIMIT 1), 0), 'ok',
          'displayed up to the second');
SELECT is((SELECT unread FROM parley_unread_counts('pa@x') WHERE peer = 'pb@x'), 1::bigint, 'one unread');
SELECT is(parley_pep_publish('pa', 'pa@x', 'urn:xmpp:mds:displayed:0', 'pc@x', NULL, 'pa@x',
                             (SELECT max(id) FROM ids), 0), 'unknown',
          'a message of another conversation is unknown');
SELECT results_eq($$SELECT item_id, by, pos FROM parley_pep_get('pa', 'pa@x', 'urn:xmpp:mds:displayed:0')$$,
                  $$SELECT 'pb@x', 'pa@x', id FROM ids ORDER BY id OFFSET 1 LIMIT 1$$,
                  'the node holds the position');

-- displayed positions: a room
INSERT INTO messages (kind, sender, room, body, stanza)
VALUES ('groupchat', 'pb@x', 'team@m', 'r', '<message/>');
SELECT is(parley_pep_publish('pa', 'pa@x', 'urn:xmpp:mds:displayed:0', 'team@m', NULL, 'team@m',
                             (SELECT max(id) FROM messages WHERE room = 'team@m'), 0), 'ok',
          'a room message displayed');
SELECT is(parley_room_unread('00000000-0000-0000-0000-00000000a011', 'pa'), 0::bigint,
          'the room is read');

-- full-JID blocks stop storage for an offline recipient
SELECT is(parley_block_set('pz', 'block', ARRAY['pm@x/phone', 'x/tablet']), 2,
          'a full JID and a domain/resource blocked');
SELECT results_eq(
    $$SELECT (SELECT id FROM parley_store_message('pm@x', 'pz@x', 'f1', 'hi', '<message xmlns=''jabber:client'' from=''pm@x/phone'' to=''pz@x''><body>hi</body></message>')) = 0,
             (SELECT id FROM parley_store_message('pm@x', 'pz@x', 'f2', 'hi', '<message xmlns=''jabber:client'' from=''pm@x/tablet'' to=''pz@x''><body>hi</body></message>')) = 0,
             (SELECT id FROM parley_store_message('pm@x', 'pz@x', 'f3', 'hi', '<message xmlns=''jabber:client'' from=''pm@x/laptop'' to=''pz@x''><body>hi</body></message>')) > 0$$,
    $$VALUES (true, true, true)$$,
    'a blocked resource (full JID, domain/resource) stores nothing; another resource does');

-- XEP-0319 idle in the last presence
INSERT INTO users (username) VALUES ('pi');
INSERT INTO sessions (full_jid, node, username, resource, available, idle_since)
VALUES ('pi@x/a', 'n', 'pi', 'a', true, '2020-01-01 00:00:00+00');
SELECT is((SELECT idle_since FROM presence_last WHERE jid = 'pi@x'),
          '2020-01-01 00:00:00+00'::timestamptz, 'an idle presence keeps its idle time');
UPDATE sessions SET idle_since = NULL WHERE full_jid = 'pi@x/a';
SELECT is((SELECT idle_since FROM presence_last WHERE jid = 'pi@x'), NULL,
          'back to active: not idle');
UPDATE sessions SET idle_since = '2021-01-01 00:00:00+00' WHERE full_jid = 'pi@x/a';
DELETE FROM sessions WHERE full_jid = 'pi@x/a';
SELECT results_eq($$SELECT available, idle_since FROM presence_last WHERE jid = 'pi@x'$$,
                  $$VALUES (false, '2021-01-01 00:00:00+00'::timestamptz)$$,
                  'gone while idle: the last presence keeps since when');
INSERT INTO roster_items (owner, contact, subscription, ver) VALUES ('pj', 'pi@x', 'to', 1);
SELECT results_eq($$SELECT jid, available, idle_since FROM parley_presence_initial('pj', 'pj@x') WHERE kind = 'p'$$,
                  $$VALUES ('pi@x'::text, false, '2021-01-01 00:00:00+00'::timestamptz)$$,
                  'the initial presence reads the idle time');

SELECT * FROM finish();
ROLLBACK;
