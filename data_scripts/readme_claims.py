"""Write the README's verdict table from the claim records of the committed results (``python -m umelib claims``):
the block between ``<!-- claims:start -->`` and ``<!-- claims:end -->``. ``--check`` only compares (exit 1 when the
README is out of date); tests/test_claims.py runs the same comparison."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- claims:start -->", "<!-- claims:end -->"


def block() -> str:
    from umelib.paper.overview import claim_records, claims_markdown

    return claims_markdown(claim_records())


def replaced(text: str, table: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 when the README is out of date")
    args = ap.parse_args(argv)
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"error: README.md has no {START} ... {END} block", file=sys.stderr)
        return 2
    new = replaced(text, block())
    if args.check:
        return 0 if new == text else 1
    if new != text:
        tmp = readme.with_suffix(".md.tmp")
        tmp.write_text(new)
        tmp.replace(readme)
    print("README.md: verdict table up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
