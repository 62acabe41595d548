"""`pyd images` / `pyd image ls`: list images (Images.List), docker's columns."""

from __future__ import annotations

import time
from typing import Any

import click

from pyd_cli.cmdutil import filter_option, filters_proto, require_args, timestamp_seconds
from pyd_cli.context import Cli
from pyd_cli.formatting import format_output, human_duration, human_size_precision, truncate_id

DEFAULT_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)
DIGEST_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
    "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)
HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}


def split_repo_tag(ref: str) -> tuple[str, str]:
    """ "localhost:5000/x:1" → ("localhost:5000/x", "1"); no tag → "<none>"."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "<none>"


class ImageContext:
    """docker's formatter.imageContext: one row per (repository, tag) of an image."""

    FIELDS = (
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "Digest",
        "ID",
        "Repository",
        "SharedSize",
        "Size",
        "Tag",
        "UniqueSize",
    )

    def __init__(
        self, img: Any, repo: str, tag: str, digest: str, *, trunc: bool, now: float
    ) -> None:
        self._i = img
        self.Repository = repo
        self.Tag = tag
        self.Digest = digest
        self._trunc = trunc
        self._now = now

    @property
    def ID(self) -> str:
        return truncate_id(self._i.id) if self._trunc else str(self._i.id)

    @property
    def CreatedSince(self) -> str:
        created = timestamp_seconds(self._i.created)
        if created <= 0:
            return ""
        return human_duration(self._now - created) + " ago"

    @property
    def CreatedAt(self) -> str:
        import datetime

        dt = datetime.datetime.fromtimestamp(timestamp_seconds(self._i.created)).astimezone()
        return dt.strftime("%Y-%m-%d %H:%M:%S %z %Z")

    @property
    def Size(self) -> str:
        return human_size_precision(float(self._i.size), 3)

    @property
    def Containers(self) -> str:
        return "N/A" if self._i.containers < 0 else str(self._i.containers)

    @property
    def SharedSize(self) -> str:
        if self._i.shared_size < 0:
            return "N/A"
        return human_size_precision(float(self._i.shared_size), 3)

    @property
    def UniqueSize(self) -> str:
        if self._i.shared_size < 0:
            return "N/A"
        return human_size_precision(float(self._i.size - self._i.shared_size), 3)

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.FIELDS}


def image_rows(images: list[Any], *, trunc: bool, digests: bool, now: float) -> list[ImageContext]:
    """docker's imageFormat expansion: tags x digests, `<none>` where missing."""
    rows: list[ImageContext] = []
    for img in images:
        by_repo: dict[str, list[str]] = {}
        for rd in img.repo_digests:
            repo, _, digest = rd.partition("@")
            by_repo.setdefault(repo, []).append(digest)
        tagged = [t for t in img.repo_tags if t != "<none>:<none>"]
        if not tagged and not by_repo:
            rows.append(ImageContext(img, "<none>", "<none>", "<none>", trunc=trunc, now=now))
            continue
        seen_repos: set[str] = set()
        for ref in tagged:
            repo, tag = split_repo_tag(ref)
            seen_repos.add(repo)
            found = by_repo.get(repo) or ["<none>"]
            if digests:
                for d in found:
                    rows.append(ImageContext(img, repo, tag, d, trunc=trunc, now=now))
            else:
                rows.append(ImageContext(img, repo, tag, found[0], trunc=trunc, now=now))
        for repo, found in by_repo.items():
            if repo in seen_repos:
                continue
            rows.append(ImageContext(img, repo, "<none>", found[0], trunc=trunc, now=now))
    return rows


@click.command("ls", short_help="List images")
@click.option(
    "-a",
    "--all",
    "show_all",
    is_flag=True,
    help="Show all images (default hides intermediate images)",
)
@click.option("--digests", is_flag=True, help="Show digests")
@filter_option
@click.option("--format", "fmt", default="", help="Format output using a custom template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.argument("args", nargs=-1, metavar="[REPOSITORY[:TAG]]")
@click.pass_context
def ls(
    ctx: click.Context,
    show_all: bool,
    digests: bool,
    filters: tuple[tuple[str, str], ...],
    fmt: str,
    no_trunc: bool,
    quiet: bool,
    args: tuple[str, ...],
) -> None:
    """List images."""
    from pyd_proto.pyd.dockerd.v1 import images_pb2

    require_args(ctx, args, max=1)
    cli: Cli = ctx.obj
    pairs = list(filters)
    if args:
        pairs.append(("reference", args[0]))
    resp = cli.client().images.List(
        images_pb2.ListImagesRequest(all=show_all, filters=filters_proto(pairs), digests=digests)
    )
    rows = image_rows(list(resp.images), trunc=not no_trunc, digests=digests, now=time.time())
    if quiet and fmt in ("", "table"):
        ids: list[str] = []
        for r in rows:
            if r.ID not in ids:
                ids.append(r.ID)
        click.echo("".join(i + "\n" for i in ids), nl=False)
        return
    default = DIGEST_TABLE if digests else DEFAULT_TABLE
    click.echo(format_output(fmt, rows, default_table=default, headers=HEADERS), nl=False)
