"""`python -m lightavseg_mobile COMMAND ...`: the console scripts without installing them."""

from __future__ import annotations

import sys

from . import cli

COMMANDS = {"info": cli.info, "train": cli.train, "eval": cli.evaluate_cmd, "data": cli.data, "demo": cli.demo, "export": cli.export, "bench": cli.bench}


def main() -> int:
    """Dispatch to one of the lavseg-* commands."""
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m lightavseg_mobile {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
