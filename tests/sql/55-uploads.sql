-- 0010_uploads: XEP-0363 slots within a quota (open slots counting), a PUT
-- claimed once and only for the slot's name, size and type, expiry, a
-- failed PUT freeing the slot, a room message linking an upload to its
-- room, the admin list's total and the audited delete.
BEGIN;
SELECT plan(24);

SELECT has_table('uploads');
SELECT has_function('parley_upload_slot');

SELECT is((SELECT id > 0 FROM parley_upload_slot('ann', 'a.png', 600, 'image/png',
                                                   repeat('a', 32), 300, 1000)),
          true, 'a slot within the quota');
SELECT is((SELECT ROW(id, used)::text FROM parley_upload_slot('ann', 'b.png', 500, 'image/png',
                                                              repeat('b', 32), 300, 1000)),
          ROW(0, 600)::text, 'over the quota: no slot, and what is used');
SELECT is((SELECT count(*)::int FROM uploads WHERE owner = 'ann'), 1, 'nothing written for it');
SELECT throws_ok($$SELECT * FROM parley_upload_slot('ann', 'x', 1, 't/t', '../etc', 300, 1000)$$,
                 '23514', NULL, 'a path key that is not 32 hex digits is refused by the table');
SELECT throws_ok($$SELECT * FROM parley_upload_slot('ann', 'a/b', 1, 't/t', repeat('c', 32), 300, 1000)$$,
                 '23514', NULL, 'a name with a slash is refused by the table');

SELECT is(parley_upload_check(repeat('a', 32), 'a.png', 601, 'image/png'), 'size', 'another size');
SELECT is(parley_upload_check(repeat('a', 32), 'a.png', 600, 'text/html'), 'type', 'another type');
SELECT is(parley_upload_check(repeat('a', 32), 'z.png', 600, 'image/png'), 'none', 'another name');
SELECT is(parley_upload_check(repeat('f', 32), 'a.png', 600, 'image/png'), 'none', 'no such slot');
SELECT is(parley_upload_put_begin(repeat('a', 32), 'a.png', 600, 'Image/PNG'), 'ok',
          'the PUT claims the slot (types compare case-insensitively)');
SELECT is(parley_upload_put_begin(repeat('a', 32), 'a.png', 600, 'image/png'), 'used',
          'a second PUT');
SELECT ok(parley_upload_put_end(repeat('a', 32), false), 'a failed PUT');
SELECT is(parley_upload_put_begin(repeat('a', 32), 'a.png', 600, 'image/png'), 'ok',
          'frees the slot for another try');
SELECT ok(parley_upload_put_end(repeat('a', 32), true), 'stored');
SELECT is((SELECT ROW(size, content_type)::text FROM parley_upload_get(repeat('a', 32), 'a.png')),
          ROW(600, 'image/png')::text, 'a stored file is found by key and name');

UPDATE uploads SET expires_at = now() - interval '1 second' WHERE path_key = repeat('a', 32);
INSERT INTO uploads (owner, name, size, content_type, path_key, expires_at)
VALUES ('ann', 'late.txt', 5, 'text/plain', repeat('d', 32), now() - interval '1 second');
SELECT is(parley_upload_put_begin(repeat('d', 32), 'late.txt', 5, 'text/plain'), 'expired',
          'an expired slot');

-- a room message with the link, from the owner
CREATE TEMP TABLE posted AS SELECT * FROM parley_room_store_message('ann@localhost', 'r@conference.localhost', NULL,
                                 'look: http://h/upload/' || repeat('a', 32) || '/a.png', '<message/>');
SELECT is((SELECT room FROM uploads WHERE path_key = repeat('a', 32)), 'r@conference.localhost',
          'the upload is filed under the room its link was posted to');

CREATE TEMP TABLE deleted AS
    SELECT parley_admin_upload_delete('root', id) AS k FROM uploads WHERE path_key = repeat('a', 32);
SELECT is((SELECT k FROM deleted), repeat('a', 32), 'a delete answers the key of the file to remove');
SELECT is((SELECT count(*)::int FROM admin_audit WHERE action = 'upload.delete' AND target = 'ann'
           AND details->>'name' = 'a.png'), 1, 'and writes its audit row');

-- a PUT that never ended (the server stopped under it) stops counting
INSERT INTO uploads (owner, name, size, content_type, path_key, expires_at, put_at)
VALUES ('bea', 'cut.bin', 900, 'application/octet-stream', repeat('e', 32),
        now() - interval '2 days', now() - interval '2 days');
SELECT is(parley_upload_used('bea'), 0::bigint, 'a PUT cut off a day ago does not count');
SELECT is((SELECT id > 0 FROM parley_upload_slot('bea', 'new.bin', 1000, 'application/octet-stream',
                                                   repeat('9', 32), 300, 1000)),
          true, 'the whole quota is there again');
SELECT is((SELECT count(*)::int FROM uploads WHERE path_key = repeat('e', 32)), 0,
          'and the dead slot is gone');

SELECT * FROM finish();
ROLLBACK;
