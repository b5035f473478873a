"""The price data: every figure sourced and dated, tiers applied, old prices flagged."""

from datetime import date
from pathlib import Path

import pytest

from infra.cost.prices import PriceError, load_prices, stale

pytestmark = pytest.mark.unit


def test_every_price_names_aws_page_where_it_was_read_and_its_cross_checks() -> None:
    book = load_prices()
    for key, entry in book.entries().items():
        assert entry.read_from.strip() and entry.description.strip(), key
        if key.startswith("aws."):
            assert entry.url.startswith("https://aws.amazon.com/"), key
        assert len(entry.cross_checks) >= 2 or entry.unchecked, key
    t3 = book.price("aws.ec2.t3.small")
    assert t3.amount == 0.0208 and t3.vcpus == 2 and "us-east-1" in t3.description
    assert "matthiaskraaz" not in t3.read_from  # the other region's page is gone
    assert book.price("aws.lambda.requests").unit_price() == pytest.approx(0.20 / 1_000_000)
    assert book.allowance("aws.lambda.free.compute").amount == 400_000


def test_http_api_tiers_apply_beyond_300_million() -> None:
    price = load_prices().price("aws.apigatewayv2.http.requests")
    assert price.cost(5_000_000) == pytest.approx(5.00)
    # 300M at $1.00 per million, then 100M at $0.90: hand-computed $390.
    assert price.cost(400_000_000) == pytest.approx(300 + 90)
    # AWS's table has no further HTTP tier: 2B requests = 300 x $1.00 + 1,700 x $0.90.
    assert price.cost(2_000_000_000) == pytest.approx(300 + 1530)


def test_rest_api_tiers_above_one_billion() -> None:
    price = load_prices().price("aws.apigateway.rest.requests")
    # 333M x $3.50 + 667M x $2.80 + 500M x $2.38 = 1,165.50 + 1,867.60 + 1,190.00.
    assert price.cost(1_500_000_000) == pytest.approx(1165.50 + 1867.60 + 1190.00)


def test_prices_older_than_a_year_are_flagged_on_an_injected_date() -> None:
    book = load_prices()
    flagged = {s.key for s in stale(book, date(2026, 11, 24))}
    assert "aws.ec2.t3.unlimited_surplus" in flagged  # dated 2021-08-30
    assert "aws.lambda.requests" in flagged  # undated: always re-check
    assert "aws.alb.hours" not in flagged  # dated 2026-05-08
    a_year_on = {s.key for s in stale(book, date(2027, 5, 9))}
    assert "aws.alb.hours" in a_year_on
    back_then = {s.key for s in stale(book, date(2026, 6, 1))}
    assert "aws.rds.postgresql.db.t4g.micro" not in back_then  # 2026 -> 2026-01-01
    message = next(
        s for s in stale(book, date(2026, 11, 24)) if s.key == "aws.ec2.t3.unlimited_surplus"
    )
    assert "2021-08-30" in message.message() and "aws.amazon.com" in message.message()


def test_a_malformed_price_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "prices.yaml"
    bad.write_text(
        "version: 1\ncurrency: USD\nregion: us-east-1\nupdated: 2026-11-24\n"
        "prices:\n  x.y:\n    description: d\n    amount: 1\n    unit: hours\n"
        "    url: u\n    read_from: r\n    read_on: 2026-11-25\n    date: last spring\n"
        "    unchecked: none found\n"
    )
    with pytest.raises(PriceError, match=r"prices\.x\.y\.date"):
        load_prices(bad)
    bad.write_text(bad.read_text().replace("last spring", "2026"))
    assert load_prices(bad).price("x.y").amount == 1
    bad.write_text(bad.read_text().replace("    unchecked: none found\n", ""))
    with pytest.raises(PriceError, match=r"prices\.x\.y: .*cross-check"):
        load_prices(bad)
    bad.write_text(
        bad.read_text().replace("x.y:", "aws.x:").replace("date: 2026", "unchecked: none")
    )
    with pytest.raises(PriceError, match=r"aws\.x: url must be AWS's own page"):
        load_prices(bad)
    with pytest.raises(PriceError, match="no price data"):
        load_prices(tmp_path / "missing.yaml")
    with pytest.raises(PriceError, match=r"no price 'aws\.ec2\.m5\.large'"):
        load_prices().price("aws.ec2.m5.large")
