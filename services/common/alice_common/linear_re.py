"""Regular expressions for untrusted text, run by RE2: matching time is linear in the input, so
no pattern can be driven into exponential backtracking by what a user sends (a ~200-byte upload
once froze the backend for 90 s in Python's `re`).

RE2 has no backreferences or look-around, `\\w`, `\\d`, `\\s` and `\\b` are ASCII-only, and flags
are written inline (`(?i)`, `(?s)`, `(?m)`). Services import this module instead of `re`
(`tests/workspace/test_linear_regex.py` enforces it).
"""

import re2

Pattern = re2._Regexp


def compile(pattern: str | bytes) -> Pattern:
    """A compiled RE2 pattern with the `re`-like methods: match, search, fullmatch, sub, findall."""
    return re2.compile(pattern)
