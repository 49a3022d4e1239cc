"""Single key presses from a terminal, without Enter: cbreak mode through termios (POSIX), msvcrt on Windows.

cbreak (not raw) keeps the terminal's signal keys working, so Ctrl-C still sends SIGINT and the command can stop
cleanly, and output newlines keep working. The terminal's settings are restored on exit, and around anything that
needs the terminal as the user knows it (an editor, typed lines): see :meth:`KeyReader.cooked`. :class:`KeyScreen`
is the key loop `ait rate` and `ait eval` share, with how a signal stops it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cli.env import Env

# Names for the keys that are not printable characters.
ENTER, ESC, BACKSPACE, CTRL_C, CTRL_D, EOF = "enter", "esc", "backspace", "ctrl-c", "ctrl-d", ""
_NAMED = {"\r": ENTER, "\n": ENTER, "\x7f": BACKSPACE, "\x08": BACKSPACE, "\x03": CTRL_C, "\x04": CTRL_D}
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear the screen
HANGUP = getattr(signal, "SIGHUP", signal.SIGTERM)  # Windows has no SIGHUP
STOP_SIGNALS = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])


class Stop(Exception):
    """A screen stops because of signal ``signum`` (or a closed terminal, as SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def handling(signals: Iterable[int], handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for ``signals`` inside the block; the previous handlers again after it."""
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextmanager
def stop_if_gone() -> Iterator[None]:
    """Writing to a terminal that was closed fails (EIO) before its SIGHUP may arrive: stop the same way."""
    try:
        yield
    except OSError as e:
        raise Stop(HANGUP) from e


class KeyReader:
    """Read one key at a time from ``stream`` (a terminal). Use as a context manager.

    A stream without a file descriptor (the ``io.StringIO`` of a test's fake terminal) is read one character
    at a time, each character a key press.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        try:
            self.fd: int | None = stream.fileno()
        except (OSError, ValueError):  # io.UnsupportedOperation is both
            self.fd = None
        self._saved: Any = None
        self._windows = os.name == "nt"

    def __enter__(self) -> KeyReader:
        self._cbreak()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._restore()

    def _cbreak(self) -> None:
        if self._windows or self.fd is None:
            return
        import termios
        import tty

        if self._saved is None:
            self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd, termios.TCSANOW)

    def _restore(self) -> None:
        if self._windows or self._saved is None or self.fd is None:
            return
        import termios

        with contextlib.suppress(termios.error, OSError):  # the terminal is gone (SIGHUP): nothing to restore
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    @contextmanager
    def cooked(self) -> Iterator[None]:
        """The terminal as the user had it (echo, line editing), e.g. while an editor runs."""
        self._restore()
        try:
            yield
        finally:
            if not self._windows and self.fd is not None:
                import termios

                with contextlib.suppress(termios.error, OSError):  # the terminal is gone (SIGHUP): we stop
                    self._cbreak()

    def read(self) -> str:
        """One key: a character, or one of ENTER, ESC, BACKSPACE, CTRL_C, CTRL_D; EOF ("") when input ended.

        An escape sequence (arrow and function keys) comes back whole, starting with ``"\\x1b"``.
        """
        if self.fd is None:
            ch = self.stream.read(1)
            return _NAMED.get(ch, ch) if ch != "\x1b" else ESC
        if self._windows:  # pragma: no cover - exercised on Windows only
            import msvcrt

            ch = msvcrt.getwch()  # type: ignore[attr-defined]
            if ch in ("\x00", "\xe0"):  # a function or arrow key: a second code follows
                return "\x1b" + msvcrt.getwch()  # type: ignore[attr-defined]
            return _NAMED.get(ch, ch)
        first = self._read_byte()
        if not first:
            return EOF
        if first == b"\x1b":
            rest = self._drain()
            return ESC if not rest else "\x1b" + rest.decode("utf-8", "replace")
        data = first
        need = _utf8_length(first[0])
        while len(data) < need:
            more = self._read_byte()
            if not more:
                break
            data += more
        ch = data.decode("utf-8", "replace")
        return _NAMED.get(ch, ch)

    def _read_byte(self) -> bytes:
        assert self.fd is not None
        try:
            return os.read(self.fd, 1)  # a signal does not interrupt it (PEP 475) unless its handler raises
        except OSError:  # EIO: the terminal was closed
            return b""

    def _drain(self) -> bytes:
        """The bytes that arrive right after an ESC (an escape sequence), or b"" for a lone Esc key."""
        import select

        assert self.fd is not None
        out = b""
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.03)
            if not ready:
                return out
            more = self._read_byte()
            if not more:
                return out
            out += more


def _utf8_length(lead: int) -> int:
    if lead < 0x80:
        return 1
    if lead >> 5 == 0b110:
        return 2
    if lead >> 4 == 0b1110:
        return 3
    if lead >> 3 == 0b11110:
        return 4
    return 1


class KeyScreen:
    """A screen that reads single keys and stops cleanly on a signal: at once while it waits for a key, or once
    the change a key made is saved. Subclasses draw and handle keys in ``_loop``, and may add ``_finish``."""

    WAITING, BUSY = "waiting", "busy"  # what the screen is doing when a signal arrives
    signals: Sequence[int] = STOP_SIGNALS  # SIGINT too where a Ctrl-C must not cut a save short

    def __init__(self, env: Env) -> None:
        self.env = env
        self.mode = self.BUSY
        self.pending: int | None = None  # a signal that arrived while busy
        self.message = ""

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.mode == self.WAITING:
            raise Stop(signum)
        if self.pending is None:
            self.pending = signum

    def _check_pending(self) -> None:
        if self.pending is not None:
            raise Stop(self.pending)

    def _key(self, keys: KeyReader) -> str:
        # waiting first: a signal from here on stops the screen at once, one that came before is pending
        self.mode = self.WAITING
        try:
            self._check_pending()
            return keys.read()
        finally:
            self.mode = self.BUSY

    def _command(self, keys: KeyReader) -> str | None:
        """The next key of the loop; None for quit (q, Ctrl-D). An end of input is a closed terminal (Ctrl-D
        arrives as a key in cbreak mode), and a Ctrl-C the terminal did not turn into SIGINT stops as one."""
        key = self._key(keys)
        if key == EOF:
            raise Stop(HANGUP)
        if key == CTRL_C:
            raise Stop(signal.SIGINT)
        return None if key in ("q", "Q", CTRL_D) else key

    def _loop(self, keys: KeyReader) -> None:
        raise NotImplementedError

    def _say(self, text: str) -> None:
        with stop_if_gone():
            self.env.stdout.write(text + "\n")
            self.env.stdout.flush()

    def _clear(self) -> None:
        if self.env.stdout_isatty:
            with stop_if_gone():
                self.env.stdout.write(CLEAR)

    def _finish(self) -> None:
        """What to do after the loop, however it ended (the screen is busy again: a signal waits for it)."""

    def run(self) -> int | None:
        """Run until the loop ends; the number of the signal that stopped it, or None."""
        stopped_by: int | None = None
        with handling(self.signals, self._on_signal):
            try:
                with KeyReader(self.env.stdin) as keys:
                    self._loop(keys)
            except KeyboardInterrupt:
                stopped_by = signal.SIGINT
            except Stop as e:
                stopped_by = e.signum
            finally:
                self.mode = self.BUSY
                self._finish()
        return stopped_by
