/* The frame parser and serialiser with an allocation failing: the first two
 * bytes name it (fuzz_alloc.h), the rest is the frame. Whatever fails must
 * fail cleanly: no crash, no leak. */
#include "fuzz_alloc.h"
#include "pl_buf.h"
#include "pl_error.h"
#include "xmpp_node.h"
#include "xmpp_parse.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xmpp_parser *parser;
    if (!parser && xmpp_parser_new(&parser) != PL_OK)
        abort();
    fuzz_alloc_arm_from(&data, &size);
    struct xmpp_node *tree = NULL, *copy = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(parser, (const char *)data, size, XMPP_NS_CLIENT, &tree, &why) ==
        PL_OK) {
        struct pl_buf out = PL_BUF_INIT;
        (void)xmpp_node_serialize(tree, NULL, &out);
        copy = xmpp_node_copy(tree);
        pl_buf_free(&out);
    }
    fuzz_alloc_disarm();
    xmpp_node_free(copy);
    xmpp_node_free(tree);
    return 0;
}
