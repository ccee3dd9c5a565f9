"""Mutation testing of the rule modules (`make mutation`, docs/testing.md).

    python tools/mutation_report.py                       # the score per module from the last run
    python tools/mutation_report.py --run [MODULE ...]    # run mutmut (all rule modules or those named), then the score
    python tools/mutation_report.py --survivors MODULE    # the names of the surviving mutants (`mutmut show NAME`)

A MODULE is a path below src/rtmhub without `.py`, e.g. `domain/validation` or `csvfile/planner`. The run uses the
`[tool.mutmut]` section of pyproject.toml (the rule modules and the rule test files) and SQLite only
(RTMHUB_TEST_DATABASES=sqlite). Exits 1 when a module named is under the target score.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 90.0
# mutmut's exit codes (mutmut/stats.py) folded into what the table shows; anything else counts as "suspicious".
STATUS = {1: "killed", 3: "killed", 37: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault",
          -9: "segfault", None: "not checked"}
COLUMNS = ["killed", "survived", "no tests", "timeout", "not checked", "other"]


def rule_modules() -> list[str]:
    """The modules of [tool.mutmut] only_mutate, as `domain/validation`-style names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    return [p.removeprefix("src/rtmhub/").removesuffix(".py") for p in config["only_mutate"]]


def mutant_glob(module: str) -> str:
    """mutmut names a mutant `rtmhub.domain.validation.x_function__mutmut_3` (`xǁClassǁmethod__mutmut_3`)."""
    return "rtmhub." + module.replace("/", ".") + ".x*"


def results(module: str) -> dict[str, int | None]:
    meta = ROOT / "mutants" / "src" / "rtmhub" / (module + ".py.meta")
    if not meta.exists():
        return {}
    return json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]


def table(modules: list[str]) -> bool:
    """Prints the score per module; True when every module with results reaches TARGET."""
    print(f"{'module':28} " + " ".join(f"{c:>11}" for c in COLUMNS) + f" {'score':>7}")
    ok = True
    for module in modules:
        codes = results(module)
        if not codes:
            print(f"{module:28} (no results: run `make mutation MODULES={module}`)")
            ok = False
            continue
        counts = Counter(STATUS.get(code, "other") for code in codes.values())
        counts["other"] += counts.pop("segfault", 0) + counts.pop("skipped", 0)
        checked = sum(counts.values()) - counts["not checked"]
        # The score: killed (and timed out: the mutant hung the tests) out of every mutant checked.
        score = 100.0 * (counts["killed"] + counts["timeout"]) / checked if checked else 0.0
        ok = ok and score >= TARGET and not counts["not checked"]
        print(f"{module:28} " + " ".join(f"{counts[c]:>11}" for c in COLUMNS) + f" {score:>6.1f}%")
    print(f"target: {TARGET:.0f} % killed in every module; survivors and their reasons: docs/testing.md")
    return ok


def survivors(module: str) -> list[str]:
    return sorted(name for name, code in results(module).items() if STATUS.get(code) in ("survived", "no tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="rule modules (default: every one in [tool.mutmut])")
    parser.add_argument("--run", action="store_true", help="run mutmut first")
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants' names")
    args = parser.parse_args(argv)
    known = rule_modules()
    modules = [m.removeprefix("src/rtmhub/").removesuffix(".py") for m in args.modules] or known
    unknown = [m for m in modules if m not in known]
    if unknown:
        parser.error(f"not a rule module: {', '.join(unknown)} (the rule modules: {', '.join(known)})")
    if args.survivors:
        for module in modules:
            print("\n".join(survivors(module)))
        return 0
    if args.run:
        env = dict(os.environ, RTMHUB_TEST_DATABASES="sqlite")
        env.pop("PYTHONPATH", None)  # mutmut puts mutants/src first; another src on the path would shadow it
        mutmut = Path(sys.executable).with_name("mutmut")
        names = [] if modules == known else [mutant_glob(m) for m in modules]
        done = subprocess.run([str(mutmut), "run", "--max-children", str(args.max_children), *names],
                              cwd=ROOT, env=env, check=False)
        if done.returncode:
            print(f"mutmut run exited with {done.returncode}", file=sys.stderr)
            return done.returncode
    return 0 if table(modules) else 1


if __name__ == "__main__":
    sys.exit(main())
