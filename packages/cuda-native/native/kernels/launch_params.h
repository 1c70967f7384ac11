// Generated from src/launch-params-decl.ts by scripts/gen-launch-params.mjs; do not edit.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../runtime/ops.h"

namespace lmhc {

struct CoeffsFwdLaunch {
  int tokens;
  int k;
  int hc;
  int tmax;
  float rmsEps;
  float preEps;
  float sinkhornEps;
  float postMult;
  int xDtype;
  int phiDtype;
  static CoeffsFwdLaunch read(const OpArgs& a) {
    CoeffsFwdLaunch p{};
    p.tokens = a.i32(0);
    p.k = a.i32(1);
    p.hc = a.i32(2);
    p.tmax = a.i32(3);
    p.rmsEps = a.f32(4);
    p.preEps = a.f32(5);
    p.sinkhornEps = a.f32(6);
    p.postMult = a.f32(7);
    p.xDtype = a.i32(8);
    p.phiDtype = a.i32(9);
    return p;
  }
};

using CoeffsPreFwdLaunch = CoeffsFwdLaunch;

struct CoeffsBwdLaunch {
  int tokens;
  int k;
  int hc;
  int tmax;
  float preEps;
  float sinkhornEps;
  float postMult;
  int xDtype;
  int phiDtype;
  bool recompute;
  static CoeffsBwdLaunch read(const OpArgs& a) {
    CoeffsBwdLaunch p{};
    p.tokens = a.i32(0);
    p.k = a.i32(1);
    p.hc = a.i32(2);
    p.tmax = a.i32(3);
    p.preEps = a.f32(4);
    p.sinkhornEps = a.f32(5);
    p.postMult = a.f32(6);
    p.xDtype = a.i32(7);
    p.phiDtype = a.i32(8);
    p.recompute = a.i32(9) != 0;
    return p;
  }
};

struct PostResCoeffsPreFwdLaunch {
  int tokens;
  int hc;
  int c;
  int tmax;
  float rmsEps;
  float preEps;
  float sinkhornEps;
  float postMult;
  int xDtype;
  int phiDtype;
  bool deepseek;
  static PostResCoeffsPreFwdLaunch read(const OpArgs& a) {
    PostResCoeffsPreFwdLaunch p{};
    p.tokens = a.i32(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.tmax = a.i32(3);
    p.rmsEps = a.f32(4);
    p.preEps = a.f32(5);
    p.sinkhornEps = a.f32(6);
    p.postMult = a.f32(7);
    p.xDtype = a.i32(8);
    p.phiDtype = a.i32(9);
    p.deepseek = a.i32(10) != 0;
    return p;
  }
};

struct PreFwdLaunch {
  int tokens;
  int hc;
  int c;
  int dtype;
  static PreFwdLaunch read(const OpArgs& a) {
    PreFwdLaunch p{};
    p.tokens = a.i32(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.dtype = a.i32(3);
    return p;
  }
};

using PreBwdLaunch = PreFwdLaunch;

struct PostResFwdLaunch {
  int tokens;
  int hc;
  int c;
  int dtype;
  bool deepseek;
  static PostResFwdLaunch read(const OpArgs& a) {
    PostResFwdLaunch p{};
    p.tokens = a.i32(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.dtype = a.i32(3);
    p.deepseek = a.i32(4) != 0;
    return p;
  }
};

using PostResBwdLaunch = PostResFwdLaunch;

struct HeadFwdLaunch {
  int tokens;
  int hc;
  int c;
  int xDtype;
  int paramDtype;
  float rmsEps;
  float eps;
  static HeadFwdLaunch read(const OpArgs& a) {
    HeadFwdLaunch p{};
    p.tokens = a.i32(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.xDtype = a.i32(3);
    p.paramDtype = a.i32(4);
    p.rmsEps = a.f32(5);
    p.eps = a.f32(6);
    return p;
  }
};

struct HeadBwdLaunch {
  int tokens;
  int hc;
  int c;
  int xDtype;
  int paramDtype;
  float eps;
  static HeadBwdLaunch read(const OpArgs& a) {
    HeadBwdLaunch p{};
    p.tokens = a.i32(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.xDtype = a.i32(3);
    p.paramDtype = a.i32(4);
    p.eps = a.f32(5);
    return p;
  }
};

struct HeadPhiGradLaunch {
  int tokens;
  int hc;
  int c;
  int xDtype;
  static HeadPhiGradLaunch read(const OpArgs& a) {
    HeadPhiGradLaunch p{};
    p.tokens = a.i32(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.xDtype = a.i32(3);
    return p;
  }
};

struct HeadColumnSumLaunch {
  int rows;
  int cols;
  static HeadColumnSumLaunch read(const OpArgs& a) {
    HeadColumnSumLaunch p{};
    p.rows = a.i32(0);
    p.cols = a.i32(1);
    return p;
  }
};

struct PreNormFwdLaunch {
  int tokens;
  int hc;
  int c;
  int xDtype;
  int weightDtype;
  float eps;
  static PreNormFwdLaunch read(const OpArgs& a) {
    PreNormFwdLaunch p{};
    p.tokens = a.i32(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.xDtype = a.i32(3);
    p.weightDtype = a.i32(4);
    p.eps = a.f32(5);
    return p;
  }
};

using PreNormBwdLaunch = PreNormFwdLaunch;

using PreNormWeightGradLaunch = HeadPhiGradLaunch;

struct ExpandFwdLaunch {
  int64_t tokens;
  int hc;
  int c;
  int dtype;
  static ExpandFwdLaunch read(const OpArgs& a) {
    ExpandFwdLaunch p{};
    p.tokens = a.i64(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.dtype = a.i32(3);
    return p;
  }
};

struct ExpandBwdLaunch {
  int64_t tokens;
  int hc;
  int c;
  int gradDtype;
  int outDtype;
  static ExpandBwdLaunch read(const OpArgs& a) {
    ExpandBwdLaunch p{};
    p.tokens = a.i64(0);
    p.hc = a.i32(1);
    p.c = a.i32(2);
    p.gradDtype = a.i32(3);
    p.outDtype = a.i32(4);
    return p;
  }
};

struct CopyD2dLaunch {
  int64_t bytes;
  static CopyD2dLaunch read(const OpArgs& a) {
    CopyD2dLaunch p{};
    p.bytes = a.i64(0);
    return p;
  }
};

struct FillLaunch {
  int64_t n;
  int dtype;
  float value;
  static FillLaunch read(const OpArgs& a) {
    FillLaunch p{};
    p.n = a.i64(0);
    p.dtype = a.i32(1);
    p.value = a.f32(2);
    return p;
  }
};

struct CopyStridedLaunch {
  int srcDtype;
  int dstDtype;
  int64_t srcOffset;
  int64_t dstOffset;
  // layout: a variable-length tail the op reads from index kTail on.
  static constexpr size_t kTail = 4;
  static CopyStridedLaunch read(const OpArgs& a) {
    CopyStridedLaunch p{};
    p.srcDtype = a.i32(0);
    p.dstDtype = a.i32(1);
    p.srcOffset = a.i64(2);
    p.dstOffset = a.i64(3);
    return p;
  }
};

struct BinaryLaunch {
  int op;
  int dtype;
  bool contiguous;
  // layout: a variable-length tail the op reads from index kTail on.
  static constexpr size_t kTail = 3;
  static BinaryLaunch read(const OpArgs& a) {
    BinaryLaunch p{};
    p.op = a.i32(0);
    p.dtype = a.i32(1);
    p.contiguous = a.i32(2) != 0;
    return p;
  }
};

struct UnaryLaunch {
  int op;
  int dtype;
  int64_t n;
  static UnaryLaunch read(const OpArgs& a) {
    UnaryLaunch p{};
    p.op = a.i32(0);
    p.dtype = a.i32(1);
    p.n = a.i64(2);
    return p;
  }
};

using UnaryBwdLaunch = UnaryLaunch;

struct AffineLaunch {
  int dtype;
  int64_t n;
  float scale;
  float shift;
  static AffineLaunch read(const OpArgs& a) {
    AffineLaunch p{};
    p.dtype = a.i32(0);
    p.n = a.i64(1);
    p.scale = a.f32(2);
    p.shift = a.f32(3);
    return p;
  }
};

struct SumLaunch {
  int dtype;
  // layout: a variable-length tail the op reads from index kTail on.
  static constexpr size_t kTail = 1;
  static SumLaunch read(const OpArgs& a) {
    SumLaunch p{};
    p.dtype = a.i32(0);
    return p;
  }
};

struct MatmulLaunch {
  int dtype;
  int batch;
  int m;
  int n;
  int k;
  bool transA;
  bool transB;
  int64_t strideA;
  int64_t strideB;
  static MatmulLaunch read(const OpArgs& a) {
    MatmulLaunch p{};
    p.dtype = a.i32(0);
    p.batch = a.i32(1);
    p.m = a.i32(2);
    p.n = a.i32(3);
    p.k = a.i32(4);
    p.transA = a.i32(5) != 0;
    p.transB = a.i32(6) != 0;
    p.strideA = a.i64(7);
    p.strideB = a.i64(8);
    return p;
  }
};

struct SoftmaxLaunch {
  int dtype;
  int64_t rows;
  int d;
  int queries;
  bool causal;
  static SoftmaxLaunch read(const OpArgs& a) {
    SoftmaxLaunch p{};
    p.dtype = a.i32(0);
    p.rows = a.i64(1);
    p.d = a.i32(2);
    p.queries = a.i32(3);
    p.causal = a.i32(4) != 0;
    return p;
  }
};

struct SoftmaxBwdLaunch {
  int dtype;
  int64_t rows;
  int d;
  static SoftmaxBwdLaunch read(const OpArgs& a) {
    SoftmaxBwdLaunch p{};
    p.dtype = a.i32(0);
    p.rows = a.i64(1);
    p.d = a.i32(2);
    return p;
  }
};

struct RmsNormLaunch {
  int dtype;
  int64_t rows;
  int d;
  float eps;
  static RmsNormLaunch read(const OpArgs& a) {
    RmsNormLaunch p{};
    p.dtype = a.i32(0);
    p.rows = a.i64(1);
    p.d = a.i32(2);
    p.eps = a.f32(3);
    return p;
  }
};

using RmsNormBwdLaunch = SoftmaxBwdLaunch;

struct EmbeddingLaunch {
  int dtype;
  int64_t tokens;
  int d;
  int vocab;
  static EmbeddingLaunch read(const OpArgs& a) {
    EmbeddingLaunch p{};
    p.dtype = a.i32(0);
    p.tokens = a.i64(1);
    p.d = a.i32(2);
    p.vocab = a.i32(3);
    return p;
  }
};

using EmbeddingBwdLaunch = EmbeddingLaunch;

struct CrossEntropyLaunch {
  int dtype;
  int64_t rows;
  int vocab;
  int ignoreIndex;
  static CrossEntropyLaunch read(const OpArgs& a) {
    CrossEntropyLaunch p{};
    p.dtype = a.i32(0);
    p.rows = a.i64(1);
    p.vocab = a.i32(2);
    p.ignoreIndex = a.i32(3);
    return p;
  }
};

using CrossEntropyBwdLaunch = CrossEntropyLaunch;

struct AttentionLaunch {
  int dtype;
  int64_t batch;
  int tq;
  int tk;
  int d;
  bool causal;
  float scale;
  static AttentionLaunch read(const OpArgs& a) {
    AttentionLaunch p{};
    p.dtype = a.i32(0);
    p.batch = a.i64(1);
    p.tq = a.i32(2);
    p.tk = a.i32(3);
    p.d = a.i32(4);
    p.causal = a.i32(5) != 0;
    p.scale = a.f32(6);
    return p;
  }
};

using AttentionBwdLaunch = AttentionLaunch;

struct AdamwLaunch {
  int dtype;
  int64_t n;
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weightDecay;
  float biasCorrection1;
  float biasCorrection2;
  static AdamwLaunch read(const OpArgs& a) {
    AdamwLaunch p{};
    p.dtype = a.i32(0);
    p.n = a.i64(1);
    p.lr = a.f32(2);
    p.beta1 = a.f32(3);
    p.beta2 = a.f32(4);
    p.eps = a.f32(5);
    p.weightDecay = a.f32(6);
    p.biasCorrection1 = a.f32(7);
    p.biasCorrection2 = a.f32(8);
    return p;
  }
};

struct SgdLaunch {
  int dtype;
  int64_t n;
  float lr;
  float momentum;
  float weightDecay;
  bool nesterov;
  static SgdLaunch read(const OpArgs& a) {
    SgdLaunch p{};
    p.dtype = a.i32(0);
    p.n = a.i64(1);
    p.lr = a.f32(2);
    p.momentum = a.f32(3);
    p.weightDecay = a.f32(4);
    p.nesterov = a.i32(5) != 0;
    return p;
  }
};

}  // namespace lmhc
