-- 0009's edits: a correction keeps the text it replaced as a revision and
-- rewrites the stored stanza's body (escaped); a retraction leaves a
-- tombstone (who, when) in place of the body and its revisions' texts; a
-- moderation writes its audit row; reactions keep each user's latest set;
-- a reply's reference is resolved in its conversation only; refusals store
-- nothing; a retry applies nothing twice.
BEGIN;
SELECT plan(32);

SELECT has_table('message_revisions');
SELECT has_table('message_tombstones');
SELECT has_table('message_reactions');
SELECT has_table('message_replies');
SELECT has_function('parley_store_edit');

CREATE TEMP TABLE orig AS
SELECT * FROM parley_store_message('e1@x', 'e2@x', 'o1', 'helo',
    '<message xmlns=''jabber:client'' from=''e1@x/r'' to=''e2@x'' id=''o1'' type=''chat''><body>helo</body></message>');
CREATE TEMP TABLE other AS
SELECT * FROM parley_store_message('e1@x', 'e3@x', 'o2', 'to e3',
    '<message xmlns=''jabber:client'' from=''e1@x/r'' to=''e3@x'' id=''o2'' type=''chat''><body>to e3</body></message>');

-- corrections
CREATE TEMP TABLE c1 AS
SELECT * FROM parley_store_edit(false, 'e1@x', 'e2@x', 'c1', 'a < b & \1',
    '<message xmlns=''jabber:client'' id=''c1''><body>a &lt; b &amp; \1</body></message>',
    'correct', 'o1', NULL, NULL, NULL, NULL, NULL);
SELECT ok((SELECT inserted AND error IS NULL FROM c1), 'a correction is stored');
SELECT is((SELECT body FROM messages WHERE id = (SELECT id FROM orig)), 'a < b & \1',
          'the original holds the corrected text');
SELECT is((SELECT stanza FROM messages WHERE id = (SELECT id FROM orig)),
          '<message xmlns=''jabber:client'' from=''e1@x/r'' to=''e2@x'' id=''o1'' type=''chat''><body>a &lt; b &amp; \1</body></message>',
          'its stanza too, escaped as the server writes it');
SELECT results_eq(
    $$SELECT revision, body, correction_id FROM message_revisions WHERE message_id = (SELECT id FROM orig)$$,
    $$SELECT 1, 'helo'::text, id FROM c1$$,
    'revision 1 is the original text, replaced by the correction');
SELECT results_eq(
    $$SELECT kind, target_id FROM message_edit_links WHERE message_id = (SELECT id FROM c1)$$,
    $$SELECT 'correct'::text, id FROM orig$$,
    'the correction is linked to its original');
SELECT results_eq(
    $$SELECT inserted FROM parley_store_edit(false, 'e1@x', 'e2@x', 'c1', 'a < b & \1',
        '<message xmlns=''jabber:client'' id=''c1''><body>a &lt; b &amp; \1</body></message>',
        'correct', 'o1', NULL, NULL, NULL, NULL, NULL)$$,
    $$VALUES (false)$$,
    'a retry is the correction already stored');
SELECT is((SELECT count(*) FROM message_revisions WHERE message_id = (SELECT id FROM orig))::int, 1,
          'and applies nothing twice');

-- refusals store nothing
SELECT results_eq(
    $$SELECT id, error FROM parley_store_edit(false, 'e2@x', 'e1@x', 'c2', 'x', '<message/>',
        'correct', 'o1', NULL, NULL, NULL, NULL, NULL)$$,
    $$VALUES (0::bigint, 'forbidden'::text)$$,
    'correcting someone else''s message is forbidden');
SELECT results_eq(
    $$SELECT error FROM parley_store_edit(false, 'e1@x', 'e2@x', 'c3', 'x', '<message/>',
        'correct', 'o2', NULL, NULL, NULL, NULL, NULL)$$,
    $$VALUES ('item-not-found'::text)$$,
    'a message of another conversation is not found');
SELECT results_eq(
    $$SELECT error FROM parley_store_edit(false, 'e1@x', 'e2@x', 'c4', 'x', '<message/>',
        'retract', 'nope', NULL, NULL, NULL, NULL, NULL)$$,
    $$VALUES ('item-not-found'::text)$$,
    'an unknown id is not found');
SELECT results_eq(
    $$SELECT error FROM parley_store_edit(false, 'e2@x', 'e1@x', 'x0', NULL, '<message/>',
        'react', 'nope', '{"x"}', NULL, NULL, NULL, NULL)$$,
    $$VALUES ('item-not-found'::text)$$,
    'a reaction to an unknown message is not found');
SELECT is((SELECT count(*) FROM messages WHERE stanza_id IN ('c2', 'c3', 'c4', 'x0'))::int, 0,
          'refused edits stored nothing');

-- what a ref names: a stanza id or an archive id, never a cast error
SELECT is((SELECT count(*) FROM parley_message_ref(true, 'e1@x', 'er@c', 'not-a-number'))::int, 0,
          'a ref that is no number and no stanza id names nothing');
SELECT is((SELECT id FROM parley_message_ref(false, 'e2@x', 'e1@x', (SELECT id::text FROM orig))),
          (SELECT id FROM orig), 'an archive id of the conversation names its message');

-- reactions: the latest set per user
SELECT ok((SELECT error IS NULL FROM parley_store_edit(false, 'e2@x', 'e1@x', 'x1', NULL,
    '<message/>', 'react', 'o1', '{"👍","🎉"}', NULL, NULL, NULL, NULL)), 'a reaction by the recipient');
SELECT ok((SELECT error IS NULL FROM parley_store_edit(false, 'e2@x', 'e1@x', 'x2', NULL,
    '<message/>', 'react', (SELECT id::text FROM orig), '{"❤"}', NULL, NULL, NULL, NULL)),
    'a reaction by archive id');
SELECT results_eq(
    $$SELECT reactor, reactions FROM message_reactions WHERE message_id = (SELECT id FROM orig)$$,
    $$VALUES ('e2@x'::text, '{"❤"}'::text[])$$,
    'the latest set wins');
SELECT ok((SELECT error IS NULL FROM parley_store_edit(false, 'e2@x', 'e1@x', 'x3', NULL,
    '<message/>', 'react', 'o1', '{}', NULL, NULL, NULL, NULL)), 'an empty set');
SELECT is((SELECT count(*) FROM message_reactions WHERE message_id = (SELECT id FROM orig))::int, 0,
          'removes the user''s reactions');

-- replies
CREATE TEMP TABLE r1 AS
SELECT * FROM parley_store_edit(false, 'e2@x', 'e1@x', 'p1', 'yes', '<message/>',
    NULL, NULL, NULL, NULL, NULL, 'o1', 'e1@x/r');
SELECT results_eq(
    $$SELECT reply_to_id, reply_to_ref, reply_to_jid FROM message_replies WHERE message_id = (SELECT id FROM r1)$$,
    $$SELECT id, 'o1'::text, 'e1@x/r'::text FROM orig$$,
    'a reply is resolved to the message it names');
CREATE TEMP TABLE r2 AS
SELECT * FROM parley_store_edit(false, 'e2@x', 'e1@x', 'p2', 'hm', '<message/>',
    NULL, NULL, NULL, NULL, NULL, 'o2', NULL);
SELECT is((SELECT reply_to_id FROM message_replies WHERE message_id = (SELECT id FROM r2)), NULL,
          'not to a message of another conversation');

-- retraction: the tombstone
CREATE TEMP TABLE t1 AS
SELECT * FROM parley_store_edit(false, 'e1@x', 'e2@x', 't1', NULL, '<message/>',
    'retract', 'o1', NULL, NULL, NULL, NULL, NULL);
SELECT results_eq(
    $$SELECT retracted_by, moderated, retraction_id FROM message_tombstones WHERE message_id = (SELECT id FROM orig)$$,
    $$SELECT 'e1@x'::text, false, id FROM t1$$,
    'a tombstone: who, and the retraction');
SELECT ok((SELECT body IS NULL AND stanza ~ '^<message xmlns=''jabber:client'' from=''e1@x/r'' to=''e2@x'' id=''o1'' type=''chat''><retracted xmlns=''urn:xmpp:message-retract:1'' stamp=''\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z''/></message>$'
           FROM messages WHERE id = (SELECT id FROM orig)),
          'the body is gone and the stanza is the tombstone');
SELECT is((SELECT count(*) FROM message_revisions WHERE message_id = (SELECT id FROM orig) AND body IS NOT NULL)::int,
          0, 'the revisions keep no text of it');
SELECT results_eq(
    $$SELECT error FROM parley_store_edit(false, 'e1@x', 'e2@x', 'c5', 'again', '<message/>',
        'correct', 'o1', NULL, NULL, NULL, NULL, NULL)$$,
    $$VALUES ('item-not-found'::text)$$,
    'a retracted message cannot be corrected');

-- moderation in a room, with its audit row
CREATE TEMP TABLE rm AS
SELECT * FROM parley_room_store_message('e3@x', 'er@c', 'g1', 'spam',
    '<message xmlns=''jabber:client'' from=''er@c/e3'' type=''groupchat'' id=''g1''><body>spam</body></message>');
CREATE TEMP TABLE mod AS
SELECT * FROM parley_store_edit(true, 'e1@x', 'er@c', NULL, NULL, '<message/>',
    'moderate', (SELECT id::text FROM rm), NULL, 'off topic', 'er@c/e1', NULL, NULL);
SELECT ok((SELECT stanza LIKE '%<moderated xmlns=''urn:xmpp:message-moderate:1'' by=''er@c/e1''/><reason>off topic</reason></retracted></message>'
           FROM messages WHERE id = (SELECT id FROM rm)), 'the tombstone says who moderated and why');
SELECT results_eq(
    $$SELECT actor, action, details->>'sender', details->>'reason' FROM admin_audit
      WHERE target = (SELECT id::text FROM rm)$$,
    $$VALUES ('e1@x'::text, 'room.message.moderate'::text, 'e3@x'::text, 'off topic'::text)$$,
    'the audit log records the moderation');

SELECT * FROM finish();
ROLLBACK;
