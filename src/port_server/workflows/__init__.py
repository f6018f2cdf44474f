"""Use cases that several front ends call (portctl, portman, the MCP server).

Each workflow takes a ``RegistryClient`` and plain arguments and returns plain results (outcome
dicts, warnings as text); it never prints or parses arguments. Front ends parse, call, present.

    identity.py      default app/instance from the git checkout
    project_plan.py  pure: which scanned ports to register, under which names and env variables
    project.py       scan a project, register its ports, env values and .env writing
    up.py            ``up``: allocate a compose project's ports and the .env values for them
    adopt.py         proposals for registering what a live scan found unregistered
"""
