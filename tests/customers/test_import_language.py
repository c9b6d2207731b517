"""Stored import problems are shown in their reader's language: an import run in English (as
a worker does, in the default language) reads in Chinese on the Chinese result page and in
its CSV report; a problem stored before they were kept in every language shows its text."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, trans_real

from customers.models import ImportUpload

from .test_views import book, upload  # noqa: F401  (the fixture and the upload step)

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def _catalogues(settings):
    call_command("compile_catalogues", stdout=io.StringIO())
    trans_real._translations = {}
    trans_real._default = None
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _in_chinese(message: str, **params: object) -> str:
    with translation.override("zh-hans"):
        return gettext(message).format(**params)


def _rejected_import(client, book) -> ImportUpload:  # noqa: F811
    content = b"reference,full_name,email,date_of_birth\nR-1,,bad,1990-01-01\nR-1,Ok,a@b.cn,x\n"
    response = client.post(
        reverse("customers:import_upload", args=[book.seller.slug]),
        {"file": _file(content)},
        **EN,
    )
    client.post(
        response["Location"],
        {"col_0": "reference", "col_1": "full_name", "col_2": "email", "col_3": ""},
        **EN,
    )
    return ImportUpload.objects.get()


def _file(content: bytes) -> io.BytesIO:
    file = io.BytesIO(content)
    file.name = "customers.csv"
    return file


def test_problems_of_an_english_import_read_in_chinese(book, client):  # noqa: F811
    client.force_login(book.broker)
    stored = _rejected_import(client, book)
    english = [p["message"] for p in stored.report["problems"]]
    assert "This field is required." in english  # run in English, stored in English too

    page = client.get(
        reverse("customers:import_result", args=[book.seller.slug, stored.pk]), **ZH
    ).text
    required = _in_chinese("This field is required.")
    same = _in_chinese("Same reference as row {row}.", row=2)
    assert required != "This field is required." and required in page
    assert same in page
    for message in english:
        assert message not in page

    report = client.get(
        reverse("customers:import_report", args=[book.seller.slug, stored.pk]), **ZH
    ).content.decode("utf-8-sig")
    assert required in report and same in report
    assert "This field is required." not in report

    again = client.get(
        reverse("customers:import_result", args=[book.seller.slug, stored.pk]), **EN
    ).text
    assert "This field is required." in again and "Same reference as row 2." in again


def test_a_problem_stored_as_text_only_shows_its_text(book, client):  # noqa: F811
    client.force_login(book.broker)
    stored = _rejected_import(client, book)
    stored.report = {
        **stored.report,
        "problems": [{"row": 2, "column": "email", "message": "Stored long ago."}],
    }
    stored.save(update_fields=["report"])
    page = client.get(
        reverse("customers:import_result", args=[book.seller.slug, stored.pk]), **ZH
    ).text
    assert "Stored long ago." in page
