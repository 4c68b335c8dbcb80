"""``bench run --split``: parsing, the candidates auto probes, the choice among probes, CPU accounting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import cpu
from bench.report import headline
from bench.split import Split, best, candidates, parse_candidates, parse_split

DEFAULT = Split(2, 1, 2)


def test_a_split_is_parsed_and_a_service_left_out_keeps_its_default() -> None:
    assert parse_split("ingress=1,router=2,normalizer=3", DEFAULT) == Split(1, 2, 3)
    assert parse_split(" normalizer=4 ", DEFAULT) == Split(2, 1, 4)


@pytest.mark.parametrize(
    "bad", ["", "ingress", "ingress=0", "ingress=-1", "ingress=x", "sender=2", "ingress=1.5"]
)
def test_a_malformed_split_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"expected service=count|whole number"):
        parse_split(bad, DEFAULT)


@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 64))
def test_a_split_reads_back_from_its_own_text(i: int, r: int, n: int) -> None:
    split = Split(i, r, n)
    assert parse_split(str(split), DEFAULT) == split


def test_candidates_are_parsed_in_order_without_repeats() -> None:
    text = "ingress=1,router=1,normalizer=1; normalizer=2;ingress=1,router=1,normalizer=1;"
    assert parse_candidates(text, Split(1, 1, 1)) == [Split(1, 1, 1), Split(1, 1, 2)]


def test_auto_probes_fewest_processes_first_and_nothing_twice() -> None:
    assert candidates(2) == [Split(1, 1, 1), Split(1, 1, 2), Split(2, 1, 2), Split(1, 2, 2)]
    assert candidates(1) == [Split(1, 1, 1)]
    assert candidates(0) == [Split(1, 1, 1)]


def test_the_best_rate_wins_and_a_tie_goes_to_the_earlier_candidate() -> None:
    a, b, c = Split(1, 1, 1), Split(1, 1, 2), Split(2, 1, 2)
    assert best([(a, 100.0), (b, 250.0), (c, 200.0)]) == b
    assert best([(a, 100.0), (b, 100.0)]) == a
    with pytest.raises(ValueError, match="no probe"):
        best([])


@given(st.lists(st.floats(0, 1e5), min_size=1, max_size=8))
def test_no_probe_beats_the_chosen_one(rates: list[float]) -> None:
    probes = [(Split(1, 1, k + 1), r) for k, r in enumerate(rates)]
    chosen = best(probes)
    index = next(k for k, (s, _) in enumerate(probes) if s == chosen)
    assert all(r <= rates[index] for r in rates)
    assert all(r < rates[index] for r in rates[:index])


CPU_SECONDS = {
    "ingress-webhooks": 1.0,
    "tenant-router": 2.0,
    "normalizer": 3.0,
    "rabbitmq": 1.5,
    "postgresql": 0.5,
    "postgresql@main": 0.3,
    "postgresql@bench2": 0.2,
    "graph-stub": 0.25,
    "loadgen": 4.0,
    "bench": 0.75,
}


def test_the_product_excludes_the_load_generator_stub_and_bench_and_counts_postgresql_once() -> None:
    acc = cpu.accounting(CPU_SECONDS, 1000)
    assert acc["product_cpu_s"] == 8.0
    assert acc["product_ms_per_event"] == 8.0
    assert acc["services_ms_per_event"] == 6.0
    assert acc["loadgen_cpu_s"] == 4.0
    assert acc["loadgen_ms_per_event"] == 4.0
    assert acc["harness_cpu_s"] == {"graph-stub": 0.25, "loadgen": 4.0, "bench": 0.75}
    assert acc["harness_ms_per_event"] == 5.0


def test_no_events_gives_no_per_event_figure() -> None:
    acc = cpu.accounting(CPU_SECONDS, 0)
    assert acc["product_ms_per_event"] is None
    assert acc["loadgen_ms_per_event"] is None


def test_the_headline_names_rate_product_cpu_load_generator_and_split() -> None:
    results = {
        "pipeline": {"e2e": {"events_per_s": 1234.4}, "cpu": cpu.accounting(CPU_SECONDS, 1000)},
        "split": {"used": "ingress=1,router=1,normalizer=2", "chosen_by": "probes", "probes": []},
    }
    text = headline(results)
    assert "**1,234 events/s**" in text
    assert "product CPU 8.000 ms/event" in text
    assert "load generator 4.000 ms/event" in text
    assert "split ingress=1,router=1,normalizer=2 (best of the probes below)" in text
