"""The local S3's POST-policy check against forms boto3 presigns, as the API presigns them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_cloud.s3_post_policy import PostForm, Refused, check_form, parse_form

REGION = "us-east-1"
SECRETS = {"AKIAROLE": "role-secret"}
BUCKET = "avatar-data"
KEY = "uploads/o-1/u-1/0"


def _presigned(expires: int = 900, secret: str = "role-secret") -> dict[str, Any]:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url="http://127.0.0.1:1",
                      aws_access_key_id="AKIAROLE", aws_secret_access_key=secret,
                      config=Config(signature_version="s3v4"))  # as the API's client signs  # fmt: skip
    conditions = [["content-length-range", 1, 100], ["starts-with", "$Content-Type", "image/"]]
    return dict(s3.generate_presigned_post(BUCKET, KEY, Conditions=conditions, ExpiresIn=expires))


def _form(post: dict[str, Any], data: bytes = b"\xff\xd8jpeg", **changes: str) -> PostForm:
    fields = {name.lower(): value for name, value in {**post["fields"], "Content-Type": "image/jpeg"}.items()}
    return PostForm({**fields, **{k.lower().replace("_", "-"): v for k, v in changes.items()}}, data)


def _refused(form: PostForm, bucket: str = BUCKET) -> Refused:
    with pytest.raises(Refused) as refused:
        check_form(bucket, form, SECRETS, REGION, dt.datetime.now(dt.UTC))
    return refused.value


def test_the_form_as_presigned_is_accepted() -> None:
    check_form(BUCKET, _form(_presigned()), SECRETS, REGION, dt.datetime.now(dt.UTC))


@pytest.mark.parametrize(("size", "code"), [(101, "EntityTooLarge"), (0, "EntityTooSmall")])
def test_content_length_range(size: int, code: str) -> None:
    refused = _refused(_form(_presigned(), b"x" * size))
    assert (refused.status, refused.code) == (400, code)


def test_content_type_must_start_with_the_prefix() -> None:
    refused = _refused(_form(_presigned(), Content_Type="text/html"))
    assert (refused.status, refused.code) == (403, "AccessDenied")
    assert "$Content-Type" in refused.message and "Policy Condition failed" in refused.message


def test_the_key_and_the_bucket_are_exact() -> None:
    assert "key" in _refused(_form(_presigned(), key="uploads/o-2/u-1/0")).message
    assert "bucket" in _refused(_form(_presigned()), bucket="avatar-hosting").message


def test_a_tampered_policy_breaks_the_signature() -> None:
    post = _presigned()
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    refused = _refused(_form(post, b"x" * 1000, policy=forged))
    assert (refused.status, refused.code) == (403, "SignatureDoesNotMatch")


def test_a_signature_with_another_secret_or_key_is_refused() -> None:
    assert _refused(_form(_presigned(secret="other"))).code == "SignatureDoesNotMatch"
    post = _presigned()
    credential = post["fields"]["x-amz-credential"].replace("AKIAROLE", "AKIAOTHER")
    assert _refused(_form(post, x_amz_credential=credential)).code == "InvalidAccessKeyId"


def test_an_expired_policy_is_refused_though_its_signature_holds() -> None:
    refused = _refused(_form(_presigned(expires=-60)))
    assert (refused.status, refused.code, refused.message) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    )


def test_a_field_no_condition_names_is_refused() -> None:
    refused = _refused(_form(_presigned(), x_amz_meta_owner="someone"))
    assert "Extra input fields: x-amz-meta-owner" in refused.message
    check_form(BUCKET, _form(_presigned(), x_ignore_note="kept"), SECRETS, REGION, dt.datetime.now(dt.UTC))


def test_an_x_amz_condition_is_exact() -> None:
    post = _presigned()
    same_day = post["fields"]["x-amz-date"][:8] + "T000000Z"
    refused = _refused(_form(post, x_amz_date=same_day))
    assert refused.code == "AccessDenied" and "x-amz-date" in refused.message


def test_parse_form_reads_the_fields_and_the_file() -> None:
    from urllib3 import encode_multipart_formdata

    body, content_type = encode_multipart_formdata(
        [("key", KEY), ("Content-Type", "image/png"), ("file", ("f", b"\x89PNG\r\n\x00", "image/png"))]
    )
    form = parse_form(content_type, body)
    assert form.fields == {"key": KEY, "content-type": "image/png"} and form.file == b"\x89PNG\r\n\x00"
