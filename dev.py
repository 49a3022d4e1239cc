#!/usr/bin/env python3
"""Developer entry point: the README's two quick-start commands, and the ones that regenerate the docs.

    python3 dev.py demo    # offline demo of the whole loop in ./demo, training locally (no key, no network)
    python3 dev.py test    # lint, type check, the docs site and the whole test suite (what CI runs)
    python3 dev.py docs    # regenerate the generated parts of docs/ (command reference, exit statuses, rules)
    python3 dev.py record  # re-record docs/demo.cast and docs/demo.svg from the real CLI

Both create ./.venv on first use and install aitelier into it (with the dev extras for `test`), so a fresh
machine needs only Python >= 3.10 and access to the package registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
# The runtime dependencies as wheels, so the packaging test installs the built wheel into a fresh virtual
# environment with --no-index (tests never touch the network; this install step may).
WHEELHOUSE = VENV / "wheelhouse"
# the name on PyPI (`aitelier` there is someone else's project); the import stays aitelier, the command ait
DIST = "aitelier-cli"


def sh(*args: str | Path, check: bool = True, **kw) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    rc = subprocess.run([str(a) for a in args], **kw).returncode
    if check and rc != 0:
        sys.exit(rc)
    return rc


def ensure_venv(extras: str) -> None:
    stamp = VENV / f".installed-{extras or 'base'}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    # a .venv made before the distribution was renamed holds the old `aitelier` distribution of the same package
    old = "site-packages/aitelier-*.dist-info"
    if any(VENV.glob(f"*/{old}")) or any(VENV.glob(f"*/*/{old}")):
        sh(PY, "-m", "pip", "uninstall", "-q", "-y", "--disable-pip-version-check", "aitelier", cwd=ROOT)
    target = f".[{extras}]" if extras else "."
    sh(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", target, cwd=ROOT)
    if "dev" in extras.split(","):
        requires = subprocess.run(
            [PY, "-c", f"from importlib.metadata import requires; print(*requires({DIST!r}), sep='\\n')"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        runtime = [r for r in requires if "extra ==" not in r]
        sh(PY, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", WHEELHOUSE, *runtime)
    stamp.touch()


LOCAL_PACKAGES = "torch (CPU build where no GPU is found), transformers, peft, trl, accelerate, datasets"
TINY_SETTINGS = ["--epochs", "8", "--batch-size", "4", "--learning-rate", "0.05"]


def demo_steps(where: Path, model: str, *, tiny: bool = True) -> list[list[str]]:
    """The `ait` commands the demo runs (tests/cli/test_quickstart.py runs the same list)."""
    c = ["-C", str(where)]
    return [
        ["init", "--example", "customer-support", str(where)],  # a project with 40 hand-written examples
        [*c, "stats"],  # where it stands and what to do next
        [*c, "list", "--unrated"],
        # `ait rate` is the interactive way; scripts rate with --set
        [
            *c,
            "rate",
            "--set",
            "11=9",
            "--set",
            "13=8",
            "--set",
            "21=4",
            "--set",
            "28=9",
            "--set",
            "34=6",
            "--set",
            "39=10",
        ],
        [*c, "split"],  # stratified, seeded; the val set is locked from now on
        [*c, "config", "set", "provider", "local"],  # train on this machine: no key, no network
        [*c, "config", "set", "model", model],
        [*c, "format"],  # every provider rule checked, then data/train.jsonl and data/val.jsonl written
        [*c, "validate", str(where / "data" / "train.jsonl"), "--provider", "together"],
        [
            *c,
            "train",
            *(TINY_SETTINGS if tiny else []),
        ],  # returns at once: the training runs in the background
        [*c, "status", "--watch", "--interval", "1"],  # steps, ETA, losses, the loss curve, until it ends
        # base model vs the fine-tuned adapter on every validation example, generated locally, no person needed
        [*c, "eval", "--compare", "--no-score", "--max-tokens", "48", "--seed", "1"],
    ]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 on words: the longest common subsequence, a crude automatic overlap score in [0, 1]."""
    a, b = candidate.lower().split(), reference.lower().split()
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def demo_report(where: Path, status: dict) -> list[str]:
    """What the demo found (``status``: `ait status --json`): validation loss before and after, overlap with
    the expected answers, where the files are."""
    import json

    val = [p["val"] for p in status.get("loss", []) if p.get("val") is not None]
    lines = []
    if len(val) >= 2:
        lines.append(f"Validation loss: {val[0]:.3f} before training, {val[-1]:.3f} after.")
    evals = sorted((where / "data" / "evals").glob("*.json"))
    if evals:
        result = json.loads(evals[-1].read_text(encoding="utf-8"))
        scores: dict[str, list[float]] = {}
        for item in result["items"]:
            for side in ("a", "b"):
                scores.setdefault(item[f"{side}_model"], []).append(
                    rouge_l(item.get(f"{side}_output") or "", item.get("expected") or "")
                )
        adapter = status["run"].get("fineTunedModel")
        for model, s in scores.items():
            who = "fine-tuned" if model == adapter else "base"
            lines.append(
                f"ROUGE-L against the expected answers, {who:<10}: {sum(s) / len(s):.3f} (n = {len(s)})"
            )
    run = status["run"]["id"]

    def rel(p: Path) -> Path:
        return p.relative_to(ROOT) if p.is_relative_to(ROOT) else p

    lines += [
        "",
        "Where every file went:",
        f"  {rel(where / '.aitelier.json')}: settings and the run record",
        f"  {rel(where / 'data' / 'examples.jsonl')}: the examples, their ratings and the split",
        f"  {rel(where / 'data' / 'train.jsonl')}, val.jsonl: what was trained on and validated with",
        f"  {rel(where / 'runs' / run)}/: the training run (events.jsonl, log.txt; git-ignored)",
        f"  {rel(where / 'runs' / run / 'adapter')}/: the LoRA adapter (safetensors) and its tokenizer",
    ]
    if evals:
        lines.append(f"  {rel(evals[-1])}: base vs fine-tuned outputs on every validation example")
    return lines


def demo(model: str | None) -> None:
    """Walk the main job offline on the bundled customer-support project, training locally."""
    print(f"The demo installs aitelier with its `local` extra into {VENV}: {LOCAL_PACKAGES}.", flush=True)
    ensure_venv("local")
    ait = BIN / "ait"
    where = ROOT / "demo" / "customer-support"
    if where.exists():
        shutil.rmtree(where)
    where.parent.mkdir(exist_ok=True)
    tiny = model is None
    if tiny:
        print(
            "\nNo model can be downloaded here, so the demo builds a tiny one from a config, with a tokenizer "
            "trained on the example data. It shows the loop, not quality: its answers are noise. "
            "`python3 dev.py demo --model HuggingFaceTB/SmolLM2-135M-Instruct` uses a real model.",
            flush=True,
        )
        model_dir = ROOT / "demo" / "tiny-chat"
        if model_dir.exists():
            shutil.rmtree(model_dir)
        src = ROOT / "src" / "aitelier" / "examples" / "customer-support.jsonl"
        sh(PY, "-m", "aitelier.local.tiny", model_dir, src, stdout=subprocess.DEVNULL)
        model = str(model_dir)
    for step in demo_steps(where, model, tiny=tiny):
        print(f"\n$ ait {' '.join(step)}", flush=True)
        rc = subprocess.run([str(ait), *step]).returncode
        if rc != 0:
            sys.exit(rc)
    print()
    import json

    out = subprocess.run([str(ait), "-C", str(where), "status", "--json"], capture_output=True, text=True)
    for line in demo_report(where, json.loads(out.stdout)):
        print(line)
    rel = where.relative_to(ROOT)
    print(f"\nNext: `.venv/bin/ait -C {rel} eval --resume` in a terminal to judge the A/B pairs yourself.")


LINTED = ("src", "tests", "bench", "scripts", "dev.py")


def test(pytest_args: list[str]) -> None:
    """Lint, type-check, build the docs site and run every test (slow ones included)."""
    import tempfile

    ensure_venv("dev,local")  # the local provider's tests train a tiny model
    sh(BIN / "ruff", "check", *LINTED, cwd=ROOT)
    sh(BIN / "ruff", "format", "--check", *LINTED, cwd=ROOT)
    sh(BIN / "mypy", cwd=ROOT)
    with tempfile.TemporaryDirectory() as site:  # broken links and anchors fail the build
        quiet = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's notice about its successor
        sh(BIN / "mkdocs", "build", "--strict", "--site-dir", site, cwd=ROOT, env=quiet)
    sh(PY, "-m", "pytest", "-q", *pytest_args, cwd=ROOT)


def docs() -> None:
    """Rewrite the generated parts of docs/ from the code (tests/docs checks that they are current)."""
    ensure_venv("dev,local")
    sh(PY, ROOT / "scripts" / "gen_docs.py", cwd=ROOT)


def record() -> None:
    """Drive the real CLI through the loop on a pseudo-terminal and write docs/demo.cast and docs/demo.svg."""
    ensure_venv("dev,local")
    sh(PY, ROOT / "scripts" / "record_demo.py", cwd=ROOT)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test", "docs", "record"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "demo":
        args = sys.argv[2:]
        model = args[args.index("--model") + 1] if "--model" in args[:-1] else None
        demo(model)
    elif sys.argv[1] == "docs":
        docs()
    elif sys.argv[1] == "record":
        record()
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
