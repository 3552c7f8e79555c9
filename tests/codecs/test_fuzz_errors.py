"""Robustness of the public decoders on damaged input.

Real corpus chunks and whole files are truncated and mutated (byte flips, inserted and
deleted bytes, huge values such as 0xFFFFFFFFFFFFFFFF written into the length fields
the layouts have: LEVEL item_count/length, BYTEARRAY len, LiteVariant name_len, chunk
name_len/data_len, map offsets, box lengths, RLE counts and sizes). The decoders may
succeed or raise ``nd2kit.Nd2Error`` (with an int ``offset``) — never struct.error,
IndexError, UnicodeDecodeError, a plain ValueError, MemoryError, OverflowError or
RecursionError — and their peak traced memory stays below 64 x the input + 1 MiB.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import pytest
from conftest import corpus_cached, corpus_files
from hypothesis import given
from hypothesis import strategies as st
from nd2kit._generated.fast import binary_rle as G_RLE
from nd2kit._generated.fast import legacy_jp2 as G_JP2

from nd2kit import CorruptChunkError, Nd2Error
from nd2kit.codecs import container, jp2, lite_variant, rle
from nd2kit.codecs.lite_variant import LvType
from nd2kit.testing.strategies import iter_lv

HAVE_XML = importlib.util.find_spec("nd2kit.codecs.xml_variant") is not None
if HAVE_XML:
    from nd2kit.codecs.xml_variant import decode_xml_variant

MiB = 1 << 20
HUGE = (2**64 - 1, 2**63, 2**63 - 1, 2**32 - 1, 2**31, 2**31 - 1, 0xFFFF, 0x8000, 0, 1)
#: nd2kit caps a mask at MAX_PIXELS pixels (2**30: 4 GiB at uint32) taken from the
#: header alone; a legitimately empty 40000 x 40000 mask is a tiny payload, so the
#: output cannot be bounded by the input size. The fuzz tests lower the cap to keep
#: allocations small and grant the declared mask size on top of the budget.
FUZZ_MAX_PIXELS = 1 << 22


# --------------------------------------------------------------------------- seeds


class Field:
    """A length/count field at `pos` of `width` bytes (`fmt` "<" or ">")."""

    __slots__ = ("pos", "width", "fmt")

    def __init__(self, pos: int, width: int, fmt: str = "<") -> None:
        self.pos, self.width, self.fmt = pos, width, fmt


class Seed:
    """A real input. For zlib-wrapped payloads (`head` + zlib(`inner`)) the fields are
    positions in `inner`, which is mutated and re-compressed (mutating the deflate
    stream itself mostly just breaks zlib); `data` is the payload as found."""

    def __init__(self, label: str, data: bytes, fields: list[Field],
                 head: bytes | None = None, inner: bytes | None = None) -> None:
        self.label, self.data, self.fields, self.head, self.inner = label, data, fields, head, inner

    def __repr__(self) -> str:
        return f"Seed({self.label!r}, {len(self.data)} bytes)"


def _lv_fields(root: Any, buf: bytes) -> list[Field]:
    out = []
    for r in iter_lv(root):
        if r.pos is None or r.type == LvType.COMPRESS:
            continue
        nl = buf[r.pos + 1]
        out.append(Field(r.pos + 1, 1))
        q = r.pos + 2 + 2 * nl
        if r.type == LvType.LEVEL:
            out += [Field(q, 4), Field(q + 4, 8)]
        elif r.type == LvType.BYTE_ARRAY:
            out.append(Field(q, 8))
    return out


def _modern_files() -> list[Any]:
    return [p for p in corpus_files() if p.read_bytes()[:4] == container.CHUNK_MAGIC_BYTES]


@corpus_cached
def lv_seeds() -> tuple[Seed, ...]:
    seen: dict[bytes, Seed] = {}
    for p in _modern_files():
        buf = p.read_bytes()
        _, cmap = container.read_chunk_map(buf)
        for name in cmap:
            data = bytes(container.chunk_data(buf, cmap, name)[1])
            if data[:1] not in (b"\x0b", b"\x4c") or data in seen:
                continue
            tree = lite_variant.decode_lossless(data)
            if tree.root.type == LvType.COMPRESS:
                inner = zlib.decompress(data[12:])
                seen[data] = Seed(f"{p.name}:{name}", data, _lv_fields(tree.root.value, inner),
                                  head=data[:12], inner=inner)
            else:
                seen[data] = Seed(f"{p.name}:{name}", data, _lv_fields(tree.root, data))
    return tuple(seen.values())


@corpus_cached
def file_seeds() -> tuple[Seed, ...]:
    out = []
    for p in _modern_files():
        buf = p.read_bytes()
        map_offset, cmap = container.read_chunk_map(buf)
        fields = [Field(len(buf) - 8, 8)]
        for off in [map_offset, *cmap.offsets.tolist()]:
            fields += [Field(off + 4, 4), Field(off + 8, 8)]
        for start, name in zip(cmap.entry_positions().tolist(), cmap.names):
            fields += [Field(start + len(name), 8), Field(start + len(name) + 8, 8)]
        out.append(Seed(p.name, buf, fields))
    return tuple(out)


def _rle_fields(stream: bytes) -> list[Field]:
    s = G_RLE.RleStream.parse(stream)
    out = [Field(4 * i, 4) for i in range(7)]
    for obj in s.objects:
        out += [Field(obj._pos + 4 * i, 4) for i in (0, 1, 2, 5, 6)]
        for row in obj.rows:
            out += [Field(row._pos, 4), Field(row._pos + 4, 4)]
            out += [Field(row._pos + 8 + 8 * k + j, 4)
                    for k in range(len(row.runs)) for j in (0, 4)]
    return out


@corpus_cached
def rle_seeds() -> tuple[Seed, ...]:
    out = []
    payloads = []
    for p in _modern_files():
        buf = p.read_bytes()
        _, cmap = container.read_chunk_map(buf)
        for name in cmap:
            if name.startswith("CustomDataSeq|RleZipBinarySequence"):
                data = bytes(container.chunk_data(buf, cmap, name)[1])
                payloads.append((f"{p.name}:{name}", data))
    rng = np.random.default_rng(7)  # a few more shapes than the corpus has
    for v in (3, 2):
        m = rng.integers(0, 4, size=(9, 13)).astype(np.uint16)
        payloads.append((f"generated v{v}", rle.encode_rle_mask(m, version=v)))
    seen = set()
    for label, data in payloads:
        if data in seen:
            continue
        seen.add(data)
        inner = zlib.decompress(data[4:])
        out.append(Seed(label, data, _rle_fields(inner), head=data[:4], inner=inner))
    return tuple(out)


@corpus_cached
def jp2_seeds() -> tuple[Seed, ...]:
    out = []
    for p in corpus_files("synthetic"):
        buf = p.read_bytes()
        if buf[:4] != container.JP2_MAGIC_BYTES:
            continue
        f = G_JP2.LegacyJp2.parse(buf)
        fields = [Field(len(buf) - 8, 8)]

        def walk(boxes: Any) -> None:
            for b in boxes:
                fields.append(Field(b._pos, 4, ">"))  # noqa: B023 (walk runs inside the loop)
                if b.len == 1:
                    fields.append(Field(b._pos + 8, 8, ">"))  # noqa: B023
                if isinstance(b.body, G_JP2.BoxList):
                    walk(b.body.boxes)

        walk(f.boxes.boxes)
        map_at = len(buf) - f.trailer.distance
        fields.append(Field(map_at, 4, ">"))
        fields += [Field(map_at + 4 + 16 * i + 8, 8) for i in range(f.box_map.count)]
        out.append(Seed(p.name, buf, fields))
    return tuple(out)


@corpus_cached
def xml_seeds() -> tuple[Seed, ...]:
    seen: dict[bytes, Seed] = {}
    for p in _modern_files():
        buf = p.read_bytes()
        _, cmap = container.read_chunk_map(buf)
        for name in cmap:
            data = bytes(container.chunk_data(buf, cmap, name)[1])
            if data[:5] == b"<?xml" and data not in seen and len(data) <= 16384:
                seen[data] = Seed(f"{p.name}:{name}", data, [])
    return tuple(seen.values())


def _need(seeds: tuple[Seed, ...]) -> tuple[Seed, ...]:
    if not seeds:
        pytest.skip("corpus not found")
    return seeds


# --------------------------------------------------------------------------- mutations

_op = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**32), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 2**32), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 2**32), st.integers(1, 16)),
    st.tuples(st.just("truncate"), st.integers(0, 2**32), st.just(0)),
    st.tuples(st.just("field"), st.integers(0, 2**32),
              st.one_of(st.sampled_from(HUGE), st.integers(0, 2**64 - 1),
                        st.sampled_from(["len", "len+1", "len-1"]))),
)
#: (seed index, mutate the inflated stream?, operations)
plans = st.tuples(st.integers(0, 2**16), st.booleans(), st.lists(_op, min_size=1, max_size=4))


def mutate(buf: bytes, fields: list[Field], ops: list[tuple[str, int, Any]]) -> bytes:
    b = bytearray(buf)
    for kind, a, v in ops:
        n = len(b)
        if kind == "flip" and n:
            b[a % n] ^= v
        elif kind == "insert":
            b[a % (n + 1):a % (n + 1)] = v
        elif kind == "delete" and n:
            del b[a % n:a % n + v]
        elif kind == "truncate":
            del b[a % (n + 1):]
        elif kind == "field" and fields:
            f = fields[a % len(fields)]
            if isinstance(v, str):
                v = n + {"len": 0, "len+1": 1, "len-1": -1}[v]
            v &= (1 << (8 * f.width)) - 1
            raw = v.to_bytes(f.width, "little" if f.fmt == "<" else "big")
            b[f.pos:f.pos + f.width] = raw[: max(0, len(b) - f.pos)]
    return bytes(b)


def mutated(seeds: tuple[Seed, ...], plan: tuple[int, bool, list[Any]]) -> tuple[Seed, bytes]:
    i, inflated, ops = plan
    seed = seeds[i % len(seeds)]
    if inflated and seed.inner is not None:
        return seed, seed.head + zlib.compress(mutate(seed.inner, seed.fields, ops))
    fields = seed.fields if seed.inner is None else []
    return seed, mutate(seed.data, fields, ops)


# --------------------------------------------------------------------------- the oracle


def only_nd2_errors(fn: Callable[[bytes], Any], data: bytes, extra_budget: int = 0) -> Any:
    """Run `fn(data)` under tracemalloc. Any exception but Nd2Error propagates (and
    fails the test); an Nd2Error must carry an int offset. Returns the result or the
    error. Asserts the peak traced memory."""
    tracemalloc.start()
    try:
        try:
            result = fn(data)
        except Nd2Error as e:
            assert type(e.offset) is int, f"{type(e).__name__} without an int offset: {e!r}"
            result = e
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    budget = 64 * len(data) + MiB + extra_budget
    assert peak <= budget, f"peak {peak} bytes for a {len(data)}-byte input (budget {budget})"
    return result


def _lv_decoders(data: bytes) -> None:
    only_nd2_errors(lite_variant.decode, data)
    only_nd2_errors(
        lambda d: lite_variant.decode(d, strip_prefix=True, lists_to_indexed_dicts=False), data)
    tree = only_nd2_errors(lite_variant.decode_lossless, data)
    if not isinstance(tree, Nd2Error):  # whatever decodes losslessly re-encodes to itself
        assert lite_variant.encode(tree) == data


def _container_decoders(data: bytes, seed: Seed) -> None:
    only_nd2_errors(container.sniff_version, data)
    res = only_nd2_errors(container.read_chunk_map, data)
    offsets = container.read_chunk_map(seed.data)[1].offsets.tolist()
    if not isinstance(res, Nd2Error):
        _, cmap = res
        offsets += cmap.offsets[:64].tolist()
        for name in list(cmap)[:64]:
            only_nd2_errors(lambda d, n=name: container.chunk_data(d, cmap, n), data)
    for off in offsets[:128]:
        only_nd2_errors(lambda d, o=off: container.read_chunk(d, o), data)


def _rle_extra_budget(data: bytes) -> int:
    """Memory the RLE decoder may use beyond the input: the declared mask (at uint32),
    and its working arrays proportional to the inflated stream."""
    try:
        stream = zlib.decompressobj().decompress(data[4:], 1 << 26)
        s = G_RLE.RleStream.parse(stream)
    except Exception:
        try:
            w, h = struct.unpack_from("<2I", zlib.decompressobj().decompress(data[4:], 64), 4)
        except Exception:
            return 0
        return 4 * w * h if w * h <= FUZZ_MAX_PIXELS else 0
    w, h = s.header.width, s.header.height
    if w * h > FUZZ_MAX_PIXELS:
        return 0
    return 4 * w * h + 64 * len(stream)


# --------------------------------------------------------------------------- fuzz tests


@pytest.mark.corpus
@given(plans)
def test_fuzz_lite_variant(plan: Any) -> None:
    _, data = mutated(_need(lv_seeds()), plan)
    _lv_decoders(data)


@pytest.mark.corpus
@given(plans)
def test_fuzz_container(plan: Any) -> None:
    seed, data = mutated(_need(file_seeds()), plan)
    _container_decoders(data, seed)


@pytest.mark.corpus
@given(plans)
def test_fuzz_rle(plan: Any) -> None:
    _, data = mutated(_need(rle_seeds()), plan)
    with mock.patch.object(rle, "MAX_PIXELS", FUZZ_MAX_PIXELS):
        out = only_nd2_errors(rle.decode_rle_mask, data, _rle_extra_budget(data))
    assert out is None or isinstance(out, Nd2Error) or out.ndim == 2


@pytest.mark.corpus
@given(plans)
def test_fuzz_jp2(plan: Any) -> None:
    _, data = mutated(_need(jp2_seeds()), plan)
    f = only_nd2_errors(jp2.read_legacy, data)
    if not isinstance(f, Nd2Error):
        f.by_tag("LUNK")


@pytest.mark.corpus
@pytest.mark.skipif(not HAVE_XML, reason="nd2kit.codecs.xml_variant not present")
@given(plans)
def test_fuzz_xml_variant(plan: Any) -> None:
    _, data = mutated(_need(xml_seeds()), plan)
    only_nd2_errors(decode_xml_variant, data)
    only_nd2_errors(lambda d: decode_xml_variant(d, strip_prefix=True), data)


# --------------------------------------------------------------------------- sweeps


def _cuts(n: int, most: int) -> list[int]:
    if n <= most:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, most).astype(int).tolist()))


@pytest.mark.corpus
def test_every_truncation_lite_variant() -> None:
    for seed in _need(lv_seeds()):
        for k in _cuts(len(seed.data), 32):
            _lv_decoders(seed.data[:k])


@pytest.mark.corpus
def test_every_truncation_rle_jp2_files() -> None:
    with mock.patch.object(rle, "MAX_PIXELS", FUZZ_MAX_PIXELS):
        for seed in _need(rle_seeds()):
            for k in range(len(seed.data)):
                only_nd2_errors(rle.decode_rle_mask, seed.data[:k])
            for k in range(len(seed.inner)):
                data = seed.head + zlib.compress(seed.inner[:k])
                only_nd2_errors(rle.decode_rle_mask, data, _rle_extra_budget(data))
    for seed in _need(jp2_seeds()):
        for k in _cuts(len(seed.data), 400):
            only_nd2_errors(jp2.read_legacy, seed.data[:k])
    for seed in _need(file_seeds()):
        for k in _cuts(len(seed.data), 24):
            only_nd2_errors(container.read_chunk_map, seed.data[:k])


@pytest.mark.corpus
def test_huge_values_in_every_length_field() -> None:
    # deterministic sweep: each known length/count field of every seed, each huge value
    values = (2**64 - 1, 2**63, 2**32 - 1, 2**31)
    for seed in _need(lv_seeds()):
        if len(seed.data) > 16384:  # the large ones are left to the random fuzz test
            continue
        step = max(1, len(seed.fields) // 10)
        for i in range(0, len(seed.fields), step):
            for v in values:
                ops = [("field", i, v)]
                if seed.inner is not None:
                    _lv_decoders(seed.head + zlib.compress(mutate(seed.inner, seed.fields, ops)))
                else:
                    _lv_decoders(mutate(seed.data, seed.fields, ops))
    with mock.patch.object(rle, "MAX_PIXELS", FUZZ_MAX_PIXELS):
        for seed in _need(rle_seeds()):
            for i in range(len(seed.fields)):
                for v in values:
                    inner = mutate(seed.inner, seed.fields, [("field", i, v)])
                    data = seed.head + zlib.compress(inner)
                    only_nd2_errors(rle.decode_rle_mask, data, _rle_extra_budget(data))
    for seed in _need(jp2_seeds()):
        for i in range(len(seed.fields)):
            for v in values:
                only_nd2_errors(jp2.read_legacy, mutate(seed.data, seed.fields, [("field", i, v)]))
    for seed in _need(file_seeds())[:3]:
        step = max(1, len(seed.fields) // 40)
        for i in range(0, len(seed.fields), step):
            for v in values:
                _container_decoders(mutate(seed.data, seed.fields, [("field", i, v)]), seed)


# --------------------------------------------------------------------------- recursion


def _lv_chain(depth: int) -> bytes:
    inner = bytes([3, 1, 0, 0]) + (7).to_bytes(4, "little")
    for _ in range(depth):
        head = bytes([11, 1, 0, 0]) + (1).to_bytes(4, "little")
        length = len(head) + 8 + len(inner)
        inner = head + length.to_bytes(8, "little") + inner + (16).to_bytes(8, "little")
    return inner


def _jp2_nested(depth: int) -> bytes:
    body = b""
    for _ in range(depth):
        body = struct.pack(">I", 8 + len(body)) + b"jp2h" + body
    bmap = struct.pack(">I", 1) + b"jp2hjp2h" + struct.pack("<Q", 0)
    return body + bmap + b"LABORATORY IMAGING ND BOX MAP 00" + struct.pack("<Q", len(bmap) + 40)


def test_deeply_nested_lite_variant_is_an_error() -> None:
    data = _lv_chain(20000)  # 480 KB, deeper than any recursion limit
    for fn in (lite_variant.decode, lite_variant.decode_lossless):
        err = only_nd2_errors(fn, data)
        assert isinstance(err, CorruptChunkError)


def test_deeply_nested_jp2h_is_an_error() -> None:
    # regression (codec API jp2.read_legacy): nested jp2h superboxes recurse once per
    # level; 2000 levels (16 KB) used to let RecursionError escape
    err = only_nd2_errors(jp2.read_legacy, _jp2_nested(2000))
    assert isinstance(err, CorruptChunkError)


# --------------------------------------------------------------------------- memory


def _overlapping_runs_payload(n_runs: int, width: int = 4096) -> bytes:
    """One 1 x `width` object whose single row repeats the full-width run `n_runs`
    times: valid for every reader (later runs repaint the same pixels)."""
    stream = struct.pack("<7I", 3, width, 1, 1, 0, 0, 0)
    stream += struct.pack("<9I", 1, 0, 0, width - 1, 0, 36 + 8 + 8 * n_runs, 1, 36, 0)
    stream += struct.pack("<2I", 0, n_runs) + struct.pack("<2I", 0, width) * n_runs
    return struct.pack("<I", len(stream)) + zlib.compress(stream, 9)


def test_overlapping_runs_do_not_blow_up_memory() -> None:
    # regression (codec API rle.decode_rle_mask): painting was vectorised over the *sum
    # of all run lengths*, so a 99-byte payload for a 1 x 4096 mask whose runs overlap
    # peaked at ~310 MB (linear in the number of runs)
    from nd2._binary import decode_binary_mask

    p = _overlapping_runs_payload(4000)
    out = only_nd2_errors(rle.decode_rle_mask, p, extra_budget=4 * 4096)
    assert np.array_equal(out, decode_binary_mask(p[4:]))


_LIMITED = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (@MEMCAP@, @MEMCAP@))
    import numpy as np
    from nd2kit import Nd2Error
    from nd2kit.codecs import lite_variant, rle
    data = open(sys.argv[1], "rb").read()
    fn = {"rle": rle.decode_rle_mask, "lv": lite_variant.decode}[sys.argv[2]]
    try:
        fn(data)
        print("OK")
    except Nd2Error as e:
        print("Nd2Error", type(e.offset).__name__)
    except BaseException as e:
        print("LEAKED", type(e).__name__)
""")


def _run_limited(tmp_path: Any, data: bytes, which: str, limit: int = 512 * MiB) -> str:
    p = tmp_path / "input.bin"
    p.write_bytes(data)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    script = _LIMITED.replace("@MEMCAP@", str(limit))
    r = subprocess.run([sys.executable, "-c", script, str(p), which],
                       capture_output=True, text=True, env=env, timeout=120)
    return (r.stdout.strip() or r.stderr.strip()[-300:])


def test_limited_memory_harness_works(tmp_path: Any) -> None:
    # the subprocess harness of the two tests below: a small mask decodes fine
    p = rle.encode_rle_mask(np.eye(5, dtype=np.uint8))
    assert _run_limited(tmp_path, p, "rle") == "OK"
    assert _run_limited(tmp_path, b"\x0b\x05", "lv") == "Nd2Error int"


def test_memory_error_from_mask_header_is_an_nd2_error(tmp_path: Any) -> None:
    # regression (codec API rle.decode_rle_mask): the mask is allocated from the
    # header's width x height alone; under a memory limit a 40-byte payload declaring
    # 40000 x 40000 pixels let MemoryError escape
    p = struct.pack("<I", 28) + zlib.compress(struct.pack("<7I", 3, 40000, 40000, 0, 0, 0, 0))
    assert _run_limited(tmp_path, p, "rle") in ("OK", "Nd2Error int")


def test_memory_error_from_zlib_bomb_is_an_nd2_error(tmp_path: Any) -> None:
    # regression (generated runtime _inflate / lite_variant.decode): a 3 MB zlib bomb in
    # a COMPRESS record inflating to 640 MiB let MemoryError escape under a 512 MiB
    # address-space limit (the inflate cap was 2 GiB)
    z = zlib.compressobj(1)
    zero = bytes(MiB)
    packed = b"".join(z.compress(zero) for _ in range(640)) + z.flush()  # 640 MiB of zeros
    p = b"L" + bytes(11) + packed
    assert _run_limited(tmp_path, p, "lv") == "Nd2Error int"
