"""Pure: `mail.requested` payloads parsed, every template rendered in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from bilten.infra.settings import SettingsError, load_settings
from bilten.infra.smtp import SmtpServer
from bilten.protocol.errors import BadRequest
from bilten.protocol.mail import (
    LOCALES,
    MailRequest,
    message_id,
    parse_email,
    parse_mail_request,
    resolve_locale,
)
from bilten.protocol.mail_templates import TEMPLATES, render
from bilten.protocol.sales import format_amount

LINK = "https://tickets.example/signin?token=abc&next=%2Forders"
VARS: dict[str, dict[str, Any]] = {
    "invitation": {"organization": "Acme Events", "role": "door", "link": LINK},
    "password_reset": {"link": LINK},
    "signin_link": {"link": LINK},
    "order_confirmation": {
        "event": "Sarajevo <Jazz> Fest",
        "order_id": 17,
        "amount": "25.00 EUR",
        "tickets": ["Amra H. · Parter · AQEB0gq2", "Emir K. · Parter · AQEC7xk1"],
    },
}
GOOD = {
    "to": "amra@example.org",
    "template": "signin_link",
    "locale": "tr",
    "vars": VARS["signin_link"],
}


def test_every_template_has_vars_here_and_both_languages() -> None:
    assert set(VARS) == set(TEMPLATES)
    for template in TEMPLATES.values():
        assert set(template.texts) == set(LOCALES)


@pytest.mark.parametrize("name", sorted(VARS))
@pytest.mark.parametrize("locale", LOCALES)
def test_renders_each_template_in_each_language(name: str, locale: str) -> None:
    request = parse_mail_request(
        {"to": "a@example.org", "template": name, "locale": locale, "vars": VARS[name]}
    )
    rendered = render(request)
    assert rendered.locale == locale
    assert rendered.subject and "\n" not in rendered.subject
    assert f'<html lang="{locale}">' in rendered.html
    if "link" in VARS[name]:
        assert LINK in rendered.text
        assert (
            '<a href="https://tickets.example/signin?token=abc&amp;next=%2Forders">'
            in rendered.html
        )
    for line in VARS[name].get("tickets", []):
        assert f"- {line}" in rendered.text
    assert "<Jazz>" not in rendered.html  # values are escaped, never markup


@pytest.mark.parametrize(
    ("locale", "subject", "phrase"),
    [
        ("en", "Your Bilten sign-in link", "Open this link to sign in"),
        ("tr", "Bilten giriş bağlantınız", "bu bağlantıyı açın"),
        ("tr-TR", "Bilten giriş bağlantınız", "bu bağlantıyı açın"),
        ("de-AT", "Your Bilten sign-in link", "Open this link to sign in"),  # falls back
    ],
)
def test_language_and_fallback(locale: str, subject: str, phrase: str) -> None:
    rendered = render(parse_mail_request({**GOOD, "locale": locale}))
    assert rendered.subject == subject
    assert phrase in rendered.text


def test_roles_are_translated() -> None:
    vars = VARS["invitation"]
    tr = render(MailRequest("a@example.org", "invitation", "tr", vars))
    en = render(MailRequest("a@example.org", "invitation", "en", vars))
    assert "kapı görevlisi rolüyle" in tr.text
    assert "as door." in en.text


def test_order_confirmation_lists_every_ticket() -> None:
    rendered = render(
        MailRequest("a@example.org", "order_confirmation", "en", VARS["order_confirmation"])
    )
    assert rendered.subject == "Your tickets for Sarajevo <Jazz> Fest (order 17)"
    assert "Total: 25.00 EUR." in rendered.text
    assert "Amra H. · Parter · AQEB0gq2<br>\nEmir K. · Parter · AQEC7xk1" in rendered.html


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": "not an address"}, "to"),
        ({"to": "a@b"}, "to"),
        ({"to": "a@example.org\nBcc: x@example.org"}, "to"),
        ({"to": None}, "to"),
        ({"template": "Signin"}, "template"),
        ({"template": 3}, "template"),
        ({"locale": "english please"}, "locale"),
        ({"locale": 7}, "locale"),
        ({"vars": []}, "vars"),
    ],
)
def test_bad_envelopes(change: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_mail_request({**GOOD, **change})
    assert caught.value.details["field"] == field


@pytest.mark.parametrize(
    ("template", "vars", "field"),
    [
        ("no_such_template", {}, "template"),
        ("signin_link", {}, "vars.link"),
        ("signin_link", {"link": "javascript:alert(1)"}, "vars.link"),
        ("signin_link", {"link": "https://x.example/a b"}, "vars.link"),
        (
            "invitation",
            {**VARS["invitation"], "organization": "Acme\r\nBcc: x@y.org"},
            "vars.organization",
        ),
        ("invitation", {**VARS["invitation"], "role": ""}, "vars.role"),
        ("order_confirmation", {**VARS["order_confirmation"], "tickets": []}, "vars.tickets"),
        ("order_confirmation", {**VARS["order_confirmation"], "tickets": [3.5]}, "vars.tickets[0]"),
        ("order_confirmation", {**VARS["order_confirmation"], "order_id": True}, "vars.order_id"),
    ],
)
def test_bad_vars(template: str, vars: dict[str, Any], field: str) -> None:
    request = parse_mail_request({**GOOD, "template": template, "vars": vars})
    with pytest.raises(BadRequest) as caught:
        render(request)
    assert caught.value.details["field"] == field
    assert "alert" not in str(caught.value) and "Bcc" not in str(caught.value)


def test_extra_vars_and_the_event_kind_are_ignored() -> None:
    body = {**GOOD, "kind": "mail.requested", "vars": {**VARS["signin_link"], "minutes": 15}}
    assert render(parse_mail_request(body)).text


def test_payload_round_trip() -> None:
    request = parse_mail_request(GOOD)
    assert parse_mail_request(request.to_payload()) == request


@pytest.mark.parametrize(
    ("tag", "locale"), [("en", "en"), ("tr", "tr"), ("TR", "tr"), ("tr_TR", "tr"), ("bs-BA", "en")]
)
def test_resolve_locale(tag: str, locale: str) -> None:
    assert resolve_locale(tag) == locale


@pytest.mark.parametrize("good", ["a@example.org", "first.last+tag@sub.example.co"])
def test_good_addresses(good: str) -> None:
    assert parse_email(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a",
        "@example.org",
        "a@",
        "a @example.org",
        "a@example.org\n",
        "ä@example.org",
        "a@-x.org",
        "a" * 65 + "@example.org",
    ],
)
def test_bad_addresses(bad: str) -> None:
    with pytest.raises(BadRequest):
        parse_email(bad)


def test_message_id_is_stable_and_well_formed() -> None:
    assert (
        message_id("outbox:t1a2:42.7", "bilten.localhost") == "<outbox.t1a2.42.7@bilten.localhost>"
    )
    assert message_id("outbox:t1a2:42.7", "x") == message_id("outbox:t1a2:42.7", "x")


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (2500, "EUR", "25.00 EUR"),
        (5, "BAM", "0.05 BAM"),
        (1500, "JPY", "1500 JPY"),
        (1234, "KWD", "1.234 KWD"),
    ],
)
def test_format_amount(minor: int, currency: str, shown: str) -> None:
    assert format_amount(minor, currency) == shown


def test_smtp_settings() -> None:
    settings = load_settings(
        {
            "BILTEN_SMTP_URL": "smtps://mailer:p%40ss@smtp.example.org",
            "BILTEN_MAIL_FROM": "Tickets <tickets@example.org>",
        }
    )
    assert settings.smtp_url and settings.mail_from == "Tickets <tickets@example.org>"
    server = SmtpServer.from_url(settings.smtp_url)
    assert (server.host, server.port, server.username, server.password, server.implicit_tls) == (
        "smtp.example.org",
        465,
        "mailer",
        "p@ss",
        True,
    )
    assert "p@ss" not in repr(server)
    assert SmtpServer.from_url("smtp://127.0.0.1:2525").port == 2525


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BILTEN_SMTP_URL", "http://smtp.example.org"),
        ("BILTEN_SMTP_URL", "smtp://user:secret@:25"),
        ("BILTEN_SMTP_URL", "smtp://user:secret@host:port"),
        ("BILTEN_MAIL_FROM", "Tickets <nobody>"),
    ],
)
def test_bad_mail_settings_never_echo_secrets(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    assert caught.value.variable == variable
    assert "secret" not in str(caught.value)
