/* The archive query checks (XEP-0313 form, XEP-0059 set, XEP-0431 full
 * text): the input is an <iq/> frame; its urn:xmpp:mam:2 <query/> is checked
 * against a user's archive, or a room's when the iq is to a room of the MUC
 * domain. Either it is refused with an error condition or the job it fills
 * is consistent; the job is freed as the store would free it. */
#include "chat_room.h"
#include "db_jobs.h"
#include "pl_error.h"
#include "xmpp_node.h"
#include "xmpp_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xmpp_parser *parser;
    static char domain[] = "localhost", muc[] = "conference.localhost";
    if (!parser && xmpp_parser_new(&parser) != PL_OK)
        abort();
    struct xmpp_node *iq = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(parser, (const char *)data, size, XMPP_NS_CLIENT, &iq, &why) != PL_OK)
        return 0;
    const struct xmpp_node *query = xmpp_node_child_ns(iq, XMPP_NS_MAM);
    if (query && query->name && strcmp(query->name, "query") == 0) {
        struct chat_server cs;
        memset(&cs, 0, sizeof(cs));
        cs.domain = domain;
        cs.muc_domain = muc;
        cs.mam_max_page = 50;
        const char *to = xmpp_node_attr(iq, "to");
        const char *room = to && strcmp(to, "room@conference.localhost") == 0 ? to : NULL;
        struct db_job *job = db_job_new(DB_JOB_MAM_QUERY);
        if (!job)
            abort();
        const char *type = NULL, *condition = NULL;
        struct db_mam_query_job *q = &job->u.mam;
        if (chat_mam_parse_query(&cs, room, query, q, &type, &condition) != PL_OK) {
            if (!type || !condition)
                abort();
        } else if (q->max < 0 || (q->ids && q->max < (int)q->nids) ||
                   (q->ids && q->nids == 0) ||
                   (q->has_start && q->has_end && q->start_us > q->end_us) ||
                   (q->has_after && q->after_id <= 0) ||
                   (q->has_before && q->before_id <= 0)) {
            abort();
        }
        db_job_free(job);
    }
    xmpp_node_free(iq);
    return 0;
}
