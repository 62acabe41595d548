"""`--restart`: opts.ParseRestartPolicy, plus the daemon's policy check done early."""

from __future__ import annotations

from pyd_cli.opts import OptError

POLICIES = ("no", "always", "on-failure", "unless-stopped")


def parse_restart_policy(policy: str) -> tuple[str, int]:
    """ "on-failure:3" → ("on-failure", 3); "" → ("", 0) (the daemon's default)."""
    if policy == "":
        return "", 0
    name, sep, count_text = policy.partition(":")
    if sep and name == "":
        raise OptError("invalid restart policy format: no policy provided before colon")
    count = 0
    if count_text:
        try:
            count = int(count_text, 10)
        except ValueError:
            raise OptError(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    if name not in POLICIES:
        raise OptError(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )
    if count and name != "on-failure":
        raise OptError(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if count < 0:
        raise OptError("invalid restart policy: maximum retry count cannot be negative")
    return name, count
