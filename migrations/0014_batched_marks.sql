-- Delivery marks of a store batch, one statement per kind, planned for the
-- arrays they are given.
--
-- A batch's delivered marks were one prepared UPDATE joining arrays to
-- deliveries. Its plan was cached while the tables were small (a new
-- database) and kept scanning deliveries whole as they grew: a batch of 68
-- marks took 170 ms at 42,000 deliveries, 2.8 ms for 92 once replanned
-- (pg_stat_statements, tests/bench/run with BENCH_PROFILE=1). These
-- functions plan each call for its arrays (plan_cache_mode), one planning
-- per batch rather than per mark; parley_mark_acked (0007), the same join
-- for XEP-0198 acknowledgements, gets the same setting.
--
-- Receipts were one parley_mark_received call each; a batch's receipts are
-- now one parley_mark_received_many, which does what parley_mark_received
-- does for every element: the sender's message with that stanza id to that
-- recipient, moved on to 'received' from 'stored' or 'delivered' (the
-- deliveries_monotonic trigger stamps it and settles it).

CREATE FUNCTION parley_mark_delivered_many(p_ids bigint[], p_recipients text[],
                                           p_vias text[])
RETURNS int
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries d SET state = 'delivered', delivered_via = u.via
    FROM unnest(p_ids, p_recipients, p_vias) AS u(id, recipient, via)
    WHERE d.message_id = u.id AND d.recipient = u.recipient AND d.state = 'stored';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE FUNCTION parley_mark_received_many(p_senders text[], p_stanza_ids text[],
                                          p_recipients text[])
RETURNS int
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries d SET state = 'received'
    FROM (SELECT DISTINCT m.id, u.recipient
          FROM unnest(p_senders, p_stanza_ids, p_recipients) AS u(sender, stanza_id, recipient)
          JOIN messages m
            ON parley_stanza_key(m.sender, m.recipient, m.stanza_id)
               = parley_stanza_key(u.sender, u.recipient, u.stanza_id)
           AND m.stanza_id IS NOT NULL AND NOT m.superseded
           AND m.sender = u.sender AND m.recipient = u.recipient
           AND m.stanza_id = u.stanza_id) r
    WHERE d.message_id = r.id AND d.recipient = r.recipient
      AND d.state IN ('stored', 'delivered');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

ALTER FUNCTION parley_mark_acked(bigint[], text[], text[])
    SET plan_cache_mode = force_custom_plan;
