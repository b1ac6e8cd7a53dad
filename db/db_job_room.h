/* The job kinds of rooms (db_job_room.c) and of the archive
 * (db_job_mam.c): their statements and functions, and DB_ROOM_JOB_DESCS,
 * their rows of the job table in db_jobs.c. Only db/ includes this. */
#ifndef DB_JOB_ROOM_H
#define DB_JOB_ROOM_H

#include "db_internal.h"
#include "pl_buf.h"

/* Helpers the room and archive jobs share (db_job_room.c). */
int db_room_send(PGconn *conn, const char *stmt, int n, const char *const *params);
int db_room_parse_i64(const char *s, int64_t *out);
/* Appends s as a quoted element of a PostgreSQL array literal (NULL: NULL). */
int db_room_array_add(struct pl_buf *arr, const char *s);
/* Reads rows (id, created_at in microseconds, stanza) into msgs/count,
 * replacing what a rerun left there. */
int db_room_read_msgs(const PGresult *res, int first_row, struct db_offline_msg **msgs,
                      size_t *count);
void db_room_free_msgs(struct db_offline_msg **msgs, size_t *count);

extern const struct db_stmt db_room_load_stmts[1];
int db_room_load_send(PGconn *conn, const char *node, struct db_job *job);
int db_room_load_read(struct db_job *job, const PGresult *res);
void db_room_load_free(struct db_job *job);

extern const struct db_stmt db_room_create_stmts[1];
int db_room_create_send(PGconn *conn, const char *node, struct db_job *job);

extern const struct db_stmt db_room_msg_stmts[1];
int db_room_msg_send(PGconn *conn, const char *node, struct db_job *job);
int db_room_msg_read(struct db_job *job, const PGresult *res);
void db_room_msg_free(struct db_job *job);

extern const struct db_stmt db_room_join_stmts[1];
int db_room_join_send(PGconn *conn, const char *node, struct db_job *job);
int db_room_join_read(struct db_job *job, const PGresult *res);
void db_room_join_free(struct db_job *job);

extern const struct db_stmt db_room_position_stmts[1];
int db_room_position_send_batch(PGconn *conn, struct db_job **jobs, size_t n, int *sent);
void db_room_position_free(struct db_job *job);

extern const struct db_stmt db_room_affiliations_stmts[1];
int db_room_affiliations_send(PGconn *conn, const char *node, struct db_job *job);
int db_room_affiliations_read(struct db_job *job, const PGresult *res);
void db_room_affiliations_free(struct db_job *job);

extern const struct db_stmt db_room_config_stmts[1];
int db_room_config_send(PGconn *conn, const char *node, struct db_job *job);
void db_room_config_free(struct db_job *job);

extern const struct db_stmt db_room_subject_stmts[1];
int db_room_subject_send(PGconn *conn, const char *node, struct db_job *job);
void db_room_subject_free(struct db_job *job);

extern const struct db_stmt db_room_destroy_stmts[1];
int db_room_destroy_send(PGconn *conn, const char *node, struct db_job *job);
int db_room_destroy_read(struct db_job *job, const PGresult *res);
void db_room_destroy_free(struct db_job *job);

extern const struct db_stmt db_room_list_stmts[1];
int db_room_list_send(PGconn *conn, const char *node, struct db_job *job);
int db_room_list_read(struct db_job *job, const PGresult *res);
void db_room_list_free(struct db_job *job);

/* db_job_mam.c */
extern const struct db_stmt db_mam_stmts[1];
int db_mam_send(PGconn *conn, const char *node, struct db_job *job);
int db_mam_read(struct db_job *job, const PGresult *res);
void db_mam_free(struct db_job *job);

extern const struct db_stmt db_room_occupant_stmts[1];
int db_room_occupant_send(PGconn *conn, const char *node, struct db_job *job);
void db_room_occupant_free(struct db_job *job);

/* DB_EVENT_ROOM, DB_EVENT_ROOM_MESSAGE (db_listen.c makes them) */
void db_room_event_free(struct db_job *job);
void db_room_message_event_free(struct db_job *job);

/* The rows of the job table (db_jobs.c) for these kinds. */
#define DB_ROOM_JOB_DESCS                                                                \
    [DB_JOB_ROOM_LOAD] =                                                                 \
        {"room_load",       db_room_load_stmts, 1, db_room_load_send, NULL,              \
         db_room_load_read, db_room_load_free},                                          \
    [DB_JOB_ROOM_CREATE] =                                                               \
        {"room_create",     db_room_create_stmts, 1, db_room_create_send, NULL,          \
         db_room_load_read, db_room_load_free},                                          \
    [DB_JOB_ROOM_MSG_STORE] =                                                            \
        {"room_msg_store", db_room_msg_stmts, 1, db_room_msg_send, NULL,                 \
         db_room_msg_read, db_room_msg_free},                                            \
    [DB_JOB_ROOM_JOIN] =                                                                 \
        {"room_join",       db_room_join_stmts, 1, db_room_join_send, NULL,              \
         db_room_join_read, db_room_join_free},                                          \
    [DB_JOB_ROOM_POSITION] = {"room_position",                                           \
                              db_room_position_stmts,                                    \
                              1,                                                         \
                              NULL,                                                      \
                              db_room_position_send_batch,                               \
                              NULL,                                                      \
                              db_room_position_free},                                    \
    [DB_JOB_ROOM_AFFILIATIONS] = {"room_affiliations",                                   \
                                  db_room_affiliations_stmts,                            \
                                  1,                                                     \
                                  db_room_affiliations_send,                             \
                                  NULL,                                                  \
                                  db_room_affiliations_read,                             \
                                  db_room_affiliations_free},                            \
    [DB_JOB_ROOM_CONFIG] =                                                               \
        {"room_config", db_room_config_stmts, 1, db_room_config_send, NULL,              \
         NULL,          db_room_config_free},                                            \
    [DB_JOB_ROOM_SUBJECT] =                                                              \
        {"room_subject", db_room_subject_stmts, 1, db_room_subject_send, NULL,           \
         NULL,           db_room_subject_free},                                          \
    [DB_JOB_ROOM_DESTROY] =                                                              \
        {"room_destroy",       db_room_destroy_stmts, 1, db_room_destroy_send, NULL,     \
         db_room_destroy_read, db_room_destroy_free},                                    \
    [DB_JOB_ROOM_LIST] =                                                                 \
        {"room_list",       db_room_list_stmts, 1, db_room_list_send, NULL,              \
         db_room_list_read, db_room_list_free},                                          \
    [DB_JOB_MAM_QUERY] = {"mam_query", db_mam_stmts, 1,          db_mam_send,            \
                          NULL,        db_mam_read,  db_mam_free},                       \
    [DB_EVENT_ROOM] = {"room_event", NULL, 0, NULL, NULL, NULL, db_room_event_free},     \
    [DB_EVENT_ROOM_MESSAGE] = {"room_message_event",      NULL, 0, NULL, NULL, NULL,     \
                               db_room_message_event_free},                              \
    [DB_JOB_ROOM_OCCUPANT] = {"room_occupant",                                           \
                              db_room_occupant_stmts,                                    \
                              1,                                                         \
                              db_room_occupant_send,                                     \
                              NULL,                                                      \
                              NULL,                                                      \
                              db_room_occupant_free},

#endif
