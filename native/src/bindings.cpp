// Python bindings: the GIL is released for all C++ work; drained frames are handed to numpy without a
// copy (the vectors move into capsules that own them).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>

#include "ingest.hpp"
#include "resampler.hpp"

namespace py = pybind11;
using rollcall::FrameOutput;
using rollcall::Ingest;
using rollcall::Resampler;
using rollcall::StreamStats;

namespace {

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
  d["frames"] = s.frames;
  return d;
}

}  // namespace

PYBIND11_MODULE(_ingest, m) {
  m.doc() = "Rollcall raw-audio ingest: per-participant ring buffers, polyphase resampling to 16 kHz, "
            "fixed frames on a global media-time grid.";
  m.attr("OUT_RATE") = rollcall::kOutRate;

  py::class_<Ingest>(m, "Ingest")
      .def(py::init<int, double>(), py::arg("frame_ms") = 30, py::arg("capacity_s") = 10.0)
      .def_property_readonly("frame_ms", &Ingest::frame_ms)
      .def_property_readonly("frame_len", &Ingest::frame_len)
      .def(
          "push",
          [](Ingest& self, std::uint32_t stream, py::buffer data, int sample_rate, double ts_ms) {
            py::buffer_info info = data.request();
            const auto nbytes = static_cast<std::size_t>(info.size * info.itemsize);
            if (info.ndim != 1 && nbytes > 0) {
              bool contiguous = true;
              py::ssize_t expect = info.itemsize;
              for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
                if (info.strides[static_cast<std::size_t>(d)] != expect) contiguous = false;
                expect *= info.shape[static_cast<std::size_t>(d)];
              }
              if (!contiguous) throw py::value_error("push() needs a C-contiguous buffer");
            }
            const auto* ptr = static_cast<const std::uint8_t*>(info.ptr);
            py::gil_scoped_release release;
            return self.push(stream, ptr, nbytes, sample_rate, ts_ms);
          },
          py::arg("stream"), py::arg("data"), py::arg("sample_rate"),
          py::arg("ts_ms") = std::numeric_limits<double>::quiet_NaN(),
          "Queue one raw chunk (int16 LE mono bytes) of `stream`. ts_ms is the media time of its first "
          "sample; NaN means contiguous with the previous chunk. Returns samples accepted.")
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
            std::vector<FrameOutput> outs;
            {
              py::gil_scoped_release release;
              outs = self.drain(now_ms, flush);
            }
            py::list result;
            const auto F = static_cast<py::ssize_t>(self.frame_len());
            for (auto& o : outs) {
              const auto n = static_cast<py::ssize_t>(o.index.size());
              result.append(py::make_tuple(o.stream, to_numpy(std::move(o.index), {n}),
                                           to_numpy(std::move(o.pcm), {n, F}),
                                           to_numpy(std::move(o.energy), {n}),
                                           to_numpy(std::move(o.voice_energy), {n})));
            }
            return result;
          },
          py::arg("now_ms") = std::numeric_limits<double>::quiet_NaN(), py::arg("flush") = false,
          "Frames ready since the last call: [(stream, index int64[n], pcm int16[n, F], energy float32[n], "
          "voice_energy float32[n])]. Energies are mean squares of samples scaled to [-1, 1); voice_energy "
          "is above 300 Hz.")
      .def(
          "stats",
          [](const Ingest& self) {
            py::dict d;
            for (const auto& [id, st] : self.stats()) d[py::int_(id)] = stats_dict(st);
            return d;
          },
          "Per-stream counters. pushed = drained + dropped_overflow + dropped_consent + buffered.");

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
