#include <torch/extension.h>
#include <cuda.h>
#include <cuda_runtime.h>

// __global__ void old_kernel(float* x);  -- kept for reference, not compiled

template <typename scalar_t>
__global__ void __launch_bounds__(256) gelu_forward_kernel(const scalar_t* __restrict__ x,
                                                           scalar_t* __restrict__ y, int64_t n) {
  const int64_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    const float v = static_cast<float>(x[i]);
    y[i] = static_cast<scalar_t>(0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v))));
  }
}

template <typename scalar_t>
__global__ void gelu_backward_kernel(const scalar_t* grad, const scalar_t* x, scalar_t* dx, int64_t n) {
  const int64_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    const float v = static_cast<float>(x[i]);
    const float t = tanhf(0.7978845608f * (v + 0.044715f * v * v * v));
    dx[i] = static_cast<scalar_t>(static_cast<float>(grad[i]) * 0.5f * (1.0f + t));  // "approximate"
  }
}

torch::Tensor fused_gelu_forward(torch::Tensor x) {
  auto y = torch::empty_like(x);
  const int64_t n = x.numel();
  const int threads = 256;
  const int blocks = (n + threads - 1) / threads;
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "gelu_forward", ([&] {
    gelu_forward_kernel<scalar_t><<<blocks, threads>>>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), n);
  }));
  return y;
}

torch::Tensor fused_gelu_backward(torch::Tensor grad, torch::Tensor x) {
  auto dx = torch::empty_like(x);
  const int64_t n = x.numel();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "gelu_backward", ([&] {
    gelu_backward_kernel<scalar_t><<<(n + 255) / 256, 256>>>(
        grad.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), n);
  }));
  return dx;
}
