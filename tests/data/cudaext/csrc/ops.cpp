// Operator schemas of the myext library; the CUDA kernels are registered below.
#include <torch/library.h>
#include <ATen/cuda/CUDAContext.h>

at::Tensor fused_gelu_cuda(const at::Tensor& x);
at::Tensor fused_rmsnorm_cuda(const at::Tensor& x, const at::Tensor& weight, double eps);

TORCH_LIBRARY(myext, m) {
  m.def("fused_gelu(Tensor x) -> Tensor");
  m.def("fused_rmsnorm(Tensor x, Tensor weight, float eps=1e-6) -> Tensor");
}

TORCH_LIBRARY_IMPL(myext, CUDA, m) {
  m.impl("fused_gelu", &fused_gelu_cuda);
  m.impl("fused_rmsnorm", &fused_rmsnorm_cuda);
}
