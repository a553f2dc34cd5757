"""Resource quantities as the API server decodes and serializes them.

A port of the rules of ``k8s.io/apimachinery/pkg/api/resource`` (``quantity.go``, ``suffix.go``,
``amount.go``), written from their behaviour:

- parsing: the same permissive scanner (``"1.G"``, ``".5"``, ``"m"`` and ``"+"`` parse; ``"1 "`` does
  not), the same three errors, values rounded *up* to the nanounit, binary values capped at 2^63-1;
- serialization: a quantity keeps the text it was written with when that text is already "canonical
  enough" for the parser's fast path (``"1e3"``, ``"12e6"``, ``"100m"``, ``"1Ki"``); otherwise it is
  written in canonical form: no fractional digits, the largest suffix of its format that loses nothing
  (``0.25`` -> ``"250m"``, ``"1024Mi"`` -> ``"1Gi"``, ``"1.5Gi"`` -> ``"1536Mi"``);
- JSON ``null`` decodes as zero (``"0"``) where a quantity is a map value, and as "absent" where the field
  is a pointer (``emptyDir.sizeLimit``).

Values are exact: an integer mantissa and a power of ten (never a float), so ``"1e1000000"`` costs
nothing. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

Format = Literal["DecimalSI", "BinarySI", "DecimalExponent", ""]

_NANO = -9
_MAX_INT64 = 2**63 - 1
_MIN_INT64 = -(2**63)
_MAX_INT64_FACTORS = 18  # decimal digits the int64 fast path accepts
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {e: s for s, e in _BINARY_SUFFIXES.items()}


class QuantityError(ValueError):
    """The text is not a quantity; ``str()`` is the API server's message."""


class JSONNumber(float):
    """A JSON number that remembers its text: the API server parses a quantity written as a bare number
    (``"cpu": 1e3``) from its text, which ``float`` would lose. Use as ``json.loads(parse_float=...)``."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JSONNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __reduce__(self) -> tuple[Callable[[str], JSONNumber], tuple[str]]:
        return (JSONNumber, (self.text,))


@dataclass(frozen=True)
class Quantity:
    """An exact value ``mantissa * 10**exponent`` (a multiple of 10**-9), its format, and the text it
    serializes as when the parser kept the original text."""

    mantissa: int
    exponent: int
    format: Format
    text: str | None = None

    def __str__(self) -> str:
        return self.text if self.text is not None else canonical(self)

    @property
    def sign(self) -> int:
        return (self.mantissa > 0) - (self.mantissa < 0)

    def to_decimal(self) -> Decimal:
        return Decimal(self.mantissa).scaleb(self.exponent)

    def compare(self, other: Quantity) -> int:
        """-1, 0 or 1 as ``self`` is less than, equal to or greater than ``other``."""
        if self.sign != other.sign or self.sign == 0:
            return (self.sign > other.sign) - (self.sign < other.sign)
        a, b = abs(self.mantissa), abs(other.mantissa)
        magnitude_a = len(str(a)) + self.exponent
        magnitude_b = len(str(b)) + other.exponent
        if magnitude_a != magnitude_b:
            result = 1 if magnitude_a > magnitude_b else -1
        else:
            low = min(self.exponent, other.exponent)
            a, b = a * 10 ** (self.exponent - low), b * 10 ** (other.exponent - low)
            result = (a > b) - (a < b)
        return result * self.sign


ZERO = Quantity(0, 0, "DecimalSI", "0")
_MAX_ALLOWED = Quantity(_MAX_INT64, 0, "BinarySI")
_BINARY_LOW = Quantity(-1024, 0, "BinarySI")
_BINARY_HIGH = Quantity(1024, 0, "BinarySI")


# ------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Scanned:
    positive: bool
    value: str
    num: str
    denom: str
    suffix: str


def _scan(text: str) -> _Scanned:
    """The scanner of quantity.go (parseQuantityString), rule for rule."""
    positive = True
    pos, end = 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while True:  # leading zeros
        if pos >= end:
            return _Scanned(positive, "0", "0", "", "")
        if text[pos] != "0":
            break
        pos += 1
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos]
    if pos >= end:
        return _Scanned(positive, text, num, "", "")
    num = num or "0"
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return _Scanned(positive, text, num, denom, "")
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(ERR_FORMAT)
    return _Scanned(positive, value, num, denom, text[suffix_start:])


def _interpret(suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) of a suffix (suffix.go)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[:1] in ("+", "-") else digits
        if body and all(c in _DIGITS for c in body):
            parsed = int(digits)
            if _MIN_INT64 <= parsed <= _MAX_INT64:
                wrapped = (parsed + 2**31) % 2**32 - 2**31  # Go's int32(parsed)
                return 10, wrapped, "DecimalExponent"
    raise QuantityError(ERR_SUFFIX)


def _kept_text(scanned: _Scanned, base: int, exponent: int, fmt: Format) -> bool:
    """Whether ParseQuantity's int64 fast path applies and keeps the original text (the text is then
    what the object serializes as)."""
    num, denom = scanned.num, scanned.denom
    shifted = num + denom
    if fmt == "BinarySI":
        if denom or exponent < 0:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        if precision < 0:
            return False
        value = int(shifted)
        if value * (1 << exponent) > _MAX_INT64:
            return False
        return exponent % 10 == 0 and value & 0x07 != 0
    if _MAX_INT64_FACTORS - len(num) - len(denom) < 0:
        return False
    scale = exponent - len(denom)
    if scale < _NANO:
        return False
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def parse(text: str) -> Quantity:
    """ParseQuantity: the quantity ``text`` denotes, or :class:`QuantityError`."""
    if not text:
        raise QuantityError(ERR_FORMAT)
    if text == "0":
        return ZERO
    scanned = _scan(text)
    base, exponent, fmt = _interpret(scanned.suffix)
    keep = _kept_text(scanned, base, exponent, fmt)
    sign = 1 if scanned.positive else -1
    digits = int(scanned.num + scanned.denom)
    if base == 10:
        mantissa, power = digits, exponent - len(scanned.denom)
    else:
        mantissa, power = digits * (1 << exponent), -len(scanned.denom)
    mantissa, power = _round_up_to_nano(mantissa, power)
    if fmt == "BinarySI":
        if Quantity(mantissa, power, fmt).compare(_MAX_ALLOWED) > 0:
            mantissa, power = _MAX_INT64, 0
        if mantissa and power < 0 and mantissa < 10**-power:
            fmt = "DecimalSI"  # a non-zero binary value below 1 is written as a decimal one
    return Quantity(sign * mantissa, power, fmt, text if keep else None)


def _round_up_to_nano(mantissa: int, power: int) -> tuple[int, int]:
    """Round a non-negative ``mantissa * 10**power`` up to a multiple of 10**-9 (non-zero values stay
    non-zero: "if you want some resources, you should get some resources")."""
    if power >= _NANO or mantissa == 0:
        return mantissa, power
    drop = _NANO - power
    if drop > len(str(mantissa)):
        return 1, _NANO
    return -(-mantissa // 10**drop), _NANO


# ----------------------------------------------------------------------------------------- serializing


def canonical(quantity: Quantity) -> str:
    """CanonicalizeBytes: the canonical text of a quantity (ignoring any kept original text)."""
    mantissa, power, fmt = quantity.mantissa, quantity.exponent, quantity.format
    if mantissa == 0:
        return "0"
    sign = "-" if mantissa < 0 else ""
    magnitude = abs(mantissa)
    if fmt == "BinarySI":
        integral = power >= 0 or magnitude % 10**-power == 0
        if quantity.compare(_BINARY_LOW) > 0 and quantity.compare(_BINARY_HIGH) < 0:
            fmt = "DecimalSI"
        elif not integral:
            fmt = "DecimalSI"  # would lose precision
        else:
            value = magnitude * 10**power if power >= 0 else magnitude // 10**-power
            times = 0
            while value % 1024 == 0:
                value //= 1024
                times += 1
            return f"{sign}{value}{_BINARY_BY_EXPONENT.get(times * 10, '')}"
    while magnitude % 10 == 0:
        magnitude //= 10
        power += 1
    while power % 3:
        magnitude *= 10
        power -= 1
    if fmt == "DecimalExponent":
        suffix = f"e{power}" if power else ""
    else:  # DecimalSI; an exponent without a suffix is written without one (as apimachinery does)
        suffix = _DECIMAL_BY_EXPONENT.get(power, "")
    return f"{sign}{magnitude}{suffix}"


# -------------------------------------------------------------------------------------- JSON decoding


def from_json(value: Any) -> Quantity:
    """Quantity.UnmarshalJSON: a JSON string or number (``null`` is zero)."""
    if value is None:
        return Quantity(0, 0, "")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, JSONNumber):
        text = value.text
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
    elif isinstance(value, str):
        text = value
    else:
        text = "{" if isinstance(value, dict) else "["
    return parse(text.strip())


def serialize(value: Any) -> str:
    """What the API server writes back for a quantity sent as ``value``."""
    return str(from_json(value))


def canonicalize_map(resources: Any) -> Any:
    """A ``map[string]Quantity`` (requests, limits, overhead, capacity...) as the server stores it."""
    if not isinstance(resources, dict):
        return resources
    return {name: serialize(value) for name, value in resources.items()}


# ------------------------------------------------------------------------------ quantities of objects

_RESOURCE_LISTS = ("limits", "requests")


def _requirements(holder: Any, key: str = "resources") -> None:
    requirements = holder.get(key) if isinstance(holder, dict) else None
    if isinstance(requirements, dict):
        for name in _RESOURCE_LISTS:
            _map_field(requirements, name)


def _map_field(holder: Any, key: str) -> None:
    if isinstance(holder, dict) and key in holder:
        if holder[key] is None:
            del holder[key]  # a nil map is omitted
        else:
            holder[key] = canonicalize_map(holder[key])


def _pointer_field(holder: Any, key: str) -> None:
    if isinstance(holder, dict) and key in holder:
        if holder[key] is None:
            del holder[key]  # a nil *Quantity is omitted
        else:
            holder[key] = serialize(holder[key])


def _field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        ref["divisor"] = serialize(ref.get("divisor"))  # a value, not a pointer: absent is "0"


def _items(items: Any) -> list[Any]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def canonicalize(resource: str, obj: Any) -> None:
    """Rewrite every quantity of a decoded object in place, as decoding it into its Go type and
    serializing it back does; :class:`QuantityError` for a value that is not a quantity."""
    if not isinstance(obj, dict):
        return
    spec, status = obj.get("spec"), obj.get("status")
    if resource == "pods" and isinstance(spec, dict):
        _pod_spec(spec)
        if isinstance(status, dict):
            for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
                for container in _items(status.get(key)):
                    _map_field(container, "allocatedResources")
                    _requirements(container)
    elif resource == "nodes" and isinstance(status, dict):
        _map_field(status, "capacity")
        _map_field(status, "allocatable")
    elif resource == "persistentvolumeclaims":
        _requirements(spec)
        if isinstance(status, dict):
            _map_field(status, "capacity")
            _map_field(status, "allocatedResources")
    elif resource == "persistentvolumes":
        _map_field(spec, "capacity")


def _pod_spec(spec: dict[str, Any]) -> None:
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in _items(spec.get(key)):
            _requirements(container)
            for var in _items(container.get("env")):
                value_from = var.get("valueFrom")
                if isinstance(value_from, dict) and "resourceFieldRef" in value_from:
                    _field_ref(value_from["resourceFieldRef"])
    _map_field(spec, "overhead")
    _requirements(spec)
    for volume in _items(spec.get("volumes")):
        _pointer_field(volume.get("emptyDir"), "sizeLimit")
        downward = volume.get("downwardAPI")
        sources = [downward] if isinstance(downward, dict) else []
        projected = volume.get("projected")
        if isinstance(projected, dict):
            sources += [
                s["downwardAPI"]
                for s in _items(projected.get("sources"))
                if isinstance(s.get("downwardAPI"), dict)
            ]
        for source in sources:
            for item in _items(source.get("items")):
                if "resourceFieldRef" in item:
                    _field_ref(item["resourceFieldRef"])
        ephemeral = volume.get("ephemeral")
        template = ephemeral.get("volumeClaimTemplate") if isinstance(ephemeral, dict) else None
        if isinstance(template, dict):
            _requirements(template.get("spec"))
