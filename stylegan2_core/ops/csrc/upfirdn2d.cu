// Upsample by zero insertion, pad, FIR filter and downsample, in one pass over the input.
//
// Plain CUDA (no torch headers), so that the file compiles on its own with nvcc. The kernels
// never materialise the zero-inserted image: each output pixel sums only over the input pixels
// that land on a filter tap (polyphase form). Two kernels:
//   * tiled: the generator's cases (equal factors in x and y, up or down by 1 or 2, filters up to
//     4x4). A block stages an input tile and the flipped, gain-scaled filter in shared memory and
//     computes a TILE x TILE output tile with compile-time tap loops.
//   * generic: any factors, padding and filter size; one thread per output pixel.
// Both accumulate in float for float16 data, else in the data type.

#include <cuda_fp16.h>

#include "upfirdn2d.h"

namespace s2edit {
namespace upfirdn2d {
namespace {

template <class T> struct Acc { using type = T; };
template <> struct Acc<__half> { using type = float; };

__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }

template <class T> __device__ __forceinline__ T from_acc(typename Acc<T>::type v) { return v; }
template <> __device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }

// Division rounding toward minus infinity / plus infinity, for b > 0 and any sign of a.
__host__ __device__ __forceinline__ int floor_div(int a, int b) { return (a >= 0 ? a : a - (b - 1)) / b; }
__host__ __device__ __forceinline__ int ceil_div(int a, int b) { return floor_div(a + b - 1, b); }

constexpr int kThreads = 256;

template <class T, int UP, int DOWN, int FMAX, int TILE>
__global__ void __launch_bounds__(kThreads) upfirdn2d_tiled(Params p) {
    using S = typename Acc<T>::type;
    constexpr int K = (FMAX + UP - 1) / UP;            // taps per output and axis
    constexpr int FP = K * UP;                         // filter size padded with zero taps
    constexpr int IN = ((TILE - 1) * DOWN + UP - 1) / UP + K + 1;  // input tile size
    __shared__ S sf[FP][FP];
    __shared__ S sx[IN][IN];

    const S* f = static_cast<const S*>(p.f);
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const S gain = (S)p.gain;

    // Correlation taps: sf[a][b] multiplies the input pixel at upsampled offset (a, b) from the output's origin.
    for (int i = threadIdx.x; i < FP * FP; i += kThreads) {
        const int a = i / FP, b = i % FP;
        S v = 0;
        if (a < p.fh && b < p.fw) {
            const int fa = p.flip ? a : p.fh - 1 - a;
            const int fb = p.flip ? b : p.fw - 1 - b;
            v = f[fa * p.fw + fb] * gain;
        }
        sf[a][b] = v;
    }

    const int ox0 = blockIdx.x * TILE, oy0 = blockIdx.y * TILE;
    const int ix0 = floor_div(ox0 * DOWN - p.pad_x0, UP);
    const int iy0 = floor_div(oy0 * DOWN - p.pad_y0, UP);
    const int64_t planes = p.n * p.c;

    for (int64_t plane = blockIdx.z; plane < planes; plane += gridDim.z) {
        const int64_t pn = plane / p.c, pc = plane % p.c;
        const T* xp = x + pn * p.x_stride[0] + pc * p.x_stride[1];
        T* yp = y + pn * p.y_stride[0] + pc * p.y_stride[1];

        __syncthreads();  // the previous plane is done with sx (and sf is written on the first pass)
        for (int i = threadIdx.x; i < IN * IN; i += kThreads) {
            const int r = i / IN, c = i % IN;
            const int iy = iy0 + r, ix = ix0 + c;
            S v = 0;
            if (iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w)
                v = to_acc(xp[iy * p.x_stride[2] + ix * p.x_stride[3]]);
            sx[r][c] = v;
        }
        __syncthreads();

        for (int i = threadIdx.x; i < TILE * TILE; i += kThreads) {
            const int oy = oy0 + i / TILE, ox = ox0 + i % TILE;
            if (oy >= p.out_h || ox >= p.out_w) continue;
            const int vy = oy * DOWN - p.pad_y0, vx = ox * DOWN - p.pad_x0;
            const int iy = ceil_div(vy, UP), ix = ceil_div(vx, UP);  // first input pixel on a tap
            const int ay = iy * UP - vy, ax = ix * UP - vx;           // its tap
            const int ry = iy - iy0, rx = ix - ix0;
            S acc = 0;
#pragma unroll
            for (int ky = 0; ky < K; ky++) {
#pragma unroll
                for (int kx = 0; kx < K; kx++) acc += sx[ry + ky][rx + kx] * sf[ay + ky * UP][ax + kx * UP];
            }
            yp[oy * p.y_stride[2] + ox * p.y_stride[3]] = from_acc<T>(acc);
        }
    }
}

template <class T>
__global__ void __launch_bounds__(kThreads) upfirdn2d_generic(Params p) {
    using S = typename Acc<T>::type;
    const S* f = static_cast<const S*>(p.f);
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const int64_t total = p.n * p.c * p.out_h * p.out_w;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;

    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const int ox = (int)(i % p.out_w);
        const int oy = (int)((i / p.out_w) % p.out_h);
        const int64_t plane = i / ((int64_t)p.out_w * p.out_h);
        const int64_t pn = plane / p.c, pc = plane % p.c;
        const T* xp = x + pn * p.x_stride[0] + pc * p.x_stride[1];

        // Input pixels whose upsampled position falls on one of the output's fh x fw taps.
        const int vy = oy * p.down_y - p.pad_y0, vx = ox * p.down_x - p.pad_x0;
        const int iy_lo = max(ceil_div(vy, p.up_y), 0), iy_hi = min(floor_div(vy + p.fh - 1, p.up_y), p.in_h - 1);
        const int ix_lo = max(ceil_div(vx, p.up_x), 0), ix_hi = min(floor_div(vx + p.fw - 1, p.up_x), p.in_w - 1);

        S acc = 0;
        for (int iy = iy_lo; iy <= iy_hi; iy++) {
            const int a = iy * p.up_y - vy;
            const S* frow = f + (p.flip ? a : p.fh - 1 - a) * p.fw;
            const T* xrow = xp + iy * p.x_stride[2];
            for (int ix = ix_lo; ix <= ix_hi; ix++) {
                const int b = ix * p.up_x - vx;
                acc += to_acc(xrow[ix * p.x_stride[3]]) * frow[p.flip ? b : p.fw - 1 - b];
            }
        }
        y[pn * p.y_stride[0] + pc * p.y_stride[1] + oy * p.y_stride[2] + ox * p.y_stride[3]] =
            from_acc<T>(acc * (S)p.gain);
    }
}

template <class T, int UP, int DOWN>
cudaError_t launch_tiled(const Params& p, cudaStream_t stream) {
    constexpr int kMaxGridZ = 65535;
    const int64_t planes = p.n * p.c;
    const unsigned gz = (unsigned)(planes < kMaxGridZ ? planes : kMaxGridZ);
    if (p.out_h <= 16 && p.out_w <= 16) {
        upfirdn2d_tiled<T, UP, DOWN, 4, 16><<<dim3(ceil_div(p.out_w, 16), ceil_div(p.out_h, 16), gz), kThreads, 0,
                                              stream>>>(p);
    } else {
        upfirdn2d_tiled<T, UP, DOWN, 4, 32><<<dim3(ceil_div(p.out_w, 32), ceil_div(p.out_h, 32), gz), kThreads, 0,
                                              stream>>>(p);
    }
    return cudaGetLastError();
}

template <class T>
cudaError_t launch_typed(const Params& p, cudaStream_t stream) {
    const bool square = p.up_x == p.up_y && p.down_x == p.down_y;
    if (square && p.fh <= 4 && p.fw <= 4) {
        if (p.up_x == 1 && p.down_x == 1) return launch_tiled<T, 1, 1>(p, stream);
        if (p.up_x == 2 && p.down_x == 1) return launch_tiled<T, 2, 1>(p, stream);
        if (p.up_x == 1 && p.down_x == 2) return launch_tiled<T, 1, 2>(p, stream);
    }
    constexpr int64_t kMaxBlocks = 1 << 20;
    int64_t blocks = (p.n * p.c * p.out_h * p.out_w + kThreads - 1) / kThreads;
    blocks = blocks > kMaxBlocks ? kMaxBlocks : blocks;
    upfirdn2d_generic<T><<<(unsigned)blocks, kThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

}  // namespace

cudaError_t launch(const Params& p, DType dtype, cudaStream_t stream) {
    switch (dtype) {
        case DType::f16: return launch_typed<__half>(p, stream);
        case DType::f32: return launch_typed<float>(p, stream);
        case DType::f64: return launch_typed<double>(p, stream);
    }
    return cudaErrorInvalidValue;
}

}  // namespace upfirdn2d
}  // namespace s2edit
