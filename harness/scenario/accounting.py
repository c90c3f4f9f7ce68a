"""Count the API requests a connection makes and remember the last request id.

Benchmarks report requests per scenario; failure messages quote the request id of the last
call, which is what an operator greps the service logs for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestLog:
    count: int = 0
    last_request_id: str | None = None
    by_method: dict[str, int] = field(default_factory=dict)

    def record(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        method = getattr(response.request, "method", "?")
        self.by_method[method] = self.by_method.get(method, 0) + 1
        request_id = response.headers.get("x-openstack-request-id") or response.headers.get(
            "x-compute-request-id"
        )
        if request_id:
            self.last_request_id = request_id
        return response


def attach(connection: Any, log: RequestLog | None = None) -> RequestLog:
    """Hook the connection's HTTP session so every response is counted (into `log`)."""
    log = log if log is not None else RequestLog()
    connection.session.session.hooks["response"].append(log.record)
    return log
