-- 0008: the admin API's room changes reach the rooms the XMPP loops have in
-- memory. 0006's functions changed PostgreSQL only; here each is wrapped
-- (the original renamed, a function of the same name and signature calling
-- it) so that it also notifies the loops on `parley_admin`, in the
-- change's transaction: NOTIFY is delivered at commit, so a loop never acts
-- on a change that was rolled back, and never before it can read it.
--
--   room:JID          the room's configuration or affiliations changed, or
--                     it was deleted: a loop that has it loaded reads it
--                     again (db_listen.c, chat_room_events.c) and tells the
--                     occupants what differs (104, 321, 322, 301, or the
--                     destruction presence when it is gone)
--   room-message:ID   a message the API stored in a room: a loop that has
--                     the room loaded sends it to its occupants
--
-- Ids and JIDs, not payloads: NOTIFY payloads are capped near 8 KB.
--
-- Run by the migrator in one transaction with its schema_migrations row.
-- Append-only: once landed, change the schema in a new file.

ALTER FUNCTION parley_admin_room_update(text, uuid, boolean, text, boolean, text, boolean,
                                        boolean)
    RENAME TO parley_admin_room_update_0006;
ALTER FUNCTION parley_admin_room_delete(text, uuid)
    RENAME TO parley_admin_room_delete_0006;
ALTER FUNCTION parley_admin_room_member_set(text, uuid, text, text)
    RENAME TO parley_admin_room_member_set_0006;
ALTER FUNCTION parley_admin_room_member_remove(text, uuid, text)
    RENAME TO parley_admin_room_member_remove_0006;
ALTER FUNCTION parley_admin_room_send(text, text, text, uuid, text)
    RENAME TO parley_admin_room_send_0006;

-- What 0006's parley_admin_room_update does, then `room:JID`.
CREATE FUNCTION parley_admin_room_update(p_actor text, p_id uuid,
                                         p_set_name boolean, p_name text,
                                         p_set_description boolean, p_description text,
                                         p_members_only boolean, p_public boolean)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_out json;
BEGIN
    v_out := parley_admin_room_update_0006(p_actor, p_id, p_set_name, p_name,
                                           p_set_description, p_description,
                                           p_members_only, p_public);
    IF v_out IS NOT NULL THEN
        PERFORM pg_notify('parley_admin', 'room:' || (v_out->>'jid'));
    END IF;
    RETURN v_out;
END
$$;

-- What 0006's parley_admin_room_delete does, then `room:JID`: a loop that
-- reads the room again finds it gone and destroys it in memory.
CREATE FUNCTION parley_admin_room_delete(p_actor text, p_id uuid)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    v_jid text;
BEGIN
    SELECT jid INTO v_jid FROM rooms WHERE id = p_id;
    IF NOT parley_admin_room_delete_0006(p_actor, p_id) THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('parley_admin', 'room:' || v_jid);
    RETURN true;
END
$$;

CREATE FUNCTION parley_admin_room_member_set(p_actor text, p_id uuid, p_username text,
                                             p_affiliation text)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_out json;
BEGIN
    v_out := parley_admin_room_member_set_0006(p_actor, p_id, p_username, p_affiliation);
    IF v_out IS NOT NULL THEN
        PERFORM pg_notify('parley_admin', 'room:' || (SELECT jid FROM rooms WHERE id = p_id));
    END IF;
    RETURN v_out;
END
$$;

CREATE FUNCTION parley_admin_room_member_remove(p_actor text, p_id uuid, p_username text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    v_out int;
BEGIN
    v_out := parley_admin_room_member_remove_0006(p_actor, p_id, p_username);
    IF v_out = 0 THEN
        PERFORM pg_notify('parley_admin', 'room:' || (SELECT jid FROM rooms WHERE id = p_id));
    END IF;
    RETURN v_out;
END
$$;

-- What 0006's parley_admin_room_send does, then `room-message:ID`. The
-- message is stored once, by the room path's function; each loop with the
-- room loaded sends that one row to its occupants.
CREATE FUNCTION parley_admin_room_send(p_actor text, p_from text, p_username text,
                                       p_room uuid, p_body text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_out text;
BEGIN
    v_out := parley_admin_room_send_0006(p_actor, p_from, p_username, p_room, p_body);
    IF v_out IS NOT NULL AND v_out <> 'not-member' THEN
        PERFORM pg_notify('parley_admin', 'room-message:' || (v_out::json->>'id'));
    END IF;
    RETURN v_out;
END
$$;
