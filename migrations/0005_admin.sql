-- 0005_admin: what the admin REST API (api/) needs: deleted users, the
-- audit log, the archive's search indexes, and the functions that make each
-- admin change, its audit row and its NOTIFY to the XMPP loops one
-- transaction.
--
-- Run by the migrator in one transaction with its schema_migrations row.
-- Append-only: once landed, change the schema in a new file.

-- ---------------------------------------------------------------------------
-- Deleted users. A deleted user's archive stays (attributed to the
-- username), so the row stays too, marked: it is disabled (every node
-- closes its sessions and refuses its tokens, through the existing
-- parley_user_state notification) and hidden from the API's lists.
-- parley_user_login still finds the row, and answers "disabled".
-- ---------------------------------------------------------------------------
ALTER TABLE users ADD COLUMN deleted_at timestamptz;

-- ---------------------------------------------------------------------------
-- The audit log: every admin action that changes something, written by the
-- function that makes the change, in its transaction.
-- ---------------------------------------------------------------------------
CREATE TABLE admin_audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor   text NOT NULL,                -- the admin token's `sub`
    action  text NOT NULL,                -- user.create, session.kick, message.send ...
    target  text NOT NULL,                -- what it acted on: a username, a JID, an id
    details jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- ---------------------------------------------------------------------------
-- The archive as the API reads it: a user's messages in either direction,
-- newest first, and full text over the bodies. The conversation and room
-- indexes of 0002 serve `user` + `peer` and `room`.
-- ---------------------------------------------------------------------------
CREATE INDEX messages_by_sender ON messages (sender, id);
-- A user's received direct messages: 0004's messages_direct_by_recipient.
-- 'simple': no stemming, so a search finds the words people typed in any
-- language; the API writes the same expression to use the index.
CREATE INDEX messages_body_fts
    ON messages USING gin (to_tsvector('simple', coalesce(body, '')));
-- Messages of the last hour and day (stats), and export by time range.
CREATE INDEX messages_created_at ON messages (created_at);

-- ---------------------------------------------------------------------------
-- Functions for the API. Each returns the JSON the API answers (or NULL
-- when the target does not exist), writes its audit row, and notifies the
-- loops of what they must act on: `parley_admin` carries "kick:USER" or
-- "kick:USER/RESOURCE" (a localpart cannot contain '/', RFC 7622) and
-- "message:ID" (ids, not payloads: NOTIFY payloads are capped near 8 KB).
-- NOTIFY is sent at commit, so a loop never acts on a change rolled back.
-- ---------------------------------------------------------------------------

CREATE FUNCTION parley_admin_audit(p_actor text, p_action text, p_target text,
                                   p_details jsonb DEFAULT '{}'::jsonb)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO admin_audit (actor, action, target, details)
    VALUES (p_actor, p_action, p_target, coalesce(p_details, '{}'::jsonb))
$$;

-- A user as the API shows it.
CREATE FUNCTION parley_admin_user_json(p_username text)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'username', u.username, 'display_name', u.display_name,
        'disabled', u.disabled, 'created_at', u.created_at,
        'last_login_at', u.last_login_at, 'last_seen_at', u.last_seen_at,
        'online', EXISTS (SELECT 1 FROM sessions s WHERE s.username = u.username))
    FROM users u
    WHERE u.username = p_username AND u.deleted_at IS NULL
$$;

-- Creates a user; NULL if one exists. A deleted user's name may be created
-- again: the row comes back enabled, with its archive.
CREATE FUNCTION parley_admin_user_create(p_actor text, p_username text,
                                         p_display_name text, p_disabled boolean)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_done boolean;
BEGIN
    INSERT INTO users AS u (username, display_name, disabled)
    VALUES (p_username, p_display_name, coalesce(p_disabled, false))
    ON CONFLICT (username) DO UPDATE
        SET display_name = EXCLUDED.display_name, disabled = EXCLUDED.disabled,
            deleted_at = NULL, created_at = now()
        WHERE u.deleted_at IS NOT NULL
    RETURNING true INTO v_done;
    IF v_done IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM parley_admin_audit(p_actor, 'user.create', p_username,
        jsonb_build_object('display_name', p_display_name,
                           'disabled', coalesce(p_disabled, false)));
    RETURN parley_admin_user_json(p_username);
END
$$;

-- Changes what p_set names ("display_name" and/or "disabled"); NULL if there
-- is no such user. Disabling notifies parley_user_state (0001's trigger):
-- every node closes the user's sessions and refuses their tokens.
CREATE FUNCTION parley_admin_user_update(p_actor text, p_username text,
                                         p_set_display_name boolean, p_display_name text,
                                         p_set_disabled boolean, p_disabled boolean)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_old users;
    v_details jsonb := '{}'::jsonb;
BEGIN
    SELECT * INTO v_old FROM users
    WHERE username = p_username AND deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE users
    SET display_name = CASE WHEN p_set_display_name THEN p_display_name
                            ELSE display_name END,
        disabled = CASE WHEN p_set_disabled THEN p_disabled ELSE disabled END
    WHERE username = p_username;
    IF p_set_display_name THEN
        v_details := v_details || jsonb_build_object('display_name', p_display_name);
    END IF;
    IF p_set_disabled THEN
        v_details := v_details || jsonb_build_object('disabled', p_disabled);
    END IF;
    PERFORM parley_admin_audit(p_actor, 'user.update', p_username, v_details);
    IF p_set_disabled AND p_disabled AND NOT v_old.disabled THEN
        PERFORM parley_admin_audit(p_actor, 'user.disable', p_username);
    ELSIF p_set_disabled AND NOT p_disabled AND v_old.disabled THEN
        PERFORM parley_admin_audit(p_actor, 'user.enable', p_username);
    END IF;
    RETURN parley_admin_user_json(p_username);
END
$$;

-- Deletes a user: disabled (so sessions close and tokens are refused on
-- every node) and hidden; the archive stays. false if there was no user.
CREATE FUNCTION parley_admin_user_delete(p_actor text, p_username text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE users SET deleted_at = now(), disabled = true
    WHERE username = p_username AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM parley_admin_audit(p_actor, 'user.delete', p_username);
    RETURN true;
END
$$;

-- Asks every node to close a user's sessions (p_resource NULL) or one of
-- them. Answers how many sessions the sessions table has for it, -1 when
-- the user does not exist; nothing is written for 0 or -1.
CREATE FUNCTION parley_admin_kick(p_actor text, p_username text, p_resource text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE username = p_username
                   AND deleted_at IS NULL) THEN
        RETURN -1;
    END IF;
    SELECT count(*) INTO n FROM sessions
    WHERE username = p_username AND (p_resource IS NULL OR resource = p_resource);
    IF n = 0 THEN
        RETURN 0;
    END IF;
    PERFORM parley_admin_audit(p_actor, 'session.kick',
        CASE WHEN p_resource IS NULL THEN p_username
             ELSE p_username || '/' || p_resource END,
        jsonb_build_object('sessions', n));
    PERFORM pg_notify('parley_admin', 'kick:' || p_username ||
                      CASE WHEN p_resource IS NULL THEN '' ELSE '/' || p_resource END);
    RETURN n;
END
$$;

-- A message as the API shows it, with its delivery states.
CREATE FUNCTION parley_admin_message_json(p_id bigint)
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
            FROM deliveries d WHERE d.message_id = m.id), '[]'::json))
    FROM messages m
    WHERE m.id = p_id
$$;

-- Sends a direct message from p_from (a bare JID: a user's, or the server's
-- domain) to p_to, stored by the same function as the XMPP path
-- (parley_store_message), so it is delivered like any other: the loop that
-- has the recipient online is told at commit; otherwise it waits for their
-- next login. The stanza is built here with PostgreSQL's XML functions,
-- which escape the body and the addresses. Answers the message.
CREATE FUNCTION parley_admin_send(p_actor text, p_from text, p_to text, p_body text)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_stanza_id text := 'api-' || gen_random_uuid()::text;
    v_stanza text;
    v_id bigint;
BEGIN
    v_stanza := xmlelement(name message,
                    xmlattributes(p_from AS "from", p_to AS "to", 'chat' AS "type",
                                  v_stanza_id AS "id"),
                    xmlelement(name body, p_body))::text;
    SELECT s.id INTO v_id
    FROM parley_store_message(p_from, p_to, v_stanza_id, p_body, v_stanza) s;
    PERFORM parley_admin_audit(p_actor, 'message.send', p_to,
        jsonb_build_object('id', v_id, 'from', p_from));
    PERFORM pg_notify('parley_admin', 'message:' || v_id);
    RETURN parley_admin_message_json(v_id);
END
$$;
