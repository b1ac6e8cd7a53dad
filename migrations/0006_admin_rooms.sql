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
