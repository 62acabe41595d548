"""`-e/--env` and `--env-file`: opts.ValidateEnv and opts.ParseEnvFile."""

from __future__ import annotations

import os

from pyd_cli.opts import OptError

_WHITESPACE = " \t"


def validate_env(value: str) -> str:
    """KEY=VALUE passes as is; a bare KEY takes the client's value when it has one."""
    key, sep, _ = value.partition("=")
    if key == "":
        raise OptError("invalid environment variable: " + value)
    if sep:
        return value
    if key in os.environ:
        return f"{key}={os.environ[key]}"
    return value


def go_open_error(path: str, err: OSError) -> str:
    """Go's *PathError text: "open PATH: no such file or directory"."""
    reason = err.strerror or str(err)
    return f"open {path}: {reason[:1].lower()}{reason[1:]}"


def parse_env_file(path: str) -> list[str]:
    """opts.ParseEnvFile: KEY=VALUE lines, `#` comments, bare KEY from the client's env."""
    try:
        with open(path, "rb") as fh:
            raw_lines = fh.read().splitlines()
    except OSError as err:
        raise OptError(go_open_error(path, err)) from None
    out: list[str] = []
    for number, raw in enumerate(raw_lines):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            shown = "[" + " ".join(str(b) for b in raw) + "]"
            raise OptError(
                f"env file {path} contains invalid utf8 bytes at line {number + 1}: {shown}"
            ) from None
        if number == 0:
            text = text.removeprefix("\ufeff")
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        variable, sep, value = line.partition("=")
        variable = variable.lstrip(_WHITESPACE)
        if any(c in variable for c in _WHITESPACE):
            raise OptError(
                f"poorly formatted environment: variable '{variable}' contains whitespaces"
            )
        if not variable:
            raise OptError(f"poorly formatted environment: no variable name on line '{line}'")
        if sep:
            out.append(f"{variable}={value}")
        elif variable.strip() in os.environ:
            out.append(f"{variable.strip()}={os.environ[variable.strip()]}")
    return out


def read_env(files: list[str], env: list[str]) -> list[str]:
    """opts.ReadKVEnvStrings: the files' lines first, then `-e` values."""
    out: list[str] = []
    for path in files:
        out.extend(parse_env_file(path))
    out.extend(env)
    return out


def parse_labels(values: list[str]) -> dict[str, str]:
    """`--label k=v` (a bare key gets an empty value)."""
    out: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        out[key] = val
    return out


def parse_key_value(value: str) -> str:
    """`--label`/`--opt` values: anything with a non-empty key."""
    if value.startswith("="):
        raise OptError(f"invalid key/value pair: {value}")
    return value
