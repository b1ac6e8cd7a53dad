/* placeholder: being written */
typedef int pl_placeholder_xmpp_node;
