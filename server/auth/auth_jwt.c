/* placeholder: being written */
typedef int pl_placeholder_auth_jwt;
