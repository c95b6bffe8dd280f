"""The hosting container: Triton in SageMaker multi-model mode with one shared SD base model.

- `hosting_server.triton`: `start_triton(...)` → `TritonProcess` (the container's `serve`, tests, local
  cloud and benchmarks all start Triton through it);
- `hosting_server.engine`: the base pipeline and its LRU cache of LoRA adapters (used by `sd_base`);
- `hosting_server.adapters`: random LoRA adapters in diffusers format, for tests and benchmarks;
- `hosting_server.mme`: SageMaker's side of the multi-model container contract (tests, benchmarks and the
  local cloud's multi-model host drive Triton with it);
- `hosting_server.settings`: `HostingSettings`, everything the container reads from its environment.
"""
