"""A client process for the concurrency and crash tests.

usage: alloc_worker.py ADDR APP COUNT OUTFILE [--until-error]
Allocates COUNT services (new connection per request); appends each success as a JSON line, flushed
and fsynced before the next request, and each failure as {"error": ...}.
"""

from __future__ import annotations

import json
import os
import sys

from port_server.client import RegistryClient
from port_server.errors import PortServerError
from port_server.models import AllocationRequest


def main() -> int:
    addr, app, count, outfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    until_error = "--until-error" in sys.argv
    with open(outfile, "a") as out:
        for i in range(count):
            try:
                with RegistryClient(addr, timeout=30) as client:
                    res = client.allocate(AllocationRequest(app=app, instance="ci",
                                                            service=f"s{i}"))
                record = {"id": res.allocation.id, "port": res.allocation.port,
                          "key": res.allocation.key}
            except PortServerError as exc:
                record = {"error": exc.message, "code": exc.code}
            out.write(json.dumps(record) + "\n")
            out.flush()
            os.fsync(out.fileno())
            if "error" in record and until_error:
                return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
