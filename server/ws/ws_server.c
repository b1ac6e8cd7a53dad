/* placeholder: being written */
typedef int pl_placeholder_ws_server;
