# -*- coding: utf-8 -*-
"""Shapes that stress statement pairing: café, tabs, decorators, elif, match, try, suites."""
import os
import torch
import torch.cuda as tc
from torch.cuda.amp import autocast  # comment with cuda


@torch.cuda.amp.custom_fwd
def decorated(x, device="cuda"):
	if x.is_cuda: return x.cuda()
	elif torch.cuda.is_available():
		return x.to("cuda:0")
	else: x = x.cuda(); y = "café"; return torch.device("cuda", 1)


class Outer:
    class Inner:
        @staticmethod
        @torch.no_grad()
        def method(self, é="cuda"):
            return (torch
                    .cuda
                    .synchronize())

    def run(self):
        try:
            torch.cuda.empty_cache()
        except torch.cuda.OutOfMemoryError:
            os.environ["CUDA_VISIBLE_DEVICES"] = "0"
        finally:
            tc.synchronize()
        with autocast(), torch.autocast(
                "cuda"):
            pass
        match os.environ.get("CUDA_LAUNCH_BLOCKING"):
            case "1":
                torch.cuda.synchronize()
            case _:
                pass
        for _ in range(2): torch.cuda.synchronize()
        while False:
            x = f"""cuda
            {torch.cuda.current_device()}"""
        return [t.cuda() for t in
                (torch.zeros(1),
                 torch.ones(1))]


model = torch.nn.DataParallel(Outer())
