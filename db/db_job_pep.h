/* The job kinds of the user's own PEP nodes (db_job_pep.c): their
 * statements and functions, and DB_PEP_JOB_DESCS, their rows of the job
 * table in db_jobs.c. Only db/ includes this. */
#ifndef DB_JOB_PEP_H
#define DB_JOB_PEP_H

#include "db_internal.h"

extern const struct db_stmt db_pep_get_stmts[1];
int db_pep_get_send(PGconn *conn, const char *node, struct db_job *job);
int db_pep_get_read(struct db_job *job, const PGresult *res);

extern const struct db_stmt db_pep_publish_stmts[1];
int db_pep_publish_send(PGconn *conn, const char *node, struct db_job *job);
int db_pep_publish_read(struct db_job *job, const PGresult *res);

extern const struct db_stmt db_pep_retract_stmts[1];
int db_pep_retract_send(PGconn *conn, const char *node, struct db_job *job);
int db_pep_retract_read(struct db_job *job, const PGresult *res);

/* Frees what any of the three kinds holds. */
void db_pep_free(struct db_job *job);

#define DB_PEP_JOB_DESCS                                                                 \
    [DB_JOB_PEP_GET] = {"pep_get", db_pep_get_stmts, 1,          db_pep_get_send,        \
                        NULL,      db_pep_get_read,  db_pep_free},                       \
    [DB_JOB_PEP_PUBLISH] =                                                               \
        {"pep_publish", db_pep_publish_stmts, 1,          db_pep_publish_send,           \
         NULL,          db_pep_publish_read,  db_pep_free},                              \
    [DB_JOB_PEP_RETRACT] = {                                                             \
        "pep_retract", db_pep_retract_stmts, 1,          db_pep_retract_send,            \
        NULL,          db_pep_retract_read,  db_pep_free}

#endif
