"""E-mail addresses as account names: one canonical form, and no look-alike spellings.

Two spellings that render alike (full-width letters, a Cyrillic letter among Latin ones, a
zero-width space) must not become two accounts, or one account that passes for another.
"""

import unicodedata

# Scripts that legitimately mix within one word.
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK"}


class UnsafeEmail(ValueError):
    pass


def _script(char: str) -> str:
    first_word = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(first_word, first_word)


def canonical_email(raw: str) -> str:
    """NFKC-normalised, trimmed and lower-cased; `UnsafeEmail` for a form that could pass for
    another address (invisible, control or space characters; scripts mixed within one part)."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if any(unicodedata.category(c)[0] in "CZ" for c in email):
        raise UnsafeEmail("email contains invisible, control or space characters")
    local, _, domain = email.rpartition("@")
    for part in (local, *domain.split(".")):
        if len({_script(c) for c in part if c.isalpha()}) > 1:
            raise UnsafeEmail("email mixes writing systems within one part")
    return email
