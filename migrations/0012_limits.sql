-- PARLEY_LIMIT_OFFLINE_QUEUE (SECURITY.md): a bound on what waits for one
-- recipient. The loop calls this instead of parley_store_message only for a
-- recipient with no available session on the node (the store then counts
-- what waits for them); a message to someone online takes the unbounded
-- store unchanged, so the hot path costs nothing more. The count reads the
-- recipient's rows of deliveries_unsettled (its primary key is led by the
-- recipient), at most p_limit of them: while a recipient is offline those
-- are the rows still to deliver. A recipient that does not exist is
-- treated the same (there is no account table to ask, and asking would
-- tell a prober which accounts exist).
--
-- Returns parley_store_message's row, or id -1 (nothing stored) when
-- p_limit rows already wait: the sender is told resource-constraint.
CREATE FUNCTION parley_store_message_bounded(p_sender text, p_recipient text,
                                             p_stanza_id text, p_body text,
                                             p_stanza text, p_limit integer)
RETURNS TABLE (id bigint, created_at timestamptz, inserted boolean, pending boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
    IF p_limit > 0 AND (SELECT count(*) FROM (SELECT 1 FROM deliveries_unsettled u
                                              WHERE u.recipient = p_recipient
                                              LIMIT p_limit) w) >= p_limit THEN
        RETURN QUERY SELECT -1::bigint, clock_timestamp(), false, false;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM parley_store_message(p_sender, p_recipient, p_stanza_id,
                                                    p_body, p_stanza);
END
$$;
