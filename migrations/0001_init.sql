-- 0001_init: users, direct messages, per-recipient delivery state, sessions.
--
-- The migrator (db/db_migrate.c) runs this file inside one transaction
-- together with its schema_migrations row, so it has no BEGIN/COMMIT of its
-- own. Append-only: once landed, change the schema in a new file.

-- ---------------------------------------------------------------------------
-- users: provisioned on first login (the JWT is the authority; this row
-- carries what the server itself must remember about a user).
-- ---------------------------------------------------------------------------
CREATE TABLE users (
    username      text PRIMARY KEY,
    display_name  text,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    last_seen_at  timestamptz,
    -- The localpart is normalised (lower case) before it gets here; a second
    -- spelling of the same user must never become a second account.
    CONSTRAINT users_username_nonempty CHECK (username <> ''),
    CONSTRAINT users_username_lower CHECK (username = lower(username))
);

-- ---------------------------------------------------------------------------
-- messages: the archive, direct and room messages alike. The identity is the
-- archive id returned to clients as the XEP-0359 <stanza-id/>.
--
-- Partitioning by month later: a partitioned table needs the partition key in
-- every unique constraint, so that issue will turn the primary key into
-- (id, created_at) and move the (sender, stanza_id) dedup into its own small
-- table. Nothing else here (no foreign key into messages but deliveries')
-- depends on the present shape.
-- ---------------------------------------------------------------------------
CREATE TABLE messages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL,
    sender     text NOT NULL,            -- bare JID
    recipient  text,                     -- bare JID, kind 'chat'
    room       text,                     -- room bare JID, kind 'groupchat'
    stanza_id  text,                     -- the client's id, may be NULL
    body       text,
    stanza     text NOT NULL,            -- the serialised stanza, `from` stamped
    -- clock_timestamp, not now(): a group commit puts many messages in one
    -- transaction and their times should still differ.
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT messages_kind_valid CHECK (kind IN ('chat', 'groupchat')),
    CONSTRAINT messages_target_matches_kind CHECK (
        (kind = 'chat' AND recipient IS NOT NULL AND room IS NULL)
        OR (kind = 'groupchat' AND room IS NOT NULL AND recipient IS NULL)),
    -- Idempotent store: a client (or a store worker after an unknown commit
    -- outcome) may send the same message again. NULL stanza ids are distinct,
    -- so a message without an id is never taken for a duplicate.
    -- The unique index also serves parley_mark_received's lookup.
    CONSTRAINT messages_sender_stanza_id_key UNIQUE (sender, stanza_id)
);

-- ---------------------------------------------------------------------------
-- deliveries: one row per (message, recipient), the delivery state machine.
-- ---------------------------------------------------------------------------
CREATE TABLE deliveries (
    message_id   bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    recipient    text NOT NULL,          -- bare JID
    state        text NOT NULL DEFAULT 'stored',
    delivered_at timestamptz,
    received_at  timestamptz,
    displayed_at timestamptz,
    -- The session a 'delivered' row was written to, until that session ends:
    -- cleanly (cleared) or not (the row goes back to 'stored').
    delivered_via text,
    -- The primary key also indexes message_id for the cascade from messages.
    PRIMARY KEY (message_id, recipient),
    CONSTRAINT deliveries_state_valid
        CHECK (state IN ('stored', 'delivered', 'received', 'displayed'))
);

-- Offline loading: "everything still stored for this recipient, oldest
-- first". Partial, so it stays as small as the offline backlog rather than
-- growing with the archive.
-- Ending a session finds the rows written to it.
CREATE INDEX deliveries_by_session
    ON deliveries (delivered_via)
    WHERE delivered_via IS NOT NULL;

CREATE INDEX deliveries_stored_by_recipient
    ON deliveries (recipient, message_id)
    WHERE state = 'stored';

-- The rank of a delivery state; states only move up this scale.
CREATE FUNCTION parley_delivery_state_rank(p_state text)
RETURNS int
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT CASE p_state
        WHEN 'stored' THEN 0
        WHEN 'delivered' THEN 1
        WHEN 'received' THEN 2
        WHEN 'displayed' THEN 3
    END
$$;

-- Keeps states monotonic and stamps the time each state is reached. A
-- backward move is ignored rather than raised: receipts and store retries can
-- arrive late or twice, and neither should fail a batch. The row is skipped
-- (RETURN NULL) rather than rewritten with OLD so that the caller's row count
-- says nothing changed. The one move back allowed is a requeue: 'delivered'
-- to 'stored' while clearing delivered_via, when the connection it was
-- written to died before the client could have read it.
CREATE FUNCTION parley_deliveries_monotonic()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    new_rank int := parley_delivery_state_rank(NEW.state);
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.state = 'delivered' AND NEW.state = 'stored'
       AND OLD.delivered_via IS NOT NULL AND NEW.delivered_via IS NULL THEN
        NEW.delivered_at := NULL;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND new_rank < parley_delivery_state_rank(OLD.state) THEN
        RETURN NULL;
    END IF;
    -- Reaching a state implies the ones before it: a receipt that overtakes
    -- the delivered mark still leaves delivered_at set.
    IF new_rank >= 1 AND NEW.delivered_at IS NULL THEN
        NEW.delivered_at := now();
    END IF;
    IF new_rank >= 2 AND NEW.received_at IS NULL THEN
        NEW.received_at := now();
    END IF;
    IF new_rank >= 3 AND NEW.displayed_at IS NULL THEN
        NEW.displayed_at := now();
    END IF;
    RETURN NEW;
END
$$;

-- The WHEN clauses are checked without calling the function: the common
-- insert (a new 'stored' row) and updates that leave the state alone
-- (settling a session) cost nothing here.
CREATE TRIGGER deliveries_monotonic
    BEFORE UPDATE ON deliveries
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION parley_deliveries_monotonic();

CREATE TRIGGER deliveries_stamped
    BEFORE INSERT ON deliveries
    FOR EACH ROW WHEN (NEW.state <> 'stored')
    EXECUTE FUNCTION parley_deliveries_monotonic();

-- ---------------------------------------------------------------------------
-- sessions: who is online, on which node, with what presence. Written by the
-- store workers for the XMPP loop, read by the admin API. A node deletes its
-- own rows when it starts (it cannot have sessions yet).
-- ---------------------------------------------------------------------------
CREATE TABLE sessions (
    full_jid   text PRIMARY KEY,
    node       text NOT NULL,
    username   text NOT NULL,
    resource   text NOT NULL,
    available  boolean,
    show       text,
    status     text,
    priority   int NOT NULL DEFAULT 0,
    address    text,                     -- the client's IP address
    since      timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);

-- A starting node clears its rows: DELETE ... WHERE node = $1.
CREATE INDEX sessions_node ON sessions (node);
-- The admin API lists a user's sessions.
CREATE INDEX sessions_username ON sessions (username);

-- ---------------------------------------------------------------------------
-- Functions called by the store workers through named prepared statements.
-- ---------------------------------------------------------------------------

-- Provisions the user on first login, records the login, and returns the
-- disabled flag so the login can be refused.
CREATE FUNCTION parley_user_login(p_username text)
RETURNS boolean
LANGUAGE sql
AS $$
    INSERT INTO users AS u (username, last_login_at)
    VALUES (p_username, now())
    ON CONFLICT (username) DO UPDATE SET last_login_at = now()
    RETURNING u.disabled
$$;

-- Stores a direct message and its 'stored' delivery row, idempotently on
-- (sender, stanza_id): a repeat returns the first row with inserted = false,
-- and pending = true while that message is still 'stored' for the recipient
-- (a retry after an unknown outcome must still be routed then).
-- ON CONFLICT DO NOTHING waits for a concurrent insert of the same pair to
-- finish, and the SELECT that follows (a new snapshot under READ COMMITTED)
-- then sees its row, so two racing stores yield one message.
CREATE FUNCTION parley_store_message(p_sender text, p_recipient text,
                                     p_stanza_id text, p_body text,
                                     p_stanza text)
RETURNS TABLE (id bigint, created_at timestamptz, inserted boolean, pending boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
    v_created_at timestamptz;
BEGIN
    INSERT INTO messages AS m (kind, sender, recipient, stanza_id, body, stanza)
    VALUES ('chat', p_sender, p_recipient, p_stanza_id, p_body, p_stanza)
    ON CONFLICT (sender, stanza_id) DO NOTHING
    RETURNING m.id, m.created_at INTO v_id, v_created_at;

    IF v_id IS NOT NULL THEN
        INSERT INTO deliveries (message_id, recipient)
        VALUES (v_id, p_recipient);
        RETURN QUERY SELECT v_id, v_created_at, true, true;
        RETURN;
    END IF;

    RETURN QUERY
        SELECT m.id, m.created_at, false,
               EXISTS (SELECT 1 FROM deliveries d
                       WHERE d.message_id = m.id AND d.recipient = p_recipient
                         AND d.state = 'stored')
        FROM messages m
        WHERE m.sender = p_sender AND m.stanza_id = p_stanza_id;
END
$$;

-- stored -> delivered for one recipient; returns the rows changed (0 when the
-- row had already moved on, which makes a retry harmless).
CREATE FUNCTION parley_mark_delivered(p_message_id bigint, p_recipient text,
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
    RETURN n;
END
$$;

-- A session ended. Cleanly (the client closed the stream): what was written
-- to it stays 'delivered'. Not cleanly (the connection died, or the server
-- closed it): what it had not acknowledged with a receipt goes back to
-- 'stored' for the next login, at least once (PROTOCOL.md). Returns the
-- number of rows put back.
CREATE FUNCTION parley_session_end(p_via text, p_clean boolean)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int := 0;
BEGIN
    IF NOT p_clean THEN
        UPDATE deliveries
        SET state = 'stored', delivered_via = NULL
        WHERE delivered_via = p_via AND state = 'delivered';
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    UPDATE deliveries SET delivered_via = NULL WHERE delivered_via = p_via;
    RETURN n;
END
$$;

-- A node starts: every session it had died with it. Session names are
-- 'node/...', so this requeues what its earlier run wrote and nobody read.
CREATE FUNCTION parley_node_restart(p_node text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries
    SET state = 'stored', delivered_via = NULL
    WHERE starts_with(delivered_via, p_node || '/') AND state = 'delivered';
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE deliveries SET delivered_via = NULL
    WHERE starts_with(delivered_via, p_node || '/');
    DELETE FROM sessions WHERE node = p_node;
    RETURN n;
END
$$;

-- An XEP-0184 receipt: the message that p_sender sent with p_stanza_id
-- becomes 'received' for p_recipient. The recipient is part of the match, so
-- only the row of whoever sent the receipt can change: a third party quoting
-- the id changes nothing.
CREATE FUNCTION parley_mark_received(p_sender text, p_stanza_id text,
                                     p_recipient text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    UPDATE deliveries d
    SET state = 'received'
    FROM messages m
    WHERE m.sender = p_sender
      AND m.stanza_id = p_stanza_id
      AND d.message_id = m.id
      AND d.recipient = p_recipient
      AND d.state IN ('stored', 'delivered');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Tells every node when a user's disabled flag changes, so sessions of a
-- disabled user are closed wherever they are. Payload 'username:1' or
-- 'username:0'; a localpart cannot contain ':' (RFC 7622), so the last ':'
-- splits it.
CREATE FUNCTION parley_users_notify_state()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.disabled THEN
            PERFORM pg_notify('parley_user_state', NEW.username || ':1');
        END IF;
    ELSIF NEW.disabled IS DISTINCT FROM OLD.disabled THEN
        PERFORM pg_notify('parley_user_state',
                          NEW.username || CASE WHEN NEW.disabled THEN ':1' ELSE ':0' END);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_notify_state
    AFTER INSERT OR UPDATE OF disabled ON users
    FOR EACH ROW EXECUTE FUNCTION parley_users_notify_state();
