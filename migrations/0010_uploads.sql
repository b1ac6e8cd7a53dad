-- 0010: XEP-0363 HTTP File Upload. A slot is a row written when the XMPP
-- loop grants it (parley_upload_slot, a store job that checks the quota);
-- the admin API's listener takes the PUT (parley_upload_put_begin claims
-- the slot once, parley_upload_put_end records the outcome) and serves the
-- GET (parley_upload_get). The file itself lives on disk under
-- PARLEY_UPLOAD_DIR, named by path_key, never by anything a client chose.
--
-- Run by the migrator in one transaction with its schema_migrations row.
-- Append-only: once landed, change the schema in a new file.

CREATE TABLE uploads (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner        text NOT NULL,           -- username of who asked for the slot
    -- The room the link was first posted to (set by the trigger below), so
    -- the admin API can list a room's files; NULL: none (yet).
    room         text,
    name         text NOT NULL,           -- the file name the client gave
    size         bigint NOT NULL,
    content_type text NOT NULL,
    -- 32 lower-case hex digits from a CSPRNG: the <random> of the URL and
    -- the file's name on disk. The GET URL is a capability: this is what
    -- makes it unguessable.
    path_key     text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,    -- the PUT URL's end
    put_at       timestamptz,             -- a PUT claimed the slot
    stored_at    timestamptz,             -- the file is whole on disk
    CONSTRAINT uploads_size_positive CHECK (size > 0),
    CONSTRAINT uploads_key_valid CHECK (path_key ~ '^[0-9a-f]{32}$'),
    CONSTRAINT uploads_name_valid CHECK (name <> '' AND length(name) <= 255
                                         AND strpos(name, '/') = 0)
);

-- A user's files, newest first (the admin API's ?user=, and the quota sum).
CREATE INDEX uploads_owner ON uploads (owner, id);
-- A room's files (?room=).
CREATE INDEX uploads_room ON uploads (room, id) WHERE room IS NOT NULL;

-- What counts against a user's quota: files stored, PUTs under way and
-- slots still open (so that many slots asked at once cannot pass it). A
-- PUT that began a day ago and never ended (the server stopped under it)
-- is not under way any more.
CREATE FUNCTION parley_upload_used(p_owner text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(sum(size), 0)::bigint
    FROM uploads
    WHERE owner = p_owner
      AND (stored_at IS NOT NULL OR put_at > now() - interval '1 day'
           OR (put_at IS NULL AND expires_at > now()))
$$;

-- Grants a slot if the owner's quota allows it: id > 0 and the PUT URL's
-- end (microseconds since the epoch), or id 0 and what the owner already
-- uses. Slots of the owner that expired unused, or whose PUT never ended,
-- are dropped on the way.
CREATE FUNCTION parley_upload_slot(p_owner text, p_name text, p_size bigint,
                                   p_content_type text, p_key text, p_ttl_s int,
                                   p_quota bigint)
RETURNS TABLE (id bigint, used bigint, expires_us bigint)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_used bigint;
    v_id bigint;
    v_expires timestamptz := now() + make_interval(secs => p_ttl_s);
BEGIN
    -- One owner's slots take turns, so two at once cannot both fit.
    PERFORM pg_advisory_xact_lock(hashtextextended('parley_upload:' || p_owner, 0));
    DELETE FROM uploads u
    WHERE u.owner = p_owner AND u.stored_at IS NULL
      AND ((u.put_at IS NULL AND u.expires_at <= now())
           OR u.put_at <= now() - interval '1 day');
    v_used := parley_upload_used(p_owner);
    IF v_used + p_size > p_quota THEN
        RETURN QUERY SELECT 0::bigint, v_used, 0::bigint;
        RETURN;
    END IF;
    INSERT INTO uploads AS u (owner, name, size, content_type, path_key, expires_at)
    VALUES (p_owner, p_name, p_size, p_content_type, p_key, v_expires)
    RETURNING u.id INTO v_id;
    RETURN QUERY SELECT v_id, v_used,
        (extract(epoch FROM v_expires) * 1000000)::bigint;
END
$$;

-- What a PUT of (p_name, p_size, p_type) would get, without claiming the
-- slot: 'ok', 'none' (no such slot, or another name), 'size' or 'type'
-- (another length or content type than the slot's), 'used' (a PUT came
-- before), 'expired'. The type compares case-insensitively, as media
-- types do.
CREATE FUNCTION parley_upload_check(p_key text, p_name text, p_size bigint, p_type text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce((
        SELECT CASE
            WHEN u.name <> p_name THEN 'none'
            WHEN u.put_at IS NOT NULL OR u.stored_at IS NOT NULL THEN 'used'
            WHEN u.expires_at <= now() THEN 'expired'
            WHEN u.size <> p_size THEN 'size'
            WHEN lower(u.content_type) <> lower(coalesce(p_type, '')) THEN 'type'
            ELSE 'ok' END
        FROM uploads u WHERE u.path_key = p_key), 'none')
$$;

-- A PUT begins: as parley_upload_check, and on 'ok' the slot is claimed,
-- so a second PUT (even one running at the same time) gets 'used'.
CREATE FUNCTION parley_upload_put_begin(p_key text, p_name text, p_size bigint,
                                        p_type text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_state text;
BEGIN
    PERFORM 1 FROM uploads WHERE path_key = p_key FOR UPDATE;
    v_state := parley_upload_check(p_key, p_name, p_size, p_type);
    IF v_state = 'ok' THEN
        UPDATE uploads SET put_at = now() WHERE path_key = p_key;
    END IF;
    RETURN v_state;
END
$$;

-- A PUT ended: stored, or failed (cut short, a disk error), which frees the
-- slot again for a retry before it expires.
CREATE FUNCTION parley_upload_put_end(p_key text, p_ok boolean)
RETURNS boolean
LANGUAGE sql
AS $$
    UPDATE uploads
    SET stored_at = CASE WHEN p_ok THEN now() END,
        put_at = CASE WHEN p_ok THEN put_at END
    WHERE path_key = p_key AND stored_at IS NULL
    RETURNING true
$$;

-- A stored file, for a GET: its size and content type, if the name is its
-- own.
CREATE FUNCTION parley_upload_get(p_key text, p_name text)
RETURNS TABLE (size bigint, content_type text)
LANGUAGE sql STABLE
AS $$
    SELECT size, content_type FROM uploads
    WHERE path_key = p_key AND name = p_name AND stored_at IS NOT NULL
$$;

-- A room message whose body carries an upload URL of its sender files that
-- upload under the room (Converse and Conversations post the GET URL as the
-- body, with an XEP-0066 <x/> beside it).
CREATE FUNCTION parley_uploads_room_link()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_key text := substring(NEW.body FROM '/upload/([0-9a-f]{32})/');
BEGIN
    IF v_key IS NOT NULL THEN
        UPDATE uploads SET room = NEW.room
        WHERE path_key = v_key AND room IS NULL
          AND owner = split_part(NEW.sender, '@', 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_uploads_room_link
AFTER INSERT ON messages
FOR EACH ROW
WHEN (NEW.kind = 'groupchat' AND NEW.body LIKE '%/upload/%')
EXECUTE FUNCTION parley_uploads_room_link();

-- An upload as the admin API shows it.
CREATE FUNCTION parley_admin_upload_json(u uploads)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'id', u.id, 'owner', u.owner, 'room', u.room,
        'room_id', (SELECT r.id FROM rooms r WHERE r.jid = u.room),
        'name', u.name, 'size', u.size, 'content_type', u.content_type,
        'created_at', u.created_at, 'stored', u.stored_at IS NOT NULL,
        'stored_at', u.stored_at)
$$;

-- One page of uploads, newest first: a user's (p_owner), a room's (p_room,
-- its uuid), or everyone's, after p_cursor (an upload id; 0: the newest).
-- total_bytes is the size of every stored file the filter matches.
CREATE FUNCTION parley_admin_uploads(p_owner text, p_room uuid, p_cursor bigint,
                                     p_limit int)
RETURNS json
LANGUAGE sql STABLE
AS $$
    WITH matched AS (
        SELECT u.* FROM uploads u
        WHERE (p_owner IS NULL OR u.owner = p_owner)
          AND (p_room IS NULL OR u.room = (SELECT r.jid FROM rooms r WHERE r.id = p_room))
    ), page AS (
        SELECT * FROM matched m
        WHERE p_cursor = 0 OR m.id < p_cursor
        ORDER BY m.id DESC
        LIMIT p_limit + 1
    )
    SELECT json_build_object(
        'items', coalesce((SELECT json_agg(parley_admin_upload_json(p) ORDER BY p.id DESC)
                           FROM (SELECT * FROM page ORDER BY id DESC LIMIT p_limit) p),
                          '[]'::json),
        'next_cursor', CASE WHEN (SELECT count(*) FROM page) > p_limit
                            THEN (SELECT min(id)::text FROM
                                  (SELECT id FROM page ORDER BY id DESC LIMIT p_limit) k)
                       END,
        'total_bytes', (SELECT coalesce(sum(size), 0) FROM matched
                        WHERE stored_at IS NOT NULL))
$$;

-- Deletes an upload's row with its audit row; returns its path_key (the
-- API then removes the file), NULL if there is no such upload.
CREATE FUNCTION parley_admin_upload_delete(p_actor text, p_id bigint)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v uploads;
BEGIN
    DELETE FROM uploads WHERE id = p_id RETURNING * INTO v;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM parley_admin_audit(p_actor, 'upload.delete', v.owner,
        jsonb_build_object('id', v.id, 'name', v.name, 'size', v.size,
                           'content_type', v.content_type, 'room', v.room));
    RETURN v.path_key;
END
$$;
