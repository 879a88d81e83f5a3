// Python bindings: the GIL is released for all C++ work; drained frames are handed to numpy without a
// copy (the vectors move into capsules that own them).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "energy_gate.hpp"
#include "ingest.hpp"
#include "resampler.hpp"

namespace py = pybind11;
using rollcall::EnergyGate;
using rollcall::FrameOutput;
using rollcall::Ingest;
using rollcall::Resampler;
using rollcall::StreamStats;

namespace {

constexpr std::size_t kReleaseGilBytes = 64 * 1024;

// Ingest.push is called for every ~10 ms chunk of every participant, so it is a METH_FASTCALL method
// rather than a pybind11 one (whose argument machinery costs more than the push itself). Bytes are
// read in place; other buffers go through the buffer protocol. The GIL is only released for large
// chunks: for an SDK-sized chunk the copy under the stream lock is cheaper than handing the GIL over.
PyObject* ingest_push(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 3 || nargs > 4) {
    PyErr_SetString(PyExc_TypeError, "push(stream, data, sample_rate, ts_ms=nan) takes 3 or 4 arguments");
    return nullptr;
  }
  try {
    auto& ingest = py::handle(self).cast<Ingest&>();
    const unsigned long stream = PyLong_AsUnsignedLong(args[0]);
    if (stream == static_cast<unsigned long>(-1) && PyErr_Occurred()) return nullptr;
    if (stream > 0xffffffffUL) throw std::invalid_argument("stream id must fit in 32 bits");
    const long rate = PyLong_AsLong(args[2]);
    if (rate == -1 && PyErr_Occurred()) return nullptr;
    if (rate <= 0 || rate > 1000000) throw std::invalid_argument("unsupported sample rate " + std::to_string(rate));
    double ts_ms = std::numeric_limits<double>::quiet_NaN();
    if (nargs == 4 && args[3] != Py_None) {
      ts_ms = PyFloat_AsDouble(args[3]);
      if (ts_ms == -1.0 && PyErr_Occurred()) return nullptr;
    }
    const auto sid = static_cast<std::uint32_t>(stream);
    const int sample_rate = static_cast<int>(rate);
    std::int64_t accepted = 0;
    if (PyBytes_Check(args[1])) {
      const auto* ptr = reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(args[1]));
      const auto nbytes = static_cast<std::size_t>(PyBytes_GET_SIZE(args[1]));
      if (nbytes < kReleaseGilBytes) {
        accepted = ingest.push(sid, ptr, nbytes, sample_rate, ts_ms);
      } else {
        py::gil_scoped_release release;
        accepted = ingest.push(sid, ptr, nbytes, sample_rate, ts_ms);
      }
    } else {
      Py_buffer view;
      if (PyObject_GetBuffer(args[1], &view, PyBUF_C_CONTIGUOUS) != 0) return nullptr;
      try {
        py::gil_scoped_release release;
        accepted = ingest.push(sid, static_cast<const std::uint8_t*>(view.buf), static_cast<std::size_t>(view.len),
                               sample_rate, ts_ms);
      } catch (...) {
        PyBuffer_Release(&view);
        throw;
      }
      PyBuffer_Release(&view);
    }
    return PyLong_FromLongLong(accepted);
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::cast_error&) {
    PyErr_SetString(PyExc_TypeError, "push() must be called on an Ingest");
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

PyMethodDef push_def = {
    "push", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(ingest_push)), METH_FASTCALL,
    "push(stream, data, sample_rate, ts_ms=nan) -> int\n\nQueue one raw chunk (int16 LE mono bytes) of "
    "`stream`. ts_ms is the media time of its first sample; NaN or None means contiguous with the previous "
    "chunk. Returns the samples accepted (0 for an opted-out stream)."};

template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, heap->data(), owner);
}

py::dict stats_dict(const StreamStats& s) {
  py::dict d;
  d["pushed_samples"] = s.pushed_samples;
  d["drained_samples"] = s.drained_samples;
  d["dropped_overflow_samples"] = s.dropped_overflow_samples;
  d["dropped_consent_samples"] = s.dropped_consent_samples;
  d["buffered_samples"] = s.buffered_samples;
  d["late_outputs"] = s.late_outputs;
  d["odd_bytes"] = s.odd_bytes;
  d["chunks"] = s.chunks;
  d["gaps"] = s.gaps;
  d["rate_changes"] = s.rate_changes;
  d["rewinds"] = s.rewinds;
  d["frames"] = s.frames;
  return d;
}

}  // namespace

PYBIND11_MODULE(_ingest, m) {
  m.doc() = "Rollcall raw-audio ingest: per-participant ring buffers, polyphase resampling to 16 kHz, "
            "fixed frames on a global media-time grid; and the talk detector's per-frame energy gate.";
  m.attr("OUT_RATE") = rollcall::kOutRate;

  auto ingest_cls = py::class_<Ingest>(m, "Ingest");
  ingest_cls
      .def(py::init<int, double, double>(), py::arg("frame_ms") = 30, py::arg("capacity_s") = 10.0,
           py::arg("idle_ms") = 60.0)
      .def_property_readonly("idle_ms", &Ingest::idle_ms)
      .def_property_readonly("frame_ms", &Ingest::frame_ms)
      .def_property_readonly("frame_len", &Ingest::frame_len)
      .def(
          "set_consent",
          [](Ingest& self, std::uint32_t stream, bool allowed) {
            py::gil_scoped_release release;
            self.set_consent(stream, allowed);
          },
          py::arg("stream"), py::arg("allowed"))
      .def(
          "drain",
          [](Ingest& self, double now_ms, bool flush) {
            FrameOutput o;
            {
              py::gil_scoped_release release;
              o = self.drain(now_ms, flush);
            }
            const auto n = static_cast<py::ssize_t>(o.index.size());
            const auto F = static_cast<py::ssize_t>(self.frame_len());
            return py::make_tuple(to_numpy(std::move(o.stream), {n}), to_numpy(std::move(o.index), {n}),
                                  to_numpy(std::move(o.pcm), {n, F}), to_numpy(std::move(o.energy), {n}),
                                  to_numpy(std::move(o.voice_energy), {n}));
          },
          py::arg("now_ms") = std::numeric_limits<double>::quiet_NaN(), py::arg("flush") = false,
          "Frames ready since the last call, of every stream: (stream uint32[n], index int64[n], "
          "pcm int16[n, F], energy float32[n], voice_energy float32[n]), grouped by stream, each stream's in "
          "index order. Energies are mean squares of samples scaled to [-1, 1); voice_energy is above 300 Hz, rolling off above 4 kHz.")
      .def(
          "stats",
          [](const Ingest& self) {
            py::dict d;
            for (const auto& [id, st] : self.stats()) d[py::int_(id)] = stats_dict(st);
            return d;
          },
          "Per-stream counters. At rest (no push or drain running), pushed = drained + dropped_overflow + "
          "dropped_consent + buffered.");

  ingest_cls.attr("push") = py::reinterpret_steal<py::object>(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(ingest_cls.ptr()), &push_def));

  using Rows = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
  using Values = py::array_t<double, py::array::c_style | py::array::forcecast>;
  using Samples = py::array_t<std::int16_t, py::array::c_style | py::array::forcecast>;
  py::class_<EnergyGate>(m, "EnergyGate")
      .def(py::init([](int floor_frames, int spread_frames, double margin, double max_tilt, double clear,
                       double quantile, double prior_db, double prior_weight, double cap, double level_quantile,
                       double min_level, double min_background, double range_db, double audible_db,
                       double level_cap,
                       double floor_margin_db, double floor_margin_low_db, double snr_full_db, double snr_low_db,
                       int hold_frames, double bg_margin_db, double bg_range_db, double bg_floor_gap_db,
                       double nominal_db, double max_gain_db, double tight_db) {
             return EnergyGate(rollcall::GateParams{floor_frames, spread_frames, margin, max_tilt, clear, quantile,
                                                    prior_db, prior_weight, cap, level_quantile, min_level,
                                                    min_background, range_db, audible_db, level_cap, floor_margin_db,
                                                    floor_margin_low_db, snr_full_db, snr_low_db, hold_frames,
                                                    bg_margin_db, bg_range_db, bg_floor_gap_db, nominal_db,
                                                    max_gain_db, tight_db});
           }),
           py::kw_only(), py::arg("floor_frames"), py::arg("spread_frames"), py::arg("margin"), py::arg("max_tilt"),
           py::arg("clear"), py::arg("quantile"), py::arg("prior_db"), py::arg("prior_weight"), py::arg("cap"),
           py::arg("level_quantile"), py::arg("min_level"), py::arg("min_background"), py::arg("range_db"),
           py::arg("audible_db"), py::arg("level_cap"), py::arg("floor_margin_db"), py::arg("floor_margin_low_db"), py::arg("snr_full_db"),
           py::arg("snr_low_db"), py::arg("hold_frames"), py::arg("bg_margin_db"), py::arg("bg_range_db"),
           py::arg("bg_floor_gap_db"), py::arg("nominal_db"), py::arg("max_gain_db"), py::arg("tight_db"),
           "The gate with analysis.energy_gate.GateParams, as keywords.")
      .def("add_channel", &EnergyGate::add_channel)
      .def_property_readonly("channels", &EnergyGate::channels)
      .def(
          "process",
          [](EnergyGate& self, const Rows& channel, const Rows& pos, const Values& voice, const Values& full,
             std::int64_t n, const Samples& pcm) {
            const auto m = channel.size();
            if (pos.size() != m || voice.size() != m || full.size() != m || channel.ndim() != 1 || n < 0)
              throw std::invalid_argument("process() wants four 1-D arrays of one length and n >= 0");
            if (pcm.ndim() != 2 || pcm.shape(0) != m)
              throw std::invalid_argument("process() wants pcm as an int16 array [rows, frame]");
            const auto c = static_cast<std::int64_t>(self.channels());
            const py::ssize_t width = pcm.shape(1);
            const std::int64_t* ch = channel.data();
            const std::int64_t* at = pos.data();
            std::vector<double> v(c * n, 0.0), f(c * n, 0.0), g(c * n, 1.0), q(c * n, 0.0);
            std::vector<std::uint8_t> got(c * n, 0), cand(c * n, 0);
            std::vector<std::int64_t> row(c * n, -1);
            for (py::ssize_t r = 0; r < m; ++r) {
              if (ch[r] < 0 || ch[r] >= c) throw std::invalid_argument("process(): a row's channel is out of range");
              if (at[r] < 0 || at[r] >= n) continue;  // decided already, or for a later call
              const auto k = ch[r] * n + at[r];
              if (got[k]) continue;  // a duplicate (a stream that rewound): the first row wins
              v[k] = voice.data()[r];
              f[k] = full.data()[r];
              got[k] = 1;
              row[k] = r;
            }
            self.process(v.data(), f.data(), got.data(), n, cand.data(), g.data(), q.data());
            const auto count = static_cast<std::size_t>(std::count(cand.begin(), cand.end(), 1));
            std::vector<std::int64_t> rows;
            std::vector<double> snrs;
            std::vector<std::int16_t> frames(count * width);
            rows.reserve(count);
            snrs.reserve(count);
            std::int16_t* out = frames.data();
            for (std::int64_t k = 0; k < c * n; ++k) {
              if (!cand[k]) continue;
              rows.push_back(row[k]);
              snrs.push_back(q[k]);
              // the frame at the nominal level: float32 gain, clamped, truncated (as the reference does)
              const std::int16_t* x = pcm.data() + row[k] * width;
              const float gain = static_cast<float>(g[k]);
              int full_scale = 0;  // two plain loops: both vectorise (one with a clip check inside does not)
              for (py::ssize_t i = 0; i < width; ++i) full_scale |= (x[i] == 32767) | (x[i] == -32768);
              for (py::ssize_t i = 0; i < width; ++i)
                out[i] = static_cast<std::int16_t>(std::min(std::max(static_cast<float>(x[i]) * gain, -32768.0f), 32767.0f));
              out += width;
              self.frames[k / n] += 1;
              self.clipped[k / n] += full_scale;
            }
            const auto len = static_cast<py::ssize_t>(rows.size());
            return py::make_tuple(to_numpy(std::move(rows), {len}), to_numpy(std::move(frames), {len, width}),
                                  to_numpy(std::move(snrs), {len}));
          },
          py::arg("channel"), py::arg("pos"), py::arg("voice"), py::arg("full"), py::arg("n"), py::arg("pcm"),
          "The rows that are own-voice candidates, channel by channel in frame order, for the next n frames, "
          "their samples (pcm: int16 [rows, frame]) brought to the nominal speech level for webrtcvad, and "
          "each one's speech-to-floor ratio in dB: each row is one received frame (channel, position, "
          "voice-band and full-band energy). Rows outside 0..n-1 are ignored; of two rows for one frame the "
          "first counts. The coupling and the levels are learned frame by frame as it goes.")
      .def("relevant", [](const EnergyGate& self) {
        const auto& r = self.levels().relevant;
        return py::array_t<bool>(static_cast<py::ssize_t>(r.size()), reinterpret_cast<const bool*>(r.data()));
      }, "Per channel: whether it carries a participant's voice (not background far below the meeting).")
      .def("stats", [](const EnergyGate& self) {
        const auto& lv = self.levels();
        auto flags = [](const std::vector<std::uint8_t>& x) {
          return py::array_t<bool>(static_cast<py::ssize_t>(x.size()), reinterpret_cast<const bool*>(x.data()));
        };
        auto values = [](const std::vector<double>& x) { return py::array_t<double>(static_cast<py::ssize_t>(x.size()), x.data()); };
        py::dict d;
        d["level_db"] = values(lv.level_db);
        d["voice_level_db"] = values(lv.voice_level_db);
        d["background_db"] = values(lv.background_db);
        d["floor_db"] = values(self.floor_db());
        d["has_level"] = flags(lv.has_level);
        d["has_background"] = flags(lv.has_background);
        d["relevant"] = flags(lv.relevant);
        d["reference_db"] = values(std::vector<double>{lv.reference_db});
        d["frames"] = py::array_t<std::int64_t>(static_cast<py::ssize_t>(self.frames.size()), self.frames.data());
        d["clipped"] = py::array_t<std::int64_t>(static_cast<py::ssize_t>(self.clipped.size()), self.clipped.data());
        return d;
      }, "Per channel: speech levels, background while others talk, the current floor (dB), and flags; and the "
         "meeting's loud end (reference_db, one value).")
      .def("gains", [](const EnergyGate& self) {
        const auto c = static_cast<py::ssize_t>(self.channels());
        py::array_t<double> g({c, c});
        std::copy(self.gains().begin(), self.gains().end(), g.mutable_data());
        return g;
      });

  py::class_<Resampler>(m, "Resampler")
      .def(py::init<int, int>(), py::arg("in_rate"), py::arg("out_rate") = rollcall::kOutRate)
      .def_property_readonly("up", &Resampler::up)
      .def_property_readonly("down", &Resampler::down)
      .def_property_readonly("num_taps", &Resampler::num_taps)
      .def(
          "process",
          [](Resampler& self, py::array_t<float, py::array::c_style | py::array::forcecast> x) {
            std::vector<float> out;
            const float* p = x.data();
            const auto n = static_cast<std::size_t>(x.size());
            {
              py::gil_scoped_release release;
              self.process(p, n, out);
            }
            const auto len = static_cast<py::ssize_t>(out.size());
            return to_numpy(std::move(out), {len});
          },
          py::arg("x"))
      .def("flush", [](Resampler& self) {
        std::vector<float> out;
        self.flush(out);
        const auto len = static_cast<py::ssize_t>(out.size());
        return to_numpy(std::move(out), {len});
      });
}
