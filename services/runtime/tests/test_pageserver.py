"""The page server speaks CRIU's page-server protocol over a stored image."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from pyd_runtime.criu.images import PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT
from pyd_runtime.criu.pageserver import (
    IOV,
    PS_IOV_ADD_F,
    PS_IOV_CLOSE,
    PS_IOV_GET,
    PageServer,
    encode_cmd,
)
from pyd_runtime.criu.testing import page_pattern, write_synthetic_image

PID = 42
LAZY_START = 0x7F0000000000
ENTRIES = [
    (0x400000, 2, PE_PRESENT),
    (LAZY_START, 8, PE_PRESENT | PE_LAZY),
    (LAZY_START + 8 * PAGE_SIZE, 4, PE_PRESENT | PE_LAZY),  # adjacent entry
]


@pytest.fixture
def server(tmp_path):
    write_synthetic_image(tmp_path / "img", PID, ENTRIES)
    with PageServer(tmp_path / "img") as ps:
        yield ps


def connect(ps: PageServer) -> socket.socket:
    return socket.create_connection(ps.address, timeout=5)


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"got {len(buf)} of {n}")
        buf += chunk
    return buf


def get(s: socket.socket, vaddr: int, nr: int, dst_id: int = PID) -> tuple[int, int, bytes]:
    s.sendall(IOV.pack(PS_IOV_GET, nr, vaddr, dst_id))
    cmd, got, addr, dst = IOV.unpack(recv_exact(s, IOV.size))
    assert (addr, dst) == (vaddr, dst_id)
    return cmd, got, recv_exact(s, got * PAGE_SIZE)


def expected(vaddr: int, nr: int) -> bytes:
    return b"".join(page_pattern(vaddr + i * PAGE_SIZE) for i in range(nr))


def test_get_answers_add_f_with_present_flag_and_page_data(server):
    with connect(server) as s:
        cmd, nr, data = get(s, LAZY_START + PAGE_SIZE, 3)
    assert cmd == encode_cmd(PS_IOV_ADD_F, PE_PRESENT) == 6 | 4 << 16
    assert nr == 3 and data == expected(LAZY_START + PAGE_SIZE, 3)


def test_request_spanning_entries_is_cut_at_the_entry_end(server):
    with connect(server) as s:
        _cmd, nr, data = get(s, LAZY_START + 6 * PAGE_SIZE, 6)
        assert nr == 2 and data == expected(LAZY_START + 6 * PAGE_SIZE, 2)
        # the client asks again for the rest, as CRIU's lazy-pages does
        _cmd, nr, data = get(s, LAZY_START + 8 * PAGE_SIZE, 4)
        assert nr == 4 and data == expected(LAZY_START + 8 * PAGE_SIZE, 4)
    assert server.stats.pages_sent == 6
    assert server.stats.bytes_sent == 6 * PAGE_SIZE + 2 * IOV.size


def test_close_is_answered_with_zero_status(server):
    with connect(server) as s:
        get(s, 0x400000, 1)
        s.sendall(IOV.pack(PS_IOV_CLOSE, 0, 0, 0))
        assert recv_exact(s, 4) == b"\0\0\0\0"
    assert server.wait_closed(5)
    assert server.stats.closes == 1


def test_unknown_task_or_address_drops_the_connection(server):
    with connect(server) as s:
        s.sendall(IOV.pack(PS_IOV_GET, 1, LAZY_START, 999))
        assert s.recv(1) == b""
    with connect(server) as s:
        s.sendall(IOV.pack(PS_IOV_GET, 1, 0x10000, PID))
        assert s.recv(1) == b""
    assert server.stats.errors == 2


def test_encoded_dst_id_is_accepted(server):
    with connect(server) as s:
        _cmd, nr, data = get(s, 0x400000, 2, dst_id=PID << 8 | 1)
    assert nr == 2 and data == expected(0x400000, 2)


def test_many_connections_are_served_at_once(server):
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            with connect(server) as s:
                for _ in range(20):
                    vaddr = LAZY_START + (i % 8) * PAGE_SIZE
                    _cmd, _nr, data = get(s, vaddr, 1)
                    assert data == expected(vaddr, 1)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert server.stats.connections == 16 and server.stats.pages_sent == 320


def test_pages_kept_in_parent_image_are_served_from_it(tmp_path):
    write_synthetic_image(tmp_path / "pre", PID, [(LAZY_START, 4, PE_PRESENT | PE_LAZY)])
    write_synthetic_image(tmp_path / "dump", PID, [
        (0x400000, 1, PE_PRESENT),
        (LAZY_START, 4, PE_PARENT | PE_LAZY),
    ])
    (tmp_path / "dump" / "parent").symlink_to("../pre")
    with PageServer(tmp_path / "dump") as ps, connect(ps) as s:
        _cmd, nr, data = get(s, LAZY_START + PAGE_SIZE, 8)
    assert nr == 3 and data == expected(LAZY_START + PAGE_SIZE, 3)


def test_stop_closes_open_connections(tmp_path):
    write_synthetic_image(tmp_path / "img", PID, ENTRIES)
    ps = PageServer(tmp_path / "img").start()
    s = connect(ps)
    get(s, 0x400000, 1)
    ps.stop()
    assert s.recv(1) == b""
    s.close()
    with pytest.raises(OSError):
        socket.create_connection(ps.address, timeout=1)


def test_header_layout_is_24_bytes_little_endian():
    assert IOV.size == 24
    assert IOV.pack(7, 1, 2, 3) == struct.pack("<IIQQ", 7, 1, 2, 3)


def test_command_line_server_exits_when_the_client_is_done(tmp_path):
    import subprocess
    import sys

    write_synthetic_image(tmp_path / "img", PID, ENTRIES)
    proc = subprocess.Popen([sys.executable, "-m", "pyd_runtime.criu.pageserver",
                             str(tmp_path / "img"), "--exit-when-done"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        host, port = proc.stdout.readline().split()[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            _cmd, nr, _data = get(s, LAZY_START, 8)
            assert nr == 8
            s.sendall(IOV.pack(PS_IOV_CLOSE, 0, 0, 0))
            assert recv_exact(s, 4) == b"\0\0\0\0"
        assert proc.wait(10) == 0
        assert "8 pages" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    import shutil

    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    from pyd_runtime.criu.testing import make_tls_set

    return make_tls_set(tmp_path_factory.mktemp("tls"))


def _client_ctx(tls, cert, key):
    import ssl

    ctx = ssl.create_default_context(cafile=str(tls.ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_tls_server_serves_clients_with_the_right_certificate(tmp_path, tls):
    from pyd_runtime.criu.pageserver import tls_server_context

    write_synthetic_image(tmp_path / "img", PID, ENTRIES)
    ctx = tls_server_context(tls.server_cert, tls.server_key, tls.ca)
    with PageServer(tmp_path / "img", ssl_context=ctx) as ps:
        client = _client_ctx(tls, tls.client_cert, tls.client_key)
        with client.wrap_socket(connect(ps), server_hostname="127.0.0.1") as s:
            _cmd, nr, data = get(s, LAZY_START, 8)
            assert nr == 8 and data == expected(LAZY_START, 8)
            s.sendall(IOV.pack(PS_IOV_CLOSE, 0, 0, 0))
            assert recv_exact(s, 4) == b"\0\0\0\0"
        assert ps.wait_closed(5)


def test_tls_server_refuses_a_certificate_from_another_ca(tmp_path, tls):
    import ssl

    from pyd_runtime.criu.pageserver import tls_server_context

    write_synthetic_image(tmp_path / "img", PID, ENTRIES)
    ctx = tls_server_context(tls.server_cert, tls.server_key, tls.ca)
    with PageServer(tmp_path / "img", ssl_context=ctx) as ps:
        client = _client_ctx(tls, tls.rogue_cert, tls.rogue_key)
        with pytest.raises((ssl.SSLError, OSError, EOFError)):
            with client.wrap_socket(connect(ps), server_hostname="127.0.0.1") as s:
                get(s, LAZY_START, 1)
        # and a plain-text client gets nothing either
        with connect(ps) as s:
            s.sendall(IOV.pack(PS_IOV_GET, 1, LAZY_START, PID))
            try:
                assert s.recv(24) == b""
            except ConnectionResetError:
                pass
        assert ps.stats.pages_sent == 0


def test_bytes_to_running_stop_counting_at_the_first_stream_request(server):
    with connect(server) as s:
        get(s, LAZY_START, 1)  # faults: one page each
        get(s, LAZY_START + PAGE_SIZE, 1)
        assert server.stats.bytes_to_running == 2 * (PAGE_SIZE + IOV.size)
        get(s, LAZY_START + 2 * PAGE_SIZE, 4)  # the background stream begins
        get(s, LAZY_START + 6 * PAGE_SIZE, 1)
    assert server.stats.bytes_to_running == 2 * (PAGE_SIZE + IOV.size)
    assert server.stats.bytes_sent == 7 * PAGE_SIZE + 4 * IOV.size
