"""`-p HOST:CONTAINER/udp` end to end (issue 5): a UDP echo server in a container
answers datagrams sent from the host to the published port, on loopback and on the
bridge gateway's address; `port` shows the mapping; the DNAT rules go with the
container's stop and come back with its start.

busybox's nc has no -u, so the container side is a tiny static C program,
bind-mounted into a busybox container."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import Stack, wait_for

HOST_PORT = 18191
CONTAINER_PORT = 9000

# Answers each datagram with "<hostname> <payload>", so a reply proves it came from
# inside the container (its --hostname), not from something on the host.
UDP_ECHO_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sockaddr_in addr, peer;
    socklen_t len;
    char host[64], buf[1024], out[1200];
    ssize_t n;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return 2;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(argc > 1 ? atoi(argv[1]) : 9000);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) return 3;
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = 0;
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        len = sizeof(peer);
        n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&peer, &len);
        if (n < 0) continue;
        buf[n] = 0;
        n = snprintf(out, sizeof(out), "%s %s", host, buf);
        sendto(fd, out, (size_t)n, 0, (struct sockaddr *)&peer, len);
    }
}
"""

# One fresh socket (so a fresh source port, never an old conntrack entry) per try.
CLIENT = r"""
import socket, sys, time
host, port, tries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(tries):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.sendto(b"ping", (host, port))
        print(s.recvfrom(2048)[0].decode())
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
    finally:
        s.close()
sys.exit(1)
"""



@pytest.fixture
def udp_echo(tmp_path: Path) -> Path:
    src = tmp_path / "udp-echo.c"
    src.write_text(UDP_ECHO_C)
    out = tmp_path / "udp-echo"
    subprocess.run(["gcc", "-O2", "-static", "-o", str(out), str(src)], check=True,
                   timeout=120)
    return out


def _ask(stack: Stack, host: str, tries: int) -> subprocess.CompletedProcess[str]:
    """A datagram from the stack's host namespace to host:HOST_PORT, and the reply."""
    return subprocess.run(
        stack.netns_argv([sys.executable, "-c", CLIENT, host, str(HOST_PORT), str(tries)]),
        capture_output=True, text=True, timeout=tries * 2 + 30)


def _dnat_rules(stack: Stack) -> list[str]:
    rules = subprocess.run(stack.netns_argv(["iptables", "-w", "-t", "nat", "-S"]),
                           capture_output=True, text=True, check=True).stdout
    return [r for r in rules.splitlines() if "DNAT" in r and str(HOST_PORT) in r]


def test_published_udp_port_answers_from_the_host(stack: Stack, udp_echo: Path) -> None:
    run = stack.cli("run", "-d", "--name", "udp", "--hostname", "udpbox",
                    "-p", f"{HOST_PORT}:{CONTAINER_PORT}/udp",
                    "-v", f"{udp_echo}:/udp-echo:ro",
                    "busybox", "/udp-echo", str(CONTAINER_PORT))
    assert run.returncode == 0, run.stderr
    assert wait_for(lambda: "listening" in stack.cli("logs", "udp").stdout)
    assert stack.cli("port", "udp").stdout == \
        f"{CONTAINER_PORT}/udp -> 0.0.0.0:{HOST_PORT}\n"
    rules = _dnat_rules(stack)
    assert rules and all("-p udp" in r for r in rules), rules

    gateway = json.loads(stack.cli("inspect", "udp").stdout)[0]["NetworkSettings"]["Gateway"]
    for address in ("127.0.0.1", gateway):
        reply = _ask(stack, address, 40)
        assert (reply.returncode, reply.stdout) == (0, "udpbox ping\n"), (address, reply)

    # Stopped: the rules are gone and nothing answers; started again: both come back.
    assert stack.cli("stop", "-t", "0", "udp").returncode == 0
    assert _dnat_rules(stack) == []
    assert _ask(stack, "127.0.0.1", 3).returncode == 1
    assert stack.cli("start", "udp").returncode == 0
    reply = _ask(stack, "127.0.0.1", 40)
    assert (reply.returncode, reply.stdout) == (0, "udpbox ping\n"), reply
    assert stack.cli("rm", "-f", "udp").returncode == 0
    assert _dnat_rules(stack) == []
