"""The price data: every figure sourced and dated, tiers applied, old prices flagged."""

from datetime import date
from pathlib import Path

import pytest

from infra.cost.prices import PriceError, load_prices, stale

pytestmark = pytest.mark.unit


def test_every_price_names_its_source() -> None:
    book = load_prices()
    for key, entry in book.entries().items():
        assert entry.source.strip(), key
        assert entry.description.strip(), key
    assert book.price("aws.lambda.requests").unit_price() == pytest.approx(0.20 / 1_000_000)
    assert book.allowance("aws.lambda.free.compute").amount == 400_000


def test_http_api_tiers_apply_beyond_300_million() -> None:
    price = load_prices().price("aws.apigatewayv2.http.requests")
    assert price.cost(5_000_000) == pytest.approx(5.00)
    # 300M at $1.00 per million, then 100M at $0.90: hand-computed $390.
    assert price.cost(400_000_000) == pytest.approx(300 + 90)


def test_prices_older_than_a_year_are_flagged_on_an_injected_date() -> None:
    book = load_prices()
    flagged = {s.key for s in stale(book, date(2026, 11, 24))}
    assert "aws.ec2.t3.small" in flagged  # dated 2021-08-30
    assert "aws.alb.hours" in flagged  # undated: always re-check
    assert "aws.eks.control_plane" not in flagged  # dated 2026-03
    a_year_on = {s.key for s in stale(book, date(2027, 3, 2))}
    assert "aws.eks.control_plane" in a_year_on  # 2026-03 counts as 2026-03-01
    back_then = {s.key for s in stale(book, date(2024, 6, 1))}
    assert "aws.lambda.requests" not in back_then  # 2024 -> 2024-01-01, five months old
    message = next(s for s in stale(book, date(2026, 11, 24)) if s.key == "aws.ec2.t3.small")
    assert "2021-08-30" in message.message() and "re-check" in message.message()


def test_a_malformed_price_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "prices.yaml"
    bad.write_text(
        "version: 1\ncurrency: USD\nregion: us-east-1\nupdated: 2026-11-24\n"
        "prices:\n  x.y:\n    description: d\n    amount: 1\n    unit: hours\n"
        "    source: s\n    date: last spring\n"
    )
    with pytest.raises(PriceError, match=r"prices\.x\.y\.date"):
        load_prices(bad)
    with pytest.raises(PriceError, match="no price data"):
        load_prices(tmp_path / "missing.yaml")
    with pytest.raises(PriceError, match=r"no price 'aws\.ec2\.m5\.large'"):
        load_prices().price("aws.ec2.m5.large")
