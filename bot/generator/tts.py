"""eSpeak NG text-to-speech via ctypes (the library shipped by ``espeakng-loader``).

    from bot.generator.tts import Voice, synthesize
    audio, rate = synthesize("Hello there.", Voice(name="en-us", variant="m3", rate=170, pitch=45))

``audio`` is float32 mono in [-1, 1] at eSpeak's native rate (22050 Hz).

The library is process-global and not thread-safe: it is initialised once, lazily, and every
synthesis runs under a module lock. Output is deterministic: each utterance is synthesised in a
forked child of the initialised library (eSpeak keeps hidden state between utterances) and its
random generator (used by breath/roughness voices) is reseeded first.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

import numpy as np

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_espeakCHARS_UTF8 = 1
_espeakINITIALIZE_DONT_EXIT = 0x8000
_espeakRATE = 1
_espeakVOLUME = 2
_espeakPITCH = 3
_espeakRANGE = 4
_espeakWORDGAP = 7

_SYNTH_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_rate: int = 0
_cb_ref = None  # keep the callback object alive for the life of the process
_chunks: list[bytes] = []


class TTSError(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    """A voice: language voice ``name`` (en, en-us, en-gb-x-rp, ...), optional variant from
    ``voices/!v`` (m1..m8, f1..f5, ...), and prosody: ``rate`` words/min (80-450),
    ``pitch`` 0-100 (base pitch), ``range`` 0-100 (intonation range), ``volume`` 0-200,
    ``wordgap`` extra pause between words in units of 10 ms at default speed."""

    name: str = "en-us"
    variant: str | None = None
    rate: int = 175
    pitch: int = 50
    range: int = 50
    volume: int = 100
    wordgap: int = 0

    @property
    def spec(self) -> str:
        return f"{self.name}+{self.variant}" if self.variant else self.name


@_SYNTH_CB
def _on_synth(wav, numsamples, events):  # called from inside espeak_Synth (synchronous mode)
    if numsamples > 0 and wav:
        _chunks.append(ctypes.string_at(wav, numsamples * 2))
    return 0  # continue


def _init() -> ctypes.CDLL:
    global _lib, _rate, _cb_ref
    if _lib is not None:
        return _lib
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CB]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None

    data = espeakng_loader.get_data_path().encode()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _espeakINITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise TTSError(f"espeak_Initialize failed ({rate}) with data path {data!r}")
    lib.espeak_SetSynthCallback(_on_synth)
    _cb_ref = _on_synth
    _lib, _rate = lib, rate
    return lib


def sample_rate() -> int:
    """eSpeak's native output rate (initialises the library)."""
    with _lock:
        _init()
        return _rate


def _synth_here(text: str, voice: Voice, seed: int) -> bytes:
    """Synthesise in this process; returns raw int16 native-endian PCM. Caller holds the lock."""
    lib = _init()
    if lib.espeak_SetVoiceByName(voice.spec.encode()) != 0:
        raise TTSError(f"unknown eSpeak voice {voice.spec!r}")
    for param, value in ((_espeakRATE, voice.rate), (_espeakPITCH, voice.pitch),
                         (_espeakRANGE, voice.range), (_espeakVOLUME, voice.volume),
                         (_espeakWORDGAP, voice.wordgap)):
        if lib.espeak_SetParameter(param, int(value), 0) != 0:
            raise TTSError(f"espeak_SetParameter({param}, {value}) failed for voice {voice.spec!r}")
    lib.espeak_ng_SetRandSeed(seed)
    _chunks.clear()
    buf = text.encode("utf-8") + b"\0"
    err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _espeakCHARS_UTF8, None, None)
    if err != 0:
        raise TTSError(f"espeak_Synth failed ({err}) for {text!r}")
    lib.espeak_Synchronize()
    out = b"".join(_chunks)
    _chunks.clear()
    return out


def _synth_forked(text: str, voice: Voice, seed: int) -> bytes:
    """Run one synthesis in a forked child so that it starts from the pristine post-initialise
    state (eSpeak keeps function-static state, e.g. the pitch-flutter phase, that carries over
    between utterances and makes in-process output depend on everything synthesised before)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the caller's code
        status = 1
        try:
            os.close(r)
            try:
                payload = b"\x00" + _synth_here(text, voice, seed)
            except BaseException as e:  # noqa: BLE001 - report anything to the parent
                msg = str(e) if isinstance(e, TTSError) else f"{type(e).__name__}: {e}"
                payload = b"\x01" + msg.encode("utf-8", "replace")
            view = memoryview(payload)
            while view:
                n = os.write(w, view)
                view = view[n:]
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    parts = []
    with os.fdopen(r, "rb") as f:
        while chunk := f.read(1 << 16):
            parts.append(chunk)
    _, status = os.waitpid(pid, 0)
    data = b"".join(parts)
    if not data or os.waitstatus_to_exitcode(status) != 0:
        raise TTSError(f"eSpeak synthesis child failed (status {status}) for {text!r}")
    if data[:1] == b"\x01":
        raise TTSError(data[1:].decode("utf-8", "replace"))
    return data[1:]


def synthesize(text: str, voice: Voice = Voice(), seed: int = 0) -> tuple[np.ndarray, int]:
    """Synthesise ``text``; returns (float32 mono samples, sample rate). Includes eSpeak's own
    short leading/trailing silence; trim it yourself if you need the speech extent.

    Deterministic: the same (text, voice, seed) gives the same samples, independent of what was
    synthesised before (on POSIX each call runs in a forked child of the initialised library;
    elsewhere it runs in-process and is only deterministic for the first utterance)."""
    if not text.strip():
        raise ValueError("empty text")
    with _lock:
        _init()
        raw = _synth_forked(text, voice, seed) if hasattr(os, "fork") else _synth_here(text, voice, seed)
    pcm = np.frombuffer(raw, dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0, _rate
