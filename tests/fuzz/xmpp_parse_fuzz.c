/* The frame parser and serialiser: any input either is refused or parses
 * into a tree whose serialisation parses again to the same serialisation. */
#include "pl_buf.h"
#include "pl_error.h"
#include "xmpp_node.h"
#include "xmpp_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xmpp_parser *parser;
    if (!parser && xmpp_parser_new(&parser) != PL_OK)
        abort();
    struct xmpp_node *tree = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(parser, (const char *)data, size, XMPP_NS_CLIENT, &tree, &why) !=
        PL_OK)
        return 0;
    struct pl_buf once = PL_BUF_INIT, twice = PL_BUF_INIT;
    if (xmpp_node_serialize(tree, NULL, &once) != PL_OK)
        abort();
    struct xmpp_node *again = NULL;
    if (xmpp_parse(parser, once.data, once.len, XMPP_NS_CLIENT, &again, &why) != PL_OK)
        abort(); /* what we write must be what we read */
    if (xmpp_node_serialize(again, NULL, &twice) != PL_OK || once.len != twice.len ||
        memcmp(once.data, twice.data, once.len) != 0)
        abort(); /* and stable */
    xmpp_node_free(again);
    xmpp_node_free(tree);
    pl_buf_free(&once);
    pl_buf_free(&twice);
    return 0;
}
