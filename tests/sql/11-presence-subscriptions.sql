-- Subscription exchanges (0003): the pair read and the compare-and-set
-- write that the loop's state machine (chat_sub.c) uses.
BEGIN;
SELECT plan(15);

SELECT has_function('parley_roster_pair', ARRAY['text', 'text', 'text', 'text']);
SELECT has_function('parley_roster_apply',
                    ARRAY['text', 'text', 'bigint', 'integer', 'text',
                          'text', 'text', 'bigint', 'integer', 'text']);

SELECT results_eq($$SELECT side, state, ver, blocked FROM parley_roster_pair('al', 'bo@x', 'bo', 'al@x')$$,
                  $$VALUES ('a'::text, 0, 0::bigint, false), ('b', 0, 0::bigint, false)$$,
                  'no rows: both sides state 0, version 0');

-- al subscribes: None + Pending Out, and an unlisted request for bo.
SELECT results_eq($$SELECT applied, a_ver, b_ver FROM parley_roster_apply(
                      'al', 'bo@x', 0, 32 | 4, NULL, 'bo', 'al@x', 0, 8, '<presence/>')$$,
                  $$VALUES (true, 1::bigint, 1::bigint)$$, 'the first write applies');
SELECT results_eq($$SELECT subscription, ask, pending_in, listed, request FROM roster_items
                    WHERE owner = 'bo' AND contact = 'al@x'$$,
                  $$VALUES ('none'::text, false, true, false, '<presence/>'::text)$$,
                  'the contact keeps the request, outside the roster');
SELECT results_eq($$SELECT applied FROM parley_roster_apply(
                      'al', 'bo@x', 0, 32 | 4, NULL, 'bo', 'al@x', 0, 8, NULL)$$,
                  $$VALUES (false)$$, 'a writer that read before the first one is refused');
SELECT results_eq($$SELECT side, state, ver FROM parley_roster_pair('al', 'bo@x', 'bo', 'al@x')$$,
                  $$VALUES ('a'::text, 36, 1::bigint), ('b', 8, 1::bigint)$$,
                  'the pair read again shows the first write');

-- bo approves: to / from; a side left alone keeps its row and version.
SELECT results_eq($$SELECT applied, a_ver, b_ver FROM parley_roster_apply(
                      'bo', 'al@x', 1, 32 | 2, NULL, 'al', 'bo@x', 1, 32 | 1, NULL)$$,
                  $$VALUES (true, 2::bigint, 2::bigint)$$, 'the approval applies');
SELECT results_eq($$SELECT owner, subscription, ask, pending_in, listed, request FROM roster_items
                    WHERE owner IN ('al', 'bo') ORDER BY owner$$,
                  $$VALUES ('al'::text, 'to'::text, false, false, true, NULL::text),
                           ('bo', 'from', false, false, true, NULL)$$,
                  'to and from; the answered request is gone');
SELECT results_eq($$SELECT applied, a_ver, b_ver FROM parley_roster_apply(
                      'al', 'bo@x', 2, NULL, NULL, 'bo', 'al@x', 2, 0, NULL)$$,
                  $$VALUES (true, NULL::bigint, 3::bigint)$$, 'state 0 deletes a row, NULL keeps one');
SELECT is((SELECT count(*) FROM roster_items WHERE owner = 'bo')::int, 0, 'the row is gone');
SELECT is((SELECT ver FROM roster_versions WHERE owner = 'al'), 2::bigint,
          'a side left alone keeps its version');

-- A contact that is not an account here: only a's side.
SELECT results_eq($$SELECT applied, a_ver, b_ver FROM parley_roster_apply(
                      'al', 'far@remote.example', 0, 32, NULL, NULL, 'al@x', 0, NULL, NULL)$$,
                  $$VALUES (true, 3::bigint, NULL::bigint)$$, 'no owner on b''s side: only a''s row');

-- Blocking shows in the pair: bo blocks al's domain.
INSERT INTO blocklist (owner, jid) VALUES ('bo', 'x');
SELECT results_eq($$SELECT side, blocked FROM parley_roster_pair('al', 'bo@x', 'bo', 'al@x')$$,
                  $$VALUES ('a'::text, false), ('b', true)$$, 'a domain block counts');
SELECT lives_ok($$SELECT parley_roster_lock(ARRAY['zz', 'aa', NULL, 'zz'])$$,
                'locking sorts, skips NULLs and repeats');

SELECT * FROM finish();
ROLLBACK;
