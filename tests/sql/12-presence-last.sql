-- The last presence of each user and users.last_seen_at, kept by a trigger
-- on sessions; what the initial presence reads.
BEGIN;
SELECT plan(12);

SELECT has_table('presence_last');
SELECT has_trigger('sessions', 'sessions_presence_last');

INSERT INTO users (username) VALUES ('cy');
INSERT INTO sessions (full_jid, node, username, resource, available)
VALUES ('cy@x/a', 'n', 'cy', 'a', false);
SELECT is((SELECT count(*) FROM presence_last WHERE jid = 'cy@x')::int, 0,
          'a session bound without presence changes nothing');
UPDATE sessions SET available = true, show = 'away', status = 'lunch', priority = 3
WHERE full_jid = 'cy@x/a';
SELECT results_eq($$SELECT available, show, status, priority, resource FROM presence_last WHERE jid = 'cy@x'$$,
                  $$VALUES (true, 'away'::text, 'lunch'::text, 3, 'a'::text)$$,
                  'an available presence is the last one');
INSERT INTO sessions (full_jid, node, username, resource, available, status, priority)
VALUES ('cy@x/b', 'n', 'cy', 'b', true, 'on the phone', 1);
UPDATE sessions SET available = false, status = 'bye' WHERE full_jid = 'cy@x/b';
SELECT results_eq($$SELECT available, status, resource FROM presence_last WHERE jid = 'cy@x'$$,
                  $$VALUES (true, 'lunch'::text, 'a'::text)$$,
                  'one resource going away leaves the other''s presence');
SELECT is((SELECT last_seen_at FROM users WHERE username = 'cy'), NULL,
          'not seen last while online');
DELETE FROM sessions WHERE full_jid = 'cy@x/b';
SELECT ok((SELECT last_seen_at IS NOT NULL FROM users WHERE username = 'cy'),
          'a session that ends marks the user seen');
UPDATE sessions SET available = false, status = 'gone home' WHERE full_jid = 'cy@x/a';
SELECT results_eq($$SELECT available, show, status FROM presence_last WHERE jid = 'cy@x'$$,
                  $$VALUES (false, NULL::text, 'gone home'::text)$$,
                  'the last resource unavailable: unavailable with its status');

-- The initial presence: contacts subscribed to, with their last presence,
-- and waiting requests.
INSERT INTO roster_items (owner, contact, subscription, ver) VALUES ('dee', 'cy@x', 'to', 1);
INSERT INTO roster_items (owner, contact, subscription, ver) VALUES ('dee', 'nobody@x', 'both', 2);
INSERT INTO roster_items (owner, contact, subscription, ver) VALUES ('dee', 'fan@x', 'from', 3);
INSERT INTO roster_items (owner, contact, pending_in, listed, request, ver)
VALUES ('dee', 'asker@x', true, false, '<presence type=''subscribe''/>', 4);
SELECT results_eq(
    $$SELECT kind, jid, available, status, request FROM parley_presence_initial('dee', 'dee@x') ORDER BY kind, jid$$,
    $$VALUES ('p'::text, 'cy@x'::text, false, 'gone home'::text, NULL::text),
             ('p', 'nobody@x', NULL, NULL, NULL),
             ('r', 'asker@x', NULL, NULL, '<presence type=''subscribe''/>')$$,
    'to/both contacts with their last presence (unknown: NULL), and the requests');
SELECT is((SELECT count(*) FROM parley_presence_initial('dee', 'dee@x') WHERE jid = 'fan@x')::int, 0,
          'a contact with only `from` is not probed');
INSERT INTO blocklist (owner, jid) VALUES ('cy', 'dee@x');
SELECT is((SELECT count(*) FROM parley_presence_initial('dee', 'dee@x') WHERE jid = 'cy@x')::int, 0,
          'a contact who blocks the owner is not probed: not even their last status');
SELECT is((SELECT count(*) FROM parley_presence_initial('nobody', 'nobody@x'))::int, 0,
          'nothing for an empty roster');

SELECT * FROM finish();
ROLLBACK;
