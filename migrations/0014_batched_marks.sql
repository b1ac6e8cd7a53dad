-- Delivery marks of a store batch, one call per kind, each element by its
-- key.
--
-- A batch's delivered marks were one prepared UPDATE joining arrays to
-- deliveries. Its plan was cached while the tables were small (a new
-- database) and kept scanning deliveries whole as they grew: a batch of 68
-- marks took 170 ms at 42,000 deliveries, 2.8 ms for 92 once replanned
-- (pg_stat_statements, tests/bench/run with BENCH_PROFILE=1). Planning
-- each call for its arrays cured that but cost a planning per batch (1-2
-- ms, more PostgreSQL CPU at low rates, where batches are small). So these
-- functions take the elements one by one through the one-message functions
-- (parley_mark_delivered, parley_mark_received: 0001, 0002), each an UPDATE
-- by the full key (deliveries' primary key; for a receipt,
-- messages_stanza_head), whose cached plan is that index however small the
-- table was when it was made; the deliveries_monotonic trigger costs each
-- row as much anyway.
-- parley_mark_acked (0007), the same join for XEP-0198 acknowledgements,
-- is rewritten the same way.
--
-- Receipts were one parley_mark_received call each; a batch's receipts are
-- now one parley_mark_received_many, which does what parley_mark_received
-- does for every element.

CREATE FUNCTION parley_mark_delivered_many(p_ids bigint[], p_recipients text[],
                                           p_vias text[])
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int := 0;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        n := n + parley_mark_delivered(p_ids[i], p_recipients[i], p_vias[i]);
    END LOOP;
    RETURN n;
END
$$;

CREATE FUNCTION parley_mark_received_many(p_senders text[], p_stanza_ids text[],
                                          p_recipients text[])
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int := 0;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_senders, 1), 0) LOOP
        n := n + parley_mark_received(p_senders[i], p_stanza_ids[i], p_recipients[i]);
    END LOOP;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION parley_mark_acked(p_ids bigint[], p_recipients text[],
                                             p_vias text[])
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int := 0;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        IF parley_mark_delivered(p_ids[i], p_recipients[i], p_vias[i]) > 0 THEN
            DELETE FROM deliveries_unsettled x
            WHERE x.recipient = p_recipients[i] AND x.message_id = p_ids[i];
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
