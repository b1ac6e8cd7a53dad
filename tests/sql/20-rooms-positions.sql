-- Per-member positions instead of a row per message: joining (a first-time
-- member starts at the room's last message with the last 20 as history; a
-- returning one gets what came after their position), positions moving
-- forward only and as HOT updates, displayed positions of the room's own
-- messages only, and unread counts.
BEGIN;
SELECT plan(18);

SELECT parley_room_create('p1@c', 'p1', 'alice');
CREATE TEMP TABLE r AS SELECT id FROM rooms WHERE jid = 'p1@c';
CREATE TEMP TABLE m AS
    SELECT s.id, n FROM generate_series(1, 30) AS n,
        LATERAL parley_room_store_message('alice@x', 'p1@c', 'p-' || n, 'm' || n, '<message/>') s;

SELECT is((SELECT count(*) FROM parley_room_join((SELECT id FROM r), 'bob', true, 1000, 20, NULL, NULL))::int,
          20, 'a first-time member gets the last 20');
SELECT results_eq(
    $$SELECT affiliation FROM room_affiliations WHERE room_id = (SELECT id FROM r) AND username = 'bob'$$,
    $$VALUES ('member'::text)$$, 'joining an open room makes a member');
SELECT results_eq(
    $$SELECT delivered_id, displayed_id FROM room_positions WHERE username = 'bob'$$,
    $$SELECT max(id), max(id) FROM m$$,
    'and their positions start at the last message');
SELECT is(parley_room_unread((SELECT id FROM r), 'bob'), 0::bigint, 'nothing unread yet');
SELECT is((SELECT count(*) FROM parley_room_join((SELECT id FROM r), 'bob', false, 1000, 20, NULL, NULL))::int,
          0, 'a returning member with nothing new gets nothing');

-- ten more while bob is away; he had five of them written before leaving
CREATE TEMP TABLE later AS
    SELECT s.id, n FROM generate_series(31, 40) AS n,
        LATERAL parley_room_store_message('alice@x', 'p1@c', 'p-' || n, 'm' || n, '<message/>') s;
SELECT is(parley_room_positions_advance(ARRAY[(SELECT id FROM r)], ARRAY['bob'],
          ARRAY[(SELECT id FROM later WHERE n = 35)], ARRAY[0::bigint]), 1, 'a position moves');
SELECT is(parley_room_positions_advance(ARRAY[(SELECT id FROM r)], ARRAY['bob'],
          ARRAY[(SELECT id FROM m WHERE n = 3)], ARRAY[0::bigint]), 0, 'never backward');
SELECT results_eq(
    $$SELECT id FROM parley_room_join((SELECT id FROM r), 'bob', false, 1000, 20, NULL, NULL)$$,
    $$SELECT id FROM later WHERE n > 35 ORDER BY id$$,
    'a returning member gets exactly what came after the position, oldest first');
SELECT results_eq(
    $$SELECT id FROM parley_room_join((SELECT id FROM r), 'bob', false, 2, 20, NULL, NULL)$$,
    $$SELECT id FROM later WHERE n > 38 ORDER BY id$$,
    'within a limit, the most recent ones');
SELECT is((SELECT count(*) FROM parley_room_join((SELECT id FROM r), 'bob', false, 1000, 20,
           now() + interval '1 hour', NULL))::int, 0, 'none older than since');
SELECT is((SELECT count(*) FROM parley_room_join((SELECT id FROM r), 'bob', false, 1000, 20, NULL,
           (SELECT id FROM later WHERE n = 39)))::int, 1, 'or after an explicit id');

-- the same member twice in one batch, and someone who never joined
SELECT is(parley_room_positions_advance(ARRAY[(SELECT id FROM r), (SELECT id FROM r), (SELECT id FROM r)],
          ARRAY['bob', 'bob', 'nobody'],
          ARRAY[(SELECT id FROM later WHERE n = 36), (SELECT id FROM later WHERE n = 37), 1::bigint],
          ARRAY[0::bigint, 0, 0]), 1, 'one row per member, the highest wins; no row for a stranger');

-- displayed: unread counts follow it; an id from elsewhere does not count
SELECT is(parley_room_unread((SELECT id FROM r), 'bob'), 10::bigint, 'ten unread');
SELECT parley_room_positions_advance(ARRAY[(SELECT id FROM r)], ARRAY['bob'], ARRAY[0::bigint],
                                     ARRAY[(SELECT id FROM later WHERE n = 34)]);
SELECT is(parley_room_unread((SELECT id FROM r), 'bob'), 6::bigint, 'six after the displayed one');
SELECT parley_store_message('alice@x', 'bob@x', NULL, 'direct', '<message/>');
SELECT parley_room_positions_advance(ARRAY[(SELECT id FROM r)], ARRAY['bob'], ARRAY[0::bigint],
                                     ARRAY[(SELECT max(id) FROM messages)]);
SELECT is(parley_room_unread((SELECT id FROM r), 'bob'), 6::bigint,
          'a displayed id that is not this room''s message changes nothing');
SELECT is((SELECT unread FROM room_unread WHERE username = 'bob' AND room_id = (SELECT id FROM r)),
          6::bigint, 'the view the admin API reads says the same');

SELECT cmp_ok((SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'room_positions'),
              '>=', 3::bigint, 'positions were updated (three times at least)');
SELECT is((SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'room_positions'),
          (SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'room_positions'),
          'every position update is HOT');

SELECT * FROM finish();
ROLLBACK;
