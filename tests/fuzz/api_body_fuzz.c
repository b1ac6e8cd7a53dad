/* The admin API's JSON bodies (api_body_parse) on arbitrary bytes: never a
 * crash or a leak; what it accepts is one object whose members are all
 * declared, each of its declared type, the required ones present; what it
 * refuses leaves no root behind and is answered with a 400 problem. */
#include "api_internal.h"
#include "pl_error.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A spec with every field type, as the routes declare theirs. */
static const struct api_field fields[] = {
    {"username", API_FIELD_STRING, 1},
    {"display_name", API_FIELD_STRING_NULL, 0},
    {"disabled", API_FIELD_BOOL, 0},
    {"members", API_FIELD_ARRAY, 0},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int type_ok(enum api_field_type t, const json_t *v)
{
    switch (t) {
    case API_FIELD_STRING:
        return json_is_string(v);
    case API_FIELD_STRING_NULL:
        return json_is_string(v) || json_is_null(v);
    case API_FIELD_BOOL:
        return json_is_boolean(v);
    case API_FIELD_ARRAY:
        return json_is_array(v);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    struct api_request req = {.method = "POST", .body = body, .body_len = size};
    struct api_reply rep = {0};
    json_t *root = NULL;
    json_t *values[NFIELDS] = {0};
    if (api_body_parse(&req, fields, NFIELDS, &root, values, &rep) == PL_OK) {
        if (!json_is_object(root))
            abort();
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v)
        {
            size_t i = 0;
            while (i < NFIELDS && strcmp(fields[i].name, key) != 0)
                i++;
            if (i == NFIELDS || !type_ok(fields[i].type, v) || values[i] != v)
                abort(); /* an undeclared member, or one of the wrong type */
        }
        for (size_t i = 0; i < NFIELDS; i++)
            if (fields[i].required && !values[i])
                abort();
    } else if (root || rep.status != 400 || !rep.body) {
        abort(); /* a refusal is a 400 problem, with nothing left over */
    }
    json_decref(root);
    free(rep.body);
    free(body);
    return 0;
}
