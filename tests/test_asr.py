"""Speech recognition with the real tiny.en model: packing queued utterances into one window and
splitting the words back to the right utterance and participant."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.signal import resample_poly
from whisper_normalizer.english import EnglishTextNormalizer

from analysis.transcript import SAMPLE_RATE, Utterance, Word, pack, split_words, text_signals
from analysis.transcript_coverage import DropReason
from bot.asr import AsrScheduler, ModelNotFoundError, WhisperRecognizer
from bot.generator.tts import Voice, synthesize

LINES = [  # (participant, voice, what they say)
    ("ana", Voice(name="en-us", variant="f2", rate=150, pitch=60), "Please check the link before you click it."),
    ("ben", Voice(name="en-us", variant="m3", rate=150, pitch=40), "The sender address looked strange to me."),
    ("ana", Voice(name="en-us", variant="f2", rate=150, pitch=60), "Report every strange email to the security team."),
    ("cy", Voice(name="en-us", variant="m1", rate=140, pitch=50), "Thank you, that was very helpful."),
]
normalise = EnglishTextNormalizer()


def _speech(text: str, voice: Voice) -> np.ndarray:
    x, rate = synthesize(text, voice)
    return resample_poly(x.astype(np.float64), SAMPLE_RATE, rate).astype(np.float32)


@pytest.fixture(scope="module")
def recognizer() -> WhisperRecognizer:
    return WhisperRecognizer(cpu_threads=2)


@pytest.fixture(scope="module")
def utterances() -> list[Utterance]:
    return [Utterance(i, key, 10.0 * i, 10.0 * i + 3, _speech(text, voice))
            for i, (key, voice, text) in enumerate(LINES)]


def test_packing_splits_words_back_to_each_utterance(recognizer, utterances) -> None:
    results = []
    done = threading.Event()

    def on_result(r):
        results.append(r)
        if len(results) == len(utterances):
            done.set()

    scheduler = AsrScheduler(recognizer, on_result)
    with scheduler.paused():  # hold the scheduler while the backlog builds up, as when the CPU is behind
        for u in utterances:
            scheduler.submit(u)
    assert done.wait(60)
    scheduler.close(10)
    assert scheduler.calls == 1  # one window for all four
    by_id = {r.utterance.id: r for r in results}
    vocab = [set(normalise(text).split()) for _, _, text in LINES]
    for u, (key, _, text) in zip(utterances, LINES):
        r = by_id[u.id]
        assert r.packed_with == len(utterances) and r.utterance.key == key
        got, own = set(normalise(r.text).split()), vocab[u.id]
        others = set().union(*(v for i, v in enumerate(vocab) if i != u.id)) - own
        assert len(got & own) >= 0.75 * len(own), (r.text, text)  # its own words came back to it
        assert not got & others, (r.text, text)  # and none of its neighbours' words bled in


def test_an_idle_scheduler_decodes_each_utterance_at_once(recognizer, utterances) -> None:
    results = []
    scheduler = AsrScheduler(recognizer, results.append)
    for u in utterances[:2]:
        scheduler.submit(u)
        while not scheduler.idle():
            threading.Event().wait(0.01)
    scheduler.close(10)
    assert [r.packed_with for r in results] == [1, 1] and scheduler.calls == 2


def test_backlog_is_bounded_and_gives_up_the_oldest(recognizer, utterances) -> None:
    results = []
    scheduler = AsrScheduler(recognizer, results.append, max_backlog_s=5.0)
    with scheduler.paused():
        for u in utterances:
            scheduler.submit(u)
    scheduler.close(30)
    given_up = [r.utterance.id for r in results if r.text is None]
    assert given_up and given_up == sorted(given_up) and given_up[0] == 0  # oldest first
    assert all(r.dropped is DropReason.BACKLOG for r in results if r.text is None)  # each drop says why
    assert scheduler.given_up == len(given_up)
    assert sum(u.duration_s for u in utterances if u.id not in given_up) <= 5.0 + max(u.duration_s for u in utterances)


def test_split_words_uses_the_gaps_between_members() -> None:
    a = Utterance(1, "a", 0.0, 1.0, np.zeros(16000, np.float32))
    b = Utterance(2, "b", 5.0, 6.0, np.zeros(8000, np.float32))
    p = pack([a, b], gap_s=0.5)
    assert p.offsets_s == (0.0, 1.5) and len(p.audio) == 16000 + 8000 + 8000
    words = [Word(0.1, 0.4, " hello"), Word(0.9, 1.2, " there"), Word(1.4, 1.7, " next"), Word(1.8, 1.9, " one")]
    assert split_words(p, words) == {1: "hello there", 2: "next one"}


def test_text_signals_count_on_raw_text() -> None:
    s = text_signals("Um, is this recorded? Uh I think so. Really?")
    assert (s.words, s.questions, s.fillers) == (9, 2, 2)


def test_a_missing_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model.bin"):
        WhisperRecognizer(tmp_path)


def test_interim_requests_wait_for_finals_and_replace_each_other(recognizer, utterances) -> None:
    results = []
    scheduler = AsrScheduler(recognizer, results.append)
    newer = Utterance(10, "ana", 20.0, 23.0, utterances[2].audio)
    with scheduler.paused():
        scheduler.submit_interim(utterances[0])  # ana, still talking...
        scheduler.submit_interim(newer)  # ...and a newer request for her replaces the older one
        scheduler.submit(utterances[1])  # a final utterance goes first
    while not scheduler.idle():
        threading.Event().wait(0.01)
    scheduler.close(10)
    assert [(r.utterance.id, r.interim) for r in results] == [(1, False), (10, True)]
    assert "security team" in normalise(results[1].text)


class StopsEarlyInPacks:
    """Answers a window holding several utterances with one word at its start, as Whisper sometimes
    does after a short word in another voice; an utterance decoded alone gets its words."""

    def __init__(self) -> None:
        self.calls: list[list[float]] = []

    def recognize(self, audios: list[np.ndarray], beam_size: int | None = None) -> list[list[Word]]:
        self.calls.append([round(len(a) / SAMPLE_RATE, 2) for a in audios])
        return [[Word(0.1, 0.4, " Yeah.")] if len(a) > 3 * SAMPLE_RATE else
                [Word(0.1, 0.4, " alone"), Word(0.5, 0.9, " words")] for a in audios]


def test_packed_utterance_left_without_words_is_decoded_alone() -> None:
    rec = StopsEarlyInPacks()
    results = []
    scheduler = AsrScheduler(rec, results.append)
    short = Utterance(1, "a", 0.0, 1.0, np.zeros(SAMPLE_RATE, np.float32))
    speech = Utterance(2, "b", 2.0, 4.0, np.zeros(2 * SAMPLE_RATE, np.float32))
    with scheduler.paused():
        scheduler.submit(short)
        scheduler.submit(speech)
    scheduler.close(10)
    assert {r.utterance.id: r.text for r in results} == {1: "Yeah.", 2: "alone words"}
    assert rec.calls == [[3.5], [2.0]] and scheduler.redecoded == 1


def test_a_backlog_past_the_memory_bound_waits_on_disk_and_is_transcribed_the_same(recognizer, utterances) -> None:
    in_memory, spilled = [], []
    for bound, out in ((600.0, in_memory), (3.5, spilled)):
        scheduler = AsrScheduler(recognizer, out.append, memory_backlog_s=bound)
        with scheduler.paused():
            for u in utterances:
                scheduler.submit(u)
            held = scheduler._in_memory_s
        assert scheduler.close(60)
        if bound < 600:
            assert scheduler.spilled == len(utterances) - 1 and held <= bound  # memory stays bounded
    assert all(r.text is not None for r in in_memory + spilled)  # nothing dropped
    assert {r.utterance.id: r.text for r in spilled} == {r.utterance.id: r.text for r in in_memory}
