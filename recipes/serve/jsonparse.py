"""JSON as TF Serving's rapidjson reads a request (``kParseIterativeFlag | kParseNanAndInfFlag |
kParseStopWhenDoneFlag``), for the bodies orjson refuses: no depth limit (an explicit stack, no
recursion), ``NaN``/``Inf``/``Infinity``, integers beyond 64 bits read as doubles, and whatever
follows the first complete value ignored. Errors carry rapidjson's wording and byte offset.
"""

from __future__ import annotations

import json
import math
import re

_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_STRING_SPECIAL = re.compile(rb'["\\\x00-\x1f]')
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = ((b"true", True), (b"false", False), (b"null", None), (b"NaN", math.nan),
             (b"Infinity", math.inf), (b"-Infinity", -math.inf), (b"Inf", math.inf), (b"-Inf", -math.inf))
_ESCAPES = {ord('"'): '"', ord("\\"): "\\", ord("/"): "/", ord("b"): "\b", ord("f"): "\f", ord("n"): "\n",
            ord("r"): "\r", ord("t"): "\t"}
DEBUG_STRING_BYTES = 256  # TF Serving's kMaxJsonDebugStringBytes


class JSONParseError(ValueError):
    """A body rapidjson would refuse; the message is TF Serving's."""


def _fail(message: str, offset: int):
    raise JSONParseError(f"JSON Parse error: {message} at offset: {offset}")


def parse(body: bytes):
    """The first JSON value in ``body``; ``JSONParseError`` worded as TF Serving words it."""
    if not body:
        raise JSONParseError("JSON Parse error: The document is empty")
    position = _WHITESPACE.match(body, 0).end()
    if position == len(body):
        _fail("The document is empty.", position)
    stack: list = []  # open containers; a dict's pending key sits beside it as (dict, key)
    while True:
        value, position = _value(body, position, stack)
        if value is _OPEN:
            continue
        while True:
            if not stack:
                return value  # kParseStopWhenDoneFlag: the rest of the body is not read
            container = stack[-1]
            if isinstance(container, list):
                container.append(value)
            else:
                container[0][container[1]] = value
            position = _WHITESPACE.match(body, position).end()
            container = stack[-1]
            closing = body[position:position + 1]
            if isinstance(container, list):
                if closing == b",":
                    position = _WHITESPACE.match(body, position + 1).end()
                    break
                if closing == b"]":
                    value, position = stack.pop(), position + 1
                    continue
                _fail("Missing a comma or ']' after an array element.", position)
            if closing == b",":
                position = _key(body, _WHITESPACE.match(body, position + 1).end(), stack)
                break
            if closing == b"}":
                value, position = stack.pop()[0], position + 1
                continue
            _fail("Missing a comma or '}' after an object member.", position)


_OPEN = object()  # "a container was opened; read its first element next"


def _value(body: bytes, position: int, stack: list):
    """One scalar (value, end), or (_OPEN, end) after pushing an opened container."""
    first = body[position:position + 1]
    if first == b"[":
        position = _WHITESPACE.match(body, position + 1).end()
        if body[position:position + 1] == b"]":
            return [], position + 1
        stack.append([])
        return _value(body, position, stack) if body[position:position + 1] not in (b"[", b"{") else (_OPEN, position)
    if first == b"{":
        position = _WHITESPACE.match(body, position + 1).end()
        if body[position:position + 1] == b"}":
            return {}, position + 1
        stack.append(({}, None))
        position = _key(body, position, stack)
        return _value(body, position, stack) if body[position:position + 1] not in (b"[", b"{") else (_OPEN, position)
    if first == b'"':
        return _string(body, position)
    if first == b"-" or first.isdigit():
        for literal, value in _LITERALS[5:]:
            if body.startswith(literal, position):
                return value, position + len(literal)
        return _number(body, position)
    for literal, value in _LITERALS:
        if body.startswith(literal, position):
            return value, position + len(literal)
    _fail("Invalid value.", position)


def _key(body: bytes, position: int, stack: list) -> int:
    """Read ``"name":`` for the dict on top of the stack; returns where its value starts."""
    if body[position:position + 1] != b'"':
        _fail("Missing a name for object member.", position)
    name, position = _string(body, position)
    position = _WHITESPACE.match(body, position).end()
    if body[position:position + 1] != b":":
        _fail("Missing a colon after a name of object member.", position)
    stack[-1] = (stack[-1][0], name)
    return _WHITESPACE.match(body, position + 1).end()


def _string(body: bytes, position: int) -> tuple[str, int]:
    end = position + 1
    pieces = []
    while True:
        special = _STRING_SPECIAL.search(body, end)
        if special is None:
            _fail("Missing a closing quotation mark in string.", len(body))
        try:
            pieces.append(body[end:special.start()].decode("utf-8"))
        except UnicodeDecodeError as error:
            _fail("Invalid encoding in string.", end + error.start)
        end = special.start()
        character = body[end]
        if character == ord('"'):
            return "".join(pieces), end + 1
        if character < 0x20:
            _fail("Invalid encoding in string.", end)  # rapidjson refuses raw control characters too
        escape = body[end + 1] if end + 1 < len(body) else None
        if escape in _ESCAPES:
            pieces.append(_ESCAPES[escape])
            end += 2
            continue
        if escape != ord("u"):
            _fail("Invalid escape character in string.", end)
        code, end = _hex4(body, end + 2)
        if 0xD800 <= code <= 0xDBFF:
            if body[end:end + 2] != b"\\u":
                _fail("The surrogate pair in string is invalid.", end)
            low, end = _hex4(body, end + 2)
            if not 0xDC00 <= low <= 0xDFFF:
                _fail("The surrogate pair in string is invalid.", end)
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        elif 0xDC00 <= code <= 0xDFFF:
            _fail("The surrogate pair in string is invalid.", end)
        pieces.append(chr(code))


def _hex4(body: bytes, position: int) -> tuple[int, int]:
    digits = body[position:position + 4]
    if len(digits) != 4 or not all(chr(d) in "0123456789abcdefABCDEF" for d in digits):
        _fail("Incorrect hex digit after \\u escape in string.", position)
    return int(digits, 16), position + 4


def _number(body: bytes, position: int):
    match = _NUMBER.match(body, position)
    if match is None:
        _fail("Invalid value.", position)
    text = match.group(0)
    end = match.end()
    if body[end:end + 1] == b".":
        _fail("Miss fraction part in number.", end + 1)
    if body[end:end + 1] in (b"e", b"E"):
        _fail("Miss exponent in number.", end + 1)
    if match.group(1) is None and match.group(2) is None and len(text.lstrip(b"-")) <= 20:
        number = int(text)
        if -2**63 <= number < 2**64:
            return number, end
    value = float(text)  # beyond 64 bits (or with a fraction or exponent): a double, as rapidjson
    if math.isinf(value):
        _fail("Number too big to be stored in double.", position)
    return value, end


def type_name(value) -> str:
    """rapidjson's name for a value's JSON type."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def debug_string(value, limit: int = DEBUG_STRING_BYTES) -> str:
    """Compact JSON of ``value`` cut after ``limit`` characters, without recursion (a request may
    nest 500,000 deep)."""
    out: list[str] = []
    size = 0
    pending = [value]
    while pending and size < limit:
        item = pending.pop()
        if isinstance(item, _Raw):
            text = item.text
        elif isinstance(item, list):
            pending.append(_Raw("]"))
            for index in range(len(item) - 1, -1, -1):
                pending.append(item[index])
                if index:
                    pending.append(_Raw(","))
            text = "["
        elif isinstance(item, dict):
            pending.append(_Raw("}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                pending.append(entries[index][1])
                pending.append(_Raw(json.dumps(entries[index][0], ensure_ascii=False) + ":"))
                if index:
                    pending.append(_Raw(","))
            text = "{"
        elif isinstance(item, float) and not math.isfinite(item):
            text = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
        else:
            text = json.dumps(item, ensure_ascii=False)
        out.append(text)
        size += len(text)
    return "".join(out)[:limit]


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

