/* The admin API's JSON bodies (api_body_parse) on arbitrary bytes, with the
 * field specs of the endpoints that take a body: never a crash or a leak;
 * an accepted body is one object whose every member is declared, of its
 * declared type, with the required ones present; a refused one is a 400
 * problem document and leaves no root behind. The first input byte picks
 * the spec, the rest is the body. */
#include "api_internal.h"
#include "pl_error.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct api_field user_fields[] = {
    {"username", API_FIELD_STRING, 1},
    {"display_name", API_FIELD_STRING_NULL, 0},
    {"disabled", API_FIELD_BOOL, 0},
};
static const struct api_field room_fields[] = {
    {"name", API_FIELD_STRING, 1},
    {"description", API_FIELD_STRING_NULL, 0},
    {"members_only", API_FIELD_BOOL, 0},
    {"members", API_FIELD_ARRAY, 0},
};
static const struct api_field message_fields[] = {
    {"from", API_FIELD_STRING, 1},
    {"to", API_FIELD_STRING, 0},
    {"room", API_FIELD_STRING, 0},
    {"body", API_FIELD_STRING, 1},
};

static const struct {
    const struct api_field *f;
    size_t n;
} specs[] = {
    {user_fields, 3},
    {room_fields, 4},
    {message_fields, 4},
};

static int type_ok(const json_t *v, enum api_field_type t)
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
    if (size < 1)
        return 0;
    size_t k = data[0] % (sizeof specs / sizeof specs[0]);
    char *body = malloc(size);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    struct api_request req = {.method = "POST", .body = body, .body_len = size - 1};
    struct api_reply rep = {0};
    json_t *root = NULL;
    json_t *values[4] = {0};
    int rc = api_body_parse(&req, specs[k].f, specs[k].n, &root, values, &rep);
    if (rc == PL_OK) {
        if (!json_is_object(root))
            abort();
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v)
        {
            size_t i = 0;
            while (i < specs[k].n && strcmp(specs[k].f[i].name, key) != 0)
                i++;
            if (i == specs[k].n || !type_ok(v, specs[k].f[i].type) || values[i] != v)
                abort(); /* an undeclared member, a wrong type, or not handed back */
        }
        for (size_t i = 0; i < specs[k].n; i++)
            if (specs[k].f[i].required && !values[i])
                abort();
        json_decref(root);
    } else {
        if (root || rep.status != 400 || !rep.body)
            abort();
    }
    api_reply_free(&rep);
    free(body);
    return 0;
}
