"""The lab's image front as openstacksdk uses it: create, upload, download and delete real
bytes (on a libvirt cell, the same bytes are what Nova boots: test_libvirt_cell.py)."""

from __future__ import annotations

import hashlib
import os

from harness.lab.state import LabState
from tests.lab.conftest import connect


def test_an_uploaded_image_is_active_with_its_bytes_and_checksums(running_lab: LabState) -> None:
    conn = connect(running_lab, "embedded-live-local")
    data = os.urandom(300_000)
    image = conn.image.create_image(
        name="matrix-test-upload", data=data, disk_format="raw", container_format="bare",
        allow_duplicates=True, hw_qemu_guest_agent="yes",
    )  # fmt: skip
    try:
        shown = conn.image.get_image(image.id)
        assert (shown.status, shown.size) == ("active", len(data))
        assert shown.checksum == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert shown.hash_value == hashlib.sha512(data).hexdigest()
        assert shown.hw_qemu_guest_agent in (True, "yes")  # a custom property, kept
        assert conn.image.download_image(shown).content == data  # sdk checks the checksum too
    finally:
        conn.image.delete_image(image.id)
    assert conn.image.find_image(image.id) is None


def test_an_image_without_data_is_queued_and_serves_nothing(running_lab: LabState) -> None:
    conn = connect(running_lab, "embedded-live-local")
    image = conn.image.create_image(
        name="matrix-test-queued", disk_format="raw", container_format="bare",
        allow_duplicates=True,
    )  # fmt: skip
    try:
        assert conn.image.get_image(image.id).status == "queued"
        response = conn.image.get(f"/images/{image.id}/file")
        assert response.status_code == 204
    finally:
        conn.image.delete_image(image.id)
