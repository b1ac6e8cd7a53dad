-- 0006: the admin API's room changes. Each writes its audit row in the
-- change's transaction, as 0005's functions do.
--
-- Run by the migrator in one transaction with its schema_migrations row.
-- Append-only: once landed, change the schema in a new file.

-- Creates a room group-{uuid}@p_muc_domain with p_members (a JSON array of
-- usernames) as members, and answers it as the API shows a new room. A
-- room is loaded from this table when someone first joins it, so no node
-- needs telling.
CREATE FUNCTION parley_admin_room_create(p_actor text, p_muc_domain text, p_name text,
                                         p_description text, p_members_only boolean,
                                         p_members json)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_localpart text := 'group-' || v_id::text;
    v_jid text := v_localpart || '@' || p_muc_domain;
BEGIN
    INSERT INTO rooms (id, jid, localpart, name, description, members_only)
    VALUES (v_id, v_jid, v_localpart, p_name, p_description, coalesce(p_members_only, false));
    INSERT INTO room_affiliations (room_id, username, affiliation)
    SELECT DISTINCT v_id, m, 'member'
    FROM json_array_elements_text(coalesce(p_members, '[]'::json)) AS m;
    PERFORM parley_admin_audit(p_actor, 'room.create', v_jid,
        jsonb_build_object('id', v_id, 'name', p_name, 'description', p_description,
                           'members_only', coalesce(p_members_only, false),
                           'members', coalesce(p_members, '[]'::json)::jsonb));
    RETURN json_build_object('id', v_id, 'jid', v_jid, 'name', p_name,
        'description', p_description, 'members_only', coalesce(p_members_only, false),
        'members', coalesce((SELECT json_agg(a.username ORDER BY a.username)
                             FROM room_affiliations a WHERE a.room_id = v_id), '[]'::json));
END
$$;

-- Changes what is not NULL of name, description, members_only and public
-- (p_clear_name / p_clear_description set those to NULL); NULL if there is
-- no such room. A room a node has loaded keeps its old configuration until
-- it is loaded again: no node is told (the loop has no room notification).
CREATE FUNCTION parley_admin_room_update(p_actor text, p_id uuid,
                                         p_set_name boolean, p_name text,
                                         p_set_description boolean, p_description text,
                                         p_members_only boolean, p_public boolean)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_jid text;
BEGIN
    UPDATE rooms SET
        name = CASE WHEN p_set_name THEN p_name ELSE name END,
        description = CASE WHEN p_set_description THEN p_description ELSE description END,
        members_only = coalesce(p_members_only, members_only),
        public = coalesce(p_public, public)
    WHERE id = p_id
    RETURNING jid INTO v_jid;
    IF v_jid IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM parley_admin_audit(p_actor, 'room.update', v_jid,
        jsonb_strip_nulls(jsonb_build_object(
            'name', CASE WHEN p_set_name THEN to_jsonb(coalesce(p_name, '')) END,
            'description', CASE WHEN p_set_description
                                THEN to_jsonb(coalesce(p_description, '')) END,
            'members_only', p_members_only, 'public', p_public)));
    RETURN json_build_object('id', p_id, 'jid', v_jid);
END
$$;

-- Deletes a room, its affiliations and positions (its archive rows stay,
-- attributed to its JID); false if there is no such room.
CREATE FUNCTION parley_admin_room_delete(p_actor text, p_id uuid)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    v_jid text;
BEGIN
    DELETE FROM rooms WHERE id = p_id RETURNING jid INTO v_jid;
    IF v_jid IS NULL THEN
        RETURN false;
    END IF;
    PERFORM parley_admin_audit(p_actor, 'room.delete', v_jid, jsonb_build_object('id', p_id));
    RETURN true;
END
$$;

-- Sets p_username's affiliation with the room (owner, admin, member,
-- outcast); the member as the API shows one, NULL if there is no such
-- room. Like room updates, a node that has the room loaded is not told.
CREATE FUNCTION parley_admin_room_member_set(p_actor text, p_id uuid, p_username text,
                                             p_affiliation text)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_jid text;
    v_old text;
    v_row room_affiliations;
BEGIN
    SELECT jid INTO v_jid FROM rooms WHERE id = p_id FOR UPDATE;
    IF v_jid IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT affiliation INTO v_old FROM room_affiliations
    WHERE room_id = p_id AND username = p_username;
    INSERT INTO room_affiliations AS a (room_id, username, affiliation)
    VALUES (p_id, p_username, p_affiliation)
    ON CONFLICT (room_id, username) DO UPDATE
        SET affiliation = EXCLUDED.affiliation, updated_at = now()
    RETURNING * INTO v_row;
    PERFORM parley_admin_audit(p_actor, 'room.member.set', v_jid,
        jsonb_build_object('username', p_username, 'affiliation', p_affiliation,
                           'previous', v_old));
    RETURN json_build_object('username', v_row.username, 'affiliation', v_row.affiliation,
                             'reason', v_row.reason, 'updated_at', v_row.updated_at);
END
$$;

-- Removes p_username's affiliation; 0 if it was removed, 1 if the room has
-- no such member, 2 if there is no such room.
CREATE FUNCTION parley_admin_room_member_remove(p_actor text, p_id uuid, p_username text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    v_jid text;
    v_old text;
BEGIN
    SELECT jid INTO v_jid FROM rooms WHERE id = p_id FOR UPDATE;
    IF v_jid IS NULL THEN
        RETURN 2;
    END IF;
    DELETE FROM room_affiliations WHERE room_id = p_id AND username = p_username
    RETURNING affiliation INTO v_old;
    IF v_old IS NULL THEN
        RETURN 1;
    END IF;
    PERFORM parley_admin_audit(p_actor, 'room.member.remove', v_jid,
        jsonb_build_object('username', p_username, 'previous', v_old));
    RETURN 0;
END
$$;

-- Sends a message to room p_room from p_from (a user's bare JID, with
-- p_username; or the server's domain, p_username NULL), stored by the room
-- path's function. NULL: no such room; 'not-member': p_username is not an
-- owner, admin or member. Otherwise the message as the API shows it. No
-- node is told: a loaded room's occupants do not get it live.
CREATE FUNCTION parley_admin_room_send(p_actor text, p_from text, p_username text,
                                       p_room uuid, p_body text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_jid text;
    v_stanza_id text := 'api-' || gen_random_uuid()::text;
    v_stanza text;
    v_id bigint;
BEGIN
    SELECT jid INTO v_jid FROM rooms WHERE id = p_room;
    IF v_jid IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_username IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM room_affiliations
        WHERE room_id = p_room AND username = p_username
          AND affiliation IN ('owner', 'admin', 'member')) THEN
        RETURN 'not-member';
    END IF;
    v_stanza := xmlelement(name message,
                    xmlattributes(v_jid || CASE WHEN p_username IS NULL THEN ''
                                              ELSE '/' || p_username END AS "from",
                                  'groupchat' AS "type", v_stanza_id AS "id"),
                    xmlelement(name body, p_body))::text;
    SELECT s.id INTO v_id
    FROM parley_room_store_message(p_from, v_jid, v_stanza_id, p_body, v_stanza) s;
    PERFORM parley_admin_audit(p_actor, 'message.send', v_jid,
        jsonb_build_object('id', v_id, 'from', p_from, 'room', p_room));
    RETURN parley_admin_message_json(v_id)::text;
END
$$;
