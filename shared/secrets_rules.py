"""Rules for secrets a person types: how strong a production key must be, and settings errors that
name the setting and the rule without ever echoing a value (a refused secret must not reach a log).
"""

from __future__ import annotations

import math
import re
from collections import Counter

from pydantic import BaseModel, ValidationError

# "About 128 bits": the estimate below counts the characters a key actually uses, so it reads a
# truly random 32-character hex key (128 real bits) as ~117 (measured over 20,000 keys: 18 % under
# 112, 0.02 % under 96). 96 lets such keys through and still refuses a repeated word stretched to
# 32 characters ("password" x 4: 88).
MIN_KEY_BITS = 96
ENV_PREFIX = "VIGIL_"


def estimated_bits(key: str) -> float:
    """Length times the Shannon entropy of the key's own character counts: a rough lower bound
    for a random key, and a generous upper bound for a human one (it ignores words and order)."""
    if not key:
        return 0.0
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    return per_char * len(key)


def weak_key(key: str) -> str | None:
    """Why ``key`` is too weak for production, or None. Says the rule, never the key."""
    if any(char.isspace() for char in key):
        return "it contains whitespace"
    if len(set(key)) <= 1:
        return "it repeats one character"
    bits = estimated_bits(key)
    if bits < MIN_KEY_BITS:
        return f"about {bits:.0f} bits estimated, {MIN_KEY_BITS} needed: use a random key, e.g. " \
               "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    return None


def describe(error: ValidationError, model: type[BaseModel]) -> str:
    """One line per problem: the ``VIGIL_*`` variable and pydantic's rule, without the input."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        location = "__".join(_field_path(item["loc"], model))
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{ENV_PREFIX}{location.upper()}: {message}" if location else message)
    return "; ".join(dict.fromkeys(lines))  # a union field repeats one rule per member


def describe_parse_error(error: ValueError) -> str:
    """pydantic-settings' own error for a value that is not JSON: name the group, not the value."""
    found = re.search(r'field "(\w+)"', str(error))
    group = f"{ENV_PREFIX}{found.group(1).upper()}" if found else "a VIGIL_* variable"
    return f"{group}: a value is not valid JSON (lists, tuples and models are given as JSON)"


def _field_path(location: tuple[int | str, ...], model: type[BaseModel]) -> list[str]:
    """The settings fields in a pydantic error location, without its union member names."""
    names: list[str] = []
    current: object = model
    for part in location:
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            break
        names.append(str(part))
        current = current.model_fields[str(part)].annotation
    return names
