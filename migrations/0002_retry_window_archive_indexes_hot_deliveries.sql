-- 0002: idempotence only for a true retry; the archive's conversation and
-- room indexes; delivery-state updates that PostgreSQL can do as HOT
-- updates.
--
-- Run by the migrator in one transaction with its schema_migrations row, like
-- 0001. Append-only: once landed, change the schema in a new file.

-- ---------------------------------------------------------------------------
-- 1. A reused stanza id is a new message unless it is a true retry.
--
-- 0001 made (sender, stanza_id) unique forever, so a client that counts ids
-- from 1 in every session (RFC 6120 only makes ids unique within a stream)
-- lost its second "1", even to another recipient, without an error. A retry
-- is now the same sender, the same recipient, the same stanza id and the
-- same body as the most recent message with that key, stored less than
-- parley_retry_window() ago. Anything else is a new message with its own
-- delivery row.
-- ---------------------------------------------------------------------------

ALTER TABLE messages DROP CONSTRAINT messages_sender_stanza_id_key;

-- How long after a message a copy of it is still taken for a retry. Clients
-- resend what the server had not acknowledged when they reconnect or resume
-- a stream (XEP-0198), and a resumable session lives at most a few minutes
-- (Prosody keeps one 10 minutes, ejabberd 5): past that, the same id and
-- body is more likely a new message (a bot saying "ok" again, counting ids
-- from 1) than a retry, and merging would drop it. A duplicate delivered is
-- the lesser harm; a new message dropped is the one we must not do.
CREATE FUNCTION parley_retry_window()
RETURNS interval
LANGUAGE sql IMMUTABLE
AS $$ SELECT interval '10 minutes' $$;

-- The retry check and XEP-0184 receipts: the messages a sender sent to a
-- recipient with a stanza id, newest last. Not partial (WHERE stanza_id IS
-- NOT NULL would be smaller): its (sender, recipient) prefix also serves a
-- conversation written as (sender = a AND recipient = b) OR (sender = b AND
-- recipient = a), which would otherwise be a scan of the whole table.
CREATE INDEX messages_direct_stanza_id
    ON messages (sender, recipient, stanza_id, id);

-- The key of the advisory lock that serialises stores of one (sender,
-- recipient, stanza id). Two-integer advisory keys are a space of their own,
-- apart from the migrator's one-bigint lock; the class number says "dedup".
-- A hash collision only makes two unrelated stores wait for each other.
CREATE FUNCTION parley_dedup_lock_key(p_sender text, p_target text, p_stanza_id text)
RETURNS int
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT hashtext(p_sender || chr(31) || p_target || chr(31) || p_stanza_id) $$;

-- Stores a direct message and its 'stored' delivery row, unless it is a
-- retry of the latest message with the same sender, recipient and stanza id
-- (same body, within the window): then it returns that message with
-- inserted = false, and pending = true while it is still 'stored' for the
-- recipient (a retry after an unknown outcome must still be routed then).
--
-- Why an advisory lock. Without a unique constraint, two transactions that
-- store the same retry at once would both find nothing and both insert. On
-- one node that cannot happen (the store shards by recipient: one worker
-- handles a recipient's stores in order), but several nodes may share the
-- database and a client may resend to a second node while the first one's
-- batch is still open. pg_advisory_xact_lock on the key makes the second
-- wait for the first to commit; the SELECT that follows takes a new
-- snapshot (READ COMMITTED) and sees the first row. The other choice, a
-- unique key over a hash of the body and a time bucket, would need a second
-- index beside the one receipts need anyway, and it cuts the window at
-- bucket edges (a retry one second after a boundary is a new message). The
-- lock costs one entry in the shared lock table per stored message with an
-- id until the batch commits: at most DB_BATCH_MAX (256) per store worker,
-- well within max_locks_per_transaction (64) x max_connections shared slots
-- for a few nodes; raise max_locks_per_transaction for many more workers.
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
    v_body text;
BEGIN
    IF p_stanza_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(
            1684366694, -- 'dedf'
            parley_dedup_lock_key(p_sender, p_recipient, p_stanza_id));
        SELECT m.id, m.created_at, m.body INTO v_id, v_created_at, v_body
        FROM messages m
        WHERE m.sender = p_sender AND m.recipient = p_recipient
          AND m.stanza_id = p_stanza_id
        ORDER BY m.id DESC
        LIMIT 1;
        IF v_id IS NOT NULL AND v_body IS NOT DISTINCT FROM p_body
           AND v_created_at > clock_timestamp() - parley_retry_window() THEN
            RETURN QUERY
                SELECT v_id, v_created_at, false,
                       EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.message_id = v_id AND d.recipient = p_recipient
                                 AND d.state = 'stored');
            RETURN;
        END IF;
    END IF;

    INSERT INTO messages AS m (kind, sender, recipient, stanza_id, body, stanza)
    VALUES ('chat', p_sender, p_recipient, p_stanza_id, p_body, p_stanza)
    RETURNING m.id, m.created_at INTO v_id, v_created_at;
    INSERT INTO deliveries (message_id, recipient) VALUES (v_id, p_recipient);
    RETURN QUERY SELECT v_id, v_created_at, true, true;
END
$$;

-- An XEP-0184 receipt names the original message by its sender and stanza
-- id, and ids now repeat: the receipt is for the most recent message with
-- that id from p_sender to whoever sent the receipt (a client acknowledges
-- what it has just received). Only the receipt sender's row can change, so a
-- third party quoting the id changes nothing.
CREATE OR REPLACE FUNCTION parley_mark_received(p_sender text, p_stanza_id text,
                                                p_recipient text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries d
    SET state = 'received'
    WHERE d.message_id = (SELECT m.id FROM messages m
                          WHERE m.sender = p_sender AND m.recipient = p_recipient
                            AND m.stanza_id = p_stanza_id
                          ORDER BY m.id DESC
                          LIMIT 1)
      AND d.recipient = p_recipient
      AND d.state IN ('stored', 'delivered');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- ---------------------------------------------------------------------------
-- 2. The archive: the last messages of a conversation and of a room.
--
-- Without these, "the last 50 messages between alice and bob" is a backward
-- scan of the primary key that filters every message of everyone until it
-- has found 50: the whole table for a pair with few messages.
-- ---------------------------------------------------------------------------

-- A direct conversation is the same whichever of the two sent a message:
-- the pair is keyed in a fixed order, so one index range holds both
-- directions, newest last (scanned backward for "the last N"). Queries write
-- least(sender, recipient) / greatest(sender, recipient) to use it.
CREATE INDEX messages_conversation
    ON messages (least(sender, recipient), greatest(sender, recipient), id)
    WHERE kind = 'chat';

CREATE INDEX messages_room
    ON messages (room, id)
    WHERE kind = 'groupchat';

-- ---------------------------------------------------------------------------
-- 3. Delivery-state updates as HOT updates.
--
-- PostgreSQL can update a row without touching its indexes (a heap-only
-- tuple, HOT) only when no indexed column changes, predicates of partial
-- indexes included, and the new version fits on the same page. 0001 indexed
-- `state` (deliveries_stored_by_recipient, WHERE state = 'stored') and
-- `delivered_via` (deliveries_by_session), so each of stored -> delivered,
-- -> received and the clean session end's `delivered_via = NULL` wrote new
-- entries into every index: three non-HOT updates for a message with a
-- receipt. Now deliveries keeps only its primary key, which no update
-- changes, and the two lookups those indexes served have small tables of
-- their own, kept by the functions and the state trigger:
--
--   offline_queue          (recipient, message_id): the rows still 'stored',
--                          so loading an offline backlog reads only it;
--   deliveries_in_flight   (via, message_id, recipient): the rows written to
--                          a session that has not ended, so a session's end
--                          finds them; a clean end now deletes these rows
--                          and leaves deliveries alone.
--
-- deliveries.delivered_via stays as the last session a row was written to
-- (for the admin API), no longer cleared at the end of a session.
-- ---------------------------------------------------------------------------

CREATE TABLE offline_queue (
    recipient  text NOT NULL,            -- bare JID
    message_id bigint NOT NULL,
    PRIMARY KEY (recipient, message_id)
);

CREATE TABLE deliveries_in_flight (
    via        text NOT NULL,            -- the session, 'node/...'
    message_id bigint NOT NULL,
    recipient  text NOT NULL,
    PRIMARY KEY (via, message_id, recipient)
);

-- What 0001's indexes held: 'stored' rows, and rows whose session has not
-- ended (0001 cleared delivered_via when it did).
INSERT INTO offline_queue (recipient, message_id)
    SELECT recipient, message_id FROM deliveries WHERE state = 'stored';
INSERT INTO deliveries_in_flight (via, message_id, recipient)
    SELECT delivered_via, message_id, recipient FROM deliveries
    WHERE delivered_via IS NOT NULL;

DROP INDEX deliveries_by_session;
DROP INDEX deliveries_stored_by_recipient;

-- Room on each page for the new versions of its rows: a row is updated two
-- or three times soon after it is inserted, and a HOT update needs the new
-- version on the same page. (Applies to pages written from now on.)
ALTER TABLE deliveries SET (fillfactor = 80);

-- States only move up (0001's rules), and the offline queue follows the
-- state: a row leaving 'stored' leaves the queue, a requeued row joins it.
-- The one move back is a requeue, 'delivered' to 'stored' with
-- delivered_via cleared, and only for a row still in flight on the session
-- it was written to (a row settled by a clean end never goes back).
CREATE OR REPLACE FUNCTION parley_deliveries_monotonic()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    new_rank int := parley_delivery_state_rank(NEW.state);
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.state = 'delivered' AND NEW.state = 'stored' THEN
        IF NEW.delivered_via IS NULL AND OLD.delivered_via IS NOT NULL
           AND EXISTS (SELECT 1 FROM deliveries_in_flight f
                       WHERE f.via = OLD.delivered_via
                         AND f.message_id = OLD.message_id
                         AND f.recipient = OLD.recipient) THEN
            NEW.delivered_at := NULL;
            INSERT INTO offline_queue (recipient, message_id)
            VALUES (NEW.recipient, NEW.message_id)
            ON CONFLICT DO NOTHING;
            RETURN NEW;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND new_rank < parley_delivery_state_rank(OLD.state) THEN
        RETURN NULL;
    END IF;
    IF new_rank >= 1 AND NEW.delivered_at IS NULL THEN
        NEW.delivered_at := now();
    END IF;
    IF new_rank >= 2 AND NEW.received_at IS NULL THEN
        NEW.received_at := now();
    END IF;
    IF new_rank >= 3 AND NEW.displayed_at IS NULL THEN
        NEW.displayed_at := now();
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state = 'stored' THEN
        DELETE FROM offline_queue
        WHERE recipient = OLD.recipient AND message_id = OLD.message_id;
    END IF;
    RETURN NEW;
END
$$;

-- A row inserted 'stored' joins the queue, whoever inserts it.
CREATE FUNCTION parley_deliveries_enqueue()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO offline_queue (recipient, message_id)
    VALUES (NEW.recipient, NEW.message_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_enqueue
    AFTER INSERT ON deliveries
    FOR EACH ROW WHEN (NEW.state = 'stored')
    EXECUTE FUNCTION parley_deliveries_enqueue();

-- Deleted deliveries (a message deleted, and its rows with it by the
-- cascade) leave no queue or in-flight row behind. Once per statement, from
-- the transition table: deletes are rare and may be many rows at once.
CREATE FUNCTION parley_deliveries_forget()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM offline_queue q USING gone g
    WHERE q.recipient = g.recipient AND q.message_id = g.message_id;
    DELETE FROM deliveries_in_flight f USING gone g
    WHERE f.via = g.delivered_via AND f.message_id = g.message_id
      AND f.recipient = g.recipient;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_forget
    AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT
    EXECUTE FUNCTION parley_deliveries_forget();

-- stored -> delivered for one recipient, recording the session it was
-- written to; returns the rows changed (0 when the row had already moved
-- on, which makes a retry harmless). The store's batched statement
-- (mark_delivered_many in db/db_jobs.c) does the same for many rows.
CREATE OR REPLACE FUNCTION parley_mark_delivered(p_message_id bigint, p_recipient text,
                                                 p_via text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries
    SET state = 'delivered', delivered_via = p_via
    WHERE message_id = p_message_id
      AND recipient = p_recipient
      AND state = 'stored';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 AND p_via IS NOT NULL THEN
        INSERT INTO deliveries_in_flight (via, message_id, recipient)
        VALUES (p_via, p_message_id, p_recipient)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN n;
END
$$;

-- A session ended. Cleanly (the client closed the stream): what was written
-- to it stays 'delivered', and only its in-flight rows go. Not cleanly (the
-- connection died, or the server closed it): what it had not acknowledged
-- with a receipt goes back to 'stored' for the next login, at least once
-- (PROTOCOL.md). Returns the number of rows put back.
CREATE OR REPLACE FUNCTION parley_session_end(p_via text, p_clean boolean)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int := 0;
BEGIN
    IF NOT p_clean THEN
        UPDATE deliveries d
        SET state = 'stored', delivered_via = NULL
        FROM deliveries_in_flight f
        WHERE f.via = p_via
          AND d.message_id = f.message_id AND d.recipient = f.recipient
          AND d.state = 'delivered';
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    DELETE FROM deliveries_in_flight WHERE via = p_via;
    RETURN n;
END
$$;

-- A node starts: every session it had died with it. Session names are
-- 'node/...', so this requeues what its earlier run wrote and nobody read.
-- Once per start: a scan of the in-flight rows is fine.
CREATE OR REPLACE FUNCTION parley_node_restart(p_node text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries d
    SET state = 'stored', delivered_via = NULL
    FROM deliveries_in_flight f
    WHERE starts_with(f.via, p_node || '/')
      AND d.message_id = f.message_id AND d.recipient = f.recipient
      AND d.state = 'delivered';
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM deliveries_in_flight WHERE starts_with(via, p_node || '/');
    DELETE FROM sessions WHERE node = p_node;
    RETURN n;
END
$$;
