-- XEP-0198 stream management (server/chat/chat_sm.c, server/xmpp/xmpp_sm.c).
--
-- With stream management on, a stored message written to a session stays
-- 'stored' until the client's <a h/> covers it; nothing moves at the write,
-- so a connection that dies, a resumption window that ends, a restart or
-- the unacked bound need no statement at all: what was not acknowledged is
-- still 'stored' and goes to the user's other sessions or the next login.
--
-- An acknowledgement is better news than a write: the client says it has
-- the message. So the ack marks it 'delivered' and settles it in the same
-- statement (0002's deliveries_unsettled keeps a delivered row only for the
-- session's end to requeue; an acknowledged row must never be requeued,
-- not even by parley_node_restart after a crash). One call per store batch,
-- over arrays, as DB_JOB_MARK_DELIVERED does (db/db_jobs.c).
CREATE FUNCTION parley_mark_acked(p_ids bigint[], p_recipients text[], p_vias text[])
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    WITH u AS (
        SELECT * FROM unnest(p_ids, p_recipients, p_vias) AS u(id, recipient, via)
    ), moved AS (
        UPDATE deliveries d SET state = 'delivered', delivered_via = u.via
        FROM u
        WHERE d.message_id = u.id AND d.recipient = u.recipient AND d.state = 'stored'
        RETURNING d.message_id, d.recipient
    )
    DELETE FROM deliveries_unsettled x USING moved
    WHERE x.recipient = moved.recipient AND x.message_id = moved.message_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
