"""portkit: port PyTorch CUDA code to Huawei Ascend NPUs (torch_npu)."""

__version__ = "0.1.0"
