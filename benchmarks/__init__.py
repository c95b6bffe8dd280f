"""The product's speed, memory and cost, measured side by side with the reference design.

`python -m benchmarks` (`make bench`) runs the CPU benchmarks, `python -m benchmarks.gpu`
(`make bench-gpu`) the GPU ones, `python -m benchmarks.cost` regenerates `cost.md`. See README.md here.
"""
