"""The operating system side, in one place: listening sockets and their owners, the OS probe
the allocator is handed, a connection's peer, and user names.

    sock_diag.py  sockets from the kernel over netlink (listening ones; one connection's owner)
    sockets.py    every listening TCP / bound UDP socket (netlink, /proc/net, psutil off Linux)
                  and the processes holding them: the live scan's OS half
    probe.py      is a port bound, who holds it, the ephemeral range (the service's probe)
    users.py      uid -> user name, one cache for the live scan, the peer and authorization
"""
