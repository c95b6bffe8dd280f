"""The multipart body the client POSTs to a presigned S3 POST."""

from __future__ import annotations

import email.parser
import email.policy

from avatar_client.client import image_content_type, upload_form


def test_the_form_has_the_policy_fields_then_the_content_type_then_the_file_last() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"pixels"
    body, content_type = upload_form({"key": "uploads/o/u/0", "policy": "cG9saWN5"}, png)

    assert content_type.startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = [
        (part.get_param("name", header="content-disposition"), part.get_content())
        for part in message.iter_parts()
    ]
    assert [name for name, _ in parts] == ["key", "policy", "Content-Type", "file"]
    assert parts[2][1] == "image/png" and parts[3][1] == png


def test_content_types_come_from_the_bytes() -> None:
    assert image_content_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert image_content_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert image_content_type(b"GIF89a") == "application/octet-stream"  # refused by the upload policy
