-- 0003: rosters and presence subscriptions (RFC 6121, XEP-0237 versions),
-- the last presence of each user, blocking (XEP-0191), chat markers
-- (XEP-0333) and unread counts.
--
-- Run by the migrator in one transaction with its schema_migrations row, like
-- 0001 and 0002. Append-only: once landed, change the schema in a new file.
--
-- Where the logic lives. The subscription state machine of RFC 6121
-- Appendix A is C (server/chat/chat_sub.c, unit tested transition by
-- transition): the loop reads the two rows of a pair (parley_roster_pair),
-- computes both new states and writes them back with
-- parley_roster_apply, which applies them only if neither row changed in
-- between (each row's `ver` is the token). The SQL here keeps the rows
-- consistent and versioned; it decides nothing about subscriptions.

-- ---------------------------------------------------------------------------
-- Rosters.
-- ---------------------------------------------------------------------------

-- XEP-0237: one version per roster, bumped by every change to any of its
-- rows; a row remembers the version at which it last changed.
CREATE TABLE roster_versions (
    owner text PRIMARY KEY,              -- username
    ver   bigint NOT NULL DEFAULT 0
);

-- One row per (owner, contact). A row that is not `listed` is not part of
-- the roster the owner sees: it only keeps an inbound subscription request
-- (RFC 6121 section 3.1.3: the request is kept until the owner answers, and
-- the contact is not added to the roster on the owner's behalf).
--
-- The state is the one of RFC 6121 Appendix A: `subscription` with the
-- pending-out (`ask`) and pending-in flags, plus a pre-approval (section
-- 3.4). The checks refuse the combinations Appendix A says cannot exist.
CREATE TABLE roster_items (
    owner        text NOT NULL,          -- username
    contact      text NOT NULL,          -- bare JID
    name         text,
    groups       text[] NOT NULL DEFAULT '{}',
    subscription text NOT NULL DEFAULT 'none',
    ask          boolean NOT NULL DEFAULT false, -- pending out
    pending_in   boolean NOT NULL DEFAULT false,
    approved     boolean NOT NULL DEFAULT false, -- pre-approved
    listed       boolean NOT NULL DEFAULT true,
    request      text,                   -- the subscribe stanza, for delivery
                                         -- at the owner's next login
    ver          bigint NOT NULL,        -- roster version of the last change
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, contact),
    CONSTRAINT roster_items_subscription_valid
        CHECK (subscription IN ('none', 'to', 'from', 'both')),
    CONSTRAINT roster_items_no_pending_out_when_subscribed
        CHECK (NOT (ask AND subscription IN ('to', 'both'))),
    CONSTRAINT roster_items_no_pending_in_when_subscribed
        CHECK (NOT (pending_in AND subscription IN ('from', 'both'))),
    CONSTRAINT roster_items_unlisted_only_for_a_request
        CHECK (listed OR pending_in),
    CONSTRAINT roster_items_request_only_when_pending
        CHECK (request IS NULL OR pending_in)
);

-- Who has a subscription from (or to) a contact: the presence of a user
-- goes to the owners of rows naming them.
CREATE INDEX roster_items_contact ON roster_items (contact);

-- Blocking (XEP-0191). Items are JIDs as the client gave them (normalised):
-- a bare JID blocks every resource of it, a domain the whole domain, a full
-- JID that one resource (matched on the loop, which knows resources).
CREATE TABLE blocklist (
    owner      text NOT NULL,            -- username
    jid        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, jid),
    CONSTRAINT blocklist_jid_nonempty CHECK (jid <> '')
);

-- The state as the loop's state machine sees it, one bit each:
-- 1 to, 2 from, 4 pending out, 8 pending in, 16 approved, 32 listed.
-- 0 is "no row".
CREATE FUNCTION parley_roster_state(p_subscription text, p_ask boolean,
                                    p_pending_in boolean, p_approved boolean,
                                    p_listed boolean)
RETURNS int
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT (CASE WHEN p_subscription IN ('to', 'both') THEN 1 ELSE 0 END)
         | (CASE WHEN p_subscription IN ('from', 'both') THEN 2 ELSE 0 END)
         | (CASE WHEN p_ask THEN 4 ELSE 0 END)
         | (CASE WHEN p_pending_in THEN 8 ELSE 0 END)
         | (CASE WHEN p_approved THEN 16 ELSE 0 END)
         | (CASE WHEN p_listed THEN 32 ELSE 0 END)
$$;

-- The next version of an owner's roster (creating it at 1).
CREATE FUNCTION parley_roster_bump(p_owner text)
RETURNS bigint
LANGUAGE sql
AS $$
    INSERT INTO roster_versions AS v (owner, ver) VALUES (p_owner, 1)
    ON CONFLICT (owner) DO UPDATE SET ver = v.ver + 1
    RETURNING v.ver
$$;

-- Locks the roster versions of the owners given, in name order, creating
-- them first: every writer of a roster goes through here before it reads
-- or writes a row, so writers of one roster are serialised and two of them
-- never lock in opposite orders. NULL owners (a contact that is not an
-- account here) are skipped.
CREATE FUNCTION parley_roster_lock(p_owners text[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO roster_versions (owner)
    SELECT DISTINCT o FROM unnest(p_owners) AS o WHERE o IS NOT NULL ORDER BY 1
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM roster_versions v
    WHERE v.owner = ANY (p_owners)
    ORDER BY v.owner FOR UPDATE;
END
$$;

-- Everything the loop keeps for an online user and what a roster get
-- answers, in one result: kind 'v' is the roster version (in `ver`), 'i'
-- a row (listed or not: `state` says), 'b' a blocked JID (in `jid`), and
-- with p_team_domain (the team roster, PARLEY_TEAM_ROSTER) kind 't', every
-- other user as a JID of that domain: everyone is everyone's contact.
CREATE FUNCTION parley_roster_load(p_owner text, p_team_domain text DEFAULT NULL)
RETURNS TABLE (kind text, jid text, name text, groups text[], state int, ver bigint)
LANGUAGE sql STABLE
AS $$
    SELECT 'v', NULL::text, NULL::text, NULL::text[], 0,
           coalesce((SELECT v.ver FROM roster_versions v WHERE v.owner = p_owner), 0)
    UNION ALL
    SELECT 'i', r.contact, r.name, r.groups,
           parley_roster_state(r.subscription, r.ask, r.pending_in, r.approved, r.listed),
           r.ver
    FROM roster_items r WHERE r.owner = p_owner
    UNION ALL
    SELECT 'b', b.jid, NULL, NULL, 0, 0
    FROM blocklist b WHERE b.owner = p_owner
    UNION ALL
    SELECT 't', u.username || '@' || p_team_domain, u.display_name, NULL, 0, 0
    FROM users u
    WHERE p_team_domain IS NOT NULL AND u.username <> p_owner AND NOT u.disabled
$$;

-- A roster set (RFC 6121 section 2.3) of an item's name and groups. The
-- subscription state is not the client's to set: it is kept, and an
-- unlisted row (a pending request) becomes listed. A new item past
-- p_max listed items is refused with status 'limit'. Returns the row's
-- state and the new roster version.
CREATE FUNCTION parley_roster_set(p_owner text, p_contact text, p_name text,
                                  p_groups text[], p_max int)
RETURNS TABLE (status text, state int, ver bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_ver bigint;
    v_listed boolean;
    r roster_items;
BEGIN
    PERFORM parley_roster_lock(ARRAY[p_owner]);
    SELECT i.listed INTO v_listed FROM roster_items i
    WHERE i.owner = p_owner AND i.contact = p_contact;
    IF NOT coalesce(v_listed, false)
       AND (SELECT count(*) FROM roster_items i
            WHERE i.owner = p_owner AND i.listed) >= p_max THEN
        RETURN QUERY SELECT 'limit'::text, 0, 0::bigint;
        RETURN;
    END IF;
    v_ver := parley_roster_bump(p_owner);
    INSERT INTO roster_items AS i (owner, contact, name, groups, ver)
    VALUES (p_owner, p_contact, p_name, coalesce(p_groups, '{}'), v_ver)
    ON CONFLICT (owner, contact) DO UPDATE
        SET name = EXCLUDED.name, groups = EXCLUDED.groups, listed = true,
            ver = EXCLUDED.ver, updated_at = now()
    RETURNING i.* INTO r;
    RETURN QUERY SELECT 'ok'::text,
        parley_roster_state(r.subscription, r.ask, r.pending_in, r.approved, r.listed),
        v_ver;
END
$$;

-- The two rows of a subscription exchange between local users: side 'a'
-- is a_owner's row for a_contact, side 'b' the other way round (each
-- state 0 and ver 0 when there is no row), and whether b_owner blocks
-- b_contact, a's own JID (XEP-0191: then nothing of a's reaches b).
CREATE FUNCTION parley_roster_pair(p_a_owner text, p_a_contact text,
                                   p_b_owner text, p_b_contact text)
RETURNS TABLE (side text, name text, groups text[], state int, ver bigint,
               blocked boolean)
LANGUAGE sql STABLE
AS $$
    SELECT s.side, r.name, coalesce(r.groups, '{}'),
           coalesce(parley_roster_state(r.subscription, r.ask, r.pending_in,
                                        r.approved, r.listed), 0),
           coalesce(r.ver, 0),
           s.side = 'b' AND EXISTS (
               SELECT 1 FROM blocklist b
               WHERE b.owner = p_b_owner
                 AND b.jid IN (p_b_contact, split_part(p_b_contact, '@', 2)))
    FROM (VALUES ('a', p_a_owner, p_a_contact), ('b', p_b_owner, p_b_contact))
         AS s (side, owner, contact)
    LEFT JOIN roster_items r ON r.owner = s.owner AND r.contact = s.contact
    ORDER BY s.side
$$;

-- Writes one row of a pair: p_new NULL leaves it alone, 0 deletes it,
-- otherwise it becomes that state (bits as parley_roster_state). p_request
-- replaces the kept request when not NULL. Returns the new roster version,
-- or NULL when nothing was written. The caller has checked the old version.
CREATE FUNCTION parley_roster_write(p_owner text, p_contact text, p_new int,
                                    p_request text)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_ver bigint;
    v_sub text;
BEGIN
    IF p_new IS NULL THEN
        RETURN NULL;
    END IF;
    v_ver := parley_roster_bump(p_owner);
    IF p_new = 0 THEN
        DELETE FROM roster_items WHERE owner = p_owner AND contact = p_contact;
        RETURN v_ver;
    END IF;
    v_sub := CASE p_new & 3 WHEN 0 THEN 'none' WHEN 1 THEN 'to'
                            WHEN 2 THEN 'from' ELSE 'both' END;
    INSERT INTO roster_items AS i (owner, contact, subscription, ask, pending_in,
                                   approved, listed, request, ver)
    VALUES (p_owner, p_contact, v_sub, p_new & 4 <> 0, p_new & 8 <> 0,
            p_new & 16 <> 0, p_new & 32 <> 0,
            CASE WHEN p_new & 8 <> 0 THEN p_request END, v_ver)
    ON CONFLICT (owner, contact) DO UPDATE
        SET subscription = EXCLUDED.subscription, ask = EXCLUDED.ask,
            pending_in = EXCLUDED.pending_in, approved = EXCLUDED.approved,
            listed = EXCLUDED.listed,
            request = CASE WHEN EXCLUDED.pending_in
                           THEN coalesce(EXCLUDED.request, i.request) END,
            ver = EXCLUDED.ver, updated_at = now();
    RETURN v_ver;
END
$$;

-- Applies the outcome of a subscription exchange to both rows of a pair,
-- only if each row is still at the version the loop read (p_*_old, 0 for
-- "no row"): otherwise nothing is written and `applied` is false, and the
-- loop reads the pair again. The rows are locked in a fixed order, so two
-- exchanges of one pair cannot deadlock or overwrite each other. Returns the new roster versions
-- (NULL for a side left alone).
CREATE FUNCTION parley_roster_apply(p_a_owner text, p_a_contact text, p_a_old bigint,
                                    p_a_new int, p_a_request text,
                                    p_b_owner text, p_b_contact text, p_b_old bigint,
                                    p_b_new int, p_b_request text)
RETURNS TABLE (applied boolean, a_ver bigint, b_ver bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_a bigint;
    v_b bigint;
BEGIN
    -- Locked before the rows are read: a writer that got there first has
    -- committed by then, and this statement's reads see it.
    PERFORM parley_roster_lock(ARRAY[p_a_owner, p_b_owner]);
    SELECT coalesce(max(r.ver), 0) INTO v_a FROM roster_items r
    WHERE r.owner = p_a_owner AND r.contact = p_a_contact;
    SELECT coalesce(max(r.ver), 0) INTO v_b FROM roster_items r
    WHERE r.owner = p_b_owner AND r.contact = p_b_contact;
    IF v_a <> p_a_old OR v_b <> p_b_old THEN
        RETURN QUERY SELECT false, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY SELECT true,
        parley_roster_write(p_a_owner, p_a_contact, p_a_new, p_a_request),
        parley_roster_write(p_b_owner, p_b_contact, p_b_new, p_b_request);
END
$$;

-- ---------------------------------------------------------------------------
-- The last presence of each user, for probes of offline contacts and for
-- the admin API; users.last_seen_at. Kept by a trigger on sessions, which
-- the store already writes for every presence change and session end.
-- ---------------------------------------------------------------------------

CREATE TABLE presence_last (
    jid       text PRIMARY KEY,          -- bare JID
    username  text NOT NULL,
    resource  text,                      -- the resource that set it
    available boolean NOT NULL,
    show      text,
    status    text,
    priority  int NOT NULL DEFAULT 0,
    at        timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION parley_sessions_presence_last()
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
                                        status, priority, at)
        VALUES (split_part(NEW.full_jid, '/', 1), NEW.username, NEW.resource, true,
                NEW.show, NEW.status, NEW.priority, now())
        ON CONFLICT (jid) DO UPDATE
            SET username = EXCLUDED.username, resource = EXCLUDED.resource,
                available = true, show = EXCLUDED.show, status = EXCLUDED.status,
                priority = EXCLUDED.priority, at = now();
        RETURN NULL;
    END IF;
    -- Unavailable (bound without presence, presence withdrawn, or gone).
    IF TG_OP = 'INSERT' THEN
        RETURN NULL; -- a session just bound changes nothing anyone sees
    END IF;
    IF TG_OP = 'DELETE' THEN
        UPDATE users SET last_seen_at = now() WHERE username = OLD.username;
    END IF;
    IF NOT coalesce(OLD.available, false) THEN
        RETURN NULL; -- it was not available: nobody saw it go
    END IF;
    v_bare := split_part(OLD.full_jid, '/', 1);
    v_user := OLD.username;
    -- Another resource still available: it is the user's presence now.
    SELECT * INTO v_other FROM sessions s
    WHERE s.username = v_user AND s.available AND s.full_jid <> OLD.full_jid
    ORDER BY s.priority DESC, s.updated_at DESC
    LIMIT 1;
    IF FOUND THEN
        UPDATE presence_last
        SET resource = v_other.resource, available = true, show = v_other.show,
            status = v_other.status, priority = v_other.priority
        WHERE jid = v_bare;
        RETURN NULL;
    END IF;
    INSERT INTO presence_last AS p (jid, username, resource, available, show,
                                    status, priority, at)
    VALUES (v_bare, v_user, OLD.resource, false, NULL,
            CASE WHEN TG_OP = 'UPDATE' THEN NEW.status END, 0, now())
    ON CONFLICT (jid) DO UPDATE
        SET resource = EXCLUDED.resource, available = false, show = NULL,
            status = EXCLUDED.status, priority = 0, at = now();
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_presence_last
    AFTER INSERT OR UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION parley_sessions_presence_last();

-- What a session's initial presence needs from the database (RFC 6121
-- sections 4.2 and 3.1.3): kind 'p', the contacts the owner is subscribed
-- to (`to`, `both`) with their last presence when there is one (the loop
-- answers for the ones online itself), leaving out a contact who blocks the
-- owner (p_owner_jid, the owner's bare JID: XEP-0191, nothing of theirs
-- reaches the owner, not even a status left behind); kind 'r', the
-- subscription requests waiting for the owner.
CREATE FUNCTION parley_presence_initial(p_owner text, p_owner_jid text)
RETURNS TABLE (kind text, jid text, available boolean, show text, status text,
               at timestamptz, request text)
LANGUAGE sql STABLE
AS $$
    SELECT 'p', r.contact, p.available, p.show, p.status, p.at, NULL::text
    FROM roster_items r LEFT JOIN presence_last p ON p.jid = r.contact
    WHERE r.owner = p_owner AND r.subscription IN ('to', 'both')
      AND NOT EXISTS (SELECT 1 FROM blocklist b
                      WHERE b.owner = split_part(r.contact, '@', 1)
                        AND b.jid IN (p_owner_jid, split_part(p_owner_jid, '@', 2)))
    UNION ALL
    SELECT 'r', r.contact, NULL, NULL, NULL, NULL, r.request
    FROM roster_items r
    WHERE r.owner = p_owner AND r.pending_in
$$;

-- ---------------------------------------------------------------------------
-- Blocking (XEP-0191): the table is above, with the rosters.
-- ---------------------------------------------------------------------------

-- Blocks ('block'), unblocks ('unblock') the JIDs given, or empties the
-- list ('unblock_all'); returns the rows changed.
CREATE FUNCTION parley_block_set(p_owner text, p_op text, p_jids text[])
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    n int;
BEGIN
    IF p_op = 'block' THEN
        INSERT INTO blocklist (owner, jid)
        SELECT p_owner, j FROM unnest(p_jids) AS j
        ON CONFLICT DO NOTHING;
    ELSIF p_op = 'unblock' THEN
        DELETE FROM blocklist WHERE owner = p_owner AND jid = ANY (p_jids);
    ELSIF p_op = 'unblock_all' THEN
        DELETE FROM blocklist WHERE owner = p_owner;
    ELSE
        RAISE EXCEPTION 'parley_block_set: unknown operation %', p_op;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- 1 if the recipient (a bare JID) blocks the sender (a bare JID) by its
-- bare JID or its domain.
CREATE FUNCTION parley_blocks(p_recipient text, p_sender text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (SELECT 1 FROM blocklist b
                   WHERE b.owner = split_part(p_recipient, '@', 1)
                     AND b.jid IN (p_sender, split_part(p_sender, '@', 2)))
$$;

-- ---------------------------------------------------------------------------
-- Chat markers and unread counts.
--
-- Per (recipient, sender) of direct messages, the archive id up to which
-- the recipient has displayed what that sender sent (an XEP-0333
-- `displayed` marker is cumulative). The row exists from the first message
-- of that sender to that recipient, so a recipient's peers are one index
-- range, and a count of unread messages scans only what is after the
-- position (messages_conversation, 0002).
-- ---------------------------------------------------------------------------

CREATE TABLE direct_read_positions (
    recipient    text NOT NULL,          -- bare JID
    sender       text NOT NULL,          -- bare JID
    displayed_id bigint NOT NULL DEFAULT 0,
    displayed_at timestamptz,
    PRIMARY KEY (recipient, sender)
);

-- 0002's store, and two more things: nothing is stored when the recipient
-- blocks the sender (XEP-0191: nothing of theirs reaches the user, now or
-- later), which returns id 0 with inserted and pending false; and the
-- (recipient, sender) pair gets its read position the first time. The
-- signature and the columns are 0002's, so the store's statement stays.
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
BEGIN
    -- One query for both lookups (this is the hot path: one statement per
    -- message, each an index probe).
    SELECT EXISTS (SELECT 1 FROM blocklist b
                   WHERE b.owner = split_part(p_recipient, '@', 1)
                     AND b.jid IN (p_sender, split_part(p_sender, '@', 2))),
           EXISTS (SELECT 1 FROM direct_read_positions r
                   WHERE r.recipient = p_recipient AND r.sender = p_sender)
    INTO v_blocked, v_known;
    IF v_blocked THEN
        RETURN QUERY SELECT 0::bigint, clock_timestamp(), false, false;
        RETURN;
    END IF;
    IF NOT v_known THEN -- the pair's first message
        INSERT INTO direct_read_positions (recipient, sender)
        VALUES (p_recipient, p_sender)
        ON CONFLICT DO NOTHING;
    END IF;
    -- From here, 0002's store unchanged: the head of the stanza key decides
    -- between a true retry and a new message.
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

-- An XEP-0333 `displayed` marker from p_recipient for the message p_sender
-- sent with p_stanza_id (the most recent with that id, as for receipts):
-- that message and every earlier one from p_sender to p_recipient not yet
-- displayed become 'displayed' (markers are cumulative). Only the marker
-- sender's own rows change, so nobody else can mark someone's messages
-- read. Returns the rows changed.
CREATE FUNCTION parley_mark_displayed(p_sender text, p_stanza_id text,
                                      p_recipient text)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    v_target bigint;
    v_from bigint;
    n int;
BEGIN
    SELECT m.id INTO v_target FROM messages m
    WHERE m.sender = p_sender AND m.recipient = p_recipient
      AND m.stanza_id = p_stanza_id
    ORDER BY m.id DESC
    LIMIT 1;
    IF v_target IS NULL THEN
        RETURN 0;
    END IF;
    SELECT r.displayed_id INTO v_from FROM direct_read_positions r
    WHERE r.recipient = p_recipient AND r.sender = p_sender
    FOR UPDATE;
    v_from := coalesce(v_from, 0);
    IF v_from >= v_target THEN
        RETURN 0;
    END IF;
    UPDATE deliveries d
    SET state = 'displayed'
    FROM messages m
    WHERE least(m.sender, m.recipient) = least(p_sender, p_recipient)
      AND greatest(m.sender, m.recipient) = greatest(p_sender, p_recipient)
      AND m.kind = 'chat'
      AND m.id > v_from AND m.id <= v_target
      AND m.sender = p_sender
      AND d.message_id = m.id AND d.recipient = p_recipient
      AND d.state <> 'displayed';
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO direct_read_positions AS r (recipient, sender, displayed_id, displayed_at)
    VALUES (p_recipient, p_sender, v_target, now())
    ON CONFLICT (recipient, sender) DO UPDATE
        SET displayed_id = greatest(r.displayed_id, EXCLUDED.displayed_id),
            displayed_at = now();
    RETURN n;
END
$$;

-- Unread direct messages of one user (a bare JID), per peer: the messages
-- from that peer not yet 'displayed'. Peers with nothing unread are left
-- out.
CREATE FUNCTION parley_unread_counts(p_user text)
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
          AND d.state <> 'displayed') c
    WHERE p.recipient = p_user AND c.n > 0
    ORDER BY p.sender
$$;

-- The same for everyone, for the admin API's lists.
CREATE VIEW unread_counts AS
    SELECT p.recipient, u.peer, u.unread
    FROM (SELECT DISTINCT recipient FROM direct_read_positions) p
    CROSS JOIN LATERAL parley_unread_counts(p.recipient) u;
