"""Install script of the fused-attention research code."""
from setuptools import find_packages, setup

REQUIREMENTS = [
    "torch>=2.1",
    "einops",
    "flash-attn>=2.3",
]

setup(
    name="fused-research",
    version="0.1.0",
    packages=find_packages(),
    install_requires=REQUIREMENTS + ["nvidia-ml-py"],
    extras_require={
        "triton": ["triton>=2.1"],
        "test": ["pytest"],
    },
)
