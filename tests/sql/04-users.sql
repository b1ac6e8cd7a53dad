-- Users: provisioned at login, the disabled flag, the state notification.
BEGIN;
SELECT plan(12);

SELECT has_function('parley_user_login', ARRAY['text']);
SELECT function_returns('parley_user_login', ARRAY['text'], 'boolean');

SELECT is(parley_user_login('dave'), false, 'the first login provisions an enabled user');
SELECT ok(EXISTS (SELECT 1 FROM users WHERE username = 'dave'), 'the user exists');
SELECT ok((SELECT last_login_at IS NOT NULL AND created_at IS NOT NULL FROM users
           WHERE username = 'dave'), 'the login time is recorded');
SELECT is(parley_user_login('dave'), false, 'a second login finds the same user');
SELECT is((SELECT count(*) FROM users WHERE username = 'dave')::int, 1,
          'a second login does not add a user');

UPDATE users SET disabled = true WHERE username = 'dave';
SELECT is(parley_user_login('dave'), true, 'a disabled user''s login reports disabled');
SELECT is((SELECT disabled FROM users WHERE username = 'dave'), true,
          'logging in does not enable a disabled user');

SELECT throws_ok($$SELECT parley_user_login('Dave')$$, '23514', NULL,
                 'a login with an upper-case name is refused');

SELECT has_trigger('users', 'users_notify_state');
SELECT trigger_is('users', 'users_notify_state', 'parley_users_notify_state');

SELECT * FROM finish();
ROLLBACK;
