"""Pack jobs, the API's side (docs/packs.md): start one (a pack by name or inline prompts), read one with
its images, list a model's jobs, cancel one. The pack runner (`domain.pack_runner`) renders the images.

State: the job's record (`job.json`, written once), each image's PNG and its result (`<i>.<status>.json`,
the status in the key so one listing tells them all) and a cancel marker live in the data bucket under the
model's prefix (`avatar_contract.keys.pack_job_prefix`), so deleting the model erases them; the
counters that concurrent workers change live in the state table (`avatar_api.adapters.pack_state`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from avatar_api import settings
from avatar_api.adapters.cursors import make_cursor, read_cursor
from avatar_api.domain import limits
from avatar_api.domain.generations import moderate_prompts, require_ready, sized
from avatar_api.domain.models import find_record
from avatar_api.domain.services import Services
from avatar_api.errors import InvalidRequest, JobFinished, ModelNotFound, NotFound, PackNotFound
from avatar_contract import keys
from avatar_contract.keys import MODEL_ID_RE
from avatar_contract.names import API_TIMEOUT_SECONDS
from avatar_contract.pack_jobs import (
    MAX_PACK_IMAGES,
    MAX_SEED,
    PackImage,
    PackImageSpec,
    PackImageStatus,
    PackJob,
    PackJobList,
    PackJobRequest,
    PackJobSpec,
    PackWorkItem,
    final_status,
)
from avatar_contract.packs import PackPrompt, all_packs, pack_for_family

log = logging.getLogger(__name__)

READ_THREADS = 8  # concurrent S3 reads of one job's blocked/failed results, or of one page's jobs


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ready(services: Services, owner: str, model_id: str) -> None:
    try:
        require_ready(services, owner, model_id)
    except NotFound as error:
        raise ModelNotFound(error.message) from None


def _prompts(request: PackJobRequest, family: str) -> tuple[list[PackPrompt], str | None, int | None]:
    """The prompts, their default negative prompt, and the pack's version (None: inline); a named pack
    as the deployed base family runs it (`avatar_contract.packs.pack_for_family`)."""
    if request.prompts is not None:
        return request.prompts, request.negative_prompt, None
    pack = pack_for_family(all_packs(), request.pack or "", family)
    if pack is None:
        raise PackNotFound(f"pack {request.pack!r} not found (GET /packs lists them)")
    return pack.prompts, pack.negative_prompt, pack.version


def plan(
    services: Services, owner: str, model_id: str, request: PackJobRequest, seed: int
) -> tuple[list[PackImageSpec], int | None]:
    """Every image of the job (sized, seeded, PNG, one a call) and the pack's version; InvalidRequest for
    more than MAX_PACK_IMAGES or a prompt over the generation bounds."""
    prompts, negative, version = _prompts(request, services.base_family)
    total = sum(request.images_per_prompt or prompt.images for prompt in prompts)
    if total > MAX_PACK_IMAGES:
        raise InvalidRequest(
            f"images_per_prompt: the job would render {total} images; at most {MAX_PACK_IMAGES}"
        )
    images: list[PackImageSpec] = []
    for prompt_index, prompt in enumerate(prompts):
        args = sized(services, owner, model_id, prompt.gen_args).model_copy(
            update={"output_format": "png", "num_images": 1}
        )
        limits.check_generation(args, services.hosting_instance_type, services.base_family)
        for _ in range(request.images_per_prompt or prompt.images):
            image_seed = (seed + len(images)) % (MAX_SEED + 1)
            images.append(
                PackImageSpec(
                    prompt_index=prompt_index,
                    prompt=prompt.prompt,
                    negative_prompt=prompt.negative_prompt or negative or "",
                    gen_args=args.model_copy(update={"seed": image_seed}),
                )
            )
    return images, version


def job_cost(services: Services, images: list[PackImageSpec]) -> tuple[int, int | None]:
    """The job's pixel-steps (the generations' cost model) and the owner's hourly pack budget: the
    generations' GPU-seconds per minute, for an hour (None: no instance type, no cost quota)."""
    cost = sum(
        limits.generation_cost(image.gen_args, limits.native_size(services.base_family)) for image in images
    )
    instance = services.hosting_instance_type
    if not instance:
        return cost, None
    budget = int(
        limits.throughput(instance, services.base_family)
        * services.quotas.limits.generation_gpu_seconds_per_minute
        * 60
    )
    if cost > budget:
        raise InvalidRequest(
            f"the job's images x width x height x steps is {cost:,}; an owner's pack jobs may use at most "
            f"{budget:,} per hour on {instance}: fewer images, steps or pixels"
        )
    return cost, budget


def _fingerprint(model_id: str, request: PackJobRequest) -> str:
    return hashlib.sha256(f"{model_id}:{request.model_dump_json()}".encode()).hexdigest()


def start_pack(
    services: Services,
    owner: str,
    model_id: str,
    request: PackJobRequest,
    idempotency_key: str | None = None,
    *,
    attempt_seconds: float = API_TIMEOUT_SECONDS,
) -> PackJob:
    """Check the model (the caller's, ready), the pack or the inline prompts (moderated as rendered),
    the quotas, then record the job and queue one work item per image. The same idempotency key with
    the same request answers the first job (`replayed`) and starts nothing."""
    _ready(services, owner, model_id)
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
    images, version = plan(services, owner, model_id, request, seed)
    cost, budget = job_cost(services, images)
    if request.prompts is not None:  # curated packs pass moderation by a test; operators' are theirs
        moderate_prompts(services, owner, model_id, [p.prompt for p in request.prompts], "prompts")
    spec = PackJobSpec(
        job_id="",
        owner=owner,
        model_id=model_id,
        pack=request.pack,
        pack_version=version,
        created_at="",
        seed=seed,
        webhook_url=request.webhook_url,
        images=images,
    )
    if idempotency_key is None:
        return _start(services, spec, cost, budget)
    answer, replayed = services.pack_submissions.once(
        owner,
        idempotency_key,
        _fingerprint(model_id, request),
        lambda: _start(services, spec, cost, budget).model_dump(mode="json"),
        attempt_seconds=attempt_seconds,
    )
    if not replayed:
        return PackJob.model_validate(answer)
    first = PackJob.model_validate(answer)
    return get_job(services, owner, model_id, first.job_id).model_copy(update={"replayed": True})


def _start(services: Services, spec: PackJobSpec, cost: int, budget: int | None) -> PackJob:
    queue = services.pack_queue
    if queue is None:
        raise RuntimeError("AVATAR_PACK_QUEUE_URL is not set for this function")
    owner, model_id = spec.owner, spec.model_id
    job_id = keys.new_pack_job_id(int(time.time() * 1000))
    spec = spec.model_copy(update={"job_id": job_id, "created_at": _now()})
    services.quotas.take_pack(owner, job_id, cost, budget, settings.PACK_JOB_SLOT_SECONDS)
    job_key = keys.pack_job_prefix(owner, model_id, job_id) + keys.PACK_JOB_FILE
    try:
        services.data.put_json_if_absent(job_key, spec.model_dump(mode="json"))
        services.pack_state.create(owner, job_id, len(spec.images), time.time() + settings.PACK_STATE_SECONDS)
        items = [
            PackWorkItem(owner=owner, model_id=model_id, job_id=job_id, index=i)
            for i in range(len(spec.images))
        ]
        queue.send_all([item.model_dump(mode="json") for item in items])
    except BaseException:
        # Items already sent find no job and are dropped (domain.pack_runner).
        for undo in (
            lambda: services.data.delete(job_key),
            lambda: services.pack_state.delete(owner, job_id),
            lambda: services.quotas.release_pack(owner, job_id),
        ):
            try:
                undo()
            except Exception:
                log.exception("could not roll back a pack job", extra={"job_id": job_id})
        raise
    log.info("pack job queued", extra={"job_id": job_id, "images": len(spec.images), "cost": cost})
    return view(services, spec, {}, details=True)


def read_spec(services: Services, owner: str, model_id: str, job_id: str) -> PackJobSpec | None:
    if not keys.PACK_JOB_ID_RE.fullmatch(job_id) or not MODEL_ID_RE.fullmatch(model_id):
        return None
    document = services.data.get_json(keys.pack_job_prefix(owner, model_id, job_id) + keys.PACK_JOB_FILE)
    return PackJobSpec.model_validate(document) if document is not None else None


def get_job(services: Services, owner: str, model_id: str, job_id: str) -> PackJob:
    """The job with every image's status; presigned URLs of the delivered ones."""
    spec = read_spec(services, owner, model_id, job_id)
    if spec is None:
        raise NotFound(f"pack job {job_id!r} not found")
    listed = services.data.list_modified(keys.pack_job_prefix(owner, model_id, job_id))
    return view(services, spec, listed, details=True)


def view(services: Services, spec: PackJobSpec, listed: dict[str, datetime], *, details: bool) -> PackJob:
    """The job as its objects say: `listed` is its prefix's listing (key -> last written)."""
    prefix = keys.pack_job_prefix(spec.owner, spec.model_id, spec.job_id)
    results: dict[int, str] = {}
    for key in listed:
        parts = key[len(prefix) :].split(".")
        if len(parts) == 3 and parts[0].isdigit() and parts[2] == "json":
            results[int(parts[0])] = parts[1]
    cancelled = prefix + keys.PACK_CANCELLED_FILE in listed
    counts = {status: 0 for status in PackImageStatus}
    statuses: list[PackImageStatus] = []
    for index in range(len(spec.images)):
        found = results.get(index)
        if found in (PackImageStatus.SUCCEEDED, PackImageStatus.BLOCKED, PackImageStatus.FAILED):
            status = PackImageStatus(found)
        else:
            status = PackImageStatus.CANCELLED if cancelled else PackImageStatus.PENDING
        statuses.append(status)
        counts[status] += 1
    total = len(spec.images)
    done = total - counts[PackImageStatus.PENDING]
    updated = max(listed.values(), default=None)
    job = PackJob(
        job_id=spec.job_id,
        model_id=spec.model_id,
        pack=spec.pack,
        status=final_status(total, counts[PackImageStatus.SUCCEEDED], done, cancelled),
        created_at=spec.created_at,
        updated_at=updated.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if updated
        else spec.created_at,
        total=total,
        done=done,
        succeeded=counts[PackImageStatus.SUCCEEDED],
        blocked=counts[PackImageStatus.BLOCKED],
        failed=counts[PackImageStatus.FAILED],
        cancelled=counts[PackImageStatus.CANCELLED],
        seed=spec.seed,
    )
    if not details:
        return job
    return job.model_copy(update={"images": _images(services, spec, statuses)})


def _images(services: Services, spec: PackJobSpec, statuses: list[PackImageStatus]) -> list[PackImage]:
    owner, model_id, job_id = spec.owner, spec.model_id, spec.job_id

    def entry(index: int) -> PackImage:
        image, status = spec.images[index], statuses[index]
        found = PackImage(index=index, prompt_index=image.prompt_index, prompt=image.prompt, status=status)
        if status == PackImageStatus.SUCCEEDED:
            key = keys.pack_image_key(owner, model_id, job_id, index)
            return found.model_copy(
                update={"url": services.data.presigned_get(key, settings.PACK_URL_EXPIRES_SECONDS)}
            )
        if status in (PackImageStatus.BLOCKED, PackImageStatus.FAILED):
            result = (
                services.data.get_json(keys.pack_result_key(owner, model_id, job_id, index, status)) or {}
            )
            return found.model_copy(update={"labels": result.get("labels"), "error": result.get("error")})
        return found

    with ThreadPoolExecutor(READ_THREADS) as pool:
        return list(pool.map(entry, range(len(spec.images))))


def list_jobs(
    services: Services,
    owner: str,
    model_id: str,
    *,
    limit: int = settings.PACK_JOBS_PAGE_DEFAULT,
    next_token: str | None = None,
) -> PackJobList:
    """One page of the owner's jobs of the model, newest first (job ids sort newest first)."""
    try:
        find_record(services, owner, model_id)
    except NotFound as error:
        raise ModelNotFound(error.message) from None
    listing = f"packs:{model_id}"
    prefix = keys.packs_prefix(owner, model_id)
    after = ""
    if next_token:
        position = read_cursor(services.owner_ids, owner, listing, next_token, keys.PACK_JOB_ID_RE)
        after = f"{prefix}{position}0"  # after every key under <position>/ ('0' sorts after '/')
    found, more = services.data.subprefixes_page(prefix, after, limit)
    job_ids = [entry[len(prefix) :].rstrip("/") for entry in found]

    def summary(job_id: str) -> PackJob | None:
        spec = read_spec(services, owner, model_id, job_id)
        if spec is None:
            return None
        listed = services.data.list_modified(keys.pack_job_prefix(owner, model_id, job_id))
        return view(services, spec, listed, details=False)

    with ThreadPoolExecutor(READ_THREADS) as pool:
        jobs = [job for job in pool.map(summary, job_ids) if job is not None]
    token = make_cursor(services.owner_ids, owner, listing, job_ids[-1]) if more and job_ids else None
    return PackJobList(jobs=jobs, next_token=token)


def cancel_job(services: Services, owner: str, model_id: str, job_id: str) -> PackJob:
    """Cancel the job: its pending images become `cancelled` and the runner skips them; 409 job_finished
    when every image had finished. Cancelling a cancelled job answers it again."""
    spec = read_spec(services, owner, model_id, job_id)
    if spec is None:
        raise NotFound(f"pack job {job_id!r} not found")
    outcome = services.pack_state.cancel(owner, job_id)
    if outcome in ("finished", "missing"):
        raise JobFinished(f"pack job {job_id!r} has finished; nothing to cancel")
    prefix = keys.pack_job_prefix(owner, model_id, job_id)
    if outcome == "cancelled":
        services.data.put_json(prefix + keys.PACK_CANCELLED_FILE, {"cancelled_at": _now()})
        try:
            services.quotas.release_pack(owner, job_id)
        except Exception:  # reclaimed after PACK_JOB_SLOT_SECONDS
            log.exception("could not release a cancelled pack job's slot", extra={"job_id": job_id})
        if services.pack_queue is not None:  # the runner announces the cancelled job (events, webhook)
            services.pack_queue.send_all(
                [PackWorkItem(owner=owner, model_id=model_id, job_id=job_id).model_dump()]
            )
    return view(services, spec, services.data.list_modified(prefix), details=True)
