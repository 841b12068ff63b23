"""White-box microbenchmarks, run from a checkout (`python -m benchmarks.bench_fanout`).

Unlike `loadtests/`, which talks to real servers only through the public protocol, these call
the hub's and the service's internals directly to measure one floor each; they are not part
of the installed package, and they break loudly when those internals change.
"""
