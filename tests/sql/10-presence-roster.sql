-- Rosters (0003): rows, their constraints, versions (XEP-0237), roster
-- sets with the item limit, and the load the loop keeps.
BEGIN;
SELECT plan(23);

SELECT has_table('roster_items');
SELECT has_table('roster_versions');
SELECT col_is_pk('roster_items', ARRAY['owner', 'contact']);
SELECT has_index('roster_items', 'roster_items_contact');
SELECT has_function('parley_roster_set', ARRAY['text', 'text', 'text', 'text[]', 'integer']);
SELECT has_function('parley_roster_load', ARRAY['text', 'text']);

-- Appendix A's impossible combinations are refused.
SELECT throws_ok($$INSERT INTO roster_items (owner, contact, subscription, ask, ver)
                   VALUES ('a', 'b@x', 'to', true, 1)$$, '23514', NULL,
                 'pending out with a subscription to is not a state');
SELECT throws_ok($$INSERT INTO roster_items (owner, contact, subscription, pending_in, ver)
                   VALUES ('a', 'b@x', 'both', true, 1)$$, '23514', NULL,
                 'pending in with a subscription from is not a state');
SELECT throws_ok($$INSERT INTO roster_items (owner, contact, listed, ver)
                   VALUES ('a', 'b@x', false, 1)$$, '23514', NULL,
                 'a row outside the roster holds a request');
SELECT throws_ok($$INSERT INTO roster_items (owner, contact, subscription, ver)
                   VALUES ('a', 'b@x', 'friends', 1)$$, '23514', NULL,
                 'an unknown subscription is refused');

-- Sets: a new item, a change, the limit.
SELECT results_eq($$SELECT status, state, ver FROM parley_roster_set('ann', 'bob@x', 'Bob', '{Work,Home}', 2)$$,
                  $$VALUES ('ok'::text, 32, 1::bigint)$$, 'a new item is listed at version 1');
SELECT results_eq($$SELECT status, ver FROM parley_roster_set('ann', 'cat@x', NULL, '{}', 2)$$,
                  $$VALUES ('ok'::text, 2::bigint)$$, 'each change bumps the version');
SELECT results_eq($$SELECT status, ver FROM parley_roster_set('ann', 'dan@x', NULL, '{}', 2)$$,
                  $$VALUES ('limit'::text, 0::bigint)$$, 'a new item past the limit is refused');
SELECT is((SELECT ver FROM roster_versions WHERE owner = 'ann'), 2::bigint,
          'a refused set does not move the version');
SELECT results_eq($$SELECT status, ver FROM parley_roster_set('ann', 'bob@x', 'Bobby', NULL, 2)$$,
                  $$VALUES ('ok'::text, 3::bigint)$$, 'an existing item still changes at the limit');
SELECT results_eq($$SELECT name, groups FROM roster_items WHERE owner = 'ann' AND contact = 'bob@x'$$,
                  $$VALUES ('Bobby'::text, '{}'::text[])$$, 'a set replaces name and groups');

-- A set keeps the subscription state (it is not the client's to set) and
-- lists a row that only held a request.
INSERT INTO roster_items (owner, contact, subscription, pending_in, listed, request, ver)
VALUES ('ann', 'eve@x', 'to', true, false, '<presence type=''subscribe''/>', 4);
SELECT results_eq($$SELECT status, state FROM parley_roster_set('ann', 'eve@x', 'Eve', '{}', 10)$$,
                  $$VALUES ('ok'::text, 1 | 8 | 32)$$, 'the state stays; the row is listed now');
SELECT is((SELECT request FROM roster_items WHERE owner = 'ann' AND contact = 'eve@x'),
          '<presence type=''subscribe''/>', 'the request is kept');

-- The load: the version, every row, the blocklist.
INSERT INTO blocklist (owner, jid) VALUES ('ann', 'spam.example');
SELECT results_eq(
    $$SELECT kind, jid, state, ver FROM parley_roster_load('ann') ORDER BY kind, jid$$,
    $$VALUES ('b'::text, 'spam.example'::text, 0, 0::bigint),
             ('i', 'bob@x', 32, 3::bigint), ('i', 'cat@x', 32, 2::bigint),
             ('i', 'eve@x', 1 | 8 | 32, 4::bigint), ('v', NULL, 0, 4::bigint)$$,
    'the load has the version, the rows with their states and the blocklist');
SELECT results_eq($$SELECT kind, ver FROM parley_roster_load('nobody')$$,
                  $$VALUES ('v'::text, 0::bigint)$$, 'a roster never written is version 0');
-- The team roster: every other user who is not disabled, as a JID of the
-- domain given, with their display name.
INSERT INTO users (username, display_name) VALUES ('ann', NULL), ('tom', 'Tom T.'), ('zed', NULL);
UPDATE users SET disabled = true WHERE username = 'zed';
SELECT results_eq($$SELECT jid, name FROM parley_roster_load('ann', 'team.example') WHERE kind = 't'
                    AND jid IN ('tom@team.example', 'zed@team.example', 'ann@team.example')$$,
                  $$VALUES ('tom@team.example'::text, 'Tom T.'::text)$$,
                  'team rows: the others, not the disabled, not oneself');
SELECT is((SELECT count(*) FROM parley_roster_load('ann') WHERE kind = 't')::int, 0,
          'no team rows without a domain');
SELECT is(parley_roster_state('both', false, false, true, true), 1 | 2 | 16 | 32,
          'the state bits are the loop''s');

SELECT * FROM finish();
ROLLBACK;
