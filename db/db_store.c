/* placeholder: being written */
typedef int pl_placeholder_db_store;
