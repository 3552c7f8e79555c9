"""The ``nd2kit`` command line."""


def main(argv: list[str] | None = None) -> int:  # replaced below once the CLI lands
    raise SystemExit("nd2kit CLI not built yet")
