from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

setup(
    name="fused_cuda",
    ext_modules=[
        CUDAExtension("fused_cuda", ["fused.cpp", "fused_kernel.cu"]),
    ],
    cmdclass={"build_ext": BuildExtension},
)
