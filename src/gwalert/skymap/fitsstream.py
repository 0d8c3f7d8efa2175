"""Sequential bytes for the FITS reader (``fitsio``): from memory, a file, or a gzip stream
inflated in bounded chunks, counted against the work bound. Flat maps' tables are handed out
in pieces as they are inflated (``pieces``: no copy), the next one inflated in a second thread
while the caller works on the current one (``ahead``).

gzip streams are inflated with ISA-L (the ``isal`` package: the same bytes as zlib, 3-4x
faster on sky maps) when it is installed, through its own decompressor object (which keeps
the input it has not used yet), else with the standard library's zlib;
``tests/test_skymap_flat.py`` proves both against ``gzip`` (members, padding, raw chunks cut
anywhere, wrong checksums).
"""

from __future__ import annotations

import mmap
import os
import zlib
from collections.abc import Generator
from typing import IO, Any

from ..errors import SkyMapError
from ..limits import MAX_SKYMAP_BYTES
from .ahead import Ahead

_CHUNK = 1 << 20
_RAW_CHUNK = 16 << 20  # compressed bytes taken at a time (inflated pieces stay whole)


class Stream:
    """Sequential bytes from memory, a file, or a gzip stream inflated in bounded chunks.

    Counts every byte it yields against ``limit`` (the work bound), so a gzip bomb costs at
    most ``limit`` bytes of inflating and never more than one chunk of memory.
    """

    def __init__(self, source: Any, limit: int = MAX_SKYMAP_BYTES) -> None:
        self.limit = limit
        self.position = 0
        self._file: IO[bytes] | None = None
        self._owned = False
        self._mem: memoryview | None = None
        self._mem_pos = 0
        if isinstance(source, bytes | bytearray | memoryview):
            self._mem = memoryview(source).cast("B")
            self._gzip = bytes(self._mem[:2]) == b"\x1f\x8b"
            self._pending: bytes = b""
        else:
            if isinstance(source, str | os.PathLike):
                try:
                    self._file = open(source, "rb")  # noqa: SIM115 - closed by close()
                except OSError as exc:
                    raise SkyMapError(f"cannot read sky map: {exc.strerror}") from None
                self._owned = True
            elif hasattr(source, "read"):
                self._file = source
            else:
                raise TypeError(f"cannot read a sky map from {type(source).__name__}")
            head = self._raw(2)
            self._gzip = head == b"\x1f\x8b"
            self._pending = bytes(head)  # raw bytes taken to look at the magic number
        self._zlib: Any = inflater_module() if self._gzip else zlib
        self._igzip: Any = _igzip() if self._gzip and self._zlib is not zlib else None
        self._inflater: Any = self._member() if self._gzip else None
        # what the inflater raises on corrupt input
        self._errors: tuple[type[BaseException], ...] = (self._zlib.error,) + (
            (self._igzip.IsalError,) if self._igzip is not None else ()
        )
        self._out = b""  # inflated bytes not handed out yet

    # raw (possibly compressed) input
    def _raw(self, n: int) -> bytes | memoryview:
        if self._mem is not None:
            piece = self._mem[self._mem_pos : self._mem_pos + n]  # no copy
            self._mem_pos += len(piece)
            return piece
        assert self._file is not None
        return self._file.read(n)

    def close(self) -> None:
        if self._owned and self._file is not None:
            self._file.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _member(self) -> Any:
        """A fresh inflater for the next gzip member: ISA-L's decompressor object, which keeps
        the input it has not used (zlib's interface hands it back as ``unconsumed_tail``, a copy
        on every call: 50 -> 33 ms of inflating an 8 MB RING map), else zlib's behind the same
        interface."""
        if self._igzip is not None:
            return self._igzip.IgzipDecompressor(flag=self._igzip.DECOMP_GZIP)
        return _ZlibMember(self._zlib)

    def _inflate(self, want: int) -> bytes:
        """Up to ``want`` more inflated bytes (b'' at the end of the stream)."""
        while True:
            d = self._inflater
            if d.eof:
                # after a member: another member, or zero padding (allowed by gzip(1))
                rest = d.unused_data + self._pending
                while rest == b"\x1f" and (more := bytes(self._raw(_RAW_CHUNK))):
                    rest += more  # the next member's magic number cut by a raw chunk
                if not rest.strip(b"\x00"):
                    self._pending = bytes(self._raw(_RAW_CHUNK))
                    if not self._pending:
                        return b""
                    self._inflater = _Ended(self._pending)
                    self._pending = b""
                    continue
                if not rest.startswith(b"\x1f\x8b"):
                    raise SkyMapError("corrupt gzip-compressed sky map: trailing garbage")
                self._inflater = d = self._member()
                self._pending = rest
            data = b""
            if d.needs_input:
                if not self._pending:
                    self._pending = bytes(self._raw(_RAW_CHUNK))
                    if not self._pending:
                        raise SkyMapError(
                            "truncated gzip-compressed sky map: stream ends before its end marker"
                        )
                data, self._pending = self._pending, b""
            try:
                out = d.decompress(data, want)
            except self._errors as exc:
                raise SkyMapError(f"corrupt gzip-compressed sky map: {exc}") from None
            if out:
                return out

    def read(self, n: int) -> bytes | memoryview:
        """Exactly ``n`` bytes, or fewer at the end of the stream."""
        if self.position + n > self.limit:
            raise SkyMapError(
                f"sky map is larger than {self.limit} bytes once inflated; refused "
                "(set GWALERT_MAX_SKYMAP_BYTES to raise the bound)"
            )
        if not self._gzip:
            out: bytes | memoryview
            if self._pending:
                first = self._pending[:n]
                self._pending = self._pending[n:]
                if len(first) < n:
                    first += self._raw(n - len(first))
                out = first
            else:
                out = self._raw(n)  # a view into memory sources
            self.position += len(out)
            return out
        if self._out:
            parts = [self._out[:n]]
            self._out = self._out[n:]
        else:
            parts = []
        got = len(parts[0]) if parts else 0
        while got < n:
            # one piece of the size asked for (no slicing, no joining) when the input allows
            piece = self._inflate(max(n - got, 1 << 16))
            if not piece:
                break
            if len(piece) > n - got:
                self._out = piece[n - got :]
                piece = piece[: n - got]
            parts.append(piece)
            got += len(piece)
        out = b"".join(parts) if len(parts) != 1 else parts[0]
        self.position += len(out)
        return out

    def readinto(self, dest: memoryview) -> int:
        """Fill ``dest`` (bytes) from the stream; return how many bytes were written (fewer at
        the end of the stream). Inflated pieces are copied once, straight into ``dest``."""
        n = len(dest)
        if not self._gzip:
            data = self.read(n)
            dest[: len(data)] = data
            return len(data)
        if self.position + n > self.limit:
            self.read(n)  # raises the bound's error
        got = 0
        if self._out:
            got = min(n, len(self._out))
            dest[:got] = memoryview(self._out)[:got]
            self._out = self._out[got:]
        while got < n:
            piece = self._inflate(max(n - got, 1 << 16))
            if not piece:
                break
            take = min(len(piece), n - got)
            dest[got : got + take] = memoryview(piece)[:take]
            if take < len(piece):
                self._out = piece[take:]
            got += take
        self.position += got
        return got

    def piece(self, n: int) -> bytes | memoryview:
        """The next bytes, at most ``n`` and at least one (b'' at the end of the stream),
        as they come: a gzip stream's inflated pieces are handed out without a copy."""
        if self.position + n > self.limit:
            self.read(n)  # raises the bound's error
        if not self._gzip:
            return self.read(n)
        if self._out:
            out: bytes | memoryview = memoryview(self._out)[:n]
            self._out = self._out[n:] if len(self._out) > n else b""
        else:
            got = self._inflate(max(n, 1 << 16))
            out = got if len(got) <= n else memoryview(got)[:n]
            if len(got) > n:
                self._out = got[n:]
        self.position += len(out)
        return out

    def pieces(self, n: int, size: int) -> Generator[bytes | memoryview, None, None]:
        """The next ``n`` bytes (fewer at the end of the stream) as ``piece``s of at most
        ``size``. A gzip stream's next piece is inflated in a second thread while the caller
        works on the current one (ISA-L and zlib let go of the GIL while they inflate): the
        wall time of reading a flat map is about the larger of the two, not their sum, and
        one piece more is held."""
        if not self._gzip:
            while n > 0 and (got := self.piece(min(n, size))):
                n -= len(got)
                yield got
            return
        ahead: Ahead | None = Ahead(self.piece, min(n, size)) if n > 0 else None
        try:
            while ahead is not None:
                got = ahead.result()
                n -= len(got)
                ahead = Ahead(self.piece, min(n, size)) if got and n > 0 else None
                if not got:
                    return
                yield got
        finally:
            if ahead is not None:  # the caller stopped early: the stream is ours again
                ahead.wait()

    def view(self, n: int) -> memoryview | None:
        """The next ``n`` bytes without copying them (a slice of an in-memory source, or the
        file's pages mapped read-only), or None where that is not possible (gzip streams,
        file objects without a file descriptor) or fewer than ``n`` bytes remain."""
        if self._gzip or self._pending or self.position + n > self.limit:
            return None
        if self._mem is not None:
            if self._mem_pos + n > len(self._mem):
                return None
            out = self._mem[self._mem_pos : self._mem_pos + n]
            self._mem_pos += n
            self.position += n
            return out
        assert self._file is not None
        try:
            fileno = self._file.fileno()
            at = self._file.tell()
            mapped = _map(fileno)
        except (OSError, ValueError, AttributeError):
            return None
        if at + n > len(mapped):
            mapped.close()
            return None
        self._file.seek(at + n)
        self.position += n
        return memoryview(mapped)[at : at + n]

    def skip(self, n: int) -> int:
        """Discard ``n`` bytes in bounded chunks; return how many there were."""
        done = 0
        while done < n:
            piece = self.read(min(_CHUNK, n - done))
            if not piece:
                break
            done += len(piece)
        return done


def _map(fileno: int) -> mmap.mmap:
    """The whole file mapped read-only; on Linux its pages mapped in bulk up front (a page
    fault per 4 KiB touched costs more)."""
    if not hasattr(mmap, "MAP_SHARED"):  # pragma: no cover - Windows
        return mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
    populate = getattr(mmap, "MAP_POPULATE", 0)
    return mmap.mmap(fileno, 0, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)


class _ZlibMember:
    """zlib's decompressor object behind ISA-L's interface (``needs_input``, and the input
    not used yet kept here, handed back to zlib on the next call)."""

    def __init__(self, module: Any) -> None:
        self._d = module.decompressobj(wbits=31)
        self._tail: bytes = b""

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def needs_input(self) -> bool:
        return not self._tail

    @property
    def unused_data(self) -> bytes:
        return bytes(self._d.unused_data)

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._d.decompress(self._tail or data, max_length)
        self._tail = self._d.unconsumed_tail
        return bytes(out)


class _Ended:
    """An inflater past its member's end holding raw bytes read after it (``unused_data``)."""

    eof = True
    needs_input = False

    def __init__(self, unused: bytes) -> None:
        self.unused_data = unused


def _igzip() -> Any:
    """``isal.igzip_lib`` (ISA-L's decompressor object), or None."""
    try:
        from isal import igzip_lib
    except ImportError:  # pragma: no cover - isal is a dependency
        return None
    return igzip_lib


def inflater_module() -> Any:
    """``isal.isal_zlib`` if installed (zlib's interface, ISA-L's inflater), else ``zlib``."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
        return zlib
    return isal_zlib


def open_source(source: Any, limit: int | None = None) -> Stream:
    """A :class:`Stream` over a path, bytes or binary file object."""
    return Stream(source, MAX_SKYMAP_BYTES if limit is None else limit)
