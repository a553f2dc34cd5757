"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies for the kinds kubectl's typed
commands send that way: ``kubectl create serviceaccount|role|clusterrole|rolebinding|clusterrolebinding``,
``kubectl create token`` and ``kubectl auth can-i`` (SelfSubjectAccessReview, SelfSubjectRulesReview).

A body is the ``k8s\\x00`` magic followed by a ``runtime.Unknown`` envelope (type meta + raw message); the
raw message is decoded with the field numbers of the Kubernetes ``generated.proto`` files into the same
dict the JSON form decodes to. Fields this cluster does not use are skipped. Other kinds are answered 415,
as an API server answers a media type it cannot decode.
"""

from __future__ import annotations

from typing import Any, Union

from airflow_provider_k8spod.testing._util import JSON

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    pass


# A schema maps a field number to (json name, type); a type is "string", "int", "bool", "map" (string to
# string), a nested schema, or a one-element list of one of these (a repeated field).
FieldType = Union[str, "Schema", list[Any]]
Schema = dict[int, tuple[str, FieldType]]

OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
    14: ("finalizers", ["string"]),
}
POLICY_RULE: Schema = {
    1: ("verbs", ["string"]),
    2: ("apiGroups", ["string"]),
    3: ("resources", ["string"]),
    4: ("resourceNames", ["string"]),
    5: ("nonResourceURLs", ["string"]),
}
LABEL_SELECTOR: Schema = {
    1: ("matchLabels", "map"),
    2: ("matchExpressions", [{1: ("key", "string"), 2: ("operator", "string"), 3: ("values", ["string"])}]),
}
SUBJECT: Schema = {
    1: ("kind", "string"),
    2: ("apiGroup", "string"),
    3: ("name", "string"),
    4: ("namespace", "string"),
}
ROLE_REF: Schema = {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")}
OBJECT_REFERENCE: Schema = {
    1: ("kind", "string"),
    2: ("namespace", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
}
RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
}
NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}
ACCESS_REVIEW_SPEC: Schema = {
    1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
    3: ("user", "string"),
    4: ("groups", ["string"]),
    6: ("uid", "string"),
}

KINDS: dict[str, Schema] = {
    "ServiceAccount": {
        1: ("metadata", OBJECT_META),
        2: ("secrets", [OBJECT_REFERENCE]),
        3: ("imagePullSecrets", [{1: ("name", "string")}]),
        4: ("automountServiceAccountToken", "bool"),
    },
    "Role": {1: ("metadata", OBJECT_META), 2: ("rules", [POLICY_RULE])},
    "ClusterRole": {
        1: ("metadata", OBJECT_META),
        2: ("rules", [POLICY_RULE]),
        3: ("aggregationRule", {1: ("clusterRoleSelectors", [LABEL_SELECTOR])}),
    },
    "RoleBinding": {1: ("metadata", OBJECT_META), 2: ("subjects", [SUBJECT]), 3: ("roleRef", ROLE_REF)},
    "ClusterRoleBinding": {
        1: ("metadata", OBJECT_META),
        2: ("subjects", [SUBJECT]),
        3: ("roleRef", ROLE_REF),
    },
    "TokenRequest": {
        1: ("metadata", OBJECT_META),
        2: (
            "spec",
            {
                1: ("audiences", ["string"]),
                3: (
                    "boundObjectRef",
                    {
                        1: ("kind", "string"),
                        2: ("apiVersion", "string"),
                        3: ("name", "string"),
                        4: ("uid", "string"),
                    },
                ),
                4: ("expirationSeconds", "int"),
            },
        ),
    },
    "SelfSubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", ACCESS_REVIEW_SPEC)},
    "SubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", ACCESS_REVIEW_SPEC)},
    "LocalSubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", ACCESS_REVIEW_SPEC)},
    "SelfSubjectRulesReview": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("namespace", "string")})},
    "SelfSubjectReview": {1: ("metadata", OBJECT_META)},
}
ENVELOPE: Schema = {
    1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
    2: ("raw", "bytes"),
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of every field of one message."""
    out = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(kind: FieldType, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode()
    if kind == "bytes":
        return bytes(value)
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if isinstance(kind, dict):
        return decode_message(bytes(value), kind)
    raise ProtobufError(f"unknown field type {kind!r}")


def decode_message(data: bytes, schema: Schema) -> JSON:
    out: JSON = {}
    for number, _, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if kind == "map":
            entry = {n: bytes(v).decode() for n, _, v in _fields(bytes(value)) if n in (1, 2)}
            out.setdefault(name, {})[entry.get(1, "")] = entry.get(2, "")
        elif isinstance(kind, list):
            out.setdefault(name, []).append(_scalar(kind[0], value))
        else:
            out[name] = _scalar(kind, value)
    return out


def decode(body: bytes) -> JSON:
    """The object a protobuf request body carries, as its JSON form (with ``apiVersion`` and ``kind``)."""
    if not body.startswith(MAGIC):
        raise ProtobufError(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    envelope = decode_message(body[len(MAGIC) :], ENVELOPE)
    type_meta = envelope.get("typeMeta") or {}
    kind = str(type_meta.get("kind", ""))
    schema = KINDS.get(kind)
    if schema is None:
        raise ProtobufError(f"the local cluster cannot decode {kind or 'this kind'} from protobuf; send JSON")
    obj = decode_message(envelope.get("raw", b""), schema)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
