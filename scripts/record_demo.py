"""Record the demo shown in the README: the real `ait`, on a pseudo-terminal, through the loop.

init, add, rate (key presses), stats, split, format, train --dry-run, train, status --watch and a blind
eval --compare (key presses), against the test suite's loopback fake of Together (127.0.0.1: no key, no network,
nothing spent). Writes an asciinema v2 recording (demo.cast) and a still of it (demo.svg, rich's SVG export).

    python3 dev.py record                                  # into docs/
    .venv/bin/python scripts/record_demo.py --out DIR      # anywhere else
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the loopback fakes live with the tests (tests/helpers/fakes.py)

WIDTH, HEIGHT = 100, 32
TYPING = 0.035  # seconds per typed character in the recording
PAUSE = 0.8  # after each command's output, before the next prompt
IDLE = 1.0  # longest pause kept from the real run
TITLE = "aitelier: the LoRA fine-tuning loop from the terminal (against a loopback fake of Together)"

QUESTION = "Can I return a tent I already slept in once?\n"
ANSWER = (
    "Used gear can't be returned, but if something is wrong with it our 2-year warranty covers manufacturing "
    "defects. Reply with your order number and a photo and we'll take a look.\n"
)
GENERIC = "Thanks for reaching out! Please check our website or contact our support team for more details."

# The command as typed; the keys pressed, each once the screen shows `ready`; and which of its lines the still
# keeps: the first `head` and the last `tail` (None: all).
RATE_READY = "q quit"
EVAL_READY = "t tie"
STEPS: list[tuple[str, list[str], str, tuple[int | None, int | None]]] = [
    ("ait init --example customer-support support", [], "", (None, None)),
    ("cd support", [], "", (None, None)),
    ("ait add --input question.txt --output answer.txt --rating 9", [], "", (None, None)),
    ("ait rate", ["9", "8", "4", "u", "3", "9", "q"], RATE_READY, (0, 9)),
    ("ait stats --no-tokens", [], "", (17, 0)),
    ("ait split", [], "", (None, None)),
    ("ait format", [], "", (None, None)),
    ("ait train --dry-run", [], "", (11, 0)),
    ("ait train --yes", [], "", (None, None)),
    ("ait status --watch --interval 0.3", [], "", (0, 19)),
    ("ait eval --compare --seed 7", ["a", "a", "b", "a", "t", "a", "a", "a"], EVAL_READY, (4, 1)),
]


class Cast:
    """asciinema v2 events on a clock that types commands at a steady pace and keeps real output timing, with
    long pauses cut to IDLE."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.now = 0.0
        self._last_real: float | None = None

    def type(self, text: str) -> None:
        self.out("$ ")
        self.now += 0.3
        for ch in text:
            self.out(ch)
            self.now += TYPING
        self.now += 0.2
        self.out("\r\n")
        self._last_real = None

    def out(self, data: str) -> None:
        if data:
            self.events.append((round(self.now, 4), data))

    def real(self, data: str) -> None:
        """Output as it arrived from the command."""
        t = time.monotonic()
        if self._last_real is not None:
            self.now += min(t - self._last_real, IDLE)
        self._last_real = t
        self.out(data)

    def pause(self, seconds: float = PAUSE) -> None:
        self.now += seconds
        self._last_real = None

    def write(self, path: Path) -> None:
        header = {
            "version": 2,
            "width": WIDTH,
            "height": HEIGHT,
            "title": TITLE,
            "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
            "idle_time_limit": IDLE,
        }
        lines = [json.dumps(header)]
        lines += [json.dumps([t, "o", data], ensure_ascii=False) for t, data in self.events]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class _Tap:
    """pexpect's logfile_read: everything the command prints goes to the cast (and to its step's transcript),
    with the temporary home shown as ~."""

    def __init__(self, cast: Cast, transcript: list[str], home: Path) -> None:
        self.cast, self.transcript, self.home = cast, transcript, str(home)

    def write(self, data: str) -> None:
        data = data.replace(self.home, "~")
        self.cast.real(data)
        self.transcript.append(data)

    def flush(self) -> None:
        pass


def _fake_together(project: Path) -> Any:
    """The loopback fake, answering chat like a model that learnt the validation replies (the fine-tune) or
    like a generic assistant (the base model)."""
    from helpers.fakes import together

    server = together()

    def answer(body: dict[str, Any]) -> str:
        user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        if body.get("model", "").startswith("meta-llama/"):
            return GENERIC
        for line in (project / "data" / "examples.jsonl").read_text(encoding="utf-8").splitlines():
            messages = json.loads(line)["messages"]
            users = [m["content"] for m in messages if m["role"] == "user"]
            if users and users[-1] == user:
                return str(messages[-1]["content"])
        return GENERIC

    server.chat_answer = answer
    return server


def record(out: Path) -> tuple[Path, Path]:
    import pexpect

    cast = Cast()
    still: list[tuple[str, str, tuple[int | None, int | None]]] = []  # command, its output, lines kept
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        where = home / "support"
        server = _fake_together(where)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "COLUMNS": str(WIDTH),
            "LINES": str(HEIGHT),
            "TOGETHER_API_KEY": server.api_key,
            "TOGETHER_BASE_URL": server.url,
            "AITELIER_TIMEOUT": "5",
        }
        cwd = home
        try:
            for command, keys, ready, keep in STEPS:
                cast.type(command)
                if command.startswith("cd "):
                    cwd = cwd / command.split()[1]
                    (cwd / "question.txt").write_text(QUESTION, encoding="utf-8")
                    (cwd / "answer.txt").write_text(ANSWER, encoding="utf-8")
                    still.append((command, "", keep))
                    cast.pause(0.3)
                    continue
                transcript: list[str] = []
                args = command.split()[1:]
                child = pexpect.spawn(
                    sys.executable,
                    ["-m", "aitelier", *args],
                    cwd=str(cwd),
                    env=env,
                    encoding="utf-8",
                    dimensions=(HEIGHT, WIDTH),
                    timeout=60,
                )
                child.logfile_read = _Tap(cast, transcript, home)
                for key in keys:
                    index = child.expect([ready, pexpect.EOF])
                    if index == 1:
                        break
                    time.sleep(0.6)  # a person reading the screen
                    child.send(key)
                child.expect(pexpect.EOF)
                child.close()
                if child.exitstatus != 0:
                    raise SystemExit(f"`{command}` exited {child.exitstatus}:\n{''.join(transcript)[-2000:]}")
                still.append((command, "".join(transcript), keep))
                cast.pause()
        finally:
            server.stop()
    out.mkdir(parents=True, exist_ok=True)
    cast_path, svg_path = out / "demo.cast", out / "demo.svg"
    cast.write(cast_path)
    svg_path.write_text(_svg(still), encoding="utf-8")
    return cast_path, svg_path


_CLEAR = re.compile(r"\x1b\[H\x1b\[2J|\x1b\[2J")
_NOT_COLOUR = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[=>]|\x1b\][^\x07]*\x07")


def screen_text(raw: str) -> str:
    """What a command left on the screen: after its last clear, each line as its last carriage return left it,
    colours kept, other control sequences dropped."""
    raw = _CLEAR.split(raw)[-1]
    raw = _NOT_COLOUR.sub("", raw.replace("\r\n", "\n"))
    return "\n".join(line.split("\r")[-1] for line in raw.split("\n")).strip("\n")


def _kept(lines: list[str], keep: tuple[int | None, int | None]) -> list[str]:
    head, tail = keep
    if head is None or len(lines) <= head + (tail or 0):
        return lines
    cut = f"\x1b[2m  ... {len(lines) - head - (tail or 0)} more lines in the recording\x1b[0m"
    return lines[:head] + [cut] + (lines[len(lines) - tail :] if tail else [])


def _svg(still: list[tuple[str, str, tuple[int | None, int | None]]]) -> str:
    from rich.console import Console
    from rich.text import Text

    with open(os.devnull, "w") as sink:
        console = Console(record=True, width=WIDTH, force_terminal=True, color_system="truecolor", file=sink)
        for command, raw, keep in still:
            console.print(Text("$ ", style="bold green") + Text(command, style="bold"))
            lines = _kept(screen_text(raw).split("\n"), keep) if raw else []
            for line in lines:
                console.print(Text.from_ansi(line), overflow="ellipsis", no_wrap=True)
        return console.export_svg(title="ait: init, add, rate, stats, split, format, train, status, eval")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where demo.cast and demo.svg go")
    args = parser.parse_args()
    for path in record(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
