"""JSON that DynamoDB stores exactly: strict parsing, DynamoDB's limits, and an exact encoding.

A producer that accepts a document the consumer can never write only moves
the failure into the dead-letter queue, so both ends run these checks: JSON as
RFC 8259 defines it (no NaN or Infinity, no repeated keys), valid Unicode, and
what DynamoDB and boto3 store: numbers of at most 38 significant digits between
1E-130 and 9.99..E+125 in magnitude, no empty map keys, values nested at most
32 levels deep (the attribute itself being the first). Numbers are kept as
Decimal from parsing to storage, so nothing is rounded on the way.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from serverless_patterns.errors import FieldError

MAX_SIGNIFICANT_DIGITS = 38
MIN_ADJUSTED_EXPONENT = -130
MAX_ADJUSTED_EXPONENT = 125
MAX_NESTING_LEVELS = 32


class UnstorableValue(FieldError):
    """A JSON value that is not JSON, or that DynamoDB would refuse or change."""


class _RepeatedKey(ValueError):
    pass


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _RepeatedKey(repeated)
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(text: str, field: str) -> Any:
    """RFC 8259 JSON with every number as an exact Decimal."""
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_no_repeated_keys,
        )
    except _RepeatedKey as repeated:
        raise UnstorableValue(
            field, f"the key {str(repeated)!r} appears twice in one object", "send each key once per object"
        ) from None
    except RecursionError:
        raise UnstorableValue(
            field,
            f"{field} is nested too deeply to parse",
            f"nest objects and arrays at most {MAX_NESTING_LEVELS} levels deep",
        ) from None
    except json.JSONDecodeError as error:
        raise UnstorableValue(
            field, f"{field} is not valid JSON ({error.msg} at character {error.pos})", "send a JSON object"
        ) from None
    except ValueError as error:  # NaN, Infinity, -Infinity: Python accepts them, JSON does not
        raise UnstorableValue(field, str(error), "send a finite number, or null") from None


def exact_number(value: Decimal, field: str) -> Decimal:
    """The number as DynamoDB will hold it, or a refusal naming the limit it breaks."""
    if not value.is_finite():
        raise UnstorableValue(field, f"{value} is not a JSON number", "send a finite number, or null")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = list(digits)
    # DynamoDB trims leading and trailing zeros before it counts digits.
    while len(significant) > 1 and significant[-1] == 0:
        significant.pop()
        exponent += 1
    if significant == [0]:
        return Decimal(0)
    if len(significant) > MAX_SIGNIFICANT_DIGITS:
        raise UnstorableValue(
            field,
            f"the number has {len(significant)} significant digits; DynamoDB keeps {MAX_SIGNIFICANT_DIGITS}",
            "send it as a string, or round it",
        )
    adjusted = exponent + len(significant) - 1
    if not MIN_ADJUSTED_EXPONENT <= adjusted <= MAX_ADJUSTED_EXPONENT:
        raise UnstorableValue(
            field,
            "the number is outside DynamoDB's range (1E-130 to 9.99E+125 in magnitude)",
            "send it as a string, or scale it",
        )
    # boto3 writes numbers through this context and refuses what it would round;
    # the same number without its trailing zeros may still fit.
    for candidate in (value, Decimal((sign, tuple(significant), exponent))):
        try:
            DYNAMODB_CONTEXT.create_decimal(candidate)
        except decimal.DecimalException:
            continue
        return candidate
    raise UnstorableValue(field, "the number has too many digits for its magnitude to be stored exactly", "round it")


def _checked_string(value: str, field: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnstorableValue(
            field,
            f"the string holds an unpaired surrogate (\\u{ord(value[error.start]):04x}) at character {error.start}",
            "send valid Unicode: escape a character outside the BMP as a surrogate pair",
        ) from None
    return value


def storable(value: Any, field: str, level: int = 1) -> Any:
    """The value, numbers made exact, if DynamoDB stores it as one attribute at `level`; else a refusal."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal):
        return exact_number(value, field)
    if isinstance(value, int | float):
        return exact_number(Decimal(str(value)), field)
    if isinstance(value, str):
        return _checked_string(value, field)
    if isinstance(value, dict | list):
        if level >= MAX_NESTING_LEVELS:
            raise UnstorableValue(
                field,
                f"values are nested deeper than DynamoDB's {MAX_NESTING_LEVELS} levels",
                "flatten the structure, or send the deep part as a string",
            )
        if isinstance(value, list):
            return [storable(item, f"{field}[{index}]", level + 1) for index, item in enumerate(value)]
        checked: dict[str, Any] = {}
        for key, item in value.items():
            if key == "":
                raise UnstorableValue(field, "an object has an empty key", "give every key at least one character")
            _checked_string(key, f"{field} (a key)")
            checked[key] = storable(item, f"{field}.{key}", level + 1)
        return checked
    raise UnstorableValue(field, f"a {type(value).__name__} is not a JSON value", "send JSON")


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB meters for an item, by the sizing rules of its developer guide."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        digits = exact_number(Decimal(str(value)), "number").as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if isinstance(value, list):
        return 3 + sum(1 + _value_size(item) for item in value)
    return 3 + sum(1 + len(key.encode()) + _value_size(item) for key, item in value.items())


def _encode(value: Any, out: list[str], sort_keys: bool, number: Callable[[Decimal], str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Decimal):
        out.append(number(value))
    elif isinstance(value, int | float):
        out.append(number(Decimal(str(value))))
    elif isinstance(value, str):
        out.append(json.dumps(value))
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, sort_keys, number)
        out.append("]")
    else:
        out.append("{")
        for index, key in enumerate(sorted(value) if sort_keys else value):
            if index:
                out.append(",")
            out.append(json.dumps(key))
            out.append(":")
            _encode(value[key], out, sort_keys, number)
        out.append("}")


def _canonical_number(value: Decimal) -> str:
    return str(exact_number(value, "number").normalize(decimal.Context(prec=MAX_SIGNIFICANT_DIGITS)))


def dumps(value: Any) -> str:
    """Compact JSON that writes every Decimal digit for digit (json.dumps would go through float)."""
    out: list[str] = []
    _encode(value, out, sort_keys=False, number=str)
    return "".join(out)


def canonical(value: Any) -> str:
    """One text for every spelling of the same storable document: sorted keys, 1.50 and 15E-1 alike."""
    out: list[str] = []
    _encode(value, out, sort_keys=True, number=_canonical_number)
    return "".join(out)
