"""The page dictionaries: English and Chinese have the same keys, and every literal key the pages use exists. An entry
is a text, or its plural forms by Intl.PluralRules category (common.js `t`), chosen by the count `{n}`."""

from __future__ import annotations

import json
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"
USES = (
    re.compile(r'data-i18n(?:-placeholder)?="([\w.]+)"'),  # in the HTML
    re.compile(r'\b(?:t|startPage)\("([\w.]+\w)"[,)]'),  # in the scripts; keys built at run time are not seen
)
PLURAL_CATEGORIES = {"zero", "one", "two", "few", "many", "other"}  # CLDR's, as Intl.PluralRules names them
Entry = str | dict[str, str]


def dictionary(lang: str) -> dict[str, Entry]:
    return dict(json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8")))


def forms(entry: Entry) -> list[str]:
    return [entry] if isinstance(entry, str) else list(entry.values())


def placeholders(entry: Entry) -> set[str]:
    return {name for text in forms(entry) for name in re.findall(r"\{\w+\}", text)}


def test_languages_have_the_same_keys_and_placeholders() -> None:
    en, zh = dictionary("en"), dictionary("zh-CN")
    assert set(en) == set(zh)
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key


def test_plural_entries_have_an_other_form_and_a_count() -> None:
    for lang in ("en", "zh-CN"):
        for key, entry in dictionary(lang).items():
            if isinstance(entry, dict):
                assert "other" in entry and set(entry) <= PLURAL_CATEGORIES, (lang, key)
                assert all("{n}" in text for text in entry.values()), (lang, key)


def test_every_literal_key_is_translated() -> None:
    en = dictionary("en")
    used = {
        key
        for path in [*STATIC.glob("*.html"), *STATIC.glob("*.js")]
        for pattern in USES
        for key in pattern.findall(path.read_text(encoding="utf-8"))
    }
    assert len(used) > 50
    assert not used - set(en), sorted(used - set(en))
