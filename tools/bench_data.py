"""Inputs for ``python -m tools.bench``: corpus payloads and generated, realistic data.

Everything here is deterministic (fixed seeds) so that two runs time the same bytes.
Building the inputs is not timed. Large generated ``.nd2`` files are written once
into a cache folder outside the repository (:data:`CACHE_DIR`) and reused.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nd2kit._generated.fast import nd2_container as _nc  # type: ignore[import-not-found,unused-ignore]

from nd2kit.codecs import chunk_map as _cmap
from nd2kit.codecs import container
from nd2kit.codecs import lite_variant as lv

CORPUS_REAL = Path(os.environ.get("ND2KIT_BENCH_CORPUS", "/work/shared/corpus/real"))

#: Where generated sample files are cached between runs (never inside the repo).
CACHE_DIR = Path(os.environ.get("ND2KIT_BENCH_CACHE")
                 or Path(tempfile.gettempdir()) / "nd2kit-bench")

#: First payload byte of a LiteVariant chunk: LEVEL (11) or COMPRESS (76, ``'L'``).
LV_FIRST_BYTES = (11, 76)


# ----------------------------------------------------------------------------- corpus


def corpus_lite_variant_payloads(root: Path = CORPUS_REAL) -> list[tuple[str, bytes]]:
    """Every LiteVariant chunk payload of every ``.nd2`` file under `root`.

    Returns ``[("file.nd2:ChunkName!", payload), ...]`` in a stable order.
    Files whose chunk map cannot be read (legacy JPEG 2000 files) are skipped.
    """
    out: list[tuple[str, bytes]] = []
    for path in sorted(root.glob("*.nd2")):
        buf = path.read_bytes()
        try:
            _, cm = container.read_chunk_map(buf)
        except Exception:  # noqa: BLE001 - not a modern container: nothing to take
            continue
        for name in cm:
            _, data = container.chunk_data(buf, cm, name)
            if len(data) and data[0] in LV_FIRST_BYTES:
                out.append((f"{path.name}:{name}", bytes(data)))
    return out


# ----------------------------------------------------------------------------- LiteVariant


def _u32(v: int) -> lv.LvRecord:
    return lv.LvRecord(lv.LvType.UINT32, "", v)


def _u64(v: int) -> lv.LvRecord:
    return lv.LvRecord(lv.LvType.UINT64, "", v)


def _autofocus(rng: random.Random) -> dict[str, Any]:
    return {
        "eType": _u32(rng.choice((0, 1, 4))),
        "dStep": rng.uniform(0.1, 2.0),
        "dRange": rng.uniform(5.0, 50.0),
        "dPrecision": 0.05,
        "dSpeed": rng.uniform(10.0, 200.0),
        "dOffset": rng.uniform(-5.0, 5.0),
        "aFocusPlane": {"iDegree": 0, "uiValues": _u32(0), "pCoeff": {}},
        "uiFlags": _u32(0),
        "iFocusCriterion": 0,
        "sZDrive": "Ti2 ZDrive",
        "bPiezoZTriggered": False,
        "wszOptConf": "",
        "wszPreferedAFChannel": "",
    }


def _spectrum(rng: random.Random, n: int) -> dict[str, Any]:
    pts = {
        f"Point{i}": {"eType": _u32(4), "dWavelength": rng.uniform(400, 700),
                      "dTValue": rng.uniform(0, 100)}
        for i in range(n)
    }
    return {"uiCount": _u32(n), "pPoint": pts, "bPoints": n > 1}


def _plane(rng: random.Random, k: int) -> dict[str, Any]:
    return {
        "uiCompCount": _u32(1),
        "uiSampleIndex": _u32(k),
        "uiModalityMask": _u64(134218241),
        "pFluorescentProbe": {
            "m_sName": f"Probe {k}",
            "m_uiColor": _u32(rng.randrange(1 << 24)),
            "m_ExcitationSpectrum": _spectrum(rng, 0),
            "m_EmissionSpectrum": _spectrum(rng, 0),
        },
        "pFilterPath": {
            "m_sDescr": "",
            "m_uiCount": _u32(1),
            "m_pFilter": [
                {
                    "m_sUserName": f"Filter {k}",
                    "m_sName": f"Filter {k}",
                    "m_ePlacement": _u32(3),
                    "m_eNature": _u32(0),
                    "m_eSpctType": _u32(1),
                    "m_uiColor": _u32(rng.randrange(1 << 24)),
                    "m_ExcitationSpectrum": _spectrum(rng, 1),
                    "m_EmissionSpectrum": _spectrum(rng, 1),
                    "m_MirrorSpectrum": _spectrum(rng, 1),
                }
            ],
        },
        "dLampVoltage": 0.0,
        "dFadingCorr": 0.0,
        "uiColor": _u32(rng.randrange(1 << 24)),
        "sDescription": ("DAPI", "FITC", "TRITC", "Cy5")[k % 4],
        "dAcqTime": rng.uniform(10, 500),
        "dPinholeDiameter": rng.uniform(20, 80),
        "iChannelSeriesIndex": -1,
        "dObjCalibration1to1": 0.248592227760896,
        "sizeObjFullChip.cx": 2048,
        "sizeObjFullChip.cy": 2048,
    }


def generated_lite_variant_value(n_points: int = 420, n_events: int = 2200,
                                 n_periods: int = 60, n_rd: int = 300,
                                 seed: int = 20240611) -> dict[str, Any]:
    """A NIS-like experiment + event record tree (plain Python, for ``from_python``).

    Shapes follow the real chunks of the corpus and the format notes (§6.4, §7.2):
    an ND loop with a long XY ``Points`` list (each point carrying its autofocus
    settings), many time ``pPeriod`` items, recorded-data keys, picture planes
    ``a0..a3`` with filter spectra, a ``pItemValid`` byte array, and an
    ``RLxExperimentRecord``-style ``pEvents`` list. Integers that NIS stores
    unsigned are UINT32/UINT64, the others INT32.
    """
    rng = random.Random(seed)
    points = [
        {
            "pAutoFocus": _autofocus(rng),
            "wsCommandAfterCapture": "",
            "wsCommandBeforeCapture": "",
            "pZStackPos": 0,
            "pdOffset": rng.uniform(-3.0, 3.0),
            "dPosX": rng.uniform(-50000.0, 50000.0),
            "dPosY": rng.uniform(-35000.0, 35000.0),
            "dPosZ": rng.uniform(1000.0, 9000.0),
            "dPFSOffset": rng.choice((-1.0, rng.uniform(5000, 12000))),
            "dPosName": f"Well {chr(65 + i // 24 % 16)}{i % 24 + 1:02d} #{i}",
            "bChecked": rng.random() > 0.05,
        }
        for i in range(n_points)
    ]
    periods = [
        {
            "uiCount": _u32(rng.randrange(1, 500)),
            "dStart": rng.uniform(0, 1e7),
            "dPeriod": rng.choice((1000.0, 5000.0, 60000.0)),
            "dDuration": rng.uniform(0, 1e6),
            "uiGroup": _u32(0),
            "uiStimulationCount": _u32(0),
            "uiTreatment": _u32(0),
            "dIncubationDuration": 0.0,
            "bDurationPref": False,
            "uiLoopType": _u32(0),
            "dMaxPeriodDiff": rng.uniform(0, 50),
            "dMinPeriodDiff": rng.uniform(-50, 0),
            "dAvgPeriodDiff": rng.uniform(-5, 5),
            "wsPhaseName": f"Phase {i}",
            "sAutoFocusBeforeCapture": _autofocus(rng),
        }
        for i in range(n_periods)
    ]
    rd_keys = [
        {"wsRDKey": k, "bRDCheck": True, "eRecord": _u32(1)}
        for k in (["X", "Y", "Z", "Z1", "PFS_OFFSET", "PFS_STATUS"]
                  + [f"Camera_CH{i}LaserPower" for i in range(n_rd - 6)])
    ]
    events = []
    t = 0.0
    for i in range(n_events):
        t += rng.expovariate(1 / 850.0)
        events.append({
            "T": t,
            "T2": t + rng.uniform(0, 2),
            "M": _u32(rng.choice((1, 7, 14, 21, 22, 23, 24, 41, 42))),
            "D": rng.choice(("Autofocus", "Before XY move", "After XY move",
                             "Before Z series", "After capture", "Command executed")),
            "A": f"pos={i % max(n_points, 1)};z={rng.uniform(1000, 9000):.3f}",
            "I": _u32(i),
        })
    return {
        "eType": _u32(6),
        "wsApplicationDesc": "ND Acquisition",
        "wsUserDesc": "generated for tools.bench",
        "aMeasProbesBase64": "",
        "wsCameraName": "Andor Zyla VSC-04459",
        "pItemValid": bytes(1 if rng.random() > 0.02 else 0 for _ in range(n_points)),
        "uLoopPars": {
            "bIsMain": False,
            "uiCount": _u32(n_points),
            "bUseZ": True,
            "bUsePFS": True,
            "bRelativeXY": False,
            "dReferenceX": 0.0,
            "dReferenceY": 0.0,
            "bRedrawCentered": True,
            "bKeepPFSOn": True,
            "sZDevice": "Ti2 ZDrive",
            "Points": points,
            "pPeriod": periods,
            "pPlanes": {
                "uiCount": _u32(4),
                "uiCompCount": _u32(4),
                "sPlaneNew": {f"a{k}": _plane(rng, k) for k in range(4)},
            },
        },
        "sRecordedData": {"uiCount": _u32(len(rd_keys)), "pRecordedDataList": rd_keys},
        "RLxExperimentRecord": {"uiCount": _u32(n_events), "pEvents": events},
        "uiRepeatCount": _u32(1),
        "uiNextLevelCount": _u32(0),
    }


def generated_lite_variant(**kw: Any) -> bytes:
    """Encode :func:`generated_lite_variant_value` under the root ``SLxExperiment``."""
    rec = lv.from_python("SLxExperiment", generated_lite_variant_value(**kw))
    return lv.encode(rec)


# ----------------------------------------------------------------------------- chunk map

#: Metadata chunks of a large NIS ND acquisition (names as in the corpus files).
_META_NAMES = [
    "ImageAttributesLV!", "ImageTextInfoLV!", "ImageMetadataLV!", "ImageMetadataSeqLV|0!",
    "ImageCalibrationLV|0!", "ImageEventsLV!", "CustomData|X!", "CustomData|Y!",
    "CustomData|Z!", "CustomData|Z1!", "CustomData|PFS_OFFSET!", "CustomData|PFS_STATUS!",
    "CustomData|Camera_ExposureTime1!", "CustomData|AcqTimesCache!",
    "CustomData|AcqTimes2Cache!", "CustomData|AcqFramesCache!", "CustomData|TimeSourceCache!",
    "CustomData|RoiMetadata_v1!", "CustomData|GUIDStore!", "CustomData|CustomDescriptionV1_0!",
    "CustomDataVar|AppInfo_V1_0!", "CustomDataVar|CustomDataV2_0!",
    "CustomDataVar|GrabberCameraSettingsV1_0!", "CustomDataVar|LUTDataV1_0!",
    "CustomDataVar|StreamDataV1_0!", "CustomDataVar|NDControlV1_0!",
    "CustomDataVar|AcqTimeV1_0!", "CustomDataVar|ScanAreaDescV1_0!",
]

ALIGN = 4096


def _ceil4k(x: int) -> int:
    return -(-x // ALIGN) * ALIGN


def generated_chunk_map_entries(n_frames: int = 100_000, frame_bytes: int = 512 * 512 * 2,
                                seed: int = 7) -> tuple[list[str], list[int], list[int]]:
    """Names, offsets and sizes of the map of a big uncompressed ND acquisition.

    Layout as NIS/limnd2 write it (§1.3): signature page, then ``n_frames``
    ``ImageDataSeq|N!`` chunks (name field 4072 + 8-byte timestamp + pixels, each on a
    4 KiB boundary), then the metadata chunks with assorted sizes; with the defaults
    the last chunk ends near 53 GB, so the u64 offset fields contain every byte value
    (0x21 ``!`` included). Two entries use the real-file quirk size == offset.
    Entries are in reverse lexicographic name order, as in NIS and limnd2 files.
    """
    rng = random.Random(seed)
    entries: list[tuple[str, int, int]] = []
    pos = ALIGN
    data_len = 8 + frame_bytes
    footprint = _ceil4k(16 + 4072 + data_len)
    for i in range(n_frames):
        entries.append((f"ImageDataSeq|{i}!", pos, data_len))
        pos += footprint
    for k, name in enumerate(_META_NAMES):
        size = rng.choice((8 * n_frames, 4 * n_frames, rng.randrange(100, 200_000)))
        entries.append((name, pos, -1 if k in (16, 21) else size))
        pos += _ceil4k(16 + len(name) + 20 + size)
    entries.sort(key=lambda e: e[0].encode("latin-1"), reverse=True)
    return [e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries]


def generated_chunk_map_file(n_frames: int = 100_000, **kw: Any) -> tuple[bytes, int]:
    """A small file holding only a signature page and a big chunk map.

    Bytes: signature chunk zero-padded to 4 KiB, then the map chunk at 0x1000 laid out
    as NIS writes it (name field 4128 = name + 4096 zeros; payload = entries + end
    marker + zero padding + 40-byte trailer, ending on a 4 KiB boundary). The entries
    describe the chunks of a ~53 GB file that are not present: both readers only
    read the map. Returns ``(file_bytes, number_of_entries)``.
    """
    names, offsets, sizes = generated_chunk_map_entries(n_frames, **kw)
    map_offset = ALIGN
    body = _cmap.build_chunk_map_body(names, offsets, sizes, map_offset)
    sig = _nc.SignatureChunk(
        magic=container.CHUNK_MAGIC_BYTES, name_len=32, data_len=64,
        name=container.SIGNATURE_NAME.encode(), version=b"Ver3.0".ljust(64, b"\0"),
    ).to_bytes()
    fn = container.FILEMAP_NAME.encode()
    name_len = len(fn) + ALIGN
    trailer = _nc.MapTrailer(signature=container.MAP_SIGNATURE.encode(),
                             map_offset=map_offset).to_bytes()
    data_len = _ceil4k(16 + len(fn) + len(body) + len(trailer)) - 16 - len(fn)
    payload = body + bytes(data_len - len(body) - len(trailer)) + trailer
    head = _nc.ChunkHeader(magic=container.CHUNK_MAGIC_BYTES, name_len=name_len,
                           data_len=data_len).to_bytes()
    buf = (sig + bytes(ALIGN - len(sig)) + head + fn + bytes(name_len - len(fn)) + payload)
    return buf, len(names)


def count_bang_in_fields(offsets: list[int], sizes: list[int]) -> int:
    """Number of map entries whose stored offset/size bytes contain ``!`` (0x21)."""
    n = 0
    for off, size in zip(offsets, sizes):
        stored = off if size < 0 else size
        if b"!" in off.to_bytes(8, "little") + stored.to_bytes(8, "little"):
            n += 1
    return n



# ----------------------------------------------------------------------------- corpus files


def corpus_files(root: Path = CORPUS_REAL) -> list[tuple[str, Path]]:
    """``[(short_name, path), ...]`` for every ``.nd2`` file under `root`, sorted by name.

    The short name is the part after the last ``__`` of the file stem (the corpus
    names files ``owner__repo__name.nd2``), made unique if needed.
    """
    out: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for path in sorted(root.glob("*.nd2")):
        short = path.stem.rsplit("__", 1)[-1]
        if short in seen:
            short = path.stem
        seen.add(short)
        out.append((short, path))
    return out


# ----------------------------------------------------------------------------- sample files

#: ~1 GB: 60 frames of 2048 x 2048, 2 interleaved uint16 channels (16.8 MB per frame).
BIG_SAMPLE: dict[str, Any] = dict(t=60, z=1, channels=2, height=2048, width=2048,
                                  dtype="uint16")
#: 50 000 small frames (32 x 32, 1 channel, uint16).
MANY_FRAMES_SAMPLE: dict[str, Any] = dict(t=50_000, z=1, channels=1, height=32, width=32,
                                          dtype="uint16")
#: A small file with the big one's layout (3 frames of 64 x 64, 2 channels).
SMALL_SAMPLE: dict[str, Any] = dict(t=3, z=1, channels=2, height=64, width=64, dtype="uint16")
#: As many frames as BIG_SAMPLE, but tiny ones (60 frames of 64 x 64, 2 channels).
SMALL_60_SAMPLE: dict[str, Any] = dict(t=60, z=1, channels=2, height=64, width=64,
                                       dtype="uint16")


@dataclass
class SampleFile:
    """A generated sample file in the cache and how it was made."""

    path: Path
    params: dict[str, Any]
    #: True when this run wrote it (False: reused from the cache)
    generated_now: bool
    #: wall time of ``samples.write_sample_file`` in its subprocess (when written)
    gen_seconds: float
    #: peak RSS of that subprocess, bytes (None if unknown)
    gen_peak_rss: int | None
    #: when it was written (UTC)
    created: str
    #: "samples" (``samples.write_sample_file`` in a subprocess) or "stream"
    #: (:func:`write_stream_sample`, in this process)
    writer: str = "samples"

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def describe_generation(self) -> str:
        rss = (f", generator process peak RSS {self.gen_peak_rss / 1e9:.2f} GB"
               if self.gen_peak_rss else "")
        when = "this run" if self.generated_now else f"reused from cache, written {self.created}"
        fn = ("samples.write_sample_file" if self.writer == "samples"
              else "tools.bench_data.write_stream_sample")
        return (f"`{fn}(path, {_kw_text(self.params)})` took "
                f"{self.gen_seconds:.1f} s{rss} ({when}; `{self.path}`)")


def _kw_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


@functools.cache
def _samples_source_hash() -> str:
    """Hash of what ``samples`` writes (a small file's bytes), not of its source text.

    Edits of ``samples.py`` that do not change its output (docstrings, refactors) keep
    the cached files; any change of the bytes it writes makes new ones.
    """
    from nd2kit.testing import samples

    probe = samples.sample_file_bytes(t=3, z=2, channels=2, height=24, width=30,
                                      dtype="uint16")
    return hashlib.sha256(probe).hexdigest()[:10]


_GEN_SCRIPT = ("import sys, json; from nd2kit.testing.samples import write_sample_file; "
               "write_sample_file(sys.argv[1], **json.loads(sys.argv[2]))")


@functools.cache
def _sample_file_cached(key: str) -> SampleFile:
    params = json.loads(key)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    stem = ("sample-t{t}-z{z}-c{channels}-{height}x{width}-{dtype}".format(**params))
    src_hash = _samples_source_hash()
    path = CACHE_DIR / f"{stem}-{src_hash}.nd2"
    side = path.with_suffix(".json")
    if path.is_file() and side.is_file():
        info = json.loads(side.read_text())
        return SampleFile(path, params, False, info["seconds"], info.get("peak_rss"),
                          info.get("created", "?"))
    # files written by an older samples.py: same geometry, other source hash
    for old in [*CACHE_DIR.glob(f"{stem}-*.nd2"), *CACHE_DIR.glob(f"{stem}-*.json")]:
        if old.stem.rsplit("-", 1)[-1] != src_hash:
            old.unlink(missing_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    t0 = time.perf_counter()
    # a subprocess: sample_file_bytes builds the whole file in memory, and the
    # benchmark process should not keep that heap (and its RSS) afterwards
    proc = subprocess.Popen([sys.executable, "-c", _GEN_SCRIPT, str(tmp), json.dumps(params)])
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"generating {path.name} failed (exit {proc.returncode})")
    peak = ru.ru_maxrss * 1024 if sys.platform.startswith("linux") else ru.ru_maxrss
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    os.replace(tmp, path)
    side.write_text(json.dumps({"params": params, "seconds": seconds, "peak_rss": peak,
                                "created": created, "bytes": path.stat().st_size}))
    return SampleFile(path, params, True, seconds, peak, created)


def sample_file(**params: Any) -> SampleFile:
    """The cached sample file written by ``nd2kit.testing.samples.write_sample_file(**params)``.

    Written once into :data:`CACHE_DIR` (in a subprocess, atomically through a
    temporary name) and reused by later runs; the name holds the parameters and a
    hash of the bytes ``samples`` writes for a small file, so a changed generator output writes a new file (and the
    old one is deleted).
    """
    return _sample_file_cached(json.dumps(params, sort_keys=False))


def sample_pattern_frame(n: int, height: int, width: int, channels: int,
                         dtype: str = "uint16") -> Any:
    """Frame `n` of ``samples.sample_frames`` as ``(channels, height, width)`` (cheaply)."""
    import numpy as np

    dt = np.dtype(dtype)
    yy, xx = np.mgrid[0:height, 0:width]
    ch = np.arange(channels)[:, None, None]
    img = xx[None] * 3 + yy[None] * 7 + n * 101 + ch * 1009
    return (img % (np.iinfo(dt).max + 1)).astype(dt)


# ----------------------------------------------------------------------------- memory probe

_STATUS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def _proc_status() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                k, _, v = line.partition(":")
                if k in _STATUS_KEYS:
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


_PROBE_SCRIPT = ("import sys; sys.path.insert(0, sys.argv[1]); "
                 "from tools.bench_data import _memory_probe_main; _memory_probe_main(sys.argv[2:])")


def _reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _memory_probe_main(argv: list[str]) -> None:
    """Child side of :func:`memory_probe`: prints one JSON line."""
    import gc
    import resource

    lib, path, mode = argv
    mod = __import__(lib)
    f = mod.ND2File(path)
    try:
        f.shape, f.dtype, f.sizes  # metadata decoded before the baseline  # noqa: B018
        gc.collect()
        out: dict[str, Any] = {"lib": lib, "mode": mode}
        if mode == "tracemalloc":
            import tracemalloc

            tracemalloc.start()
            a = f.asarray()
            cur, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out.update(nbytes=int(a.nbytes), peak=peak, current=cur)
        else:
            reset = _reset_peak_rss()
            s0 = _proc_status()
            a = f.asarray()
            s1 = _proc_status()
            # ru_maxrss is not used for the peak: Linux carries the parent's high-water
            # mark into a child over (v)fork + exec, so it can exceed anything the
            # child did; VmHWM belongs to this process's own address space
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            out.update(nbytes=int(a.nbytes), before=s0, after=s1, ru_maxrss=maxrss,
                       hwm_reset=reset,
                       peak_growth=s1["VmHWM"] - s0["VmRSS"],
                       file_growth=s1.get("RssFile", 0) - s0.get("RssFile", 0),
                       anon_growth_end=s1.get("RssAnon", 0) - s0.get("RssAnon", 0))
        del a
    finally:
        f.close()
    print(json.dumps(out))


def memory_probe(lib: str, path: Path, mode: str) -> dict[str, Any]:
    """``lib.ND2File(path).asarray()`` in a fresh interpreter; memory it took.

    `mode` ``"rss"``: RSS before, peak RSS during the call (``VmHWM``, reset to the
    current RSS just before through ``/proc/self/clear_refs``) and file-backed RSS
    (mapped file pages, ``RssFile``) after; ``"tracemalloc"``: peak of the bytes
    allocated through Python's and numpy's allocators during the call.
    """
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", _PROBE_SCRIPT, str(root), lib, str(path), mode],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"memory probe {lib}/{mode} failed: {r.stderr.strip()[-500:]}")
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


# ----------------------------------------------------------------------------- streamed samples

#: name field of a packed frame chunk: NIS's 4072 bytes (nd2 0.12 finds frame data at
#: chunk offset + 16 + 4072 + 8 whatever the header says), only the padding after the
#: pixels is left out
PACKED_NAME_LEN = container.FRAME_NAME_LEN

#: ~2.1 GB: 256 mono frames of 2048 x 2048 uint16 (8 MiB each), NIS layout (cold-cache cases).
COLD_BIG: dict[str, Any] = dict(t=256, channels=1, height=2048, width=2048, dtype="uint16",
                                packed=False)
#: 100 000 mono frames of 32 x 32 uint16, NIS layout (8 KiB per frame chunk, ~0.8 GB).
COLD_MANY: dict[str, Any] = dict(t=100_000, channels=1, height=32, width=32, dtype="uint16",
                                 packed=False)
#: COLD_MANY's layout with 1 000 frames (the frame-count-independence reference of inspect).
INSPECT_SMALL: dict[str, Any] = dict(COLD_MANY, t=1_000)


def dask_many_sample(n: int) -> dict[str, Any]:
    """Parameters of the ``dask_many`` files: `n` mono 16 x 16 uint16 frames, packed chunks.

    4 608 bytes per frame chunk: 4.6 GB for a million frames.
    """
    return dict(t=n, channels=1, height=16, width=16, dtype="uint16", packed=True)


def _stream_metadata_chunks(t: int, channels: int, height: int, width: int,
                            dtype: str) -> list[tuple[str, bytes]]:
    """The metadata chunks ``samples.sample_file_bytes`` writes for ``z=1`` (same order)."""
    import numpy as np

    from nd2kit.testing import samples as sm

    dt = np.dtype(dtype)
    bits, pixtype = sm._DTYPES[dt]
    sig = 12 if bits == 16 else bits
    stride = -(-(width * channels * dt.itemsize) // 4) * 4
    names = (["DAPI", "GFP", "mCherry", "Cy5"] + [f"Ch{k}" for k in range(4, channels)])
    period = 250.0
    trees = [
        ("ImageAttributesLV!", sm._attributes(width, height, channels, bits, sig, pixtype, t,
                                              stride)),
        ("ImageMetadataSeqLV|0!", sm._picture_metadata(channels, 1, names[:channels], 0.325)),
        ("ImageTextInfoLV!", sm._text_info(f"sample TMZ T{t} M1 Z1 C{channels} "
                                           f"{width}x{height} {dtype}")),
    ]
    if t > 1:
        trees.append(("ImageMetadataLV!", sm._experiment([("T", t)], period, 0.5)))
    chunks = [(name, lv.encode(tree)) for name, tree in trees]
    chunks.append(("CustomData|AcqTimesCache!",
                   (np.arange(t, dtype="<f8") * period).tobytes()))
    return chunks


def write_stream_sample(path: Path, *, t: int, channels: int, height: int, width: int,
                        dtype: str = "uint16", packed: bool = False) -> None:
    """Write a ``samples``-style file of any size without holding it in memory.

    Same metadata, pixel pattern (``samples.sample_frames``) and chunk order as
    ``samples.sample_file_bytes(t=t, z=1, ...)``; with ``packed=False`` the bytes are
    identical to it (NIS layout: every chunk padded to 4 KiB, frame name fields of
    4072 bytes), with ``packed=True`` the frame chunks follow each other without
    padding after the pixels (name field of :data:`PACKED_NAME_LEN` bytes), which
    keeps files of a million small frames about half the NIS size. Frames are computed and written in blocks.
    """
    import numpy as np
    from nd2kit._generated.fast.nd2_container import (  # type: ignore[import-not-found,unused-ignore]
        ImageFrame,
    )

    dt = np.dtype(dtype).newbyteorder("<")
    stride = -(-(width * channels * dt.itemsize) // 4) * 4
    row_bytes = width * channels * dt.itemsize
    period = 250.0
    entries: list[tuple[str, int, int]] = []
    sig = _nc.SignatureChunk(
        magic=container.CHUNK_MAGIC_BYTES, name_len=32, data_len=64,
        name=container.SIGNATURE_NAME.encode(), version=b"Ver3.0".ljust(64, b"\0"),
    ).to_bytes()
    frame_len = 8 + height * stride
    packed_head = _nc.ChunkHeader(magic=container.CHUNK_MAGIC_BYTES, name_len=PACKED_NAME_LEN,
                                  data_len=frame_len).to_bytes()
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx[:, :, None] * 3 + yy[:, :, None] * 7 + np.arange(channels) * 1009)
    block = max(1, (32 << 20) // max(1, height * width * channels * 8))
    modulus = np.iinfo(dt).max + 1
    with open(path, "wb") as fh:
        fh.write(sig + bytes(ALIGN - len(sig)))
        pos = ALIGN
        for name, payload in _stream_metadata_chunks(t, channels, height, width, dtype):
            blob = container.encode_chunk(name, payload)
            entries.append((name, pos, len(payload)))
            fh.write(blob)
            pos += len(blob)
        for b0 in range(0, t, block):
            n = np.arange(b0, min(t, b0 + block))
            img = ((base[None] + n[:, None, None, None] * 101) % modulus).astype(dt)
            rows = np.zeros((len(n), height, stride), np.uint8)
            rows[:, :, :row_bytes] = img.view(np.uint8).reshape(len(n), height, row_bytes)
            parts = []
            for k, i in enumerate(n.tolist()):
                name = f"ImageDataSeq|{i}!"
                payload = ImageFrame(timestamp=float(i * period), pixels=rows[k].tobytes(),
                                     zlib_stream=None, height=height, width_bytes=stride,
                                     compressed=False).to_bytes()
                if packed:
                    blob = packed_head + name.encode().ljust(PACKED_NAME_LEN, b"\0") + payload
                else:
                    blob = container.encode_chunk(name, payload, part1=8)
                entries.append((name, pos, len(payload)))
                parts.append(blob)
                pos += len(blob)
            fh.write(b"".join(parts))
        entries.sort(key=lambda e: e[0].encode("latin-1"), reverse=True)
        body = _cmap.build_chunk_map_body([e[0] for e in entries], [e[1] for e in entries],
                                          [e[2] for e in entries], pos)
        # the map chunk as container.build_file ends a file
        fn = container.FILEMAP_NAME.encode()
        trailer = _nc.MapTrailer(signature=container.MAP_SIGNATURE.encode(),
                                 map_offset=pos).to_bytes()
        head_len = container.HEADER_SIZE + len(fn)
        data_len = _ceil4k(head_len + len(body) + len(trailer)) - head_len
        payload = body + bytes(data_len - len(body) - len(trailer)) + trailer
        nl = container._name_len(fn, len(payload))
        fh.write(_nc.ChunkHeader(magic=container.CHUNK_MAGIC_BYTES, name_len=nl,
                                 data_len=len(payload)).to_bytes()
                 + fn + bytes(nl - len(fn)) + payload)


@functools.cache
def _stream_writer_checked() -> str:
    """Check once per process that the streamed NIS layout equals ``samples``'s bytes."""
    import inspect

    from nd2kit.testing import samples

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "s.nd2"
        write_stream_sample(p, t=5, channels=2, height=24, width=30, dtype="uint16")
        ours = p.read_bytes()
    if ours != samples.sample_file_bytes(t=5, z=1, channels=2, height=24, width=30,
                                         dtype="uint16"):
        raise RuntimeError("write_stream_sample's NIS layout differs from "
                           "samples.sample_file_bytes; fix tools/bench_data.py")
    # the streamed bytes equal samples' (checked above): key on those bytes and the
    # writer's source (its packed layout), not on samples.py's text
    src = ours + inspect.getsource(write_stream_sample).encode()
    return hashlib.sha256(src).hexdigest()[:10]


@functools.cache
def _stream_file_cached(key: str) -> SampleFile:
    params = json.loads(key)
    src_hash = _stream_writer_checked()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    stem = ("stream-t{t}-c{channels}-{height}x{width}-{dtype}-".format(**params)
            + ("packed" if params["packed"] else "nis"))
    path = CACHE_DIR / f"{stem}-{src_hash}.nd2"
    side = path.with_suffix(".json")
    if path.is_file() and side.is_file():
        info = json.loads(side.read_text())
        return SampleFile(path, params, False, info["seconds"], None, info.get("created", "?"),
                          writer="stream")
    for old in [*CACHE_DIR.glob(f"{stem}-*.nd2"), *CACHE_DIR.glob(f"{stem}-*.json")]:
        if old.stem.rsplit("-", 1)[-1] != src_hash:
            old.unlink(missing_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    t0 = time.perf_counter()
    try:
        write_stream_sample(tmp, **params)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - t0
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    os.replace(tmp, path)
    side.write_text(json.dumps({"params": params, "seconds": seconds, "created": created,
                                "bytes": path.stat().st_size}))
    return SampleFile(path, params, True, seconds, None, created, writer="stream")


def stream_sample_file(**params: Any) -> SampleFile:
    """The cached file written by :func:`write_stream_sample` (``**params``).

    Cached in :data:`CACHE_DIR` like :func:`sample_file`; the name holds the
    parameters and a hash of the bytes ``samples`` writes (which the streamed NIS layout must equal) and of the writer's source.
    """
    return _stream_file_cached(json.dumps(params, sort_keys=False))


# ----------------------------------------------------------------------------- cold page cache

PAGE = 4096


def drop_file_pages(path: Path) -> None:
    """Evict `path`'s pages from the page cache (``fsync`` + ``POSIX_FADV_DONTNEED``).

    Pages that a process still maps are not evicted; :func:`resident_pages` tells.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def resident_pages(path: Path) -> tuple[int, int]:
    """``(pages of path in the page cache, pages of the file)``, by ``mincore(2)``.

    The file is mapped read-only for the call; ``mincore`` only reports residency
    and does not fault pages in.
    """
    import ctypes
    import mmap

    import numpy as np

    size = path.stat().st_size
    n = -(-size // PAGE)
    if size == 0:
        return 0, 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), size, prot=mmap.PROT_READ) as m:
        view = np.frombuffer(m, np.uint8)
        vec = np.zeros(n, np.uint8)
        rc = libc.mincore(ctypes.c_void_p(view.ctypes.data), ctypes.c_size_t(size),
                          ctypes.c_void_p(vec.ctypes.data))
        del view
        if rc != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
    return int(np.count_nonzero(vec & 1)), n


def cold_request(mod: Any, path: str, req: dict[str, Any]) -> Any:
    """Do request `req` with library `mod` (nd2kit or nd2): open, read, return an array.

    ``{"op": "frame", "index": k}``: ``np.array(f.read_frame(k))``;
    ``{"op": "crop", "index": k, "y": y, "x": x, "size": s}``: an s x s crop of frame k
    through the lazy array, ``f.to_dask()[k, ..., y:y+s, x:x+s].compute()``;
    ``{"op": "crop_view", ...}``: the same crop copied from the frame view,
    ``np.array(f.read_frame(k)[..., y:y+s, x:x+s])``; ``{"op": "crop_all", ...}``: the
    same crop of every frame, ``f.to_dask()[..., y:y+s, x:x+s].compute()``.
    """
    import numpy as np

    op = req["op"]
    with mod.ND2File(path) as f:
        if op == "frame":
            return np.array(f.read_frame(req["index"]))
        y, x, s = req.get("y", 0), req.get("x", 0), req.get("size", 0)
        if op == "crop":
            return np.asarray(f.to_dask()[req["index"], ..., y:y + s, x:x + s].compute())
        if op == "crop_view":
            return np.array(f.read_frame(req["index"])[..., y:y + s, x:x + s])
        if op == "crop_all":
            return np.asarray(f.to_dask()[..., y:y + s, x:x + s].compute())
    raise ValueError(f"unknown request {req!r}")


def _proc_io() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/io") as fh:
        for line in fh:
            k, _, v = line.partition(":")
            out[k.strip()] = int(v)
    return out


_COLD_SCRIPT = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from tools.bench_data import _cold_probe_main; _cold_probe_main(sys.argv[2:])")


def _cold_probe_main(argv: list[str]) -> None:
    """Child side of :func:`cold_probe`: prints one JSON line."""
    import gc
    import resource

    import dask.array  # noqa: F401 - imported before the clock, as numpy and the library
    import numpy as np

    lib, path, req_json = argv[:3]
    req = json.loads(req_json)
    if lib == "floor":
        _floor_probe_main(path, json.loads(argv[3]))
        return
    mod = __import__(lib)
    gc.collect()
    io0, ru0 = _proc_io(), resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter_ns()
    a = cold_request(mod, path, req)
    t1 = time.perf_counter_ns()
    io1, ru1 = _proc_io(), resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "lib": lib, "ns": t1 - t0,
        "read_bytes": io1["read_bytes"] - io0["read_bytes"],
        "rchar": io1["rchar"] - io0["rchar"], "syscr": io1["syscr"] - io0["syscr"],
        "majflt": ru1.ru_majflt - ru0.ru_majflt, "minflt": ru1.ru_minflt - ru0.ru_minflt,
        "shape": list(a.shape), "dtype": str(a.dtype),
        "checksum": int(np.asarray(a, np.uint64).sum()),
    }))


def _floor_probe_main(path: str, runs: list[list[int]]) -> None:
    """The storage floor: ``os.preadv`` of exactly the request's budget pages (one call
    per run of consecutive pages, read-ahead off), no parsing; the least any reader
    must read."""
    import resource

    buf = bytearray(max((n for _, n in runs), default=0))
    io0, ru0 = _proc_io(), resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter_ns()
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):  # exactly these pages: no read-ahead
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for off, n in runs:
            os.preadv(fd, [memoryview(buf)[:n]], off)
    finally:
        os.close(fd)
    t1 = time.perf_counter_ns()
    io1, ru1 = _proc_io(), resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "lib": "floor", "ns": t1 - t0,
        "read_bytes": io1["read_bytes"] - io0["read_bytes"],
        "rchar": io1["rchar"] - io0["rchar"], "syscr": io1["syscr"] - io0["syscr"],
        "majflt": ru1.ru_majflt - ru0.ru_majflt, "minflt": ru1.ru_minflt - ru0.ru_minflt,
    }))


def cold_probe(lib: str, path: Path, req: dict[str, Any]) -> dict[str, Any]:
    """Evict `path` from the page cache, then do `req` with `lib` in a fresh interpreter.

    `lib` is ``"nd2kit"``, ``"nd2"`` or ``"floor"`` (no library: ``os.preadv`` of
    exactly the request's budget pages, :func:`floor_ranges`).

    Returns the child's numbers (``ns``: time of the request, open included;
    ``read_bytes``: bytes the child made the kernel read from storage, page-cache
    misses of ``read``/``pread`` and of memory-map faults; ``rchar``: bytes returned by
    read calls, cached or not; ``majflt``: major page faults) plus ``resident_before``
    (pages of the file still cached after the eviction, should be 0) and
    ``resident_after`` (pages cached after the request: what it brought in,
    read-ahead included).
    """
    root = Path(__file__).resolve().parents[1]
    extra = [json.dumps(floor_ranges(path, req))] if lib == "floor" else []
    drop_file_pages(path)
    before, total = resident_pages(path)
    r = subprocess.run([sys.executable, "-c", _COLD_SCRIPT, str(root), lib, str(path),
                        json.dumps(req), *extra], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"cold probe {lib} {req} failed: {r.stderr.strip()[-800:]}")
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    after, _ = resident_pages(path)
    out.update(resident_before=before, resident_after=after, file_pages=total)
    return out


def request_pages(path: Path, req: dict[str, Any]) -> dict[str, int]:
    """4 KiB pages a reader must touch for `req`: the budget of the cold-cache cases.

    ``meta``: the signature page and every page of the chunk map chunk and of the
    metadata chunks (all chunks but ``ImageDataSeq|N!``); ``pixels``: the pages of the
    requested pixel bytes (for a crop, only the bytes of the crop's rows) plus the
    page of each requested frame's chunk header and timestamp.
    """
    meta, pix = _request_page_sets(path, req)
    return {"meta": len(meta), "pixels": len(pix - meta)}


def floor_ranges(path: Path, req: dict[str, Any]) -> list[tuple[int, int]]:
    """The budget pages of `req` (:func:`request_pages`) as ``(offset, length)`` runs of
    consecutive pages, in file order: what the storage floor probe reads."""
    meta, pix = _request_page_sets(path, req)
    pages = sorted(meta | pix)
    runs: list[tuple[int, int]] = []
    for pg in pages:
        if runs and runs[-1][0] + runs[-1][1] == pg:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((pg, 1))
    return [(a * PAGE, n * PAGE) for a, n in runs]


def _request_page_sets(path: Path, req: dict[str, Any]) -> tuple[set[int], set[int]]:
    """``(metadata pages, pixel pages)`` of `req`; see :func:`request_pages`.

    ``meta``: the signature page and every page of the chunk map chunk and of the
    metadata chunks (all chunks but ``ImageDataSeq|N!``); ``pixels``: the pages of the
    requested pixel bytes (for a crop, only the bytes of the crop's rows) plus the
    page of each requested frame's chunk header and timestamp.
    """
    import mmap

    import numpy as np

    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as m:
        map_offset, cm = container.read_chunk_map(m)
        map_info = container.read_chunk(m, map_offset, expect=container.FILEMAP_NAME)
        spans = [(0, PAGE), (map_info.offset, map_info.end)]
        frames: list[str] = []
        for name in cm:
            if name.startswith("ImageDataSeq|"):
                frames.append(name)
            else:
                info = container.read_chunk(m, cm[name].offset, expect=name)
                spans.append((info.offset, info.end))
        meta: set[int] = set()
        for a, b in spans:
            meta.update(range(a // PAGE, -(-b // PAGE)))
        attrs = lv.decode(container.chunk_data(m, cm, "ImageAttributesLV!")[1])
        a = attrs.get("SLxImageAttributes", attrs)
        height, stride = int(a["uiHeight"]), int(a["uiWidthBytes"])
        item = int(a["uiBpcInMemory"]) // 8
        comp = int(a["uiComp"])
        op = req["op"]
        idx = list(range(len(frames))) if op == "crop_all" else [req["index"]]
        pix: set[int] = set()
        for k in idx:
            info = container.read_chunk(m, cm[f"ImageDataSeq|{k}!"].offset,
                                        expect=f"ImageDataSeq|{k}!")
            p0 = info.data_offset + 8
            pix.update(range(info.offset // PAGE, -(-p0 // PAGE)))
            if op == "frame":
                lo = np.array([p0]), np.array([p0 + height * stride])
            else:
                y, x, s = req["y"], req["x"], req["size"]
                rows = p0 + np.arange(y, y + s) * stride
                lo = rows + x * comp * item, rows + (x + s) * comp * item
            for a0, b0 in zip((lo[0] // PAGE).tolist(), (-(-lo[1] // PAGE)).tolist()):
                pix.update(range(a0, b0))
    return meta, pix
