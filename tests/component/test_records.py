"""The records of processing (docs/privacy.md) against the models: every table of every service
declared, every personal column named exists, and the committed document is what `oia privacy-doc`
prints today."""

from __future__ import annotations

from pathlib import Path

import pytest

from oia.catalog import SERVICES, spec_of
from oia.cli import privacy_document
from shared import records
from shared.records import Holding
from shared.tables import platform_metadata

DOCUMENT = Path(__file__).parents[2] / "docs" / "privacy.md"


@pytest.mark.parametrize("service", SERVICES)
def test_every_table_has_its_record_and_every_personal_column_exists(service):
    spec = spec_of(service)
    assert records.check(service, spec.metadata, platform_metadata, spec.holdings) == []


def test_a_table_without_a_record_or_a_column_that_is_not_there_is_told():
    spec = spec_of("travel")
    holdings = [h for h in spec.holdings if h.table != "leg"] + [
        Holding("traveller", ("passport_number",), "", "", "")]
    assert records.check("travel", spec.metadata, platform_metadata, holdings) == [
        "travel: table leg has no record of processing", "travel: traveller.passport_number is no column"]


def test_the_committed_document_is_the_generated_one():
    assert DOCUMENT.read_text() == privacy_document(), "run: oia privacy-doc > docs/privacy.md"

