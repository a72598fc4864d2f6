"""hub/static/js/i18n.js in Chromium: the language chosen, strings filled, Intl formats.

docs/web.md §Languages. Only the hub's static files are needed: no workers.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from tests.web.conftest import open_page

RUN = """
async () => {
  // js/ beside the catalogue's i18n/: whichever app module the page runs.
  const src = new URL("../js/i18n.js", new URL(document.body.dataset.i18n, location.href));
  const m = await import(src.href);
  const t = m.translator({ hello: "Merhaba {name}, {count} yeni", plain: "Dil" });
  const tr = m.formatters("tr", { timeZone: "Europe/Istanbul" });
  const en = m.formatters("en", { timeZone: "America/New_York" });
  return {
    picked: [
      m.pickLanguage(["tr-TR", "en-US"]),
      m.pickLanguage(["de-DE", "en-GB"]),
      m.pickLanguage(["de-DE"]),
      m.pickLanguage(["en-US"], "tr"),
      m.pickLanguage(["tr"], "xx"),
    ],
    strings: [t("hello", { name: "Ayşe", count: 3 }), t("hello"), t("plain"), t("missing.key")],
    numbers: [tr.number(1234.5), en.number(1234.5)],
    money: [tr.money(12345, "TRY"), en.money(1000, "JPY"), en.money(-250, "EUR")],
    dates: [tr.date("2026-06-01T19:02:11Z"), en.date("2026-06-01T19:02:11Z")],
  };
}
"""


async def test_languages_strings_and_formats(
    browser: Browser, settings: Settings, aiohttp_server: Any
) -> None:
    server = await aiohttp_server(create_app(settings))
    watched = await open_page(browser, str(server.make_url("")).rstrip("/"))
    await watched.page.goto("/door")
    result = await watched.page.evaluate(RUN)
    assert result["picked"] == ["tr", "en", "en", "tr", "tr"]
    assert result["strings"] == [
        "Merhaba Ayşe, 3 yeni",
        "Merhaba {name}, {count} yeni",  # a value not given stays visible as its name
        "Dil",
        "⟦missing.key⟧",
    ]
    assert result["numbers"] == ["1.234,5", "1,234.5"]
    assert result["money"] == ["₺123,45", "¥1,000", "-€2.50"]
    # 19:02 UTC is 22:02 in Istanbul and 15:02 in New York (summer time).
    istanbul, new_york = (" ".join(d.replace("\u202f", " ").split()) for d in result["dates"])
    assert istanbul == "1 Haz 2026 22:02:11"
    assert new_york == "Jun 1, 2026, 3:02:11 PM"
    await watched.assert_clean()
