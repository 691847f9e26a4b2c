// Python bindings of the fused GELU kernels (see fused_kernel.cu).
#include <torch/extension.h>

#define CHECK_CUDA(x) TORCH_CHECK(x.device().is_cuda(), #x " must be a CUDA tensor")

torch::Tensor fused_gelu_forward(torch::Tensor x);
torch::Tensor fused_gelu_backward(torch::Tensor grad, torch::Tensor x);

torch::Tensor forward(torch::Tensor x) {
  CHECK_CUDA(x);
  TORCH_CHECK(x.is_contiguous(), "x must be contiguous");
  return fused_gelu_forward(x);
}

torch::Tensor backward(torch::Tensor grad, torch::Tensor x) {
  return fused_gelu_backward(grad, x);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "fused GELU forward");
  m.def("backward", &backward, "fused GELU backward");
  // m.def("legacy_forward", &forward);  (removed)
}
