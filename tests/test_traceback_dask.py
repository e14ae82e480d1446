"""The Dask integration (shakenkit.traceback.dask) on a real ``distributed.LocalCluster`` of 2
worker processes with 1 thread each: partitions verified on the workers, one Verifier per worker
process, and exactly the aggregates of one process and of ``verify_many`` on 2 workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dask.bag", reason="dask is not installed (pip install 'shakenkit[dask]')")
pytest.importorskip("distributed", reason="dask.distributed is not installed ('shakenkit[dask]')")
pd = pytest.importorskip("pandas", reason="pandas is needed for dask.dataframe ('shakenkit[dask]')")
dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe is not installed")

from distributed import Client, LocalCluster  # noqa: E402

from shakenkit.sip.capture import read_records  # noqa: E402
from shakenkit.traceback import (  # noqa: E402
    Aggregator,
    LookupQuery,
    analyze,
    verify_many,
)
from shakenkit.traceback import dask as ds  # noqa: E402
from tests.test_traceback import T0, Archive, build_archive, num  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("dask-archive"), scale=3)


def test_bag_aggregates_equal_one_process_and_two_workers(big: Archive, client: Client) -> None:
    """The acceptance rule: single process == verify_many on 2 workers == Dask, exactly."""
    q = LookupQuery(num(0), T0, T0 + 86_400)
    single = analyze(read_records(big.path), big.config, lookup=q).tables()
    two = analyze(read_records(big.path), big.config, workers=2, chunk_size=7, lookup=q).tables()
    many = Aggregator(q).update(verify_many(read_records(big.path), big.config, workers=2))
    many.skipped = 1
    bag = ds.read_bag([big.path], lines_per_partition=13)
    assert bag.npartitions == 7
    got = ds.aggregate_bag(bag, big.config, lookup=q, split_every=3).compute()
    assert got.tables() == single == two == many.tables()
    assert got.summary()["skipped_records"] == 1 and got.summary()["calls"] == 3 * 27


def test_bag_partitions_keep_records_and_lines(big: Archive, client: Client) -> None:
    bag = ds.read_bag(str(big.path), lines_per_partition=10)
    assert bag.compute() == list(read_records(big.path))
    got = ds.verify_bag(bag, big.config).compute()
    assert got == list(verify_many(read_records(big.path), big.config))
    again = ds.aggregate_records(ds.verify_bag(bag, big.config)).compute()
    ref = Aggregator().update(got)
    assert again.tables() == ref.tables()


def test_one_verifier_per_worker_process(big: Archive, client: Client) -> None:
    ds.aggregate_bag(ds.read_bag(big.path, lines_per_partition=5), big.config).compute()

    def verifiers() -> int:
        from shakenkit.traceback import config as traceback

        return len(traceback._VERIFIERS)

    counts = client.run(verifiers)
    assert len(counts) == 2 and set(counts.values()) == {1}


def test_dataframe_verdicts_and_aggregates(big: Archive, client: Client) -> None:
    rows = [json.loads(x) for x in big.path.read_text().splitlines()]
    rows = [r for r in rows if not isinstance(r.get("identity"), int)]
    pdf = pd.DataFrame(rows, columns=["identity", "orig", "dest", "time", "call_id"])
    ddf = dd.from_pandas(pdf, npartitions=4)
    q = LookupQuery(num(0))
    ref = analyze(rows, big.config, lookup=q)
    got = ds.aggregate_dataframe(ddf, big.config, lookup=q, split_every=2).compute()
    assert got.tables() == ref.tables()
    verdicts = ds.verify_dataframe(ddf, big.config).compute()
    assert len(verdicts) == len(rows)
    assert list(verdicts["caller_id"]) == [r.caller_id for r in verify_many(rows, big.config)]
    assert str(verdicts["time"].dtype) == "float64"


def test_read_bag_other_formats_are_one_partition_each(client: Client) -> None:
    data = Path(__file__).parent / "data" / "samples"
    paths: list[Any] = [data / "calls.pcap", data / "calls.sip", data / "calls.jsonl"]
    bag = ds.read_bag(paths, lines_per_partition=3)
    assert bag.npartitions == 1 + 1 + 3
    expected = [r for p in paths for r in read_records(p)]
    assert bag.compute() == expected


def test_evidence_joins_the_same_on_dask_as_on_one_process(
    big: Archive, client: Client, tmp_path: Path
) -> None:
    """Complaints and providers joined on the workers (the evidence travels in the graph once):
    the tables equal the single-process ones, complaints table included."""
    from shakenkit.traceback import Evidence
    from tests.test_traceback_evidence import ftc_row, write_ftc, write_providers

    evidence = Evidence.load(
        [write_ftc(tmp_path / "c.csv", [ftc_row(f"21555510{i:02d}", "2026-01-10") for i in
                                         (0, 20, 21, 51, 60)])],
        [write_providers(tmp_path / "p.csv", [("100X", "Example", "Complete")])],
    )  # fmt: skip
    single = analyze(read_records(big.path), big.config, evidence=evidence).tables()
    assert single["complaints"] and single["summary"]["complained_calls"] > 0
    bag = ds.read_bag([big.path], lines_per_partition=13)
    got = ds.aggregate_bag(bag, big.config, evidence=evidence, split_every=3).compute()
    assert got.tables() == single
    rows = [json.loads(x) for x in big.path.read_text().splitlines()]
    rows = [r for r in rows if not isinstance(r.get("identity"), int)]
    ddf = dd.from_pandas(pd.DataFrame(rows), npartitions=3)
    frame = ds.aggregate_dataframe(ddf, big.config, evidence=evidence).compute()
    assert frame.complaints() == got.complaints()
    assert frame.signers() == got.signers()
