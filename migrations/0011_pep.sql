-- 0011: a minimal personal eventing service (XEP-0163) on the user's own
-- bare JID with the two nodes clients need: XEP-0402 bookmarks and XEP-0490
-- displayed positions (the latter kept in 0003's and 0004's read positions,
-- not in a table of its own); full-JID blocks in the store; XEP-0319 idle
-- in the last presence.

-- ---------------------------------------------------------------------------
-- 1. Bookmarks (XEP-0402, node urn:xmpp:bookmarks:1)
--
-- One row per item the user published (the item id is the room's JID, the
-- payload the <conference/> element as XML). The rooms the user is a member
-- of are offered as bookmarks with autojoin without a row; a row whose
-- payload is NULL is the user's retraction of such an offered bookmark, so
-- it stays gone.
-- ---------------------------------------------------------------------------

CREATE TABLE pep_items (
    owner      text NOT NULL,            -- username
    node       text NOT NULL,
    item_id    text NOT NULL,
    payload    text,                     -- NULL: an offered room retracted
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, node, item_id),
    -- The nodes the loop serves; displayed positions are not items here.
    CONSTRAINT pep_items_node_known CHECK (node IN ('urn:xmpp:bookmarks:1')),
    CONSTRAINT pep_items_id_nonempty CHECK (item_id <> '')
);

-- The rooms offered as bookmarks: those p_owner is owner, admin or member
-- of (an outcast is not offered anything).
CREATE FUNCTION parley_pep_member_rooms(p_owner text)
RETURNS TABLE (jid text, name text)
LANGUAGE sql STABLE
AS $$
    SELECT r.jid, r.name
    FROM room_affiliations a JOIN rooms r ON r.id = a.room_id
    WHERE a.username = p_owner AND a.affiliation <> 'outcast'
$$;

-- ---------------------------------------------------------------------------
-- 2. The node functions the store calls (db/db_job_pep.c). None raises on
--    bad input (a raise would abort the whole batch of the store's
--    transaction): each answers with a status instead.
-- ---------------------------------------------------------------------------

-- The items of a node. Bookmarks: the published ones (payload set), then
-- the member rooms without a row (payload NULL, their name in `name`).
-- Displayed positions (urn:xmpp:mds:displayed:0): one item per
-- conversation with a displayed position, `by` the archive that gave the
-- id (the user's own for direct messages, the room's for a room) and `pos`
-- that archive id.
CREATE FUNCTION parley_pep_get(p_owner text, p_owner_jid text, p_node text)
RETURNS TABLE (item_id text, payload text, name text, by text, pos bigint)
LANGUAGE sql STABLE
AS $$
    SELECT i.item_id, i.payload, NULL::text, NULL::text, NULL::bigint
    FROM pep_items i
    WHERE p_node = 'urn:xmpp:bookmarks:1' AND i.owner = p_owner
      AND i.node = p_node AND i.payload IS NOT NULL
    UNION ALL
    SELECT m.jid, NULL, m.name, NULL, NULL
    FROM parley_pep_member_rooms(p_owner) m
    WHERE p_node = 'urn:xmpp:bookmarks:1'
      AND NOT EXISTS (SELECT 1 FROM pep_items i
                      WHERE i.owner = p_owner AND i.node = p_node AND i.item_id = m.jid)
    UNION ALL
    SELECT p.sender, NULL, NULL, p_owner_jid, p.displayed_id
    FROM direct_read_positions p
    WHERE p_node = 'urn:xmpp:mds:displayed:0' AND p.recipient = p_owner_jid
      AND p.displayed_id > 0
    UNION ALL
    SELECT r.jid, NULL, NULL, r.jid, p.displayed_id
    FROM room_positions p JOIN rooms r ON r.id = p.room_id
    WHERE p_node = 'urn:xmpp:mds:displayed:0' AND p.username = p_owner
      AND p.displayed_id > 0
$$;

-- Publishes one item. Bookmarks: the payload replaces the item (at most
-- p_max items: 'full' past it). Displayed positions: p_item is the
-- conversation (a peer's or a room's bare JID), p_by and p_pos the
-- <stanza-id/> of the message displayed; everything the conversation
-- holds up to it becomes displayed for the owner, as a cumulative XEP-0333
-- marker does, so the unread counts (parley_unread_counts,
-- parley_room_unread) follow. A stanza-id that names no message of that
-- conversation is 'unknown' and changes nothing. Returns 'ok', 'full' or
-- 'unknown'.
CREATE FUNCTION parley_pep_publish(p_owner text, p_owner_jid text, p_node text,
                                   p_item text, p_payload text, p_by text,
                                   p_pos bigint, p_max int)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_room uuid;
    v_count int;
BEGIN
    IF p_node = 'urn:xmpp:bookmarks:1' THEN
        IF NOT EXISTS (SELECT 1 FROM pep_items i
                       WHERE i.owner = p_owner AND i.node = p_node AND i.item_id = p_item) THEN
            SELECT count(*) INTO v_count FROM pep_items i
            WHERE i.owner = p_owner AND i.node = p_node;
            IF v_count >= p_max THEN
                RETURN 'full';
            END IF;
        END IF;
        INSERT INTO pep_items AS i (owner, node, item_id, payload)
        VALUES (p_owner, p_node, p_item, p_payload)
        ON CONFLICT (owner, node, item_id) DO UPDATE
            SET payload = EXCLUDED.payload, updated_at = now();
        RETURN 'ok';
    END IF;
    IF p_node <> 'urn:xmpp:mds:displayed:0' OR p_pos IS NULL OR p_pos <= 0 THEN
        RETURN 'unknown';
    END IF;
    IF p_by = p_owner_jid THEN
        -- A direct conversation: the message is in the user's archive with
        -- that peer, sent either way.
        IF NOT EXISTS (SELECT 1 FROM messages m
                       WHERE m.id = p_pos AND m.kind = 'chat'
                         AND ((m.sender = p_item AND m.recipient = p_owner_jid)
                              OR (m.sender = p_owner_jid AND m.recipient = p_item))) THEN
            RETURN 'unknown';
        END IF;
        PERFORM 1 FROM direct_read_positions r
        WHERE r.recipient = p_owner_jid AND r.sender = p_item
        FOR UPDATE;
        UPDATE deliveries d
        SET state = 'displayed'
        FROM messages m
        WHERE least(m.sender, m.recipient) = least(p_item, p_owner_jid)
          AND greatest(m.sender, m.recipient) = greatest(p_item, p_owner_jid)
          AND m.kind = 'chat'
          AND m.id <= p_pos
          AND m.id > coalesce((SELECT r.displayed_id FROM direct_read_positions r
                               WHERE r.recipient = p_owner_jid AND r.sender = p_item), 0)
          AND m.sender = p_item
          AND d.message_id = m.id AND d.recipient = p_owner_jid
          AND d.state <> 'displayed';
        INSERT INTO direct_read_positions AS r (recipient, sender, displayed_id, displayed_at)
        VALUES (p_owner_jid, p_item, p_pos, now())
        ON CONFLICT (recipient, sender) DO UPDATE
            SET displayed_id = greatest(r.displayed_id, EXCLUDED.displayed_id),
                displayed_at = now();
        RETURN 'ok';
    END IF;
    IF p_by = p_item THEN
        -- A room: the message is that room's; the member's position moves
        -- (a member who never joined gets one).
        SELECT r.id INTO v_room FROM rooms r JOIN messages m ON m.room = r.jid
        WHERE r.jid = p_item AND m.id = p_pos AND m.kind = 'groupchat';
        IF v_room IS NULL THEN
            RETURN 'unknown';
        END IF;
        INSERT INTO room_positions AS p (room_id, username, delivered_id, displayed_id)
        VALUES (v_room, p_owner, p_pos, p_pos)
        ON CONFLICT (room_id, username) DO UPDATE
            SET delivered_id = greatest(p.delivered_id, EXCLUDED.delivered_id),
                displayed_id = greatest(p.displayed_id, EXCLUDED.displayed_id),
                updated_at = now();
        RETURN 'ok';
    END IF;
    RETURN 'unknown';
END
$$;

-- Retracts one bookmark: a published one goes; an offered member room is
-- kept out with a NULL row. false: there was no such item.
CREATE FUNCTION parley_pep_retract(p_owner text, p_node text, p_item text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_node <> 'urn:xmpp:bookmarks:1' THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM parley_pep_member_rooms(p_owner) m WHERE m.jid = p_item) THEN
        INSERT INTO pep_items AS i (owner, node, item_id, payload)
        VALUES (p_owner, p_node, p_item, NULL)
        ON CONFLICT (owner, node, item_id) DO UPDATE
            SET payload = NULL, updated_at = now()
            WHERE i.payload IS NOT NULL;
        RETURN FOUND;
    END IF;
    DELETE FROM pep_items i
    WHERE i.owner = p_owner AND i.node = p_node AND i.item_id = p_item;
    RETURN FOUND;
END
$$;

-- ---------------------------------------------------------------------------
-- 3. Full-JID blocks stop storage too (XEP-0191)
--
-- 0003's store refuses a message when the recipient blocks the sender's
-- bare JID or domain, but the blocklist also holds full JIDs (one
-- resource) and domain/resource items, which the loop matches for online
-- recipients only; a message from a blocked resource to an offline
-- recipient was stored and delivered at their next login. The store
-- statement passes the bare sender, so the resource is read from the
-- stanza's stamped `from`, and only when the recipient blocks some
-- resource of that sender or domain (one more probe of the same blocklist
-- range; the XML is parsed on that rare path alone). Everything else is
-- 0003's function unchanged, with its signature, so the statement stays.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION parley_store_message(p_sender text, p_recipient text,
                                                p_stanza_id text, p_body text,
                                                p_stanza text)
RETURNS TABLE (id bigint, created_at timestamptz, inserted boolean, pending boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
    v_created_at timestamptz;
    h record;
    v_blocked boolean;
    v_known boolean;
    v_by_resource boolean;
    v_owner text := split_part(p_recipient, '@', 1);
    v_domain text := split_part(p_sender, '@', 2);
    v_from text;
BEGIN
    SELECT EXISTS (SELECT 1 FROM blocklist b
                   WHERE b.owner = v_owner AND b.jid IN (p_sender, v_domain)),
           EXISTS (SELECT 1 FROM blocklist b
                   WHERE b.owner = v_owner
                     AND (starts_with(b.jid, p_sender || '/')
                          OR starts_with(b.jid, v_domain || '/'))),
           EXISTS (SELECT 1 FROM direct_read_positions r
                   WHERE r.recipient = p_recipient AND r.sender = p_sender)
    INTO v_blocked, v_by_resource, v_known;
    IF NOT v_blocked AND v_by_resource THEN
        BEGIN
            SELECT x.f INTO v_from
            FROM XMLTABLE('/*' PASSING CAST(p_stanza AS xml) COLUMNS f text PATH '@from') x;
        EXCEPTION WHEN others THEN
            v_from := NULL; -- not XML: no resource to match
        END;
        IF starts_with(v_from, p_sender || '/') THEN
            v_blocked := EXISTS (
                SELECT 1 FROM blocklist b
                WHERE b.owner = v_owner
                  AND b.jid IN (v_from, v_domain || substr(v_from, length(p_sender) + 1)));
        END IF;
    END IF;
    IF v_blocked THEN
        RETURN QUERY SELECT 0::bigint, clock_timestamp(), false, false;
        RETURN;
    END IF;
    IF NOT v_known THEN -- the pair's first message
        INSERT INTO direct_read_positions (recipient, sender)
        VALUES (p_recipient, p_sender)
        ON CONFLICT DO NOTHING;
    END IF;
    FOR attempt IN 1..5 LOOP
        INSERT INTO messages AS m (kind, sender, recipient, stanza_id, body, stanza)
        VALUES ('chat', p_sender, p_recipient, p_stanza_id, p_body, p_stanza)
        ON CONFLICT (parley_stanza_key(sender, recipient, stanza_id))
            WHERE stanza_id IS NOT NULL AND NOT superseded
        DO NOTHING
        RETURNING m.id, m.created_at INTO v_id, v_created_at;
        IF v_id IS NOT NULL THEN
            INSERT INTO deliveries (message_id, recipient) VALUES (v_id, p_recipient);
            INSERT INTO deliveries_unsettled (recipient, message_id)
            VALUES (p_recipient, v_id);
            RETURN QUERY SELECT v_id, v_created_at, true, true;
            RETURN;
        END IF;

        SELECT m.id, m.created_at, m.body, m.sender, m.recipient, m.stanza_id INTO h
        FROM messages m
        WHERE parley_stanza_key(m.sender, m.recipient, m.stanza_id)
              = parley_stanza_key(p_sender, p_recipient, p_stanza_id)
          AND m.stanza_id IS NOT NULL AND NOT m.superseded
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND; -- superseded meanwhile: insert again
        IF h.sender = p_sender AND h.recipient = p_recipient
           AND h.stanza_id = p_stanza_id -- else another key with the same hash
           AND h.body IS NOT DISTINCT FROM p_body
           AND h.created_at > clock_timestamp() - parley_retry_window() THEN
            RETURN QUERY
                SELECT h.id, h.created_at, false,
                       EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.message_id = h.id AND d.recipient = p_recipient
                                 AND d.state = 'stored');
            RETURN;
        END IF;
        UPDATE messages SET superseded = true WHERE messages.id = h.id;
    END LOOP;
    RAISE EXCEPTION 'too many concurrent stores of stanza id % from % to %',
        p_stanza_id, p_sender, p_recipient
        USING ERRCODE = 'lock_not_available';
END
$$;

-- ---------------------------------------------------------------------------
-- 4. XEP-0319 idle in the last presence
--
-- A client's available presence may say since when its user is idle
-- (<idle xmlns='urn:xmpp:idle:1' since='...'/>). The session's row keeps
-- it, and the user's last presence keeps it too: while available, the
-- idle time of the presence shown; once unavailable, the idle time the
-- user had when leaving (NULL: active until then). Probes for a contact
-- who is offline are answered with an <idle/> whose `since` is that time,
-- or the time of the last unavailable (XEP-0319 section 4: the last time
-- the user was seen). 0003's trigger function is replaced whole; only the
-- idle column is new in it.
-- ---------------------------------------------------------------------------

ALTER TABLE sessions ADD COLUMN idle_since timestamptz;
ALTER TABLE presence_last ADD COLUMN idle_since timestamptz;

CREATE OR REPLACE FUNCTION parley_sessions_presence_last()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_bare text;
    v_user text;
    v_other sessions;
BEGIN
    IF TG_OP <> 'DELETE' AND NEW.available THEN
        INSERT INTO presence_last AS p (jid, username, resource, available, show,
                                        status, priority, at, idle_since)
        VALUES (split_part(NEW.full_jid, '/', 1), NEW.username, NEW.resource, true,
                NEW.show, NEW.status, NEW.priority, now(), NEW.idle_since)
        ON CONFLICT (jid) DO UPDATE
            SET username = EXCLUDED.username, resource = EXCLUDED.resource,
                available = true, show = EXCLUDED.show, status = EXCLUDED.status,
                priority = EXCLUDED.priority, at = now(),
                idle_since = EXCLUDED.idle_since;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        UPDATE users SET last_seen_at = now() WHERE username = OLD.username;
    END IF;
    IF NOT coalesce(OLD.available, false) THEN
        RETURN NULL;
    END IF;
    v_bare := split_part(OLD.full_jid, '/', 1);
    v_user := OLD.username;
    SELECT * INTO v_other FROM sessions s
    WHERE s.username = v_user AND s.available AND s.full_jid <> OLD.full_jid
    ORDER BY s.priority DESC, s.updated_at DESC
    LIMIT 1;
    IF FOUND THEN
        UPDATE presence_last
        SET resource = v_other.resource, available = true, show = v_other.show,
            status = v_other.status, priority = v_other.priority,
            idle_since = v_other.idle_since
        WHERE jid = v_bare;
        RETURN NULL;
    END IF;
    INSERT INTO presence_last AS p (jid, username, resource, available, show,
                                    status, priority, at, idle_since)
    VALUES (v_bare, v_user, OLD.resource, false, NULL,
            CASE WHEN TG_OP = 'UPDATE' THEN NEW.status END, 0, now(), OLD.idle_since)
    ON CONFLICT (jid) DO UPDATE
        SET resource = EXCLUDED.resource, available = false, show = NULL,
            status = EXCLUDED.status, priority = 0, at = now(),
            idle_since = EXCLUDED.idle_since;
    RETURN NULL;
END
$$;

-- 0003's initial presence with the contact's idle time as a last column
-- (its columns change, so it is dropped and made again).
DROP FUNCTION parley_presence_initial(text, text);
CREATE FUNCTION parley_presence_initial(p_owner text, p_owner_jid text)
RETURNS TABLE (kind text, jid text, available boolean, show text, status text,
               at timestamptz, request text, idle_since timestamptz)
LANGUAGE sql STABLE
AS $$
    SELECT 'p', r.contact, p.available, p.show, p.status, p.at, NULL::text, p.idle_since
    FROM roster_items r LEFT JOIN presence_last p ON p.jid = r.contact
    WHERE r.owner = p_owner AND r.subscription IN ('to', 'both')
      AND NOT EXISTS (SELECT 1 FROM blocklist b
                      WHERE b.owner = split_part(r.contact, '@', 1)
                        AND b.jid IN (p_owner_jid, split_part(p_owner_jid, '@', 2)))
    UNION ALL
    SELECT 'r', r.contact, NULL, NULL, NULL, NULL, r.request, NULL
    FROM roster_items r
    WHERE r.owner = p_owner AND r.pending_in
$$;
