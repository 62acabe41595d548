"""The parts of `stats` and `update` that are plain logic: reading cgroup files into
Docker's StatsJSON fields (v1 and v2 layouts), and merging an update into a
HostConfig with Docker's rules. The end-to-end tests in tests/ run them on real
containers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pyd_dockerd.daemon import stats, update
from pyd_proto.errdefs import InvalidArgument


def _write(base: Path, files: dict[str, str]) -> str:
    base.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (base / name).write_text(text)
    return str(base)


def test_v1_cgroup_files_become_docker_stats(tmp_path: Path) -> None:
    paths = {
        "cpuacct": _write(tmp_path / "cpuacct", {
            "cpuacct.usage": "5000000000\n", "cpuacct.usage_percpu": "3000000000 2000000000\n",
            "cpuacct.stat": "user 300\nsystem 100\n"}),
        "cpu": _write(tmp_path / "cpu", {"cpu.stat": "nr_periods 10\nnr_throttled 2\n"
                                                     "throttled_time 777\n"}),
        "memory": _write(tmp_path / "memory", {
            "memory.usage_in_bytes": "1048576\n", "memory.max_usage_in_bytes": "2097152\n",
            "memory.failcnt": "0\n", "memory.limit_in_bytes": "9223372036854771712\n",
            "memory.stat": "cache 4096\ntotal_inactive_file 4096\n"}),
        "pids": _write(tmp_path / "pids", {"pids.current": "3\n", "pids.max": "max\n"}),
        "blkio": _write(tmp_path / "blkio", {
            "blkio.io_service_bytes_recursive": "",
            "blkio.throttle.io_service_bytes": "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n",
            "blkio.throttle.io_serviced": "8:0 Read 1\n8:0 Write 2\nTotal 3\n"}),
    }
    s = stats.Sample(read=datetime.now(UTC))
    stats.read_cgroups(paths, s, mem_total=8 << 30)
    usage = s.cpu["cpu_usage"]
    assert usage["total_usage"] == 5_000_000_000
    assert usage["percpu_usage"] == [3_000_000_000, 2_000_000_000]
    assert usage["usage_in_usermode"] == 300 * stats._NS_PER_TICK
    assert s.cpu["throttling_data"] == {"periods": 10, "throttled_periods": 2,
                                        "throttled_time": 777}
    # No limit set: Docker shows the host's memory as the limit.
    assert (s.memory["usage"], s.memory["limit"]) == (1 << 20, 8 << 30)
    assert s.memory["stats"]["total_inactive_file"] == 4096
    assert s.pids == {"current": 3, "limit": 0}
    assert s.blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 8192}]


def test_v2_cgroup_files_become_docker_stats(tmp_path: Path) -> None:
    v2 = _write(tmp_path / "ctr", {
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\n"
                    "nr_throttled 1\nthrottled_usec 20\n",
        "memory.current": "4096\n", "memory.max": "67108864\n",
        "memory.stat": "anon 1024\ninactive_file 512\n",
        "pids.current": "2\n", "pids.max": "10\n",
        "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"})
    s = stats.Sample(read=datetime.now(UTC))
    stats.read_cgroups({"": v2}, s, mem_total=8 << 30)
    assert s.cpu["cpu_usage"]["total_usage"] == 1_500_000
    assert s.cpu["throttling_data"]["throttled_time"] == 20_000
    assert (s.memory["usage"], s.memory["limit"]) == (4096, 64 << 20)
    assert s.memory["stats"]["inactive_file"] == 512
    assert s.pids == {"current": 2, "limit": 10}
    assert s.blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 100},
        {"major": 8, "minor": 0, "op": "write", "value": 200}]
    assert [e["value"] for e in s.blkio["io_serviced_recursive"]] == [1, 2]


def test_system_cpu_usage_and_network_counters_come_from_proc() -> None:
    assert stats.system_cpu_usage() > 0
    assert stats.online_cpus() >= 1
    nets = stats.read_networks(1)
    assert "lo" not in nets
    for counters in nets.values():
        assert set(counters) == {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                 "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}


def test_update_merges_only_what_is_set() -> None:
    hc = {"Memory": 64 << 20, "NanoCpus": 1_000_000_000, "PidsLimit": 10,
          "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}
    new = update.merge(hc, {"NanoCpus": 500_000_000}, None)
    assert new["Memory"] == 64 << 20 and new["NanoCpus"] == 500_000_000
    assert new["PidsLimit"] == 10 and hc["NanoCpus"] == 1_000_000_000  # a copy
    assert update.merge(hc, {"PidsLimit": -1}, None)["PidsLimit"] == 0
    policy = update.merge(hc, {}, {"Name": "on-failure", "MaximumRetryCount": 3})
    assert policy["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    res = update.linux_resources(new)
    assert res["memory"] == {"limit": 64 << 20}
    assert res["cpu"] == {"period": 100_000, "quota": 50_000}
    assert res["pids"] == {"limit": 10}
    assert update.linux_resources({})["pids"] == {"limit": -1}


@pytest.mark.parametrize("hc, res, policy, message", [
    ({}, {"Memory": 1024}, None, "Minimum memory limit allowed is 6MB"),
    ({"MemorySwap": 32 << 20}, {"Memory": 64 << 20}, None, "update the memoryswap"),
    ({}, {}, {"Name": "sometimes"}, "invalid restart policy 'sometimes'"),
    ({}, {}, {"Name": "always", "MaximumRetryCount": 2}, "only be used with 'on-failure'"),
    ({"AutoRemove": True}, {}, {"Name": "always"}, "AutoRemove is enabled"),
    ({"CpuQuota": 50000}, {"NanoCpus": 1_000_000_000}, None, "NanoCPUs"),
])
def test_update_refuses_what_docker_refuses(hc: dict[str, object], res: dict[str, object],
                                            policy: dict[str, object] | None,
                                            message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        update.merge(hc, res, policy)
