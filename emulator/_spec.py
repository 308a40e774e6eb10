"""Validation against the Run:ai control-plane OpenAPI document.

The emulator checks every request body with these functions, and tests elsewhere
in the project reuse them to check what the project's client sends and what the
emulator answers. Both directions read one document, the one the official
client is generated from, so a body that passes here has the shape Run:ai
documents.

The document is parsed once per process. Schemas are never copied out of it:
each check is a `$ref` to the operation's schema inside the document, so nested
`#/components/schemas/...` references resolve where they were written.

One reading differs from the strict OpenAPI 3.0.3 one: `nullable: true` admits
null even where the same schema lists an `enum` without null (such as
`gpuRequestType`). The official client sends null there to clear a field, and
the document marks those fields nullable for that purpose.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError, relevance
from jsonschema.validators import extend
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

__all__ = [
    "SPEC_PATH",
    "SpecViolation",
    "json_path",
    "load_document",
    "operation_methods",
    "path_template",
    "schema_properties",
    "validate_request",
    "validate_response",
]

SPEC_PATH = Path(
    os.environ.get(
        "RUNAI_OPENAPI_SPEC",
        str(
            Path(__file__).parent / "openapi" / "runai-control-plane-openapi-2.24.json"
        ),
    )
)
"""The OpenAPI 3.0.3 document of the Run:ai control plane 2.24 (runapy 1.224.0).

A verbatim copy ships with the package so the emulator runs anywhere; a test
checks it against the project's shared specs. Set `RUNAI_OPENAPI_SPEC` to read
another copy.
"""

_SPEC_URI = "urn:runai:control-plane:2.24"
_MAX_REPORTED = 5
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


class SpecViolation(ValueError):
    """A body, status or path that the OpenAPI document does not allow.

    The message names the JSON path of the offending field, the value and the
    rule, for example `spec.compute.gpuPortionRequest: -0.5 is less than the
    minimum of 0`.
    """


def validate_request(method: str, path_template: str, body: Any) -> None:
    """Check a request body against the operation's `requestBody` schema.

    `path_template` is the document's key, such as
    `/api/v1/workloads/inferences/{workloadId}`. `body` is parsed JSON, or None
    when the request has no body.
    """
    operation = _operation(method, path_template)
    request_body = _resolve(operation.get("requestBody"))
    if request_body is None:
        if body is not None:
            raise SpecViolation(f"{_label(method, path_template)} takes no body")
        return

    if body is None:
        if request_body.get("required", False):
            raise SpecViolation(f"{_label(method, path_template)} needs a JSON body")
        return

    pointer = _json_schema_pointer(
        request_body, ("paths", path_template, method.lower(), "requestBody")
    )
    if pointer is not None:
        _check(pointer, body)


def validate_response(method: str, path_template: str, status: int, body: Any) -> None:
    """Check a response status and body against the operation's responses.

    A status the operation does not declare is a violation, except for error
    statuses (4xx, 5xx): the document leaves many of those out, so they are
    checked against the generic `Error` schema instead. A response declared
    without content must have no body (None). A method the document does not
    list for the path may only be answered 405 with an `Error` body.
    """
    if status == 405 and not _has_operation(method, path_template):
        _check(_pointer("components", "schemas", "Error"), body)
        return
    operation = _operation(method, path_template)
    response, location = _response(
        operation, status=status, method=method, path_template=path_template
    )
    label = f"{_label(method, path_template)}: status {status}"
    if response is not None:
        pointer = _json_schema_pointer(response, location)
    elif status >= 400:
        pointer = _pointer("components", "schemas", "Error")
    else:
        declared = ", ".join(sorted(operation.get("responses", {})))
        raise SpecViolation(f"{label} is not declared; declared: {declared}")

    if pointer is None:
        if body is not None:
            raise SpecViolation(f"{label} has no body in the document")
        return
    if body is None:
        raise SpecViolation(f"{label} needs a JSON body")
    _check(pointer, body)


def path_template(path: str) -> str:
    """Map a concrete path such as `/api/v1/org-unit/projects/3` to its template.

    Literal segments win over parameters, so `/api/v1/workloads/inferences`
    maps to itself rather than to `/api/v1/workloads/{workloadId}`.
    """
    segments = tuple(path.split("?", 1)[0].rstrip("/").split("/"))
    best: tuple[tuple[int, ...], str] | None = None
    for template, pattern in _templates():
        if len(pattern) != len(segments) or not _segments_match(pattern, segments):
            continue
        rank = tuple(0 if part is not None else 1 for part in pattern)
        if best is None or rank < best[0]:
            best = (rank, template)
    if best is None:
        raise SpecViolation(f"{path}: no path in the Run:ai API document matches it")
    return best[1]


def operation_methods(path_template: str) -> tuple[str, ...]:
    """The methods the document lists for a path template, such as `("GET",)`."""
    item = _document()["paths"].get(path_template) or {}
    return tuple(key.upper() for key in item if key in _METHODS)


def load_document() -> dict[str, Any]:
    """The parsed OpenAPI document (cached; callers must not modify it)."""
    return _document()


def schema_properties(*path: str) -> frozenset[str]:
    """Property names of a component schema, following `$ref` and `allOf`.

    `schema_properties("InferenceUpdateRequest", "spec")` gives the fields a
    PATCH of an inference may carry.
    """
    schemas: dict[str, Any] = _document()["components"]["schemas"]
    current: Any = {"$ref": f"#/components/schemas/{path[0]}"}
    for name in path[1:]:
        current = _properties(schemas, current)[name]
    return frozenset(_properties(schemas, current))


def _properties(schemas: dict[str, Any], schema: Any) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    found: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        found.update(_properties(schemas, part))
    found.update(schema.get("properties", {}))
    return found


@functools.cache
def _document() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(
        _document(), default_specification=DRAFT4
    )
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


def _nullable_enum(
    validator: Any, enums: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if instance is None and schema.get("nullable") is True:
        return
    yield from _STRICT_ENUM(validator, enums, instance, schema)


_STRICT_ENUM = OAS30Validator.VALIDATORS["enum"]
_Validator = extend(OAS30Validator, {"enum": _nullable_enum})


@functools.cache
def _validator(pointer: str) -> Any:
    return _Validator(
        {"$ref": pointer}, registry=_registry(), format_checker=oas30_format_checker
    )


@functools.cache
def _templates() -> tuple[tuple[str, tuple[str | None, ...]], ...]:
    parsed = []
    for template in _document()["paths"]:
        parts = template.rstrip("/").split("/")
        pattern = tuple(None if _is_param(part) else part for part in parts)
        parsed.append((template, pattern))
    return tuple(parsed)


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _segments_match(pattern: tuple[str | None, ...], path: tuple[str, ...]) -> bool:
    return all(
        part == segment if part is not None else bool(segment)
        for part, segment in zip(pattern, path, strict=True)
    )


def _has_operation(method: str, path_template: str) -> bool:
    item = _document()["paths"].get(path_template) or {}
    return method.lower() in _METHODS and method.lower() in item


def _operation(method: str, path_template: str) -> dict[str, Any]:
    item = _document()["paths"].get(path_template)
    if item is None:
        raise SpecViolation(f"{path_template}: not a path of the Run:ai API document")
    operation = item.get(method.lower()) if method.lower() in _METHODS else None
    if operation is None:
        allowed = ", ".join(operation_methods(path_template))
        raise SpecViolation(
            f"{method.upper()} {path_template}: not an operation of the document;"
            f" allowed methods: {allowed}"
        )
    result: dict[str, Any] = operation
    return result


def _response(
    operation: dict[str, Any], *, status: int, method: str, path_template: str
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    responses: dict[str, Any] = operation.get("responses", {})
    base = ("paths", path_template, method.lower(), "responses")
    for key in (str(status), f"{status // 100}XX", "default"):
        if key not in responses:
            continue
        # `default` here often names an error reply; never let it bless a 2xx.
        if key == "default" and status < 400:
            return None, ()
        reference = responses[key].get("$ref")
        if reference is not None:
            return _resolve(responses[key]), tuple(_split_reference(reference))
        return responses[key], (*base, key)
    return None, ()


def _json_schema_pointer(obj: dict[str, Any], location: Iterable[str]) -> str | None:
    parts = list(location)
    if "$ref" in obj:
        parts = _split_reference(obj["$ref"])
        obj = _resolve(obj) or {}
    content = obj.get("content") or {}
    media = next((key for key in content if "json" in key), None)
    if media is None or "schema" not in content[media]:
        return None
    return _pointer(*parts, "content", media, "schema")


def _resolve(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    while obj is not None and "$ref" in obj:
        node: Any = _document()
        for part in _split_reference(obj["$ref"]):
            node = node[part]
        obj = node
    return obj


def _split_reference(reference: str) -> list[str]:
    if not reference.startswith("#/"):
        raise SpecViolation(f"{reference}: only local references are supported")
    return [
        part.replace("~1", "/").replace("~0", "~") for part in reference[2:].split("/")
    ]


def _pointer(*parts: str) -> str:
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return f"{_SPEC_URI}#/" + "/".join(escaped)


def _check(pointer: str, instance: Any) -> None:
    errors = sorted(_validator(pointer).iter_errors(instance), key=relevance)
    if not errors:
        return
    messages = list(dict.fromkeys(_describe(error) for error in _leaves(errors)))
    shown = "; ".join(messages[:_MAX_REPORTED])
    if len(messages) > _MAX_REPORTED:
        shown += f" (and {len(messages) - _MAX_REPORTED} more)"
    raise SpecViolation(shown)


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    # anyOf/oneOf report one summary error; the branch errors say more.
    for error in errors:
        if error.context:
            yield from _leaves(sorted(error.context, key=relevance))
        else:
            yield error


_REQUIRED = re.compile(r"^'(?P<name>.+)' is a required property$")

# Fields whose values may be secrets: a message about them names the rule only.
_SENSITIVE = frozenset(
    {
        "value",
        "password",
        "clientSecret",
        "appSecret",
        "secret",
        "refreshToken",
        "externalToken",
        "accessToken",
        "idToken",
        "keyValuePairs",
    }
)


def _describe(error: ValidationError) -> str:
    parts = list(error.absolute_path)
    path = json_path(parts)
    missing = _REQUIRED.match(error.message)
    if missing is not None:
        return f"{json_path([*parts, missing['name']])}: is required but missing"
    if error.validator == "type" and error.instance is None:
        return f"{path}: null is not allowed here; give a value or leave it out"
    # jsonschema's messages quote the offending value, so keep it out of
    # anything that may hold a secret (and out of whole-body errors).
    names = {part for part in parts if isinstance(part, str)}
    if not parts or names & _SENSITIVE:
        return (
            f"{path}: breaks the rule {error.validator}: {error.validator_value!r}"
            " (the value is not shown because it may be secret)"
        )
    return f"{path}: {error.message}"


def json_path(parts: Iterable[str | int]) -> str:
    """`spec.env[0].name` for the keys and indexes leading to a value."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(body)"


def _label(method: str, path_template: str) -> str:
    return f"{method.upper()} {path_template}"
