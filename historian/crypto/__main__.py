"""``python -m historian.crypto keygen FILE``: write a new key file (mode 0600)."""

from __future__ import annotations

import sys

from historian.crypto.keyfile import generate_key_file, key_id, load_key


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "keygen":
        print("usage: python -m historian.crypto keygen FILE", file=sys.stderr)
        return 2
    try:
        generate_key_file(argv[1])
    except FileExistsError:
        print(f"error: {argv[1]} exists; refusing to overwrite a key", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {argv[1]}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"wrote {argv[1]} (key id {key_id(load_key(argv[1])).hex()}); keep a copy: "
        "without it the store cannot be read"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
