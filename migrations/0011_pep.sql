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
