"""Validates the fake exchange's answers against Binance's OpenAPI file.

Usage: openapi_schema.py SPEC.yaml ANSWERS.json

ANSWERS.json is a list of {"name", "method", "path", "status", "body", "variant"?}. Each body
is checked against the response schema the file gives for that path, method and status, with
every $ref resolved. "variant" names the branch of a `oneOf` whose branches overlap (see
ERRATA). Prints one line per answer and exits 1 if any answer does not validate.
"""

import copy
import json
import sys

import yaml

try:
    import jsonschema_rs

    def validation_errors(schema, instance):
        validator = jsonschema_rs.Draft7Validator(schema)
        return [f"{'/'.join(map(str, e.instance_path)) or '<root>'}: {e.message}"
                for e in validator.iter_errors(instance)]
except ImportError:  # the schemathesis venv has jsonschema-rs; plain jsonschema works too
    import jsonschema

    def validation_errors(schema, instance):
        validator = jsonschema.Draft7Validator(schema)
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in validator.iter_errors(instance)]


def resolve(node, spec, seen=()):
    """The schema with every local $ref replaced by what it points to."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in seen:
                raise ValueError(f"recursive $ref {ref}")
            target = spec
            for part in ref[2:].split("/"):
                target = target[part]
            return resolve(target, spec, seen + (ref,))
        return {key: resolve(value, spec, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, spec, seen) for item in node]
    return node


# Keys filters.md gives each filter type in /exchangeInfo.
FILTER_KEYS = {
    "PRICE_FILTER": ["minPrice", "maxPrice", "tickSize"],
    "LOT_SIZE": ["minQty", "maxQty", "stepSize"],
    "MARKET_LOT_SIZE": ["minQty", "maxQty", "stepSize"],
    "MIN_NOTIONAL": ["minNotional", "applyToMarket", "avgPriceMins"],
    "NOTIONAL": ["minNotional", "applyMinToMarket", "maxNotional", "applyMaxToMarket", "avgPriceMins"],
    "MAX_NUM_ORDERS": ["maxNumOrders"],
}


def exchange_info_filters(schema):
    """The file's schema for exchangeInfo's `symbols[].filters[]` requires minPrice, maxPrice
    and tickSize of every filter: it describes PRICE_FILTER only, and Binance's real answers
    (LOT_SIZE, NOTIONAL, ...) break it. Apply it to PRICE_FILTER and check the other filter
    types for the keys filters.md documents."""
    filters = schema["properties"]["symbols"]["items"]["properties"]["filters"]
    price_filter = filters["items"]
    rules = [{"required": ["filterType"]}]
    for filter_type, keys in FILTER_KEYS.items():
        then = price_filter if filter_type == "PRICE_FILTER" else {"required": keys}
        rules.append({
            "if": {"properties": {"filterType": {"const": filter_type}}},
            "then": then,
        })
    filters["items"] = {"allOf": rules}
    return schema


# Corrections to the file, by (method, path, status), each explained where it is defined.
ERRATA = {
    ("get", "/api/v3/exchangeInfo", "200"): exchange_info_filters,
}


def response_schema(spec, method, path, status, variant):
    operation = spec["paths"].get(path, {}).get(method)
    if operation is None:
        raise LookupError(f"the file has no {method.upper()} {path}")
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        raise LookupError(f"the file defines no {status} answer for {method.upper()} {path}")
    raw = response["content"]["application/json"]["schema"]
    schema = resolve(copy.deepcopy(raw), spec)
    fix = ERRATA.get((method, path, str(status)))
    if fix:
        schema = fix(schema)
    if variant:
        # POST /api/v3/order answers `oneOf` ACK, RESULT and FULL, yet a RESULT answer also
        # matches ACK and a FULL one all three (no branch forbids extra properties), so a
        # strict `oneOf` refuses every real RESULT or FULL answer. Check the named branch,
        # which must be one the file lists.
        branches = [b.get("$ref", "") for b in raw.get("oneOf", [])]
        wanted = f"#/components/schemas/{variant}"
        if wanted not in branches:
            raise LookupError(f"{variant} is not a oneOf branch of {method.upper()} {path}")
        schema = resolve({"$ref": wanted}, spec)
    return schema


def main():
    spec_path, answers_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    with open(answers_path) as f:
        answers = json.load(f)
    failures = 0
    for answer in answers:
        label = f"{answer['name']}: {answer['method']} {answer['path']} -> {answer['status']}"
        try:
            schema = response_schema(spec, answer["method"].lower(), answer["path"],
                                     answer["status"], answer.get("variant"))
            errors = validation_errors(schema, answer["body"])
        except LookupError as missing:
            errors = [str(missing)]
        if errors:
            failures += 1
            print(f"FAIL {label}")
            for error in errors[:10]:
                print(f"     {error}")
            print(f"     body: {json.dumps(answer['body'])[:600]}")
        else:
            print(f"ok   {label}")
    print(f"{len(answers) - failures} of {len(answers)} answers match Binance's OpenAPI file")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
