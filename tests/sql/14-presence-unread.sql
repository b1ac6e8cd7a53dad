-- XEP-0333 displayed markers and unread counts per peer.
BEGIN;
SELECT plan(10);

SELECT has_function('parley_mark_displayed', ARRAY['text', 'text', 'text']);
SELECT has_function('parley_unread_counts', ARRAY['text']);
SELECT has_view('unread_counts');

CREATE TEMP TABLE stored AS
    SELECT s.id FROM generate_series(1, 4) AS n,
        LATERAL parley_store_message('ann@x', 'ben@x', 'u' || n, 'hi', '<message/>') s
    UNION ALL SELECT id FROM parley_store_message('cat@x', 'ben@x', 'c1', 'hey', '<message/>')
    UNION ALL SELECT id FROM parley_store_message('ben@x', 'ann@x', 'r1', 'yo', '<message/>');

SELECT results_eq($$SELECT peer, unread FROM parley_unread_counts('ben@x')$$,
                  $$VALUES ('ann@x'::text, 4::bigint), ('cat@x', 1::bigint)$$,
                  'unread per peer');
SELECT is(parley_mark_displayed('ann@x', 'u3', 'cat@x'), 0,
          'a marker from someone who is not the recipient changes nothing');
SELECT is(parley_mark_displayed('ann@x', 'u3', 'ben@x'), 3,
          'displayed moves that message and the earlier ones');
SELECT results_eq(
    $$SELECT m.stanza_id, d.state, d.displayed_at IS NOT NULL FROM messages m
      JOIN deliveries d ON d.message_id = m.id WHERE m.sender = 'ann@x' ORDER BY m.id$$,
    $$VALUES ('u1'::text, 'displayed'::text, true), ('u2', 'displayed', true),
             ('u3', 'displayed', true), ('u4', 'stored', false)$$,
    'the states and their times');
SELECT is(parley_mark_displayed('ann@x', 'u2', 'ben@x'), 0, 'an older marker changes nothing');
SELECT results_eq($$SELECT recipient, peer, unread FROM unread_counts WHERE recipient IN ('ben@x', 'ann@x') ORDER BY 1, 2$$,
                  $$VALUES ('ann@x'::text, 'ben@x'::text, 1::bigint), ('ben@x', 'ann@x', 1::bigint),
                           ('ben@x', 'cat@x', 1::bigint)$$,
                  'the view has everyone''s counts');
SELECT is((SELECT count(*) FROM deliveries_unsettled q JOIN messages m ON m.id = q.message_id
           WHERE m.sender = 'ann@x')::int, 1,
          'displayed messages leave the offline queue');

SELECT * FROM finish();
ROLLBACK;
