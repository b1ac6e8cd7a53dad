/* placeholder: being written */
typedef int pl_placeholder_chat_router;
