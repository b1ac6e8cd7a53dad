-- Unread counts leave edits out. Since 0009 a correction, a retraction, a
-- moderation and a reaction each travel and are stored as a message, so
-- parley_unread_counts (0003) and parley_room_unread (0004) counted them:
-- a reaction raised the other side's badge. They now count only messages
-- that are something new to read: no edit message (message_edit_links
-- names every one), and no message retracted since (its tombstone).
-- A reply is a message of its own and still counts. Same signatures, so
-- the views on them (unread_counts, room_unread) stay as they are.

CREATE OR REPLACE FUNCTION parley_unread_counts(p_user text)
RETURNS TABLE (peer text, unread bigint)
LANGUAGE sql STABLE
AS $$
    SELECT p.sender, c.n
    FROM direct_read_positions p
    CROSS JOIN LATERAL (
        SELECT count(*) AS n
        FROM messages m
        JOIN deliveries d ON d.message_id = m.id AND d.recipient = p.recipient
        WHERE least(m.sender, m.recipient) = least(p.sender, p.recipient)
          AND greatest(m.sender, m.recipient) = greatest(p.sender, p.recipient)
          AND m.kind = 'chat'
          AND m.id > p.displayed_id
          AND m.sender = p.sender
          AND d.state <> 'displayed'
          AND NOT EXISTS (SELECT 1 FROM message_edit_links e WHERE e.message_id = m.id)
          AND NOT EXISTS (SELECT 1 FROM message_tombstones t WHERE t.message_id = m.id)) c
    WHERE p.recipient = p_user AND c.n > 0
    ORDER BY p.sender
$$;

CREATE OR REPLACE FUNCTION parley_room_unread(p_room uuid, p_username text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT count(*)
    FROM room_positions p
    JOIN rooms r ON r.id = p.room_id
    JOIN messages m ON m.kind = 'groupchat' AND m.room = r.jid AND m.id > p.displayed_id
    WHERE p.room_id = p_room AND p.username = p_username
      AND NOT EXISTS (SELECT 1 FROM message_edit_links e WHERE e.message_id = m.id)
      AND NOT EXISTS (SELECT 1 FROM message_tombstones t WHERE t.message_id = m.id)
$$;
