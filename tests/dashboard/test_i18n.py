"""The page dictionaries: English and Chinese have the same keys, and every literal key the pages use exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"
USES = (
    re.compile(r'data-i18n(?:-placeholder)?="([\w.]+)"'),  # in the HTML
    re.compile(r'\bt\("([\w.]+\w)"[,)]'),  # t("key") in the scripts; keys built at run time are not seen
)


def dictionary(lang: str) -> dict[str, str]:
    return dict(json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8")))


def test_languages_have_the_same_keys_and_placeholders() -> None:
    en, zh = dictionary("en"), dictionary("zh-CN")
    assert set(en) == set(zh)
    for key in en:
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key


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
