"""Every string a plugin marks for translation has a German translation, with the same
placeholders (a missing or broken one would show English, or crash, in a German UI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).parent.parent
PACKAGES = {
    "core": ROOT / "falcana_core",
    "smtp_settings": ROOT / "plugins/smtp_settings/falcana_smtp_settings",
    "oauth": ROOT / "plugins/oauth/falcana_oauth",
    "discovery": ROOT / "plugins/discovery/falcana_discovery",
    "sent_copy": ROOT / "plugins/sent_copy/falcana_sent_copy",
    "bounces": ROOT / "plugins/bounces/falcana_bounces",
    "providers_m365": ROOT / "plugins/providers_m365/falcana_providers_m365",
    "providers_gmail": ROOT / "plugins/providers_gmail/falcana_providers_gmail",
    "providers_de": ROOT / "examples/providers_de/falcana_providers_de",
}
TEMPLATE_CALL = re.compile(r"""_\(\s*(["'])(.+?)\1""")


def used_msgids(package: Path) -> set[str]:
    found = {msg[2] for msg in extract_from_dir(
        str(package), method_map=[("**.py", "python")], keywords={"_": None})
        if isinstance(msg[2], str)}
    for template in package.glob("**/templates/*.html"):
        found |= {m.group(2) for m in TEMPLATE_CALL.finditer(template.read_text())}
    for source in package.glob("**/*.py"):  # _('...') inside f-strings is not extracted
        found |= {m.group(2) for m in re.finditer(r"\{_\((['\"])(.+?)\1\)\}",
                                                   source.read_text())}
    return found


@pytest.mark.parametrize("domain", sorted(PACKAGES))
def test_every_string_has_a_german_translation(domain: str) -> None:
    package = PACKAGES[domain]
    po = package / "locale" / "de" / "LC_MESSAGES" / f"{domain}.po"
    with po.open("rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh) if m.id}
    used = used_msgids(package)
    assert used, f"no strings found in {package}"
    missing = sorted(m for m in used if not catalog.get(m))
    assert not missing, f"{domain}: no German for {missing}"
    for msgid in used:
        placeholders = set(re.findall(r"\{(\w+)\}", msgid))
        assert set(re.findall(r"\{(\w+)\}", str(catalog[msgid]))) == placeholders, msgid


#: the German UI's own labels: an English text names the English label instead
GERMAN_LABELS = re.compile(r"e-mail-Benutzername|e-mail Passwort|Postausgangsserver|"
                           r"Verbindungstyp|Anmeldung|Versand über|Einstellungen ermitteln|"
                           r"Test-e-mail senden|Speichern|Systemeinstellungen|"
                           r"User-Verwaltung|Admin-Bereich|Kopie in Gesendet")


@pytest.mark.parametrize("domain", sorted(PACKAGES))
def test_no_german_label_in_an_english_text(domain: str) -> None:
    """"Check the spelling of the server name (Postausgangsserver)" in the English UI: the
    English text names the English label, its German translation the German one."""
    bad = sorted(m for m in used_msgids(PACKAGES[domain]) if GERMAN_LABELS.search(m))
    assert not bad, f"{domain}: {bad}"
