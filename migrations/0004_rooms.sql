-- 0004: rooms (XEP-0045 on PostgreSQL) and the message archive's queries
-- (XEP-0313).
--
-- Run by the migrator in one transaction with its schema_migrations row.
-- Append-only: once landed, change the schema in a new file.
--
-- A room is a row; its configuration lives on that row; its affiliations
-- (owner, admin, member, outcast) are rows of their own; its messages are
-- ordinary archive rows (messages.kind = 'groupchat', messages.room = the
-- room's bare JID), stored once whatever the number of members. What a
-- member has had of them is two positions per member (the archive id of the
-- last message delivered to, and the last one displayed by, that member),
-- not a row per message: a 500-member room costs one row per post.

-- ---------------------------------------------------------------------------
-- 1. Rooms, affiliations, positions
-- ---------------------------------------------------------------------------

CREATE TABLE rooms (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The bare JID, localpart@muc-domain: what messages.room holds and
    -- what the loop looks a room up by.
    jid            text NOT NULL UNIQUE,
    localpart      text NOT NULL,
    name           text,
    description    text,
    members_only   boolean NOT NULL DEFAULT false,
    -- Listed in the room service's disco#items for everyone (otherwise
    -- only for its members).
    public         boolean NOT NULL DEFAULT true,
    -- Occupants may change the subject; otherwise only moderators.
    change_subject boolean NOT NULL DEFAULT true,
    subject        text,
    subject_by     text,                 -- the nick that set it
    subject_at     timestamptz,
    created_by     text,                 -- username; NULL when an admin made it
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- JID localparts are normalised (lower case) before they get here.
    CONSTRAINT rooms_localpart_valid CHECK (localpart <> '' AND localpart = lower(localpart)),
    CONSTRAINT rooms_jid_matches CHECK (starts_with(jid, localpart || '@'))
);

CREATE TABLE room_affiliations (
    room_id     uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    username    text NOT NULL,
    affiliation text NOT NULL,
    reason      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, username),
    CONSTRAINT room_affiliations_valid
        CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast'))
);

-- The rooms a user belongs to (the room service's disco#items, the admin
-- API's user page).
CREATE INDEX room_affiliations_by_user ON room_affiliations (username, room_id)
    WHERE affiliation <> 'outcast';

-- Per member: the archive id of the last room message written to one of
-- their sessions, and of the last one they reported displayed (XEP-0333).
-- Updated often (every message written moves delivered_id), so the table
-- has its primary key only and room on its pages for HOT updates.
CREATE TABLE room_positions (
    room_id      uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    username     text NOT NULL,
    delivered_id bigint NOT NULL DEFAULT 0,
    displayed_id bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, username)
) WITH (fillfactor = 70);

-- ---------------------------------------------------------------------------
-- 2. Archive indexes for rooms and for a user's whole archive
--
-- 0002 made "the last 50 of a conversation" (messages_conversation) and
-- "the last 50 of a room" (messages_room) index range scans. A user's
-- archive without a `with` filter (what a client asks at login: everything
-- after the last id it knows) is the union of what they sent and what they
-- received: two ordered ranges, merged by the MAM query below.
-- ---------------------------------------------------------------------------

CREATE INDEX messages_direct_by_sender ON messages (sender, id) WHERE kind = 'chat';
CREATE INDEX messages_direct_by_recipient ON messages (recipient, id) WHERE kind = 'chat';

-- The retry check of room messages (same sender, room and stanza id).
CREATE INDEX messages_room_stanza_id ON messages (room, sender, stanza_id, id)
    WHERE kind = 'groupchat' AND stanza_id IS NOT NULL;

-- XEP-0431 full-text search of bodies. The 'simple' configuration (no
-- stemming, no stop words) because a team writes in more than one language;
-- queries must use the same expression to use the index. Its price is paid
-- at every insert (the body is tokenised, the entries go to GIN's pending
-- list): in a quick A/B on a loaded 2-core machine, 10,000 stores of short
-- messages took about 20 % longer with it, 2,000 stores of 10 KB bodies
-- 2.5-3.5 times as long (bodies made of one 10,000-character word, which
-- also raises a NOTICE per row). Without it, a full-text query would read
-- every body of the archive asked.
CREATE INDEX messages_body_fulltext ON messages
    USING gin (to_tsvector('simple', coalesce(body, '')));

-- ---------------------------------------------------------------------------
-- 3. Functions the store workers call (named prepared statements in
--    db/db_job_room.c and db/db_job_mam.c)
-- ---------------------------------------------------------------------------

-- A room and its affiliations, one row per affiliation (a room without any
-- still gives one row, its username NULL). No row: no such room.
CREATE FUNCTION parley_room_load(p_jid text)
RETURNS TABLE (id uuid, name text, description text, members_only boolean,
               public boolean, change_subject boolean, subject text, subject_by text,
               username text, affiliation text)
LANGUAGE sql STABLE
AS $$
    SELECT r.id, r.name, r.description, r.members_only, r.public, r.change_subject,
           r.subject, r.subject_by, a.username, a.affiliation
    FROM rooms r
    LEFT JOIN room_affiliations a ON a.room_id = r.id
    WHERE r.jid = p_jid
    ORDER BY a.username
$$;

-- Creates a room whose creator (NULL: an admin) becomes its owner, unless a
-- room with that JID exists already (created meanwhile, by another node or
-- the admin API): either way the room's rows, as parley_room_load, with
-- `created` saying which.
CREATE FUNCTION parley_room_create(p_jid text, p_localpart text, p_creator text)
RETURNS TABLE (id uuid, name text, description text, members_only boolean,
               public boolean, change_subject boolean, subject text, subject_by text,
               username text, affiliation text, created boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO rooms AS r (jid, localpart, created_by)
    VALUES (p_jid, p_localpart, p_creator)
    ON CONFLICT (jid) DO NOTHING
    RETURNING r.id INTO v_id;
    IF v_id IS NOT NULL AND p_creator IS NOT NULL THEN
        INSERT INTO room_affiliations (room_id, username, affiliation)
        VALUES (v_id, p_creator, 'owner');
    END IF;
    RETURN QUERY SELECT l.*, v_id IS NOT NULL FROM parley_room_load(p_jid) l;
END
$$;

-- Stores a room message once (the same retry rule as direct messages,
-- 0002: the same sender, room, stanza id and body within
-- parley_retry_window() is the message already stored, inserted = false).
-- The stanza is the one every occupant receives (from room/nick), without
-- its <stanza-id/>, which the archive id becomes.
CREATE FUNCTION parley_room_store_message(p_sender text, p_room text, p_stanza_id text,
                                          p_body text, p_stanza text)
RETURNS TABLE (id bigint, created_at timestamptz, inserted boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
    v_created_at timestamptz;
    v_body text;
BEGIN
    IF p_stanza_id IS NOT NULL THEN
        -- Room messages have no recipient, so 0002's unique head index
        -- does not cover them: two stores of one key take turns on an
        -- advisory lock of the key's hash instead.
        PERFORM pg_advisory_xact_lock(parley_stanza_key(p_sender, p_room, p_stanza_id));
        SELECT m.id, m.created_at, m.body INTO v_id, v_created_at, v_body
        FROM messages m
        WHERE m.kind = 'groupchat' AND m.room = p_room AND m.sender = p_sender
          AND m.stanza_id = p_stanza_id
        ORDER BY m.id DESC
        LIMIT 1;
        IF v_id IS NOT NULL AND v_body IS NOT DISTINCT FROM p_body
           AND v_created_at > clock_timestamp() - parley_retry_window() THEN
            RETURN QUERY SELECT v_id, v_created_at, false;
            RETURN;
        END IF;
    END IF;
    INSERT INTO messages AS m (kind, sender, room, stanza_id, body, stanza)
    VALUES ('groupchat', p_sender, p_room, p_stanza_id, p_body, p_stanza)
    RETURNING m.id, m.created_at INTO v_id, v_created_at;
    RETURN QUERY SELECT v_id, v_created_at, true;
END
$$;

-- A member joins (or a session of theirs needs history). Makes the user a
-- member when p_make_member (an open room: joining makes a member), then
-- returns the room messages the session gets, oldest first:
--
--   p_after given: those after it (a session that fell behind while its
--     history was sent, or a second session's recent history from 0);
--   a returning member: those after their delivered position (catch-up);
--   a first-time member: the last p_first_limit; their position starts at
--     the room's last message, so unread counts start at zero.
--
-- At most p_limit (the most recent ones, if there are more), none older
-- than p_since. The positions only move forward later, as messages are
-- written to the member's sessions.
CREATE FUNCTION parley_room_join(p_room uuid, p_username text, p_make_member boolean,
                                 p_limit int, p_first_limit int, p_since timestamptz,
                                 p_after bigint)
RETURNS TABLE (id bigint, created_at timestamptz, stanza text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_jid text;
    v_after bigint := p_after;
    v_limit int := p_limit;
    v_last bigint;
BEGIN
    SELECT r.jid INTO v_jid FROM rooms r WHERE r.id = p_room;
    IF v_jid IS NULL THEN
        RETURN; -- destroyed meanwhile
    END IF;
    IF p_make_member THEN
        INSERT INTO room_affiliations (room_id, username, affiliation)
        VALUES (p_room, p_username, 'member')
        ON CONFLICT DO NOTHING;
    END IF;
    IF v_after IS NULL THEN
        SELECT p.delivered_id INTO v_after
        FROM room_positions p WHERE p.room_id = p_room AND p.username = p_username;
        IF NOT FOUND THEN
            SELECT coalesce(max(m.id), 0) INTO v_last
            FROM messages m WHERE m.kind = 'groupchat' AND m.room = v_jid;
            INSERT INTO room_positions (room_id, username, delivered_id, displayed_id)
            VALUES (p_room, p_username, v_last, v_last)
            ON CONFLICT DO NOTHING;
            v_after := 0;
            v_limit := least(p_limit, p_first_limit);
        END IF;
    END IF;
    RETURN QUERY
        SELECT t.id, t.created_at, t.stanza FROM (
            SELECT m.id, m.created_at, m.stanza FROM messages m
            WHERE m.kind = 'groupchat' AND m.room = v_jid AND m.id > v_after
              AND (p_since IS NULL OR m.created_at >= p_since)
            ORDER BY m.id DESC
            LIMIT greatest(v_limit, 0)) t
        ORDER BY t.id;
END
$$;

-- Moves members' positions forward, many at once (the store batches these:
-- one statement for every position job of a transaction). A displayed
-- position only counts for a message of that room, and implies delivered.
-- Members without a position row (never joined, or the room is gone) are
-- left alone.
CREATE FUNCTION parley_room_positions_advance(p_rooms uuid[], p_usernames text[],
                                              p_delivered bigint[], p_displayed bigint[])
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    WITH wanted AS (
        SELECT u.room_id, u.username, max(u.delivered) AS delivered,
               max(u.displayed) AS displayed
        FROM unnest(p_rooms, p_usernames, p_delivered, p_displayed)
             AS u(room_id, username, delivered, displayed)
        GROUP BY u.room_id, u.username),
    checked AS (
        SELECT w.room_id, w.username, w.delivered,
               CASE WHEN w.displayed > 0 AND EXISTS (
                        SELECT 1 FROM messages m JOIN rooms r ON r.jid = m.room
                        WHERE m.id = w.displayed AND r.id = w.room_id
                          AND m.kind = 'groupchat')
                    THEN w.displayed ELSE 0 END AS displayed
        FROM wanted w)
    UPDATE room_positions p
    SET delivered_id = greatest(p.delivered_id, c.delivered, c.displayed),
        displayed_id = greatest(p.displayed_id, c.displayed),
        updated_at = now()
    FROM checked c
    WHERE p.room_id = c.room_id AND p.username = c.username
      AND (p.delivered_id < greatest(c.delivered, c.displayed)
           OR p.displayed_id < c.displayed);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Unread room messages per member: those after their displayed position.
-- Counting walks messages_room from the position on, so it costs what is
-- unread, not the room's size.
CREATE FUNCTION parley_room_unread(p_room uuid, p_username text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT count(*)
    FROM room_positions p
    JOIN rooms r ON r.id = p.room_id
    JOIN messages m ON m.kind = 'groupchat' AND m.room = r.jid AND m.id > p.displayed_id
    WHERE p.room_id = p_room AND p.username = p_username
$$;

-- The same for every member of every room, for the admin API.
CREATE VIEW room_unread AS
    SELECT p.room_id, p.username, parley_room_unread(p.room_id, p.username) AS unread
    FROM room_positions p;

-- Sets the affiliations of several users at once (p_affiliations[i] NULL:
-- none, the row goes). Returns each user's previous affiliation (NULL:
-- none), in the order given. A change that would leave a room that has an
-- owner without one changes nothing and returns the one row (NULL,
-- 'conflict') (XEP-0045 section 10.6: the last owner stays).
CREATE FUNCTION parley_room_affiliations_set(p_room uuid, p_usernames text[],
                                             p_affiliations text[], p_reasons text[])
RETURNS TABLE (username text, previous text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    i int;
    v_prev text;
    v_out_user text[] := '{}';
    v_out_prev text[] := '{}';
BEGIN
    -- One change of a room's affiliations at a time: the owner check
    -- below must see what the others did.
    PERFORM 1 FROM rooms r WHERE r.id = p_room FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM room_affiliations a
               WHERE a.room_id = p_room AND a.affiliation = 'owner')
       AND NOT EXISTS (
           SELECT 1 FROM room_affiliations a
           WHERE a.room_id = p_room AND a.affiliation = 'owner'
             AND a.username <> ALL (p_usernames)
           UNION ALL
           SELECT 1 FROM unnest(p_affiliations) AS x(aff) WHERE x.aff = 'owner') THEN
        RETURN QUERY SELECT NULL::text, 'conflict'::text;
        RETURN;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_usernames, 1), 0) LOOP
        SELECT a.affiliation INTO v_prev FROM room_affiliations a
        WHERE a.room_id = p_room AND a.username = p_usernames[i];
        IF p_affiliations[i] IS NULL THEN
            DELETE FROM room_affiliations a
            WHERE a.room_id = p_room AND a.username = p_usernames[i];
        ELSE
            INSERT INTO room_affiliations AS a (room_id, username, affiliation, reason)
            VALUES (p_room, p_usernames[i], p_affiliations[i], p_reasons[i])
            ON CONFLICT (room_id, username) DO UPDATE
            SET affiliation = EXCLUDED.affiliation, reason = EXCLUDED.reason,
                updated_at = now();
        END IF;
        v_out_user := v_out_user || p_usernames[i];
        v_out_prev := v_out_prev || v_prev;
    END LOOP;
    RETURN QUERY SELECT * FROM unnest(v_out_user, v_out_prev);
END
$$;

-- The rooms a user may see in the room service's disco#items: the public
-- ones and those they belong to (not as an outcast), by JID.
CREATE FUNCTION parley_room_list(p_username text, p_limit int)
RETURNS TABLE (jid text, name text)
LANGUAGE sql STABLE
AS $$
    SELECT r.jid, r.name FROM rooms r
    WHERE r.public
       OR EXISTS (SELECT 1 FROM room_affiliations a
                  WHERE a.room_id = r.id AND a.username = p_username
                    AND a.affiliation <> 'outcast')
    ORDER BY r.jid
    LIMIT p_limit
$$;

-- ---------------------------------------------------------------------------
-- 4. The archive query (XEP-0313 with XEP-0059 paging)
--
-- One function for a user's direct messages and for a room's messages.
-- Returns up to p_max + 1 rows in archive order (the caller shows p_max
-- and learns from the extra one whether the page is the last), or one row
-- with id -1 when p_after or p_before names no message of this archive
-- (XEP-0059: item-not-found).
--
--   p_room false: the archive of user p_owner (a bare JID): what they sent
--     and received; p_with (a bare JID) narrows it to one conversation.
--   p_room true: the archive of room p_owner (its bare JID); p_with (a
--     bare user JID) narrows it to what that occupant sent.
--   p_start/p_end: created_at bounds (inclusive); p_after_id/p_before_id:
--     archive id bounds (exclusive, XEP-0313's after-id/before-id and RSM's
--     after/before); p_last: RSM's empty <before/> (the last page);
--     p_ids: exactly these messages; p_text: XEP-0431 full text.
--
-- The statement is built per call (EXECUTE) so that PostgreSQL plans the
-- shape actually asked: a conversation is a range of messages_conversation,
-- a room a range of messages_room, both read backward for "the last N";
-- a whole user archive is the merge of two ranges (by sender, by
-- recipient), each cut to p_max + 1 before the merge. For "the last 50 of a
-- conversation" the plan is (EXPLAIN, tests/sql/20-rooms-mam.sql checks
-- the index is used):
--
--   Limit
--     ->  Index Scan Backward using messages_conversation on messages m
--           Index Cond: ((least(sender, recipient) = 'a@x')
--                         AND (greatest(sender, recipient) = 'b@x'))
-- ---------------------------------------------------------------------------

CREATE FUNCTION parley_mam_query(p_room boolean, p_owner text, p_with text,
                                 p_start timestamptz, p_end timestamptz,
                                 p_after_id bigint, p_before_id bigint, p_last boolean,
                                 p_ids bigint[], p_text text, p_max int)
RETURNS TABLE (id bigint, created_at timestamptz, stanza text)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_scope text;       -- the archive: which rows belong to it
    v_scopes text[];    -- a user archive without `with`: two ranges
    v_filter text := '';
    v_desc boolean := p_before_id IS NOT NULL OR p_last;
    v_order text;
    v_sql text;
    v_id bigint;
    v_found boolean;
BEGIN
    IF p_room THEN
        v_scope := 'm.kind = ''groupchat'' AND m.room = $1';
        IF p_with IS NOT NULL THEN
            v_scope := v_scope || ' AND m.sender = $2';
        END IF;
        v_scopes := ARRAY[v_scope];
    ELSIF p_with IS NOT NULL THEN
        -- 0002's conversation form, so that messages_conversation serves it.
        v_scopes := ARRAY['m.kind = ''chat'' AND parley_pair_key(m.sender, m.recipient)'
                          ' = parley_pair_key($1, $2) AND ((m.sender = $1 AND m.recipient = $2)'
                          ' OR (m.sender = $2 AND m.recipient = $1))'];
    ELSE
        -- a message to oneself is in both ranges: the second leaves it out
        v_scopes := ARRAY['m.kind = ''chat'' AND m.sender = $1',
                          'm.kind = ''chat'' AND m.recipient = $1 AND m.sender <> $1'];
    END IF;

    -- RSM ids must name a message of this archive.
    FOREACH v_id IN ARRAY ARRAY[p_after_id, p_before_id] LOOP
        CONTINUE WHEN v_id IS NULL;
        v_sql := 'SELECT EXISTS (SELECT 1 FROM messages m WHERE m.id = $3 AND ((' ||
                 array_to_string(v_scopes, ') OR (') || ')))';
        EXECUTE v_sql INTO STRICT v_found USING p_owner, p_with, v_id;
        IF NOT v_found THEN
            RETURN QUERY SELECT -1::bigint, NULL::timestamptz, NULL::text;
            RETURN;
        END IF;
    END LOOP;

    IF p_start IS NOT NULL THEN v_filter := v_filter || ' AND m.created_at >= $4'; END IF;
    IF p_end IS NOT NULL THEN v_filter := v_filter || ' AND m.created_at <= $5'; END IF;
    IF p_after_id IS NOT NULL THEN v_filter := v_filter || ' AND m.id > $6'; END IF;
    IF p_before_id IS NOT NULL THEN v_filter := v_filter || ' AND m.id < $7'; END IF;
    IF p_ids IS NOT NULL THEN v_filter := v_filter || ' AND m.id = ANY ($8)'; END IF;
    IF p_text IS NOT NULL THEN
        v_filter := v_filter || ' AND to_tsvector(''simple'', coalesce(m.body, ''''))'
                             || ' @@ websearch_to_tsquery(''simple'', $9)';
    END IF;
    v_order := CASE WHEN v_desc THEN 'DESC' ELSE 'ASC' END;

    IF array_length(v_scopes, 1) = 1 THEN
        v_sql := 'SELECT m.id, m.created_at, m.stanza FROM messages m WHERE ' ||
                 v_scopes[1] || v_filter || ' ORDER BY m.id ' || v_order || ' LIMIT $10';
    ELSE
        v_sql := 'SELECT * FROM ((SELECT m.id, m.created_at, m.stanza FROM messages m WHERE ' ||
                 v_scopes[1] || v_filter || ' ORDER BY m.id ' || v_order || ' LIMIT $10)' ||
                 ' UNION ALL (SELECT m.id, m.created_at, m.stanza FROM messages m WHERE ' ||
                 v_scopes[2] || v_filter || ' ORDER BY m.id ' || v_order || ' LIMIT $10)) u' ||
                 ' ORDER BY u.id ' || v_order || ' LIMIT $10';
    END IF;
    -- Archive order whichever way the page was read.
    RETURN QUERY EXECUTE 'SELECT p.id, p.created_at, p.stanza FROM (' || v_sql ||
                         ') p ORDER BY p.id'
        USING p_owner, p_with, NULL::bigint, p_start, p_end, p_after_id, p_before_id,
              p_ids, p_text, p_max + 1;
END
$$;
