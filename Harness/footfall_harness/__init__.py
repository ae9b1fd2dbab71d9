"""What every Python harness of Footfall needs to drive real nodes, in one place: checks, free
ports, waits, child processes, credentials, certificates, gRPC stubs and a loopback cluster.

Used by Tests/Cluster, Tests/Browser, Chaos and Bench; each puts Harness/ on sys.path and imports
what it needs from here, never from another harness's script.
"""
