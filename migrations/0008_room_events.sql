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

-- ---------------------------------------------------------------------------
-- Who is in a room now, for the admin API (GET /api/v1/rooms/{id}). The
-- occupants live in the loop's memory, which the API never reads; the loop
-- writes this table through the store instead: a row when one of its
-- sessions joins a room (a seat: a user's second session is a second row),
-- deleted when that session leaves it or ends (DB_JOB_ROOM_OCCUPANT, on the
-- room's shard, so a session's join and leave commit in that order). Rows
-- carry the node: with several nodes each writes its own, and a node that
-- starts again (after a crash too) deletes the rows of its last run in
-- parley_node_restart, as it does its sessions. A row may trail the room
-- by a store batch (a few milliseconds); the loop is never waited for.
-- ---------------------------------------------------------------------------

CREATE TABLE room_occupants (
    room_id   uuid NOT NULL,
    session   text NOT NULL,        -- the session's name, as in deliveries.delivered_via
    node      text NOT NULL,
    username  text NOT NULL,
    resource  text NOT NULL,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, session)
);
-- A starting node deletes its rows.
CREATE INDEX room_occupants_node ON room_occupants (node);

-- p_present: the session is in the room (a row, once), else it left. A
-- room deleted meanwhile gets no row. No foreign key: a room deleted while
-- the job waits must not fail the store's batch.
CREATE FUNCTION parley_room_occupant(p_room uuid, p_session text, p_node text,
                                     p_username text, p_resource text, p_present boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_present THEN
        INSERT INTO room_occupants (room_id, session, node, username, resource)
        SELECT p_room, p_session, p_node, p_username, p_resource
        WHERE EXISTS (SELECT 1 FROM rooms WHERE id = p_room)
        ON CONFLICT (room_id, session) DO NOTHING;
    ELSE
        DELETE FROM room_occupants WHERE room_id = p_room AND session = p_session;
    END IF;
END
$$;

-- A room's occupants as the API shows them: one entry per user, with the
-- resources of their sessions in the room and when the first joined.
CREATE FUNCTION parley_room_occupants_json(p_room uuid)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(json_agg(json_build_object('username', o.username,
                                               'resources', o.resources,
                                               'since', o.since) ORDER BY o.username),
                    '[]'::json)
    FROM (SELECT username, array_agg(resource ORDER BY resource) AS resources,
                 min(joined_at) AS since
          FROM room_occupants WHERE room_id = p_room GROUP BY username) o
$$;

-- The rows of a room deleted over the API go with it.
CREATE FUNCTION parley_room_occupants_gone() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM room_occupants WHERE room_id = OLD.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER rooms_occupants_gone AFTER DELETE ON rooms
    FOR EACH ROW EXECUTE FUNCTION parley_room_occupants_gone();

-- A starting node: what parley_node_restart did, and its occupants' rows.
ALTER FUNCTION parley_node_restart(text) RENAME TO parley_node_restart_0002;
CREATE FUNCTION parley_node_restart(p_node text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    n := parley_node_restart_0002(p_node);
    DELETE FROM room_occupants WHERE node = p_node;
    RETURN n;
END
$$;

-- ---------------------------------------------------------------------------
-- The same for changes made over XMPP, so that the other nodes that have
-- the room loaded see them: the room jobs' statements (db_job_room.c)
-- notify `room:JID` for configuration, subject and destruction, and the
-- affiliations function is wrapped here. The node that made the change has
-- applied it already; its own reload finds nothing different and tells
-- nobody anything twice.
-- ---------------------------------------------------------------------------

ALTER FUNCTION parley_room_affiliations_set(uuid, text[], text[], text[])
    RENAME TO parley_room_affiliations_set_0004;
CREATE FUNCTION parley_room_affiliations_set(p_room uuid, p_usernames text[],
                                             p_affiliations text[], p_reasons text[])
RETURNS TABLE (username text, previous text)
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM parley_room_affiliations_set_0004(p_room, p_usernames,
                                                                 p_affiliations, p_reasons);
    PERFORM pg_notify('parley_admin', 'room:' || r.jid) FROM rooms r WHERE r.id = p_room;
END
$$;
