-- A store batch's marks as one call per kind (0014): parley_mark_delivered_many
-- and parley_mark_received_many do for each element what the one-message
-- functions do.
BEGIN;
SELECT plan(15);

SELECT has_function('parley_mark_delivered_many', ARRAY['bigint[]', 'text[]', 'text[]']);
SELECT has_function('parley_mark_received_many', ARRAY['text[]', 'text[]', 'text[]']);

CREATE TEMP TABLE b AS
    SELECT n, (SELECT id FROM parley_store_message('bm-a@x', 'bm-b@x', 'bm-' || n, 'x', '<message/>')) AS id
    FROM generate_series(1, 5) n;
SELECT parley_store_message('bm-a@x', 'bm-c@x', 'bm-1', 'to carol', '<message/>');

-- delivered: three of bob's, one twice, one for someone without a row
SELECT is(parley_mark_delivered_many(
              ARRAY[(SELECT id FROM b WHERE n = 1), (SELECT id FROM b WHERE n = 2),
                    (SELECT id FROM b WHERE n = 2), (SELECT id FROM b WHERE n = 3),
                    (SELECT id FROM b WHERE n = 4)],
              ARRAY['bm-b@x', 'bm-b@x', 'bm-b@x', 'bm-b@x', 'bm-mallory@x'],
              ARRAY['node/1', 'node/1', 'node/1', NULL, 'node/9']),
          3, 'each stored row of the batch is marked once; a stranger''s mark changes nothing');
SELECT is((SELECT array_agg(d.state ORDER BY b.n) FROM b JOIN deliveries d ON d.message_id = b.id),
          ARRAY['delivered', 'delivered', 'delivered', 'stored', 'stored'], 'the states');
SELECT is((SELECT delivered_via FROM deliveries WHERE message_id = (SELECT id FROM b WHERE n = 1)),
          'node/1', 'the session is kept');
SELECT ok((SELECT delivered_at IS NOT NULL FROM deliveries WHERE message_id = (SELECT id FROM b WHERE n = 3)),
          'delivered_at is stamped');
SELECT is((SELECT count(*) FROM deliveries_unsettled u JOIN b ON b.id = u.message_id
           WHERE u.recipient = 'bm-b@x')::int,
          4, 'a mark with a session stays unsettled (until a receipt or the session''s end); one without is settled');

-- received: by the real recipient only, from stored or delivered, never back
SELECT is(parley_mark_received_many(
              ARRAY['bm-a@x', 'bm-a@x', 'bm-a@x', 'bm-a@x', 'bm-z@x', 'bm-a@x'],
              ARRAY['bm-1', 'bm-1', 'bm-4', 'bm-2', 'bm-5', 'bm-5'],
              ARRAY['bm-b@x', 'bm-b@x', 'bm-b@x', 'bm-mallory@x', 'bm-b@x', 'bm-b@x']),
          3, 'bob''s receipts for 1 (twice), 4 and 5; a stranger''s and a wrong sender''s change nothing');
SELECT is((SELECT array_agg(d.state ORDER BY b.n) FROM b JOIN deliveries d ON d.message_id = b.id),
          ARRAY['received', 'delivered', 'delivered', 'received', 'received'], 'the states after the receipts');
SELECT ok((SELECT bool_and(received_at IS NOT NULL AND delivered_at IS NOT NULL) FROM deliveries
           WHERE message_id IN (SELECT id FROM b WHERE n IN (1, 4, 5))),
          'received from stored stamps delivered too');
SELECT is((SELECT state FROM deliveries d JOIN messages m ON m.id = d.message_id
           WHERE m.recipient = 'bm-c@x'), 'stored',
          'the same stanza id to another recipient is not touched');
SELECT is((SELECT count(*) FROM deliveries_unsettled u JOIN b ON b.id = u.message_id
           WHERE u.recipient = 'bm-b@x')::int,
          2, 'received from stored is settled; delivered to a session stays until the session ends');
SELECT is(parley_mark_received_many(ARRAY['bm-a@x'], ARRAY['bm-1'], ARRAY['bm-b@x']), 0,
          'a repeated receipt changes nothing');
SELECT is(parley_mark_delivered_many(ARRAY[(SELECT id FROM b WHERE n = 1)], ARRAY['bm-b@x'], ARRAY['node/2']),
          0, 'a delivered mark after the receipt changes nothing');
SELECT is(parley_mark_received_many('{}', '{}', '{}'), 0, 'empty arrays change nothing');

SELECT * FROM finish();
ROLLBACK;
