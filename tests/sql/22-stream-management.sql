-- XEP-0198 acknowledgements (migrations/0007): parley_mark_acked marks
-- what the client acknowledged `delivered` and settles it at once, so
-- neither an unclean session end nor a node restart (after a crash) puts
-- it back; what was not acknowledged was never moved and stays `stored`.
BEGIN;
SELECT plan(13);

SELECT has_function('parley_mark_acked', ARRAY['bigint[]', 'text[]', 'text[]']);

CREATE TEMP TABLE m AS
    SELECT s.id, n FROM generate_series(1, 3) AS n,
        LATERAL parley_store_message('smsender@x', 'smbob@x', 'sm-' || n, 'hi', '<message/>') s;

CREATE FUNCTION pg_temp.state(p_n int) RETURNS text LANGUAGE sql AS $$
    SELECT d.state::text FROM deliveries d JOIN m ON m.id = d.message_id
    WHERE m.n = p_n AND d.recipient = 'smbob@x'
$$;
CREATE FUNCTION pg_temp.unsettled(p_n int) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM deliveries_unsettled u JOIN m ON m.id = u.message_id
                   WHERE m.n = p_n AND u.recipient = 'smbob@x')
$$;

SELECT is(parley_mark_acked((SELECT array_agg(id ORDER BY n) FROM m WHERE n <= 2),
                            ARRAY['smbob@x', 'smbob@x'], ARRAY['smnode/1/7', 'smnode/1/7']),
          2, 'two acknowledged, two settled');
SELECT is(pg_temp.state(1), 'delivered', 'an acknowledged message is delivered');
SELECT is((SELECT d.delivered_via FROM deliveries d JOIN m ON m.id = d.message_id WHERE m.n = 1),
          'smnode/1/7', 'with the session that acknowledged it');
SELECT ok(NOT pg_temp.unsettled(1) AND NOT pg_temp.unsettled(2), 'and settled at once');
SELECT is(pg_temp.state(3), 'stored', 'the one not acknowledged stays stored');
SELECT ok(pg_temp.unsettled(3), 'and waits in the offline queue');

SELECT is(parley_session_end('smnode/1/7', 'smbob@x', false), 0,
          'an unclean end of the session requeues nothing it acknowledged');
SELECT is(parley_node_restart('smnode'), 0, 'nor does a restart of its node');
SELECT is(pg_temp.state(2), 'delivered', 'still delivered');

SELECT is(parley_mark_acked((SELECT array_agg(id) FROM m WHERE n = 1), ARRAY['smbob@x'],
                            ARRAY['smnode/1/8']), 0, 'acknowledging again changes nothing');
SELECT is(parley_mark_received('smsender@x', 'sm-1', 'smbob@x'), 1, 'a receipt moves it on');
SELECT is((SELECT parley_mark_acked((SELECT array_agg(id) FROM m WHERE n = 1), ARRAY['smbob@x'],
                                    ARRAY['smnode/1/9'])) + 0 || pg_temp.state(1),
          '0received', 'an ack never moves a received message back');

SELECT * FROM finish();
ROLLBACK;
