-- Delivery states: stored -> delivered -> received (-> displayed), never back.
BEGIN;
SELECT plan(24);

SELECT has_trigger('deliveries', 'deliveries_monotonic');
SELECT has_trigger('deliveries', 'deliveries_stamped');

CREATE TEMP TABLE m1 AS
    SELECT id FROM parley_store_message('alice@x', 'bob@x', 'm1', 'one', '<message/>');
CREATE TEMP TABLE m2 AS
    SELECT id FROM parley_store_message('alice@x', 'bob@x', 'm2', 'two', '<message/>');

SELECT is((SELECT state FROM deliveries WHERE message_id = (SELECT id FROM m1)), 'stored',
          'a new message is stored');
SELECT ok((SELECT delivered_at IS NULL AND received_at IS NULL FROM deliveries
           WHERE message_id = (SELECT id FROM m1)),
          'a stored message has no delivery times');

-- delivered
SELECT is(parley_mark_delivered((SELECT id FROM m1), 'bob@x'), 1,
          'mark_delivered changes the stored row');
SELECT is((SELECT state FROM deliveries WHERE message_id = (SELECT id FROM m1)), 'delivered',
          'the message is delivered');
SELECT ok((SELECT delivered_at IS NOT NULL FROM deliveries
           WHERE message_id = (SELECT id FROM m1)), 'delivered_at is set');
SELECT is(parley_mark_delivered((SELECT id FROM m1), 'bob@x'), 0,
          'marking delivered twice changes nothing');
SELECT is(parley_mark_delivered((SELECT id FROM m1), 'mallory@x'), 0,
          'mark_delivered for someone without a row changes nothing');

-- received, only by the real recipient
SELECT is(parley_mark_received('alice@x', 'm1', 'mallory@x'), 0,
          'a receipt from someone who is not the recipient changes nothing');
SELECT is((SELECT state FROM deliveries WHERE message_id = (SELECT id FROM m1)), 'delivered',
          'the message is still delivered');
SELECT is(parley_mark_received('carol@x', 'm1', 'bob@x'), 0,
          'a receipt naming another sender changes nothing');
SELECT is(parley_mark_received('alice@x', 'm1', 'bob@x'), 1,
          'the recipient''s receipt changes the row');
SELECT is((SELECT state FROM deliveries WHERE message_id = (SELECT id FROM m1)), 'received',
          'the message is received');
SELECT ok((SELECT received_at IS NOT NULL FROM deliveries
           WHERE message_id = (SELECT id FROM m1)), 'received_at is set');
SELECT is(parley_mark_received('alice@x', 'm1', 'bob@x'), 0,
          'a repeated receipt changes nothing');

-- never backwards
SELECT is(parley_mark_delivered((SELECT id FROM m1), 'bob@x'), 0,
          'mark_delivered on a received message changes nothing');
UPDATE deliveries SET state = 'stored' WHERE message_id = (SELECT id FROM m1);
UPDATE deliveries SET state = 'delivered' WHERE message_id = (SELECT id FROM m1);
SELECT is((SELECT state FROM deliveries WHERE message_id = (SELECT id FROM m1)), 'received',
          'a direct update backwards is ignored');

-- a receipt that overtakes the delivered mark implies delivery
SELECT is(parley_mark_received('alice@x', 'm2', 'bob@x'), 1,
          'a receipt for a message still stored is taken');
SELECT ok((SELECT delivered_at IS NOT NULL AND received_at IS NOT NULL FROM deliveries
           WHERE message_id = (SELECT id FROM m2)),
          'received from stored sets delivered_at too');

-- displayed is the last state
UPDATE deliveries SET state = 'displayed' WHERE message_id = (SELECT id FROM m2);
SELECT ok((SELECT state = 'displayed' AND displayed_at IS NOT NULL FROM deliveries
           WHERE message_id = (SELECT id FROM m2)), 'displayed sets displayed_at');
SELECT is(parley_mark_received('alice@x', 'm2', 'bob@x'), 0,
          'a late receipt does not undo displayed');

-- the partial index sees only stored rows
SELECT is((SELECT count(*) FROM deliveries WHERE recipient = 'bob@x' AND state = 'stored')::int,
          0, 'nothing is left stored for bob');

-- a row inserted past 'stored' is stamped too
INSERT INTO deliveries (message_id, recipient, state)
    VALUES ((SELECT id FROM m1), 'carol@x', 'received');
SELECT ok((SELECT delivered_at IS NOT NULL AND received_at IS NOT NULL FROM deliveries
           WHERE message_id = (SELECT id FROM m1) AND recipient = 'carol@x'),
          'an insert in a later state sets the timestamps');

SELECT * FROM finish();
ROLLBACK;
