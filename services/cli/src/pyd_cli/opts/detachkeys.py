"""The detach key sequence (`--detach-keys`, default ctrl-p,ctrl-q): moby/term ToBytes."""

from __future__ import annotations

from pyd_cli.opts import OptError

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

_CTRL = {f"ctrl-{chr(c)}": c - ord("a") + 1 for c in range(ord("a"), ord("z") + 1)}
_CTRL.update({"ctrl-@": 0, "ctrl-[": 27, "ctrl-\\": 28, "ctrl-]": 29, "ctrl-^": 30, "ctrl-_": 31})


def to_bytes(keys: str) -> bytes:
    """ "ctrl-p,ctrl-q" → b"\\x10\\x11"; single characters stand for themselves."""
    codes = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            codes.append(ord(key) & 0xFF)
            continue
        code = _CTRL.get(key.lower())
        if code is None:
            raise OptError(f"Invalid detach keys ({keys}) provided")
        codes.append(code)
    return bytes(codes)


def parse_detach_keys(keys: str) -> str:
    """Validate and return the flag value unchanged (the daemon gets the text)."""
    if keys:
        to_bytes(keys)
    return keys


class DetachDetector:
    """Watches stdin for the sequence; holds back a partial match (moby's escapeProxy).

    `feed` returns (bytes to forward, detached).
    """

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    return bytes(out), True
                self._held = candidate
                continue
            out += self._held
            self._held = b""
            if self.keys.startswith(bytes([byte])):
                self._held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False
