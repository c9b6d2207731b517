"""The Simplified Chinese catalogue: complete, current with the sources, placeholders intact.

A string added in Python or a template without a translation would show up in English on a
Chinese page; these tests catch it before a person does. Refresh the catalogue with
``make messages``, translate the new entries, and keep none fuzzy.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
CATALOGUE = LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po"
# What ``make messages`` leaves out of the extraction (see the Makefile), plus what holds no
# Python or template sources (static assets, run-time data).
NOT_EXTRACTED = {".venv", "staticfiles", "tests", "benchmarks", "locale", "var", "media", "static"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|\{\w*\}")


def _catalogue() -> polib.POFile:
    return polib.pofile(str(CATALOGUE))


def _key(entry: polib.POEntry) -> str:
    return f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid


def _translations(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


def test_every_chinese_entry_is_translated_and_none_is_fuzzy() -> None:
    catalogue = _catalogue()

    untranslated = [e.msgid for e in catalogue if not all(t.strip() for t in _translations(e))]
    fuzzy = [e.msgid for e in catalogue if "fuzzy" in e.flags]
    assert len(catalogue) > 0
    assert not untranslated, "untranslated entries:\n" + "\n".join(untranslated)
    assert not fuzzy, "fuzzy entries (check the translation, then drop the flag):\n" + "\n".join(
        fuzzy
    )
    assert not catalogue.metadata_is_fuzzy
    assert catalogue.metadata["Language"] == "zh_Hans"
    assert catalogue.metadata["Plural-Forms"].startswith("nplurals=1;")


def test_placeholders_of_every_message_survive_translation() -> None:
    broken = []
    for entry in _catalogue():
        sources = [entry.msgid, entry.msgid_plural] if entry.msgid_plural else [entry.msgid]
        # Chinese has one plural form, which must carry the placeholders of the plural source.
        # (An empty translation is the first test's business.)
        expected = sorted(PLACEHOLDER.findall(sources[-1]))
        for translation in _translations(entry):
            if translation and sorted(PLACEHOLDER.findall(translation)) != expected:
                broken.append(f"{entry.msgid!r} -> {translation!r} (expected {expected})")
    assert not broken, "placeholders lost or changed:\n" + "\n".join(broken)


# One Chinese term per concept: erase as the law's Chinese text has it (PIPL art. 47: 删除),
# legal hold as 法律保全 (冻结 reads as freezing an account).
GLOSSARY = {"擦除": "删除", "冻结": "保全"}


def test_the_catalogue_keeps_to_the_glossary() -> None:
    strays = [
        (entry.msgid, avoid)
        for entry in _catalogue()
        for avoid in GLOSSARY
        if any(avoid in text for text in _translations(entry))
    ]
    assert not strays, [f"{msgid!r} says {bad}, write {GLOSSARY[bad]}" for msgid, bad in strays]


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext)")
def test_catalogue_holds_every_translatable_string_of_the_sources(
    tmp_path: Path, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extract the sources afresh into a copy of the project; the real ``locale/`` is never
    touched (``makemessages`` writes next to the files it walks, so it walks a copy)."""
    project = Path(settings.BASE_DIR)
    skip = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "*.mo", "*.sqlite3")
    for entry in project.iterdir():
        if entry.name.startswith(".") or entry.name in NOT_EXTRACTED:
            continue
        if entry.is_dir():
            shutil.copytree(entry, tmp_path / entry.name, ignore=skip)
        elif entry.suffix in {".py", ".html", ".txt"}:
            shutil.copy2(entry, tmp_path / entry.name)
    shutil.copytree(LOCALE_DIR, tmp_path / "locale", ignore=skip)
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)

    call_command("makemessages", locale=["zh_Hans"], no_obsolete=True, verbosity=0)

    fresh = polib.pofile(str(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    committed = {_key(e) for e in _catalogue()}
    missing = sorted(_key(e) for e in fresh if _key(e) not in committed)
    assert not missing, (
        f"{len(missing)} translatable string(s) are not in {CATALOGUE.relative_to(project)}; "
        "run `make messages` and translate them:\n" + "\n".join(missing)
    )


def test_no_message_is_in_the_catalogue_twice() -> None:
    """Entries appended by separate changes can repeat a message; the compiled catalogue would
    then keep only one of them, silently, and msgfmt refuses the file."""
    from collections import Counter

    counts = Counter(_key(entry) for entry in _catalogue())
    assert [key for key, n in counts.items() if n > 1] == []
