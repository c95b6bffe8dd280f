"""Stage a pinned, checksummed base model into the deployment's own S3 (`make stage-base-model`).

`sources` fetches the files a manifest pins (Hugging Face at a commit revision, after `hub` has compared
the Hub's sizes and SHA-256 with the manifest; a private S3 mirror; or a local directory) and records new
manifests; `staging` verifies them and uploads them to the content-addressed prefix of the
data bucket, or checks that a deployment's base model is staged. The manifest format and the containers'
verified download live in `avatar_runtime.base_model`.
"""
