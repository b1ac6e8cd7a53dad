-- The blocklist (XEP-0191): changes, matching, and the store that refuses
-- what a blocked sender sends.
BEGIN;
SELECT plan(12);

SELECT has_table('blocklist');
SELECT col_is_pk('blocklist', ARRAY['owner', 'jid']);
SELECT is(parley_block_set('eli', 'block', ARRAY['mal@x', 'spam.example', 'mal@x']), 2,
          'block adds each JID once');
SELECT is(parley_block_set('eli', 'block', ARRAY['mal@x']), 0, 'blocking again changes nothing');
SELECT ok(parley_blocks('eli@x', 'mal@x'), 'a bare JID is blocked');
SELECT ok(parley_blocks('eli@x', 'anyone@spam.example'), 'a domain blocks everyone of it');
SELECT ok(NOT parley_blocks('eli@x', 'friend@x'), 'others are not');

SELECT results_eq($$SELECT id, inserted, pending FROM parley_store_message('mal@x', 'eli@x', 'b1', 'hi', '<message/>')$$,
                  $$VALUES (0::bigint, false, false)$$,
                  'a message from a blocked sender is not stored');
SELECT is((SELECT count(*) FROM messages WHERE sender = 'mal@x')::int, 0, 'nothing in the archive');
SELECT is(parley_block_set('eli', 'unblock', ARRAY['mal@x', 'not-there@x']), 1,
          'unblock removes what is there');
SELECT ok((SELECT id > 0 FROM parley_store_message('mal@x', 'eli@x', 'b2', 'hi', '<message/>')),
          'unblocked, the message is stored');
SELECT is(parley_block_set('eli', 'unblock_all', NULL), 1, 'unblock_all empties the list');

SELECT * FROM finish();
ROLLBACK;
