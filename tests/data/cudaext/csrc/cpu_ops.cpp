// CPU reference implementations: plain C++, nothing to port.
#include <torch/extension.h>

torch::Tensor clamp_add(torch::Tensor a, torch::Tensor b, double limit) {
  return (a + b).clamp(-limit, limit);  // "cuda" in a comment or "a CUDA tensor" string is not CUDA
}

PYBIND11_MODULE(cpu_ops, m) {
  m.def("clamp_add", &clamp_add, "clamped addition on the CPU");
}

TORCH_LIBRARY_FRAGMENT(myext_cpu, m) {
  m.def("clamp_add(Tensor a, Tensor b, float limit) -> Tensor");
}

TORCH_LIBRARY_IMPL(myext_cpu, CPU, m) {
  m.impl("clamp_add", &clamp_add);
}
