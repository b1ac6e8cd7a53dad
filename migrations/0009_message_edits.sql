-- 0009: message edits in the archive: XEP-0308 corrections, XEP-0424
-- retractions and XEP-0425 moderation, XEP-0444 reactions, XEP-0461 replies.
--
-- Run by the migrator in one transaction with its schema_migrations row.
-- Append-only: once landed, change the schema in a new file.
--
-- An edit travels as a message: the correction, the retraction, the
-- reaction is stored by 0003's parley_store_message (direct) or 0004's
-- parley_room_store_message (rooms), so it is delivered live, offline and at
-- a room's catch-up like any message, and MAM returns it. In the same
-- transaction, parley_store_edit applies it to the message it names:
--
--   correction: the original's body and stored stanza become the new text;
--     the body it had is kept in message_revisions (revision 1 is the
--     original), so MAM and the offline queue give the corrected message;
--   retraction, moderation: the stored stanza becomes XEP-0424's tombstone
--     (the original's start tag and <retracted stamp/>), the body goes, and a
--     row of message_tombstones says who and when (and for a moderation the
--     reason, with an audit row); the revisions' bodies go too;
--   reaction: message_reactions holds each user's latest set;
--   reply: message_replies holds the reference, resolved to an archive id
--     when the message replied to is known, so the API can show threads.
--
-- A correction or a retraction of a message that does not exist in the
-- conversation, or that someone else sent, stores nothing and answers the
-- stanza error's condition; so does a reaction to an unknown message.

-- ---------------------------------------------------------------------------
-- 1. Tables
-- ---------------------------------------------------------------------------

-- The bodies a corrected message had, oldest first: revision 1 is the
-- original, each later one the text a correction replaced.
CREATE TABLE message_revisions (
    message_id    bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    revision      int NOT NULL,
    body          text,                 -- NULL once the message is retracted
    replaced_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- the correction that replaced this text
    correction_id bigint REFERENCES messages (id) ON DELETE SET NULL,
    PRIMARY KEY (message_id, revision),
    CONSTRAINT message_revisions_revision_valid CHECK (revision >= 1)
);

-- A retracted (or moderated) message: who took it back, when, and why.
CREATE TABLE message_tombstones (
    message_id    bigint PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    retracted_by  text NOT NULL,        -- bare JID: the sender, or the moderator
    retracted_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    moderated     boolean NOT NULL DEFAULT false,
    reason        text,
    retraction_id bigint REFERENCES messages (id) ON DELETE SET NULL
);

-- Each user's latest reactions to a message (XEP-0444: a new set replaces
-- the last one; an empty set removes the row).
CREATE TABLE message_reactions (
    message_id  bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reactor     text NOT NULL,          -- bare JID
    reactions   text[] NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    reaction_id bigint REFERENCES messages (id) ON DELETE SET NULL,
    PRIMARY KEY (message_id, reactor),
    CONSTRAINT message_reactions_not_empty CHECK (cardinality(reactions) > 0)
);

-- A reply's reference (XEP-0461): the id it gave, the JID it named, and the
-- archive id of the message replied to when it is in the same conversation.
CREATE TABLE message_replies (
    message_id   bigint PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    reply_to_id  bigint REFERENCES messages (id) ON DELETE SET NULL,
    reply_to_ref text NOT NULL,
    reply_to_jid text
);

-- A thread: the replies to one message.
CREATE INDEX message_replies_thread ON message_replies (reply_to_id)
    WHERE reply_to_id IS NOT NULL;

-- What an edit message did to which message: the admin API shows a
-- correction as the correction of its original.
CREATE TABLE message_edit_links (
    message_id bigint PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    target_id  bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT message_edit_links_kind_valid
        CHECK (kind IN ('correct', 'retract', 'moderate', 'react'))
);

CREATE INDEX message_edit_links_by_target ON message_edit_links (target_id);

-- ---------------------------------------------------------------------------
-- 2. Helpers
-- ---------------------------------------------------------------------------

-- Text escaped as xmpp_node_serialize escapes it (server/xmpp/xmpp_node.c:
-- &, <, > and CR), so a stanza rewritten here reads like one the server
-- wrote, and the patterns below stay exact: no '<' in text, no '>' in an
-- attribute value.
CREATE FUNCTION parley_xml_text(p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(p_text, '&', '&amp;'), '<', '&lt;'),
                           '>', '&gt;'), E'\r', '&#13;')
$$;

-- The same for a single-quoted attribute value.
CREATE FUNCTION parley_xml_attr(p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(parley_xml_text(p_text), '''', '&apos;'),
                                   '"', '&quot;'), E'\n', '&#10;'), E'\t', '&#9;')
$$;

-- XEP-0082 UTC time with milliseconds, as chat_format_stamp writes it.
CREATE FUNCTION parley_xmpp_stamp(p_at timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A stored stanza with its first <body> (the one in the client namespace:
-- it carries no xmlns of its own) holding p_body instead.
CREATE FUNCTION parley_stanza_with_body(p_stanza text, p_body text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT regexp_replace(p_stanza, '<body( xml:lang=''[^'']*'')?(/>|>[^<]*</body>)',
                          '<body\1>' || replace(parley_xml_text(p_body), '\', '\\')
                          || '</body>')
$$;

-- XEP-0424's tombstone for a stored stanza: its start tag (from, to, id and
-- type stay) and <retracted/>, with XEP-0425's <moderated/> and reason.
CREATE FUNCTION parley_stanza_tombstone(p_stanza text, p_at timestamptz,
                                        p_moderated_by text, p_reason text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_start text := substring(p_stanza FROM '^<message[^>]*>');
BEGIN
    IF v_start IS NULL THEN
        RAISE EXCEPTION 'not a stored message: %', left(p_stanza, 40);
    END IF;
    IF right(v_start, 2) = '/>' THEN
        v_start := left(v_start, -2) || '>';
    END IF;
    RETURN v_start || '<retracted xmlns=''urn:xmpp:message-retract:1'' stamp='''
        || parley_xmpp_stamp(p_at) || ''''
        || CASE WHEN p_moderated_by IS NULL THEN '/>'
                ELSE '><moderated xmlns=''urn:xmpp:message-moderate:1'' by='''
                     || parley_xml_attr(p_moderated_by) || '''/>'
                     || coalesce('<reason>' || parley_xml_text(p_reason) || '</reason>', '')
                     || '</retracted>' END
        || '</message>';
END
$$;

-- The message an edit names, in its conversation only: a room's messages
-- (p_room), or the direct messages between p_sender and p_target either
-- way. p_ref is the client's stanza id (XEP-0308 and 1:1 retractions and
-- reactions use it), preferring p_sender's own message with it, or the
-- archive id the server gave as <stanza-id/> (rooms: XEP-0424, -0425,
-- -0444 and -0461 name that one). No row: nothing by that id here.
CREATE FUNCTION parley_message_ref(p_room boolean, p_sender text, p_target text,
                                   p_ref text)
RETURNS TABLE (id bigint, sender text)
LANGUAGE sql STABLE
AS $$
    SELECT x.id, x.sender FROM (
        -- direct, the sender's own: 0002's messages_stanza_head
        (SELECT m.id, m.sender, 1 AS rank FROM messages m
         WHERE NOT p_room AND m.stanza_id IS NOT NULL AND NOT m.superseded
           AND parley_stanza_key(m.sender, m.recipient, m.stanza_id)
               = parley_stanza_key(p_sender, p_target, p_ref)
           AND m.kind = 'chat' AND m.sender = p_sender AND m.recipient = p_target
           AND m.stanza_id = p_ref)
        UNION ALL
        (SELECT m.id, m.sender, 2 FROM messages m
         WHERE NOT p_room AND m.stanza_id IS NOT NULL AND NOT m.superseded
           AND parley_stanza_key(m.sender, m.recipient, m.stanza_id)
               = parley_stanza_key(p_target, p_sender, p_ref)
           AND m.kind = 'chat' AND m.sender = p_target AND m.recipient = p_sender
           AND m.stanza_id = p_ref)
        UNION ALL
        -- a room: 0004's messages_room_stanza_id
        (SELECT m.id, m.sender, CASE WHEN m.sender = p_sender THEN 1 ELSE 2 END
         FROM messages m
         WHERE p_room AND m.kind = 'groupchat' AND m.room = p_target
           AND m.stanza_id = p_ref
         ORDER BY (m.sender = p_sender) DESC, m.id DESC
         LIMIT 1)
        UNION ALL
        (SELECT m.id, m.sender, 3 FROM messages m
         -- CASE, so a ref that is not a number is never cast
         WHERE m.id = CASE WHEN p_ref ~ '^[0-9]{1,18}$' THEN p_ref::bigint END
           AND CASE WHEN p_room THEN m.kind = 'groupchat' AND m.room = p_target
                    ELSE m.kind = 'chat'
                         AND ((m.sender = p_sender AND m.recipient = p_target)
                              OR (m.sender = p_target AND m.recipient = p_sender)) END)
    ) x
    ORDER BY x.rank, x.id DESC
    LIMIT 1
$$;

-- ---------------------------------------------------------------------------
-- 3. The store's function (named statements in db/db_job_edit.c)
-- ---------------------------------------------------------------------------

-- Stores an edit message as 0003's (direct: p_target the recipient) or
-- 0004's (p_room: p_target the room) store would, and applies it to the
-- message p_ref names, in one transaction. p_kind is 'correct', 'retract',
-- 'moderate' (a room's moderator retracts anyone's message: the loop has
-- checked the role), 'react' (p_reactions the new set, possibly empty) or
-- NULL (a message that is only a reply). p_reply_ref and p_reply_to are an
-- XEP-0461 reference (NULL: none). `error` is a stanza error condition when
-- nothing was stored:
--   item-not-found  no such message in this conversation (or retracted)
--   forbidden       a correction or retraction of someone else's message
-- A retry of an edit already stored (inserted false) applies nothing again.
-- For rooms `pending` is true (the room's positions, not delivery rows,
-- say who has it).
CREATE FUNCTION parley_store_edit(p_room boolean, p_sender text, p_target text,
                                  p_stanza_id text, p_body text, p_stanza text,
                                  p_kind text, p_ref text, p_reactions text[],
                                  p_reason text, p_moderated_by text,
                                  p_reply_ref text, p_reply_to text)
RETURNS TABLE (id bigint, created_at timestamptz, inserted boolean, pending boolean,
               error text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_target bigint;
    v_target_sender text;
    v_id bigint;
    v_created_at timestamptz;
    v_inserted boolean;
    v_pending boolean;
    v_rev int;
    v_old record;
    v_reply_id bigint;
BEGIN
    IF p_kind IS NOT NULL THEN
        IF p_kind NOT IN ('correct', 'retract', 'moderate', 'react') THEN
            RAISE EXCEPTION 'unknown edit kind %', p_kind;
        END IF;
        SELECT r.id, r.sender INTO v_target, v_target_sender
        FROM parley_message_ref(p_room, p_sender, p_target, p_ref) r;
        IF v_target IS NULL
           OR (p_kind <> 'react'
               AND EXISTS (SELECT 1 FROM message_tombstones t
                           WHERE t.message_id = v_target)) THEN
            RETURN QUERY SELECT 0::bigint, clock_timestamp(), false, false,
                                'item-not-found'::text;
            RETURN;
        END IF;
        IF p_kind IN ('correct', 'retract') AND v_target_sender <> p_sender THEN
            RETURN QUERY SELECT 0::bigint, clock_timestamp(), false, false,
                                'forbidden'::text;
            RETURN;
        END IF;
    END IF;

    IF p_room THEN
        SELECT s.id, s.created_at, s.inserted, true
        INTO v_id, v_created_at, v_inserted, v_pending
        FROM parley_room_store_message(p_sender, p_target, p_stanza_id, p_body,
                                       p_stanza) s;
    ELSE
        SELECT s.id, s.created_at, s.inserted, s.pending
        INTO v_id, v_created_at, v_inserted, v_pending
        FROM parley_store_message(p_sender, p_target, p_stanza_id, p_body, p_stanza) s;
    END IF;
    IF v_id = 0 OR NOT v_inserted THEN
        -- blocked (nothing stored), or a retry: applied the first time
        RETURN QUERY SELECT v_id, v_created_at, v_inserted, v_pending, NULL::text;
        RETURN;
    END IF;

    IF p_kind IS NOT NULL THEN
        INSERT INTO message_edit_links (message_id, kind, target_id)
        VALUES (v_id, p_kind, v_target);
    END IF;
    IF p_kind = 'correct' THEN
        SELECT m.body, m.stanza INTO v_old FROM messages m WHERE m.id = v_target FOR UPDATE;
        SELECT coalesce(max(r.revision), 0) + 1 INTO v_rev
        FROM message_revisions r WHERE r.message_id = v_target;
        INSERT INTO message_revisions (message_id, revision, body, correction_id)
        VALUES (v_target, v_rev, v_old.body, v_id);
        UPDATE messages m
        SET body = p_body, stanza = parley_stanza_with_body(v_old.stanza, p_body)
        WHERE m.id = v_target;
    ELSIF p_kind IN ('retract', 'moderate') THEN
        INSERT INTO message_tombstones (message_id, retracted_by, retracted_at, moderated,
                                        reason, retraction_id)
        VALUES (v_target, p_sender, v_created_at, p_kind = 'moderate', p_reason, v_id);
        UPDATE messages m
        SET body = NULL,
            stanza = parley_stanza_tombstone(m.stanza, v_created_at,
                                             CASE WHEN p_kind = 'moderate'
                                                  THEN p_moderated_by END, p_reason)
        WHERE m.id = v_target;
        -- what was retracted is not kept in its history either
        UPDATE message_revisions r SET body = NULL WHERE r.message_id = v_target;
        IF p_kind = 'moderate' THEN
            PERFORM parley_admin_audit(p_sender, 'room.message.moderate', v_target::text,
                jsonb_build_object('room', p_target, 'message_id', v_target,
                                   'sender', v_target_sender, 'reason', p_reason,
                                   'retraction_id', v_id));
        END IF;
    ELSIF p_kind = 'react' THEN
        IF cardinality(p_reactions) > 0 THEN
            INSERT INTO message_reactions AS x (message_id, reactor, reactions, updated_at,
                                                reaction_id)
            VALUES (v_target, p_sender, p_reactions, v_created_at, v_id)
            ON CONFLICT (message_id, reactor) DO UPDATE
            SET reactions = excluded.reactions, updated_at = excluded.updated_at,
                reaction_id = excluded.reaction_id
            WHERE x.reaction_id IS NULL OR x.reaction_id < excluded.reaction_id;
        ELSE
            DELETE FROM message_reactions x
            WHERE x.message_id = v_target AND x.reactor = p_sender;
        END IF;
    END IF;

    IF p_reply_ref IS NOT NULL THEN
        SELECT r.id INTO v_reply_id
        FROM parley_message_ref(p_room, p_sender, p_target, p_reply_ref) r;
        INSERT INTO message_replies (message_id, reply_to_id, reply_to_ref, reply_to_jid)
        VALUES (v_id, v_reply_id, p_reply_ref, p_reply_to);
    END IF;
    RETURN QUERY SELECT v_id, v_created_at, v_inserted, v_pending, NULL::text;
END
$$;

-- ---------------------------------------------------------------------------
-- 4. The admin API's message view (0005's, with the edits)
-- ---------------------------------------------------------------------------

-- A message as the API shows it: 0005's fields and delivery states, and
-- what edits did: its revisions (the bodies it had before corrections),
-- its retraction or moderation, the latest reactions per user, the message
-- it replies to, and, for an edit message, what it edited.
CREATE OR REPLACE FUNCTION parley_admin_message_json(p_id bigint)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', m.id, 'kind', m.kind, 'from', m.sender, 'to', m.recipient,
        'room', m.room, 'body', m.body, 'stanza_id', m.stanza_id,
        'created_at', m.created_at,
        'deliveries', coalesce((SELECT json_agg(json_build_object(
                'recipient', d.recipient, 'state', d.state,
                'delivered_at', d.delivered_at, 'received_at', d.received_at,
                'displayed_at', d.displayed_at) ORDER BY d.recipient)
            FROM deliveries d WHERE d.message_id = m.id), '[]'::json),
        'revisions', coalesce((SELECT json_agg(json_build_object(
                'revision', r.revision, 'body', r.body, 'replaced_at', r.replaced_at,
                'correction_id', r.correction_id) ORDER BY r.revision)
            FROM message_revisions r WHERE r.message_id = m.id), '[]'::json),
        'retraction', (SELECT json_build_object(
                'by', t.retracted_by, 'at', t.retracted_at, 'moderated', t.moderated,
                'reason', t.reason, 'retraction_id', t.retraction_id)
            FROM message_tombstones t WHERE t.message_id = m.id),
        'reactions', coalesce((SELECT json_agg(json_build_object(
                'from', x.reactor, 'reactions', to_json(x.reactions),
                'updated_at', x.updated_at) ORDER BY x.reactor)
            FROM message_reactions x WHERE x.message_id = m.id), '[]'::json),
        'reply_to', (SELECT json_build_object(
                'id', p.reply_to_id, 'ref', p.reply_to_ref, 'jid', p.reply_to_jid)
            FROM message_replies p WHERE p.message_id = m.id),
        'replies', coalesce((SELECT json_agg(p.message_id ORDER BY p.message_id)
            FROM message_replies p WHERE p.reply_to_id = m.id), '[]'::json),
        'edit_of', (SELECT json_build_object('kind', l.kind, 'id', l.target_id)
            FROM message_edit_links l WHERE l.message_id = m.id))
    FROM messages m
    WHERE m.id = p_id
$$;
