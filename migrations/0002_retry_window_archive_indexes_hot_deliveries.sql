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
-- same body as the most recent message with that key (its head), stored
-- less than parley_retry_window() ago. Anything else is a new message with its own
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

-- The key of a (sender, recipient, stanza id): a 64-bit hash, so the index
-- over it holds small fixed-size keys rather than three strings of up to a
-- kilobyte each compared by collation on every insert. hashtextextended is
-- the hash PostgreSQL's hash partitioning relies on, so it stays the same
-- across upgrades. Every use compares the three values too.
CREATE FUNCTION parley_stanza_key(p_sender text, p_target text, p_stanza_id text)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT hashtextextended(p_sender || chr(31) || p_target || chr(31) || p_stanza_id, 0) $$;

-- The latest message of each key is its head; an earlier one is superseded
-- (set when a new message reuses the key: rare, so the update is cheap).
ALTER TABLE messages ADD COLUMN superseded boolean NOT NULL DEFAULT false;

-- Two rows of 0001 can share a key only by a hash collision (0001 kept
-- (sender, stanza_id) unique); the newer one is the head.
UPDATE messages SET superseded = true
WHERE id IN (SELECT id FROM (
                 SELECT id, row_number() OVER (
                     PARTITION BY parley_stanza_key(sender, recipient, stanza_id)
                     ORDER BY id DESC) AS n
                 FROM messages WHERE stanza_id IS NOT NULL) AS k
             WHERE n > 1);

-- At most one head per key. It serves the retry check (the head is what a
-- retry repeats), the race between two stores of one key, and XEP-0184
-- receipts (the head is the message a receipt acknowledges).
CREATE UNIQUE INDEX messages_stanza_head
    ON messages (parley_stanza_key(sender, recipient, stanza_id))
    WHERE stanza_id IS NOT NULL AND NOT superseded;

-- Stores a direct message and its 'stored' delivery row, unless it is a
-- retry of the head of its key (same sender, recipient and stanza id, same
-- body, stored within the window): then it returns that message with
-- inserted = false, and pending = true while it is still 'stored' for the
-- recipient (a retry after an unknown outcome must still be routed then).
--
-- Why a unique index on the heads. A new key (nearly every message) costs
-- one insert, as 0001's ON CONFLICT on (sender, stanza_id) did: no lookup
-- before it and no lock. And it is safe across nodes: on one node two
-- stores of a key cannot race (the store shards by recipient, so one worker
-- handles a recipient's stores in order), but several nodes may share the
-- database and a client may resend on a second node while the first node's
-- batch is still open. The second insert then waits on the first's index
-- entry, and once the first commits it conflicts and finds the first row as
-- the head. A key that has a head is looked at under FOR UPDATE: a retry
-- returns the head; anything else marks the head superseded and inserts
-- again. Two stores that supersede one head take turns on its row lock; the
-- second then finds the head superseded, and goes round again with the
-- first's new message as the head. (Measured against the other choice, an
-- advisory lock and a lookup before every insert: that cost about 15
-- microseconds more per message. A unique key over a body hash and a time
-- bucket would cut the window at bucket edges.)
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
BEGIN
    -- A few rounds: each one that does not end means another store of the
    -- same key committed in between; more than a few is a storm of stores
    -- of one key, and failing this job (the sender gets an error) is fine.
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

-- An XEP-0184 receipt names the original message by its sender and stanza
-- id, and ids now repeat: the receipt is for the most recent message with
-- that id from p_sender to whoever sent the receipt, the head of the key (a
-- client acknowledges what it has just received). Only the receipt sender's row can change, so a
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
    WHERE d.message_id = (
            SELECT m.id FROM messages m
            WHERE parley_stanza_key(m.sender, m.recipient, m.stanza_id)
                  = parley_stanza_key(p_sender, p_recipient, p_stanza_id)
              AND m.stanza_id IS NOT NULL AND NOT m.superseded
              AND m.sender = p_sender AND m.recipient = p_recipient
              AND m.stanza_id = p_stanza_id)
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

-- A direct conversation is the same whichever of the two sent a message, so
-- its key is symmetric: the XOR of the two JIDs' hashes (one JID's own hash,
-- seeded apart, for notes to oneself, which would otherwise all share 0).
-- One index range then holds both directions, newest last, scanned backward
-- for "the last N"; a fixed-size key is cheaper to insert than two strings.
-- Queries filter on the key, then on the exact pair:
--   WHERE kind = 'chat' AND parley_pair_key(sender, recipient) = parley_pair_key(a, b)
--     AND ((sender = a AND recipient = b) OR (sender = b AND recipient = a))
-- Not STRICT: PostgreSQL inlines a SQL function into the index expression
-- only when nothing stops it (a STRICT one whose body is not strict, like
-- this CASE, is called instead, at a cost on every insert).
CREATE FUNCTION parley_pair_key(p_a text, p_b text)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_a = p_b THEN hashtextextended(p_a, 1)
                ELSE hashtextextended(p_a, 0) # hashtextextended(p_b, 0) END
$$;

CREATE INDEX messages_conversation
    ON messages (parley_pair_key(sender, recipient), id)
    WHERE kind = 'chat';

CREATE INDEX messages_room
    ON messages (room, id)
    WHERE kind = 'groupchat';

-- What the planner knows of the pair keys (statistics of a partial
-- index's expression are not used): how many messages each conversation
-- holds, so that a busy one is read newest first through the index.
CREATE STATISTICS messages_pair_key ON (parley_pair_key(sender, recipient)) FROM messages;

-- The two reads, written once so that every caller uses the indexes: the
-- last p_limit messages (newest first) of the conversation between p_a and
-- p_b, or of room p_room, before archive id p_before (NULL: the newest).
--
-- The conversation reads the pair key's index range newest first, p_limit
-- at a time, skipping another pair's messages should two keys collide (so
-- a collision costs another round, never a short page). As one query with
-- the exact pair in its WHERE, the planner takes the pair test for
-- independent of the key, expects a handful of rows and reads them all to
-- sort them (measured at 1M messages: 177 ms for a pair with 100,000); with
-- only the key and a LIMIT it reads the newest through the index.
CREATE FUNCTION parley_conversation(p_a text, p_b text, p_before bigint, p_limit int)
RETURNS SETOF messages
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    r messages;
    v_key bigint := parley_pair_key(p_a, p_b);
    v_before bigint := p_before;
    v_want int;
    v_got int;
    n int := 0;
BEGIN
    WHILE n < p_limit LOOP
        v_want := p_limit - n;
        v_got := 0;
        FOR r IN
            SELECT * FROM messages m
            WHERE m.kind = 'chat' AND parley_pair_key(m.sender, m.recipient) = v_key
              AND (v_before IS NULL OR m.id < v_before)
            ORDER BY m.id DESC
            LIMIT v_want
        LOOP
            v_got := v_got + 1;
            v_before := r.id;
            CONTINUE WHEN NOT ((r.sender = p_a AND r.recipient = p_b)
                               OR (r.sender = p_b AND r.recipient = p_a));
            RETURN NEXT r;
            n := n + 1;
        END LOOP;
        EXIT WHEN v_got < v_want; -- the conversation has no older message
    END LOOP;
END
$$;

CREATE FUNCTION parley_room_history(p_room text, p_before bigint, p_limit int)
RETURNS SETOF messages
LANGUAGE sql STABLE
AS $$
    SELECT * FROM messages m
    WHERE m.kind = 'groupchat' AND m.room = p_room
      AND (p_before IS NULL OR m.id < p_before)
    ORDER BY m.id DESC
    LIMIT p_limit
$$;

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
-- changes, and what those two indexes found is one small table:
--
--   deliveries_unsettled (recipient, message_id): the rows that are not
--   settled yet, that is every row still 'stored' (the offline queue) and
--   every row written to a session that has not ended (what that session's
--   end must requeue or settle). Readers check deliveries.state.
--
-- A new row joins it in the statement that stores it (a trigger per
-- message cost more). A delivered mark only updates deliveries: the row
-- stays unsettled until its session ends. A session's end then finds its
-- rows among its user's unsettled ones (delivered_via says which session),
-- requeues them if it was not clean, and deletes the unsettled rows of
-- what is no longer 'stored': one statement per session, not one write per
-- message, and a clean end no longer updates deliveries at all. Measured
-- against a table of in-flight rows written by every delivered mark, this
-- is one insert per message less. The state trigger handles the rare
-- moves: a requeue, and a row leaving 'stored' without being written to a
-- session (a receipt that overtakes the delivered mark).
--
-- deliveries.delivered_via stays as the last session a row was written to
-- (for the admin API), no longer cleared at the end of a session.
-- ---------------------------------------------------------------------------

CREATE TABLE deliveries_unsettled (
    recipient  text NOT NULL,            -- bare JID
    message_id bigint NOT NULL,
    PRIMARY KEY (recipient, message_id)
);

-- What 0001's indexes held: 'stored' rows, and rows whose session has not
-- ended (0001 cleared delivered_via when it did).
INSERT INTO deliveries_unsettled (recipient, message_id)
    SELECT recipient, message_id FROM deliveries
    WHERE state = 'stored' OR delivered_via IS NOT NULL;

DROP INDEX deliveries_by_session;
DROP INDEX deliveries_stored_by_recipient;

-- Room on each page for the new versions of its rows: a row is updated two
-- or three times soon after it is inserted, and a HOT update needs the new
-- version on the same page. (Applies to pages written from now on.)
ALTER TABLE deliveries SET (fillfactor = 80);

-- States only move up (0001's rules). The one move back is a requeue,
-- 'delivered' to 'stored' with delivered_via cleared, and only for a row
-- still unsettled (a row settled by a clean end never goes back). A row
-- that leaves 'stored' other than by being written to a session is settled
-- at once.
CREATE OR REPLACE FUNCTION parley_deliveries_monotonic()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    new_rank int := parley_delivery_state_rank(NEW.state);
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.state = 'delivered' AND NEW.state = 'stored' THEN
        IF NEW.delivered_via IS NULL AND OLD.delivered_via IS NOT NULL
           AND EXISTS (SELECT 1 FROM deliveries_unsettled u
                       WHERE u.recipient = OLD.recipient
                         AND u.message_id = OLD.message_id) THEN
            NEW.delivered_at := NULL;
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
    IF TG_OP = 'UPDATE' AND OLD.state = 'stored'
       AND NOT (NEW.state = 'delivered' AND NEW.delivered_via IS NOT NULL) THEN
        DELETE FROM deliveries_unsettled
        WHERE recipient = OLD.recipient AND message_id = OLD.message_id;
    END IF;
    RETURN NEW;
END
$$;

-- Deleted deliveries (a message deleted, and its rows with it by the
-- cascade) leave no unsettled row behind. Once per statement, from the
-- transition table: deletes are rare and may be many rows at once.
CREATE FUNCTION parley_deliveries_forget()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM deliveries_unsettled u USING gone g
    WHERE u.recipient = g.recipient AND u.message_id = g.message_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_forget
    AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT
    EXECUTE FUNCTION parley_deliveries_forget();

-- What a session's end settles: the unsettled rows of its user that were
-- written to it and are no longer 'stored' (after a requeue, the requeued
-- ones are 'stored' again and stay). Returns the rows settled.
CREATE FUNCTION parley_session_settle(p_via text, p_recipient text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM deliveries_unsettled u USING deliveries d
    WHERE u.recipient = p_recipient
      AND d.message_id = u.message_id AND d.recipient = u.recipient
      AND d.delivered_via = p_via AND d.state <> 'stored';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- A session of p_recipient ended. Cleanly (the client closed the stream):
-- what was written to it stays 'delivered'. Not cleanly (the connection
-- died, or the server closed it): what it had not acknowledged with a
-- receipt goes back to 'stored' for the next login, at least once
-- (PROTOCOL.md). Either way the rest is settled. Returns the number of rows
-- put back. (0001's parley_session_end(via, clean) did not need the
-- recipient: it had an index on delivered_via.)
DROP FUNCTION parley_session_end(text, boolean);
CREATE FUNCTION parley_session_end(p_via text, p_recipient text, p_clean boolean)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int := 0;
BEGIN
    IF NOT p_clean THEN
        UPDATE deliveries d
        SET state = 'stored', delivered_via = NULL
        FROM deliveries_unsettled u
        WHERE u.recipient = p_recipient
          AND d.message_id = u.message_id AND d.recipient = u.recipient
          AND d.delivered_via = p_via AND d.state = 'delivered';
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    PERFORM parley_session_settle(p_via, p_recipient);
    RETURN n;
END
$$;

-- A node starts: every session it had died with it. Session names are
-- 'node/...', so this requeues what its earlier run wrote and nobody read,
-- and settles the rest. Once per start: a scan of the unsettled rows (the
-- offline backlog and what live sessions have not settled) is fine.
CREATE OR REPLACE FUNCTION parley_node_restart(p_node text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries d
    SET state = 'stored', delivered_via = NULL
    FROM deliveries_unsettled u
    WHERE d.message_id = u.message_id AND d.recipient = u.recipient
      AND starts_with(d.delivered_via, p_node || '/') AND d.state = 'delivered';
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM deliveries_unsettled u USING deliveries d
    WHERE d.message_id = u.message_id AND d.recipient = u.recipient
      AND starts_with(d.delivered_via, p_node || '/') AND d.state <> 'stored';
    DELETE FROM sessions WHERE node = p_node;
    RETURN n;
END
$$;
