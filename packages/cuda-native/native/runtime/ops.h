// The op table: every kernel file registers its host entry points by name (LMHC_OP), and addon.cc
// dispatches `device.launch(name, buffers, params)` through it. Params travel as doubles (exact for
// every int below 2^53), so the N-API glue stays one function for all kernels. Each op reads them
// through its struct in kernels/launch_params.h, generated from src/launch-params-decl.ts, never by
// bare position.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "device.h"

namespace lmhc {

struct BufRef {
  void* ptr = nullptr;
  size_t bytes = 0;
};

struct OpArgs {
  Device& dev;
  std::vector<BufRef> bufs;
  const double* params;
  size_t nparams;

  /** Buffer i, checked to hold at least `need` bytes. */
  template <typename T = void>
  T* buf(size_t i, size_t need = 0) const {
    if (i >= bufs.size()) throw ArgError("missing buffer argument " + std::to_string(i));
    if (!bufs[i].ptr) throw ArgError("buffer argument " + std::to_string(i) + " is null");
    if (bufs[i].bytes < need)
      throw ArgError("buffer argument " + std::to_string(i) + " holds " + std::to_string(bufs[i].bytes) +
                     " bytes, the kernel needs " + std::to_string(need));
    return static_cast<T*>(bufs[i].ptr);
  }
  /** Buffer i or nullptr where JS passed null. */
  template <typename T = void>
  T* opt(size_t i, size_t need = 0) const {
    if (i >= bufs.size() || !bufs[i].ptr) return nullptr;
    return buf<T>(i, need);
  }
  double num(size_t k) const {
    if (k >= nparams) throw ArgError("missing parameter " + std::to_string(k));
    return params[k];
  }
  int64_t i64(size_t k) const { return static_cast<int64_t>(num(k)); }
  int i32(size_t k) const { return static_cast<int>(num(k)); }
  float f32(size_t k) const { return static_cast<float>(num(k)); }
};

using OpFn = void (*)(OpArgs&);
std::unordered_map<std::string, OpFn>& opTable();
struct OpRegistrar {
  OpRegistrar(const char* name, OpFn fn) { opTable()[name] = fn; }
};

/** Storage dtype codes shared with the TS side (src/native.ts). */
enum DType : int { kF32 = 0, kF16 = 1, kBF16 = 2, kI32 = 3 };
inline size_t dtypeBytes(int dt) { return (dt == kF16 || dt == kBF16) ? 2 : 4; }

/** Grid size for grid-stride loops: enough blocks to fill the device a few times over. */
inline unsigned gridFor(const Device& d, int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  int64_t cap = static_cast<int64_t>(d.sms > 0 ? d.sms : 80) * 16;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

}  // namespace lmhc

#define LMHC_OP(NAME)                                                    \
  static void lmhc_op_##NAME(::lmhc::OpArgs& a);                         \
  static ::lmhc::OpRegistrar lmhc_reg_##NAME(#NAME, lmhc_op_##NAME);     \
  static void lmhc_op_##NAME(::lmhc::OpArgs& a)
