/* Edits carried by stored messages (db_job_edit.c): the one statement that
 * stores an edit message and applies it (parley_store_edit in
 * migrations/0009_message_edits.sql), used by the direct and the room
 * message jobs when their payload has an edit. Only db/ includes this. */
#ifndef DB_JOB_EDIT_H
#define DB_JOB_EDIT_H

#include "db_internal.h"

extern const struct db_stmt db_edit_stmts[1];

/* Sends parley_store_edit for a message to `target` (a recipient's bare
 * JID, or a room's when `room`); borrows everything. */
int db_edit_send(PGconn *conn, int room, const char *sender, const char *target,
                 const char *stanza_id, const char *body, const char *stanza_xml,
                 const struct db_edit *e);
/* Reads its row: the message's id, time, inserted and pending flags, and
 * e->refused (set when nothing was stored). */
int db_edit_read(const PGresult *res, int64_t *id, int64_t *created_at_us, int *inserted,
                 int *pending, struct db_edit *e);

#endif
