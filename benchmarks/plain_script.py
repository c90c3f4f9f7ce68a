"""The baseline of `overhead.py`: what a careful person writes without the harness, run the way
such a script is run (`python plain_script.py CLOUDS_YAML CLOUD`): connect from clouds.yaml,
look up the flavor and network, then per feature boot a fresh server, do the operation with
fixed 0.1 s polling, and delete it. It checks nothing beyond the states it waits for."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import openstack

IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
FEATURES = ("launch", "stop-start", "live-migration")


def settled(conn: Any, server_id: str, status: str) -> Any:
    while True:
        server = conn.compute.get_server(server_id)
        if server.status == status and server.task_state is None:
            return server
        time.sleep(0.1)


def main(clouds_yaml: str, cloud: str) -> None:
    os.environ["OS_CLIENT_CONFIG_FILE"] = clouds_yaml
    conn = openstack.connect(cloud=cloud)
    network = conn.network.find_network("private", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    for feature in FEATURES:
        server = conn.compute.create_server(
            name="bench", image_id=IMAGE, flavor_id=flavor.id, networks=[{"uuid": network.id}]
        )
        server = settled(conn, server.id, "ACTIVE")
        if feature == "stop-start":
            conn.compute.stop_server(server)
            settled(conn, server.id, "SHUTOFF")
            conn.compute.start_server(server)
            settled(conn, server.id, "ACTIVE")
        elif feature == "live-migration":
            conn.compute.live_migrate_server(server, block_migration="auto")
            while not any(
                m.status == "completed" for m in conn.compute.migrations(instance_uuid=server.id)
            ):
                time.sleep(0.1)
            settled(conn, server.id, "ACTIVE")
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, interval=0.1)


if __name__ == "__main__":
    main(*sys.argv[1:3])
