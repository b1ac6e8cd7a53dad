/* JSON bodies against a declared field spec: unknown members, wrong types
 * and missing required members are refused here, once, naming the field,
 * so a handler only ever sees the fields it declared. */
#include "api_internal.h"

#include "pl_error.h"

#include <string.h>

static const char *type_name(enum api_field_type t)
{
    switch (t) {
    case API_FIELD_STRING:
        return "a string";
    case API_FIELD_STRING_NULL:
        return "a string or null";
    case API_FIELD_BOOL:
        return "true or false";
    case API_FIELD_ARRAY:
        return "an array";
    }
    return "?";
}

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

int api_body_parse(const struct api_request *req, const struct api_field *fields,
                   size_t n, json_t **root, json_t **values, struct api_reply *rep)
{
    *root = NULL;
    for (size_t i = 0; i < n; i++)
        values[i] = NULL;
    if (!req->body || req->body_len == 0) {
        api_problem(rep, 400, "invalid-json", NULL,
                    "the request needs a JSON object body");
        return PL_EINVAL;
    }
    json_error_t err;
    /* Duplicate keys are refused: two readers of one body must not
     * disagree on which value counts. */
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!doc) {
        api_problem(rep, 400, "invalid-json", NULL, "the body is not valid JSON: %s",
                    err.text);
        return PL_EINVAL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        api_problem(rep, 400, "invalid-json", NULL, "the body must be a JSON object");
        return PL_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, key) != 0)
            i++;
        if (i == n) {
            api_problem(rep, 400, "unknown-field", key, "unknown field '%s'", key);
            json_decref(doc);
            return PL_EINVAL;
        }
        if (!type_ok(fields[i].type, v)) {
            api_problem(rep, 400, "invalid-field", key, "field '%s' must be %s", key,
                        type_name(fields[i].type));
            json_decref(doc);
            return PL_EINVAL;
        }
        values[i] = v;
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].required && !values[i]) {
            api_problem(rep, 400, "missing-field", fields[i].name,
                        "field '%s' is required", fields[i].name);
            json_decref(doc);
            return PL_EINVAL;
        }
    }
    *root = doc;
    return PL_OK;
}
