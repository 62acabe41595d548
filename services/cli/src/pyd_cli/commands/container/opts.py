"""The flags `run` and `create` share, and their translation into a create request
(docker/cli's cli/command/container/opts.go: addFlags + parse)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from pyd_cli.cmdutil import usage_error
from pyd_cli.opts import FlagType, OptError
from pyd_cli.opts.env import parse_key_value, parse_labels, read_env, validate_env
from pyd_cli.opts.mounts import (
    MountSpec,
    bind_string,
    parse_mount,
    parse_tmpfs,
    parse_volume,
    validate_volume,
)
from pyd_cli.opts.ports import parse_expose, parse_port_specs
from pyd_cli.opts.restart import parse_restart_policy
from pyd_cli.opts.units import parse_cpus, ram_in_bytes

if TYPE_CHECKING:
    from pyd_proto.pyd.dockerd.v1 import containers_pb2


def _attach_stream(value: str) -> str:
    lowered = value.lower()
    if lowered not in ("stdin", "stdout", "stderr"):
        raise OptError("valid streams are STDIN, STDOUT and STDERR")
    return lowered


def _go_bool(value: str) -> bool:
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise OptError(f'parse error on "{value}": invalid syntax')


GO_BOOL = FlagType("bool", _go_bool)


def long_bool(*decls: str, help: str, default: bool | None = False) -> Callable[[Any], Any]:
    """A boolean flag; `--rm=false` also works (lazy.py rewrites docker's `=BOOL` form)."""
    return click.option(*decls, is_flag=True, default=default, help=help)


_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "-a",
        "--attach",
        multiple=True,
        type=FlagType("list", _attach_stream),
        help="Attach to STDIN, STDOUT or STDERR",
    ),
    click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)"),
    click.option("--cap-add", multiple=True, help="Add Linux capabilities"),
    click.option("--cap-drop", multiple=True, help="Drop Linux capabilities"),
    click.option("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight)"),
    click.option(
        "--cpus", type=FlagType("decimal", parse_cpus), default=None, help="Number of CPUs"
    ),
    click.option("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)"),
    click.option("--dns", multiple=True, help="Set custom DNS servers"),
    click.option("--domainname", default="", help="Container NIS domain name"),
    click.option(
        "--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image"
    ),
    click.option(
        "-e",
        "--env",
        multiple=True,
        type=FlagType("list", validate_env),
        help="Set environment variables",
    ),
    click.option("--env-file", multiple=True, help="Read in a file of environment variables"),
    click.option("--expose", multiple=True, help="Expose a port or a range of ports"),
    click.option(
        "--from-checkpoint",
        default="",
        metavar="FILE|NAME",
        help="pyd: create the container from a checkpoint (an exported file, an "
        "imported checkpoint's name, or CONTAINER/CHECKPOINT)",
    ),
    click.option(
        "--from-checkpoint-dir", default="", help="pyd: directory holding --from-checkpoint"
    ),
    click.option("-h", "--hostname", default="", help="Container host name"),
    long_bool(
        "--init",
        default=None,
        help="Run an init inside the container that forwards signals and reaps processes",
    ),
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached"),
    click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)"),
    click.option("--ipc", default="", help="IPC mode to use"),
    click.option(
        "-l",
        "--label",
        multiple=True,
        type=FlagType("list", parse_key_value),
        help="Set meta data on a container",
    ),
    click.option("--log-driver", default="", help="Logging driver for the container"),
    click.option("--log-opt", multiple=True, help="Log driver options"),
    click.option(
        "-m", "--memory", type=FlagType("bytes", ram_in_bytes), default=None, help="Memory limit"
    ),
    click.option(
        "--memory-reservation",
        type=FlagType("bytes", ram_in_bytes),
        default=None,
        help="Memory soft limit",
    ),
    click.option(
        "--mount",
        multiple=True,
        type=FlagType("mount", parse_mount),
        help="Attach a filesystem mount to the container",
    ),
    click.option("--name", default="", help="Assign a name to the container"),
    click.option(
        "--network", "--net", "network", default="", help="Connect a container to a network"
    ),
    click.option(
        "--network-alias", multiple=True, help="Add network-scoped alias for the container"
    ),
    click.option("--pid", default="", help="PID namespace to use"),
    click.option(
        "--pids-limit",
        type=int,
        default=None,
        help="Tune container pids limit (set -1 for unlimited)",
    ),
    click.option("--platform", default="", help="Set platform if server is multi-platform capable"),
    long_bool("--privileged", help="Give extended privileges to this container"),
    click.option(
        "-p", "--publish", multiple=True, help="Publish a container's port(s) to the host"
    ),
    click.option(
        "-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports"
    ),
    click.option(
        "--pull",
        default="missing",
        type=click.Choice(["always", "missing", "never"]),
        help='Pull image before running ("always", "missing", "never")',
    ),
    long_bool("--read-only", help="Mount the container's root filesystem as read only"),
    click.option("--restart", default="no", help="Restart policy to apply when a container exits"),
    long_bool("--rm", "auto_remove", help="Automatically remove the container when it exits"),
    click.option("--security-opt", multiple=True, help="Security Options"),
    click.option(
        "--shm-size", type=FlagType("bytes", ram_in_bytes), default=None, help="Size of /dev/shm"
    ),
    click.option("--stop-signal", default="", help="Signal to stop the container"),
    click.option(
        "--stop-timeout", type=int, default=None, help="Timeout (in seconds) to stop a container"
    ),
    click.option("--tmpfs", multiple=True, help="Mount a tmpfs directory"),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY"),
    click.option(
        "-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])"
    ),
    click.option("--uts", default="", help="UTS namespace to use"),
    click.option("-v", "--volume", multiple=True, help="Bind mount a volume"),
    click.option("-w", "--workdir", default="", help="Working directory inside the container"),
]


def container_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with every flag `run` and `create` share."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


@dataclass
class ContainerSpec:
    """What parse() produced: the request and the values the commands act on."""

    request: containers_pb2.CreateContainerRequest
    image: str
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    tty: bool
    open_stdin: bool
    auto_remove: bool


def _mount_proto(m: MountSpec) -> Any:
    from pyd_proto.pyd.dockerd.v1 import types_pb2

    mount = types_pb2.Mount(
        type=m.type,
        source=m.source,
        target=m.target,
        read_only=m.read_only,
        consistency=m.consistency,
    )
    if "bind" in m.touched:
        mount.bind_options.propagation = m.bind_propagation or ""
        mount.bind_options.non_recursive = bool(m.bind_nonrecursive)
    if "volume" in m.touched:
        mount.volume_options.no_copy = bool(m.volume_nocopy)
        mount.volume_options.labels.update(m.volume_labels or {})
        if m.volume_driver or m.volume_opts:
            mount.volume_options.driver_config.name = m.volume_driver or ""
            mount.volume_options.driver_config.options.update(m.volume_opts or {})
    if "tmpfs" in m.touched:
        mount.tmpfs_options.size_bytes = m.tmpfs_size or 0
        mount.tmpfs_options.mode = m.tmpfs_mode or 0
    return mount


def parse(
    ctx: click.Context, o: dict[str, Any], args: tuple[str, ...], *, detach: bool
) -> ContainerSpec:
    """Flags + IMAGE [COMMAND] [ARG...] → a CreateContainerRequest, or docker's
    `pyd: MSG.` / `See 'pyd run --help'.` error (exit 125)."""
    image = args[0] if args else ""
    cmd = list(args[1:])
    try:
        env = read_env(list(o["env_file"]), list(o["env"]))
        exposed, bindings = parse_port_specs(list(o["publish"]))
        for spec in o["expose"]:
            for port in parse_expose(spec):
                if port not in exposed:
                    exposed.append(port)
        policy, retries = parse_restart_policy(o["restart"])
        binds: list[str] = []
        volumes: list[str] = []
        for spec in o["volume"]:
            vol = parse_volume(spec)
            validate_volume(spec, vol)
            if vol.source:
                binds.append(bind_string(spec, vol))
            else:
                volumes.append(vol.target)
    except OptError as err:
        raise usage_error(ctx, str(err)) from None
    if o["auto_remove"] and policy not in ("", "no"):
        raise usage_error(ctx, "conflicting options: cannot specify both --restart and --rm")

    attach = set(o["attach"])
    attach_stdin = "stdin" in attach or bool(o["interactive"])
    attach_stdout = "stdout" in attach or not attach
    attach_stderr = "stderr" in attach or not attach
    if detach:
        if attach:
            raise usage_error(ctx, "conflicting options: cannot specify both --attach and --detach")
        attach_stdin = attach_stdout = attach_stderr = False

    # protobuf only now: a bad flag fails without loading it
    from pyd_proto.pyd.dockerd.v1 import containers_pb2, types_pb2

    config = types_pb2.Config(
        hostname=o["hostname"],
        domainname=o["domainname"],
        user=o["user"],
        attach_stdin=attach_stdin,
        attach_stdout=attach_stdout,
        attach_stderr=attach_stderr,
        tty=bool(o["tty"]),
        open_stdin=bool(o["interactive"]),
        stdin_once=bool(o["interactive"]) and attach_stdin and not detach,
        env=env,
        cmd=cmd,
        image=image,
        working_dir=o["workdir"],
        labels=parse_labels(list(o["label"])),
        stop_signal=o["stop_signal"],
    )
    if o["entrypoint"] is not None:
        config.entrypoint.extend([o["entrypoint"]] if o["entrypoint"] else [""])
    if o["stop_timeout"] is not None:
        config.stop_timeout = o["stop_timeout"]
    for port in exposed:
        config.exposed_ports[port].SetInParent()
    for target in volumes:
        config.volumes[target].SetInParent()

    host = types_pb2.HostConfig(
        binds=binds,
        network_mode=o["network"],
        auto_remove=bool(o["auto_remove"]),
        cap_add=list(o["cap_add"]),
        cap_drop=list(o["cap_drop"]),
        dns=list(o["dns"]),
        extra_hosts=list(o["add_host"]),
        ipc_mode=o["ipc"],
        pid_mode=o["pid"],
        uts_mode=o["uts"],
        privileged=bool(o["privileged"]),
        publish_all_ports=bool(o["publish_all"]),
        readonly_rootfs=bool(o["read_only"]),
        security_opt=list(o["security_opt"]),
        shm_size=o["shm_size"] or 0,
    )
    host.restart_policy.name = policy
    host.restart_policy.maximum_retry_count = retries
    for port, items in bindings.items():
        pb = host.port_bindings[port]
        for host_ip, host_port in items:
            pb.items.add(host_ip=host_ip, host_port=host_port)
    if o["log_driver"] or o["log_opt"]:
        host.log_config.type = o["log_driver"]
        host.log_config.config.update(parse_labels(list(o["log_opt"])))
    for value in o["tmpfs"]:
        path, options = parse_tmpfs(value)
        host.tmpfs[path] = options
    host.mounts.extend(_mount_proto(m) for m in o["mount"])
    if o["init"] is not None:
        host.init = bool(o["init"])
    res = host.resources
    res.memory = o["memory"] or 0
    res.memory_reservation = o["memory_reservation"] or 0
    res.nano_cpus = o["cpus"] or 0
    res.cpu_shares = o["cpu_shares"] or 0
    res.cpuset_cpus = o["cpuset_cpus"]
    if o["pids_limit"] is not None:
        res.pids_limit = o["pids_limit"]
    if o["tty"] and sys.stdout.isatty():
        try:
            size = os.get_terminal_size(sys.stdout.fileno())
            host.console_size.extend([size.lines, size.columns])
        except OSError:
            pass

    networking = types_pb2.NetworkingConfig()
    if o["network"] and (o["ip"] or o["network_alias"]):
        ep = networking.endpoints_config[o["network"]]
        ep.aliases.extend(o["network_alias"])
        if o["ip"]:
            ep.ipam_config.ipv4_address = o["ip"]

    request = containers_pb2.CreateContainerRequest(
        name=o["name"],
        config=config,
        host_config=host,
        networking_config=networking,
        platform=o["platform"],
        from_checkpoint=o["from_checkpoint"],
        from_checkpoint_dir=o["from_checkpoint_dir"],
    )
    return ContainerSpec(
        request=request,
        image=image,
        attach_stdin=attach_stdin,
        attach_stdout=attach_stdout,
        attach_stderr=attach_stderr,
        tty=bool(o["tty"]),
        open_stdin=bool(o["interactive"]),
        auto_remove=bool(o["auto_remove"]),
    )
