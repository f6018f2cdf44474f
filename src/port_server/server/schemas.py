"""Request and response bodies as pydantic models: they validate input and draw the OpenAPI doc.

Unknown fields are ignored (port-registry's clients may send more than we know).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from port_server.models import NAME_PATTERN

Name = Field(pattern=NAME_PATTERN, min_length=1, max_length=63)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AllocateBody(_Body):
    app: str = Field(pattern=NAME_PATTERN, max_length=63, description="application name")
    instance: str = Field(pattern=NAME_PATTERN, max_length=63,
                          description="instance: worktree, branch, environment")
    service: str = Field(pattern=NAME_PATTERN, max_length=63, description="service name")
    port: int | None = Field(default=None, ge=0, le=65535,
                             description="explicit port; omitted or 0 = auto-assign")
    protocol: str = Field(default="tcp", pattern="^(tcp|udp)$")
    force: bool = Field(default=False,
                        description="register an explicit port even if a process has it bound")
    type: str = Field(default="", max_length=63, description="pool to auto-assign from")
    owner: str = Field(default="", max_length=256)
    environment: str = Field(default="", max_length=256)
    status: str = Field(default="", max_length=256)
    url: str = Field(default="", max_length=256)
    note: str = Field(default="", max_length=2048)
    source: str = Field(default="manual", max_length=32)
    pid: int | None = Field(default=None, ge=1, le=2**31)
    command: str = Field(default="", max_length=2048)
    protected: bool = Field(default=False,
                            description="release/update refuse without force; never reclaimed")
    ttl: float | str | None = Field(
        default=None, description="lease: seconds or a duration like 90s, 15m, 2h, 7d; the"
                                  " allocation is released when it expires")
    path: str = Field(default="", max_length=4096,
                      description="the worktree the allocation is made from (portctl up); prune"
                                  " releases it once that worktree is gone")
    http: bool | None = Field(default=None, description="an HTTP service: the proxy gives it"
                              " a name; omitted: the web, api and monitoring pools are")


class ReleaseBody(_Body):
    app: str | None = Field(default=None, max_length=63)
    instance: str | None = Field(default=None, max_length=63)
    service: str | None = Field(default=None, max_length=63)
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str | None = Field(default=None, max_length=255,
                             description="another host's allocations (needs force); '*' = all")
    force: bool = Field(default=False, description="release protected allocations, or another"
                                                   " host's allocations")


class UpdateBody(_Body):
    type: str | None = Field(default=None, max_length=63)
    owner: str | None = Field(default=None, max_length=256)
    environment: str | None = Field(default=None, max_length=256)
    status: str | None = Field(default=None, max_length=256)
    url: str | None = Field(default=None, max_length=256)
    note: str | None = Field(default=None, max_length=2048)
    protected: bool | None = None
    pid: int | None = Field(default=None, ge=0, le=2**31, strict=True,
                            description="process using the port; 0 clears it (portctl run)")
    command: str | None = Field(default=None, max_length=2048,
                                description="command line using the port (portctl run)")
    path: str | None = Field(default=None, max_length=4096,
                             description="the worktree the allocation belongs to")
    http: bool | None = Field(default=None, description="an HTTP service with a proxy name")
    force: bool | None = Field(default=None, description="update a protected allocation")


class AllocationOut(BaseModel):
    id: int
    app: str
    instance: str
    service: str
    port: int
    created_at: str
    protocol: str = "tcp"
    host: str = ""
    type: str = ""
    owner: str = ""
    environment: str = ""
    status: str = ""
    url: str = ""
    note: str = ""
    source: str = "manual"
    pid: int | None = None
    pid_start: float | None = None
    command: str = ""
    protected: bool = False
    expires_at: str | None = None
    updated_at: str = ""
    path: str = ""
    http: bool = False
    proxy_url: str = Field(default="", description="where the proxy answers for it, if named")


class ProcessOut(BaseModel):
    pid: int | None
    name: str = ""
    user: str = ""
    cmdline: str = ""


class PortStatusOut(BaseModel):
    port: int
    available: bool
    registered: bool
    in_use: bool
    processes: list[ProcessOut]
    holder: AllocationOut | None = None
    holders: list[AllocationOut] = []


class ErrorOut(BaseModel):
    error: str
    code: str
    message: str
    field: str | None = None
    holder: AllocationOut | None = None


class DeletedOut(BaseModel):
    status: str


class ReleasedOut(BaseModel):
    deleted: int
    allocations: list[AllocationOut]


class HealthOut(BaseModel):
    status: str
    version: str


class PoolOut(BaseModel):
    name: str
    lo: int
    hi: int
    size: int
    used: int
    free: int
