#include "targets/opencl/kernels.h"

namespace autoscale::opencl {

// The kernels spell out their tiles: eight output channels of eight-lane vectors, two rows in
// conv2d_*, two channel blocks in conv1x1.
static_assert(kOcBlock == 8 && kPxTile == 8 && kConvRows == 2 && kPointwiseBlocks == 2,
              "kernels.cc is written for these tile sizes");

const char* KernelSource() {
  // Conventions: `*_off` and `*_bs` are a view's base offset and batch stride in elements;
  // `act` is 0 (none), 1 (relu) or 2 (relu6). The host may round global sizes up to its
  // work-group sizes (dimension 0 always; dimension 2 where a kernel takes the extent Z), so
  // kernels check their ids against the real extent first.
  return R"CLC(
#ifdef AS_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
typedef half T;
typedef half8 T8;
typedef half16 T16;
#define MASK8(m) convert_short8(m)  // select() on half8 takes a short8 mask
#define CONVERT_T8 convert_half8
#else
typedef float T;
typedef float8 T8;
typedef float16 T16;
#define MASK8(m) (m)
#define CONVERT_T8 convert_float8
#endif

// Lanes of x whose input column (col0 + lane * step) lies inside [0, W); `other` elsewhere.
inline T8 inside_cols(T8 x, T8 other, int col0, int step, int W) {
  const int8 cols = (int8)(col0) + (int8)(0, 1, 2, 3, 4, 5, 6, 7) * step;
  return select(other, x, MASK8((cols >= 0) & (cols < W)));
}

// act: 0 none, 1 relu, 2 relu6, 3 hardswish, 4 hardsigmoid, 5 sigmoid, 6 silu (plan.h's Act),
// each written as ATen writes it.
inline T act1(T v, int act) {
  if (act == 0) return v;
  if (act == 1) return fmax(v, (T)0);
  if (act == 2) return fmin(fmax(v, (T)0), (T)6);
  if (act == 3) return v * fmin(fmax(v + (T)3, (T)0), (T)6) / (T)6;
  if (act == 4) return fmin(fmax(v + (T)3, (T)0), (T)6) / (T)6;
  if (act == 5) return (T)1 / ((T)1 + exp(-v));
  return v / ((T)1 + exp(-v));
}

inline T8 act8(T8 v, int act) {
  if (act == 0) return v;
  if (act == 1) return fmax(v, (T8)0);
  if (act == 2) return fmin(fmax(v, (T8)0), (T8)6);
  if (act == 3) return v * fmin(fmax(v + (T8)3, (T8)0), (T8)6) / (T8)6;
  if (act == 4) return fmin(fmax(v + (T8)3, (T8)0), (T8)6) / (T8)6;
  if (act == 5) return (T8)1 / ((T8)1 + exp(-v));
  return v / ((T8)1 + exp(-v));
}

// Stores the first `count` lanes of `v` at p (all eight with one vector store when count >= 8).
inline void store_tile(T8 v, __global T* p, int count) {
  if (count >= PX) {
    vstore8(v, 0, p);
    return;
  }
  T tmp[8];
  vstore8(v, 0, tmp);
  for (int j = 0; j < count; ++j) p[j] = tmp[j];
}

// Zero-padded copy of a view into a dense (N, C, Hp, Wp) buffer, for convolutions with padding.
// A work-item writes PX consecutive pixels of one row. Global size: (ceil(Wp / PX), Hp, N * C).
__kernel void pad2d(__global const T* in, int in_off, int in_bs, int C, int H, int W,
                    __global T* out, int out_off, int Hp, int Wp, int ph, int pw, int Z) {
  const int x0 = get_global_id(0) * PX, y = get_global_id(1), z = get_global_id(2);
  if (x0 >= Wp || y >= Hp || z >= Z) return;
  const int n = z / C, c = z - n * C;
  const int ih = y - ph, iw = x0 - pw;
  __global T* op = out + out_off + (z * Hp + y) * Wp + x0;
  const int count = min(PX, Wp - x0);
  if (ih < 0 || ih >= H) {
    store_tile((T8)0, op, count);
    return;
  }
  __global const T* ip = in + in_off + n * in_bs + (c * H + ih) * W;
  const T8 x = vload8(0, ip + iw);  // may start left of the row: buffers have a front guard
  store_tile((iw >= 0 && iw + PX <= W) ? x : inside_cols(x, (T8)0, iw, 1, W), op, count);
}

// Loads the eight input pixels that feed eight consecutive output pixels.
#define LOAD_S1(p) vload8(0, (p))
#define LOAD_S2(p) vload16(0, (p)).even
#define LOAD_SN(p)                                                                    \
  (T8)((p)[0], (p)[SW], (p)[2 * SW], (p)[3 * SW], (p)[4 * SW], (p)[5 * SW], (p)[6 * SW], \
       (p)[7 * SW])

// Eight output channels' weights, broadcast from memory (a load each, no shuffles).
#define MAD8(A, x, wp)                  \
  A##0 = fma((T8)((wp)[0]), x, A##0);     \
  A##1 = fma((T8)((wp)[1]), x, A##1);     \
  A##2 = fma((T8)((wp)[2]), x, A##2);     \
  A##3 = fma((T8)((wp)[3]), x, A##3);     \
  A##4 = fma((T8)((wp)[4]), x, A##4);     \
  A##5 = fma((T8)((wp)[5]), x, A##5);     \
  A##6 = fma((T8)((wp)[6]), x, A##6);     \
  A##7 = fma((T8)((wp)[7]), x, A##7);

#define ZERO8(A) T8 A##0 = 0, A##1 = 0, A##2 = 0, A##3 = 0, A##4 = 0, A##5 = 0, A##6 = 0, A##7 = 0;

#define STORE_OC(A, O, P, COUNT) \
  if (ob + O < OCg) store_tile(act8(A##O + (T8)bp[O], act), (P) + O * oplane, COUNT);

#define STORE8(A, P, COUNT)                                                         \
  STORE_OC(A, 0, P, COUNT) STORE_OC(A, 1, P, COUNT) STORE_OC(A, 2, P, COUNT)        \
  STORE_OC(A, 3, P, COUNT) STORE_OC(A, 4, P, COUNT) STORE_OC(A, 5, P, COUNT)        \
  STORE_OC(A, 6, P, COUNT) STORE_OC(A, 7, P, COUNT)

// General (grouped, dilated) convolution of an already padded input of (Hs, Ws) per channel. A
// work-item computes OCB output channels x 2 output rows x PX consecutive pixels (16
// accumulators: each broadcast weight feeds two rows). Weights are packed
// [group][block][ICg][KH][KW][OCB] (zeros past OCg), bias [group][block][OCB]; DH, DW are the
// dilation. Global size: (ceil(OW / PX), ceil(OH / 2), N * G * nblk).
#define CONV_KERNEL(NAME, LOADX)                                                                 \
  __kernel void NAME(__global const T* in, int in_off, int in_bs, int Hs, int Ws,                \
                     __global const T* wt, __global const T* bias, __global T* out, int out_off, \
                     int out_bs, int OH, int OW, int ICg, int OCg, int KH, int KW, int SH,       \
                     int SW, int DH, int DW, int nblk, int G, int act) {                         \
    const int ow0 = get_global_id(0) * PX, oh = get_global_id(1) * 2, z = get_global_id(2);      \
    if (ow0 >= OW || oh >= OH) return;                                                           \
    const int per_n = G * nblk;                                                                  \
    const int n = z / per_n, r = z - n * per_n;                                                  \
    const int g = r / nblk, ob = (r - g * nblk) * OCB;                                           \
    const int plane = Hs * Ws;                                                                   \
    const int row2 = oh + 1 < OH ? SH * Ws : 0; /* the second row, or the first again */          \
    __global const T* ip = in + in_off + n * in_bs + g * ICg * plane + oh * SH * Ws + ow0 * SW;  \
    __global const T* wp = wt + r * ICg * KH * KW * OCB;                                         \
    ZERO8(a)                                                                                     \
    ZERO8(b)                                                                                     \
    for (int ic = 0; ic < ICg; ++ic, ip += plane) {                                              \
      __global const T* rp = ip;                                                                 \
      for (int kh = 0; kh < KH; ++kh, rp += DH * Ws) {                                           \
        for (int kw = 0; kw < KW; ++kw, wp += OCB) {                                             \
          const T8 x0 = LOADX(rp + kw * DW);                                                     \
          const T8 x1 = LOADX(rp + row2 + kw * DW);                                              \
          MAD8(a, x0, wp)                                                                        \
          MAD8(b, x1, wp)                                                                        \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
    const int oplane = OH * OW, count = OW - ow0;                                                \
    __global const T* bp = bias + r * OCB;                                                       \
    __global T* op = out + out_off + n * out_bs + (g * OCg + ob) * oplane + oh * OW + ow0;       \
    STORE8(a, op, count)                                                                         \
    if (row2 != 0) {                                                                             \
      STORE8(b, op + OW, count)                                                                  \
    }                                                                                            \
  }

CONV_KERNEL(conv2d_s1, LOAD_S1)
CONV_KERNEL(conv2d_s2, LOAD_S2)
CONV_KERNEL(conv2d_sn, LOAD_SN)

// 1x1 convolution with stride 1 and no padding: per group a matrix product over the flattened
// pixels. A work-item computes two blocks of OCB output channels x PX consecutive pixels (16
// accumulators: each input vector feeds sixteen channels; the second block repeats the first,
// unstored, when a group has an odd number of blocks). Measured against OCB x 2 PX: equal on
// large layers, better on 7x7 ones (less tile overhang).
// Global size: (ceil(HW / PX), N * G * ceil(nblk / 2)). Weights packed as for conv2d.
__kernel void conv1x1(__global const T* in, int in_off, int in_bs, __global const T* wt,
                      __global const T* bias, __global T* out, int out_off, int out_bs, int HW,
                      int ICg, int OCg, int nblk, int G, int act) {
  const int p0 = get_global_id(0) * PX, z = get_global_id(1);
  if (p0 >= HW) return;
  const int npair = (nblk + 1) / 2;
  const int per_n = G * npair;
  const int n = z / per_n, q = z - n * per_n;
  const int g = q / npair, blk = (q - g * npair) * 2;
  const bool two = blk + 1 < nblk;
  const int r0 = g * nblk + blk;
  __global const T* ip = in + in_off + n * in_bs + g * ICg * HW + p0;
  __global const T* wp = wt + r0 * ICg * OCB;
  __global const T* wq = two ? wp + ICg * OCB : wp;
  ZERO8(a)
  ZERO8(c)
  for (int ic = 0; ic < ICg; ++ic, ip += HW, wp += OCB, wq += OCB) {
    const T8 x = vload8(0, ip);
    MAD8(a, x, wp)
    MAD8(c, x, wq)
  }
  const int oplane = HW;
  {
    const int ob = blk * OCB;
    __global const T* bp = bias + r0 * OCB;
    __global T* op = out + out_off + n * out_bs + (g * OCg + ob) * HW + p0;
    STORE8(a, op, HW - p0)
  }
  if (two) {
    const int ob = (blk + 1) * OCB;
    __global const T* bp = bias + (r0 + 1) * OCB;
    __global T* op = out + out_off + n * out_bs + (g * OCg + ob) * HW + p0;
    STORE8(c, op, HW - p0)
  }
}

// Depthwise convolution (one input channel per group, one output channel per input channel),
// padding handled here: rows outside the input are skipped, and tiles whose columns reach into
// the padding load whole vectors anyway (buffers have guards on both sides) and zero the lanes
// outside. A work-item computes PX consecutive pixels of one output row. Weights [C][KH][KW],
// bias [C]; DH, DW are the dilation. Global size: (ceil(OW / PX), OH, N * C).
#define DW_KERNEL(NAME, LOADX)                                                                   \
  __kernel void NAME(__global const T* in, int in_off, int in_bs, int H, int W,                  \
                     __global const T* wt, __global const T* bias, __global T* out,              \
                     int out_off, int out_bs, int OH, int OW, int C, int KH, int KW, int SH,     \
                     int SW, int PH, int PW, int DH, int DW, int act, int Z) {                   \
    const int ow0 = get_global_id(0) * PX, oh = get_global_id(1), z = get_global_id(2);          \
    if (ow0 >= OW || oh >= OH || z >= Z) return;                                                 \
    const int n = z / C, c = z - n * C;                                                          \
    const int ih0 = oh * SH - PH, iw0 = ow0 * SW - PW;                                           \
    __global const T* base = in + in_off + n * in_bs + c * H * W;                                \
    __global const T* wp = wt + c * KH * KW;                                                     \
    const bool inside = iw0 >= 0 && iw0 + (PX - 1) * SW + (KW - 1) * DW + 1 <= W;                \
    T8 a = 0;                                                                                    \
    for (int kh = 0; kh < KH; ++kh) {                                                            \
      const int ih = ih0 + kh * DH;                                                              \
      if (ih < 0 || ih >= H) continue;                                                           \
      __global const T* rp = base + ih * W + iw0;                                                \
      if (inside) {                                                                              \
        for (int kw = 0; kw < KW; ++kw) {                                                        \
          a = fma((T8)(wp[kh * KW + kw]), LOADX(rp + kw * DW), a);                               \
        }                                                                                        \
      } else {                                                                                   \
        for (int kw = 0; kw < KW; ++kw) {                                                        \
          const T8 x = inside_cols(LOADX(rp + kw * DW), (T8)0, iw0 + kw * DW, SW, W);            \
          a = fma((T8)(wp[kh * KW + kw]), x, a);                                                 \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
    __global T* op = out + out_off + n * out_bs + (c * OH + oh) * OW + ow0;                      \
    store_tile(act8(a + (T8)(bias[c]), act), op, OW - ow0);                                      \
  }

DW_KERNEL(dwconv_s1, LOAD_S1)
DW_KERNEL(dwconv_s2, LOAD_S2)
DW_KERNEL(dwconv_sn, LOAD_SN)

// Pooling windows follow PyTorch: a window starts at o * S - P; max pooling looks at the part
// inside the input; average pooling divides by the window clipped to the padded input
// (count_include_pad=True), summing only the part inside the input. A work-item computes PX
// consecutive outputs of one row with whole-vector loads; at the left and right edges the lanes
// whose columns fall outside the input are masked (buffers have guards on both sides).
// Global size: (ceil(OW / PX), OH, N * C).
#define POOL_KERNEL(NAME, LOADX, IS_MAX)                                                         \
  __kernel void NAME(__global const T* in, int in_off, int in_bs, int C, int H, int W,           \
                     __global T* out, int out_off, int out_bs, int OH, int OW, int KH, int KW,   \
                     int SH, int SW, int PH, int PW, int Z) {                                    \
    const int ow0 = get_global_id(0) * PX, oh = get_global_id(1), z = get_global_id(2);          \
    if (ow0 >= OW || oh >= OH || z >= Z) return;                                                 \
    const int n = z / C, c = z - n * C;                                                          \
    const int hs = oh * SH - PH, iw0 = ow0 * SW - PW;                                            \
    const int y0 = max(hs, 0), y1 = min(hs + KH, H);                                             \
    const int rows = min(hs + KH, H + PH) - hs; /* window height clipped to the padded input */  \
    __global const T* base = in + in_off + n * in_bs + c * H * W;                                \
    const T init = IS_MAX ? (T)(-INFINITY) : (T)0;                                               \
    T8 acc = (T8)init;                                                                           \
    T8 div = (T8)(rows * KW);                                                                    \
    const bool inside = iw0 >= 0 && iw0 + (PX - 1) * SW + KW <= W;                               \
    for (int y = y0; y < y1; ++y) {                                                              \
      __global const T* rp = base + y * W + iw0;                                                 \
      for (int kw = 0; kw < KW; ++kw) {                                                          \
        T8 x = LOADX(rp + kw);                                                                   \
        if (!inside) x = inside_cols(x, (T8)init, iw0 + kw, SW, W);                              \
        acc = IS_MAX ? fmax(acc, x) : acc + x;                                                   \
      }                                                                                          \
    }                                                                                            \
    if (!IS_MAX && !inside) {                                                                    \
      /* Window widths clipped to the padded input, lane by lane. */                             \
      const int8 ws = (int8)(iw0) + (int8)(0, 1, 2, 3, 4, 5, 6, 7) * SW;                        \
      div = (T8)(rows) * CONVERT_T8(min(ws + KW, (int8)(W + PW)) - ws);                          \
    }                                                                                            \
    __global T* op = out + out_off + n * out_bs + (c * OH + oh) * OW + ow0;                      \
    store_tile(IS_MAX ? acc : acc / div, op, OW - ow0);                                          \
  }

POOL_KERNEL(max_pool_s1, LOAD_S1, 1)
POOL_KERNEL(max_pool_s2, LOAD_S2, 1)
POOL_KERNEL(max_pool_sn, LOAD_SN, 1)
POOL_KERNEL(avg_pool_s1, LOAD_S1, 0)
POOL_KERNEL(avg_pool_s2, LOAD_S2, 0)
POOL_KERNEL(avg_pool_sn, LOAD_SN, 0)

// Mean over each channel's HW pixels. Global size: (C, N).
__kernel void global_avg_pool(__global const T* in, int in_off, int in_bs, int C, int HW,
                              __global T* out, int out_off, int out_bs) {
  const int c = get_global_id(0), n = get_global_id(1);
  if (c >= C) return;
  __global const T* ip = in + in_off + n * in_bs + c * HW;
  T8 acc = 0;
  int i = 0;
  for (; i + 8 <= HW; i += 8) acc += vload8(0, ip + i);
  T s = ((acc.s0 + acc.s1) + (acc.s2 + acc.s3)) + ((acc.s4 + acc.s5) + (acc.s6 + acc.s7));
  for (; i < HW; ++i) s += ip[i];
  out[out_off + n * out_bs + c] = s / (T)HW;
}

// Fully connected: out[n][o] = act(sum_i wt[o][i] * in[n][i] + bias[o]).
// A work-item computes four consecutive outputs of one batch row. Global size: (ceil(O / 4), N).
__kernel void linear(__global const T* in, int in_off, int in_bs, __global const T* wt,
                     __global const T* bias, __global T* out, int out_off, int out_bs, int I,
                     int O, int act) {
  const int o0 = get_global_id(0) * 4, n = get_global_id(1);
  if (o0 >= O) return;
  __global const T* x = in + in_off + n * in_bs;
  const int rows = min(4, O - o0);
  for (int k = 0; k < rows; ++k) {
    __global const T* w = wt + (o0 + k) * I;
    T16 acc = 0;
    int i = 0;
    for (; i + 16 <= I; i += 16) acc = fma(vload16(0, w + i), vload16(0, x + i), acc);
    const T8 h = acc.lo + acc.hi;
    T s = ((h.s0 + h.s1) + (h.s2 + h.s3)) + ((h.s4 + h.s5) + (h.s6 + h.s7));
    for (; i < I; ++i) s = fma(w[i], x[i], s);
    out[out_off + n * out_bs + o0 + k] = act1(s + bias[o0 + k], act);
  }
}

// Elementwise kernels: a work-item handles PX consecutive elements of one batch element of E
// elements. Global size: (ceil(E / PX), N).
__kernel void add(__global const T* a, int a_off, int a_bs, __global const T* b, int b_off,
                  int b_bs, __global T* out, int out_off, int out_bs, int E, int act) {
  const int i = get_global_id(0) * PX, n = get_global_id(1);
  if (i >= E) return;
  __global const T* pa = a + a_off + n * a_bs + i;
  __global const T* pb = b + b_off + n * b_bs + i;
  __global T* po = out + out_off + n * out_bs + i;
  if (E - i >= PX) {
    vstore8(act8(vload8(0, pa) + vload8(0, pb), act), 0, po);
  } else {
    for (int j = 0; j < E - i; ++j) po[j] = act1(pa[j] + pb[j], act);
  }
}

__kernel void activation(__global const T* in, int in_off, int in_bs, __global T* out,
                         int out_off, int out_bs, int E, int act) {
  const int i = get_global_id(0) * PX, n = get_global_id(1);
  if (i >= E) return;
  __global const T* pi = in + in_off + n * in_bs + i;
  __global T* po = out + out_off + n * out_bs + i;
  if (E - i >= PX) {
    vstore8(act8(vload8(0, pi), act), 0, po);
  } else {
    for (int j = 0; j < E - i; ++j) po[j] = act1(pi[j], act);
  }
}

__kernel void copy_view(__global const T* in, int in_off, int in_bs, __global T* out,
                        int out_off, int out_bs, int E) {
  const int i = get_global_id(0) * PX, n = get_global_id(1);
  if (i >= E) return;
  __global const T* pi = in + in_off + n * in_bs + i;
  __global T* po = out + out_off + n * out_bs + i;
  const int count = min(PX, E - i);
  for (int j = 0; j < count; ++j) po[j] = pi[j];
}

// Precision conversions at the model's edges (float input in, float output out).
__kernel void to_t(__global const float* in, int in_off, int in_bs, __global T* out, int out_off,
                   int out_bs, int E) {
  const int i = get_global_id(0) * PX, n = get_global_id(1);
  if (i >= E) return;
  const int count = min(PX, E - i);
  for (int j = 0; j < count; ++j) {
    out[out_off + n * out_bs + i + j] = (T)in[in_off + n * in_bs + i + j];
  }
}

__kernel void from_t(__global const T* in, int in_off, int in_bs, __global float* out,
                     int out_off, int out_bs, int E) {
  const int i = get_global_id(0) * PX, n = get_global_id(1);
  if (i >= E) return;
  const int count = min(PX, E - i);
  for (int j = 0; j < count; ++j) {
    out[out_off + n * out_bs + i + j] = (float)in[in_off + n * in_bs + i + j];
  }
}

// Inference batch-norm left standing (not folded into a convolution): y = x * scale + shift per
// channel. Global size: (ceil(HW / PX), N * C).
__kernel void batch_norm(__global const T* in, int in_off, int in_bs, __global const T* scale,
                         __global const T* shift, __global T* out, int out_off, int out_bs,
                         int C, int HW, int act) {
  const int i = get_global_id(0) * PX, z = get_global_id(1);
  if (i >= HW) return;
  const int n = z / C, c = z - n * C;
  __global const T* pi = in + in_off + n * in_bs + c * HW + i;
  __global T* po = out + out_off + n * out_bs + c * HW + i;
  const T s = scale[c], b = shift[c];
  const int count = min(PX, HW - i);
  for (int j = 0; j < count; ++j) po[j] = act1(fma(pi[j], s, b), act);
}

// Element-wise product of two tensors of one shape. Global size: (ceil(E / PX), N).
__kernel void mul(__global const T* a, int a_off, int a_bs, __global const T* b, int b_off,
                  int b_bs, __global T* out, int out_off, int out_bs, int E, int act) {
  const int i = get_global_id(0) * PX, n = get_global_id(1);
  if (i >= E) return;
  __global const T* pa = a + a_off + n * a_bs + i;
  __global const T* pb = b + b_off + n * b_bs + i;
  __global T* po = out + out_off + n * out_bs + i;
  if (E - i >= PX) {
    vstore8(act8(vload8(0, pa) * vload8(0, pb), act), 0, po);
  } else {
    for (int j = 0; j < E - i; ++j) po[j] = act1(pa[j] * pb[j], act);
  }
}

// Each channel of a (C, HW) tensor times that channel's factor in a (C) tensor (squeeze-and-
// excitation). Global size: (ceil(HW / PX), N * C).
__kernel void scale_channels(__global const T* in, int in_off, int in_bs, __global const T* s,
                             int s_off, int s_bs, __global T* out, int out_off, int out_bs, int C,
                             int HW, int act) {
  const int i = get_global_id(0) * PX, z = get_global_id(1);
  if (i >= HW) return;
  const int n = z / C, c = z - n * C;
  __global const T* pi = in + in_off + n * in_bs + c * HW + i;
  __global T* po = out + out_off + n * out_bs + c * HW + i;
  const T f = s[s_off + n * s_bs + c];
  if (HW - i >= PX) {
    vstore8(act8(vload8(0, pi) * (T8)f, act), 0, po);
  } else {
    for (int j = 0; j < HW - i; ++j) po[j] = act1(pi[j] * f, act);
  }
}

// Adaptive average pooling with PyTorch's windows: output row i averages input rows
// floor(i * H / OH) .. ceil((i + 1) * H / OH) - 1, columns likewise. One output per work-item.
// Global size: (OW, OH, N * C).
__kernel void adaptive_avg_pool(__global const T* in, int in_off, int in_bs, int C, int H, int W,
                                __global T* out, int out_off, int out_bs, int OH, int OW, int Z) {
  const int ow = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (ow >= OW || oh >= OH || z >= Z) return;
  const int n = z / C, c = z - n * C;
  const int y0 = oh * H / OH, y1 = ((oh + 1) * H + OH - 1) / OH;
  const int x0 = ow * W / OW, x1 = ((ow + 1) * W + OW - 1) / OW;
  __global const T* base = in + in_off + n * in_bs + c * H * W;
  T sum = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) sum += base[y * W + x];
  }
  out[out_off + n * out_bs + (c * OH + oh) * OW + ow] = sum / (T)((y1 - y0) * (x1 - x0));
}

// ShuffleNet's channel shuffle: output channel k * G + g is input channel g * (C / G) + k.
// Global size: (ceil(HW / PX), N * C).
__kernel void channel_shuffle(__global const T* in, int in_off, int in_bs, __global T* out,
                              int out_off, int out_bs, int C, int HW, int G) {
  const int i = get_global_id(0) * PX, z = get_global_id(1);
  if (i >= HW) return;
  const int n = z / C, oc = z - n * C;
  const int ic = (oc % G) * (C / G) + oc / G;
  __global const T* pi = in + in_off + n * in_bs + ic * HW + i;
  __global T* po = out + out_off + n * out_bs + oc * HW + i;
  if (HW - i >= PX) {
    vstore8(vload8(0, pi), 0, po);
  } else {
    for (int j = 0; j < HW - i; ++j) po[j] = pi[j];
  }
}
)CLC";
}

std::string BuildOptions(bool fp16) {
  std::string opts = "-DOCB=" + std::to_string(kOcBlock) + " -DPX=" + std::to_string(kPxTile);
  if (fp16) opts += " -DAS_FP16";
  return opts;
}

}  // namespace autoscale::opencl
