-- Unread counts (0013) leave out edit messages and retracted messages:
-- a reaction or a correction is nothing new to read.
BEGIN;
SELECT plan(5);

CREATE TEMP TABLE o AS
SELECT * FROM parley_store_message('ua@x', 'ub@x', 'o1', 'one', '<message/>');
SELECT * FROM parley_store_message('ua@x', 'ub@x', 'o2', 'two', '<message/>');

SELECT results_eq($$SELECT peer, unread FROM parley_unread_counts('ub@x')$$,
                  $$VALUES ('ua@x'::text, 2::bigint)$$, 'two messages unread');
SELECT ok((SELECT error IS NULL FROM parley_store_edit(false, 'ua@x', 'ub@x', 'c1', 'one!',
    '<message/>', 'correct', 'o1', NULL, NULL, NULL, NULL, NULL)), 'a correction is stored');
SELECT ok((SELECT error IS NULL FROM parley_store_edit(false, 'ua@x', 'ub@x', 'x1', NULL,
    '<message/>', 'react', 'o2', '{"👍"}', NULL, NULL, NULL, NULL)), 'a reaction is stored');
SELECT results_eq($$SELECT peer, unread FROM parley_unread_counts('ub@x')$$,
                  $$VALUES ('ua@x'::text, 2::bigint)$$,
                  'a correction and a reaction add nothing to read');
SELECT * FROM parley_store_edit(false, 'ua@x', 'ub@x', 't1', NULL, '<message/>',
    'retract', 'o2', NULL, NULL, NULL, NULL, NULL);
SELECT results_eq($$SELECT peer, unread FROM parley_unread_counts('ub@x')$$,
                  $$VALUES ('ua@x'::text, 1::bigint)$$,
                  'a retracted message is no longer unread, nor its retraction');

SELECT * FROM finish();
ROLLBACK;
